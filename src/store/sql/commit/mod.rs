//! The write-behind's group commit: many boards' changes in one transaction, fenced by each
//! board's epoch. The batch is first merged per board (`merge_by_board`); each backend then
//! writes it its own way (`one_call.rs`: Postgres, the whole batch in one function call, one
//! round trip; `pg.rs`: Postgres, one array-bound statement per table, for the batches the
//! function does not take; `sqlite.rs`: per-row statements, cheap in process).

use super::*;

mod one_call;
pub(super) mod pg;
pub(super) mod sqlite;

/// The entries of one board (and epoch) in a batch, joined in order, so that the rows they
/// touch are coalesced across ops: a card updated by 100 ops of one batch is written once.
/// It borrows from the batch: the event payloads are bound to the statements straight from
/// the journal's entries, never copied (copies were half the flusher's CPU in the profile).
pub(super) struct Merged<'a> {
    org_id: Uuid,
    board_id: Uuid,
    epoch: i64,
    events: Vec<&'a EventRecord>,
    ops: Vec<&'a AppliedOp>,
    changes: Vec<&'a RowChange>,
    notifications: Vec<&'a Notification>,
}

impl Merged<'_> {
    /// The last change of each row, in the order of their last changes.
    pub(super) fn last_changes(&self) -> Vec<&RowChange> {
        let mut seen = std::collections::HashSet::new();
        let mut changes: Vec<&RowChange> = Vec::new();
        for ch in self.changes.iter().rev() {
            if seen.insert(ch.key()) {
                changes.push(ch);
            }
        }
        changes.reverse();
        changes
    }
}

pub(super) fn merge_by_board(commits: &[BoardCommit]) -> Vec<Merged<'_>> {
    let mut out: Vec<Merged<'_>> = Vec::new();
    let mut index: HashMap<(Uuid, i64), usize> = HashMap::new();
    for c in commits {
        let i = *index.entry((c.board_id, c.epoch)).or_insert_with(|| {
            out.push(Merged {
                org_id: c.org_id,
                board_id: c.board_id,
                epoch: c.epoch,
                events: Vec::new(),
                ops: Vec::new(),
                changes: Vec::new(),
                notifications: Vec::new(),
            });
            out.len() - 1
        });
        let m = &mut out[i];
        m.events.extend(c.events.iter());
        m.ops.extend(c.ops.iter());
        m.changes.extend(c.changes.iter());
        m.notifications.extend(c.notifications.iter());
    }
    out
}
