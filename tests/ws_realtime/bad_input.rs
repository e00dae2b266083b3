//! Malformed and refused frames get the protocol's error codes and close codes.

use super::*;

#[tokio::test]
async fn bad_input_gets_protocol_errors_and_close_codes() {
    let (server, org) = server_with_org_env(
        "Bad",
        &[
            ("BOARDROOM_LIMITS__MAX_FRAME_BYTES", "2048"),
            ("BOARDROOM_REALTIME__HELLO_TIMEOUT_MS", "500"),
        ],
    )
    .await;
    let (board_id, cols) = board(&org, "kanban").await;
    let token = org.owner.token.clone().unwrap();

    // No hello in time: 4001. A wrong token: error + 4001.
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    assert_eq!(ws.closed().await, Closed::Code(4001));
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(hello("not-a-token")).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::Unauthorized)
    );
    assert_eq!(ws.closed().await, Closed::Code(4001));

    // A bearer header on the upgrade: welcome at once.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    // Malformed and unknown frames: bad_request, connection stays.
    ws.send_raw(b"{not json".to_vec()).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send_json(json!({"type": "teleport", "ref": 1})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send_json(json!({"type": "ping", "ref": "p"})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Pong(ref p) if p.r#ref == Some(Ref::Str("p".into())))
    );
    // Unknown op field, conflict on version, not_found card.
    subscribed(&mut ws, 1, Topic::Board(board_id), None).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Presence(_)),
        "our own join"
    );
    ws.send_json(json!({"type": "op", "ref": 2, "topic": format!("board:{board_id}"), "op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": cols[0], "title": "t", "colour": 1}})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send(op(3, board_id, json!({"kind": "card.move", "data": {"card_id": Uuid::now_v7(), "column_id": cols[0], "after": null}}))).await;
    assert!(matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound));
    ws.send(op(
        4,
        board_id,
        json!({"kind": "column.delete", "data": {"column_id": cols[0]}}),
    ))
    .await;
    ws.send(op(
        5,
        board_id,
        json!({"kind": "card.create", "data": {"column_id": cols[1], "title": "v"}}),
    ))
    .await;
    let created = ws.ok_to(5).await;
    ws.send(op(
        6,
        board_id,
        json!({"kind": "column.delete", "data": {"column_id": cols[1]}}),
    ))
    .await;
    let (f, _) = ws.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::Conflict),
        "{f:?}"
    );
    ws.send(op(7, board_id, json!({"kind": "card.update", "data": {"card_id": created.id, "title": "w", "expected_version": 99}}))).await;
    let (f, _) = ws.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::Conflict),
        "{f:?}"
    );
    // Rate limiting: a burst over the limit gets rate_limited with retry_after_ms.
    let mut limited = None;
    for i in 0..130 {
        ws.send(op(1000 + i, board_id, json!({"kind": "card.update", "data": {"card_id": created.id, "title": format!("r{i}")}}))).await;
    }
    for _ in 0..400 {
        match ws.next(Duration::from_secs(10)).await {
            Ok(ServerFrame::Error(e)) if e.code == ErrorCode::RateLimited => {
                limited = Some(e);
                break;
            }
            Ok(_) => {}
            Err(c) => panic!("closed early: {c:?}"),
        }
    }
    let limited = limited.expect("no rate_limited error");
    assert!(limited.retry_after_ms.is_some());
    // A frame over the limit: 4413.
    ws.send_json(json!({"type": "ping", "pad": "x".repeat(3000)}))
        .await;
    assert_eq!(ws.closed().await, Closed::Code(4413));

    // Ten malformed frames in a row: 4400.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    ws.recv().await;
    for _ in 0..10 {
        ws.send_raw(b"nope".to_vec()).await;
    }
    assert_eq!(ws.closed().await, Closed::Code(4400));

    // Flooding after rate_limited: 4008.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    ws.recv().await;
    for i in 0..600 {
        ws.send(op(
            i,
            board_id,
            json!({"kind": "card.update", "data": {"card_id": created.id, "title": "f"}}),
        ))
        .await;
    }
    assert_eq!(ws.closed().await, Closed::Code(4008));

    // An API key revoked while connected: 4003.
    let (s, key) = org
        .owner
        .post(
            &format!("/api/v1/orgs/{}/api-keys", org.id),
            json!({"name": "bot", "role": "member"}),
        )
        .await;
    assert_eq!(s, 201);
    let mut bot = Ws::connect(&server.base, Codec::MsgPack).await;
    bot.send(hello(key["key"].as_str().unwrap())).await;
    assert!(
        matches!(bot.recv().await, ServerFrame::Welcome(ref w) if w.principal.kind == PrincipalKind::ApiKey)
    );
    let (s, _) = org
        .owner
        .delete(&format!(
            "/api/v1/orgs/{}/api-keys/{}",
            org.id,
            key["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 204);
    assert_eq!(bot.closed().await, Closed::Code(4003));
}
