//! Notification preferences: one row per membership that ever changed them, none (everything
//! on) otherwise.

use super::*;
use crate::store::prefs::NotificationPrefs;
use boardroom_protocol::NotificationKind;

#[derive(sqlx::FromRow)]
struct PrefsRow {
    user_id: Uuid,
    muted_kinds: Json<Vec<NotificationKind>>,
    muted_boards: Json<Vec<Uuid>>,
    updated_at: DateTime<Utc>,
}

impl From<PrefsRow> for (Uuid, NotificationPrefs) {
    fn from(r: PrefsRow) -> Self {
        (
            r.user_id,
            NotificationPrefs {
                muted_kinds: r.muted_kinds.0,
                muted_boards: r.muted_boards.0,
                updated_at: Some(r.updated_at),
            },
        )
    }
}

macro_rules! prefs_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn notification_prefs(
                pool: &Pool,
                org_id: Uuid,
                user_id: Uuid,
            ) -> StoreResult<NotificationPrefs> {
                let row: Option<PrefsRow> = sqlx::query_as(
                    "SELECT user_id, muted_kinds, muted_boards, updated_at \
                     FROM notification_preferences WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|r| <(Uuid, NotificationPrefs)>::from(r).1).unwrap_or_default())
            }

            pub async fn set_notification_prefs(
                pool: &Pool,
                org_id: Uuid,
                user_id: Uuid,
                prefs: &NotificationPrefs,
            ) -> StoreResult<NotificationPrefs> {
                let t = now();
                sqlx::query(
                    "INSERT INTO notification_preferences \
                     (org_id, user_id, muted_kinds, muted_boards, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, user_id) DO UPDATE SET \
                     muted_kinds = excluded.muted_kinds, muted_boards = excluded.muted_boards, \
                     updated_at = excluded.updated_at",
                )
                .bind(org_id)
                .bind(user_id)
                .bind(Json(&prefs.muted_kinds))
                .bind(Json(&prefs.muted_boards))
                .bind(t)
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "membership"))?;
                Ok(NotificationPrefs {
                    updated_at: Some(t),
                    ..prefs.clone()
                })
            }

            pub async fn org_notification_prefs(
                pool: &Pool,
                org_id: Uuid,
            ) -> StoreResult<Vec<(Uuid, NotificationPrefs)>> {
                let rows: Vec<PrefsRow> = sqlx::query_as(
                    "SELECT user_id, muted_kinds, muted_boards, updated_at \
                     FROM notification_preferences WHERE org_id = $1",
                )
                .bind(org_id)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

prefs_sql!(pg, sqlx::Postgres);
prefs_sql!(sqlite, sqlx::Sqlite);
