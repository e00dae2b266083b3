//! `/api/v1/orgs/{org}/api-keys`: credentials for bots. The key is shown once, in the answer
//! to its creation; only its SHA-256 is kept.

use super::access::{boards_of_org, org_principal};
use super::audit::record_change;
use super::extract::{Acting, Body};
use super::page::PageQuery;
use super::params::{Path, Query};
use super::validate;
use crate::auth::secrets;
use crate::error::{ApiError, ApiResult};
use crate::store::{ApiKey, NewApiKey};
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{decide, Action, Resource};
use boardroom_protocol::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    role: Role,
    boards: Option<Vec<Uuid>>,
    expires_in_days: Option<u32>,
    /// An exact expiry instead of `expires_in_days` (a key for one job, or a test).
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a caller's role may not do when refused here.
const MANAGE: &str = "manage API keys";

fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "prefix": k.prefix,
        "boards": k.boards,
        "expires_at": k.expires_at,
        "last_used_at": k.last_used_at,
        "revoked_at": k.revoked_at,
        "created_at": k.created_at,
    })
}

pub async fn create(
    Acting { state, caller, ip }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = org_principal(&state, &caller, org_id, Action::ManageApiKeys, MANAGE).await?;
    let org = Resource::Org { org_id };
    // A role above the caller's own is refused as such (403), before the owner role is
    // refused as a shape error (400) for the owner: an admin cannot mint an owner key, and
    // no key is an owner.
    if body.role == Role::Owner && p.role != Role::Owner {
        return Err(ApiError::forbidden("issue keys with a role above your own"));
    }
    if body.role == Role::Owner {
        return Err(ApiError::bad_field(
            "role",
            "an API key cannot have the owner role",
        ));
    }
    ApiError::check(
        decide(&p, Action::IssueApiKey(body.role), &org),
        &format!("issue {} keys", body.role),
    )?;
    let name = validate::text("name", &body.name, state.config.limits.max_name_chars)?;
    if let Some(boards) = &body.boards {
        validate::list_len("boards", boards, 100, "board ids, or be left out")?;
        boards_of_org(&state, org_id, "boards", boards).await?;
    }
    let days = validate::days("expires_in_days", body.expires_in_days)?
        .map(u64::from)
        .or(state.config.auth.api_key_default_expiry_days);
    let now = chrono::Utc::now();
    let expires_at = match body.expires_at {
        Some(_) if body.expires_in_days.is_some() => {
            return Err(ApiError::bad_field(
                "expires_at",
                "give expires_at or expires_in_days, not both",
            ))
        }
        Some(at) if at <= now || at > now + chrono::Duration::days(3650) => {
            return Err(ApiError::bad_field(
                "expires_at",
                "expires_at must be in the future, at most 3650 days ahead",
            ))
        }
        Some(at) => Some(at),
        None => days.map(|d| now + chrono::Duration::days(d.min(3650) as i64)),
    };
    let key = secrets::generate(secrets::API_KEY_PREFIX);
    let row = state
        .store
        .create_api_key(NewApiKey {
            org_id,
            name,
            role: body.role,
            key_hash: secrets::digest(&key),
            prefix: key.chars().take(10).collect(),
            boards: body.boards,
            created_by: p.id,
            expires_at,
        })
        .await?;
    tracing::info!(%org_id, key_id = %row.id, role = %row.role, "api key created");
    let change = (None, Some(key_json(&row)));
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "api_key.created",
        row.id,
        change,
    )
    .await;
    let mut out = key_json(&row);
    out["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    org_principal(&state, &caller, org_id, Action::ManageApiKeys, MANAGE).await?;
    let keys = state.store.list_api_keys(org_id).await?;
    let page = q.oldest_first(keys, state.config.limits.max_page_items)?;
    Ok(Json(page.to_json_with("api_keys", key_json)))
}

pub async fn revoke(
    Acting { state, caller, ip }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    org_principal(&state, &caller, org_id, Action::ManageApiKeys, MANAGE).await?;
    let now = chrono::Utc::now();
    if !state.store.revoke_api_key(org_id, id, now).await? {
        return Err(ApiError::not_found("API key"));
    }
    state.rt.revoke(id);
    tracing::info!(%org_id, key_id = %id, "api key revoked");
    let change = (
        Some(json!({ "revoked_at": null })),
        Some(json!({ "revoked_at": now })),
    );
    record_change(&state, &caller, org_id, ip, "api_key.revoked", id, change).await;
    Ok(StatusCode::NO_CONTENT)
}
