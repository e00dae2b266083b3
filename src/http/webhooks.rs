//! `/api/v1/orgs/{org}/webhooks`: outbound webhook endpoints, their delivery log, test events
//! and manual redelivery (owners and admins). The signing secret is shown once, in the answer
//! to creation and to `rotate-secret`. Sending is `crate::webhooks`' job.

use super::access::{boards_of_org, org_principal};
use super::audit::record_change;
use super::extract::{Acting, Body};
use super::params::{Path, Query};
use super::validate;
use crate::app::AppState;
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{Delivery, Webhook, WebhookPatch};
use crate::webhooks::{guard, now_ms, test_delivery};
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::Action;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use uuid::Uuid;

/// The prefix of webhook signing secrets (tells them apart from API keys in a leak scan).
const SECRET_PREFIX: &str = "whsec_";
const MAX_URL_CHARS: usize = 2000;
const MAX_FILTER_ENTRIES: usize = 100;

/// A field that may be absent (leave it), null (every kind/board) or a value.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    url: String,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    boards: Option<Vec<Uuid>>,
    active: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    url: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "some")]
    event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "some")]
    boards: Option<Option<Vec<Uuid>>>,
    active: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    limit: Option<i64>,
}

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "description": w.description,
        "event_types": w.event_types,
        "boards": w.boards,
        "active": w.active,
        "created_by": w.created_by,
        "created_at": w.created_at,
        "updated_at": w.updated_at,
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_type": d.event_type,
        "board_id": d.board_id,
        "seq": d.seq,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "response_code": d.response_code,
        "latency_ms": d.latency_ms,
        "error": d.error,
        "last_attempt_at": d.last_attempt_at,
        "next_attempt_at": (d.status == crate::store::DeliveryStatus::Pending)
            .then(|| chrono::DateTime::from_timestamp_millis(d.next_attempt_ms)),
        "delivered_at": d.delivered_at,
        "created_at": d.created_at,
    })
}

/// The caller may manage this org's webhooks (else 403, or 404 for another org).
async fn authorize(state: &AppState, caller: &Caller, org_id: Uuid) -> ApiResult<()> {
    let what = "manage webhooks";
    org_principal(state, caller, org_id, Action::ManageWebhooks, what).await?;
    Ok(())
}

async fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let url = validate::text("url", url, MAX_URL_CHARS)?;
    guard::check_target(&url, state.config.webhooks_allow_private())
        .await
        .map_err(|e| ApiError::bad_field("url", e.to_string()))?;
    Ok(url)
}

fn check_event_types(types: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    let Some(types) = types else {
        return Ok(None);
    };
    let what = r#"event kinds ("card.moved", "*"), or be null"#;
    validate::list_len("event_types", &types, MAX_FILTER_ENTRIES, what)?;
    // Deliveries match a kind exactly (or "*"), so a name that is no event kind — an op's name
    // like "card.move", a typo — would make a webhook that silently never fires.
    for t in &types {
        if t != "*" && !boardroom_protocol::EventBody::KINDS.contains(&t.as_str()) {
            return Err(ApiError::bad_field(
                "event_types",
                format!(
                    "{t:?} is not an event kind; one of {}, or \"*\"",
                    boardroom_protocol::EventBody::KINDS.join(", ")
                ),
            ));
        }
    }
    Ok(Some(types))
}

async fn check_boards(
    state: &AppState,
    org_id: Uuid,
    boards: Option<Vec<Uuid>>,
) -> ApiResult<Option<Vec<Uuid>>> {
    let Some(boards) = boards else {
        return Ok(None);
    };
    let what = "board ids, or be null";
    validate::list_len("boards", &boards, MAX_FILTER_ENTRIES, what)?;
    boards_of_org(state, org_id, "boards", &boards).await?;
    Ok(Some(boards))
}

fn description(d: Option<String>) -> ApiResult<String> {
    Ok(validate::optional_text("description", d.as_deref(), 500)?.unwrap_or_default())
}

pub async fn create(
    Acting { state, caller, ip }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&state, &caller, org_id).await?;
    let hooks = state.store.webhooks();
    if hooks.list_webhooks(org_id).await?.len() >= state.config.webhooks.max_per_org {
        return Err(ApiError::conflict(format!(
            "an organization may have at most {} webhooks",
            state.config.webhooks.max_per_org
        )));
    }
    let url = check_url(&state, &body.url).await?;
    let now = chrono::Utc::now();
    let w = Webhook {
        id: crate::store::new_id(),
        org_id,
        url,
        description: description(body.description)?,
        event_types: check_event_types(body.event_types)?,
        boards: check_boards(&state, org_id, body.boards).await?,
        active: body.active.unwrap_or(true),
        secret: crate::auth::secrets::generate(SECRET_PREFIX),
        created_by: caller_user(&state, &caller, org_id).await?,
        created_at: now,
        updated_at: now,
    };
    hooks.create_webhook(&w).await?;
    tracing::info!(%org_id, webhook = %w.id, "webhook created");
    let mut out = webhook_json(&w);
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "webhook.created",
        w.id,
        (None, Some(out.clone())),
    )
    .await;
    out["secret"] = json!(w.secret);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn caller_user(state: &AppState, caller: &Caller, org_id: Uuid) -> ApiResult<Uuid> {
    let p = state.principal_in(caller, org_id).await?;
    p.user_id()
        .ok_or_else(|| ApiError::forbidden("only people manage webhooks"))
}

pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &caller, org_id).await?;
    let hooks: Vec<Value> = state
        .store
        .webhooks()
        .list_webhooks(org_id)
        .await?
        .iter()
        .map(webhook_json)
        .collect();
    Ok(Json(json!({ "webhooks": hooks })))
}

async fn found(state: &AppState, org_id: Uuid, id: Uuid) -> ApiResult<Webhook> {
    state
        .store
        .webhooks()
        .get_webhook(org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn get(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &caller, org_id).await?;
    Ok(Json(webhook_json(&found(&state, org_id, id).await?)))
}

pub async fn patch(
    Acting { state, caller, ip }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
    Body(body): Body<PatchWebhook>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &caller, org_id).await?;
    let before = webhook_json(&found(&state, org_id, id).await?);
    let url = match body.url {
        Some(u) => Some(check_url(&state, &u).await?),
        None => None,
    };
    let boards = match body.boards {
        Some(b) => Some(check_boards(&state, org_id, b).await?),
        None => None,
    };
    let patch = WebhookPatch {
        url,
        description: body.description.map(|d| description(Some(d))).transpose()?,
        event_types: body.event_types.map(check_event_types).transpose()?,
        boards,
        active: body.active,
    };
    let w = state
        .store
        .webhooks()
        .update_webhook(org_id, id, patch)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    tracing::info!(%org_id, webhook = %id, "webhook changed");
    let after = webhook_json(&w);
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "webhook.updated",
        id,
        (Some(before), Some(after.clone())),
    )
    .await;
    Ok(Json(after))
}

pub async fn delete(
    Acting { state, caller, ip }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    authorize(&state, &caller, org_id).await?;
    let before = webhook_json(&found(&state, org_id, id).await?);
    if !state.store.webhooks().delete_webhook(org_id, id).await? {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(%org_id, webhook = %id, "webhook deleted");
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "webhook.deleted",
        id,
        (Some(before), None),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_secret(
    Acting { state, caller, ip }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &caller, org_id).await?;
    let secret = crate::auth::secrets::generate(SECRET_PREFIX);
    if !state
        .store
        .webhooks()
        .set_webhook_secret(org_id, id, &secret)
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(%org_id, webhook = %id, "webhook secret rotated");
    // Only that it changed: the secret itself is never recorded.
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "webhook.secret_rotated",
        id,
        (None, None),
    )
    .await;
    let mut out = webhook_json(&found(&state, org_id, id).await?);
    out["secret"] = json!(secret);
    Ok(Json(out))
}

pub async fn test(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&state, &caller, org_id).await?;
    let w = found(&state, org_id, id).await?;
    let d = test_delivery(&w);
    let delivery_id = d.id;
    let hooks = state.store.webhooks();
    hooks.enqueue(&w, None, None, &[d], now_ms()).await?;
    let row = hooks
        .get_delivery(org_id, id, delivery_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&row))))
}

pub async fn deliveries(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &caller, org_id).await?;
    found(&state, org_id, id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let rows: Vec<Value> = state
        .store
        .webhooks()
        .list_deliveries(org_id, id, limit)
        .await?
        .iter()
        .map(delivery_json)
        .collect();
    Ok(Json(json!({ "deliveries": rows })))
}

pub async fn redeliver(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id, delivery)): Path<(Uuid, Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&state, &caller, org_id).await?;
    let hooks = state.store.webhooks();
    if !hooks.redeliver(org_id, id, delivery, now_ms()).await? {
        return Err(ApiError::not_found("delivery"));
    }
    let row = hooks
        .get_delivery(org_id, id, delivery)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    tracing::info!(%org_id, webhook = %id, %delivery, "webhook delivery queued again");
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&row))))
}
