//! (d) Postgres unreachable for 10 s: the server reaches its database through a TCP proxy of
//! this test, which drops every connection and refuses new ones for 10 s. Ops are answered
//! `unavailable` with `retry_after_ms` meanwhile, nothing acknowledged is lost, and the same
//! process serves again once the database is back (no restart).

use crate::common::*;
use crate::infra::*;
use crate::support::*;
use std::time::{Duration, Instant};

/// Multi-threaded: the proxy must forward while the test blocks on `boardroom create-org`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_postgres_unreachable_for_10_s() {
    let direct = fresh_pg_url().await;
    let upstream: std::net::SocketAddr = {
        let host = direct
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|r| r.rsplit('@').next())
            .unwrap_or("127.0.0.1:5432")
            .to_string();
        let host = if host.contains(':') {
            host
        } else {
            format!("{host}:5432")
        };
        tokio::net::lookup_host(host)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .expect("the test database's address")
    };
    let proxy = Proxy::start(upstream).await;
    let via_proxy = {
        let (scheme, rest) = direct.split_once("://").expect("a URL");
        let (auth_host, path) = rest.split_once('/').expect("a database name");
        let auth = auth_host
            .rsplit_once('@')
            .map(|(a, _)| format!("{a}@"))
            .unwrap_or_default();
        format!("{scheme}://{auth}127.0.0.1:{}/{path}", proxy.port)
    };
    let mut server = TestServer::start(&via_proxy, &UNLIMITED).await;
    let pid = server.pid();
    let org = new_org(&server, "Fault d").await;
    let (board, col) = board(&org).await;
    let token = org.owner.token.clone().expect("token");

    let warmup = Duration::from_millis(pick(1_500, 5_000));
    let outage = Duration::from_secs(10);
    let after = Duration::from_millis(pick(3_000, 10_000));
    let at = Timeline::start(warmup, outage, after, Duration::from_secs(90));
    let w = creator_on(&server, &token, board, col).await;
    let task = at.drive(w, every_ms(20));
    at.until_fault().await;
    proxy.cut();
    let cut = Instant::now();
    at.until_repair().await;
    proxy.heal();
    let healed = Instant::now();
    let w = task.await.expect("writer");

    let sent_in_outage = w
        .ops
        .iter()
        .filter(|o| o.first_sent > cut && o.first_sent < healed)
        .count();
    let acked_in_outage = w
        .ops
        .iter()
        .filter(|o| o.acked.is_some_and(|a| a.0 > cut && a.0 < healed))
        .count();
    let recover = recovered(&[&w], healed);
    let same_process = server.exited().is_none() && server.pid() == pid;
    let stored = events_by_op(&direct, board).await;
    let c = count(&[&w], &stored);
    let pass = w.all_done()
        && c.lost == 0
        && c.duplicated == 0
        && w.unavailable > 0
        && w.unavailable_without_retry_after == 0
        && w.refused.is_empty()
        && same_process
        && recover.is_some();
    verdict(
        "(d) Postgres unreachable for 10 s (proxy cut)",
        &c,
        recover,
        &format!(
            "{} ops sent, {sent_in_outage} during the outage, {acked_in_outage} acked during it; \
             {} unavailable answers ({} without retry_after_ms), {} resends; same process: {}",
            c.sent,
            w.unavailable,
            w.unavailable_without_retry_after,
            w.resends,
            if same_process { "yes" } else { "NO" }
        ),
        pass,
    );
    assert!(
        pass,
        "see the verdict above; refused: {:?}; log {}",
        w.refused,
        server.log_path.display()
    );
}
