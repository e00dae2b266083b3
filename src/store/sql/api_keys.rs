//! API keys: only a hash of the secret is stored, found by that hash.

use super::*;

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    role: String,
    prefix: String,
    boards: Option<Json<Vec<Uuid>>>,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            role: parse_role(&r.role)?,
            prefix: r.prefix,
            boards: r.boards.map(|j| j.0),
            created_by: r.created_by,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        })
    }
}

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
                let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
                    "SELECT {API_KEY_COLS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id"
                ))
                .bind(org_id)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(ApiKey::try_from).collect()
            }

            pub async fn find_api_key(pool: &Pool, key_hash: &[u8]) -> StoreResult<Option<ApiKey>> {
                let row: Option<ApiKeyRow> =
                    sqlx::query_as(&format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1"))
                        .bind(key_hash)
                        .fetch_optional(pool)
                        .await?;
                row.map(ApiKey::try_from).transpose()
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
