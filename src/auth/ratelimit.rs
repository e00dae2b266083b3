//! Rate limits kept with governor's keyed token buckets:
//!
//! - Login throttling: a bucket per (account, client IP), a looser one per account, and one
//!   per client IP. Counting the account alone would let anyone lock a known user out by
//!   failing at their login from one address; per (account, IP) the stranger only locks
//!   themselves out, the account's ceiling still caps guessing spread over many addresses,
//!   and the per-IP bucket caps one address trying many accounts.
//! - Ops: a bucket per credential (API key, user, share link), spent by its ops whatever
//!   transport carries them (every socket and every `POST /boards/{id}/ops` together): a
//!   budget hung on a connection could be multiplied by opening more sockets or switching to
//!   HTTP, and one a person can reason about is the credential's.
//! - An API key's requests: every HTTP request it authenticates and every op it sends over a
//!   socket, in a bucket of its own (`limits.api_key_requests_*`).

use crate::error::{ApiError, ApiResult};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use uuid::Uuid;

pub struct LoginLimiter {
    per_account_ip: DefaultKeyedRateLimiter<(String, IpAddr)>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl LoginLimiter {
    pub fn new(
        per_account_ip_per_minute: u32,
        per_account_per_minute: u32,
        per_ip_per_minute: u32,
    ) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_account_ip: RateLimiter::keyed(quota(per_account_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt for this account from this address; `Err(wait)` when any of the
    /// three budgets is spent. Narrowest first, so that a stranger hammering one account
    /// spends their own (account, IP) budget and leaves the account's ceiling to others.
    pub fn check(&self, email: &str, ip: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let email = email.to_lowercase();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(now);
        self.per_account_ip
            .check_key(&(email.clone(), ip))
            .map_err(wait)?;
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_account.check_key(&email).map_err(wait)?;
        Ok(())
    }

    /// Drops idle keys so that a flood of made-up emails cannot grow memory without bound.
    pub fn prune(&self) {
        self.per_account_ip.retain_recent();
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

/// Whose budget an op spends: one bucket per API key, one per user, one per share link. A
/// user's access tokens and sockets share the bucket, so logging in again or opening another
/// socket does not buy a fresh budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKey {
    ApiKey(Uuid),
    User(Uuid),
    Share(Uuid),
}

/// The per-credential budgets, in one place so that no transport keeps a budget of its own.
pub struct Budgets {
    ops: OpLimiter,
    key_requests: OpLimiter,
}

impl Budgets {
    /// `ops` and `key_requests` as (per second, burst).
    pub fn new(ops: (u32, u32), key_requests: (u32, u32)) -> Self {
        Budgets {
            ops: OpLimiter::new(ops.0, ops.1),
            key_requests: OpLimiter::new(key_requests.0, key_requests.1),
        }
    }

    /// Takes one op from the credential's op budget.
    pub fn op(&self, key: CredentialKey) -> ApiResult<()> {
        self.ops.check(key).map_err(|wait| {
            ApiError::rate_limited_because(wait, "too many ops from this credential; slow down")
        })
    }

    /// Takes one request from an API key's request budget.
    pub fn key_request(&self, key_id: Uuid) -> ApiResult<()> {
        self.key_requests
            .check(CredentialKey::ApiKey(key_id))
            .map_err(|wait| {
                ApiError::rate_limited_because(
                    wait,
                    "too many requests from this API key; slow down",
                )
            })
    }

    pub fn prune(&self) {
        self.ops.prune();
        self.key_requests.prune();
    }
}

/// One bucket of one connection (`subscribe` frames: each may queue a whole board's snapshot,
/// which is the connection's cost, not its credential's).
pub struct Throttle {
    bucket: governor::DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl Throttle {
    pub fn new(per_second: u32, burst: u32) -> Self {
        Throttle {
            bucket: RateLimiter::direct(quota(per_second, burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one; `rate_limited` with the wait (and `message`) when the bucket is empty.
    pub fn check(&self, message: &str) -> ApiResult<()> {
        self.bucket.check().map_err(|not_until| {
            ApiError::rate_limited_because(not_until.wait_time_from(self.clock.now()), message)
        })
    }
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

/// One keyed bucket per credential: `per_second` sustained, `burst` at once.
pub struct OpLimiter {
    per_credential: DefaultKeyedRateLimiter<CredentialKey>,
    clock: DefaultClock,
}

impl OpLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        OpLimiter {
            per_credential: RateLimiter::keyed(quota(per_second, burst)),
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
    fn a_stranger_cannot_lock_an_account_out() {
        let l = LoginLimiter::new(2, 4, 3);
        let stranger: IpAddr = "10.0.0.1".parse().unwrap();
        let owner: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check("x@y", stranger).is_ok());
        assert!(l.check("X@y", stranger).is_ok());
        assert!(l.check("x@y", stranger).is_err(), "(account, IP) spent");
        // The account's owner, from elsewhere, still gets in.
        assert!(l.check("x@y", owner).is_ok());
        // The stranger's address still has budget for another account, up to its own cap.
        assert!(l.check("other@y", stranger).is_ok());
        assert!(l.check("third@y", stranger).is_err(), "per-IP spent");
        // The account's ceiling caps guesses spread over many addresses.
        let l = LoginLimiter::new(2, 3, 100);
        for i in 0..3 {
            let ip: IpAddr = format!("10.1.0.{i}").parse().unwrap();
            assert!(l.check("z@y", ip).is_ok());
        }
        assert!(l.check("z@y", "10.1.0.9".parse().unwrap()).is_err());
    }
}
