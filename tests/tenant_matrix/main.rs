//! Issue 14.3: the tenant matrix. Every HTTP route of the router's own table
//! (`boardroom::http::routes()`), every WebSocket client frame type and topic kind, for every
//! kind of credential of org 1 (owner, admin, member, worker, customer, share link, admin API
//! key with and without a board scope, expired key, revoked key, worker- and customer-role
//! keys), against org 1's board A, org 1's board B (outside the scoped key's scope and the
//! share link's board) and the same resources of org 2. One real server, one setup, one loop.
//!
//! The expected answer of each cell comes from the policy itself (`policy::decide`), not from
//! a second table written here: `NotFound` -> 404 / `not_found`, `Forbidden` -> 403 /
//! `forbidden`, `Allow` -> 2xx / `ok`. What the policy does not decide is a rule written next
//! to the case that uses it:
//! - a credential refused at authentication (expired, revoked key) gets 401 everywhere, and
//!   its WebSocket `hello` gets `unauthorized` and close 4001;
//! - a share token is not an HTTP credential (PROTOCOL.md: Bearer is a JWT or an API key): 401
//!   on every Bearer route; it works where a WebSocket `hello` token does (`/job`, `/stream`);
//! - user-only routes (`/me`, logout, notifications) use `Action::ReadNotifications` ("users
//!   only") on the caller's own org;
//! - the `/debug/...` routes are absent in production (this server): 404 for everyone;
//! - public routes (login, refresh, health, spec) answer the same whatever the credential;
//! - over the WebSocket: `presence.set` and `unsubscribe` on a topic the session is not
//!   subscribed to are `not_found`; one's own `user:` topic is a `conflict` (subscribed at
//!   `hello`); someone else's notification ids are ignored (see `unsubscribe_want` for what the
//!   session counts as subscribed). protocol/README.md §7 says the same.
//!
//! An allowed answer is also checked for what it shows (`leaks`): every listed board, every
//! card of a board snapshot and the card of a card snapshot must be one the policy lets the
//! caller see.
//!
//! A route of the table with no case here fails the test, and so does a client frame type
//! (`ClientFrame::TYPES`) with no case: nothing new can slip past the matrix. After the cells,
//! nothing the refusals aimed at has changed: org 2 as its owner sees it, its event log, its
//! worker's notification and refresh token; in org 1 the refused ops' ids are absent from the
//! event log, refused creates left no row (allowed ones exactly one), and every shared target
//! (member, customer, key, share link, boards) is as it was.

#[path = "../common/mod.rs"]
mod common;

use boardroom::http::{routes, Verb};
use boardroom_actors::policy::{decide, Action, CardFacts, Decision, OpClass, Principal, Resource};
use boardroom_protocol::{ClientFrame, Codec, PrincipalKind, Role, Topic};
use common::ws::{Closed, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod creds;
mod http_table;
mod world;
mod ws_table;
use creds::*;
use http_table::*;
use world::*;
use ws_table::*;

// ------------------------------------------------------------------------------------------
// The test
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_route_frame_and_credential_answers_as_the_policy_says() {
    let started = Instant::now();
    let db = fresh_pg_url().await;
    // Many logins of the same few accounts from one address: not what the limits are about.
    let server = TestServer::start(&db, &login_limits("1000", "1000")).await;
    let one = setup(&server, "Org One").await;
    let two = setup(&server, "Org Two").await;
    let two_before = state_of(&server, &two).await;
    let mut failures = Vec::new();
    let mut refused_ops = Vec::new();
    let mut allowed_ops = Vec::new();
    let mut last = Vec::new();
    let mut cells_run = 0usize;
    let mut planted = Vec::new();

    // HTTP: every route of the router's table.
    let table = routes();
    let mut missing = Vec::new();
    for kind in KINDS {
        let c = cred(&one, kind);
        for t in [
            one.target(false, true),
            one.target(true, true),
            two.target(false, false),
        ] {
            let own = t.own;
            for r in &table {
                let Some(cells) = http_cells(r.verb, r.path, &c, &t, &server).await else {
                    if kind == Kind::Owner && own && t.org_level {
                        missing.push(format!("{} {}", r.verb.as_str(), r.path));
                    }
                    continue;
                };
                for x in cells {
                    if x.last {
                        last.push((kind, x));
                        continue;
                    }
                    let label = format!("{kind:?} on {}: {} {}", t.name(), x.method, x.path);
                    let got = run_cell(&server, &c, &x).await;
                    cells_run += 1;
                    check(&got, x.want, &label, &mut failures);
                    for leak in leaks(&c.principal, &got.1) {
                        failures.push(format!("{label}: {leak}, which the policy hides"));
                    }
                    if let Some(id) = x.op_id {
                        if x.want == Want::Success {
                            allowed_ops.push(id);
                        } else {
                            refused_ops.push(id);
                        }
                    }
                    if let Some(row) = x.planted {
                        planted.push((label, row, x.want == Want::Success));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes of boardroom::http::routes() with no case in the tenant matrix: {missing:?}"
    );

    // WebSocket: every client frame type and topic kind.
    let other_token = two.owner.owner.token.clone().expect("token");
    for kind in KINDS {
        let c = cred(&one, kind);
        let mut ws = Ws::connect(&server.base, Codec::Json).await;
        ws.send_json(json!({"type": "hello", "token": c.token}))
            .await;
        let first_frame = serde_json::to_value(ws.recv().await).expect("json");
        if !c.authenticates {
            cells_run += 1;
            if first_frame["type"] != "error" || first_frame["code"] != "unauthorized" {
                failures.push(format!(
                    "{kind:?}: hello -> {first_frame}, want unauthorized"
                ));
            }
            let closed = ws.closed().await;
            if closed != Closed::Code(4001) {
                failures.push(format!(
                    "{kind:?}: hello refused, closed with {closed:?}, want 4001"
                ));
            }
            continue;
        }
        assert_eq!(first_frame["type"], "welcome", "{kind:?}: {first_frame}");
        let mut next_ref = 0i64;
        let pong = {
            next_ref += 1;
            ws.send_json(json!({"type": "ping", "ref": next_ref})).await;
            let (f, _) = ws
                .recv_until(|f| serde_json::to_value(f).is_ok_and(|v| v["type"] == "pong"))
                .await;
            serde_json::to_value(f).expect("json")
        };
        assert_eq!(pong["ref"], json!(next_ref), "{kind:?}: {pong}");
        for t in [
            one.target(false, true),
            one.target(true, true),
            two.target(false, false),
        ] {
            for (label, frame, want) in ws_cases(&c, &t, &other_token) {
                let op_id = (frame["type"] == "op").then(|| uuid_of(&frame["op_id"]));
                let got = ask(&mut ws, &mut next_ref, frame).await;
                cells_run += 1;
                let code = answer_code(&got);
                for leak in leaks(&c.principal, &got) {
                    failures.push(format!(
                        "{kind:?} on {}: ws {label}: {leak}, which the policy hides",
                        t.name()
                    ));
                }
                if code != want {
                    failures.push(format!(
                        "{kind:?} on {}: ws {label}: want {want}, got {got}",
                        t.name()
                    ));
                }
                if let Some(id) = op_id {
                    if want == "ok" {
                        allowed_ops.push(id);
                    } else {
                        refused_ops.push(id);
                    }
                }
            }
        }
    }

    // Nothing the refusals aimed at changed.
    let two_after = state_of(&server, &two).await;
    if two_after != two_before {
        failures.push(format!(
            "org 2 changed under org 1's credentials:\nbefore {two_before}\nafter  {two_after}"
        ));
    }
    let (s, body) = server.api().refresh(&two.spare_refresh).await;
    if s != 200 {
        failures.push(format!(
            "org 2's owner's login was ended by a logout from org 1: {s} {body}"
        ));
    }
    let events = |ids: &[Uuid]| {
        let list = ids
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",");
        format!("SELECT count(*) FROM board_events WHERE op_id IN ({list})")
    };
    let written = sql_count(&db, &events(&refused_ops)).await;
    if written != 0 {
        failures.push(format!("{written} refused ops left events"));
    }
    let applied = sql_count(&db, &events(&allowed_ops)).await;
    if applied != allowed_ops.len() as i64 {
        failures.push(format!(
            "{} allowed ops, {applied} of them in the event log",
            allowed_ops.len()
        ));
    }
    let (s, members) = one
        .owner
        .owner
        .get(&format!("/api/v1/orgs/{}/members", one.id))
        .await;
    assert_eq!(s, 200);
    let victim = members["members"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == json!(one.victim_member)))
        .cloned()
        .unwrap_or_default();
    if victim["role"] != "worker" || victim["active"] != json!(true) {
        failures.push(format!("org 1's shared target member changed: {victim}"));
    }
    let (s, cust) = one
        .owner
        .owner
        .get(&format!(
            "/api/v1/orgs/{}/customers/{}",
            one.id, one.customer
        ))
        .await;
    if s != 200 || cust["name"] != "Carla" {
        failures.push(format!("org 1's customer changed: {s} {cust}"));
    }
    let revoked = |table: &str, id: Uuid| {
        format!("SELECT count(*) FROM {table} WHERE id = '{id}' AND revoked_at IS NOT NULL")
    };
    if sql_count(&db, &revoked("api_keys", one.victim_key)).await != 0 {
        failures.push("org 1's shared target key was revoked".into());
    }
    if sql_count(&db, &revoked("share_links", one.link_id)).await != 0 {
        failures.push("org 1's share link was revoked".into());
    }
    for (label, (table, column, value), allowed) in &planted {
        let n = sql_count(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE {column} = '{value}'"),
        )
        .await;
        if n != i64::from(*allowed) {
            failures.push(format!(
                "{label}: {n} rows in {table} with {column} = {value:?} afterwards (allowed: {allowed})"
            ));
        }
    }
    for b in [one.board_id, one.board_b] {
        let (s, body) = one.owner.owner.get(&format!("/api/v1/boards/{b}")).await;
        if s != 200 {
            failures.push(format!("org 1's board {b} is gone (archived?): {s} {body}"));
        }
    }

    // Last: the scoped key archives its own board (allowed), the shared one.
    for (kind, x) in last {
        let c = cred(&one, kind);
        let got = run_cell(&server, &c, &x).await;
        cells_run += 1;
        check(
            &got,
            x.want,
            &format!("{kind:?}: {} {}", x.method, x.path),
            &mut failures,
        );
    }

    eprintln!(
        "tenant matrix: {cells_run} cells, {} failures, {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} cells disagree with the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
