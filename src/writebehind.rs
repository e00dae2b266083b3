//! The write-behind journal: board actors hand it the outcome of each applied op; one flusher
//! task drains it in group commits (one transaction for many ops of many boards) and reports
//! each entry's fate back, which is the commit watermark that releases events and acks.
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
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use boardroom_actors::live::ports::{CommitOutcome, SubmitError};

struct Entry {
    commit: BoardCommit,
    done: oneshot::Sender<CommitOutcome>,
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
    /// Starts the flusher. It runs until `close` is called (or every `Journal` clone is
    /// dropped), then commits what is left and ends: awaiting its `JoinHandle` is a full flush.
    pub fn start(store: DynStore, capacity: usize, max_batch: usize) -> (Journal, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(JournalStats::default());
        let closing = Arc::new(tokio::sync::Notify::new());
        let handle = tokio::spawn(flusher(
            store,
            rx,
            max_batch.max(1),
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
        let (done, rx) = oneshot::channel();
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

    /// Entries waiting for the flusher.
    pub fn depth(&self) -> usize {
        self.capacity - self.tx.capacity()
    }
}

/// A reserved place in the journal.
pub struct JournalPermit(mpsc::OwnedPermit<Entry>);

impl JournalPermit {
    pub fn send(self, commit: BoardCommit) -> oneshot::Receiver<CommitOutcome> {
        let (done, rx) = oneshot::channel();
        self.0.send(Entry {
            commit,
            done,
            queued: Instant::now(),
        });
        rx
    }
}

/// The board actors' side: an applied op's entry, turned into the store's rows here.
impl ports::Journal for Journal {
    fn try_reserve(&self) -> Result<Box<dyn ports::JournalSlot>, SubmitError> {
        Journal::try_reserve(self).map(|p| Box::new(p) as Box<dyn ports::JournalSlot>)
    }
}

impl ports::JournalSlot for JournalPermit {
    fn send(self: Box<Self>, entry: ports::JournalEntry) -> oneshot::Receiver<CommitOutcome> {
        JournalPermit::send(*self, convert::board_commit(entry))
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

async fn flusher(
    store: DynStore,
    mut rx: mpsc::Receiver<Entry>,
    max_batch: usize,
    stats: Arc<JournalStats>,
    closing: Arc<tokio::sync::Notify>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut closed = false;
    loop {
        let first = if closed {
            rx.recv().await
        } else {
            tokio::select! {
                e = rx.recv() => e,
                _ = closing.notified() => {
                    // No new entries from here on; what is queued is still committed.
                    rx.close();
                    closed = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        // The batch is whatever queued while the previous commit ran (up to `max_batch`):
        // it closes when that commit finishes, never on a timer, so a lone op at low load is
        // committed at once and a burst under load shares one transaction.
        let mut entries = vec![first];
        while entries.len() < max_batch {
            match rx.try_recv() {
                Ok(e) => entries.push(e),
                Err(_) => break,
            }
        }
        // The commits move out of the entries into the statements' input: nothing copied.
        let mut commits: Vec<BoardCommit> = Vec::with_capacity(entries.len());
        let mut waiting: Vec<(oneshot::Sender<CommitOutcome>, Instant)> =
            Vec::with_capacity(entries.len());
        for e in entries {
            commits.push(e.commit);
            waiting.push((e.done, e.queued));
        }
        let started = Instant::now();
        let outcomes = commit_with_retry(&store, &commits, &stats).await;
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
            let _ = done.send(outcome);
        }
        // The batch is freed only now, after the answers: they need not wait for it.
        drop(commits);
    }
    tracing::info!("write-behind journal flushed and closed");
}

/// Commits the batch, retrying transient failures with backoff for as long as it takes. A
/// batch the database refuses for good is split, so one bad entry cannot block the others.
async fn commit_with_retry(
    store: &DynStore,
    commits: &[BoardCommit],
    stats: &JournalStats,
) -> Vec<CommitOutcome> {
    match commit_retrying(store, commits, stats).await {
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
                out.push(match commit_retrying(store, one, stats).await {
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
