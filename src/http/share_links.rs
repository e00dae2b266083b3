//! Share links: a read-only window on one card for a customer who has no account.

use super::access::{card_resource, in_org_of, org_principal, reads_board};
use super::audit::{record, AuditCtx};
use super::extract::{Acting, Body};
use super::page::{by_creation, Order, PageQuery};
use super::params::{Path, Query};
use super::validate;
use crate::auth::secrets;
use crate::error::{ApiError, ApiResult};
use crate::store::NewShareLink;
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{decide, Action};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    expires_in_days: Option<u32>,
}

pub async fn create(
    Acting { state, caller, ip }: Acting,
    Path(card_id): Path<Uuid>,
    Body(body): Body<CreateLink>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let loc = state.store.card_location(card_id).await?;
    let (loc, p) = in_org_of(&state, &caller, loc, |l| l.org_id, "card").await?;
    let card = card_resource(&loc);
    ApiError::check(decide(&p, Action::ReadCard, &card), "see this card")
        .map_err(|e| e.hide_as("card"))?;
    ApiError::check(decide(&p, Action::ManageShareLinks, &card), "share cards")?;
    let days = validate::days("expires_in_days", body.expires_in_days)?
        .map(u64::from)
        .unwrap_or(state.config.auth.share_link_default_expiry_days);
    let token = secrets::generate(secrets::SHARE_TOKEN_PREFIX);
    let link = state
        .store
        .create_share_link(NewShareLink {
            org_id: loc.org_id,
            board_id: loc.board_id,
            card_id,
            token_hash: secrets::digest(&token),
            created_by: p.id,
            expires_at: Some(chrono::Utc::now() + chrono::Duration::days(days.min(3650) as i64)),
        })
        .await?;
    tracing::info!(org_id = %loc.org_id, %card_id, link_id = %link.id, "share link created");
    let ctx = AuditCtx::new(&state, &caller, loc.org_id, ip).await;
    let new = json!({ "card_id": card_id, "expires_at": link.expires_at });
    let e = ctx.board_change("share_link.created", loc.board_id, link.id, None, Some(new));
    record(&state, e).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": link.id,
            "token": token,
            "url": format!("{}/j/{}", state.config.public_url(), token),
            "card_id": card_id,
            "expires_at": link.expires_at,
        })),
    ))
}

pub async fn revoke(
    Acting { state, caller, ip }: Acting,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let link = state
        .store
        .get_share_link(id)
        .await?
        .ok_or_else(|| ApiError::not_found("share link"))?;
    let loc = state.store.card_location(link.card_id).await?;
    let (loc, p) = in_org_of(&state, &caller, loc, |l| l.org_id, "share link").await?;
    let card = card_resource(&loc);
    ApiError::check(
        decide(&p, Action::ManageShareLinks, &card),
        "manage share links",
    )?;
    if !state
        .store
        .revoke_share_link(link.org_id, id, chrono::Utc::now())
        .await?
    {
        return Err(ApiError::not_found("share link"));
    }
    state.rt.revoke(id);
    tracing::info!(org_id = %link.org_id, link_id = %id, "share link revoked");
    let ctx = AuditCtx::new(&state, &caller, link.org_id, ip).await;
    let old = json!({ "card_id": link.card_id, "revoked_at": null });
    let new = json!({ "card_id": link.card_id, "revoked_at": chrono::Utc::now() });
    let e = ctx.board_change(
        "share_link.revoked",
        link.board_id,
        id,
        Some(old),
        Some(new),
    );
    record(&state, e).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    card: Option<Uuid>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl ListQuery {
    fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// `GET /api/v1/orgs/{org}/share-links[?card=<id>]`: the org's share links (never their
/// tokens, which are only shown when created), newest first, for those who manage them.
pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let what = "list share links";
    let p = org_principal(&state, &caller, org_id, Action::ManageShareLinks, what).await?;
    let links: Vec<_> = state
        .store
        .list_share_links(org_id, q.card, i64::MAX)
        .await?
        .into_iter()
        .filter(|(l, _)| reads_board(&p, org_id, l.board_id))
        .collect();
    let page_q = q.page();
    let page = by_creation(
        links,
        |(l, _)| (&l.created_at, l.id),
        Order::Descending,
        &page_q,
        state.config.limits.max_page_items,
    )?;
    Ok(Json(page.to_json_with("share_links", |(l, title)| {
        json!({
            "id": l.id,
            "card_id": l.card_id,
            "board_id": l.board_id,
            "card_title": title,
            "created_at": l.created_at,
            "expires_at": l.expires_at,
            "revoked_at": l.revoked_at,
        })
    })))
}
