//! Organizations and their users: the rows a sign-in, a token refresh and the first start
//! need. Refresh tokens rotate in families: reusing a spent one revokes its whole family.

use super::*;

macro_rules! orgs_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn count_orgs(pool: &Pool) -> StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organizations")
                    .fetch_one(pool)
                    .await?;
                Ok(n)
            }

            /// A new user and their membership of `org_id`: how both an owner signing up and a
            /// member an admin adds come into being, inside the caller's transaction.
            pub async fn insert_user_as_member(
                conn: &mut <$Db as sqlx::Database>::Connection,
                user: &User,
                org_id: Uuid,
                role: Role,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(user.id)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(user.created_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| map_err(e, "a user with this email"))?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(org_id)
                .bind(user.id)
                .bind(role.as_str())
                .bind(user.created_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| map_err(e, "membership"))?;
                Ok(())
            }

            pub async fn create_org_with_owner(pool: &Pool, name: &str, owner: NewUser) -> StoreResult<(Org, User)> {
                let t = now();
                let org = Org { id: new_id(), name: name.to_string(), created_at: t };
                let user = User {
                    id: new_id(),
                    email: owner.email.to_lowercase(),
                    name: owner.name,
                    password_hash: owner.password_hash,
                    created_at: t,
                };
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO organizations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                    .bind(org.id)
                    .bind(&org.name)
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
                insert_user_as_member(&mut tx, &user, org.id, Role::Owner).await?;
                tx.commit().await?;
                Ok((org, user))
            }

            pub async fn get_org(pool: &Pool, org_id: Uuid) -> StoreResult<Option<Org>> {
                Ok(sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                    .bind(org_id)
                    .fetch_optional(pool)
                    .await?)
            }

            pub async fn get_user(pool: &Pool, user_id: Uuid) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1",
                )
                .bind(user_id)
                .fetch_optional(pool)
                .await?)
            }

            pub async fn find_user_by_email(pool: &Pool, email: &str) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1",
                )
                .bind(email.to_lowercase())
                .fetch_optional(pool)
                .await?)
            }

            pub async fn memberships_of(pool: &Pool, user_id: Uuid) -> StoreResult<Vec<MembershipInfo>> {
                Ok(sqlx::query_as(
                    "SELECT m.org_id, o.name AS org_name, m.role FROM memberships m \
                     JOIN organizations o ON o.id = m.org_id \
                     WHERE m.user_id = $1 AND m.deactivated_at IS NULL ORDER BY m.created_at",
                )
                .bind(user_id)
                .fetch_all(pool)
                .await?)
            }

            pub async fn insert_refresh_token(pool: &Pool, t: &RefreshToken, token_hash: &[u8]) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(t.id)
                .bind(t.user_id)
                .bind(t.family_id)
                .bind(token_hash)
                .bind(t.expires_at)
                .bind(now())
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "refresh token"))?;
                Ok(())
            }

            pub async fn find_refresh_token(pool: &Pool, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
                Ok(sqlx::query_as(
                    "SELECT id, user_id, family_id, expires_at, spent_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(pool)
                .await?)
            }

            pub async fn spend_refresh_token(pool: &Pool, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET spent_at = $2 WHERE id = $1 AND spent_at IS NULL AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            pub async fn revoke_refresh_family(pool: &Pool, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(at)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub async fn refresh_family_revoked(pool: &Pool, family_id: Uuid) -> StoreResult<bool> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL LIMIT 1) AS r",
                )
                .bind(family_id)
                .fetch_one(pool)
                .await?;
                Ok(n > 0)
            }
        }
    };
}

orgs_sql!(pg, sqlx::Postgres);
orgs_sql!(sqlite, sqlx::Sqlite);
