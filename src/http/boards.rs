//! `/api/v1/orgs/{org}/boards` and `/api/v1/boards/{board}/archive`.

use super::access::{board_principal, org_principal, reads_board};
use super::audit::{record, AuditCtx};
use super::extract::{Acting, Body};
use super::page::PageQuery;
use super::params::{Path, Query};
use super::validate;
use crate::error::{ApiError, ApiResult};
use crate::store::{Board, BoardFilter, NewBoard, Template};
use crate::templates;
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{Action, Principal};
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
    Acting { state, caller, ip }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateBoard>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let what = "create boards";
    org_principal(&state, &caller, org_id, Action::CreateBoard, what).await?;
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
    let new = json!({ "name": board.name, "template": board.template });
    let ctx = AuditCtx::new(&state, &caller, org_id, ip).await;
    let e = ctx.board_change("board.created", board.id, board.id, None, Some(new));
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
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = org_principal(&state, &caller, org_id, Action::ReadOrg, "list boards").await?;
    let boards: Vec<_> = state
        .store
        .list_boards(org_id, filter_for(&p))
        .await?
        .into_iter()
        .filter(|b| reads_board(&p, org_id, b.id))
        .collect();
    let page = q.oldest_first(boards, state.config.limits.max_page_items)?;
    Ok(Json(page.to_json_with("boards", board_json)))
}

pub async fn archive(
    Acting { state, caller, ip }: Acting,
    Path(board_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let board = state
        .store
        .get_board(board_id)
        .await?
        .ok_or_else(|| ApiError::not_found("board"))?;
    let org_id = board.org_id;
    let what = "archive boards";
    board_principal(&state, &caller, &board, Action::ArchiveBoard, what).await?;
    let board = state
        .store
        .archive_board(org_id, board_id)
        .await?
        .ok_or_else(|| ApiError::not_found("board"))?;
    state.rt.boards.archived(board_id);
    tracing::info!(%org_id, %board_id, "board archived");
    let (old, new) = (json!({ "archived": false }), json!({ "archived": true }));
    let ctx = AuditCtx::new(&state, &caller, org_id, ip).await;
    let e = ctx.board_change("board.archived", board_id, board_id, Some(old), Some(new));
    record(&state, e).await;
    Ok(Json(board_json(&board)))
}
