//! The server assembled in one place: the shared state every transport (HTTP, WebSocket, SSE)
//! hands to its handlers, and `AppState::start`, which wires the store, the journal flusher,
//! the hub, the broker (memory or Redis), the board supervisor and the cluster node together.
//! It lives outside `http` and `realtime` so that both depend on it and neither on the other;
//! `commands` gets only its own parts (store, boards, credentials), not this state.

use crate::auth::jwt::JwtKeys;
use crate::auth::ratelimit::{Budgets, LoginLimiter};
use crate::auth::revocation::RevokedFamilies;
use crate::auth::session::Credentials;
use crate::cluster::single::SingleNode;
use crate::cluster::Node;
use crate::commands::Commands;
use crate::config::Config;
use crate::realtime::sessions::Sessions;
use crate::realtime::source::StoreSource;
use crate::realtime::Rt;
use crate::store::DynStore;
use crate::writebehind::Journal;
use axum::extract::FromRef;
use boardroom_actors::live::board::BoardDeps;
use boardroom_actors::live::hub::Hub;
use boardroom_actors::live::ports::Ownership;
use boardroom_actors::live::registry::BoardRegistry;
use boardroom_actors::live::{Broker, MemoryBroker};
use std::sync::Arc;

/// Everything a handler needs; cheap to clone (all shared).
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub login_limiter: Arc<LoginLimiter>,
    /// The credential checks, with the per-credential budgets.
    pub credentials: Credentials,
    /// The commands every transport hands its ops, subscriptions and reads to.
    pub commands: Commands,
    pub rt: Arc<Rt>,
}

impl AppState {
    /// `Credentials::principal_in`, for the many handlers that hold the state.
    pub async fn principal_in(
        &self,
        caller: &crate::auth::session::Caller,
        org_id: uuid::Uuid,
    ) -> crate::error::ApiResult<boardroom_actors::policy::Principal> {
        self.credentials.principal_in(caller, org_id).await
    }
}

impl FromRef<AppState> for Credentials {
    fn from_ref(state: &AppState) -> Self {
        state.credentials.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

impl AppState {
    /// Builds the state and starts the real-time machinery (journal flusher, board
    /// supervisor). The handle is the flusher's: await it after `rt.journal.close()`.
    pub async fn start(
        store: DynStore,
        config: Config,
    ) -> anyhow::Result<(AppState, tokio::task::JoinHandle<()>)> {
        let config = Arc::new(config);
        let jwt = JwtKeys::new(&config.jwt_secret, config.auth.access_token_ttl_secs);
        let login_limiter = Arc::new(LoginLimiter::new(
            config.auth.login_attempts_per_account_ip_per_minute,
            config.auth.login_attempts_per_account_per_minute,
            config.auth.login_attempts_per_ip_per_minute,
        ));
        let budgets = Arc::new(Budgets::new(
            config.limits.op_budget(),
            (
                config.limits.api_key_requests_per_second,
                config.limits.api_key_requests_burst,
            ),
        ));
        let revoked = Arc::new(RevokedFamilies::default());
        let credentials = Credentials::new(
            store.clone(),
            jwt.clone(),
            revoked.clone(),
            std::time::Duration::from_millis(config.auth.revocation_check_ms),
            budgets,
        );
        let (journal, flusher) = Journal::start_pipelined(
            store.clone(),
            config.realtime.journal_capacity,
            config.realtime.journal_max_batch,
            // SQLite has one writer: a second commit in flight would only wait for the first.
            if config.database_url().starts_with("sqlite:") {
                1
            } else {
                config.realtime.journal_pipeline
            },
        );
        let hub = Arc::new(Hub::default());
        let node = match config.broker.as_str() {
            "redis" => Some(Node::start(&config, store.clone(), hub.clone()).await?),
            _ => None,
        };
        let (broker, ownership, forwarder): (Arc<dyn Broker>, Arc<dyn Ownership>, _) = match &node {
            Some(n) => (n.broker(), n.ownership(), Some(n.forwarder())),
            None => (
                Arc::new(MemoryBroker::new(hub.clone())),
                Arc::new(SingleNode::new(store.clone())),
                None,
            ),
        };
        let deps = Arc::new(BoardDeps {
            source: Arc::new(StoreSource(store.clone())),
            journal: Arc::new(journal.clone()),
            ownership,
            broker: broker.clone(),
            hub: hub.clone(),
            settings: config.live_settings(),
            forwarder,
        });
        let boards = BoardRegistry::start(deps).await?;
        let online = boardroom_actors::live::online::Online::default();
        if let Some(n) = &node {
            n.attach(&boards, &config);
            online.share(n.shared_online());
        }
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let rt = Arc::new(Rt {
            hub,
            broker,
            node,
            boards,
            journal,
            online,
            sessions: Sessions::new(revoked),
            shutdown,
        });
        let commands = Commands::new(
            store.clone(),
            rt.boards.clone(),
            credentials.clone(),
            config.limits.max_notification_ids,
        );
        crate::webhooks::spawn(store.clone(), config.clone(), rt.shutdown.subscribe());
        if let Some(n) = &rt.node {
            let weak = Arc::downgrade(&rt);
            n.on_control(Box::new(move |c| {
                if let Some(rt) = weak.upgrade() {
                    rt.on_control(c);
                }
            }));
        }
        Ok((
            AppState {
                store,
                config,
                jwt,
                login_limiter,
                credentials,
                commands,
                rt,
            },
            flusher,
        ))
    }
}
