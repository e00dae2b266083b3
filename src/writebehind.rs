//! The write-behind journal: board actors hand it the outcome of each applied op; one flusher
//! task drains it in group commits (one transaction for many ops of many boards) and reports
//! each entry's fate back, which is the commit watermark that releases events and acks.
//!
//! The group commit can be pipelined: up to `pipeline` batches in flight at once, each on its
//! own connection, so that the ops arriving while one commit waits for its fsync need not wait
//! for it to finish before their own commit starts. A batch closes when the pipeline has room
//! (a previous commit finished) or when it is full (`max_batch`), never on a timer. More than
//! one batch is in flight only when the journal is saturated, one per lane of boards (see
//! `Gatherer`): that raised saturated Postgres throughput by a fifth, where two batches of any
//! boards had lowered it and two commits at moderate load had raised the p99 (BENCHMARKS.md).
//!
//! Ordering: a board is in at most one batch in flight. An entry of a board whose earlier
//! entries are still being committed waits (held, in order) until that commit has ended, so a
//! board's batches commit one after the other in journal order, its rows are written in op
//! order, and the per-board commit watermark the board actor keeps only ever advances over a
//! contiguous prefix of its ops. Batches in flight at the same time touch disjoint boards, and
//! therefore disjoint rows (events, applied ops, cards, columns and notifications all belong to
//! one board), so the order in which *they* commit does not matter. A failed commit (retried,
//! then split) keeps its boards held until it is settled either way; other boards go on.
//!
//! The journal is bounded. When the database is slow or down the flusher retries with backoff,
//! the journal fills up, and `submit` says `Full`, which the gateway turns into `unavailable`
//! with `retry_after_ms`: back-pressure instead of unbounded memory, and nothing accepted is
//! ever dropped. Once commits have been failing for [`STORE_DOWN_AFTER`] (the database is
//! unreachable, not merely slow), new ops are refused the same way at once, instead of
//! waiting unanswered in the journal for as long as the outage lasts (found by the fault
//! suite, `tests/faults/d_postgres_cut.rs`).

use crate::realtime::convert;
use crate::store::{BoardCommit, DynStore, StoreError};
use boardroom_actors::live::ports;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use boardroom_actors::live::ports::{CommitNotice, CommitOutcome, SubmitError};

struct Entry {
    commit: BoardCommit,
    done: CommitNotice,
    /// When the op entered the journal (right after its board applied it): the start of its
    /// time to durable.
    queued: Instant,
}

/// Counters the metrics endpoint reads.
#[derive(Default)]
pub struct JournalStats {
    pub batches: std::sync::atomic::AtomicU64,
    pub entries: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    pub last_batch_size: std::sync::atomic::AtomicU64,
    pub last_commit_micros: std::sync::atomic::AtomicU64,
    /// When the commit being retried first failed (ms since the Unix epoch), 0 while commits
    /// succeed.
    pub failing_since_ms: std::sync::atomic::AtomicU64,
    /// Batches started while another was still committing (the pipeline at work).
    pub overlapped: std::sync::atomic::AtomicU64,
    /// Most batches seen in flight at once.
    pub max_in_flight: std::sync::atomic::AtomicU64,
}

/// How long commits must have been failing before new ops are refused: longer than a blip
/// (a deadlock retried, a connection replaced), short against a client's patience.
pub const STORE_DOWN_AFTER: Duration = Duration::from_millis(500);

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl JournalStats {
    /// Commits have been failing for at least [`STORE_DOWN_AFTER`].
    pub fn store_down(&self) -> bool {
        let since = self
            .failing_since_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        since != 0 && unix_ms().saturating_sub(since) >= STORE_DOWN_AFTER.as_millis() as u64
    }
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Entry>,
    capacity: usize,
    pub stats: Arc<JournalStats>,
    closing: Arc<tokio::sync::Notify>,
}

impl Journal {
    /// Starts the flusher with one batch in flight at a time (see `start_pipelined`).
    pub fn start(store: DynStore, capacity: usize, max_batch: usize) -> (Journal, JoinHandle<()>) {
        Self::start_pipelined(store, capacity, max_batch, 1)
    }

    /// Starts the flusher. It runs until `close` is called (or every `Journal` clone is
    /// dropped), then commits what is left and ends: awaiting its `JoinHandle` is a full flush.
    /// `pipeline` is the most batches committed at once (1 = one after the other).
    pub fn start_pipelined(
        store: DynStore,
        capacity: usize,
        max_batch: usize,
        pipeline: usize,
    ) -> (Journal, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(JournalStats::default());
        let closing = Arc::new(tokio::sync::Notify::new());
        let handle = tokio::spawn(flusher(
            store,
            rx,
            max_batch.max(1),
            pipeline.max(1),
            stats.clone(),
            closing.clone(),
        ));
        (
            Journal {
                tx,
                capacity: capacity.max(1),
                stats,
                closing,
            },
            handle,
        )
    }

    /// Refuses new entries and lets the flusher end once everything accepted is committed
    /// (await its `JoinHandle` for that).
    pub fn close(&self) {
        self.closing.notify_one();
    }

    pub fn submit(
        &self,
        commit: BoardCommit,
    ) -> Result<oneshot::Receiver<CommitOutcome>, SubmitError> {
        if self.stats.store_down() {
            return Err(SubmitError::Full);
        }
        let (done, rx) = CommitNotice::channel();
        self.tx
            .try_send(Entry {
                commit,
                done,
                queued: Instant::now(),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })?;
        Ok(rx)
    }

    /// Reserves a place in the journal before an op is applied, so that an op is only ever
    /// applied in memory when its write is sure to be accepted.
    pub fn try_reserve(&self) -> Result<JournalPermit, SubmitError> {
        if self.stats.store_down() {
            return Err(SubmitError::Full);
        }
        self.tx
            .clone()
            .try_reserve_owned()
            .map(JournalPermit)
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })
    }

    /// Entries waiting in the journal's queue (not counting the at most `max_batch` per lane
    /// the flusher holds back because their board's previous batch is still committing).
    pub fn depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

/// A reserved place in the journal.
pub struct JournalPermit(mpsc::OwnedPermit<Entry>);

impl JournalPermit {
    pub fn send(self, commit: BoardCommit, done: CommitNotice) {
        self.0.send(Entry {
            commit,
            done,
            queued: Instant::now(),
        });
    }
}

/// The board actors' side: an applied op's entry, turned into the store's rows here.
impl ports::Journal for Journal {
    fn try_reserve(&self) -> Result<Box<dyn ports::JournalSlot>, SubmitError> {
        Journal::try_reserve(self).map(|p| Box::new(p) as Box<dyn ports::JournalSlot>)
    }
}

impl ports::JournalSlot for JournalPermit {
    fn send(self: Box<Self>, entry: ports::JournalEntry, done: CommitNotice) {
        JournalPermit::send(*self, convert::board_commit(entry), done)
    }
}

/// Errors worth retrying: the database is unreachable, restarting, overloaded or busy.
fn transient(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(d)) => {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            // Postgres: connection (08), resources (53), operator intervention (57),
            // serialization/deadlock (40), a session ended for idling in its transaction
            // (25P03: this process was stopped mid-commit). SQLite: BUSY (5) and LOCKED (6).
            ["08", "53", "57", "40"].iter().any(|p| code.starts_with(p))
                || code == "25P03"
                || code == "5"
                || code == "6"
        }
        StoreError::Database(_) => true,
        StoreError::Conflict(_)
        | StoreError::InvalidReference(_)
        | StoreError::Corrupt(_)
        | StoreError::Migrate(_) => false,
    }
}

/// Entries the flusher has taken from the queue but not yet put in a batch, because a batch of
/// their board is still in flight (or the batch filled up). Kept in journal order.
///
/// With more than one batch in flight, each board belongs to one *lane* (its id modulo the
/// pipeline) and a lane has at most one batch in flight. Lanes are what keep batches full at
/// saturation: a batch may only take boards that are not busy, and without lanes the first
/// batch takes every active board, so the next one finds almost nothing to take (measured:
/// 512-op batches shrank to 160-185 ops, BENCHMARKS.md "Pipelined group commit"). With lanes
/// each batch in flight holds about 1/pipeline of the boards and up to `max_batch` of their
/// ops. A lane whose commit is failing (retried) lends its boards' new entries to the other
/// lanes, so a failing board holds back itself and its batch, not a fixed share of the boards.
struct Gatherer {
    held: VecDeque<Entry>,
    /// Boards with a batch in flight.
    busy: HashSet<Uuid>,
    max_batch: usize,
    /// Per lane: its batch's commit is failing and being retried.
    failing: Arc<[std::sync::atomic::AtomicBool]>,
}

fn lane_of(board: Uuid, lanes: usize) -> usize {
    (board.as_u128() % lanes.max(1) as u128) as usize
}

impl Gatherer {
    fn lanes(&self) -> usize {
        self.failing.len()
    }

    /// An entry joins the batch unless its board is busy, belongs to another lane than
    /// `lane` (when batches go by lane, and that lane is not failing), or an earlier entry of
    /// its board was held back in this pass (which keeps every board's entries in order).
    fn place(
        &mut self,
        e: Entry,
        lane: Option<usize>,
        batch: &mut Vec<Entry>,
        blocked: &mut HashSet<Uuid>,
    ) {
        let board = e.commit.board_id;
        let lane_ok = lane.is_none_or(|lane| {
            let own = lane_of(board, self.lanes());
            own == lane || self.failing[own].load(std::sync::atomic::Ordering::Relaxed)
        });
        if lane_ok
            && batch.len() < self.max_batch
            && !self.busy.contains(&board)
            && !blocked.contains(&board)
        {
            batch.push(e);
        } else {
            blocked.insert(board);
            self.held.push_back(e);
        }
    }

    /// The next batch (of `lane`'s boards only, when given): held entries first, then what
    /// waits in the queue, up to `max_batch`. Reads the queue only while fewer than
    /// `max_batch` entries per lane are held, so the memory outside the bounded queue stays
    /// bounded too.
    fn gather(&mut self, rx: &mut mpsc::Receiver<Entry>, lane: Option<usize>) -> Vec<Entry> {
        let mut batch = Vec::new();
        let mut blocked = HashSet::new();
        let held = std::mem::take(&mut self.held);
        for e in held {
            self.place(e, lane, &mut batch, &mut blocked);
        }
        while batch.len() < self.max_batch && self.held.len() < self.held_bound() {
            match rx.try_recv() {
                Ok(e) => self.place(e, lane, &mut batch, &mut blocked),
                Err(_) => break,
            }
        }
        batch
    }

    fn held_bound(&self) -> usize {
        self.max_batch * self.lanes()
    }
}

async fn flusher(
    store: DynStore,
    mut rx: mpsc::Receiver<Entry>,
    max_batch: usize,
    pipeline: usize,
    stats: Arc<JournalStats>,
    closing: Arc<tokio::sync::Notify>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let failing: Arc<[std::sync::atomic::AtomicBool]> = (0..pipeline)
        .map(|_| std::sync::atomic::AtomicBool::new(false))
        .collect();
    let mut g = Gatherer {
        held: VecDeque::new(),
        busy: HashSet::new(),
        max_batch,
        failing: failing.clone(),
    };
    let mut lane_busy = vec![false; pipeline];
    let mut in_flight = FuturesUnordered::new();
    let mut closed = false;
    let mut drained = false;
    tracing::info!(
        pipeline,
        max_batch,
        "write-behind journal pipelining group commits"
    );
    loop {
        // Start a batch in every idle lane that has something to commit: a batch is whatever
        // queued meanwhile. Below saturation one batch at a time, of any boards: two commits
        // in flight compete for the same WAL flush, and at 10 000 ops/s that doubled the p99
        // while adding no throughput (BENCHMARKS.md, issue 12, "Lanes").
        // A failing (retried) commit must not hold up the other boards either.
        let by_lane = pipeline > 1
            && (g.held.len() + rx.len() >= saturated_backlog(max_batch)
                || failing.iter().any(|f| f.load(Relaxed)));
        for (lane, busy) in lane_busy.iter_mut().enumerate() {
            if *busy {
                continue;
            }
            if !by_lane && !in_flight.is_empty() {
                break;
            }
            let batch = g.gather(&mut rx, by_lane.then_some(lane));
            if batch.is_empty() {
                continue;
            }
            if !in_flight.is_empty() {
                stats.overlapped.fetch_add(1, Relaxed);
            }
            *busy = true;
            g.busy.extend(batch.iter().map(|e| e.commit.board_id));
            in_flight.push(commit_entries(
                store.clone(),
                batch,
                stats.clone(),
                lane,
                failing.clone(),
            ));
            stats
                .max_in_flight
                .fetch_max(in_flight.len() as u64, Relaxed);
        }
        if drained && in_flight.is_empty() && g.held.is_empty() {
            break;
        }
        let room = in_flight.len() < pipeline && g.held.len() < g.held_bound();
        tokio::select! {
            Some((lane, boards)) = in_flight.next(), if !in_flight.is_empty() => {
                // Its outcomes are out: its boards' next entries may go.
                lane_busy[lane] = false;
                for b in boards {
                    g.busy.remove(&b);
                }
            }
            e = rx.recv(), if room && !drained => match e {
                Some(e) => g.held.push_back(e),
                None => drained = true,
            },
            _ = closing.notified(), if !closed => {
                // No new entries from here on; what is queued is still committed.
                rx.close();
                closed = true;
            }
        }
    }
    tracing::info!("write-behind journal flushed and closed");
}

/// How many waiting entries mean the journal is saturated, so that more than one batch in
/// flight pays: a quarter of a full batch (at 10 000 ops/s on Postgres 11-16 wait per commit).
fn saturated_backlog(max_batch: usize) -> usize {
    (max_batch / 4).max(2)
}

/// Commits one batch (retrying as long as it takes), answers its entries, and gives back the
/// boards it held.
async fn commit_entries(
    store: DynStore,
    entries: Vec<Entry>,
    stats: Arc<JournalStats>,
    lane: usize,
    failing: Arc<[std::sync::atomic::AtomicBool]>,
) -> (usize, HashSet<Uuid>) {
    use std::sync::atomic::Ordering::Relaxed;
    // The commits move out of the entries into the statements' input: nothing copied.
    let mut commits: Vec<BoardCommit> = Vec::with_capacity(entries.len());
    let mut waiting: Vec<(CommitNotice, Instant)> = Vec::with_capacity(entries.len());
    for e in entries {
        commits.push(e.commit);
        waiting.push((e.done, e.queued));
    }
    let started = Instant::now();
    let outcomes = commit_with_retry(&store, &commits, &stats, &failing[lane]).await;
    failing[lane].store(false, Relaxed);
    let took = started.elapsed();
    let n = waiting.len();
    stats.batches.fetch_add(1, Relaxed);
    stats.entries.fetch_add(n as u64, Relaxed);
    stats.last_batch_size.store(n as u64, Relaxed);
    stats
        .last_commit_micros
        .store(took.as_micros() as u64, Relaxed);
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::histogram!(crate::metrics::COMMIT_BATCH_SIZE).record(n as f64);
    let durable = metrics::histogram!(crate::metrics::TIME_TO_DURABLE_SECONDS);
    let now = Instant::now();
    for ((done, queued), outcome) in waiting.into_iter().zip(outcomes) {
        if outcome == CommitOutcome::Committed {
            durable.record(now.duration_since(queued).as_secs_f64());
        }
        // The sender may have gone (actor stopped); the data is durable either way.
        done.tell(outcome);
    }
    // The batch is freed only now, after the answers: they need not wait for it.
    (lane, commits.into_iter().map(|c| c.board_id).collect())
}

/// Commits the batch, retrying transient failures with backoff for as long as it takes. A
/// batch the database refuses for good is split, so one bad entry cannot block the others.
async fn commit_with_retry(
    store: &DynStore,
    commits: &[BoardCommit],
    stats: &JournalStats,
    failing: &std::sync::atomic::AtomicBool,
) -> Vec<CommitOutcome> {
    match commit_retrying(store, commits, stats, failing).await {
        Ok(fenced) => outcomes_for(commits, &fenced),
        Err(e) if commits.len() == 1 => {
            tracing::error!(error = %e, board_id = %commits[0].board_id, "commit refused by the database");
            vec![CommitOutcome::Rejected(e.to_string())]
        }
        Err(e) => {
            tracing::warn!(error = %e, size = commits.len(), "batch refused; committing its entries one by one");
            let mut out = Vec::with_capacity(commits.len());
            for c in commits {
                let one = std::slice::from_ref(c);
                out.push(match commit_retrying(store, one, stats, failing).await {
                    Ok(fenced) => outcomes_for(one, &fenced).remove(0),
                    Err(e) => {
                        tracing::error!(error = %e, board_id = %c.board_id, "commit refused by the database");
                        CommitOutcome::Rejected(e.to_string())
                    }
                });
            }
            out
        }
    }
}

async fn commit_retrying(
    store: &DynStore,
    commits: &[BoardCommit],
    stats: &JournalStats,
    failing: &std::sync::atomic::AtomicBool,
) -> Result<Vec<Uuid>, StoreError> {
    let mut backoff = Duration::from_millis(10);
    loop {
        match store.commit_batch(commits).await {
            Ok(fenced) => {
                stats
                    .failing_since_ms
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                return Ok(fenced);
            }
            Err(e) if transient(&e) => {
                use std::sync::atomic::Ordering::Relaxed;
                let _ =
                    stats
                        .failing_since_ms
                        .compare_exchange(0, unix_ms().max(1), Relaxed, Relaxed);
                stats.retries.fetch_add(1, Relaxed);
                // Its lane's boards' later entries may go in another lane meanwhile.
                failing.store(true, Relaxed);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "group commit failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                // The database answered (with a refusal of this batch): it is reachable.
                stats
                    .failing_since_ms
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        }
    }
}

fn outcomes_for(commits: &[BoardCommit], fenced: &[Uuid]) -> Vec<CommitOutcome> {
    let fenced: HashSet<Uuid> = fenced.iter().copied().collect();
    commits
        .iter()
        .map(|c| {
            if fenced.contains(&c.board_id) {
                CommitOutcome::Fenced
            } else {
                CommitOutcome::Committed
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    fn entry(board: Uuid) -> Entry {
        let (done, _) = CommitNotice::channel();
        Entry {
            commit: BoardCommit {
                org_id: Uuid::nil(),
                board_id: board,
                epoch: 1,
                events: Vec::new(),
                ops: Vec::new(),
                changes: Vec::new(),
                notifications: Vec::new(),
            },
            done,
            queued: Instant::now(),
        }
    }

    fn b(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A journal queue holding one entry per board number, in order, and a gatherer of two
    /// lanes over it: with two lanes, even boards are lane 0 and odd ones lane 1.
    fn setup(order: &[u128], max_batch: usize) -> (mpsc::Receiver<Entry>, Gatherer) {
        let (tx, rx) = mpsc::channel(1000);
        for n in order {
            tx.try_send(entry(b(*n))).unwrap();
        }
        let g = Gatherer {
            held: VecDeque::new(),
            busy: HashSet::new(),
            max_batch,
            failing: (0..2).map(|_| AtomicBool::new(false)).collect(),
        };
        (rx, g)
    }

    fn ids<'a>(batch: impl IntoIterator<Item = &'a Entry>) -> Vec<u128> {
        batch
            .into_iter()
            .map(|e| e.commit.board_id.as_u128())
            .collect()
    }

    #[test]
    fn by_lane_each_batch_takes_its_lanes_boards_in_order() {
        let (mut rx, mut g) = setup(&[0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 100);
        let first = g.gather(&mut rx, Some(0));
        assert_eq!(ids(&first), vec![0, 2, 0, 2, 0, 2]);
        g.busy.extend(first.iter().map(|e| e.commit.board_id));
        assert_eq!(ids(&g.gather(&mut rx, Some(1))), vec![1, 3, 1, 3, 1, 3]);
        assert!(g.held.is_empty());
    }

    #[test]
    fn without_lanes_a_batch_takes_any_board_that_is_not_busy() {
        let (mut rx, mut g) = setup(&[0, 1, 2, 3], 100);
        g.busy.insert(b(1));
        assert_eq!(ids(&g.gather(&mut rx, None)), vec![0, 2, 3]);
        assert_eq!(ids(&g.held), vec![1]);
    }

    #[test]
    fn a_busy_board_keeps_its_later_entries_behind_its_first_held_one() {
        let (mut rx, mut g) = setup(&[0, 0, 1, 0], 100);
        g.busy.insert(b(0));
        assert!(g.gather(&mut rx, Some(0)).is_empty());
        assert_eq!(ids(&g.held), vec![0, 0, 1, 0]);
        g.busy.remove(&b(0));
        assert_eq!(ids(&g.gather(&mut rx, Some(0))), vec![0, 0, 0]);
        assert_eq!(ids(&g.gather(&mut rx, Some(1))), vec![1]);
    }

    #[test]
    fn a_failing_lane_lends_its_idle_boards_to_the_other_lane() {
        let (mut rx, mut g) = setup(&[0, 1, 2, 3], 100);
        // Lane 0's batch (board 0) is being retried.
        g.busy.insert(b(0));
        g.failing[0].store(true, Relaxed);
        assert_eq!(ids(&g.gather(&mut rx, Some(1))), vec![1, 2, 3]);
        assert_eq!(ids(&g.held), vec![0]);
    }

    #[test]
    fn a_batch_stops_at_max_batch_and_reading_stops_at_the_held_bound() {
        let (mut rx, mut g) = setup(&[0, 1].repeat(10), 3);
        let batch = g.gather(&mut rx, Some(0));
        assert_eq!(ids(&batch), vec![0, 0, 0]);
        // Held: what was read past the batch, at most max_batch per lane.
        assert!(g.held.len() <= g.held_bound(), "{}", g.held.len());
        assert_eq!(g.held.len() + rx.len() + batch.len(), 20);
    }
}
