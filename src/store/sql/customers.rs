//! The people an org does jobs for; deleted ones stay (cards still name them) but are hidden.

use super::*;

const CUSTOMER_COLS: &str =
    "id, org_id, name, email, phone, address, user_id, created_at, updated_at";

macro_rules! customers_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn create_customer(pool: &Pool, c: NewCustomer) -> StoreResult<Customer> {
                let t = now();
                let row = Customer {
                    id: new_id(),
                    org_id: c.org_id,
                    name: c.name,
                    email: c.email,
                    phone: c.phone,
                    address: c.address,
                    user_id: c.user_id,
                    created_at: t,
                    updated_at: t,
                };
                sqlx::query(
                    "INSERT INTO customers (id, org_id, name, email, phone, user_id, created_at, updated_at, address) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                )
                .bind(row.id)
                .bind(row.org_id)
                .bind(&row.name)
                .bind(&row.email)
                .bind(&row.phone)
                .bind(row.user_id)
                .bind(t)
                .bind(&row.address)
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "customer"))?;
                Ok(row)
            }

            pub async fn list_customers(pool: &Pool, org_id: Uuid) -> StoreResult<Vec<Customer>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {CUSTOMER_COLS} FROM customers WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name, id"
                ))
                .bind(org_id)
                .fetch_all(pool)
                .await?)
            }

            pub async fn get_customer(pool: &Pool, org_id: Uuid, id: Uuid) -> StoreResult<Option<Customer>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {CUSTOMER_COLS} FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
                ))
                .bind(org_id)
                .bind(id)
                .fetch_optional(pool)
                .await?)
            }

            pub async fn update_customer(pool: &Pool, org_id: Uuid, id: Uuid, patch: CustomerPatch) -> StoreResult<Option<Customer>> {
                let Some(mut c) = get_customer(pool, org_id, id).await? else {
                    return Ok(None);
                };
                apply_patch!(c, patch; name, email, phone, address, user_id);
                c.updated_at = now();
                let done = sqlx::query(
                    "UPDATE customers SET name = $3, email = $4, phone = $5, user_id = $6, updated_at = $7, address = $8 \
                     WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(&c.name)
                .bind(&c.email)
                .bind(&c.phone)
                .bind(c.user_id)
                .bind(c.updated_at)
                .bind(&c.address)
                .execute(pool)
                .await
                .map_err(|e| map_err(e, "customer"))?;
                Ok((done.rows_affected() > 0).then_some(c))
            }

            pub async fn delete_customer(pool: &Pool, org_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let sql = "UPDATE customers SET deleted_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL";
                Ok(stamp::$m::stamp_once(pool, sql, org_id, id, now()).await?)
            }

            pub async fn customer_of_user(pool: &Pool, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Uuid>> {
                let row: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM customers WHERE org_id = $1 AND user_id = $2 AND deleted_at IS NULL \
                     ORDER BY created_at LIMIT 1",
                )
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|r| r.0))
            }
        }
    };
}

customers_sql!(pg, sqlx::Postgres);
customers_sql!(sqlite, sqlx::Sqlite);
