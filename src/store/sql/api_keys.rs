//! API keys: only a hash of the secret is stored, found by that hash.

use super::*;

const API_KEY_COLS: &str = "id, org_id, name, role, prefix, boards, created_by, expires_at, \
     last_used_at, revoked_at, created_at";

macro_rules! api_keys_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn create_api_key(pool: &Pool, k: NewApiKey) -> StoreResult<ApiKey> {
                let t = now();
                let key = ApiKey {
                    id: new_id(),
                    org_id: k.org_id,
                    name: k.name,
                    role: k.role,
                    prefix: k.prefix,
                    boards: k.boards,
                    created_by: k.created_by,
                    expires_at: k.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    created_at: t,
                };
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, name, role, key_hash, prefix, boards, created_by, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(key.id)
                .bind(key.org_id)
                .bind(&key.name)
                .bind(key.role.as_str())
                .bind(&k.key_hash)
                .bind(&key.prefix)
                .bind(key.boards.as_ref().map(Json))
                .bind(key.created_by)
                .bind(key.expires_at)
                .bind(t)
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "api key"))?;
                Ok(key)
            }

            pub async fn list_api_keys(pool: &Pool, org_id: Uuid) -> StoreResult<Vec<ApiKey>> {
                let sql = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id");
                Ok(sqlx::query_as(&sql).bind(org_id).fetch_all(pool).await?)
            }

            pub async fn find_api_key(pool: &Pool, key_hash: &[u8]) -> StoreResult<Option<ApiKey>> {
                let sql = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1");
                Ok(sqlx::query_as(&sql).bind(key_hash).fetch_optional(pool).await?)
            }

            pub async fn revoke_api_key(pool: &Pool, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let sql = "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL";
                Ok(stamp::$m::stamp_once(pool, sql, org_id, id, at).await?)
            }

            pub async fn touch_api_key(pool: &Pool, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    };
}

api_keys_sql!(pg, sqlx::Postgres);
api_keys_sql!(sqlite, sqlx::Sqlite);
