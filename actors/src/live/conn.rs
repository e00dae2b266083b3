//! A connection as the rest of the server sees it: an id, its encoding, and a bounded queue of
//! encoded frames that its one task writes to the socket. Producers never wait on a socket:
//! when the queue is full (in frames, or in bytes) the connection is marked for closing with
//! 4009 instead.

mod backlog;

use backlog::Backlog;
pub use backlog::BehindCount;
use boardroom_protocol::{close, Codec, ServerFrame};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

pub type ConnId = u64;

/// Connection ids are unique across the cluster (a board's owner tracks the presence of
/// connections on every node by id): random high bits per process, a counter below.
static NEXT_CONN: LazyLock<AtomicU64> = LazyLock::new(|| {
    let (_, random) = uuid::Uuid::now_v7().as_u64_pair();
    AtomicU64::new((random & 0xFFFF_FFFF) << 32 | 1)
});

/// An encoded frame, shared by every connection of the same encoding that receives it, and
/// written to each socket as it is: axum's messages take `Bytes`, and cloning the `Bytes` out
/// of the `Arc` is a reference count, not a copy. The `Arc` keeps a queue slot one pointer
/// wide: a connection's queue allocates its first block of 32 slots when it is made, so the
/// slot size is paid by every idle connection.
pub type Wire = Arc<bytes::Bytes>;

/// Encoded bytes as a [`Wire`].
pub fn wire(encoded: Vec<u8>) -> Wire {
    Arc::new(bytes::Bytes::from(encoded))
}

pub struct ConnHandle {
    pub id: ConnId,
    pub codec: Codec,
    tx: mpsc::Sender<Wire>,
    close_code: AtomicU16,
    /// The task waiting in [`ConnHandle::closed`] (the connection's one task). A waker slot
    /// rather than a `Notify`: the session polls `closed()` on every wake-up (every frame it
    /// writes), and a `Notify` waiter is linked into and out of a list under a lock each time
    /// (about 3 % of the server's CPU at 100 000 deliveries/s).
    closer: Mutex<Option<Waker>>,
    pub dropped_frames: AtomicU64,
    /// Set only through the debug endpoint: the session fails on its next frame.
    debug_failure: AtomicBool,
    /// Bytes and frames queued and not yet taken by [`ConnRx`]: the byte bound (a frame count
    /// alone lets a few large frames, snapshots, hold hundreds of MB for a client that does not
    /// read) and the behind state boards admit ops by.
    backlog: Arc<Backlog>,
    max_bytes: usize,
}

/// The receiving end of a connection's queue, for its one task: gives the bytes of each frame
/// it takes back to the queue's byte bound.
pub struct ConnRx {
    rx: mpsc::Receiver<Wire>,
    backlog: Arc<Backlog>,
}

impl ConnRx {
    fn took(&self, wire: &Wire) {
        self.backlog.bytes.fetch_sub(wire.len(), Ordering::Relaxed);
        self.backlog.removed();
    }

    pub async fn recv(&mut self) -> Option<Wire> {
        let wire = self.rx.recv().await?;
        self.took(&wire);
        Some(wire)
    }

    pub fn try_recv(&mut self) -> Result<Wire, mpsc::error::TryRecvError> {
        let wire = self.rx.try_recv()?;
        self.took(&wire);
        Ok(wire)
    }
}

impl ConnHandle {
    pub fn new(codec: Codec, queue: usize) -> (Arc<ConnHandle>, mpsc::Receiver<Wire>) {
        Self::with_id(NEXT_CONN.fetch_add(1, Ordering::Relaxed), codec, queue)
    }

    /// A client's connection: at most `frames` frames and `bytes` bytes queued (one frame is
    /// always let into an empty queue, however large, so a big snapshot can still be sent).
    /// With more than `behind` frames queued it counts as behind in the admission of the
    /// boards it is subscribed to.
    pub fn bounded(
        codec: Codec,
        frames: usize,
        bytes: usize,
        behind: usize,
    ) -> (Arc<ConnHandle>, ConnRx) {
        let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let (mut h, rx) = Self::make(id, codec, frames, Backlog::new(behind));
        h.max_bytes = bytes;
        let backlog = h.backlog.clone();
        (Arc::new(h), ConnRx { rx, backlog })
    }

    /// A handle standing in for a connection of another node: what a board actor queues for
    /// it is collected and carried back to that node.
    pub fn with_id(
        id: ConnId,
        codec: Codec,
        queue: usize,
    ) -> (Arc<ConnHandle>, mpsc::Receiver<Wire>) {
        let (h, rx) = Self::make(id, codec, queue, Backlog::new(usize::MAX));
        (Arc::new(h), rx)
    }

    /// Bounded in frames only unless the caller sets more: the receiver is a plain channel
    /// that gives no bytes or frames back (never counted as behind).
    fn make(
        id: ConnId,
        codec: Codec,
        queue: usize,
        backlog: Backlog,
    ) -> (ConnHandle, mpsc::Receiver<Wire>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let h = ConnHandle {
            id,
            codec,
            tx,
            close_code: AtomicU16::new(0),
            closer: Mutex::new(None),
            dropped_frames: AtomicU64::new(0),
            debug_failure: AtomicBool::new(false),
            backlog: Arc::new(backlog),
            max_bytes: usize::MAX,
        };
        (h, rx)
    }

    /// Queues an already-encoded frame. A full queue means the client does not read: close it
    /// with 4009 rather than buffer without bound or slow the sender down.
    pub fn send_wire(&self, wire: Wire) -> bool {
        let len = wire.len();
        let before = if self.max_bytes == usize::MAX {
            0
        } else {
            self.backlog.bytes.fetch_add(len, Ordering::Relaxed)
        };
        self.backlog.added();
        let over_bytes = before > 0 && before.saturating_add(len) > self.max_bytes;
        let sent = if over_bytes {
            Err(mpsc::error::TrySendError::Full(wire))
        } else {
            self.tx.try_send(wire)
        };
        if sent.is_err() {
            if self.max_bytes != usize::MAX {
                self.backlog.bytes.fetch_sub(len, Ordering::Relaxed);
            }
            self.backlog.removed();
        }
        match sent {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped_frames.fetch_add(1, Ordering::Relaxed);
                ::metrics::counter!(super::metrics::SEND_QUEUE_DROPS).increment(1);
                self.close(close::TOO_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Frames queued for the socket and not yet taken by its task (an atomic read).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Counts this connection in `counter` while it is behind, until [`Self::unwatch`]: a
    /// topic's subscription (the hub's admission counters).
    pub fn watch(&self, counter: &BehindCount) {
        self.backlog.watch(counter);
    }

    pub fn unwatch(&self, counter: &BehindCount) {
        self.backlog.unwatch(counter);
    }

    /// Whether the connection has more frames queued than its behind threshold.
    pub fn is_behind(&self) -> bool {
        self.backlog.is_behind()
    }

    pub fn send(&self, frame: &ServerFrame) -> bool {
        self.send_wire(wire(self.codec.encode(frame)))
    }

    /// Asks the connection's task to close the socket with `code` (the first code wins).
    pub fn close(&self, code: u16) {
        if self
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let waiting = match self.closer.lock() {
                Ok(mut w) => w.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            if let Some(w) = waiting {
                w.wake();
            }
        }
    }

    pub fn close_requested(&self) -> Option<u16> {
        match self.close_code.load(Ordering::Acquire) {
            0 => None,
            c => Some(c),
        }
    }

    /// Debug endpoint only: makes the connection's session fail (panic) on its next frame, to
    /// exercise how a session that breaks is closed (1011) and cleaned up.
    pub fn fail_on_next_frame(&self) {
        self.debug_failure.store(true, Ordering::Release);
    }

    pub fn take_debug_failure(&self) -> bool {
        self.debug_failure.swap(false, Ordering::AcqRel)
    }

    /// Resolves with the close code once [`ConnHandle::close`] was called. Meant for the
    /// connection's one task: a second task waiting at the same time may not be woken.
    pub fn closed(&self) -> Closed<'_> {
        Closed { conn: self }
    }
}

/// The future of [`ConnHandle::closed`].
pub struct Closed<'a> {
    conn: &'a ConnHandle,
}

impl Future for Closed<'_> {
    type Output = u16;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u16> {
        if let Some(c) = self.conn.close_requested() {
            return Poll::Ready(c);
        }
        {
            let mut slot = match self.conn.closer.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        // A close between the first check and the registration found no waker to wake.
        match self.conn.close_requested() {
            Some(c) => Poll::Ready(c),
            None => Poll::Pending,
        }
    }
}
