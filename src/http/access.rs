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

/// Whether `p` may read a board: lists leave out the rows of boards it may not see.
pub fn reads_board(p: &Principal, org_id: Uuid, board_id: Uuid) -> bool {
    decide(p, Action::ReadBoard, &Resource::Board { org_id, board_id }).is_allowed()
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
