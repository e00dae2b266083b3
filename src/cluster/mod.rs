//! Who writes which board, and how events reach other nodes. One node needs neither a lease
//! nor a broker beyond its own hub (`single`); a cluster (`broker = "redis"`) adds Redis
//! implementations of the same traits: the bus (pub/sub broker, node inboxes, forwarding),
//! leases with fencing epochs, and node heartbeats.

mod bus;
mod lease;
mod online;
pub mod single;
pub mod wire;

pub use wire::Control;

use crate::config::Config;
use crate::store::DynStore;
use boardroom_actors::live::{BoardMsg, BoardRegistry, Broker, Hub};
use redis::aio::ConnectionManagerConfig;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Cluster figures for `/metrics` and the health endpoints.
#[derive(Default)]
pub struct Counters {
    pub forwards: AtomicU64,
    pub gaps_repaired: AtomicU64,
    pub leases_held: AtomicU64,
    /// Redis answered the last heartbeat.
    pub redis_up: AtomicBool,
}

/// Short retry budgets and timeouts: a request waiting on Redis must fail fast (and be
/// retried by the client) rather than hang; the watchdog restarts reconnection.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_millis(1000)))
}

/// A node of a cluster: what the server plugs into the actors, and the handles it keeps.
pub struct Node {
    pub id: Arc<str>,
    bus: Arc<bus::Bus>,
    leases: Arc<lease::Leases>,
    online: Arc<online::RedisOnline>,
    pub counters: Arc<Counters>,
}

impl Node {
    /// Connects to Redis and starts the bus. The registry is attached afterwards
    /// (`attach`), since it is built with this node's broker and ownership.
    pub async fn start(config: &Config, store: DynStore, hub: Arc<Hub>) -> anyhow::Result<Node> {
        let id: Arc<str> = config.node_id().into();
        let c = &config.cluster;
        let prefix = c.key_prefix.clone();
        let url = with_resp3(&config.redis_url);
        let client = redis::Client::open(url.as_str())
            .map_err(|e| anyhow::anyhow!("invalid redis_url {:?}: {e}", config.redis_url))?;
        let counters = Arc::new(Counters::default());
        let bus = bus::Bus::start(
            &client,
            id.clone(),
            prefix.clone(),
            hub,
            Duration::from_millis(c.forward_timeout_ms),
            Duration::from_millis(c.owner_check_ms),
            counters.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Redis at {:?}: {e}", config.redis_url))?;
        bus::register_self(&bus);
        let leases = lease::Leases::new(
            id.clone(),
            prefix,
            bus.command_connection(),
            store,
            Duration::from_millis(c.lease_ttl_ms),
            counters.clone(),
        );
        let online =
            online::RedisOnline::new(id.clone(), c.key_prefix.clone(), bus.command_connection());
        // Entries left by an earlier process with this node id.
        online.sweep(&id, &*bus).await;
        counters.redis_up.store(true, Ordering::Relaxed);
        tracing::info!(node_id = %id, "cluster node connected to Redis");
        Ok(Node {
            id,
            bus,
            leases,
            online,
            counters,
        })
    }

    pub fn broker(&self) -> Arc<dyn Broker> {
        self.bus.clone()
    }

    pub fn ownership(&self) -> Arc<dyn boardroom_actors::live::ports::Ownership> {
        self.leases.clone()
    }

    pub fn shared_online(&self) -> Arc<dyn boardroom_actors::live::online::SharedOnline> {
        self.online.clone()
    }

    pub fn forwarder(&self) -> Arc<dyn boardroom_actors::live::ports::Forwarder> {
        self.bus.clone()
    }

    /// Wires the registry in and starts lease renewal and the node heartbeat.
    pub fn attach(&self, registry: &Arc<BoardRegistry>, config: &Config) {
        self.bus.set_registry(registry);
        self.leases.set_registry(registry);
        let c = &config.cluster;
        tokio::spawn(
            self.leases
                .clone()
                .renew_forever(Duration::from_millis(c.lease_renew_ms)),
        );
        tokio::spawn(heartbeat(Heartbeat {
            node: self.id.clone(),
            prefix: c.key_prefix.clone(),
            cmd: self.bus.command_connection(),
            registry: Arc::downgrade(registry),
            online: self.online.clone(),
            broker: self.bus.clone(),
            counters: self.counters.clone(),
            every: Duration::from_millis(c.node_heartbeat_ms),
            ttl: Duration::from_millis(c.node_ttl_ms),
        }));
    }

    /// Tells every other node of a change it must act on.
    pub fn control(&self, control: Control) {
        self.bus.control(control);
    }

    /// What this node does when another node says `control`.
    pub fn on_control(&self, f: Box<dyn Fn(Control) + Send + Sync>) {
        self.bus.on_control(f);
    }

    /// Whether Redis answers a ping now.
    pub async fn redis_up(&self) -> bool {
        let mut cmd = self.bus.command_connection();
        let ping = tokio::time::timeout(
            Duration::from_millis(500),
            redis::cmd("PING").query_async::<String>(&mut cmd),
        )
        .await;
        matches!(ping, Ok(Ok(_)))
    }

    /// Lets every lease go (shutdown, after the boards stopped).
    pub async fn shutdown(&self) {
        self.leases.release_all().await;
    }
}

fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}/?protocol=resp3").replace("//?", "/?")
    }
}

/// Keeps this node's heartbeat key alive and notices nodes whose key expired: their
/// connections leave the presence of the boards this node owns.
struct Heartbeat {
    node: Arc<str>,
    prefix: String,
    cmd: redis::aio::ConnectionManager,
    registry: Weak<BoardRegistry>,
    online: Arc<online::RedisOnline>,
    broker: Arc<bus::Bus>,
    counters: Arc<Counters>,
    every: Duration,
    ttl: Duration,
}

async fn heartbeat(h: Heartbeat) {
    let Heartbeat {
        node,
        prefix,
        mut cmd,
        registry,
        online,
        broker,
        counters,
        every,
        ttl,
    } = h;
    let key = format!("{prefix}node:{node}");
    let pattern = format!("{prefix}node:*");
    let mut tick = tokio::time::interval(every);
    let mut known: std::collections::HashSet<String> = Default::default();
    // A node must be missing from two checks in a row, with Redis up all along, before it is
    // swept: Redis coming back empty must not look like every node died.
    let mut missing_once: std::collections::HashSet<String> = Default::default();
    let mut up_since: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        let beat: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut cmd)
            .await;
        counters.redis_up.store(beat.is_ok(), Ordering::Relaxed);
        if beat.is_err() {
            up_since = None;
            continue;
        }
        let up = *up_since.get_or_insert_with(tokio::time::Instant::now);
        let alive: Vec<String> = match redis::cmd("KEYS")
            .arg(&pattern)
            .query_async::<Vec<String>>(&mut cmd)
            .await
        {
            Ok(keys) => keys
                .into_iter()
                .filter_map(|k| {
                    k.strip_prefix(&format!("{prefix}node:"))
                        .map(str::to_string)
                })
                .collect(),
            Err(_) => continue,
        };
        let alive: std::collections::HashSet<String> = alive.into_iter().collect();
        if up.elapsed() < ttl * 2 {
            known.extend(alive);
            continue;
        }
        let mut gone = Vec::new();
        for n in known.iter().filter(|n| !alive.contains(*n)) {
            if !missing_once.insert(n.clone()) {
                gone.push(n.clone());
            }
        }
        missing_once.retain(|n| !alive.contains(n));
        for n in &gone {
            known.remove(n);
            missing_once.remove(n);
            tracing::warn!(node = %n, "node heartbeat expired; sweeping its presence");
            if let Some(reg) = registry.upgrade() {
                let n: Arc<str> = n.as_str().into();
                reg.broadcast(|| BoardMsg::NodeGone(n.clone()));
            }
            broker.node_gone(n);
            online.sweep(n, &*broker).await;
        }
        known.extend(alive);
    }
}
