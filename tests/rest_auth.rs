//! Authentication over HTTP against the real binary: login, access JWTs, refresh rotation with
//! reuse detection, logout, `/me`, login throttling.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token
        .split('.')
        .nth(i)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn login_returns_a_bearer_pair_with_an_hs256_access_jwt() {
    let (server, org, user, email) = server_with_cli_org(&[]).await;
    let (s, body) = server.api().login_attempt(&email, PASSWORD).await.pair();
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(
        body["expires_in"], 900,
        "default access_token_ttl_secs is 900: {body}"
    );
    let access = body["access_token"].as_str().expect("access_token");
    let refresh = body["refresh_token"].as_str().expect("refresh_token");
    assert!(!refresh.is_empty());
    assert_ne!(access, refresh);

    let header = jwt_part(access, 0);
    assert_eq!(header["alg"], "HS256", "{header}");
    let claims = jwt_part(access, 1);
    assert_eq!(claims["sub"], json!(user), "{claims}");
    assert_eq!(claims["typ"], "access", "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - iat, 900, "{claims}");
    assert!((iat - now()).abs() <= 5, "iat is not now: {claims}");

    let me = server.api().with_token(access);
    let (s, body) = me.get("/api/v1/me").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["id"], json!(user));
    assert_eq!(body["memberships"][0]["org_id"], json!(org));
}

#[tokio::test]
async fn me_shows_the_user_and_their_memberships() {
    let (server, org, user, email) = server_with_cli_org(&[]).await;
    let api = server.login(&email, PASSWORD).await;
    let (s, body) = api.get("/api/v1/me").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["id"], json!(user), "{body}");
    assert_eq!(body["user"]["email"], json!(email), "{body}");
    assert!(body["user"]["name"].is_string(), "{body}");
    let ms = body["memberships"].as_array().expect("memberships array");
    assert_eq!(ms.len(), 1, "{body}");
    assert_eq!(ms[0]["org_id"], json!(org));
    assert_eq!(ms[0]["org_name"], "Acme");
    assert_eq!(ms[0]["role"], "owner");

    // A member added to the org sees their own role.
    let m = add_member(&server, &api, &org, "worker").await;
    let (s, body) = m.api.get("/api/v1/me").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["id"], json!(m.id));
    assert_eq!(body["user"]["email"], json!(m.email));
    assert_eq!(body["user"]["name"], "A worker");
    let ms = body["memberships"].as_array().expect("memberships array");
    assert_eq!(ms.len(), 1, "{body}");
    assert_eq!(ms[0]["org_id"], json!(org));
    assert_eq!(ms[0]["org_name"], "Acme");
    assert_eq!(ms[0]["role"], "worker");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let api = server.api();
    let wrong = api.login_attempt(&email, "not the password").await.pair();
    let e1 = expect_unauthorized(&wrong);
    let unknown = api
        .login_attempt(&unique_email("nobody"), PASSWORD)
        .await
        .pair();
    let e2 = expect_unauthorized(&unknown);
    assert_eq!(
        e1["message"], e2["message"],
        "the two failures must not be told apart"
    );
    assert!(
        e1.get("field").is_none_or(Value::is_null),
        "no field hint on a failed login: {e1}"
    );
    // The right password still works afterwards.
    login(&server.base, &email, PASSWORD).await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let (server, org, _user, _email) = server_with_cli_org(&[]).await;
    let api = server.api();
    expect_unauthorized(&api.get("/api/v1/me").await);
    expect_unauthorized(&api.get(&format!("/api/v1/orgs/{org}/boards")).await);
    let garbage = api.with_token("not-a-token");
    expect_unauthorized(&garbage.get("/api/v1/me").await);
    // Not a Bearer scheme.
    let r = api
        .request("GET", "/api/v1/me")
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn forged_and_tampered_jwts_are_refused() {
    let (server, _org, user, email) = server_with_cli_org(&[]).await;
    let secret = server.jwt_secret.clone();
    let n = now();
    let claims = json!({"sub": user, "iat": n, "exp": n + 600, "typ": "access"});
    let key = EncodingKey::from_secret(secret.as_bytes());

    // Control: a token made here the way the server makes them is accepted, so every refusal
    // below is about the one thing that differs.
    let good = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
    let (s, body) = server.api().with_token(&good).get("/api/v1/me").await;
    assert_eq!(s, 200, "a correctly signed HS256 token must work: {body}");

    let mut forged = Vec::new();
    // alg "none", no signature.
    forged.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        ),
    ));
    // alg "none" with the genuine signature left on.
    let sig = good.split('.').nth(2).unwrap();
    forged.push((
        "alg none + old signature",
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims),
            sig
        ),
    ));
    // HS512 with the right secret.
    forged.push((
        "HS512",
        encode(&Header::new(Algorithm::HS512), &claims, &key).unwrap(),
    ));
    // HS384 with the right secret.
    forged.push((
        "HS384",
        encode(&Header::new(Algorithm::HS384), &claims, &key).unwrap(),
    ));
    // HS256 with another secret.
    let other = EncodingKey::from_secret(b"some-other-secret-of-enough-length");
    forged.push((
        "other secret",
        encode(&Header::new(Algorithm::HS256), &claims, &other).unwrap(),
    ));
    // A genuine token whose payload was changed (another subject), signature kept.
    let (login_token, _) = {
        let t = login(&server.base, &email, PASSWORD).await;
        (t.access, ())
    };
    let parts: Vec<&str> = login_token.split('.').collect();
    let mut payload = jwt_part(&login_token, 1);
    payload["sub"] = json!(random_id());
    forged.push((
        "tampered sub",
        format!("{}.{}.{}", parts[0], b64(&payload), parts[2]),
    ));
    let mut payload = jwt_part(&login_token, 1);
    payload["exp"] = json!(payload["exp"].as_i64().unwrap() + 86_400);
    forged.push((
        "tampered exp",
        format!("{}.{}.{}", parts[0], b64(&payload), parts[2]),
    ));
    // Correctly signed but not an access token.
    let refresh_typ = json!({"sub": user, "iat": n, "exp": n + 600, "typ": "refresh"});
    forged.push((
        "typ refresh",
        encode(&Header::new(Algorithm::HS256), &refresh_typ, &key).unwrap(),
    ));
    // Correctly signed but already expired.
    let expired = json!({"sub": user, "iat": n - 120, "exp": n - 60, "typ": "access"});
    forged.push((
        "expired",
        encode(&Header::new(Algorithm::HS256), &expired, &key).unwrap(),
    ));

    for (what, token) in forged {
        let got = server.api().with_token(&token).get("/api/v1/me").await;
        assert_eq!(got.0, 401, "{what}: expected 401, got {} {}", got.0, got.1);
        expect_unauthorized(&got);
    }
    // The genuine token still works.
    let (s, _) = server
        .api()
        .with_token(&login_token)
        .get("/api/v1/me")
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn access_token_expires_on_time_and_refresh_renews_it() {
    let (server, org, _user, email) =
        server_with_cli_org(&[("BOARDROOM_AUTH__ACCESS_TOKEN_TTL_SECS", "1")]).await;
    let before = Instant::now();
    let t = login(&server.base, &email, PASSWORD).await;
    assert_eq!(t.body["expires_in"], 1, "{}", t.body);
    let claims = jwt_part(&t.access, 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );
    let api = server.api().with_token(&t.access);
    let (s, body) = api.get("/api/v1/me").await;
    assert_eq!(s, 200, "a fresh 1 s token works at once: {body}");

    // exp has second resolution and there is no leeway: 2.2 s after the login started, the
    // current second is past exp whatever the sub-second timing was.
    tokio::time::sleep_until((before + Duration::from_millis(2200)).into()).await;
    expect_unauthorized(&api.get("/api/v1/me").await);
    expect_unauthorized(&api.get(&format!("/api/v1/orgs/{org}/boards")).await);

    let (s, body) = server.api().refresh(&t.refresh).await;
    assert_eq!(s, 200, "{body}");
    let fresh = body["access_token"].as_str().expect("access_token");
    let (s, _) = server.api().with_token(fresh).get("/api/v1/me").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let (server, _org, user, email) = server_with_cli_org(&[]).await;
    let api = server.api();
    let t1 = login(&server.base, &email, PASSWORD).await;

    let (s, body) = api.refresh(&t1.refresh).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let a2 = text_of(&body, "access_token");
    let r2 = text_of(&body, "refresh_token");
    assert_ne!(r2, t1.refresh, "the refresh token must rotate");
    assert_eq!(jwt_part(&a2, 1)["sub"], json!(user));
    let (s, _) = api.with_token(&a2).get("/api/v1/me").await;
    assert_eq!(s, 200);

    // The newest token of the family works once...
    let (s, body) = api.refresh(&r2).await;
    assert_eq!(s, 200, "{body}");
    let r3 = text_of(&body, "refresh_token");

    // ...then the spent first token comes back: theft. 401, and the family is revoked.
    expect_unauthorized(&api.refresh(&t1.refresh).await);
    expect_unauthorized(&api.refresh(&r3).await);
    // And stays revoked.
    expect_unauthorized(&api.refresh(&r3).await);

    // Logging in again starts a new family that works.
    let t4 = login(&server.base, &email, PASSWORD).await;
    let (s, body) = api.refresh(&t4.refresh).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn bad_refresh_requests() {
    let (server, _org, _user, _email) = server_with_cli_org(&[]).await;
    let api = server.api();
    expect_unauthorized(&api.refresh("brr_nonsense").await);
    expect_unauthorized(&api.refresh("").await);
    expect_bad_field(&api.post(REFRESH, json!({})).await, "refresh_token");
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let t = login(&server.base, &email, PASSWORD).await;
    expect_unauthorized(&server.api().refresh(&t.access).await);
    // And a refresh token is not an access token.
    expect_unauthorized(&server.api().with_token(&t.refresh).get("/api/v1/me").await);
}

#[tokio::test]
async fn logout_spends_the_refresh_token() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let t = login(&server.base, &email, PASSWORD).await;
    let other = login(&server.base, &email, PASSWORD).await;

    // Logout needs a user.
    expect_unauthorized(&server.api().logout(&t.refresh).await);
    let (s, body) = server.logout(&t).await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    expect_unauthorized(&server.api().refresh(&t.refresh).await);
    // Another session of the same user is not logged out.
    let (s, body) = server.api().refresh(&other.refresh).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn login_is_throttled_per_account() {
    // Per account from one address (tests/security_edge.rs: from another address the account
    // is not locked).
    let (server, org, _user, email) = server_with_cli_org(&login_limits("3", "1000")).await;
    // Another account on the same address, made before the limit bites.
    let owner = server.login(&email, PASSWORD).await; // attempt 1 of 3 for `email`
    let m = add_member(&server, &owner, &org, "member").await;

    let api = server.api();
    for i in 0..2 {
        let got = api.login_attempt(&email, "wrong password").await.pair();
        assert_eq!(
            got.0,
            401,
            "attempt {} should be a plain 401: {}",
            i + 2,
            got.1
        );
    }
    for pw in ["wrong password", PASSWORD] {
        let r = api.login_attempt(&email, pw).await;
        let (_, retry) = expect_retry_later(&r, 429, "rate_limited");
        let secs: u64 = retry.trim().parse().expect("Retry-After is whole seconds");
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
    }
    // The same account with different letter case is the same account.
    let upper = email.to_uppercase();
    let got = api.login_attempt(&upper, PASSWORD).await.pair();
    assert_ne!(
        got.0, 200,
        "the limit must not be dodged by changing case: {}",
        got.1
    );
    // Another account from the same address is not affected.
    let (s, body) = api.login_attempt(&m.email, PASSWORD).await.pair();
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn login_is_throttled_per_address() {
    let (server, _org, _user, email) = server_with_cli_org(&login_limits("1000", "4")).await;
    let api = server.api();
    for i in 0..4 {
        let got = api
            .login_attempt(&unique_email("guess"), "guess")
            .await
            .pair();
        assert_eq!(got.0, 401, "attempt {}: {}", i + 1, got.1);
    }
    let r = api.login_attempt(&email, PASSWORD).await;
    expect_retry_later(&r, 429, "rate_limited");
}

/// Sends attempts until one is refused with 429; returns how many were answered 401 before
/// that, and how long it took. A limit of N per minute is a bucket of N that refills one
/// attempt every 60/N s, so a slow run may see a few more than N go through.
async fn attempts_until_429(
    api: &Api,
    mut body: impl FnMut() -> Value,
    max: usize,
) -> (usize, f64) {
    let start = Instant::now();
    for i in 0..max {
        let r = api.send("POST", LOGIN, Some(body())).await;
        match r.status {
            401 => continue,
            429 => {
                expect_retry_later(&r, 429, "rate_limited");
                return (i, start.elapsed().as_secs_f64());
            }
            s => panic!("attempt {}: unexpected {s} {}", i + 1, r.body),
        }
    }
    panic!("{max} attempts and never a 429")
}

#[track_caller]
fn assert_limit(allowed: usize, secs: f64, per_minute: usize) {
    let refill = 60.0 / per_minute as f64;
    let most = per_minute + (secs / refill).ceil() as usize;
    assert!(
        (per_minute..=most).contains(&allowed),
        "{allowed} attempts went through in {secs:.1} s; a limit of {per_minute}/min allows {per_minute}..={most}"
    );
}

/// On a server with the shipped limits, login attempts (`body`, given the owner's email) are
/// refused after `per_minute` of them, give or take the refill (see [`assert_limit`]); `max`
/// attempts at the most.
async fn assert_default_limit(per_minute: usize, max: usize, body: impl Fn(&str) -> Value) {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let (allowed, secs) = attempts_until_429(&server.api(), || body(&email), max).await;
    assert_limit(allowed, secs, per_minute);
}

#[tokio::test]
async fn default_limit_is_10_attempts_per_account() {
    let wrong = |email: &str| json!({"email": email, "password": "wrong password"});
    assert_default_limit(10, 40, wrong).await;
}

#[tokio::test]
async fn default_limit_is_30_attempts_per_address() {
    let guess = |_: &str| json!({"email": unique_email("guess"), "password": "guess"});
    assert_default_limit(30, 80, guess).await;
}

#[tokio::test]
async fn malformed_login_requests_are_400() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let api = server.api();
    expect_bad_field(&api.post(LOGIN, json!({"email": email})).await, "password");
    expect_bad_field(
        &api.post(LOGIN, json!({"password": PASSWORD})).await,
        "email",
    );
    expect_bad_field(
        &api.post(
            LOGIN,
            json!({"email": email, "password": PASSWORD, "remember": true}),
        )
        .await,
        "remember",
    );
    let r = api.send_raw("POST", LOGIN, b"{\"email\": ".to_vec()).await;
    expect_error(&r.pair(), 400, "bad_request");
}
