//! An org's members: a user row and its membership, made and changed together, and each
//! member's notification preferences (a row only once they were changed: all on otherwise).

use super::*;
use crate::store::prefs::NotificationPrefs;
use boardroom_protocol::NotificationKind;

/// A member is active until deactivated.
const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.name, m.role, \
     (m.deactivated_at IS NULL) AS active, m.created_at \
     FROM memberships m JOIN users u ON u.id = m.user_id";

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

macro_rules! members_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn create_member(pool: &Pool, org_id: Uuid, user: NewUser, role: Role) -> StoreResult<Member> {
                let t = now();
                let id = new_id();
                let email = user.email.to_lowercase();
                let user = User { id, email, name: user.name, password_hash: user.password_hash, created_at: t };
                let mut tx = pool.begin().await?;
                super::super::orgs::$m::insert_user_as_member(&mut tx, &user, org_id, role).await?;
                tx.commit().await?;
                Ok(Member { id, email: user.email, name: user.name, role, active: true, created_at: t })
            }

            pub async fn list_members(pool: &Pool, org_id: Uuid) -> StoreResult<Vec<Member>> {
                let sql = format!("{MEMBER_SELECT} WHERE m.org_id = $1 ORDER BY m.created_at, u.id");
                Ok(sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await?)
            }

            pub async fn get_member(pool: &Pool, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Member>> {
                let sql = format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2");
                Ok(sqlx::query_as(&sql).bind(org_id).bind(user_id).fetch_optional(pool).await?)
            }

            pub async fn set_member_role(pool: &Pool, org_id: Uuid, user_id: Uuid, role: Role) -> StoreResult<Option<Member>> {
                let done = sqlx::query(
                    "UPDATE memberships SET role = $3, updated_at = $4 WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(now())
                .execute(pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                get_member(pool, org_id, user_id).await
            }

            pub async fn deactivate_member(pool: &Pool, org_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
                let sql = "UPDATE memberships SET deactivated_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND user_id = $2 AND deactivated_at IS NULL";
                Ok(stamp::$m::stamp_once(pool, sql, org_id, user_id, now()).await?)
            }

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

members_sql!(pg, sqlx::Postgres);
members_sql!(sqlite, sqlx::Sqlite);
