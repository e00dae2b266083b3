//! Boardroom over HTTP: logging in, creating the boards (each with one card) a run uses, and
//! reading a board's current `seq` afterwards.

use crate::client::BoardroomAuth;
use anyhow::{bail, Context, Result};
use boardroom_protocol::Codec;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// Who logs in, and the encoding of every socket.
#[derive(Debug, Clone)]
pub struct Login {
    pub url: String,
    pub email: String,
    pub password: String,
    pub encoding: String,
}

pub struct Session {
    pub auth: BoardroomAuth,
    pub http: reqwest::Client,
    pub org: String,
}

pub async fn login(l: &Login) -> Result<Session> {
    let http = reqwest::Client::new();
    let res: Value = http
        .post(format!("{}/api/v1/auth/login", l.url))
        .json(&json!({"email": l.email, "password": l.password}))
        .send()
        .await
        .with_context(|| format!("POST {}/api/v1/auth/login", l.url))?
        .error_for_status()
        .context("login")?
        .json()
        .await?;
    let token = res["access_token"]
        .as_str()
        .context("no access token")?
        .to_string();
    let me: Value = http
        .get(format!("{}/api/v1/me", l.url))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let org = me["memberships"][0]["org_id"]
        .as_str()
        .context("the user has no membership")?
        .to_string();
    let codec = Codec::from_query(&l.encoding).context("--encoding is json or msgpack")?;
    Ok(Session {
        auth: BoardroomAuth {
            url: l.url.clone(),
            token,
            codec,
        },
        http,
        org,
    })
}

/// POSTs, retrying while the server answers 429 (the HTTP op rate limit).
pub async fn post(s: &Session, path: &str, body: &Value) -> Result<Value> {
    for _ in 0..100 {
        let res = s
            .http
            .post(format!("{}{path}", s.auth.url))
            .bearer_auth(&s.auth.token)
            .json(body)
            .send()
            .await?;
        if res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_millis(wait.clamp(1, 5) * 1000)).await;
            continue;
        }
        return Ok(res
            .error_for_status()
            .with_context(|| format!("POST {path}"))?
            .json()
            .await?);
    }
    bail!("POST {path}: still rate limited")
}

/// Filtered viewers for a mixed fan-out: a worker the load cards are assigned to, and the
/// customer user of the cards' customer (who gets each card without its label, re-encoded).
pub struct Viewers {
    pub worker: BoardroomAuth,
    pub customer: BoardroomAuth,
    worker_id: String,
    customer_id: String,
}

/// Creates a worker and a customer user (with their customer record) and logs them in.
pub async fn create_viewers(s: &Session, l: &Login) -> Result<Viewers> {
    let tag = Uuid::now_v7().simple().to_string();
    let password = "loadtest-viewer-pw";
    let mut out = Vec::new();
    for role in ["worker", "customer"] {
        let email = format!("{role}-{tag}@loadtest.invalid");
        let m = post(
            s,
            &format!("/api/v1/orgs/{}/members", s.org),
            &json!({"email": email, "name": format!("Load {role}"), "password": password, "role": role}),
        )
        .await?;
        let id = m["id"].as_str().context("member id")?.to_string();
        let session = login(&Login {
            email,
            password: password.into(),
            ..l.clone()
        })
        .await?;
        out.push((id, session.auth));
    }
    let (customer_user, customer) = out.pop().context("customer")?;
    let (worker_id, worker) = out.pop().context("worker")?;
    let c = post(
        s,
        &format!("/api/v1/orgs/{}/customers", s.org),
        &json!({"name": "Load customer", "user_id": customer_user}),
    )
    .await?;
    Ok(Viewers {
        worker,
        customer,
        worker_id,
        customer_id: c["id"].as_str().context("customer id")?.to_string(),
    })
}

/// Creates a board named `name`; returns its id and its first column's, where the
/// scenarios put their cards.
pub async fn create_board(s: &Session, name: &str) -> Result<(Uuid, String)> {
    let board = post(
        s,
        &format!("/api/v1/orgs/{}/boards", s.org),
        &json!({ "name": name }),
    )
    .await?;
    let board_id: Uuid = board["id"].as_str().context("board id")?.parse()?;
    let col = board["columns"][0]["id"]
        .as_str()
        .context("the new board has no column")?;
    Ok((board_id, col.to_string()))
}

/// Sends one op over HTTP with a fresh op id (setting up, not measured); returns the answer.
pub async fn http_op(s: &Session, board: Uuid, kind: &str, data: Value) -> Result<Value> {
    post(
        s,
        &format!("/api/v1/boards/{board}/ops"),
        &json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data}),
    )
    .await
}

/// Creates `n` boards named after `label`, each with one card (with `viewers`: assigned to
/// the worker, of the customer, with a label the customer may not see); returns (board, card)
/// ids.
pub async fn create_boards(
    s: &Session,
    n: usize,
    label: &str,
    viewers: Option<&Viewers>,
) -> Result<Vec<(Uuid, Uuid)>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (board_id, col) = create_board(s, &format!("{label} {i}")).await?;
        let card_id = Uuid::now_v7();
        let mut data = json!({"column_id": col, "title": "load", "card_id": card_id});
        if let Some(v) = viewers {
            data["assignees"] = json!([v.worker_id]);
            data["customer_id"] = json!(v.customer_id);
            data["labels"] = json!(["load"]);
        }
        http_op(s, board_id, "card.create", data).await?;
        out.push((board_id, card_id));
    }
    Ok(out)
}

/// The board's current `seq` (its last event).
pub async fn board_seq(s: &Session, board: Uuid) -> Result<u64> {
    let snap: Value = s
        .http
        .get(format!("{}/api/v1/boards/{board}", s.auth.url))
        .bearer_auth(&s.auth.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    snap["seq"].as_u64().context("snapshot without seq")
}
