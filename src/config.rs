//! Settings: `config.toml` (every key documented there, with its default), then `BOARDROOM_*`
//! environment variables on top. Nested keys use a double underscore:
//! `BOARDROOM_AUTH__ACCESS_TOKEN_TTL_SECS=60` sets `[auth] access_token_ttl_secs`.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The signing secret older releases shipped in `config.toml`. Tokens signed with it can be
/// forged by anyone who has read that file, so it counts as no secret at all: never used to
/// sign anything.
pub const PUBLISHED_JWT_SECRET: &str = "dev-only-insecure-secret-change-me";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    /// Base URL people reach this server at (share links are built from it). Empty: derived
    /// from `listen`.
    pub public_url: String,
    /// `postgres://…` or `sqlite:…`. Empty: the embedded SQLite file `<data_dir>/boardroom.db`.
    pub database_url: String,
    pub data_dir: PathBuf,
    pub database_max_connections: u32,
    /// `memory` (one node) or `redis` (a cluster; needs `redis_url`).
    pub broker: String,
    pub redis_url: String,
    /// This node's name in the cluster. Empty: generated at start.
    pub node_id: String,
    /// Unset: on when running on the embedded store and listening on a loopback address only,
    /// off otherwise (a server reachable from other machines never runs in dev mode by
    /// accident).
    pub dev_mode: Option<bool>,
    /// Empty: generated once and kept in `<data_dir>/jwt_secret` (embedded store or dev mode;
    /// a server on a shared database refuses to start without one, as every node must sign
    /// with the same secret).
    pub jwt_secret: String,
    /// Addresses (`10.0.0.5`) or networks (`10.0.0.0/8`) of reverse proxies whose
    /// `X-Forwarded-For` is believed. Empty: the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// `commit` (acknowledge after the batch is durable) or `apply` (acknowledge at once).
    pub durability: Durability,
    /// SQLite's `synchronous` (`full` or `normal`). Unset: `full` with `durability = "commit"`
    /// (an ack survives power loss), `normal` with `apply` (survives a crash of the process).
    pub sqlite_synchronous: Option<SqliteSync>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Create the demo organization on first start of an empty store (dev mode only).
    pub demo_seed: bool,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub realtime: Realtime,
    pub cluster: Cluster,
    pub webhooks: Webhooks,
}

/// Outbound webhooks (`src/webhooks/`): the retry schedule and the SSRF guard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// Unset: on in dev mode only. On lets endpoints on loopback, private and link-local
    /// addresses be registered and called.
    pub allow_private_targets: Option<bool>,
    /// How often the dispatcher looks for new events and due retries.
    pub poll_ms: u64,
    /// The first retry waits this long; each further one twice as long, up to `retry_max_ms`,
    /// plus up to 25 % random jitter.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up (`failed`); the defaults span about 25 hours.
    pub max_attempts: u32,
    /// An endpoint that does not answer within this long counts as a failed attempt.
    pub timeout_ms: u64,
    /// Deliveries sent at once (each to a different webhook or board).
    pub concurrency: usize,
    /// Events turned into deliveries per board and pass.
    pub batch: usize,
    /// The dispatcher lease (one sending node per database): held this long, renewed every
    /// poll.
    pub lease_ms: u64,
    /// Most endpoints one organization may register.
    pub max_per_org: usize,
    /// Delivered and given-up deliveries are deleted from the log after this many days.
    pub log_retention_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub key_prefix: String,
    pub lease_ttl_ms: u64,
    pub lease_renew_ms: u64,
    pub node_heartbeat_ms: u64,
    pub node_ttl_ms: u64,
    pub forward_timeout_ms: u64,
    pub owner_check_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Realtime {
    pub heartbeat_ms: u64,
    pub hello_timeout_ms: u64,
    pub ws_read_buffer_bytes: usize,
    pub journal_capacity: usize,
    pub journal_max_batch: usize,
    /// Group commits in flight at once (1 = one after the other).
    pub journal_pipeline: usize,
    pub ring_buffer_events: usize,
    pub max_recovery_events: usize,
    pub board_idle_secs: u64,
    pub max_restarts: u32,
    pub restart_window_secs: u64,
    pub bad_frames_before_close: u32,
    pub debug_endpoints: bool,
    pub board_inbox_ops: usize,
    pub board_inbox_deliveries: usize,
    pub fanout_backlog_frames: usize,
    pub overload_retry_after_ms: u64,
    pub presence_state_bytes: usize,
    pub presence_sets_per_second: u32,
    pub presence_burst: u32,
}

pub use crate::store::SqliteSync;
pub use boardroom_actors::live::Durability;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    /// Tries at one account from one address: what a person mistyping gets.
    pub login_attempts_per_account_ip_per_minute: u32,
    /// Tries at one account from all addresses together: looser, so that a stranger cannot
    /// lock a known user out from one address, while a spread-out guesser is still capped.
    pub login_attempts_per_account_per_minute: u32,
    pub login_attempts_per_ip_per_minute: u32,
    /// How long a node trusts "this access token's login was not revoked" before asking the
    /// store again. Revocations on this node, and those the cluster broker reports, apply at
    /// once; this bounds how late one is seen when the broker message is lost.
    pub revocation_check_ms: u64,
    pub api_key_default_expiry_days: Option<u64>,
    pub share_link_default_expiry_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_frame_bytes: usize,
    pub max_name_chars: usize,
    pub max_subscriptions_per_connection: usize,
    /// Ops one credential (a user across all their tokens and sockets, an API key, a share
    /// link) may send per second and in a burst, whatever transport carries them.
    pub ops_per_second_per_credential: u32,
    pub ops_burst_per_credential: u32,
    /// Older names of the op budget, from when sockets and HTTP each had one of their own:
    /// still read, so existing files and environments keep working (see `op_budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_per_second_per_connection: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_burst_per_connection: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_ops_per_second_per_credential: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_ops_burst_per_credential: Option<u32>,
    /// Requests (HTTP, and ops over its sockets) one API key may make per second and in a
    /// burst; a bot's budget of its own, counted per node.
    pub api_key_requests_per_second: u32,
    pub api_key_requests_burst: u32,
    pub send_queue_frames: usize,
    /// Most notification ids one `notifications.read` may name.
    pub max_notification_ids: usize,
    /// The same queue's bound in bytes (issue 15.3: a few snapshots are megabytes each).
    pub send_queue_bytes: usize,
    /// `subscribe` frames a connection may send per second, and in a burst.
    pub subscribes_per_second_per_connection: u32,
    pub subscribes_burst_per_connection: u32,
    /// Most items one page of a list endpoint returns (also the page size when no `limit`
    /// is given).
    pub max_page_items: usize,
    /// Most rows one CSV export of the audit log holds (`?format=csv`); narrow the filters or
    /// page with `cursor` for more.
    pub audit_export_max_rows: usize,
    /// Most events replayed for one card's history (the oldest first; `truncated` says so).
    pub card_history_max_events: usize,
}

impl Limits {
    /// The one op budget of a credential, (per second, burst). An older name that is set
    /// takes the place of the new key (it was set on purpose, the new key may be a default);
    /// when both older names are set, the larger, since the one budget now covers what each
    /// transport was allowed alone.
    pub fn op_budget(&self) -> (u32, u32) {
        let older = |a: Option<u32>, b: Option<u32>, new: u32| match (a, b) {
            (None, None) => new,
            (a, b) => a.max(b).unwrap_or(new),
        };
        (
            older(
                self.ops_per_second_per_connection,
                self.http_ops_per_second_per_credential,
                self.ops_per_second_per_credential,
            ),
            older(
                self.ops_burst_per_connection,
                self.http_ops_burst_per_credential,
                self.ops_burst_per_credential,
            ),
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            database_url: String::new(),
            data_dir: PathBuf::from("./data"),
            database_max_connections: 16,
            broker: "memory".into(),
            redis_url: String::new(),
            node_id: String::new(),
            dev_mode: None,
            jwt_secret: String::new(),
            trusted_proxies: Vec::new(),
            durability: Durability::Commit,
            sqlite_synchronous: None,
            log_format: LogFormat::Text,
            demo_seed: true,
            auth: AuthConfig {
                access_token_ttl_secs: 900,
                refresh_token_ttl_days: 30,
                login_attempts_per_account_ip_per_minute: 10,
                login_attempts_per_account_per_minute: 100,
                login_attempts_per_ip_per_minute: 30,
                revocation_check_ms: 5000,
                api_key_default_expiry_days: None,
                share_link_default_expiry_days: 30,
            },
            limits: Limits {
                max_body_bytes: 65536,
                max_frame_bytes: 65536,
                max_name_chars: 100,
                max_subscriptions_per_connection: 100,
                ops_per_second_per_credential: 50,
                ops_burst_per_credential: 100,
                ops_per_second_per_connection: None,
                ops_burst_per_connection: None,
                http_ops_per_second_per_credential: None,
                http_ops_burst_per_credential: None,
                api_key_requests_per_second: 50,
                api_key_requests_burst: 200,
                send_queue_frames: 1024,
                max_notification_ids: 100,
                send_queue_bytes: 16 << 20,
                subscribes_per_second_per_connection: 10,
                subscribes_burst_per_connection: 100,
                max_page_items: 1000,
                audit_export_max_rows: 10000,
                card_history_max_events: 2000,
            },
            realtime: Realtime {
                heartbeat_ms: 25_000,
                hello_timeout_ms: 10_000,
                ws_read_buffer_bytes: 1024,
                journal_capacity: 10_000,
                journal_max_batch: 512,
                journal_pipeline: 2,
                ring_buffer_events: 1000,
                max_recovery_events: 5000,
                board_idle_secs: 300,
                max_restarts: 3,
                restart_window_secs: 60,
                bad_frames_before_close: 10,
                debug_endpoints: false,
                board_inbox_ops: 256,
                board_inbox_deliveries: 10_000,
                fanout_backlog_frames: 32,
                overload_retry_after_ms: 100,
                presence_state_bytes: 1024,
                presence_sets_per_second: 10,
                presence_burst: 20,
            },
            cluster: Cluster {
                key_prefix: "br:".into(),
                lease_ttl_ms: 3000,
                lease_renew_ms: 1000,
                node_heartbeat_ms: 1000,
                node_ttl_ms: 3000,
                forward_timeout_ms: 3000,
                owner_check_ms: 100,
            },
            webhooks: Webhooks {
                allow_private_targets: None,
                poll_ms: 1000,
                retry_base_ms: 30_000,
                retry_max_ms: 3_600_000,
                max_attempts: 32,
                timeout_ms: 10_000,
                concurrency: 8,
                batch: 100,
                lease_ms: 15_000,
                max_per_org: 20,
                log_retention_days: 30,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// What the actors need of the configuration.
    pub fn live_settings(&self) -> boardroom_actors::live::LiveSettings {
        let r = &self.realtime;
        boardroom_actors::live::LiveSettings {
            durability: self.durability,
            ring_buffer_events: r.ring_buffer_events,
            max_recovery_events: r.max_recovery_events,
            board_idle: std::time::Duration::from_secs(r.board_idle_secs),
            max_restarts: r.max_restarts,
            restart_window: std::time::Duration::from_secs(r.restart_window_secs),
            board_inbox_ops: r.board_inbox_ops.max(1),
            board_inbox_deliveries: r.board_inbox_deliveries.max(1),
            fanout_backlog_frames: r.fanout_backlog_frames.max(1),
            overload_retry_after: std::time::Duration::from_millis(r.overload_retry_after_ms),
            presence_state_bytes: r.presence_state_bytes,
            presence_sets_per_second: r.presence_sets_per_second.max(1),
            presence_burst: r.presence_burst.max(1),
        }
    }

    /// Defaults, then the TOML file (if it exists; a missing `--config FILE` named explicitly is
    /// an error), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Invalid(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("config.toml")),
        }
        // BOARDROOM_TEST_* belong to the test runner, not to the server.
        fig = fig.merge(
            Env::prefixed("BOARDROOM_")
                .filter(|k| !k.as_str().to_ascii_lowercase().starts_with("test_"))
                .split("__"),
        );
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        if cfg.node_id.is_empty() {
            // Unique per process: a node restarted under a new name never inherits leases.
            let (_, random) = uuid::Uuid::now_v7().as_u64_pair();
            cfg.node_id = format!("node-{:08x}", random as u32);
        }
        Ok(cfg)
    }

    /// Whether webhooks may target loopback, private and link-local addresses.
    pub fn webhooks_allow_private(&self) -> bool {
        self.webhooks
            .allow_private_targets
            .unwrap_or(self.dev_mode())
    }

    pub fn node_id(&self) -> String {
        self.node_id.clone()
    }

    /// Dev mode unless said otherwise: on for the embedded store on a loopback address, off
    /// for a real database or an address other machines can reach.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode
            .unwrap_or(self.database_url.is_empty() && self.listen.ip().is_loopback())
    }

    /// Whether `jwt_secret` names a secret of its own (not empty, not the published one).
    pub fn has_configured_secret(&self) -> bool {
        !self.jwt_secret.is_empty() && self.jwt_secret != PUBLISHED_JWT_SECRET
    }

    /// The configured trusted proxies, parsed (`validate` has checked they parse).
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| parse_net(s))
            .collect()
    }

    /// The `synchronous` mode the SQLite store runs with (see `sqlite_synchronous`).
    pub fn sqlite_synchronous(&self) -> SqliteSync {
        self.sqlite_synchronous.unwrap_or(match self.durability {
            Durability::Commit => SqliteSync::Full,
            Durability::Apply => SqliteSync::Normal,
        })
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite:{}", self.data_dir.join("boardroom.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.broker != "memory" && self.broker != "redis" {
            return bad(format!(
                "broker = {:?}: expected \"memory\" or \"redis\"",
                self.broker
            ));
        }
        if self.broker == "redis" && self.redis_url.is_empty() {
            return bad("broker = \"redis\" needs redis_url".into());
        }
        let c = &self.cluster;
        if c.lease_renew_ms == 0 || c.lease_renew_ms * 2 > c.lease_ttl_ms {
            return bad(
                "cluster.lease_renew_ms must be positive and at most half of lease_ttl_ms".into(),
            );
        }
        if c.node_heartbeat_ms == 0 || c.node_heartbeat_ms * 2 > c.node_ttl_ms {
            return bad(
                "cluster.node_heartbeat_ms must be positive and at most half of node_ttl_ms".into(),
            );
        }
        if c.owner_check_ms == 0 {
            return bad("cluster.owner_check_ms must be positive".into());
        }
        if !self.jwt_secret.is_empty() && self.jwt_secret.len() < 16 {
            return bad("jwt_secret must be at least 16 characters (or empty)".into());
        }
        if let Some(p) = self.trusted_proxies.iter().find(|p| parse_net(p).is_none()) {
            return bad(format!(
                "trusted_proxies: {p:?} is not an IP address or network (10.0.0.5, 10.0.0.0/8)"
            ));
        }
        if self.limits.max_notification_ids == 0 {
            return bad("limits.max_notification_ids must be positive".into());
        }
        if self.auth.access_token_ttl_secs == 0 || self.auth.refresh_token_ttl_days == 0 {
            return bad("auth token lifetimes must be positive".into());
        }
        if self.limits.max_body_bytes < 1024 || self.limits.max_frame_bytes < 1024 {
            return bad(
                "limits.max_body_bytes and limits.max_frame_bytes must be at least 1024".into(),
            );
        }
        let w = &self.webhooks;
        if w.poll_ms == 0 || w.max_attempts == 0 || w.concurrency == 0 || w.batch == 0 {
            return bad(
                "webhooks.poll_ms, max_attempts, concurrency and batch must be positive".into(),
            );
        }
        if w.lease_ms < 2 * w.poll_ms {
            return bad("webhooks.lease_ms must be at least twice webhooks.poll_ms".into());
        }
        Ok(())
    }

    /// What `serve` refuses outside dev mode: no secret of its own on a shared database
    /// (every node must sign with the same one, so none can be made up here), and the
    /// test-only debug endpoints.
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.dev_mode() {
            return Ok(());
        }
        if !self.database_url.is_empty() && !self.has_configured_secret() {
            return Err(ConfigError::Invalid(
                "refusing to start: no jwt_secret of this deployment's own (it is empty or the \
                 published default), so tokens could be forged or nodes would disagree. Set \
                 BOARDROOM_JWT_SECRET (or jwt_secret in your config file) to a long random \
                 value, e.g. `openssl rand -hex 32`, the same on every node."
                    .into(),
            ));
        }
        if self.realtime.debug_endpoints {
            return Err(ConfigError::Invalid(
                "refusing to start: realtime.debug_endpoints lets any signed-in user crash \
                 board actors; it is for tests and only allowed with dev_mode = true"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// `10.0.0.5` or `10.0.0.0/8` (an address alone is a network of one).
fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_older_op_budget_names_still_count() {
        let mut l = Config::default().limits;
        assert_eq!(
            l.op_budget(),
            (50, 100),
            "the new keys, when nothing older is set"
        );
        l.http_ops_per_second_per_credential = Some(1);
        l.http_ops_burst_per_credential = Some(3);
        assert_eq!(l.op_budget(), (1, 3), "an older name set on purpose wins");
        l.ops_per_second_per_connection = Some(1_000_000);
        assert_eq!(
            l.op_budget(),
            (1_000_000, 3),
            "both older names: the larger"
        );
    }

    #[test]
    fn shipped_config_toml_matches_defaults() {
        // config.toml documents every setting with its default: loading it must change nothing.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let from_file: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&path))
            .extract()
            .expect("config.toml parses");
        let a = serde_json::to_value(&from_file).unwrap();
        let b = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(a, b, "config.toml and Config::default() disagree");
        // And it names every key (so nothing is undocumented).
        let text = std::fs::read_to_string(&path).unwrap();
        for key in flatten_keys(&b, "") {
            let last = key.rsplit('.').next().unwrap();
            assert!(text.contains(last), "config.toml does not document `{key}`");
        }
    }

    fn flatten_keys(v: &serde_json::Value, prefix: &str) -> Vec<String> {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .flat_map(|(k, v)| {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        serde_json::Value::Object(_) => flatten_keys(v, &p),
                        _ => vec![p],
                    }
                })
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn serving_checks_outside_dev_mode() {
        let mut c = Config {
            database_url: "postgres://x".into(),
            ..Default::default()
        };
        assert!(!c.dev_mode());
        assert!(c.check_serving().is_err(), "no secret on a shared database");
        c.jwt_secret = PUBLISHED_JWT_SECRET.into();
        assert!(
            c.check_serving().is_err(),
            "the published secret is no secret"
        );
        c.dev_mode = Some(true);
        assert!(c.check_serving().is_ok());
        c.dev_mode = Some(false);
        c.jwt_secret = "a-real-secret-of-enough-length".into();
        assert!(c.check_serving().is_ok());
        c.realtime.debug_endpoints = true;
        assert!(c.check_serving().is_err(), "debug endpoints need dev mode");
        c.dev_mode = Some(true);
        assert!(c.check_serving().is_ok());
    }

    #[test]
    fn dev_mode_only_implicit_on_loopback_with_the_embedded_store() {
        let embedded = Config::default();
        assert!(embedded.dev_mode());
        let exposed = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Default::default()
        };
        assert!(!exposed.dev_mode());
        // Production with the embedded store needs no secret: one is generated and kept.
        assert!(exposed.check_serving().is_ok());
        let v6 = Config {
            listen: "[::1]:8080".parse().unwrap(),
            ..Default::default()
        };
        assert!(v6.dev_mode());
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let mut c = Config {
            trusted_proxies: vec!["10.0.0.5".into(), "192.168.0.0/16".into(), "::1".into()],
            ..Default::default()
        };
        assert!(c.validate().is_ok());
        assert_eq!(c.trusted_proxy_nets().len(), 3);
        c.trusted_proxies.push("nginx".into());
        assert!(c.validate().is_err());
    }
}
