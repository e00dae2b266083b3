//! Starting the servers under test for `compare` (and `connect --spawn`): Boardroom's release
//! binary on SQLite in a fresh temporary directory, the bare peer, the Socket.IO peer; each
//! optionally pinned to chosen CPUs with `taskset`, each stopped (by its own pid) when dropped.
//! Pin the load generator itself by starting it under `taskset -c 1 …`, so that its runtime
//! sizes itself to the CPUs it has.

use crate::client::{wait_for_port, ServerKind};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct SpawnArgs {
    /// Pin the servers started here to these CPUs (`taskset -c` list, e.g. `0`).
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// The Boardroom binary (default: `boardroom` next to this executable).
    #[arg(long)]
    pub boardroom_bin: Option<PathBuf>,
    /// The bare peer binary (default: `bare-peer` next to this executable).
    #[arg(long)]
    pub bare_bin: Option<PathBuf>,
    /// The Socket.IO peer's directory (with `node_modules`, from `npm ci`).
    #[arg(long)]
    pub socketio_dir: Option<PathBuf>,
    #[arg(long, default_value = "node")]
    pub node: String,
    /// Ports: Boardroom on this one, the bare peer on +1, Socket.IO on +2.
    #[arg(long, default_value_t = 18090)]
    pub port_base: u16,
    /// Extra `KEY=VALUE` environment for the Boardroom started here (repeatable).
    #[arg(long = "boardroom-env")]
    pub boardroom_env: Vec<String>,
}

/// A server process we started.
pub struct Spawned {
    pub kind: ServerKind,
    pub url: String,
    child: Child,
    dir: Option<PathBuf>,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory the server runs in (Boardroom's SQLite file is there).
    pub fn data_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // SIGKILL to our own child only; it owns no state worth a graceful stop here.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn beside_me(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join(name);
    p.exists().then_some(p)
}

fn temp_dir(tag: &str) -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "boardroom-loadtest-{tag}-{}-{}",
        std::process::id(),
        crate::stats::now_us()
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn command(cpus: &Option<String>, program: &Path) -> Command {
    match cpus {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// The environment a benchmarked Boardroom runs with: its own SQLite file, the chosen
/// durability, and op rate limits out of the way (they would otherwise cap the publishers).
pub fn boardroom_env(
    a: &SpawnArgs,
    durability: &str,
    port: u16,
    data_dir: &Path,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("BOARDROOM_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("BOARDROOM_DATA_DIR".into(), data_dir.display().to_string()),
        ("BOARDROOM_DATABASE_URL".into(), String::new()),
        ("BOARDROOM_BROKER".into(), "memory".into()),
        ("BOARDROOM_DURABILITY".into(), durability.to_string()),
        (
            "BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CONNECTION".into(),
            "1000000".into(),
        ),
        (
            "BOARDROOM_LIMITS__OPS_BURST_PER_CONNECTION".into(),
            "1000000".into(),
        ),
        (
            "BOARDROOM_LIMITS__HTTP_OPS_PER_SECOND_PER_CREDENTIAL".into(),
            "1000000".into(),
        ),
        (
            "BOARDROOM_LIMITS__HTTP_OPS_BURST_PER_CREDENTIAL".into(),
            "1000000".into(),
        ),
        // The presence path publishes presence.set at the offered rate, far above what one
        // user may send by default.
        (
            "BOARDROOM_REALTIME__PRESENCE_SETS_PER_SECOND".into(),
            "1000000".into(),
        ),
        (
            "BOARDROOM_REALTIME__PRESENCE_BURST".into(),
            "1000000".into(),
        ),
    ];
    for kv in &a.boardroom_env {
        if let Some((k, v)) = kv.split_once('=') {
            env.push((k.to_string(), v.to_string()));
        }
    }
    env
}

/// The port a server kind gets from `--port-base`.
pub fn default_port(kind: ServerKind, a: &SpawnArgs) -> u16 {
    match kind {
        ServerKind::Boardroom => a.port_base,
        ServerKind::Bare => a.port_base + 1,
        ServerKind::Socketio => a.port_base + 2,
    }
}

/// A port nobody listens on right now (tests).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts one server on its default port and waits until it answers; `durability` is
/// Boardroom's setting.
pub async fn spawn(kind: ServerKind, a: &SpawnArgs, durability: &str) -> Result<Spawned> {
    spawn_on(kind, a, durability, default_port(kind, a)).await
}

/// Starts one server on `port` and waits until it answers.
pub async fn spawn_on(
    kind: ServerKind,
    a: &SpawnArgs,
    durability: &str,
    port: u16,
) -> Result<Spawned> {
    let dir = temp_dir(kind.name())?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = match kind {
        ServerKind::Boardroom => {
            let bin = a
                .boardroom_bin
                .clone()
                .or_else(|| beside_me("boardroom"))
                .context(
                    "no boardroom binary: build it (cargo build --release) or pass --boardroom-bin",
                )?;
            let mut cmd = command(&a.server_cpus, &bin);
            cmd.arg("serve").current_dir(&dir);
            for (k, v) in boardroom_env(a, durability, port, &dir) {
                cmd.env(k, v);
            }
            cmd
        }
        ServerKind::Bare => {
            let bin = a
                .bare_bin
                .clone()
                .or_else(|| beside_me("bare-peer"))
                .context("no bare-peer binary: build it or pass --bare-bin")?;
            let mut cmd = command(&a.server_cpus, &bin);
            cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
            cmd
        }
        ServerKind::Socketio => {
            let sdir = a.socketio_dir.clone().unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/socketio")
            });
            // Absolute: the peer runs with its directory as working directory.
            let sdir = std::path::absolute(&sdir)?;
            if !sdir.join("node_modules").exists() {
                bail!(
                    "{} has no node_modules: run `npm install` there first",
                    sdir.display()
                );
            }
            let node = which(&a.node).unwrap_or_else(|| PathBuf::from(&a.node));
            let mut cmd = command(&a.server_cpus, &node);
            cmd.arg(sdir.join("server.js"))
                .arg("--port")
                .arg(port.to_string())
                .current_dir(&sdir);
            cmd
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", kind.name()))?;
    let url = format!("http://127.0.0.1:{port}");
    let s = Spawned {
        kind,
        url: url.clone(),
        child,
        dir: Some(dir.clone()),
    };
    let ready = async {
        match kind {
            ServerKind::Boardroom => {
                wait_http(&format!("{url}/readyz"), Duration::from_secs(60)).await
            }
            ServerKind::Socketio => {
                wait_http(&format!("{url}/healthz"), Duration::from_secs(30)).await
            }
            ServerKind::Bare => wait_for_port(&url, Duration::from_secs(30)).await,
        }
    };
    if let Err(e) = ready.await {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        bail!("{} did not come up: {e}\n{log}", kind.name());
    }
    eprintln!(
        "started {} (pid {}) on {url}{}",
        kind.name(),
        s.pid(),
        a.server_cpus
            .as_ref()
            .map(|c| format!(", CPUs {c}"))
            .unwrap_or_default()
    );
    Ok(s)
}

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.exists())
    })
}

async fn wait_http(url: &str, timeout: Duration) -> Result<()> {
    let http = reqwest::Client::new();
    let until = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > until {
            bail!("{url} did not answer 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
