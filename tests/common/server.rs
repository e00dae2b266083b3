//! `boardroom serve` as a child process a test owns, and the org/member a test starts from.

use super::*;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

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

    /// Ends the login `t`: `POST /api/v1/auth/logout` with its access token, spending its
    /// refresh token.
    pub async fn logout(&self, t: &Tokens) -> (u16, Value) {
        self.api().with_token(&t.access).logout(&t.refresh).await
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
    org.create("boards", body).await
}

pub(crate) fn slug(s: &str) -> String {
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

/// The body of `POST /api/v1/orgs/{org}/members`: a new member with [`PASSWORD`].
pub fn member_body(email: &str, name: &str, role: &str) -> Value {
    json!({"email": email, "name": name, "password": PASSWORD, "role": role})
}

/// Creates a member with `role` through the API (as `by`, an owner or admin) and logs them in.
pub async fn add_member(server: &TestServer, by: &Api, org: &str, role: &str) -> Member {
    let email = unique_email(role);
    let (s, body) = by
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            member_body(&email, &format!("A {role}"), role),
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

/// A user of `org` with the customer role (added by `by`, an owner or admin, and logged in) and
/// the customer named `name` linked to them: a customer who signs in to follow their jobs.
pub async fn linked_customer(
    server: &TestServer,
    by: &Api,
    org: &str,
    name: &str,
) -> (Member, Value) {
    let user = add_member(server, by, org, "customer").await;
    let customer = by
        .post_created(
            &format!("/api/v1/orgs/{org}/customers"),
            json!({"name": name, "user_id": user.id}),
        )
        .await;
    (user, customer)
}
