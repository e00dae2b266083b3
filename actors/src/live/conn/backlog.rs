//! What a connection's queue holds, shared by its producers ([`super::ConnHandle`]) and its
//! one consumer ([`super::ConnRx`]), and whether it is *behind*: more frames waiting than a
//! board's admission threshold.
//!
//! A board refuses new ops while most of its subscribers are behind. Rather than walk the
//! subscribers to find out, each topic keeps a counter of its behind subscribers
//! ([`BehindCount`]), and a connection updates the counters of the topics it is subscribed to
//! only when its queue crosses the threshold (up on an enqueue, down on a take): the
//! admission check is one atomic read, and a frame that does not cross costs one atomic add.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many subscribers of one topic are behind (shared by the topic and its connections).
pub type BehindCount = Arc<AtomicUsize>;

/// A queue's contents and its behind state.
pub(super) struct Backlog {
    /// Bytes queued and not yet taken (the queue's byte bound).
    pub(super) bytes: AtomicUsize,
    /// Frames queued and not yet taken, counted only when `threshold` is set.
    frames: AtomicUsize,
    /// Behind = more than this many frames queued; `usize::MAX` = not watched (a handle whose
    /// receiver is a plain channel, which gives no frames back).
    threshold: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Whether the counters below count this connection.
    over: bool,
    /// The counters of the topics this connection is subscribed to (usually one).
    counters: Vec<BehindCount>,
}

impl Backlog {
    pub(super) fn new(threshold: usize) -> Self {
        Backlog {
            bytes: AtomicUsize::new(0),
            frames: AtomicUsize::new(0),
            threshold,
            state: Mutex::new(State::default()),
        }
    }

    fn watched(&self) -> bool {
        self.threshold != usize::MAX
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A frame is about to be queued (called before the send, so that the consumer can never
    /// take a frame that was not counted yet).
    pub(super) fn added(&self) {
        if self.watched() && self.frames.fetch_add(1, Ordering::AcqRel) == self.threshold {
            self.settle();
        }
    }

    /// A frame was taken from the queue, or a counted one could not be queued after all.
    pub(super) fn removed(&self) {
        if self.watched() && self.frames.fetch_sub(1, Ordering::AcqRel) == self.threshold + 1 {
            self.settle();
        }
    }

    /// Brings the counters in line with the queue after a crossing. Concurrent crossings may
    /// settle in any order: each reads the count under the lock, so the last one to settle
    /// after the last crossing leaves the state the count says.
    fn settle(&self) {
        let mut st = self.state();
        self.settle_locked(&mut st);
    }

    fn settle_locked(&self, st: &mut State) {
        let over = self.frames.load(Ordering::Acquire) > self.threshold;
        if over != st.over {
            st.over = over;
            for c in &st.counters {
                if over {
                    c.fetch_add(1, Ordering::AcqRel);
                } else {
                    c.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Counts this connection in `counter` while it is behind (from now until [`Self::unwatch`]).
    pub(super) fn watch(&self, counter: &BehindCount) {
        if !self.watched() {
            return;
        }
        let mut st = self.state();
        self.settle_locked(&mut st);
        if st.over {
            counter.fetch_add(1, Ordering::AcqRel);
        }
        st.counters.push(counter.clone());
    }

    /// Stops counting this connection in `counter`.
    pub(super) fn unwatch(&self, counter: &BehindCount) {
        if !self.watched() {
            return;
        }
        let mut st = self.state();
        if let Some(at) = st.counters.iter().position(|c| Arc::ptr_eq(c, counter)) {
            st.counters.swap_remove(at);
            if st.over {
                counter.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Whether this connection is counted as behind now.
    pub(super) fn is_behind(&self) -> bool {
        self.watched() && self.frames.load(Ordering::Acquire) > self.threshold
    }
}
