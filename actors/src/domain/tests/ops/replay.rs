//! `apply` against `apply_op`, and replaying events that do not fit the board.

use super::*;

#[test]
fn apply_returns_the_same_events_as_apply_op() {
    let fx = Fx::new();
    let (mut copy, mut board) = (fx.board.clone(), fx.board.clone());
    let op = mv(fx.job, fx.doing, None);
    let ctx = fx.ctx(uid(5));
    let events = copy.apply(&fx.member, &op, &ctx).expect("applies");
    let applied = board.apply_op(&fx.member, &op, &ctx).expect("applies");
    assert_eq!(events, applied.events);
    assert_eq!(copy, board);
}

#[test]
fn replay_errors_on_inconsistent_events() {
    use boardroom_protocol::event::*;
    let fx = Fx::new();
    let mut b = fx.board.clone();
    let e = b
        .apply_event(&EventBody::ColumnDeleted(ColumnDeleted {
            column_id: uid(1234),
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownColumn { .. }));
    let e = b
        .apply_event(&EventBody::ChecklistRemoved(ChecklistRemoved {
            item_id: uid(1),
            card_id: fx.job,
            version: 9,
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownItem { .. }));
    let e = b
        .apply_event(&EventBody::CommentAdded(CommentAdded {
            comment: fx.card(fx.job).comments[0].clone(),
            card_id: uid(4321),
            version: 9,
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownCard { .. }));
    assert_eq!(b, fx.board, "failed replays change nothing");
}
