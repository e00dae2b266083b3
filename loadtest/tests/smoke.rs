//! One short smoke run of each scenario against real servers over real sockets: tiny sizes,
//! a second or two each, asserting correctness (every delivery arrives once, nothing missing,
//! no errors) and never speed.
//!
//! - the bare peer: always (it is a binary of this package);
//! - Socket.IO: when `node` and `peers/socketio/node_modules` (`npm ci`) are there;
//! - Boardroom: when its binary is next to this test's target directory (it is, after
//!   `cargo test --workspace` or `scripts/test`, which build the server for its own tests).
//!
//! A server that is not available is skipped with a note on stderr, not failed.

use boardroom_loadtest::client::{PathKind, ServerKind};
use boardroom_loadtest::scenarios::connect::{self, ConnectArgs};
use boardroom_loadtest::scenarios::fanout::{self, FanoutArgs};
use boardroom_loadtest::scenarios::ops::{self, OpsArgs};
use boardroom_loadtest::scenarios::overload::{self, OverloadArgs};
use boardroom_loadtest::servers::{self, SpawnArgs, Spawned};
use boardroom_loadtest::Login;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
struct Fan {
    #[command(flatten)]
    f: FanoutArgs,
}

#[derive(Parser)]
struct Over {
    #[command(flatten)]
    o: OverloadArgs,
}

#[derive(Parser)]
struct Con {
    #[command(flatten)]
    c: ConnectArgs,
}

fn boardroom_bin() -> Option<PathBuf> {
    // target/<profile>/deps/smoke-… -> target/<profile>/boardroom
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("boardroom");
    bin.exists().then_some(bin)
}

fn socketio_ready() -> bool {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/socketio/node_modules");
    dir.exists()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn spawn_args() -> SpawnArgs {
    SpawnArgs {
        server_cpus: None,
        boardroom_bin: boardroom_bin(),
        bare_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_bare-peer"))),
        socketio_dir: None,
        node: "node".into(),
        port_base: 0,
        boardroom_env: vec![],
    }
}

async fn start(kind: ServerKind) -> Option<Spawned> {
    let ok = match kind {
        ServerKind::Boardroom => boardroom_bin().is_some(),
        ServerKind::Socketio => socketio_ready(),
        ServerKind::Bare => true,
    };
    if !ok {
        eprintln!("skipping {}: not available here", kind.name());
        return None;
    }
    let port = servers::free_port().expect("a free port");
    Some(
        servers::spawn_on(kind, &spawn_args(), "commit", port)
            .await
            .expect("server starts"),
    )
}

fn login(url: &str) -> Login {
    Login {
        url: url.into(),
        email: "admin@demo.boardroom".into(),
        password: "boardroom-demo".into(),
        encoding: "json".into(),
    }
}

async fn smoke_fanout(kind: ServerKind, path: PathKind, encoding: &str) {
    let Some(server) = start(kind).await else {
        return;
    };
    let args = Fan::parse_from([
        "smoke",
        "--server",
        kind.name(),
        "--path",
        path.name(),
        "--boards",
        "2",
        "--subscribers",
        "6",
        "--publishers",
        "3",
        "--rate",
        "60",
        "--seconds",
        "1",
        "--drain-secs",
        "5",
        "--quiet",
    ])
    .f;
    let mut l = login(&server.url);
    l.encoding = encoding.into();
    let r = fanout::run(&args, &l).await.expect("fanout runs");
    assert!(r.ops_sent >= 50, "{r:?}");
    assert!(r.deliveries > 0, "{r:?}");
    assert_eq!(r.missing, 0, "{r:?}");
    assert_eq!(r.duplicates, 0, "{r:?}");
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    // 3 subscribers per board see every publish to their board.
    assert_eq!(r.deliveries, r.ops_sent * 3, "{r:?}");
    if kind == ServerKind::Boardroom {
        assert_eq!(r.ops_acked, r.ops_sent, "{r:?}");
    }
}

/// One test per line: `name: server, path, encoding;` runs [`smoke_fanout`] with them.
macro_rules! fanout_tests {
    ($($name:ident: $kind:ident, $path:ident, $encoding:literal;)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                smoke_fanout(ServerKind::$kind, PathKind::$path, $encoding).await;
            }
        )+
    };
}

fanout_tests! {
    fanout_bare_peer: Bare, Op, "json";
    fanout_socketio_peer: Socketio, Op, "json";
    fanout_boardroom_op_path: Boardroom, Op, "json";
    fanout_boardroom_presence_path_msgpack: Boardroom, Presence, "msgpack";
}

async fn smoke_connect(kind: ServerKind) {
    let Some(server) = start(kind).await else {
        return;
    };
    let mut args = Con::parse_from([
        "smoke",
        "--server",
        kind.name(),
        "--connections",
        "40",
        "--processes",
        "2",
        "--hold-secs",
        "0.5",
        "--server-pid",
        &server.pid().to_string(),
    ])
    .c;
    args.worker_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_boardroom-loadtest")));
    let r = connect::run(&args, &login(&server.url))
        .await
        .expect("connect runs");
    assert_eq!(r.connected, 40, "{r:?}");
    assert_eq!(r.failed, 0, "{r:?}");
    assert_eq!(r.still_open, 40, "{r:?}");
    assert_eq!(r.sources.len(), 8, "{r:?}");
    assert!(r.server_rss_after_mib.is_some(), "{r:?}");
}

#[tokio::test]
async fn connect_boardroom() {
    smoke_connect(ServerKind::Boardroom).await;
}

#[tokio::test]
async fn connect_socketio() {
    smoke_connect(ServerKind::Socketio).await;
}

#[derive(Parser)]
struct OpsCli {
    #[command(flatten)]
    o: OpsArgs,
}

/// `ops` on SQLite, commit durability, several boards and cards: every acknowledged op is in
/// the store exactly once and nothing was refused.
#[tokio::test]
async fn ops_boardroom_sqlite_commit() {
    let Some(bin) = boardroom_bin() else {
        eprintln!("skipping boardroom: not available here");
        return;
    };
    let port = servers::free_port().expect("a free port");
    let port_s = port.to_string();
    let bin_s = bin.display().to_string();
    let args = OpsCli::parse_from([
        "smoke",
        "--store",
        "sqlite",
        "--durability",
        "commit",
        "--writers",
        "3",
        "--window",
        "4",
        "--boards",
        "2",
        "--cards",
        "2",
        "--seconds",
        "1",
        "--warmup-secs",
        "0.2",
        "--drain-secs",
        "5",
        "--boardroom-bin",
        &bin_s,
        "--port-base",
        &port_s,
    ])
    .o;
    let r = ops::run_one(&args, &login("http://unused"), None, 0)
        .await
        .expect("ops runs");
    assert!(r.errors.is_empty(), "{r:?}");
    assert!(r.acked_total >= 20, "{r:?}");
    assert_eq!(r.acked_in_store, Some(r.acked_total), "{r:?}");
    assert_eq!(r.missing, Some(0), "{r:?}");
    assert_eq!(r.duplicates, Some(0), "{r:?}");
    // The server's own counters saw the commits, and `ok` came after them.
    assert!(r.committed_per_sec.is_some_and(|c| c > 0.0), "{r:?}");
    assert!(r.durable_latency.is_some(), "{r:?}");
}

/// `--urls`: the workers go to the nodes in turn (process k to node k mod N) and the RSS is
/// read per node. Two bare peers stand in for two nodes (no login needed).
#[tokio::test]
async fn connect_over_several_urls() {
    let (Some(a), Some(b)) = (start(ServerKind::Bare).await, start(ServerKind::Bare).await) else {
        return;
    };
    let urls = format!("{},{}", a.url, b.url);
    let pids = format!("{},{}", a.pid(), b.pid());
    let mut args = Con::parse_from([
        "smoke",
        "--server",
        "bare",
        "--connections",
        "30",
        "--processes",
        "3",
        "--hold-secs",
        "0.5",
        "--urls",
        &urls,
        "--server-pids",
        &pids,
    ])
    .c;
    args.worker_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_boardroom-loadtest")));
    let r = connect::run(&args, &login("http://127.0.0.1:1"))
        .await
        .expect("connect runs");
    assert_eq!(r.connected, 30, "{r:?}");
    assert_eq!(r.still_open, 30, "{r:?}");
    assert_eq!(r.nodes.len(), 2, "{r:?}");
    // 3 processes of 10: two go to the first node, one to the second.
    assert_eq!(r.nodes[0].url, a.url, "{r:?}");
    assert_eq!(r.nodes[0].connected, 20, "{r:?}");
    assert_eq!(r.nodes[1].connected, 10, "{r:?}");
    assert!(r.nodes.iter().all(|n| n.rss_after_mib.is_some()), "{r:?}");
    assert!(r.server_rss_after_mib.is_some(), "{r:?}");
}

#[tokio::test]
async fn overload_boardroom() {
    let Some(server) = start(ServerKind::Boardroom).await else {
        return;
    };
    let args = Over::parse_from([
        "smoke",
        "--boardroom-url",
        &server.url,
        "--boardroom-pid",
        &server.pid().to_string(),
        "--rates",
        "40,20",
        "--factor",
        "2",
        "--rounds",
        "1",
        "--pause-secs",
        "0.2",
        "--boards",
        "1",
        "--subscribers",
        "4",
        "--publishers",
        "1",
        "--seconds",
        "1",
        "--drain-secs",
        "5",
        // What "kept up" means for latency is a benchmark's setting; here it is set far out
        // of reach so that the test checks the search and the overload run, not this
        // machine's speed (its default, 50 ms, was missed at 20 ops/s on a loaded box).
        "--sustained-p99-ms",
        "5000",
        "--quiet",
    ])
    .o;
    let r = overload::run(&args, &login(&server.url))
        .await
        .expect("overload runs");
    assert_eq!(r.rounds.len(), 1, "{r:?}");
    let round = &r.rounds[0];
    // The search tries the rates in ascending order. Both keep up on an idle machine; on a
    // loaded one a 1 s window at 40 ops/s can miss the 98 % bar, so either may be the
    // maximum: what is checked is that the overload run offers `factor` times it.
    assert_eq!(round.search.len(), 2, "{r:?}");
    assert_eq!(round.search[0].rate_ops, 20.0, "{r:?}");
    let max = round.max_rate_ops.expect("20 ops/s keeps up");
    assert!(max == 20.0 || max == 40.0, "{r:?}");
    assert_eq!(round.overload.rate_ops, 2.0 * max, "{r:?}");
    assert!(
        round.overload.ops_sent as f64 >= 0.85 * round.overload.rate_ops,
        "{r:?}"
    );
    // Nothing applied is lost, and every op is either applied or refused with a reason.
    assert_eq!(round.lost, 0, "{r:?}");
    assert!(round.other_errors.is_empty(), "{r:?}");
    assert_eq!(
        round.overload.ops_acked + round.unavailable + round.rate_limited,
        round.overload.ops_sent,
        "{r:?}"
    );
}
