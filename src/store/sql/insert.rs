//! The one way rows are inserted several at a time, on both backends: a multi-row `VALUES`
//! list built with sqlx's `QueryBuilder`, cut into statements small enough for either
//! database's limit on bound parameters. (Postgres' group commit binds whole arrays instead,
//! `commit/pg.rs`: its statement text must not change with the batch size.)
//!
//! Stamped per backend rather than generic over `sqlx::Database`: a generic query's arguments
//! type is invariant in its lifetime, which ties the built statement to the rows' borrow.

/// Rows per statement: 500 rows of the widest table stay far below SQLite's 32 766 and
/// Postgres' 65 535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

macro_rules! insert_rows {
    ($m:ident, $Db:ty) => {
        pub(in crate::store) mod $m {
            use sqlx::query_builder::Separated;

            /// Inserts `rows` as `{head} VALUES (…), (…){tail}`: `head` names the table and
            /// columns (`INSERT INTO t (a, b) `), `tail` is what follows the values (an
            /// `ON CONFLICT` clause, or empty), and `bind` pushes one row's values in column
            /// order. Nothing is sent for no rows.
            pub async fn insert_rows<T>(
                conn: &mut <$Db as sqlx::Database>::Connection,
                head: &str,
                rows: &[T],
                tail: &str,
                mut bind: impl for<'q> FnMut(Separated<'_, 'q, $Db, &'static str>, &'q T),
            ) -> Result<(), sqlx::Error> {
                for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$Db>::new(head);
                    qb.push_values(chunk, |b, row| bind(b, row));
                    qb.push(tail);
                    qb.build().execute(&mut *conn).await?;
                }
                Ok(())
            }
        }
    };
}

insert_rows!(pg, sqlx::Postgres);
insert_rows!(sqlite, sqlx::Sqlite);
