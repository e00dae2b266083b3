//! Smoke runs of the multi-node scenarios, `cluster` and `failover`, through the real
//! `boardroom-loadtest` binary: it starts real Boardroom nodes on a fresh Postgres database
//! and the test Redis (`scripts/test` provides both: `BOARDROOM_TEST_DATABASE_URL`,
//! `BOARDROOM_TEST_REDIS_URL`). Tiny sizes; asserts correctness (nothing lost or duplicated,
//! every acknowledged op applied once), never speed.
//!
//! Skipped, with a note, only when the Boardroom binary has not been built next to this test
//! (`scripts/test` and `cargo test --workspace` build it).

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use uuid::Uuid;

fn boardroom_bin() -> Option<PathBuf> {
    // target/<profile>/deps/cluster_smoke-… -> target/<profile>/boardroom
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("boardroom");
    bin.exists().then_some(bin)
}

fn admin_url() -> String {
    std::env::var("BOARDROOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("BOARDROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh database on the test server, dropped again by [`Db::drop_now`].
struct Db {
    name: String,
    url: String,
}

impl Db {
    async fn create() -> Db {
        use sqlx::Connection;
        let admin = admin_url();
        let name = format!("br_lt_{}", Uuid::now_v7().simple());
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .expect("the test Postgres (run the suite with scripts/test)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Db {
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_now(self) {
        use sqlx::Connection;
        if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c)
            .await;
        }
    }
}

/// A base port whose next `n` ports are free now (node i listens on base + i).
fn free_base(n: u16) -> u16 {
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = l.local_addr().expect("addr").port();
        drop(l);
        if base > u16::MAX - n - 1 {
            continue;
        }
        if (1..=n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} free consecutive ports");
}

fn loadtest(args: &[&str], dir: &Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_boardroom-loadtest"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("boardroom-loadtest runs");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one JSON result `--out` wrote into `dir`.
fn result_in(dir: &Path, prefix: &str) -> Value {
    let file = std::fs::read_dir(dir)
        .expect("out dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .expect("a JSON result");
    serde_json::from_slice(&std::fs::read(&file).expect("read result")).expect("JSON")
}

/// Runs `loadtest <scenario>` on a fresh database, the test Redis and `nodes` free ports, in a
/// fresh directory (`out/` and `logs/` in it), then drops the database; it must succeed.
/// `args`: the scenario's own options, as on a command line. Returns its JSON result and the
/// directory; `None` when there is no boardroom binary to run.
async fn run_scenario(scenario: &str, nodes: u16, args: &str) -> Option<(Value, PathBuf)> {
    let Some(bin) = boardroom_bin() else {
        eprintln!("skipping: no boardroom binary next to this test");
        return None;
    };
    let db = Db::create().await;
    let dir = std::env::temp_dir().join(format!("br-lt-{scenario}-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (bin, redis, base) = (
        bin.to_string_lossy(),
        redis_url(),
        free_base(nodes).to_string(),
    );
    let mut all = vec![
        scenario,
        "--server-bin",
        &bin,
        "--database-url",
        &db.url,
        "--redis-url",
        &redis,
        "--base-port",
        &base,
    ];
    all.extend(args.split_whitespace());
    all.extend_from_slice(&["--out", "out", "--logs", "logs"]);
    let out = loadtest(&all, &dir);
    db.drop_now().await;
    assert!(out.status.success(), "{scenario} scenario failed");
    let result = result_in(&dir.join("out"), &format!("{scenario}-"));
    Some((result, dir))
}

#[tokio::test]
async fn cluster_scenario_spreads_subscribers_over_two_nodes() {
    let args = "--nodes 2 --subscribers 8 --rate 20 --seconds 1";
    let Some((r, dir)) = run_scenario("cluster", 2, args).await else {
        return;
    };
    assert_eq!(r["nodes"], 2, "{r}");
    assert_eq!(r["ops_acked"], 20, "{r}");
    assert_eq!(r["deliveries"], 160, "{r}");
    assert_eq!(r["missing"], 0, "{r}");
    assert_eq!(r["duplicates"], 0, "{r}");
    assert_eq!(r["owner"], "n1", "{r}");
    // Half the subscribers are on n2: their events crossed Redis.
    assert_eq!(r["other_nodes"]["count"], 80, "{r}");
    assert_eq!(r["same_node"]["count"], 80, "{r}");
    let md = std::fs::read_to_string(dir.join("out/results.md")).expect("results.md");
    assert!(md.contains("| 2 | 8 | 20 | commit |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn failover_scenario_loses_no_acknowledged_op() {
    let args = "--runs 1 --warmup-ms 500 --jitter-ms 1 --after-ms 300";
    let Some((r, dir)) = run_scenario("failover", 3, args).await else {
        return;
    };
    assert_eq!(r["all_exactly_once"], true, "{r}");
    let run = &r["runs"][0];
    assert_eq!(run["acked_not_applied"], 0, "{r}");
    assert_eq!(run["written_twice"], 0, "{r}");
    assert!(run["new_epoch"].as_i64() > run["old_epoch"].as_i64(), "{r}");
    assert!(run["ops_acked"].as_u64().is_some_and(|n| n > 0), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}
