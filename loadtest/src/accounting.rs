//! Per-subscriber loss and duplicate accounting by sequence number.
//!
//! A subscriber sees one or more *streams*, each numbered by a sequence that rises by exactly 1
//! per message: a Boardroom board's `seq` (op path), or a publisher's own counter for one board
//! (presence path and the peers, which assign no sequence of their own). For each stream the
//! tracker remembers the last sequence seen and the gaps it has left open:
//!
//! - a sequence above `last + 1` opens a gap (`last + 1 ..= seq - 1`), counted as missing
//!   until it is filled;
//! - a sequence at or below `last` that falls in an open gap fills it (counted as *reordered*,
//!   not missing);
//! - any other sequence at or below `last` is a *duplicate*;
//! - at the end, everything between `last` and the stream's final sequence (the last one the
//!   publisher knows was sent) is missing too (the tail).

use std::collections::HashMap;

/// Gaps and duplicates of one stream, as one subscriber saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stream {
    last: u64,
    /// Open gaps, inclusive ranges, in order.
    gaps: Vec<(u64, u64)>,
}

/// What one subscriber (or many, merged) saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqCounts {
    /// Messages counted as new deliveries (in order, or filling a gap).
    pub delivered: u64,
    /// Sequences never received (gaps left open plus the tail after the last one seen).
    pub missing: u64,
    /// Sequences received more than once.
    pub duplicates: u64,
    /// Sequences that arrived after a later one (and filled a gap).
    pub reordered: u64,
}

impl SeqCounts {
    pub fn add(&mut self, o: &SeqCounts) {
        self.delivered += o.delivered;
        self.missing += o.missing;
        self.duplicates += o.duplicates;
        self.reordered += o.reordered;
    }
}

#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    streams: HashMap<u64, Stream>,
    counts: SeqCounts,
}

/// What `observe` made of one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next one, or a later one (a gap opened before it).
    New,
    /// An earlier one that fills a gap.
    Reordered,
    /// Seen before.
    Duplicate,
}

impl SeqTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream is known to start after `start` (e.g. the `seq` of a subscribe `ok`): the
    /// first message expected is `start + 1`. Streams not declared start after 0.
    pub fn start(&mut self, stream: u64, start: u64) {
        self.streams.insert(
            stream,
            Stream {
                last: start,
                gaps: Vec::new(),
            },
        );
    }

    pub fn observe(&mut self, stream: u64, seq: u64) -> Seen {
        let s = self.streams.entry(stream).or_default();
        if seq > s.last {
            if seq > s.last + 1 {
                s.gaps.push((s.last + 1, seq - 1));
            }
            s.last = seq;
            self.counts.delivered += 1;
            return Seen::New;
        }
        if let Some(i) = s.gaps.iter().position(|&(a, b)| a <= seq && seq <= b) {
            let (a, b) = s.gaps[i];
            match (seq == a, seq == b) {
                (true, true) => {
                    s.gaps.remove(i);
                }
                (true, false) => s.gaps[i].0 = seq + 1,
                (false, true) => s.gaps[i].1 = seq - 1,
                (false, false) => {
                    s.gaps[i].1 = seq - 1;
                    s.gaps.insert(i + 1, (seq + 1, b));
                }
            }
            self.counts.delivered += 1;
            self.counts.reordered += 1;
            return Seen::Reordered;
        }
        self.counts.duplicates += 1;
        Seen::Duplicate
    }

    /// Closes the books: `finals` gives, for every stream this subscriber should have seen,
    /// the last sequence sent on it. Everything not received up to it is missing.
    pub fn finish(&self, finals: impl IntoIterator<Item = (u64, u64)>) -> SeqCounts {
        let mut c = self.counts;
        for (stream, fin) in finals {
            let (last, gaps) = match self.streams.get(&stream) {
                Some(s) => (s.last, s.gaps.as_slice()),
                None => (0, &[][..]),
            };
            c.missing += gaps.iter().map(|&(a, b)| b - a + 1).sum::<u64>();
            c.missing += fin.saturating_sub(last);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker that has observed `seqs`, `(stream, seq)` in this order.
    fn seen(seqs: &[(u64, u64)]) -> SeqTracker {
        let mut t = SeqTracker::new();
        for &(stream, seq) in seqs {
            t.observe(stream, seq);
        }
        t
    }

    #[test]
    fn in_order_has_nothing_missing() {
        let mut t = SeqTracker::new();
        for i in 1..=5 {
            assert_eq!(t.observe(7, i), Seen::New);
        }
        let c = t.finish([(7, 5)]);
        assert_eq!(
            c,
            SeqCounts {
                delivered: 5,
                ..Default::default()
            }
        );
    }

    #[test]
    fn start_after_subscribe_seq() {
        let mut t = SeqTracker::new();
        t.start(1, 41);
        t.observe(1, 42);
        t.observe(1, 43);
        assert_eq!(t.finish([(1, 43)]).missing, 0);
        // Without the start, 1..=41 would have been a gap.
        assert_eq!(seen(&[(1, 42)]).finish([(1, 42)]).missing, 41);
    }

    #[test]
    fn gap_and_tail_are_missing() {
        let t = seen(&[(0, 1), (0, 4), (0, 5)]); // 2, 3 missing
        let c = t.finish([(0, 8)]); // 6, 7, 8 never came
        assert_eq!(c.delivered, 3);
        assert_eq!(c.missing, 5);
        assert_eq!(c.duplicates, 0);
    }

    #[test]
    fn duplicates_are_counted_and_not_delivered_twice() {
        let mut t = seen(&[(0, 1), (0, 2)]);
        assert_eq!(t.observe(0, 2), Seen::Duplicate);
        assert_eq!(t.observe(0, 1), Seen::Duplicate);
        let c = t.finish([(0, 2)]);
        assert_eq!((c.delivered, c.duplicates, c.missing), (2, 2, 0));
    }

    #[test]
    fn late_arrival_fills_its_gap() {
        let mut t = seen(&[(0, 1), (0, 6)]); // gap 2..=5
        assert_eq!(t.observe(0, 3), Seen::Reordered); // gap 2, 4..=5
        assert_eq!(t.observe(0, 2), Seen::Reordered); // gap 4..=5
        assert_eq!(t.observe(0, 5), Seen::Reordered); // gap 4
        assert_eq!(t.observe(0, 3), Seen::Duplicate);
        let c = t.finish([(0, 6)]);
        assert_eq!(
            c,
            SeqCounts {
                delivered: 5,
                missing: 1,
                duplicates: 1,
                reordered: 3
            }
        );
    }

    #[test]
    fn streams_are_independent_and_unseen_streams_count_whole() {
        let t = seen(&[(1, 1), (2, 1), (2, 2)]);
        // Stream 3 was expected (3 messages) and never seen.
        let c = t.finish([(1, 2), (2, 2), (3, 3)]);
        assert_eq!(c.delivered, 3);
        assert_eq!(c.missing, 1 + 3);
    }

    #[test]
    fn counts_merge() {
        let mut a = SeqCounts {
            delivered: 1,
            missing: 2,
            duplicates: 3,
            reordered: 4,
        };
        a.add(&a.clone());
        assert_eq!(a.missing, 4);
        assert_eq!(a.reordered, 8);
    }
}
