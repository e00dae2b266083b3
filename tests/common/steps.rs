//! Steps many tests take the same way: a server with an org, an op over HTTP, a read that
//! must succeed. One place, so a test's body shows only what it is about.

use super::{fresh_pg_url, new_org, Api, Org, TestServer};
use serde_json::{json, Value};
use std::fmt::Display;
use uuid::Uuid;

/// `boardroom serve` on a fresh Postgres database, with one new org named `name`.
pub async fn server_with_org(name: &str) -> (TestServer, Org) {
    server_with_org_env(name, &[]).await
}

/// [`server_with_org`] with the server's `env` (the settings a test is about).
pub async fn server_with_org_env(name: &str, env: &[(&str, &str)]) -> (TestServer, Org) {
    server_with_org_on(&fresh_pg_url().await, name, env).await
}

/// `boardroom serve` with `env` on the database at `db_url` (either store), with one new org
/// named `name`.
pub async fn server_with_org_on(
    db_url: &str,
    name: &str,
    env: &[(&str, &str)],
) -> (TestServer, Org) {
    let server = TestServer::start(db_url, env).await;
    let org = new_org(&server, name).await;
    (server, org)
}

/// `boardroom serve` with `env` on a fresh Postgres database, and an org "Acme" made as an
/// operator makes one (`boardroom create-org`): the server, the org's id, its owner's user id
/// and email (the password is [`super::PASSWORD`]).
pub async fn server_with_cli_org(env: &[(&str, &str)]) -> (TestServer, String, String, String) {
    let server = TestServer::start(&fresh_pg_url().await, env).await;
    let email = super::unique_email("owner");
    let (org, user) = super::create_org(&server.db_url, "Acme", &email, super::PASSWORD);
    (server, org, user, email)
}

/// The lists `whats` of `org` (`members`, `customers`, `boards`, …) as `api` sees them, keyed
/// by list: a picture of an org, to compare before and after requests that must change
/// nothing.
pub async fn org_lists(api: &Api, org: &str, whats: &[&str]) -> serde_json::Map<String, Value> {
    let mut all = serde_json::Map::new();
    for what in whats {
        let body = api.get_ok(&format!("/api/v1/orgs/{org}/{what}")).await;
        all.insert(what.to_string(), body);
    }
    all
}

/// `POST /api/v1/boards/{board}/ops` as `api` with a new `op_id`; panics unless it is applied
/// (200). Returns the answer.
pub async fn op_ok(api: &Api, board: impl Display, kind: &str, data: Value) -> Value {
    let (s, body) = api.op(board, kind, data).await;
    assert_eq!(s, 200, "{kind}: {body}");
    body
}

impl Api {
    /// `POST path` with `body`; panics unless 201 (created). Returns what was created.
    pub async fn post_created(&self, path: &str, body: Value) -> Value {
        let (s, created) = self.post(path, body).await;
        assert_eq!(s, 201, "POST {path}: {created}");
        created
    }

    /// `GET path`; panics unless 200. Returns the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (s, body) = self.get(path).await;
        assert_eq!(s, 200, "GET {path}: {body}");
        body
    }

    /// `POST /api/v1/boards/{board}/ops` with a new `op_id`: status and body, whatever they
    /// are.
    pub async fn op(&self, board: impl Display, kind: &str, data: Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/boards/{board}/ops"),
            json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data}),
        )
        .await
    }
}

/// A new kanban board of `org` named `name`: its id and its first column's id.
pub async fn board_and_column(org: &Org, name: &str) -> (Uuid, Uuid) {
    let b = super::new_board(org, json!({ "name": name })).await;
    let id = b["id"].as_str().and_then(|s| s.parse().ok());
    let col = b["columns"][0]["id"].as_str().and_then(|s| s.parse().ok());
    (id.expect("board id"), col.expect("column id"))
}

/// A card titled `title` in `col` of `board`, made over HTTP by `api`; its id.
pub async fn card_in(api: &Api, board: Uuid, col: Uuid, title: &str) -> String {
    let c = op_ok(
        api,
        board,
        "card.create",
        json!({"column_id": col, "title": title}),
    )
    .await;
    c["id"].as_str().expect("card id").to_string()
}

/// A new org on `server` with a kanban board (both named `name`): the org, the board, its
/// first column, and the owner's access token (for WebSockets).
pub async fn org_with_board(server: &TestServer, name: &str) -> (Org, Uuid, Uuid, String) {
    let org = new_org(server, name).await;
    let (board, col) = board_and_column(&org, name).await;
    let token = org.owner.token.clone().expect("owner token");
    (org, board, col, token)
}

/// Runs `sql` (one `$1`: the board id) on the test database at `db_url`, Postgres or SQLite
/// (`sqlite:` URLs), and returns its rows: how tests read what the store holds for a board.
pub async fn board_rows<T>(db_url: &str, sql: &str, board: Uuid) -> Vec<T>
where
    T: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    use sqlx::Connection;
    if db_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db_url)
            .await
            .expect("open sqlite");
        sqlx::query_as(&sql.replace("$1", "?"))
            .bind(board)
            .fetch_all(&mut c)
            .await
            .expect(sql)
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("open pg");
        sqlx::query_as(sql)
            .bind(board)
            .fetch_all(&mut c)
            .await
            .expect(sql)
    }
}

/// Asserts a 401 `unauthorized` answer (see [`super::expect_error`]); returns the error
/// object.
#[track_caller]
pub fn expect_unauthorized(got: &(u16, Value)) -> Value {
    super::expect_error(got, 401, "unauthorized")
}

/// Asserts a 403 `forbidden` answer (see [`super::expect_error`]).
#[track_caller]
pub fn expect_forbidden(got: &(u16, Value)) {
    super::expect_error(got, 403, "forbidden");
}

/// How many cards of `board` the Postgres database at `db` holds (archived ones included).
pub async fn cards_in_db(db: &str, board: Uuid) -> i64 {
    super::sql_count(
        db,
        &format!("SELECT count(*) FROM cards WHERE board_id = '{board}'"),
    )
    .await
}

/// Asserts `got` is refused as 403 or 404: where a caller may not even see the thing, "not
/// found" is as right as "forbidden". `what` names the attempt in the failure message.
#[track_caller]
pub fn expect_refused(got: &(u16, Value), what: &str) {
    assert!(got.0 == 403 || got.0 == 404, "{what}: {} {}", got.0, got.1);
}

/// How many pairs of `board`'s stored events go backwards: a later `seq` with an earlier
/// `epoch` (a fenced owner's late write). Should be 0.
pub async fn epoch_inversions(db: &str, board: Uuid) -> i64 {
    super::sql_count(
        db,
        &format!(
            "SELECT count(*) FROM board_events a JOIN board_events b ON a.board_id = b.board_id \
             WHERE a.board_id = '{board}' AND a.seq < b.seq AND a.epoch > b.epoch"
        ),
    )
    .await
}

/// Asserts an error answer with this status and code that says when to come back (a
/// `Retry-After` header, as 429 and 503 must); returns the error object and the header.
#[track_caller]
pub fn expect_retry_later(r: &super::Resp, status: u16, code: &str) -> (Value, String) {
    let err = super::expect_error(&(r.status, r.body.clone()), status, code);
    let header = r
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("{status} without Retry-After: {:?}", r.headers));
    let header = header.to_str().expect("Retry-After is text").to_string();
    (err, header)
}

impl Org {
    /// `POST /api/v1/orgs/{org}/{what}` as the owner (`what`: `boards`, `customers`,
    /// `api-keys`, …); panics unless 201. Returns what was created.
    pub async fn create(&self, what: &str, body: Value) -> Value {
        let path = format!("/api/v1/orgs/{}/{what}", self.id);
        self.owner.post_created(&path, body).await
    }
}

/// `POST /api/v1/cards/{card}/share-links` with `body` as `api`; panics unless 201. Returns
/// the link, with its token.
pub async fn share_link(api: &Api, card: impl Display, body: Value) -> Value {
    api.post_created(&format!("/api/v1/cards/{card}/share-links"), body)
        .await
}

/// `DELETE /api/v1/share-links/{id}` of `link` (a share link as the API returns it) as `api`.
pub async fn revoke_link(api: &Api, link: &Value) -> (u16, Value) {
    let id = link["id"].as_str().expect("share link id");
    api.delete(&format!("/api/v1/share-links/{id}")).await
}

/// A new SQLite database in a temp dir: the dir (it must outlive whoever uses the database)
/// and the `sqlite:` URL.
pub fn temp_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("boardroom.db").display());
    (dir, url)
}

/// `boardroom serve` with `env` on a fresh database of either store: SQLite (in a temp dir,
/// returned, that must outlive the server) or Postgres.
pub async fn server_on(
    sqlite: bool,
    env: &[(&str, &str)],
) -> (TestServer, Option<tempfile::TempDir>) {
    if sqlite {
        let (dir, url) = temp_sqlite();
        (TestServer::start(&url, env).await, Some(dir))
    } else {
        (TestServer::start(&fresh_pg_url().await, env).await, None)
    }
}

/// The first object of the list `body[key]` for which `pred` holds; panics when there is none.
#[track_caller]
pub fn find_in<'a>(body: &'a Value, key: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("expected {{\"{key}\":[…]}}, got {body}"))
        .iter()
        .find(|x| pred(x))
        .unwrap_or_else(|| panic!("none of {key} matches in {body}"))
}

/// The `name`s of the objects in the list `body[key]`, in order.
#[track_caller]
pub fn names<'a>(body: &'a Value, key: &str) -> Vec<&'a str> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("expected {{\"{key}\":[…]}}, got {body}"))
        .iter()
        .map(|o| o["name"].as_str().expect("a name"))
        .collect()
}

/// The string `body[key]`, owned; panics when it is not a string.
#[track_caller]
pub fn text_of(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {body}"))
        .to_string()
}
