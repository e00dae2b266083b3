//! `GET /api/v1/job[?card=<id>]`: what a customer's job page needs besides the live card
//! (which comes over the `card:` topic): the board's statuses in order, for the timeline, the
//! names of the people assigned (only their names) and the organization's name. A share
//! token (`Authorization: Bearer brs_…`) names its own card; other callers name the card.
//! Signed-in callers also get who the job is for (`customer`: name, phone, email, address), so a
//! worker on the road has the address and the number on the job itself; a share link, which
//! anyone holding the URL can open, does not.

use super::access::card_resource;
use super::params::Query;
use crate::app::AppState;
use crate::auth::session::bearer;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use boardroom_actors::policy::{decide, Action};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    card: Option<Uuid>,
}

pub async fn job(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<JobQuery>,
) -> ApiResult<Json<Value>> {
    let token = bearer(&headers)?
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer header"))?;
    // The same authentication as a WebSocket hello: JWT, API key or share token.
    let auth = state.credentials.session(token).await?;
    let card_id = match (auth.principal.share_card, q.card) {
        (Some(own), None) => own,
        (Some(own), Some(asked)) if asked == own => own,
        (Some(_), Some(_)) => return Err(ApiError::not_found("card")),
        (None, Some(asked)) => asked,
        (None, None) => return Err(ApiError::bad_field("card", "name the card: ?card=<id>")),
    };
    let loc = state
        .store
        .card_location(card_id)
        .await?
        .ok_or_else(|| ApiError::not_found("card"))?;
    let principal = auth
        .principal_in(&state.credentials, loc.org_id)
        .await
        .map_err(|e| e.hide_as("card"))?;
    let resource = card_resource(&loc);
    if !decide(&principal, Action::ReadCard, &resource).is_allowed() {
        return Err(ApiError::not_found("card"));
    }
    let board = state
        .store
        .get_board(loc.board_id)
        .await?
        .filter(|b| !b.archived)
        .ok_or_else(|| ApiError::not_found("card"))?;
    let org_name = state
        .store
        .get_org(loc.org_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let mut workers = Vec::new();
    for user in &loc.assignees {
        if let Some(m) = state.store.get_member(loc.org_id, *user).await? {
            workers.push(json!({ "id": m.id, "name": m.name }));
        }
    }
    let customer = match (auth.principal.share_card, loc.customer_id) {
        (None, Some(id)) => state.store.get_customer(loc.org_id, id).await?.map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "phone": c.phone,
                "email": c.email,
                "address": c.address,
            })
        }),
        _ => None,
    };
    Ok(Json(json!({
        "card_id": card_id,
        "board_id": board.id,
        "org_name": org_name,
        "statuses": board.columns,
        "workers": workers,
        "customer": customer,
    })))
}
