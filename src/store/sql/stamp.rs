//! The one shape of a one-way stamp: revoking a key or link, archiving a board, deleting a
//! customer, deactivating a member each set a timestamp that was NULL, once; a second try
//! changes nothing and says so. Stamped per backend like `insert`.

macro_rules! stamp_once {
    ($m:ident, $Db:ty) => {
        pub(in crate::store) mod $m {
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            /// Runs `sql`, an `UPDATE` setting a timestamp to `$3` on the row of org `$1`
            /// and id `$2` where it is still NULL; true if this call set it.
            pub async fn stamp_once(
                pool: &sqlx::Pool<$Db>,
                sql: &'static str,
                org_id: Uuid,
                id: Uuid,
                at: DateTime<Utc>,
            ) -> Result<bool, sqlx::Error> {
                let done = sqlx::query(sql)
                    .bind(org_id)
                    .bind(id)
                    .bind(at)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

stamp_once!(pg, sqlx::Postgres);
stamp_once!(sqlite, sqlx::Sqlite);
