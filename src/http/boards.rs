//! `/api/v1/orgs/{org}/boards` and `/api/v1/boards/{board}/archive`.

use super::audit::{record, AuditCtx};
use super::extract::Body;
use super::page::{by_creation, Order, PageQuery};
use super::params::{Path, Query};
use super::validate;
use crate::app::AppState;
use crate::auth::session::{Caller, ClientIp};
use crate::error::{ApiError, ApiResult};
use crate::store::{Board, BoardFilter, NewBoard, Template};
use crate::templates;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{decide, Action, Principal, Resource};
use boardroom_protocol::{PrincipalKind, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBoard {
    name: String,
    template: Option<Template>,
}

pub fn board_json(b: &Board) -> Value {
    json!({
        "id": b.id,
        "org_id": b.org_id,
        "name": b.name,
        "template": b.template,
        "archived": b.archived,
        "created_at": b.created_at,
        "columns": b.columns,
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateBoard>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = state.principal_in(&caller, org_id).await?;
    ApiError::check(
        decide(&p, Action::CreateBoard, &Resource::Org { org_id }),
        "create boards",
    )?;
    let name = validate::text("name", &body.name, state.config.limits.max_name_chars)?;
    let template = body.template.unwrap_or(Template::Kanban);
    let board = state
        .store
        .create_board(NewBoard {
            org_id,
            name,
            template,
            columns: templates::default_columns(template),
        })
        .await?;
    tracing::info!(%org_id, board_id = %board.id, "board created");
    let mut e = AuditCtx::new(&state, &caller, org_id, ip)
        .await
        .entry("board.created");
    e.board_id = Some(board.id);
    e.target_id = Some(board.id);
    e.new = Some(json!({ "name": board.name, "template": board.template }));
    record(&state, e).await;
    Ok((StatusCode::CREATED, Json(board_json(&board))))
}

/// Full-view roles see every board; workers the boards with a job of theirs; customers the
/// boards with one of their jobs; a scoped API key its boards.
fn filter_for(p: &Principal) -> BoardFilter {
    if p.has_full_view() {
        return BoardFilter::All;
    }
    match (p.kind, p.role) {
        (PrincipalKind::User, Role::Worker) => BoardFilter::AssignedTo(p.id),
        (PrincipalKind::User, Role::Customer) => p
            .customer_id
            .map_or(BoardFilter::Nothing, BoardFilter::OfCustomer),
        _ => BoardFilter::Nothing,
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = state.principal_in(&caller, org_id).await?;
    ApiError::check(
        decide(&p, Action::ReadOrg, &Resource::Org { org_id }),
        "list boards",
    )?;
    let boards: Vec<_> = state
        .store
        .list_boards(org_id, filter_for(&p))
        .await?
        .into_iter()
        .filter(|b| {
            decide(
                &p,
                Action::ReadBoard,
                &Resource::Board {
                    org_id,
                    board_id: b.id,
                },
            )
            .is_allowed()
        })
        .collect();
    let page = by_creation(
        boards,
        |b| (&b.created_at, b.id),
        Order::Ascending,
        &q,
        state.config.limits.max_page_items,
    )?;
    let boards: Vec<Value> = page.items.iter().map(board_json).collect();
    Ok(Json(json!({
        "boards": boards,
        "total": page.total,
        "next_cursor": page.next_cursor,
    })))
}

pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Path(board_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let board = state
        .store
        .get_board(board_id)
        .await?
        .ok_or_else(|| ApiError::not_found("board"))?;
    let org_id = board.org_id;
    let p = state
        .principal_in(&caller, org_id)
        .await
        .map_err(|e| e.hide_as("board"))?;
    ApiError::check(
        decide(
            &p,
            Action::ArchiveBoard,
            &Resource::Board { org_id, board_id },
        ),
        "archive boards",
    )?;
    let board = state
        .store
        .archive_board(org_id, board_id)
        .await?
        .ok_or_else(|| ApiError::not_found("board"))?;
    state.rt.boards.archived(board_id);
    tracing::info!(%org_id, %board_id, "board archived");
    let mut e = AuditCtx::new(&state, &caller, org_id, ip)
        .await
        .entry("board.archived");
    e.board_id = Some(board_id);
    e.target_id = Some(board_id);
    e.old = Some(json!({ "archived": false }));
    e.new = Some(json!({ "archived": true }));
    record(&state, e).await;
    Ok(Json(board_json(&board)))
}
