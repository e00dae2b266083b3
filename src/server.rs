//! Starting and stopping the server: refuse unsafe settings, find the signing secret, open
//! and migrate the store, seed the demo in dev mode, serve until SIGTERM or Ctrl-C.

use crate::app::AppState;
use crate::auth::signing_key;
use crate::config::Config;
use crate::http;
use crate::seed;
use crate::store::{self, DynStore};
use anyhow::Context;
use std::net::SocketAddr;

pub async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    let url = config.database_url();
    if config.database_url.is_empty() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
    }
    let store = store::open_with(
        &url,
        config.database_max_connections,
        config.sqlite_synchronous(),
    )
    .await
    .with_context(|| format!("cannot open the database at {}", redact(&url)))?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    config.check_serving()?;
    if config.dev_mode() && !config.listen.ip().is_loopback() {
        tracing::warn!(listen = %config.listen, "dev mode on an address other machines can reach: demo logins and debug settings are exposed");
    }
    if !config.has_configured_secret() {
        // Only the embedded store or dev mode get here (`check_serving`).
        config.jwt_secret = signing_key::load_or_create(&config.data_dir)?;
        tracing::info!(
            file = %config.data_dir.join(signing_key::FILE_NAME).display(),
            "signing access tokens with the secret kept in the data directory"
        );
    }
    let store = open_store(&config).await?;
    let sqlite_synchronous = store.sqlite_synchronous().await?;
    tracing::info!(
        backend = store.backend(),
        sqlite_synchronous,
        dev_mode = config.dev_mode(),
        "store ready"
    );
    if config.dev_mode() && config.demo_seed && store.count_orgs().await? == 0 {
        seed::demo(&store)
            .await
            .context("cannot create the demo organization")?;
        tracing::info!("created the demo organization \"Demo Co\"");
        for (email, _, role) in seed::DEMO_USERS {
            tracing::info!(%email, password = seed::DEMO_PASSWORD, %role, "demo login");
        }
    }
    crate::metrics::install();
    let (state, flusher) = AppState::start(store, config.clone()).await?;
    let rt = state.rt.clone();
    let limiter = state.login_limiter.clone();
    let budgets = state.credentials.budgets.clone();
    let sessions_rt = state.rt.clone();
    let revocation_age = std::time::Duration::from_millis(config.auth.revocation_check_ms);
    let token_ttl = std::time::Duration::from_secs(config.auth.access_token_ttl_secs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.prune();
            budgets.prune();
            sessions_rt
                .sessions
                .revoked_families
                .prune(revocation_age, token_ttl);
        }
    });
    let app = http::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, url = %format!("http://{addr}"), "Boardroom is listening");
    let down = rt.clone();
    // No Nagle: a small frame (an `ok`, one event to a quiet subscriber) must not wait for
    // the client's delayed ACK of the previous one (measured when this was added: `ok` p50 at
    // 100 ops/s fell from 1.5-2.0 ms to 1.0-1.3 ms and intermittent 11 ms stalls went away;
    // BENCHMARKS.md, "TCP_NODELAY").
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Sessions close with 1001 so that clients reconnect (to any node).
        let _ = down.shutdown.send(true);
    })
    .await?;
    // No client is left: stop the boards, then commit everything they handed over.
    rt.boards.stop_all().await;
    rt.journal.close();
    flusher.await?;
    if let Some(node) = &rt.node {
        node.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite:data/x.db"), "sqlite:data/x.db");
    }
}
