//! Login throttling: a token bucket per account and per client IP (governor's keyed limiter),
//! so neither guessing one password from many addresses nor many passwords from one address
//! gets far.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
