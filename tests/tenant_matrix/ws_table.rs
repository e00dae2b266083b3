//! The WebSocket case table: what each client frame type and topic kind must answer.

use super::*;

// ------------------------------------------------------------------------------------------
// The WebSocket case table
// ------------------------------------------------------------------------------------------

pub(crate) fn ws_want(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "ok",
        Decision::Forbidden => "forbidden",
        Decision::NotFound => "not_found",
    }
}

/// The expected answer to subscribing to `topic` of world `t`.
pub(crate) fn subscribe_want(p: &Principal, topic: &Topic, t: &Target<'_>) -> &'static str {
    match topic {
        Topic::Org(_) => ws_want(decide(p, Action::ReadOrgPresence, &t.org_res())),
        Topic::Board(_) => ws_want(decide(p, Action::ReadBoard, &t.board_res())),
        Topic::Card(id) if *id == t.card => ws_want(decide(p, Action::ReadCard, &t.card_res())),
        Topic::Card(_) => ws_want(decide(p, Action::ReadCard, &t.hidden_card_res())),
        // Only one's own user topic, which the session is subscribed to at `hello` (so asking
        // again is a conflict); anyone else's is not found.
        Topic::User(id) if p.user_id() == Some(*id) => "conflict",
        Topic::User(_) => "not_found",
    }
}

/// The expected answer to unsubscribing from `topic` after the subscribe above. The session
/// answers from its own record of what it asked for: a board or card topic of its own org is
/// on record once the board took the request, even when the board then refused it (the
/// refusal goes straight to the client), so leaving it is `ok`; a topic refused before that
/// (another org's, an org topic it may not read, someone else's user topic) is not found.
pub(crate) fn unsubscribe_want(p: &Principal, topic: &Topic, t: &Target<'_>) -> &'static str {
    let on_record = match topic {
        Topic::Board(_) | Topic::Card(_) => p.org_id == t.id,
        Topic::Org(_) => subscribe_want(p, topic, t) == "ok",
        Topic::User(id) => p.user_id() == Some(*id),
    };
    if on_record {
        "ok"
    } else {
        "not_found"
    }
}

/// Sends `frame` (a JSON object without `ref`) with a fresh ref and returns the `ok` or
/// `error` that answers it; events and presence in between are skipped.
pub(crate) async fn ask(ws: &mut Ws, next_ref: &mut i64, mut frame: Value) -> Value {
    *next_ref += 1;
    let r = *next_ref;
    frame["ref"] = json!(r);
    ws.send_json(frame).await;
    loop {
        let f = ws.recv().await;
        let v = serde_json::to_value(&f).expect("frame as json");
        if v["ref"] == json!(r) && (v["type"] == "ok" || v["type"] == "error") {
            return v;
        }
    }
}

pub(crate) fn answer_code(v: &Value) -> String {
    match v["type"].as_str() {
        Some("ok") => "ok".into(),
        _ => v["code"].as_str().unwrap_or("?").to_string(),
    }
}

/// The frames one credential sends against world `t`: (label, frame, expected answer), in
/// order. Every client frame type has a case; a new one without a case fails the test.
pub(crate) fn ws_cases(
    c: &Cred,
    t: &Target<'_>,
    other_token: &str,
) -> Vec<(String, Value, String)> {
    let p = &c.principal;
    let mut out: Vec<(String, Value, String)> = Vec::new();
    let mut topics = vec![
        Topic::Board(t.board_id),
        Topic::Card(t.card),
        Topic::Card(t.hidden_card),
    ];
    if t.org_level {
        topics.push(Topic::Org(t.id));
        topics.push(Topic::User(uuid_of(&json!(t.owner.owner_id))));
    }
    for ty in ClientFrame::TYPES {
        // Frames that name no board are sent once per org.
        if !t.org_level && matches!(ty, "hello" | "auth" | "notifications.read") {
            continue;
        }
        match ty {
            // Both are answered by the session's identity, not by a resource: `hello` is the
            // handshake (checked when connecting); a second one is a bad request.
            "hello" => out.push((
                "hello again".into(),
                json!({"type": "hello", "token": c.token}),
                "bad_request".into(),
            )),
            // Renewing with someone else's token: forbidden whichever org they are in.
            "auth" => out.push((
                "auth as someone else".into(),
                json!({"type": "auth", "token": other_token}),
                "forbidden".into(),
            )),
            // Answered `pong` whoever asks; checked once per session, after `hello`.
            "ping" => {}
            // Sent right after each board subscription (see "subscribe"), which it rides on.
            "presence.set" => {}
            "subscribe" => {
                for topic in &topics {
                    let w = subscribe_want(p, topic, t);
                    out.push((
                        format!("subscribe {topic}"),
                        json!({"type": "subscribe", "topic": topic.to_string()}),
                        w.into(),
                    ));
                    // Presence rides on a board subscription: without one (refused) it is
                    // not found, like any topic the session may not see.
                    if matches!(topic, Topic::Board(_)) {
                        out.push((
                            format!("presence.set {topic}"),
                            json!({"type": "presence.set", "topic": topic.to_string(), "state": {"focus": null, "editing": false}}),
                            if w == "ok" { "ok" } else { "not_found" }.into(),
                        ));
                    }
                }
            }
            "unsubscribe" => {
                for topic in &topics {
                    out.push((
                        format!("unsubscribe {topic}"),
                        json!({"type": "unsubscribe", "topic": topic.to_string()}),
                        unsubscribe_want(p, topic, t).into(),
                    ));
                }
            }
            "op" => {
                let topic = format!("board:{}", t.board_id);
                out.push((
                    "op comment.add".into(),
                    json!({"type": "op", "topic": topic, "op_id": Uuid::now_v7(), "kind": "comment.add", "data": {"card_id": t.card, "body": "ws matrix"}}),
                    ws_want(decide(p, Action::Op(OpClass::CommentAdd), &t.card_res())).into(),
                ));
                out.push((
                    "op column.create".into(),
                    json!({"type": "op", "topic": topic, "op_id": Uuid::now_v7(), "kind": "column.create", "data": {"name": "WS", "after": null}}),
                    ws_want(decide(p, Action::Op(OpClass::Column), &t.board_res())).into(),
                ));
            }
            // Users only; someone else's ids are ignored (the answer is the caller's count).
            "notifications.read" => out.push((
                "notifications.read".into(),
                json!({"type": "notifications.read", "ids": [t.notification]}),
                ws_want(decide(
                    p,
                    Action::ReadNotifications,
                    &Resource::Org { org_id: p.org_id },
                ))
                .into(),
            )),
            other => panic!("client frame type {other:?} has no case in the tenant matrix"),
        }
    }
    out
}
