//! Board ownership in a cluster: one Redis lease per board (`SET NX PX`, renewed well before
//! it expires, released on passivation and shutdown) and an epoch from `INCR` as fencing
//! token. The epoch is also raised in the database, which is what refuses a stale writer's
//! commits; taking the larger of the two keeps epochs rising even when Redis lost its keys
//! (it keeps nothing on disk).

use super::Counters;
use crate::store::DynStore;
use async_trait::async_trait;
use boardroom_actors::live::ports::{Acquired, Claim, Ownership, PortError};
use boardroom_actors::live::BoardRegistry;
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use redis::Script;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, OnceLock, Weak};
use std::time::Duration;
use uuid::Uuid;

/// KEYS: lease, epoch. ARGV: node, ttl ms. The new epoch when the lease is ours (taken now, or
/// still ours from before a restart of this node), else 0.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return redis.call('INCR', KEYS[2])
        elseif redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return redis.call('INCR', KEYS[2])
        end
        return 0",
    )
});

/// KEYS: lease. ARGV: node, ttl ms. 1: renewed; 2: the key was gone (Redis restarted) and is
/// ours again; 0: someone else holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local v = redis.call('GET', KEYS[1])
        if v == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return 1
        elseif not v then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 2
        end
        return 0",
    )
});

/// KEYS: lease. ARGV: node. Deletes the lease only when it is ours.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0",
    )
});

/// KEYS: epoch. ARGV: value. Raises the counter to at least `value`.
static RAISE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local v = tonumber(redis.call('GET', KEYS[1]) or '0')
        if v < tonumber(ARGV[1]) then
            redis.call('SET', KEYS[1], ARGV[1])
        end
        return 1",
    )
});

/// The Redis key of a board's lease; its value is the owner's node id.
pub(super) fn lease_key(prefix: &str, board_id: Uuid) -> String {
    format!("{prefix}lease:{board_id}")
}

pub struct Leases {
    node: Arc<str>,
    prefix: String,
    cmd: ConnectionManager,
    store: DynStore,
    ttl: Duration,
    /// board -> epoch of every lease this node holds.
    held: DashMap<Uuid, u64>,
    registry: OnceLock<Weak<BoardRegistry>>,
    counters: Arc<Counters>,
}

impl Leases {
    pub fn new(
        node: Arc<str>,
        prefix: String,
        cmd: ConnectionManager,
        store: DynStore,
        ttl: Duration,
        counters: Arc<Counters>,
    ) -> Arc<Leases> {
        Arc::new(Leases {
            node,
            prefix,
            cmd,
            store,
            ttl,
            held: DashMap::new(),
            registry: OnceLock::new(),
            counters,
        })
    }

    pub fn set_registry(&self, registry: &Arc<BoardRegistry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
    }

    fn lease_key(&self, board_id: Uuid) -> String {
        lease_key(&self.prefix, board_id)
    }

    fn epoch_key(&self, board_id: Uuid) -> String {
        format!("{}epoch:{board_id}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    fn gauge(&self) {
        let n = self.held.len();
        self.counters.leases_held.store(n as u64, Ordering::Relaxed);
        ::metrics::gauge!(crate::metrics::LEASES_HELD).set(n as f64);
    }

    /// Renews every lease held, every `every`, until the process ends. A lease found taken
    /// by another node makes its board step down at once.
    pub async fn renew_forever(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let boards: Vec<Uuid> = self.held.iter().map(|h| *h.key()).collect();
            for board_id in boards {
                let mut cmd = self.cmd.clone();
                let r = tokio::time::timeout(
                    self.ttl / 3,
                    RENEW
                        .key(self.lease_key(board_id))
                        .arg(&*self.node)
                        .arg(self.ttl_ms())
                        .invoke_async::<i64>(&mut cmd),
                )
                .await;
                match r {
                    Ok(Ok(0)) => {
                        self.held.remove(&board_id);
                        self.gauge();
                        ::metrics::counter!(crate::metrics::LEASE_CHANGES, "change" => "lost")
                            .increment(1);
                        if let Some(reg) = self.registry.get().and_then(Weak::upgrade) {
                            reg.lost(board_id);
                        }
                    }
                    Ok(Ok(_)) => {}
                    // Redis unreachable: nobody else can take the lease meanwhile; if it
                    // comes back empty, the next renewal takes it again, and the database
                    // epoch still fences a writer that lost it for real.
                    Ok(Err(e)) => tracing::debug!(%board_id, error = %e, "lease renewal failed"),
                    Err(_) => tracing::debug!(%board_id, "lease renewal timed out"),
                }
            }
        }
    }

    /// Lets every lease go (shutdown).
    pub async fn release_all(&self) {
        let boards: Vec<(Uuid, u64)> = self.held.iter().map(|h| (*h.key(), *h.value())).collect();
        for (b, e) in boards {
            self.release(b, e).await;
        }
    }
}

#[async_trait]
impl Ownership for Leases {
    async fn acquire(&self, board_id: Uuid) -> Result<Acquired, PortError> {
        let mut cmd = self.cmd.clone();
        let epoch: i64 = tokio::time::timeout(
            self.ttl,
            ACQUIRE
                .key(self.lease_key(board_id))
                .key(self.epoch_key(board_id))
                .arg(&*self.node)
                .arg(self.ttl_ms())
                .invoke_async(&mut cmd),
        )
        .await
        .map_err(|_| PortError::new("Redis did not answer"))?
        .map_err(PortError::new)?;
        if epoch == 0 {
            let holder: Option<String> = redis::cmd("GET")
                .arg(self.lease_key(board_id))
                .query_async(&mut cmd)
                .await
                .map_err(PortError::new)?;
            return match holder {
                Some(node) => Ok(Acquired::Elsewhere { node }),
                // Expired in between: the caller's next attempt takes it.
                None => Err(PortError::new("the board's lease changed hands; retry")),
            };
        }
        let claimed = self
            .store
            .claim_board_at_least(board_id, epoch)
            .await
            .map_err(PortError::new);
        let (epoch, last_seq) = match claimed {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.release(board_id, 0).await;
                return Ok(Acquired::NotFound);
            }
            Err(e) => {
                self.release(board_id, 0).await;
                return Err(e);
            }
        };
        // The database was ahead (Redis lost its counter): keep Redis ahead from now on.
        let _ = RAISE
            .key(self.epoch_key(board_id))
            .arg(epoch)
            .invoke_async::<i64>(&mut cmd)
            .await;
        let epoch = epoch.max(0) as u64;
        self.held.insert(board_id, epoch);
        self.gauge();
        ::metrics::counter!(crate::metrics::LEASE_CHANGES, "change" => "acquired").increment(1);
        tracing::info!(%board_id, epoch, node = %self.node, "board lease taken");
        Ok(Acquired::Owned(Claim {
            epoch,
            last_seq: last_seq.max(0) as u64,
        }))
    }

    async fn release(&self, board_id: Uuid, epoch: u64) {
        // Only the lease of this epoch: a board taken again since must keep its new lease.
        let ours = self
            .held
            .remove_if(&board_id, |_, e| epoch == 0 || *e == epoch)
            .is_some();
        if !ours && epoch != 0 {
            return;
        }
        self.gauge();
        let mut cmd = self.cmd.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            RELEASE
                .key(self.lease_key(board_id))
                .arg(&*self.node)
                .invoke_async::<i64>(&mut cmd),
        )
        .await;
        ::metrics::counter!(crate::metrics::LEASE_CHANGES, "change" => "released").increment(1);
    }

    fn still_owner(&self, board_id: Uuid, epoch: u64) -> bool {
        self.held.get(&board_id).is_some_and(|e| *e == epoch)
    }
}
