//! Rate limits kept with governor's keyed token buckets:
//!
//! - Login throttling: a bucket per account and per client IP, so neither guessing one
//!   password from many addresses nor many passwords from one address gets far.
//! - HTTP ops: a bucket per credential (API key, or user), because `POST /boards/{id}/ops`
//!   has no connection to hang a limit on; without it, a bot could bypass the per-connection
//!   WebSocket limit by switching to HTTP.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use uuid::Uuid;

pub struct LoginLimiter {
    per_account: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl LoginLimiter {
    pub fn new(per_account_per_minute: u32, per_ip_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt for this account and address; `Err(wait)` when either is exhausted.
    pub fn check(&self, email: &str, ip: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Err(not_until) = self.per_ip.check_key(&ip) {
            return Err(not_until.wait_time_from(now));
        }
        if let Err(not_until) = self.per_account.check_key(&email.to_lowercase()) {
            return Err(not_until.wait_time_from(now));
        }
        Ok(())
    }

    /// Drops idle keys so that a flood of made-up emails cannot grow memory without bound.
    pub fn prune(&self) {
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

/// Whose budget an HTTP op spends: one bucket per API key, one per user. A user's access
/// tokens share the bucket, so logging in again does not buy a fresh budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKey {
    ApiKey(Uuid),
    User(Uuid),
}

/// `POST /api/v1/boards/{id}/ops` per credential: `per_second` sustained, `burst` at once.
pub struct OpLimiter {
    per_credential: DefaultKeyedRateLimiter<CredentialKey>,
    clock: DefaultClock,
}

impl OpLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        OpLimiter {
            per_credential: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one op from the credential's budget; `Err(wait)` when it is spent, with how long
    /// until the next op would be let through.
    pub fn check(&self, key: CredentialKey) -> Result<(), Duration> {
        self.per_credential
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of credentials that have been quiet long enough to be full again.
    pub fn prune(&self) {
        self.per_credential.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_buckets_are_per_credential() {
        let l = OpLimiter::new(1, 2);
        let a = CredentialKey::ApiKey(Uuid::now_v7());
        let b = CredentialKey::ApiKey(Uuid::now_v7());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        let wait = l.check(a).expect_err("the burst is spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(l.check(b).is_ok(), "another key has its own budget");
        // A user and an API key with the same id (impossible with UUIDv7, but) never share.
        if let CredentialKey::ApiKey(id) = a {
            assert!(l.check(CredentialKey::User(id)).is_ok());
        }
    }

    #[test]
    fn account_and_ip_buckets_are_separate() {
        let l = LoginLimiter::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check("x@y", a).is_ok());
        assert!(l.check("X@y", b).is_ok());
        // Third try on the account fails whatever the address.
        assert!(l.check("x@y", b).is_err());
        // Address a still has budget for another account.
        assert!(l.check("other@y", a).is_ok());
        assert!(l.check("third@y", a).is_ok());
        assert!(l.check("fourth@y", a).is_err());
    }
}
