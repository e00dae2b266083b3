//! Which refresh-token families (logins) are revoked, as a node last learned it. An access
//! token carries its family (`fam`), so logging out or a detected refresh-token reuse ends
//! the tokens already handed out, not only the refresh token.
//!
//! The store is the truth; this cache keeps the hot path (every request, every `hello`) from
//! asking it each time. A family revoked on this node, or reported by the cluster broker, is
//! known at once; a "not revoked" answer from the store is trusted for `max_age` only, which
//! bounds how late a node sees a revocation whose broker message it missed.

use dashmap::DashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy)]
enum Known {
    /// The store said "not revoked" at this time.
    Live(Instant),
    /// Revoked (learned at this time). Kept until no access token of the family can still be
    /// valid; revocation is final, so it never needs asking again.
    Revoked(Instant),
}

#[derive(Default)]
pub struct RevokedFamilies {
    known: DashMap<Uuid, Known>,
}

impl RevokedFamilies {
    /// `Some(revoked)` when known well enough not to ask the store; `None` to ask.
    pub fn lookup(&self, family: Uuid, max_age: Duration) -> Option<bool> {
        match *self.known.get(&family)? {
            Known::Revoked(_) => Some(true),
            Known::Live(at) if at.elapsed() < max_age => Some(false),
            Known::Live(_) => None,
        }
    }

    /// Records the store's answer. A revocation learned meanwhile (the store was asked before
    /// it happened) wins over a "not revoked" that arrives after it.
    pub fn record(&self, family: Uuid, revoked: bool) {
        let now = Instant::now();
        if revoked {
            self.known.insert(family, Known::Revoked(now));
            return;
        }
        self.known
            .entry(family)
            .and_modify(|k| {
                if let Known::Live(at) = k {
                    *at = now;
                }
            })
            .or_insert(Known::Live(now));
    }

    /// A revocation made on this node, or announced by another.
    pub fn revoke(&self, family: Uuid) {
        self.record(family, true);
    }

    /// Forgets answers too old to use: "not revoked" older than `max_age`, revocations older
    /// than an access token lives (`token_ttl`), so memory stays bounded by recent logins.
    pub fn prune(&self, max_age: Duration, token_ttl: Duration) {
        self.known.retain(|_, k| match *k {
            Known::Live(at) => at.elapsed() < max_age,
            Known::Revoked(at) => at.elapsed() < token_ttl,
        });
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_wins_and_live_answers_expire() {
        let c = RevokedFamilies::default();
        let f = Uuid::now_v7();
        let age = Duration::from_secs(60);
        assert_eq!(c.lookup(f, age), None);
        c.record(f, false);
        assert_eq!(c.lookup(f, age), Some(false));
        assert_eq!(c.lookup(f, Duration::ZERO), None, "too old: ask again");
        c.revoke(f);
        // A stale "not revoked" from a lookup that started earlier does not undo it.
        c.record(f, false);
        assert_eq!(c.lookup(f, age), Some(true));
        c.prune(Duration::ZERO, Duration::from_secs(60));
        assert_eq!(c.lookup(f, age), Some(true), "kept while tokens may live");
        c.prune(Duration::ZERO, Duration::ZERO);
        assert!(c.is_empty());
    }
}
