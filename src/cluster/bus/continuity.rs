//! Events from other nodes' boards: delivered in order, gaps repaired from the owner's ring,
//! a new epoch or an unrepairable gap ending the subscriptions with `resync`.

use super::{Bus, Track, RECENT_PER_BOARD};
use crate::cluster::wire::{Reply, Request, WireEvent};
use boardroom_actors::live::Published;
use boardroom_protocol::Topic;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uuid::Uuid;

impl Bus {
    fn resync_board(&self, board_id: Uuid, reason: &str) {
        if let Some(reg) = self.registry() {
            reg.tell_resync(board_id, reason);
        }
    }

    fn deliver(&self, t: &mut Track, ev: Arc<Published>) {
        t.seq = ev.frame.seq;
        t.recent.push_back(ev.clone());
        while t.recent.len() > RECENT_PER_BOARD {
            t.recent.pop_front();
        }
        self.hub.publish_event(&ev);
    }

    /// An event from another node's board, checked for continuity.
    pub(super) async fn on_event(&self, from: String, ev: WireEvent) {
        let board_id = ev.board_id;
        let (epoch, seq) = (ev.frame.epoch, ev.frame.seq);
        let ev = Arc::new(Published::from(ev));
        let gap_after = {
            let mut t = self.tracks.entry(board_id).or_insert_with(|| Track {
                epoch,
                seq: seq.saturating_sub(1),
                owner: from.as_str().into(),
                recent: VecDeque::new(),
            });
            if epoch < t.epoch || (epoch == t.epoch && seq <= t.seq) {
                return; // stale owner or duplicate
            }
            if epoch > t.epoch {
                t.epoch = epoch;
                t.seq = seq;
                t.owner = from.as_str().into();
                t.recent.clear();
                drop(t);
                self.resync_board(
                    board_id,
                    "the board moved to another node; subscribe again with since",
                );
                return;
            }
            if seq == t.seq + 1 {
                self.deliver(&mut t, ev);
                return;
            }
            t.seq
        };
        // A gap: events after `gap_after` were lost on the way. Ask the owner for them
        // before delivering anything later.
        let missing = match self
            .request(
                &from,
                board_id,
                Request::Recent {
                    epoch,
                    after_seq: gap_after,
                },
            )
            .await
        {
            Some(Reply::Recent(Some(events))) => Some(events),
            _ => None,
        };
        let Some(mut t) = self.tracks.get_mut(&board_id) else {
            return;
        };
        match missing {
            Some(events) => {
                for w in events {
                    if w.frame.epoch == t.epoch && w.frame.seq == t.seq + 1 {
                        self.deliver(&mut t, Arc::new(Published::from(w)));
                    }
                }
                self.counters.gaps_repaired.fetch_add(1, Ordering::Relaxed);
                ::metrics::counter!(crate::metrics::GAPS_REPAIRED).increment(1);
                if epoch == t.epoch && seq == t.seq + 1 {
                    self.deliver(&mut t, ev);
                }
            }
            None => {
                t.seq = seq;
                t.recent.clear();
                drop(t);
                tracing::warn!(%board_id, "gap in the board's events could not be repaired; subscribers resync");
                self.resync_board(
                    board_id,
                    "events were lost between nodes; subscribe again with since",
                );
            }
        }
    }

    /// After Redis came back: every board this node follows may have missed events.
    pub(super) async fn repair_all(self: Arc<Self>) {
        let boards: Vec<(Uuid, u64, u64, Arc<str>)> = self
            .tracks
            .iter()
            .map(|t| (*t.key(), t.epoch, t.seq, t.owner.clone()))
            .collect();
        for (board_id, epoch, seq, owner) in boards {
            if self.hub.subscriber_count(&Topic::Board(board_id)) == 0
                && self.hub.fed_by(board_id).is_empty()
            {
                self.tracks.remove(&board_id);
                continue;
            }
            let reply = self
                .request(
                    &owner,
                    board_id,
                    Request::Recent {
                        epoch,
                        after_seq: seq,
                    },
                )
                .await;
            let Some(mut t) = self.tracks.get_mut(&board_id) else {
                continue;
            };
            match reply {
                Some(Reply::Recent(Some(events))) => {
                    let before = t.seq;
                    for w in events {
                        if w.frame.epoch == t.epoch && w.frame.seq == t.seq + 1 {
                            self.deliver(&mut t, Arc::new(Published::from(w)));
                        }
                    }
                    if t.seq > before {
                        self.counters.gaps_repaired.fetch_add(1, Ordering::Relaxed);
                        ::metrics::counter!(crate::metrics::GAPS_REPAIRED).increment(1);
                    }
                }
                _ => {
                    drop(t);
                    self.tracks.remove(&board_id);
                    self.resync_board(
                        board_id,
                        "the connection between nodes was interrupted; subscribe again with since",
                    );
                }
            }
        }
    }
}
