//! The HTTP case table: the cells of every route for one credential, how a cell runs, and
//! what an allowed answer must not show.

use super::*;

// ------------------------------------------------------------------------------------------
// The HTTP case table
// ------------------------------------------------------------------------------------------

/// The cells of one route for one credential against world `t`, or `None` when the route is
/// not in this table. Routes that name no org's resource (public, user-only) are checked once,
/// in the first pass over the credential's own org.
pub(crate) async fn http_cells(
    verb: Verb,
    path: &str,
    c: &Cred,
    t: &Target<'_>,
    server: &TestServer,
) -> Option<Vec<Cell>> {
    use Verb::{Delete, Get, Patch, Post, Put};
    let own = t.own;
    let board_level = path.contains("{board}")
        || path.contains("{card}")
        || path == "/api/v1/job"
        || path == "/api/v1/stream";
    if !t.org_level && !board_level {
        return Some(Vec::new());
    }
    let p = &c.principal;
    let o = t.id;
    let org = t.org_res();
    let board = t.board_res();
    let card = t.card_res();
    // Card routes run on both cards: the worker's and customer's own, and nobody's (which
    // those two and the share link may not even see).
    let cards = [(t.card, t.card_res()), (t.hidden_card, t.hidden_card_res())];
    // User-only routes: the "users only" action, on the caller's own org.
    let users_only = decide(
        p,
        Action::ReadNotifications,
        &Resource::Org { org_id: p.org_id },
    );
    let bearer = |d: Decision| want(c, Auth::Bearer, d);
    let once = |cells: Vec<Cell>| if own { cells } else { Vec::new() };
    let cells = match (verb, path) {
        (Post, "/api/v1/auth/login") => once(vec![cell(
            "POST",
            "/api/v1/auth/login".into(),
            Some(json!({"email": t.worker.email, "password": PASSWORD})),
            want(c, Auth::Public, Decision::Allow),
        )]),
        (Post, "/api/v1/auth/refresh") => {
            if own {
                let fresh = login(&server.base, &t.worker.email, PASSWORD).await.refresh;
                vec![cell(
                    "POST",
                    "/api/v1/auth/refresh".into(),
                    Some(json!({"refresh_token": fresh})),
                    want(c, Auth::Public, Decision::Allow),
                )]
            } else {
                Vec::new()
            }
        }
        // Someone else's refresh token (org 2's owner's spare login): answered 204 like an
        // unknown token, and that login must live on (checked at the end).
        (Post, "/api/v1/auth/logout") => vec![cell(
            "POST",
            "/api/v1/auth/logout".into(),
            Some(
                json!({"refresh_token": if own { "brr_not_a_real_token".to_string() } else { t.spare_refresh.clone() }}),
            ),
            bearer(users_only),
        )],
        (Get, "/api/v1/me") => once(vec![cell(
            "GET",
            "/api/v1/me".into(),
            None,
            bearer(users_only),
        )]),
        (Post, "/api/v1/orgs/{org}/members") => vec![create(
            format!("/api/v1/orgs/{o}/members"),
            "users",
            "email",
            unique_email("planted"),
            json!({"name": "New", "password": PASSWORD, "role": "worker"}),
            bearer(first(&[
                decide(p, Action::ManageMembers, &org),
                decide(p, Action::GrantRole(Role::Worker), &org),
            ])),
        )],
        (Get, "/api/v1/orgs/{org}/members") => get(
            format!("/api/v1/orgs/{o}/members"),
            bearer(decide(p, Action::ManageMembers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/members/{user}")
        | (Delete, "/api/v1/orgs/{org}/members/{user}") => {
            let patch = verb == Patch;
            let mut ds = vec![
                decide(p, Action::ManageMembers, &org),
                decide(p, Action::ModifyMemberWithRole(Role::Worker), &org),
            ];
            if patch {
                ds.push(decide(p, Action::GrantRole(Role::Member), &org));
            }
            let w = bearer(first(&ds));
            // An allowed change gets a worker of its own; refusals all aim at the shared one.
            let target = if w == Want::Success {
                let v = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/orgs/{o}/members"),
                    json!({"email": unique_email("target"), "name": "Target", "password": PASSWORD, "role": "worker"}),
                )
                .await;
                uuid_of(&v["id"])
            } else {
                t.victim_member
            };
            let path = format!("/api/v1/orgs/{o}/members/{target}");
            if patch {
                vec![cell("PATCH", path, Some(json!({"role": "member"})), w)]
            } else {
                vec![cell("DELETE", path, None, w)]
            }
        }
        (Post, "/api/v1/orgs/{org}/customers") => vec![create(
            format!("/api/v1/orgs/{o}/customers"),
            "customers",
            "name",
            planted_name(),
            json!({}),
            bearer(decide(p, Action::ManageCustomers, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/customers") => get(
            format!("/api/v1/orgs/{o}/customers"),
            bearer(decide(p, Action::ReadCustomers, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/customers/{id}") => get(
            format!("/api/v1/orgs/{o}/customers/{}", t.customer),
            bearer(decide(p, Action::ReadCustomers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/customers/{id}")
        | (Delete, "/api/v1/orgs/{org}/customers/{id}") => {
            let w = bearer(decide(p, Action::ManageCustomers, &org));
            let target = if w == Want::Success {
                let v = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/orgs/{o}/customers"),
                    json!({"name": "Target"}),
                )
                .await;
                uuid_of(&v["id"])
            } else {
                t.customer
            };
            let path = format!("/api/v1/orgs/{o}/customers/{target}");
            if verb == Patch {
                vec![cell("PATCH", path, Some(json!({"name": "Renamed"})), w)]
            } else {
                vec![cell("DELETE", path, None, w)]
            }
        }
        (Get, "/api/v1/orgs/{org}/people") => {
            let d = decide(p, Action::ReadOrgPresence, &org);
            vec![cell(
                "GET",
                format!("/api/v1/orgs/{o}/people"),
                None,
                bearer(d),
            )]
        }
        (Post, "/api/v1/orgs/{org}/boards") => vec![create(
            format!("/api/v1/orgs/{o}/boards"),
            "boards",
            "name",
            planted_name(),
            json!({}),
            bearer(decide(p, Action::CreateBoard, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/boards") => get(
            format!("/api/v1/orgs/{o}/boards"),
            bearer(decide(p, Action::ReadOrg, &org)),
        ),
        (Post, "/api/v1/boards/{board}/archive") => {
            let w = bearer(decide(p, Action::ArchiveBoard, &board));
            // An allowed archive takes a board of its own, except for the scoped key, whose
            // only board is the shared one: that cell runs last.
            let (target, last) = match (w, &p.board_scope) {
                (Want::Success, None) => {
                    let b = new_board(&t.owner, json!({"name": "To archive"})).await;
                    (uuid_of(&b["id"]), false)
                }
                (Want::Success, Some(_)) => (t.board_id, true),
                _ => (t.board_id, false),
            };
            vec![Cell {
                last,
                ..cell(
                    "POST",
                    format!("/api/v1/boards/{target}/archive"),
                    Some(json!({})),
                    w,
                )
            }]
        }
        (Post, "/api/v1/orgs/{org}/api-keys") => vec![create(
            format!("/api/v1/orgs/{o}/api-keys"),
            "api_keys",
            "name",
            planted_name(),
            json!({"role": "member"}),
            bearer(first(&[
                decide(p, Action::ManageApiKeys, &org),
                decide(p, Action::IssueApiKey(Role::Member), &org),
            ])),
        )],
        (Get, "/api/v1/orgs/{org}/audit") => get(
            format!("/api/v1/orgs/{o}/audit"),
            bearer(decide(p, Action::ManageMembers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}") => vec![cell(
            "PATCH",
            format!("/api/v1/orgs/{o}"),
            Some(json!({"name": "Renamed org"})),
            bearer(decide(p, Action::ManageMembers, &org)),
        )],
        // The unfiltered history: the raw event log's readers, on both cards.
        (Get, "/api/v1/boards/{board}/cards/{card}/history") => cards
            .iter()
            .map(|(id, _)| {
                cell(
                    "GET",
                    format!("/api/v1/boards/{}/cards/{id}/history", t.board_id),
                    None,
                    bearer(decide(p, Action::ReadBoardEvents, &board)),
                )
            })
            .collect(),
        (Get, "/api/v1/orgs/{org}/api-keys") => get(
            format!("/api/v1/orgs/{o}/api-keys"),
            bearer(decide(p, Action::ManageApiKeys, &org)),
        ),
        (Delete, "/api/v1/orgs/{org}/api-keys/{id}") => {
            let w = bearer(decide(p, Action::ManageApiKeys, &org));
            let target = if w == Want::Success {
                new_key(&t.owner, json!({"name": "target", "role": "member"}))
                    .await
                    .0
            } else {
                t.victim_key
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/orgs/{o}/api-keys/{target}"),
                None,
                w,
            )]
        }
        (Post, "/api/v1/orgs/{org}/webhooks") => vec![create(
            format!("/api/v1/orgs/{o}/webhooks"),
            "webhooks",
            "description",
            planted_name(),
            json!({"url": WEBHOOK_URL, "active": false}),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/webhooks") => get(
            format!("/api/v1/orgs/{o}/webhooks"),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/webhooks/{id}") => get(
            format!("/api/v1/orgs/{o}/webhooks/{}", t.webhook),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/webhooks/{id}/deliveries") => get(
            format!("/api/v1/orgs/{o}/webhooks/{}/deliveries", t.webhook),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/webhooks/{id}") => vec![cell(
            "PATCH",
            format!("/api/v1/orgs/{o}/webhooks/{}", t.webhook),
            Some(json!({"description": "changed"})),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Post, "/api/v1/orgs/{org}/webhooks/{id}/rotate-secret")
        | (Post, "/api/v1/orgs/{org}/webhooks/{id}/test") => vec![cell(
            "POST",
            path.replace("{org}", &o.to_string())
                .replace("{id}", &t.webhook.to_string()),
            Some(json!({})),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Post, "/api/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/redeliver") => {
            vec![cell(
                "POST",
                format!(
                    "/api/v1/orgs/{o}/webhooks/{}/deliveries/{}/redeliver",
                    t.webhook, t.webhook_delivery
                ),
                Some(json!({})),
                bearer(decide(p, Action::ManageWebhooks, &org)),
            )]
        }
        (Delete, "/api/v1/orgs/{org}/webhooks/{id}") => {
            let w = bearer(decide(p, Action::ManageWebhooks, &org));
            // An allowed delete takes a webhook of its own; refusals aim at the shared one.
            let target = if w == Want::Success {
                new_webhook(&t.owner).await
            } else {
                t.webhook
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/orgs/{o}/webhooks/{target}"),
                None,
                w,
            )]
        }
        // A card the caller may not see is not found, before whether they may share it.
        (Post, "/api/v1/cards/{card}/share-links") => cards
            .iter()
            .map(|(id, card)| {
                let d = match decide(p, Action::ReadCard, card) {
                    Decision::Allow => decide(p, Action::ManageShareLinks, card),
                    _ => Decision::NotFound,
                };
                cell(
                    "POST",
                    format!("/api/v1/cards/{id}/share-links"),
                    Some(json!({})),
                    bearer(d),
                )
            })
            .collect(),
        (Get, "/api/v1/orgs/{org}/share-links") => get(
            format!("/api/v1/orgs/{o}/share-links"),
            bearer(decide(p, Action::ManageShareLinks, &org)),
        ),
        (Delete, "/api/v1/share-links/{id}") => {
            let w = bearer(decide(p, Action::ManageShareLinks, &card));
            let target = if w == Want::Success {
                let l = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/cards/{}/share-links", t.card),
                    json!({}),
                )
                .await;
                uuid_of(&l["id"])
            } else {
                t.link_id
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/share-links/{target}"),
                None,
                w,
            )]
        }
        // The job page's card; a card the caller may not see is not found.
        (Get, "/api/v1/job") => cards
            .iter()
            .map(|(id, card)| {
                cell(
                    "GET",
                    format!("/api/v1/job?card={id}"),
                    None,
                    want(
                        c,
                        Auth::Session,
                        match decide(p, Action::ReadCard, card) {
                            Decision::Allow => Decision::Allow,
                            _ => Decision::NotFound,
                        },
                    ),
                )
            })
            .collect(),
        (Get, "/api/v1/boards/{board}") => get(
            format!("/api/v1/boards/{}", t.board_id),
            bearer(decide(p, Action::ReadBoard, &board)),
        ),
        // The card search reads what the board snapshot shows the caller.
        (Get, "/api/v1/boards/{board}/cards") => get(
            format!("/api/v1/boards/{}/cards?q=matrix", t.board_id),
            bearer(decide(p, Action::ReadBoard, &board)),
        ),
        // Two ops: one on a card (the worker's, the customer's job) and one on the board.
        (Post, "/api/v1/boards/{board}/ops") => {
            let path = format!("/api/v1/boards/{}/ops", t.board_id);
            let mut ops: Vec<Cell> = cards
                .iter()
                .map(|(id, card)| {
                    let comment = Uuid::now_v7();
                    Cell {
                        op_id: Some(comment),
                        ..cell(
                            "POST",
                            path.clone(),
                            Some(
                                json!({"op_id": comment, "kind": "comment.add", "data": {"card_id": id, "body": "matrix"}}),
                            ),
                            bearer(decide(p, Action::Op(OpClass::CommentAdd), card)),
                        )
                    }
                })
                .collect();
            let column = Uuid::now_v7();
            ops.push(Cell {
                    op_id: Some(column),
                    ..cell(
                        "POST",
                        path,
                        Some(
                            json!({"op_id": column, "kind": "column.create", "data": {"name": "Matrix", "after": null}}),
                        ),
                    bearer(decide(p, Action::Op(OpClass::Column), &board)),
                )
            });
            ops
        }
        (Get, "/api/v1/boards/{board}/events") => get(
            format!("/api/v1/boards/{}/events", t.board_id),
            bearer(decide(p, Action::ReadBoardEvents, &board)),
        ),
        // Not routed in production (this server): the fallback's 404 for every caller.
        (Post, "/api/v1/boards/{board}/debug/panic") => vec![cell(
            "POST",
            format!("/api/v1/boards/{}/debug/panic", t.board_id),
            Some(json!({})),
            Want::Status(404),
        )],
        (Post, "/api/v1/debug/sessions/panic") => once(vec![cell(
            "POST",
            "/api/v1/debug/sessions/panic".into(),
            Some(json!({})),
            Want::Status(404),
        )]),
        (Get, "/api/v1/notifications") => once(vec![cell(
            "GET",
            "/api/v1/notifications".into(),
            None,
            bearer(users_only),
        )]),
        // Ids of someone else's notification (org 2's worker, or org 1's for anyone but the
        // worker) are ignored like unknown ids: 200, and that notification stays unread.
        (Post, "/api/v1/notifications/read") => vec![cell(
            "POST",
            "/api/v1/notifications/read".into(),
            Some(json!({"ids": [t.notification]})),
            bearer(users_only),
        )],
        // A member's own preferences in the target org: users only, members of that org only.
        // The PUT turns every kind on again, so the world's notifications are unaffected.
        (Get, "/api/v1/orgs/{org}/me/notification-preferences") => get(
            format!("/api/v1/orgs/{o}/me/notification-preferences"),
            bearer(decide(p, Action::ReadNotifications, &org)),
        ),
        (Put, "/api/v1/orgs/{org}/me/notification-preferences") => vec![cell(
            "PUT",
            format!("/api/v1/orgs/{o}/me/notification-preferences"),
            Some(json!({"kinds": ["card.assigned", "mention", "job.status"], "muted_boards": []})),
            bearer(decide(p, Action::ReadNotifications, &org)),
        )],
        (Get, "/api/v1/stream") => {
            let mut cells: Vec<Cell> = cards
                .iter()
                .map(|(id, card)| {
                    cell(
                        "STREAM",
                        format!("/api/v1/stream?topic=card:{id}&token={}", c.token),
                        None,
                        want(c, Auth::Session, decide(p, Action::ReadCard, card)),
                    )
                })
                .collect();
            cells.push(cell(
                "STREAM",
                format!(
                    "/api/v1/stream?topic=board:{}&token={}",
                    t.board_id, c.token
                ),
                None,
                want(c, Auth::Session, decide(p, Action::ReadBoard, &board)),
            ));
            cells
        }
        (Get, "/api/v1/openapi.json")
        | (Get, "/api/v1/docs")
        | (Get, "/healthz")
        | (Get, "/readyz")
        | (Get, "/metrics") => once(vec![cell(
            "GET",
            path.to_string(),
            None,
            want(c, Auth::Public, Decision::Allow),
        )]),
        // The WebSocket matrix below covers it frame by frame.
        (Get, "/ws") => Vec::new(),
        _ => return None,
    };
    Some(cells)
}

pub(crate) async fn run_cell(server: &TestServer, c: &Cred, x: &Cell) -> (u16, Value) {
    let api = server.api().with_token(&c.token);
    if x.method == "STREAM" {
        // An event stream never ends: the status and the first bytes are the answer.
        let res = api
            .request("GET", &x.path)
            .send()
            .await
            .expect("stream request");
        let status = res.status().as_u16();
        if status == 200 {
            return (status, Value::Null);
        }
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        return (status, body);
    }
    api.send(x.method, &x.path, x.body.clone()).await.pair()
}

pub(crate) fn check(got: &(u16, Value), want: Want, label: &str, failures: &mut Vec<String>) {
    let (s, body) = got;
    let ok = match want {
        Want::Success => (200..300).contains(s),
        Want::Status(w) => {
            let code = match w {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                _ => "",
            };
            *s == w && body["error"]["code"] == json!(code)
        }
    };
    if !ok {
        failures.push(format!("{label}: want {want:?}, got {s} {body}"));
    }
}

/// What an allowed answer shows that the policy says the caller may not see: a board list's
/// boards (`ReadBoard`, and never another org's), a board snapshot's cards and a card
/// snapshot's card (`ReadCard`, judged on the assignees and customer the answer itself gives).
pub(crate) fn leaks(p: &Principal, answer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let v = answer.get("snapshot").unwrap_or(answer);
    let see_card = |org_id: &Value, board_id: &Value, card: &Value| {
        let facts = CardFacts {
            card_id: uuid_of(&card["id"]),
            assignees: card["assignees"]
                .as_array()
                .map(|a| a.iter().map(uuid_of).collect())
                .unwrap_or_default(),
            customer_id: card["customer_id"].as_str().and_then(|c| c.parse().ok()),
        };
        let res = Resource::Card {
            org_id: uuid_of(org_id),
            board_id: uuid_of(board_id),
            card: facts,
        };
        decide(p, Action::ReadCard, &res).is_allowed()
    };
    if let Some(boards) = v["boards"].as_array() {
        for b in boards {
            let res = Resource::Board {
                org_id: uuid_of(&b["org_id"]),
                board_id: uuid_of(&b["id"]),
            };
            if !decide(p, Action::ReadBoard, &res).is_allowed() {
                out.push(format!("board {} listed", b["id"]));
            }
        }
    }
    if let Some(cards) = v["cards"].as_array() {
        for c in cards {
            if !see_card(&v["org_id"], &v["id"], c) {
                out.push(format!("card {} in the snapshot", c["id"]));
            }
        }
    }
    if v["card"].is_object() && v["board_id"].is_string() {
        // A card snapshot names its board, not its org: the caller's own (another org's
        // would not have been answered at all).
        if !see_card(&json!(p.org_id), &v["board_id"], &v["card"]) {
            out.push(format!("card {} shown", v["card"]["id"]));
        }
    }
    out
}
