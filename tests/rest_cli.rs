//! The command line an operator uses: `boardroom migrate`, `boardroom create-org`, and
//! `boardroom serve` refusing an unsafe configuration.

mod common;

use common::*;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = fresh_pg_url().await;
    for run in 1..=2 {
        let out = run_cli(&db, &["migrate"], &[]);
        assert!(
            out.status.success(),
            "migrate run {run} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        sql_count(&db, "SELECT count(*) FROM organizations").await,
        0
    );
    assert_eq!(sql_count(&db, "SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn create_org_prints_one_json_line_and_the_owner_can_log_in() {
    let db = fresh_pg_url().await;
    let out = run_cli(&db, &["migrate"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let email = unique_email("boss");
    let out = run_cli(
        &db,
        &[
            "create-org",
            "--name",
            "Night Shift",
            "--owner-email",
            &email,
            "--owner-password",
            PASSWORD,
            "--owner-name",
            "Olga Owner",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "create-org failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly the JSON line (logs go to stderr): {stdout:?}"
    );
    let v: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    assert_uuid(&v["org_id"]);
    assert_uuid(&v["user_id"]);
    let org = v["org_id"].as_str().unwrap();
    let user = v["user_id"].as_str().unwrap();

    let server = TestServer::start(&db, &[]).await;
    let api = server.login(&email, PASSWORD).await;
    let (s, me) = api.get("/api/v1/me").await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["user"]["id"], user);
    assert_eq!(me["user"]["name"], "Olga Owner");
    assert_eq!(me["user"]["email"], email.as_str());
    assert_eq!(me["memberships"][0]["org_id"], org);
    assert_eq!(me["memberships"][0]["org_name"], "Night Shift");
    assert_eq!(me["memberships"][0]["role"], "owner");
}

#[tokio::test]
async fn create_org_with_a_taken_email_fails_and_makes_nothing() {
    let (server, _org, _user, email) = server_with_cli_org(&[]).await;
    let db = &server.db_url;
    let orgs = sql_count(db, "SELECT count(*) FROM organizations").await;
    let out = run_cli(
        db,
        &[
            "create-org",
            "--name",
            "Second",
            "--owner-email",
            &email,
            "--owner-password",
            "another password",
        ],
        &[],
    );
    assert!(
        !out.status.success(),
        "a second owner with the same email was accepted"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "failure without a message"
    );
    assert_eq!(
        sql_count(db, "SELECT count(*) FROM organizations").await,
        orgs,
        "a half-made org was left"
    );
    // The first owner's password is untouched.
    login(&server.base, &email, PASSWORD).await;
}

#[tokio::test]
async fn serve_refuses_the_default_secret_outside_dev_mode() {
    let db = fresh_pg_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command();
    cmd.current_dir(dir.path())
        .arg("serve")
        .env("BOARDROOM_DATABASE_URL", &db)
        .env("BOARDROOM_LISTEN", "127.0.0.1:0")
        .env("BOARDROOM_DEV_MODE", "false")
        .stdin(Stdio::null());
    let (status, err) = exit_within(&mut cmd, Duration::from_secs(20))
        .expect("boardroom serve started with no jwt_secret of its own and dev mode off");
    assert!(!status.success(), "it must exit with an error");
    assert!(
        err.to_lowercase().contains("jwt_secret") || err.contains("BOARDROOM_JWT_SECRET"),
        "say what to fix: {err}"
    );
}
