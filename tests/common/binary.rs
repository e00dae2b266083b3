//! The `boardroom` binary: where it is, and running its CLI with a clean environment.

use super::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
pub(crate) fn target_dir() -> PathBuf {
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
pub(crate) fn test_label() -> String {
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

pub(crate) fn random_secret(n: usize) -> String {
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
