//! Security at the edge, against the real binary (issue 15 items 1, 2, 6; issue 14 items 4,
//! 5): what a default deployment exposes, revoked logins, the SSE and frame contracts, login
//! lockout, debug doors, and which client address per-IP limits see behind a proxy.

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

const LOGIN: &str = "/api/v1/auth/login";
const ME: &str = "/api/v1/me";
/// The secret older releases shipped in config.toml: public knowledge.
const PUBLISHED_SECRET: &str = "dev-only-insecure-secret-change-me";

/// An access token for `user` signed with `secret`, shaped like the server's own.
fn forge(secret: &str, user: &str) -> String {
    let n = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user, "iat": n, "exp": n + 600, "typ": "access"});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The `ENV` settings of the Dockerfile, so this test runs the binary the way the image does.
fn dockerfile_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("read Dockerfile");
    // Join continued lines, then read every `ENV K=V K=V` instruction.
    let joined = text.replace("\\\n", " ");
    let mut env = Vec::new();
    for line in joined.lines() {
        let Some(rest) = line.trim().strip_prefix("ENV ") else {
            continue;
        };
        for pair in rest.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV K=V");
            env.push((k.to_string(), v.trim_matches('"').to_string()));
        }
    }
    assert!(
        env.iter().any(|(k, _)| k == "BOARDROOM_LISTEN"),
        "the Dockerfile sets no BOARDROOM_LISTEN: {env:?}"
    );
    env
}

/// Production mode as a client sees it: `/healthz` offers no demo, and the demo's published
/// logins do not exist.
async fn assert_no_demo(server: &TestServer) {
    let (s, health) = server.api().get("/healthz").await;
    assert_eq!(s, 200);
    assert_eq!(
        health["demo"],
        json!(false),
        "no demo in production: {health}"
    );
    let api = server.api();
    let demo = api.login_attempt("owner@demo.boardroom", "boardroom-demo");
    let (s, body) = demo.await.pair();
    assert_eq!(s, 401, "the demo logins must not exist: {body}");
}

/// Two logins of `org`'s owner: two sessions of one user.
async fn logins(server: &TestServer, org: &Org) -> [Tokens; 2] {
    let email = &org.owner_email;
    [
        login(&server.base, email, PASSWORD).await,
        login(&server.base, email, PASSWORD).await,
    ]
}

async fn status_of_me(server: &TestServer, token: &str) -> (u16, Value) {
    server.api().with_token(token).get(ME).await
}

/// 15.1: the image's settings (listen on 0.0.0.0, embedded store, no secret) run production
/// mode: no demo logins, the published secret signs nothing, a generated secret is kept in
/// the data directory and survives a restart.
#[tokio::test]
async fn the_docker_image_settings_run_production_mode() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_string();
    let mut env: Vec<(String, String)> = dockerfile_env()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            // Same address family and interface, a free port; our own data directory.
            "BOARDROOM_LISTEN" => {
                let host = v.rsplit_once(':').map(|(h, _)| h).unwrap_or(&v);
                (k, format!("{host}:{{port}}"))
            }
            "BOARDROOM_DATA_DIR" => (k, data_dir.clone()),
            _ => (k, v),
        })
        .collect();
    if !env.iter().any(|(k, _)| k == "BOARDROOM_DATA_DIR") {
        env.push(("BOARDROOM_DATA_DIR".into(), data_dir.clone()));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = TestServer::start_bare(&pairs).await;

    assert_no_demo(&server).await;

    // An operator makes the first org, as the README says, on the same store.
    let db = format!("sqlite:{data_dir}/boardroom.db");
    let email = unique_email("owner");
    let (_org, owner_id) = create_org(&db, "Acme", &email, PASSWORD);
    let forged = forge(PUBLISHED_SECRET, &owner_id);
    let got = status_of_me(&server, &forged).await;
    assert_eq!(
        got.0, 401,
        "a token signed with the published secret: {}",
        got.1
    );

    let secret_file = data.path().join("jwt_secret");
    let secret = std::fs::read_to_string(&secret_file).expect("the secret is kept in data_dir");
    assert!(secret.trim().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "only its owner may read the secret: {mode:o}"
        );
    }

    let token = login(&server.base, &email, PASSWORD).await.access;
    assert_eq!(status_of_me(&server, &token).await.0, 200);
    // A restart keeps the secret, so tokens stay valid.
    assert!(server.terminate().success());
    let server = TestServer::start_bare(&pairs).await;
    let got = status_of_me(&server, &token).await;
    assert_eq!(got.0, 200, "a token from before the restart: {}", got.1);
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap(),
        secret,
        "the same secret after the restart"
    );
}

/// 15.1: `cargo run` with nothing configured (loopback, embedded store) is dev mode with the
/// demo, and still signs with a generated secret, never the published one.
#[tokio::test]
async fn loopback_defaults_are_dev_mode_with_a_generated_secret() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = TestServer::start_bare(&[("BOARDROOM_DATA_DIR", data_dir)]).await;
    let (_, health) = server.api().get("/healthz").await;
    assert_eq!(health["demo"], json!(true), "{health}");
    let owner = login(&server.base, "owner@demo.boardroom", "boardroom-demo").await;
    let me = server.api().with_token(&owner.access).get(ME).await;
    assert_eq!(me.0, 200, "{}", me.1);
    let user_id = me.1["user"]["id"].as_str().unwrap().to_string();
    let got = status_of_me(&server, &forge(PUBLISHED_SECRET, &user_id)).await;
    assert_eq!(got.0, 401, "the published secret must not sign: {}", got.1);
    assert!(data.path().join("jwt_secret").exists());
}

/// 15.1: any address other machines can reach means production unless dev mode is asked for,
/// whatever the Dockerfile says.
#[tokio::test]
async fn a_reachable_address_is_not_dev_mode_by_default() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_bare(&[
        ("BOARDROOM_LISTEN", "0.0.0.0:{port}"),
        ("BOARDROOM_DATA_DIR", data.path().to_str().unwrap()),
    ])
    .await;
    assert_no_demo(&server).await;
}

fn hello(token: &str) -> ClientFrame {
    ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token: token.into(),
        client: Some("test/1".into()),
    })
}

async fn welcomed(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(hello(token)).await;
    match ws.recv().await {
        ServerFrame::Welcome(_) => ws,
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// A new socket presenting `token` is refused: `error` unauthorized, then 4001.
async fn hello_refused(server: &TestServer, token: &str) {
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(hello(token)).await;
    match ws.next(Duration::from_secs(10)).await {
        Ok(ServerFrame::Error(e)) => assert_eq!(e.code, ErrorCode::Unauthorized, "{e:?}"),
        other => panic!("expected an unauthorized error, got {other:?}"),
    }
    assert_eq!(ws.closed().await, Closed::Code(close::NOT_AUTHENTICATED));
}

async fn ping_pong(ws: &mut Ws) {
    ws.send(ClientFrame::Ping(Ping {
        r#ref: Some(Ref::Int(7)),
    }))
    .await;
    let (f, _) = ws.recv_until(|f| matches!(f, ServerFrame::Pong(_))).await;
    assert!(matches!(f, ServerFrame::Pong(_)));
}

/// 15.2: after logout the access token of that login opens nothing: not a new socket, not
/// `GET /me`, not the SSE stream; another login of the same user is untouched.
#[tokio::test]
async fn logout_ends_the_access_token_of_that_login() {
    let (server, org) = server_with_org("Acme").await;
    let [a, b] = logins(&server, &org).await;
    let mut live = welcomed(&server, &a.access).await;
    assert_eq!(status_of_me(&server, &a.access).await.0, 200);

    let (s, body) = server.logout(&a).await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(
        live.closed().await,
        Closed::Code(close::CREDENTIALS_REVOKED)
    );
    let got = status_of_me(&server, &a.access).await;
    expect_unauthorized(&got);
    hello_refused(&server, &a.access).await;
    let (s, body) = server
        .api()
        .get(&format!(
            "/api/v1/stream?topic=org:{}&token={}",
            org.id, a.access
        ))
        .await;
    assert_eq!(s, 401, "{body}");
    // The other login goes on.
    assert_eq!(status_of_me(&server, &b.access).await.0, 200);
    let mut other = welcomed(&server, &b.access).await;
    ping_pong(&mut other).await;
}

/// 15.2: refresh-token reuse revokes the login; its access tokens stop at once too.
#[tokio::test]
async fn refresh_reuse_ends_the_access_tokens_of_that_login() {
    let (server, org) = server_with_org("Acme").await;
    let first = login(&server.base, &org.owner_email, PASSWORD).await;
    let (s, rotated) = server.api().refresh(&first.refresh).await;
    assert_eq!(s, 200, "{rotated}");
    let newer = rotated["access_token"].as_str().unwrap().to_string();
    assert_eq!(status_of_me(&server, &newer).await.0, 200);
    // The spent refresh token again: someone has a copy.
    let (s, _) = server.api().refresh(&first.refresh).await;
    assert_eq!(s, 401);
    for t in [&first.access, &newer] {
        let got = status_of_me(&server, t).await;
        expect_unauthorized(&got);
        hello_refused(&server, t).await;
    }
}

/// 15.2: `auth` on a live socket moves it to the new token's login: logging out the old one
/// leaves it open, logging out the new one closes it.
#[tokio::test]
async fn renewing_a_session_moves_it_to_the_new_login() {
    let (server, org) = server_with_org("Acme").await;
    let [old, new] = logins(&server, &org).await;
    let mut ws = welcomed(&server, &old.access).await;
    ws.send(ClientFrame::Auth(Auth {
        r#ref: Some(Ref::Int(1)),
        token: new.access.clone(),
    }))
    .await;
    let f = ws.next_answer().await;
    assert!(matches!(f, ServerFrame::Ok(_)), "{f:?}");

    assert_eq!(server.logout(&old).await.0, 204);
    assert_eq!(ws.quiet(Duration::from_millis(500)).await, None);
    ping_pong(&mut ws).await;
    assert_eq!(server.logout(&new).await.0, 204);
    assert_eq!(ws.closed().await, Closed::Code(close::CREDENTIALS_REVOKED));
}

/// 15.2 in a cluster: a logout on one node is refused on another at once, although that node
/// had just checked the token (and caches the answer for a minute here): the broker tells it.
#[tokio::test]
async fn logout_on_one_node_is_seen_by_the_others() {
    let Ok(redis) = std::env::var("BOARDROOM_TEST_REDIS_URL") else {
        eprintln!("BOARDROOM_TEST_REDIS_URL unset (run with scripts/test): skipped");
        return;
    };
    let db = fresh_pg_url().await;
    let prefix = format!("brt-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let secret = format!("cluster-test-secret-{prefix}");
    let node = |id: &'static str| {
        vec![
            ("BOARDROOM_BROKER", "redis".to_string()),
            ("BOARDROOM_REDIS_URL", redis.clone()),
            ("BOARDROOM_JWT_SECRET", secret.clone()),
            ("BOARDROOM_NODE_ID", id.to_string()),
            ("BOARDROOM_CLUSTER__KEY_PREFIX", prefix.clone()),
            ("BOARDROOM_AUTH__REVOCATION_CHECK_MS", "60000".to_string()),
        ]
    };
    let start = |env: Vec<(&'static str, String)>| {
        let db = db.clone();
        async move {
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            TestServer::start(&db, &pairs).await
        }
    };
    let n1 = start(node("n1")).await;
    let n2 = start(node("n2")).await;
    let org = new_org(&n1, "Acme").await;
    let t = login(&n1.base, &org.owner_email, PASSWORD).await;
    // Node 2 checks the token now, so it has "not revoked" cached.
    assert_eq!(status_of_me(&n2, &t.access).await.0, 200);
    let (s, _) = n1.logout(&t).await;
    assert_eq!(s, 204);
    // The broker message takes a moment; well inside the 60 s the cache would hold it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (s, body) = status_of_me(&n2, &t.access).await;
        if s == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 still accepts the logged-out token: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hello_refused(&n2, &t.access).await;
}

/// Reads the first bytes of an SSE response (the stream never ends by itself).
async fn sse_head(server: &TestServer, topic: &str, token: &str) -> (u16, String) {
    let url = server.url(&format!("/api/v1/stream?topic={topic}&token={token}"));
    sse_first_chunk(reqwest::Client::new().get(url)).await
}

/// 15.6a: SSE on a topic the credential may not read is a 404 like every other unreadable
/// resource, not a 200 stream with an `error` event.
#[tokio::test]
async fn sse_on_a_topic_the_caller_may_not_read_is_404() {
    let (server, org) = server_with_org("Acme").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let card = create_card(&org.owner, &board, "Not the worker's job").await;
    let worker = add_member(&server, &org.owner, &org.id, "worker").await;
    let worker_token = worker.api.token.clone().unwrap();
    let owner_token = org.owner.token.clone().unwrap();

    let (s, head) = sse_head(&server, &format!("card:{card}"), &worker_token).await;
    assert_eq!(s, 404, "a card hidden from the worker: {head}");
    let (s, head) = sse_head(&server, &format!("card:{card}"), &owner_token).await;
    assert_eq!(s, 200);
    assert!(
        head.contains("event: ok"),
        "the stream starts with ok: {head}"
    );
}

/// 15.6b: a MessagePack frame written as a positional array is refused with bad_request; the
/// contract is maps with string keys.
#[tokio::test]
async fn msgpack_positional_frames_are_bad_requests() {
    let (server, org) = server_with_org("Acme").await;
    let mut ws = Ws::connect(&server.base, Codec::MsgPack).await;
    ws.send(hello(org.owner.token.as_deref().unwrap())).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    let positional = rmp_serde::to_vec(&("ping", 5)).unwrap();
    assert_eq!(positional[0] & 0xf0, 0x90, "a MessagePack array");
    ws.send_raw(positional).await;
    match ws.recv().await {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
            assert!(e.message.contains("map"), "{e:?}");
        }
        other => panic!("a positional ping must be refused, got {other:?}"),
    }
    // The same ping as a map is fine.
    ping_pong(&mut ws).await;
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 15.6c: failing at someone's login from one address locks out only that address; the
/// account's owner, elsewhere, still logs in. With the shipped limits.
#[tokio::test]
async fn a_stranger_cannot_lock_a_known_user_out() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let stranger = Api::from_address(&server.base, ip("127.0.0.2"));
    let mut refused = false;
    for _ in 0..15 {
        let (s, body) = stranger.login_attempt(&email, "guess").await.pair();
        match s {
            401 => {}
            429 => {
                refused = true;
                break;
            }
            _ => panic!("{s} {body}"),
        }
    }
    assert!(refused, "the stranger's address must be throttled");
    let owner = Api::from_address(&server.base, ip("127.0.0.3"));
    let (s, body) = owner.login_attempt(&email, PASSWORD).await.pair();
    assert_eq!(s, 200, "the owner from another address: {body}");
}

/// 15.6d: `notifications.read` names at most `limits.max_notification_ids` ids (100 as
/// shipped), over HTTP and the socket.
#[tokio::test]
async fn notifications_read_caps_its_ids() {
    let (server, org) = server_with_org("Acme").await;
    let ids = |n: usize| (0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let got = org
        .owner
        .post("/api/v1/notifications/read", json!({"ids": ids(101)}))
        .await;
    expect_bad_field(&got, "ids");
    let (s, body) = org
        .owner
        .post("/api/v1/notifications/read", json!({"ids": ids(100)}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["unread"], json!(0));

    let mut ws = welcomed(&server, org.owner.token.as_deref().unwrap()).await;
    ws.send_json(json!({"type": "notifications.read", "ref": 9, "ids": ids(101)}))
        .await;
    let f = ws.next_answer().await;
    match f {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert_eq!(e.field.as_deref(), Some("ids"));
        }
        other => panic!("too many ids must be refused: {other:?}"),
    }
}

/// 14.4: a production server has no debug routes, and refuses to start with them on.
#[tokio::test]
async fn production_has_no_debug_doors() {
    let (server, org) = server_with_org("Acme").await;
    let board = new_board(&org, json!({"name": "B"})).await;
    let id = board["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/boards/{id}/debug/panic"),
        "/api/v1/debug/sessions/panic".to_string(),
    ] {
        let got = org.owner.post(&path, json!({})).await;
        expect_error(&got, 404, "not_found");
    }

    let mut cmd = command();
    cmd.arg("serve")
        .env("BOARDROOM_DATABASE_URL", &server.db_url)
        .env("BOARDROOM_LISTEN", "127.0.0.1:0")
        .env("BOARDROOM_JWT_SECRET", "a-secret-of-this-deployment-only")
        .env("BOARDROOM_DEV_MODE", "false")
        .env("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")
        .stdin(std::process::Stdio::null());
    let (status, stderr) = exit_within(&mut cmd, Duration::from_secs(20))
        .expect("serve with debug endpoints outside dev mode must exit");
    assert!(!status.success());
    assert!(
        stderr.contains("debug_endpoints"),
        "say what to fix: {stderr}"
    );
}

/// Login attempts from `api` with `X-Forwarded-For: forwarded` until refused; how many got a
/// plain 401 first (at most `max`).
async fn tries_until_throttled(api: &Api, forwarded: &str, max: usize) -> usize {
    for i in 0..max {
        let r = api
            .request("POST", LOGIN)
            .header("X-Forwarded-For", forwarded)
            .json(&json!({"email": unique_email("guess"), "password": "guess"}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            401 => {}
            429 => return i,
            s => panic!("unexpected {s}"),
        }
    }
    max
}

/// 14.5: per-IP limits read `X-Forwarded-For` only from a trusted proxy.
#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let db = fresh_pg_url().await;
    let limits = [("BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "3")];
    // 127.0.0.1 is the proxy; clients behind it are told apart by the header.
    let mut env = limits.to_vec();
    env.push(("BOARDROOM_TRUSTED_PROXIES", r#"["127.0.0.1"]"#));
    let behind = TestServer::start(&db, &env).await;
    let proxy = Api::from_address(&behind.base, ip("127.0.0.1"));
    assert_eq!(tries_until_throttled(&proxy, "198.51.100.1", 10).await, 3);
    assert_eq!(
        tries_until_throttled(&proxy, "198.51.100.2", 10).await,
        3,
        "another client behind the proxy has its own budget"
    );
    // A client that is not the proxy cannot pick its address by writing the header.
    let direct = Api::from_address(&behind.base, ip("127.0.0.9"));
    assert_eq!(tries_until_throttled(&direct, "198.51.100.3", 10).await, 3);
    assert_eq!(
        tries_until_throttled(&direct, "198.51.100.4", 10).await,
        0,
        "an untrusted peer's header is ignored"
    );

    // With no trusted proxies (the default), the header never counts.
    let db2 = fresh_pg_url().await;
    let plain = TestServer::start(&db2, &limits).await;
    let api = Api::from_address(&plain.base, ip("127.0.0.1"));
    assert_eq!(tries_until_throttled(&api, "198.51.100.1", 10).await, 3);
    assert_eq!(tries_until_throttled(&api, "198.51.100.2", 10).await, 0);
}
