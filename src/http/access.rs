//! The check most org handlers begin with: the caller as a principal of the org, allowed one
//! action on the org itself. One place, so every handler refuses the same way (404 for
//! another org's key, 403 naming what the role may not do).

use crate::app::AppState;
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{Board, CardLocation};
use boardroom_actors::policy::{decide, Action, CardFacts, Principal, Resource};
use uuid::Uuid;

/// The caller in `org_id`, when its role may do `action` on the org; `what` completes "your
/// role may not …".
pub async fn org_principal(
    state: &AppState,
    caller: &Caller,
    org_id: Uuid,
    action: Action,
    what: &str,
) -> ApiResult<Principal> {
    let p = state.principal_in(caller, org_id).await?;
    ApiError::check(decide(&p, action, &Resource::Org { org_id }), what)?;
    Ok(p)
}

/// The caller in the board's org, allowed `action` on the board; a caller from another org
/// learns only that there is no such board.
pub async fn board_principal(
    state: &AppState,
    caller: &Caller,
    board: &Board,
    action: Action,
    what: &str,
) -> ApiResult<Principal> {
    let (org_id, board_id) = (board.org_id, board.id);
    let p = state
        .principal_in(caller, org_id)
        .await
        .map_err(|e| e.hide_as("board"))?;
    ApiError::check(
        decide(&p, action, &Resource::Board { org_id, board_id }),
        what,
    )?;
    Ok(p)
}

/// A live (not archived) board with the caller in its org, allowed `action` on it; `what`
/// completes "your role may not …". An archived board is as absent here as a missing one.
pub async fn live_board(
    state: &AppState,
    caller: &Caller,
    board_id: Uuid,
    action: Action,
    what: &str,
) -> ApiResult<(Board, Principal)> {
    let board = state
        .store
        .get_board(board_id)
        .await?
        .filter(|b| !b.archived)
        .ok_or_else(|| ApiError::not_found("board"))?;
    let p = board_principal(state, caller, &board, action, what).await?;
    Ok((board, p))
}

/// Refuses, naming `field`, the first of `ids` that is not a board of `org_id` (a filter or
/// scope naming another org's board, or none at all, would silently match nothing).
pub async fn boards_of_org(
    state: &AppState,
    org_id: Uuid,
    field: &str,
    ids: &[Uuid],
) -> ApiResult<()> {
    for id in ids {
        match state.store.get_board(*id).await? {
            Some(b) if b.org_id == org_id => {}
            _ => {
                return Err(ApiError::bad_field(
                    field,
                    format!("board {id} is not a board of this organization"),
                ))
            }
        }
    }
    Ok(())
}

/// Whether `p` may read a board: lists leave out the rows of boards it may not see.
pub fn reads_board(p: &Principal, org_id: Uuid, board_id: Uuid) -> bool {
    decide(p, Action::ReadBoard, &Resource::Board { org_id, board_id }).is_allowed()
}

/// `row`, as the store found it (or not), with the caller as a principal of the org
/// `org_of` names. A missing row and a caller from another org get the same answer, "no
/// such `what`", so that another org's ids cannot be probed.
pub async fn in_org_of<T>(
    state: &AppState,
    caller: &Caller,
    row: Option<T>,
    org_of: impl Fn(&T) -> Uuid,
    what: &str,
) -> ApiResult<(T, Principal)> {
    let row = row.ok_or_else(|| ApiError::not_found(what))?;
    let p = state
        .principal_in(caller, org_of(&row))
        .await
        .map_err(|e| e.hide_as(what))?;
    Ok((row, p))
}

/// A card as the policy sees it: where it is, who works on it, whom it is for.
pub fn card_resource(loc: &CardLocation) -> Resource {
    Resource::Card {
        org_id: loc.org_id,
        board_id: loc.board_id,
        card: CardFacts {
            card_id: loc.card_id,
            assignees: loc.assignees.clone(),
            customer_id: loc.customer_id,
        },
    }
}
