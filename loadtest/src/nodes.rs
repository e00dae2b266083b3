//! Throwaway Boardroom clusters for `cluster` and `failover`: N server processes sharing one
//! Postgres database and one Redis, each under a fresh key prefix so that runs never see each
//! other's leases, and stopped (SIGTERM, then SIGKILL) when the [`Cluster`] is dropped.

use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args, Clone, Debug)]
pub struct NodesArgs {
    /// The server binary the nodes run.
    #[arg(long, default_value = "target/release/boardroom")]
    pub server_bin: PathBuf,
    /// Postgres database the nodes share (it must exist; the nodes apply the migrations).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/boardroom")]
    pub database_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Node i (1-based) listens on 127.0.0.1:<base-port + i>.
    #[arg(long, default_value_t = 8180)]
    pub base_port: u16,
    /// Folder for the nodes' logs.
    #[arg(long, default_value = "loadtest-logs")]
    pub logs: PathBuf,
}

pub struct Node {
    pub id: String,
    pub base: String,
    pub child: Child,
}

impl Node {
    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Cluster {
    /// `None` once a node was taken out (killed) by the scenario.
    pub nodes: Vec<Option<Node>>,
}

impl Cluster {
    /// Base URL of node `i` (0-based), while it runs.
    pub fn base(&self, i: usize) -> Result<String> {
        self.nodes
            .get(i)
            .and_then(Option::as_ref)
            .map(|n| n.base.clone())
            .with_context(|| format!("node {} is not running", i + 1))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            n.stop();
        }
    }
}

/// A fresh random secret (two v7 uuids carry 148 random bits), for throwaway nodes.
pub fn secret() -> String {
    format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple())
}

/// A key prefix no earlier run used.
pub fn fresh_prefix(tag: &str) -> String {
    format!("{tag}-{}:", &Uuid::now_v7().simple().to_string()[20..])
}

/// Creates an organization with a fresh owner through the server's `create-org` command;
/// returns the owner's email and password.
pub fn create_org(a: &NodesArgs, name: &str) -> Result<(String, String)> {
    ensure!(
        a.server_bin.exists(),
        "no server binary at {} (--server-bin)",
        a.server_bin.display()
    );
    let email = format!("bench-{}@bench.test", Uuid::now_v7().simple());
    let password = "loadtest-bench-1".to_string();
    let out = Command::new(&a.server_bin)
        .args(["create-org", "--name", name])
        .args(["--owner-email", &email, "--owner-password", &password])
        .env("BOARDROOM_DATABASE_URL", &a.database_url)
        .env("BOARDROOM_JWT_SECRET", secret())
        .output()?;
    ensure!(
        out.status.success(),
        "create-org failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((email, password))
}

/// Starts `count` nodes n1..n<count> and waits until each answers `/readyz`.
///
/// Every node gets the same `secret` (a token issued by one is accepted by all) and
/// `prefix`, plus `extra` environment variables (durability, limits).
pub async fn start(
    a: &NodesArgs,
    count: usize,
    run_tag: &str,
    secret: &str,
    prefix: &str,
    extra: &[(&str, String)],
) -> Result<Cluster> {
    std::fs::create_dir_all(&a.logs)?;
    let mut cluster = Cluster { nodes: Vec::new() };
    for i in 1..=count {
        let id = format!("n{i}");
        let port = a.base_port as usize + i;
        ensure!(port <= u16::MAX as usize, "--base-port too high");
        let log = std::fs::File::create(a.logs.join(format!("{run_tag}-{id}.log")))?;
        let child = Command::new(&a.server_bin)
            .arg("serve")
            .env("BOARDROOM_DATABASE_URL", &a.database_url)
            .env("BOARDROOM_BROKER", "redis")
            .env("BOARDROOM_REDIS_URL", &a.redis_url)
            .env("BOARDROOM_JWT_SECRET", secret)
            .env("BOARDROOM_CLUSTER__KEY_PREFIX", prefix)
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BOARDROOM_NODE_ID", &id)
            .env("BOARDROOM_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", a.server_bin.display()))?;
        cluster.nodes.push(Some(Node {
            id,
            base: format!("http://127.0.0.1:{port}"),
            child,
        }));
    }
    let http = reqwest::Client::new();
    for node in cluster.nodes.iter_mut().flatten() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                bail!(
                    "{} exited at start ({status}); see {}",
                    node.id,
                    a.logs.display()
                );
            }
            let ready = http.get(format!("{}/readyz", node.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready after 30 s",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(cluster)
}
