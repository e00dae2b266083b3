//! Keeping a board in sync across lost connections: the outbox, resuming with `since`, and
//! the review bot example.

use super::*;
use boardroom_client::protocol::event::EventBody;

/// The answer to an op sent in the background by `task`: it must come within 20 s and be a
/// success. `what` names the op in the failure messages.
async fn answered<T, E: std::fmt::Debug>(
    task: tokio::task::JoinHandle<Result<T, E>>,
    what: &str,
) -> T {
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap_or_else(|_| panic!("{what} is answered within 20 s"))
        .expect("task")
        .unwrap_or_else(|e| panic!("{what} succeeds: {e:?}"))
}

/// A card titled `title` on the fixture's board with one checklist item, `item`: the card's
/// id and the item.
async fn card_with_item(f: &Fixture, title: &str, item: &str) -> (Uuid, Value) {
    let card: Uuid = create_card(&f.org.owner, &f.board, title)
        .await
        .parse()
        .expect("card id");
    let data = json!({"card_id": card, "title": item});
    let item = op_ok(&f.org.owner, f.board_id, "checklist.add", data).await;
    (card, item)
}

/// The `ok` of an op is lost with the connection: the client resends the op with the same
/// `op_id` after reconnecting, gets the first result back, and the board holds it once.
/// Then an op made while the connection is down waits in the outbox and is applied once.
#[tokio::test]
async fn outbox_applies_each_op_once_across_reconnections() {
    let f = fixture().await;
    let proxy = Proxy::start(&f.server.base).await;
    let (client, mut events) = through_proxy(&f, &proxy).await;
    let topic = Topic::Board(f.board_id);
    let board = f.board_id.to_string();
    let card_id = f.card_id.to_string();

    // 1. The server applies the op, but its answer never reaches the client.
    proxy.mute_downstream();
    let c = client.clone();
    let first = tokio::spawn(async move { c.op(topic, comment(f.card_id, "lost ack")).await });
    board_until(&f.org.owner, &board, "the op applied", |s| {
        comment_bodies(s, &card_id).contains(&"lost ack".to_string())
    })
    .await;
    assert!(!first.is_finished(), "the client cannot have seen the ok");
    assert_eq!(client.outbox_len().await.expect("outbox"), 1);
    proxy.cut();
    disconnected(&mut events).await;
    proxy.restore();
    let ack = answered(first, "the resent op").await;
    assert_eq!(client.outbox_len().await.expect("outbox"), 0);

    // 2. An op made while the connection is down.
    proxy.cut();
    disconnected(&mut events).await;
    let c = client.clone();
    let second = tokio::spawn(async move { c.op(topic, comment(f.card_id, "offline")).await });
    while client.outbox_len().await.expect("outbox") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let snap = board_until(&f.org.owner, &board, "the board", |_| true).await;
    assert!(
        !comment_bodies(&snap, &card_id).contains(&"offline".to_string()),
        "the op cannot have reached the server yet"
    );
    proxy.restore();
    let ack2 = answered(second, "the queued op").await;
    assert!(ack2.seq > ack.seq);

    // Each op is on the board once, and in the event log once, at the seq its ack named.
    let snap = board_until(&f.org.owner, &board, "both comments", |s| {
        comment_bodies(s, &card_id).len() >= 2
    })
    .await;
    assert_eq!(
        comment_bodies(&snap, &card_id),
        ["lost ack", "offline"],
        "each op applied exactly once"
    );
    let (s, log) = f
        .org
        .owner
        .get(&format!(
            "/api/v1/boards/{board}/events?after_seq=0&limit=1000"
        ))
        .await;
    assert_eq!(s, 200, "{log}");
    let comments: Vec<(u64, String)> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "comment.added")
        .map(|e| {
            (
                e["seq"].as_u64().expect("seq"),
                e["op_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(comments.len(), 2, "two comment events: {comments:?}");
    assert_eq!(comments[0].0, ack.seq);
    assert_eq!(comments[0].1, ack.op_id.to_string());
    assert_eq!(comments[1].0, ack2.seq);
    client.close().await;
}

/// Events made while the client is cut off arrive after the reconnection, through a
/// subscription resumed with `since` (`recovered: true`, no snapshot), in order, none twice.
#[tokio::test]
async fn resume_with_since_replays_missed_events() {
    let f = fixture().await;
    let proxy = Proxy::start(&f.server.base).await;
    let opts = fast_reconnect(Options::new(proxy.url(), &f.token))
        .codec(boardroom_client::protocol::Codec::MsgPack);
    let (client, mut events) = Client::connect(opts).await.expect("connect");
    let topic = Topic::Board(f.board_id);
    let first = client.subscribe(topic).await.expect("subscribe");
    assert!(first.snapshot.is_some());
    let start_seq = first.seq.expect("seq");

    // One event seen live.
    client
        .op(topic, comment(f.card_id, "live"))
        .await
        .expect("op");
    let live = next_event(&mut events, "the live event").await;
    assert_eq!(live.seq, start_seq + 1);

    proxy.cut();
    disconnected(&mut events).await;
    for i in 0..3 {
        let data = json!({"card_id": f.card_id, "body": format!("missed {i}")});
        op_ok(&f.org.owner, f.board_id, "comment.add", data).await;
    }
    proxy.restore();

    let reply = wait_for(&mut events, "the resubscription", |e| match e {
        Event::Subscribed { reply, .. } => Some(reply),
        _ => None,
    })
    .await;
    assert_eq!(
        reply.recovered,
        Some(true),
        "resumed with since, the server replays instead of sending a snapshot: {reply:?}"
    );
    assert!(reply.snapshot.is_none());
    let mut got = Vec::new();
    while got.len() < 3 {
        let ev = next_event(&mut events, "a replayed event").await;
        let EventBody::CommentAdded(c) = &ev.body else {
            panic!("unexpected event {ev:?}")
        };
        got.push((ev.seq, c.comment.body.clone()));
    }
    assert_eq!(
        got,
        vec![
            (live.seq + 1, "missed 0".to_string()),
            (live.seq + 2, "missed 1".to_string()),
            (live.seq + 3, "missed 2".to_string()),
        ]
    );
    // Nothing is delivered twice: the next event is the next op's.
    client
        .op(topic, comment(f.card_id, "after"))
        .await
        .expect("op");
    let next = next_event(&mut events, "the next event").await;
    assert_eq!(next.seq, live.seq + 4);
    client.close().await;
}

/// The example bot, with an API key: ticking the last open checklist item moves the card to a
/// new "Needs review" column and comments, once; ticking the first one does nothing.
#[tokio::test]
async fn review_bot_moves_completed_cards_and_comments() {
    let f = fixture().await;
    let key = member_key(&f, "review bot").await;
    let key_id = key["id"].as_str().expect("key id").to_string();
    let mut items = Vec::new();
    for title in ["sand", "paint"] {
        let data = json!({"card_id": f.card_id, "title": title});
        let body = op_ok(&f.org.owner, f.board_id, "checklist.add", data).await;
        items.push(body["id"].as_str().expect("item id").to_string());
    }
    assert!(
        f.board["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .all(|c| c["name"] != "Needs review"),
        "the bot is to make the column"
    );
    // A card whose checklist was complete before the bot started: not a change it saw.
    let (done_before, item) = card_with_item(&f, "Done before", "all of it").await;
    let data = json!({"card_id": done_before, "item_id": item["id"], "done": true});
    op_ok(&f.org.owner, f.board_id, "checklist.toggle", data).await;

    // A second card, completed right after the first: the bot must not make a second column
    // for it (its toggle may well arrive before the first column's `column.created`).
    let (second, second_item) = card_with_item(&f, "Second", "only step").await;

    // Connected and subscribed once `start` returns: every toggle below reaches it.
    let bot = bot::start(bot::BotConfig {
        url: f.server.base.clone(),
        api_key: key["key"].as_str().expect("key").to_string(),
        board: f.board_id,
        column: "Needs review".into(),
    })
    .await
    .expect("the bot starts");
    let bot = tokio::spawn(bot.run());

    let card_id = f.card_id.to_string();
    let toggle = |card: Uuid, item: &Value| {
        let data = json!({"card_id": card, "item_id": item, "done": true});
        op_ok(&f.org.owner, f.board_id, "checklist.toggle", data)
    };
    let first_toggle = toggle(f.card_id, &json!(items[0])).await;
    // Both completions at once: both events reach the bot before anything it does.
    let (last_toggle, _) = tokio::join!(
        toggle(f.card_id, &json!(items[1])),
        toggle(second, &second_item["id"])
    );
    let toggled = [&first_toggle, &last_toggle].map(|r| r["seq"].as_u64().expect("seq"));
    let snap = board_until(
        &f.org.owner,
        &f.board_id.to_string(),
        "the bot's comments",
        |s| {
            !comment_bodies(s, &card_id).is_empty()
                && !comment_bodies(s, &second.to_string()).is_empty()
        },
    )
    .await;
    let reviews = snap["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["name"] == "Needs review")
        .count();
    assert_eq!(reviews, 1, "one review column: {snap}");
    let review = snap["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == "Needs review")
        .unwrap_or_else(|| panic!("no Needs review column: {snap}"));
    let held = card(&snap, &card_id);
    assert_eq!(
        held["column_id"], review["id"],
        "the card is in review: {snap}"
    );
    let comments = held["comments"].as_array().expect("comments");
    assert_eq!(
        comments.len(),
        1,
        "one comment, for the completion only: {comments:?}"
    );
    assert_eq!(
        comments[0]["author_id"],
        key_id.as_str(),
        "written by the bot's key"
    );
    // It acted on the second toggle, not the first: its move comes after both.
    let (s, log) = f
        .org
        .owner
        .get(&format!(
            "/api/v1/boards/{}/events?after_seq=0&limit=1000",
            f.board_id
        ))
        .await;
    assert_eq!(s, 200, "{log}");
    let moves: Vec<(u64, &str)> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "card.moved")
        .map(|e| {
            let card = e["data"]["card"]["id"].as_str().expect("card id");
            (e["seq"].as_u64().expect("seq"), card)
        })
        .collect();
    assert_eq!(moves.len(), 2, "one move per card: {log}");
    let first_move = moves
        .iter()
        .find(|(_, c)| *c == card_id)
        .expect("the first card moved");
    assert!(
        first_move.0 > toggled[1],
        "moved after its last toggle: {log}"
    );
    assert_eq!(card(&snap, &second.to_string())["column_id"], review["id"]);
    // The card that was complete before the bot started stays where it was, uncommented.
    let before = card(&snap, &done_before.to_string());
    assert_eq!(before["column_id"], f.board["columns"][0]["id"]);
    assert_eq!(before["comments"], json!([]));
    assert!(!bot.is_finished(), "the bot keeps running");
    bot.abort();
}
