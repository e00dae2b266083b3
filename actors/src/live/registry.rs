//! The supervision tree: a root supervisor -> one `OrgActor` per active organization -> the
//! `BoardActor`s of its boards. Board actors are spawned on first use under their org, found
//! by board id, and removed when they stop (idle) or fail. A failed board comes back from durable state on its next use;
//! its subscribers are told to resync. Restart intensity is bounded: a board that fails
//! `max_restarts` times within `restart_window_secs` answers `unavailable` until the window
//! has passed, instead of crash-looping.

use super::board::{BoardActor, BoardArgs, BoardDeps, BoardMsg, StartError};
use super::metrics;
use super::ports::Acquired;
use boardroom_protocol::{ErrorCode, ErrorReply, ResyncFrame, ServerFrame, Topic};
use dashmap::DashMap;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Where a board's requests go.
pub enum Route {
    Local(ActorRef<BoardMsg>),
    /// The node that owns the board.
    Remote(Arc<str>),
}

pub struct BoardRegistry {
    deps: Arc<BoardDeps>,
    actors: DashMap<Uuid, ActorRef<BoardMsg>>,
    /// Per running board: ops sent to its actor and not yet taken in hand (admission).
    inboxes: DashMap<Uuid, (ActorId, Arc<AtomicUsize>)>,
    by_actor: DashMap<ActorId, Uuid>,
    failures: DashMap<Uuid, VecDeque<Instant>>,
    spawning: DashMap<Uuid, Arc<tokio::sync::Mutex<()>>>,
    orgs: DashMap<Uuid, ActorRef<OrgMsg>>,
    /// board -> org of every board loaded since start (boards never change org).
    board_orgs: DashMap<Uuid, Uuid>,
    /// board -> the node that owned it when we last asked (cluster).
    remote_owners: DashMap<Uuid, Arc<str>>,
    supervisor: OnceLock<ActorCell>,
    me: OnceLock<Weak<BoardRegistry>>,
}

impl BoardRegistry {
    pub async fn start(deps: Arc<BoardDeps>) -> Result<Arc<BoardRegistry>, ractor::SpawnErr> {
        let reg = Arc::new(BoardRegistry {
            deps,
            actors: DashMap::new(),
            inboxes: DashMap::new(),
            by_actor: DashMap::new(),
            failures: DashMap::new(),
            spawning: DashMap::new(),
            orgs: DashMap::new(),
            board_orgs: DashMap::new(),
            remote_owners: DashMap::new(),
            supervisor: OnceLock::new(),
            me: OnceLock::new(),
        });
        let _ = reg.me.set(Arc::downgrade(&reg));
        let (sup, _) = Actor::spawn(None, Supervisor, Arc::downgrade(&reg)).await?;
        let _ = reg.supervisor.set(sup.get_cell());
        Ok(reg)
    }

    fn unavailable(msg: &str) -> ErrorReply {
        let mut e = ErrorReply::new(None, ErrorCode::Unavailable, msg);
        e.retry_after_ms = Some(1000);
        e
    }

    /// The board's actor, spawning (loading) it when it is not running. A board owned by
    /// another node answers `unavailable` here; `send` forwards to it instead.
    pub async fn get(&self, board_id: Uuid) -> Result<ActorRef<BoardMsg>, ErrorReply> {
        match self.route(board_id).await? {
            Route::Local(a) => Ok(a),
            Route::Remote(node) => Err(Self::unavailable(&format!(
                "this board is served by node {node}; retry there"
            ))),
        }
    }

    /// Where requests for the board go: its actor here (started when needed: taking the
    /// board if nobody holds it), or the node that owns it.
    pub async fn route(&self, board_id: Uuid) -> Result<Route, ErrorReply> {
        if let Some(a) = self.actors.get(&board_id) {
            return Ok(Route::Local(a.clone()));
        }
        // The owner we saw last: forwarding failures forget it, so a dead owner costs one
        // timeout, not one per request.
        if let Some(node) = self.remote_owners.get(&board_id) {
            return Ok(Route::Remote(node.clone()));
        }
        let cfg = &self.deps.settings;
        if let Some(mut f) = self.failures.get_mut(&board_id) {
            let window = cfg.restart_window;
            while f.front().is_some_and(|t| t.elapsed() > window) {
                f.pop_front();
            }
            if f.len() as u32 >= cfg.max_restarts {
                return Err(Self::unavailable(
                    "this board failed repeatedly and is paused; retry later",
                ));
            }
        }
        let lock = self.spawning.entry(board_id).or_default().clone();
        let _guard = lock.lock().await;
        if let Some(a) = self.actors.get(&board_id) {
            return Ok(Route::Local(a.clone()));
        }
        let org_id = match self.deps.source.board_header(board_id).await {
            Ok(Some(b)) if !b.archived => b.org_id,
            Ok(_) => return Err(ErrorReply::new(None, ErrorCode::NotFound, "not found")),
            Err(e) => {
                tracing::warn!(%board_id, error = %e, "cannot look up board");
                return Err(Self::unavailable("the database is unavailable; retry"));
            }
        };
        self.board_orgs.insert(board_id, org_id);
        let org = self.org(org_id).await?;
        let claim = match self.deps.ownership.acquire(board_id).await {
            Ok(Acquired::Owned(claim)) => claim,
            Ok(Acquired::NotFound) => {
                return Err(ErrorReply::new(None, ErrorCode::NotFound, "not found"))
            }
            Ok(Acquired::Elsewhere { node }) => {
                let node: Arc<str> = node.into();
                self.remote_owners.insert(board_id, node.clone());
                return Ok(Route::Remote(node));
            }
            Err(e) => {
                tracing::warn!(%board_id, error = %e, "cannot take the board");
                return Err(Self::unavailable(
                    "the board cannot be taken right now; retry",
                ));
            }
        };
        let ops_queued = Arc::new(AtomicUsize::new(0));
        let args = BoardArgs {
            board_id,
            org_id,
            claim,
            deps: self.deps.clone(),
            ops_queued: ops_queued.clone(),
        };
        match Actor::spawn_linked(None, BoardActor, args, org.get_cell()).await {
            Ok((actor, _)) => {
                // Subscribers this node had while another node owned the board were fed that
                // node's epoch; they start over with ours.
                self.tell_resync(
                    board_id,
                    "the board moved to this node; subscribe again with since",
                );
                let _ = org.cast(OrgMsg::BoardStarted(actor.clone()));
                self.by_actor.insert(actor.get_id(), board_id);
                self.inboxes.insert(board_id, (actor.get_id(), ops_queued));
                self.actors.insert(board_id, actor.clone());
                self.remote_owners.remove(&board_id);
                Ok(Route::Local(actor))
            }
            Err(e) => {
                tracing::warn!(%board_id, error = %e, "cannot start board actor");
                self.deps.ownership.release(board_id, claim.epoch).await;
                let not_found = matches!(&e, ractor::SpawnErr::StartupFailed(inner)
                    if matches!(inner.downcast_ref::<StartError>(), Some(StartError::NotFound)));
                if not_found {
                    Err(ErrorReply::new(None, ErrorCode::NotFound, "not found"))
                } else {
                    Err(Self::unavailable(
                        "the board cannot be loaded right now; retry",
                    ))
                }
            }
        }
    }

    /// Delivers a request to the board's actor, starting it when needed, or to the node that
    /// owns the board. A request that cannot be delivered is answered with the reason
    /// (`not_found`, `unavailable`); the result says whether it was delivered.
    pub async fn send(&self, board_id: Uuid, msg: BoardMsg) -> bool {
        match self.route(board_id).await {
            Ok(Route::Local(actor)) => {
                // Admission: an op beyond the board's inbox bound is refused here, before it
                // waits in line, so that a board that cannot keep up answers at once.
                let counted = match (&msg, self.inboxes.get(&board_id)) {
                    (BoardMsg::Op { .. }, Some(entry)) => {
                        let q = &entry.1;
                        let s = &self.deps.settings;
                        let subs = self
                            .deps
                            .hub
                            .subscriber_count(&Topic::Board(board_id))
                            .max(1);
                        let admitted = q
                            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                                let fits = n < s.board_inbox_ops
                                    && (n + 1).saturating_mul(subs) <= s.board_inbox_deliveries;
                                (n == 0 || fits).then_some(n + 1)
                            })
                            .is_ok();
                        if !admitted {
                            ::metrics::counter!(metrics::OPS_REFUSED_OVERLOAD).increment(1);
                            let mut e = ErrorReply::new(
                                None,
                                ErrorCode::Unavailable,
                                "the board has too many ops waiting (server overloaded); \
                                 retry shortly with the same op_id",
                            );
                            e.retry_after_ms =
                                Some(self.deps.settings.overload_retry_after.as_millis() as u64);
                            msg.refuse(e);
                            return false;
                        }
                        Some(q.clone())
                    }
                    _ => None,
                };
                match actor.cast(msg) {
                    Ok(()) => true,
                    Err(e) => {
                        if let Some(q) = counted {
                            q.fetch_sub(1, Ordering::AcqRel);
                        }
                        // Other errors: the message is gone with the error; its owed answer
                        // says `unavailable`.
                        if let ractor::MessagingErr::SendErr(msg) = e {
                            msg.refuse(Self::unavailable("the board is restarting; retry"));
                        }
                        false
                    }
                }
            }
            Ok(Route::Remote(node)) => match &self.deps.forwarder {
                Some(f) => {
                    f.forward(&node, board_id, msg);
                    true
                }
                None => {
                    msg.refuse(Self::unavailable("this board is served by another node"));
                    false
                }
            },
            Err(e) => {
                msg.refuse(e);
                false
            }
        }
    }

    /// Sends to the board's actor if it is running, here or (as last seen) on another node.
    /// Messages that make no sense to a fresh actor, like a presence leave, are simply
    /// dropped otherwise.
    pub fn tell(&self, board_id: Uuid, msg: BoardMsg) {
        if let Some(a) = self.actors.get(&board_id) {
            let _ = a.cast(msg);
        } else if let (Some(node), Some(f)) =
            (self.remote_owners.get(&board_id), &self.deps.forwarder)
        {
            f.forward(&node, board_id, msg);
        }
    }

    /// The owner we last saw for a board did not answer: ask again next time.
    pub fn forget_owner(&self, board_id: Uuid) {
        self.remote_owners.remove(&board_id);
    }

    /// Forgets the board's cached owner if it is still `node` (and not a newer owner
    /// learnt meanwhile).
    pub fn forget_owner_if(&self, board_id: Uuid, node: &str) {
        self.remote_owners.remove_if(&board_id, |_, n| **n == *node);
    }

    /// `node` is gone: forget every board cached as owned by it.
    pub fn forget_node(&self, node: &str) {
        self.remote_owners.retain(|_, n| **n != *node);
    }

    /// Running boards only (a node answering another node's request must not take over a
    /// board the requester believes is here without the usual claim).
    pub fn running_actor(&self, board_id: Uuid) -> Option<ActorRef<BoardMsg>> {
        self.actors.get(&board_id).map(|a| a.clone())
    }

    /// Sends a message to every running board.
    pub fn broadcast(&self, msg: impl Fn() -> BoardMsg) {
        for a in self.actors.iter() {
            let _ = a.cast(msg());
        }
    }

    /// Another node took the board over (our lease is gone): stop writing it. Its
    /// subscribers are told to resync, as after a failure.
    pub fn lost(&self, board_id: Uuid) {
        if let Some(a) = self.actors.get(&board_id) {
            tracing::warn!(%board_id, "lease lost; stepping down");
            a.stop(Some("lease lost".into()));
            self.tell_resync(
                board_id,
                "the board moved to another node; subscribe again with since",
            );
        }
    }

    /// Ends this node's subscriptions fed by the board (its `board:` topic and its cards'
    /// topics) with a `resync` frame: the clients subscribe again with `since`.
    pub fn tell_resync(&self, board_id: Uuid, reason: &str) {
        let topic = Topic::Board(board_id);
        let frame = ServerFrame::Resync(ResyncFrame {
            topic,
            reason: reason.into(),
        });
        for s in self.deps.hub.subscribers(&topic) {
            self.deps.hub.unsubscribe(&topic, s.conn.id);
            s.conn.send(&frame);
        }
        for (card_topic, subs) in self.deps.hub.fed_by(board_id) {
            let frame = ServerFrame::Resync(ResyncFrame {
                topic: card_topic,
                reason: reason.into(),
            });
            for s in subs {
                self.deps.hub.unsubscribe(&card_topic, s.conn.id);
                s.conn.send(&frame);
            }
        }
    }

    /// The org's actor, started on first use under the root supervisor.
    async fn org(&self, org_id: Uuid) -> Result<ActorRef<OrgMsg>, ErrorReply> {
        if let Some(o) = self.orgs.get(&org_id) {
            return Ok(o.clone());
        }
        let sup = self
            .supervisor
            .get()
            .cloned()
            .ok_or_else(|| Self::unavailable("server starting"))?;
        let me = self.me.get().cloned().unwrap_or_default();
        let (org, _) = Actor::spawn_linked(
            None,
            OrgActor,
            OrgArgs {
                org_id,
                registry: me,
            },
            sup,
        )
        .await
        .map_err(|_| Self::unavailable("the organization cannot be started; retry"))?;
        self.orgs.insert(org_id, org.clone());
        Ok(org)
    }

    /// Tells every running board of `org_id`, through its org actor, that the org's members
    /// or customers changed.
    pub fn directory_changed(&self, org_id: Uuid) {
        if let Some(o) = self.orgs.get(&org_id) {
            let _ = o.cast(OrgMsg::DirectoryChanged);
        }
    }

    /// The org of a board that has been loaded (and not archived since), without a query.
    pub fn org_of(&self, board_id: Uuid) -> Option<Uuid> {
        self.board_orgs.get(&board_id).map(|o| *o)
    }

    /// An archived board stops taking ops: forget it and stop its actor.
    pub fn archived(&self, board_id: Uuid) {
        self.board_orgs.remove(&board_id);
        if let Some(a) = self.actors.get(&board_id) {
            a.stop(Some("archived".into()));
        }
    }

    pub fn running(&self) -> usize {
        self.actors.len()
    }

    /// Stops every board (shutdown): each finishes the message in hand first.
    pub async fn stop_all(&self) {
        let actors: Vec<ActorRef<BoardMsg>> = self.actors.iter().map(|a| a.clone()).collect();
        for a in actors {
            let _ = a
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
                .await;
        }
    }

    fn exited(&self, id: ActorId, failed: Option<String>) {
        let Some((_, board_id)) = self.by_actor.remove(&id) else {
            return;
        };
        self.actors.remove_if(&board_id, |_, a| a.get_id() == id);
        self.inboxes.remove_if(&board_id, |_, (a, _)| *a == id);
        if let Some(why) = failed {
            ::metrics::counter!(metrics::ACTOR_RESTARTS).increment(1);
            tracing::error!(%board_id, reason = %why, "board actor failed; subscribers told to resync");
            self.failures
                .entry(board_id)
                .or_default()
                .push_back(Instant::now());
            self.tell_resync(board_id, "the board restarted; subscribe again with since");
        }
    }
}

/// One per active organization: the supervisor of its boards. It fans org-wide changes
/// (members, customers) out to them and reports their exits to the registry.
pub struct OrgActor;

pub enum OrgMsg {
    BoardStarted(ActorRef<BoardMsg>),
    DirectoryChanged,
}

pub struct OrgArgs {
    org_id: Uuid,
    registry: Weak<BoardRegistry>,
}

pub struct OrgState {
    org_id: Uuid,
    registry: Weak<BoardRegistry>,
    boards: std::collections::HashMap<ActorId, ActorRef<BoardMsg>>,
}

impl Actor for OrgActor {
    type Msg = OrgMsg;
    type State = OrgState;
    type Arguments = OrgArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<OrgMsg>,
        a: OrgArgs,
    ) -> Result<OrgState, ActorProcessingErr> {
        tracing::debug!(org_id = %a.org_id, "org actor started");
        Ok(OrgState {
            org_id: a.org_id,
            registry: a.registry,
            boards: Default::default(),
        })
    }

    async fn handle(
        &self,
        _me: ActorRef<OrgMsg>,
        msg: OrgMsg,
        st: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OrgMsg::BoardStarted(b) => {
                st.boards.insert(b.get_id(), b);
            }
            OrgMsg::DirectoryChanged => {
                for b in st.boards.values() {
                    let _ = b.cast(BoardMsg::DirectoryChanged { org_id: st.org_id });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<OrgMsg>,
        ev: SupervisionEvent,
        st: &mut OrgState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(reg) = st.registry.upgrade() else {
            return Ok(());
        };
        match ev {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                st.boards.remove(&cell.get_id());
                reg.exited(cell.get_id(), None);
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                st.boards.remove(&cell.get_id());
                reg.exited(cell.get_id(), Some(err.to_string()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The root: supervises the org actors.
struct Supervisor;

impl Actor for Supervisor {
    type Msg = ();
    type State = Weak<BoardRegistry>;
    type Arguments = Weak<BoardRegistry>;

    async fn pre_start(
        &self,
        _me: ActorRef<()>,
        reg: Weak<BoardRegistry>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(reg)
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<()>,
        ev: SupervisionEvent,
        reg: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(reg) = reg.upgrade() else {
            return Ok(());
        };
        match ev {
            SupervisionEvent::ActorTerminated(cell, _, _)
            | SupervisionEvent::ActorFailed(cell, _) => {
                // An org actor went away: forget it; the next use of one of its boards starts
                // a fresh one.
                tracing::warn!("org actor stopped");
                reg.orgs.retain(|_, o| o.get_id() != cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}
