//! Harness for integration tests that run the real `boardroom` binary against Postgres.
//!
//! - [`fresh_pg_url`]: a new, empty database per test (so tests run in parallel, in any order).
//! - [`TestServer`]: `boardroom serve` on a free port, logging to `target/test-logs/`, killed on
//!   drop.
//! - [`create_org`]: `boardroom create-org`, as an operator would run it.
//! - [`Api`]: a small JSON client; [`login`] and friends.
//!
//! The admin database comes from `BOARDROOM_TEST_DATABASE_URL` (set by `scripts/test`), else
//! `postgres://postgres@127.0.0.1:5432/test`.
#![allow(dead_code)]

mod both_stores;
mod own_redis;
mod sse;
mod steps;
pub mod ws;

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use own_redis::OwnRedis;
#[allow(unused_imports)]
pub use sse::*;
#[allow(unused_imports)]
pub use steps::*;

use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const DEFAULT_ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A password every test user gets unless the test is about passwords.
pub const PASSWORD: &str = "correct horse battery staple";

// ------------------------------------------------------------------------------------------
// Databases
// ------------------------------------------------------------------------------------------

pub fn admin_db_url() -> String {
    std::env::var("BOARDROOM_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_DB.to_string())
}

/// `url` with its database name replaced by `db` (query parameters are kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates an empty database `br_t_<uuid>` and returns its URL. The first call in a test
/// process also drops test databases left behind by earlier runs (older than 2 minutes and
/// unused) and server logs older than a day.
pub async fn fresh_pg_url() -> String {
    use sqlx::Connection;
    let admin = admin_db_url();
    let mut conn = connect_admin(&admin).await;
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| spawn_sweep(admin.clone()));

    let name = format!("br_t_{}", Uuid::now_v7().simple());
    let sql = format!("CREATE DATABASE \"{name}\"");
    let mut attempt = 0;
    loop {
        match sqlx::raw_sql(&sql).execute(&mut conn).await {
            Ok(_) => break,
            // Concurrent CREATE DATABASE from template1 can collide; it clears up at once.
            Err(e) if attempt < 10 => {
                attempt += 1;
                eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => panic!("cannot create test database {name} on {admin}: {e}"),
        }
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

async fn connect_admin(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut last = None;
    for _ in 0..5 {
        match sqlx::PgConnection::connect(admin).await {
            Ok(c) => return c,
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!(
        "cannot connect to the test Postgres at {admin}: {} \
         (run the suite with scripts/test, or set BOARDROOM_TEST_DATABASE_URL)",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

/// Drops `br_t_*` databases from earlier runs: UUIDv7 names carry their creation time. Only
/// ones older than 2 minutes (a test connects to its database within seconds of making it),
/// and never with force, so a database some test still uses (its DROP fails while connected)
/// is left alone.
fn spawn_sweep(admin: String) {
    std::thread::spawn(move || {
        if let Ok(entries) = std::fs::read_dir(log_dir()) {
            let day = Duration::from_secs(24 * 3600);
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > day);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use sqlx::Connection;
            let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
                return;
            };
            let names: Vec<(String,)> =
                sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'br\\_t\\_%'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            for (name,) in names {
                let Ok(id) = Uuid::parse_str(&name["br_t_".len()..]) else {
                    continue;
                };
                let Some(ts) = id.get_timestamp() else {
                    continue;
                };
                let (secs, _) = ts.to_unix();
                if now.saturating_sub(secs) > 120 {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                        .execute(&mut conn)
                        .await;
                }
            }
        });
    });
}

/// Runs one SQL query on a test database and returns the first column of the first row as
/// i64 (for "nothing changed" checks where the API has no listing).
pub async fn sql_count(db_url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db_url)
        .await
        .expect("connect to test database");
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.expect(sql);
    let _ = conn.close().await;
    n
}

// ------------------------------------------------------------------------------------------
// The binary
// ------------------------------------------------------------------------------------------

/// The server binary: the one cargo built for this test, or `$BOARDROOM_TEST_SERVER_BIN` (how
/// `scripts/faults --release` runs the fault scenarios against a release build).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("BOARDROOM_TEST_SERVER_BIN")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_boardroom").to_string())
    })
}

/// `target/` (or wherever `CARGO_TARGET_DIR` put the binary): `<target>/<profile>/boardroom`.
fn target_dir() -> PathBuf {
    let exe = Path::new(bin());
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

pub fn log_dir() -> PathBuf {
    let d = target_dir().join("test-logs");
    std::fs::create_dir_all(&d).expect("create target/test-logs");
    d
}

/// A name for this test's files: the test binary and the test (libtest names the thread
/// after the test).
fn test_label() -> String {
    let exe = std::env::current_exe().ok();
    let bin = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .map(|s| s.rsplit_once('-').map(|(a, _)| a).unwrap_or(s).to_string())
        .unwrap_or_else(|| "test".into());
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("main").replace("::", "-");
    format!("{bin}-{test}")
}

fn random_secret(n: usize) -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A command for the binary with a clean `BOARDROOM_*` environment (only the test runner's
/// `BOARDROOM_TEST_*` pass through), so settings of the developer's shell cannot leak in.
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("BOARDROOM_") && !k.starts_with("BOARDROOM_TEST_") {
                cmd.env_remove(k);
            }
        }
    }
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

/// Runs `boardroom <args>` against `db_url` and returns its output.
pub fn run_cli(db_url: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .args(args)
        .env("BOARDROOM_DATABASE_URL", db_url)
        .env("BOARDROOM_JWT_SECRET", random_secret(48))
        .env("BOARDROOM_DEV_MODE", "false")
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin()))
}

/// `boardroom create-org --name N --owner-email E --owner-password P`: returns
/// `(org_id, user_id)` from the JSON line it prints.
#[track_caller]
pub fn create_org(db_url: &str, name: &str, email: &str, password: &str) -> (String, String) {
    create_org_with(
        db_url,
        &[
            "--name",
            name,
            "--owner-email",
            email,
            "--owner-password",
            password,
        ],
    )
}

#[track_caller]
pub fn create_org_with(db_url: &str, args: &[&str]) -> (String, String) {
    let mut full = vec!["create-org"];
    full.extend_from_slice(args);
    let out = run_cli(db_url, &full, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boardroom {full:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let parsed = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v.get("org_id").is_some())
        .unwrap_or_else(|| {
            panic!("boardroom create-org printed no {{\"org_id\",\"user_id\"}} line:\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
    let org = text_of(&parsed, "org_id");
    let user = text_of(&parsed, "user_id");
    assert_uuid(&json!(org));
    assert_uuid(&json!(user));
    (org, user)
}

// ------------------------------------------------------------------------------------------
// The server
// ------------------------------------------------------------------------------------------

pub struct TestServer {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub db_url: String,
    /// The HS256 secret the server signs access tokens with (to forge tokens in tests).
    pub jwt_secret: String,
    pub log_path: PathBuf,
    child: Child,
    _workdir: tempfile::TempDir,
}

static SERVERS: AtomicUsize = AtomicUsize::new(0);

impl TestServer {
    /// `boardroom serve` on `db_url`; waits until `GET /healthz` answers 200 (at most 30 s).
    /// `extra_env` is applied last, so it overrides the defaults below.
    pub async fn start(db_url: &str, extra_env: &[(&str, &str)]) -> TestServer {
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start(Some(db_url), extra_env).await {
                Ok(s) => return s,
                // Another process took the port between our probe and the server's bind.
                Err((msg, true)) => last_err = msg,
                Err((msg, false)) => panic!("{msg}"),
            }
        }
        panic!("{last_err}")
    }

    /// `boardroom serve` with none of the test defaults of [`TestServer::start`]: no database
    /// URL, secret or dev-mode setting, only a free port on 127.0.0.1, JSON logs and
    /// `extra_env` (where `{port}` in a value becomes the chosen port, as in
    /// `BOARDROOM_LISTEN=0.0.0.0:{port}`). For tests of what the defaults do.
    pub async fn start_bare(extra_env: &[(&str, &str)]) -> TestServer {
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start(None, extra_env).await {
                Ok(s) => return s,
                Err((msg, true)) => last_err = msg,
                Err((msg, false)) => panic!("{msg}"),
            }
        }
        panic!("{last_err}")
    }

    async fn try_start(
        db_url: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> Result<TestServer, (String, bool)> {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let base = format!("http://{listen}");
        let jwt_secret = random_secret(48);
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let log_path = log_dir().join(format!("{}-{}-{}.log", test_label(), std::process::id(), n));
        let log = File::create(&log_path).expect("create server log file");
        let workdir = tempfile::tempdir().expect("temp dir");

        let mut cmd = command();
        cmd.current_dir(workdir.path())
            .arg("serve")
            .env("BOARDROOM_LISTEN", &listen)
            .env("BOARDROOM_LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        let jwt_secret = match db_url {
            Some(db_url) => {
                cmd.env("BOARDROOM_DATABASE_URL", db_url)
                    .env("BOARDROOM_JWT_SECRET", &jwt_secret)
                    .env("BOARDROOM_DEV_MODE", "false")
                    .env("BOARDROOM_DATABASE_MAX_CONNECTIONS", "5");
                jwt_secret
            }
            None => String::new(),
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("dup log file")))
            .stderr(Stdio::from(log));
        // The debug endpoints exist only in dev mode (the server refuses them otherwise); a
        // test that asks for them gets dev mode without the demo seed.
        if extra_env
            .iter()
            .any(|(k, v)| *k == "BOARDROOM_REALTIME__DEBUG_ENDPOINTS" && *v == "true")
        {
            cmd.env("BOARDROOM_DEV_MODE", "true")
                .env("BOARDROOM_DEMO_SEED", "false");
        }
        for (k, v) in extra_env {
            cmd.env(k, v.replace("{port}", &port.to_string()));
        }
        let child = cmd
            .spawn()
            .map_err(|e| (format!("cannot spawn {}: {e}", bin()), false))?;
        let mut server = TestServer {
            base,
            db_url: db_url.unwrap_or_default().to_string(),
            jwt_secret,
            log_path,
            child,
            _workdir: workdir,
        };

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let tail = server.log_tail(60);
                let port_taken = tail.contains("in use");
                return Err((
                    format!(
                        "boardroom serve exited during start-up ({status}); log: {}\n{tail}",
                        server.log_path.display()
                    ),
                    port_taken,
                ));
            }
            if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
                if res.status().as_u16() == 200 {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                let tail = server.log_tail(60);
                return Err((
                    format!(
                        "boardroom serve did not answer GET /healthz with 200 within 30 s; log: {}\n{tail}",
                        server.log_path.display()
                    ),
                    false,
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let Ok(f) = File::open(&self.log_path) else {
            return String::new();
        };
        let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The embedded default: no database URL (SQLite under `data_dir`), dev mode, demo seed.
    pub async fn start_embedded(data_dir: &str) -> TestServer {
        TestServer::start(
            "",
            &[
                ("BOARDROOM_DATA_DIR", data_dir),
                ("BOARDROOM_DEV_MODE", "true"),
            ],
        )
        .await
    }

    /// Sends SIGTERM and waits (at most 30 s) for the server to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.sigterm();
        self.wait_exit()
    }

    /// Sends SIGTERM without waiting (for tests that act while the server shuts down).
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
    }

    /// The exit status, if the server has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits (at most 30 s) for the server to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within 30 s; log: {}",
                self.log_path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` the server (no shutdown, no flush), then start a new one on the same database.
    pub async fn kill9_and_restart(mut self) -> TestServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let db = self.db_url.clone();
        drop(self);
        TestServer::start(&db, &[]).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no shutdown, no flush, no lease released.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`STOP`, `CONT`, ...).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} failed");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client without credentials.
    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    /// Logs in and returns a client that sends the access token.
    pub async fn login(&self, email: &str, password: &str) -> Api {
        let t = login(&self.base, email, password).await;
        self.api().with_token(&t.access)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("server log: {}", self.log_path.display());
        }
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Runs `cmd` (stdout discarded) until it exits, at most `wait`: its status and stderr, or
/// `None` when it was still running (it is killed then). For commands that must refuse to
/// start.
pub fn exit_within(
    cmd: &mut Command,
    wait: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin()));
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Some((status, err))
}

/// A new org on `server`'s database, with an owner, and a client logged in as the owner.
pub struct Org {
    pub id: String,
    pub owner_id: String,
    pub owner_email: String,
    pub owner: Api,
}

pub async fn new_org(server: &TestServer, name: &str) -> Org {
    let email = unique_email(&format!("owner-{}", slug(name)));
    let (id, owner_id) = create_org(&server.db_url, name, &email, PASSWORD);
    let owner = server.login(&email, PASSWORD).await;
    Org {
        id,
        owner_id,
        owner_email: email,
        owner,
    }
}

/// `POST /api/v1/orgs/{org}/boards` as the owner with `body` (`{"name", "template"?}`);
/// panics unless 201. Returns the board.
pub async fn new_board(org: &Org, body: Value) -> Value {
    let (s, board) = org
        .owner
        .post(&format!("/api/v1/orgs/{}/boards", org.id), body)
        .await;
    assert_eq!(s, 201, "creating a board failed: {board}");
    board
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

pub fn unique_email(prefix: &str) -> String {
    format!(
        "{prefix}-{}@example.test",
        &Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A member made through the API by `by` (owner or admin), logged in.
pub struct Member {
    pub id: String,
    pub email: String,
    pub api: Api,
    pub body: Value,
}

/// Creates a member with `role` through the API (as `by`, an owner or admin) and logs them in.
pub async fn add_member(server: &TestServer, by: &Api, org: &str, role: &str) -> Member {
    let email = unique_email(role);
    let (s, body) = by
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": email, "name": format!("A {role}"), "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(s, 201, "creating a {role} failed: {body}");
    let id = body["id"].as_str().expect("member id").to_string();
    let api = server.login(&email, PASSWORD).await;
    Member {
        id,
        email,
        api,
        body,
    }
}

// ------------------------------------------------------------------------------------------
// HTTP
// ------------------------------------------------------------------------------------------

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// `POST /api/v1/auth/login`; panics unless it answers 200 with both tokens.
pub async fn login(base: &str, email: &str, password: &str) -> Tokens {
    let (s, body) = Api::new(base)
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(s, 200, "login of {email} failed: {body}");
    Tokens {
        access: text_of(&body, "access_token"),
        refresh: text_of(&body, "refresh_token"),
        body,
    }
}

/// A whole response: status, headers and the body as JSON (`Null` when empty, a JSON string
/// holding the text when it is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn pair(self) -> (u16, Value) {
        (self.status, self.body)
    }
}

/// A JSON client for one server, optionally sending `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Self::built(base, reqwest::Client::builder())
    }

    /// A client whose connections come from `local` (any 127.x.y.z reaches a server on
    /// 127.0.0.1), so a test can be several client addresses.
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Api {
        Self::built(base, reqwest::Client::builder().local_address(local))
    }

    fn built(base: &str, client: reqwest::ClientBuilder) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: None,
            client: client
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn without_token(&self) -> Api {
        Api {
            token: None,
            ..self.clone()
        }
    }

    /// Any request; `body` is sent as JSON when given.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::finish(req).await
    }

    /// A request with a raw body (for malformed JSON and oversized bodies).
    pub async fn send_raw(&self, method: &str, path: &str, body: Vec<u8>) -> Resp {
        let req = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        Self::finish(req).await
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("http method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    async fn finish(req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("HTTP request failed");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("read HTTP body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await.pair()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await.pair()
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PATCH", path, Some(body)).await.pair()
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await.pair()
    }
}

// ------------------------------------------------------------------------------------------
// Assertions
// ------------------------------------------------------------------------------------------

/// Asserts an error answer `{"error":{"code","message","field"?}}` with this status and code;
/// returns the `error` object.
#[track_caller]
pub fn expect_error(got: &(u16, Value), status: u16, code: &str) -> Value {
    let (s, body) = got;
    assert_eq!(*s, status, "expected {status} {code}, got {s}: {body}");
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("error body lacks \"error\": {body}"));
    assert_eq!(err["code"], json!(code), "wrong error code in {body}");
    let msg = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without message: {body}"));
    assert!(!msg.trim().is_empty(), "empty error message: {body}");
    if let Some(f) = err.get("field") {
        assert!(
            f.is_string() || f.is_null(),
            "field must be a string: {body}"
        );
    }
    err.clone()
}

/// Asserts a 400 `bad_request` naming `field`.
#[track_caller]
pub fn expect_bad_field(got: &(u16, Value), field: &str) {
    let err = expect_error(got, 400, "bad_request");
    assert_eq!(
        err["field"],
        json!(field),
        "400 should name field {field:?}: {}",
        got.1
    );
}

#[track_caller]
pub fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s}"));
}

#[track_caller]
pub fn assert_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp string: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|_| panic!("not RFC 3339: {s}"))
        .with_timezone(&chrono::Utc)
}

/// The ids of the objects in `body[key]` (a list answer like `{"members":[…]}`).
#[track_caller]
pub fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("expected {{\"{key}\":[…]}}, got {body}"))
        .iter()
        .map(|o| {
            o["id"]
                .as_str()
                .unwrap_or_else(|| panic!("object without id: {o}"))
                .to_string()
        })
        .collect()
}

/// A random UUID, for paths that name something that does not exist.
pub fn random_id() -> String {
    Uuid::new_v4().to_string()
}

// ------------------------------------------------------------------------------------------
// Cards
// ------------------------------------------------------------------------------------------

/// Makes a card in the first column of `board` (a board object as the API returns it), through
/// `POST /api/v1/boards/{board}/ops` (`card.create`). Returns the card id.
/// Creates a board in `org` through the API (`body`: `{name, template?}`); returns it.
pub async fn create_board(api: &Api, org: &str, body: Value) -> Value {
    let (s, board) = api.post(&format!("/api/v1/orgs/{org}/boards"), body).await;
    assert_eq!(s, 201, "creating a board failed: {board}");
    board
}

pub async fn create_card(api: &Api, board: &Value, title: &str) -> String {
    let board_id = board["id"].as_str().expect("board id");
    let column_id = board["columns"][0]["id"]
        .as_str()
        .expect("board has a column");
    let (s, body) = api
        .post(
            &format!("/api/v1/boards/{board_id}/ops"),
            json!({
                "op_id": Uuid::now_v7(),
                "kind": "card.create",
                "data": {"column_id": column_id, "title": title, "after": null},
            }),
        )
        .await;
    assert_eq!(s, 200, "card.create failed: {body}");
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("card.create answered without id: {body}"))
        .to_string()
}

/// Asserts two JSON objects are the same resource state: equal fields, with `*_at` timestamps
/// compared as instants to the millisecond (a database may keep less precision than the
/// answer that created the row).
#[track_caller]
pub fn assert_same(a: &Value, b: &Value) {
    let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
        assert_eq!(a, b);
        return;
    };
    let mut ka: Vec<&String> = ma.keys().collect();
    let mut kb: Vec<&String> = mb.keys().collect();
    ka.sort();
    kb.sort();
    assert_eq!(ka, kb, "different fields:\n{a}\n{b}");
    for (k, va) in ma {
        let vb = &mb[k];
        if k.ends_with("_at") && va.is_string() && vb.is_string() {
            let (ta, tb) = (assert_time(va), assert_time(vb));
            assert!(
                (ta - tb).num_microseconds().unwrap_or(i64::MAX).abs() < 1000,
                "{k} differs: {va} vs {vb}"
            );
        } else {
            assert_eq!(va, vb, "{k} differs:\n{a}\n{b}");
        }
    }
}
