//! Who may do what over the WebSocket: the job lifecycle per kind of credential, and member
//! changes taking effect on a live board.

use super::*;

#[tokio::test]
async fn job_lifecycle_worker_customer_share_link_and_outsider() {
    let (server, org) = server_with_org("Jobs").await;
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    let worker = add_member(&server, &admin.api, &org.id, "worker").await;
    let other_worker = add_member(&server, &admin.api, &org.id, "worker").await;
    let (cust_user, cust) = linked_customer(&server, &admin.api, &org.id, "Carla").await;
    let (board_id, cols) = board(&org, "jobs").await;
    let done = *cols.last().unwrap();
    let topic = Topic::Board(board_id);
    let wid: Uuid = worker.id.parse().unwrap();

    let (mut adm, _) = connect(&server, Codec::Json, &admin.api).await;
    subscribed(&mut adm, 1, topic, None).await;
    let (mut w, _) = connect(&server, Codec::Json, &worker.api).await;
    let ok = subscribed(&mut w, 1, topic, None).await;
    assert!(matches!(ok.snapshot, Some(Snapshot::Board(ref s)) if s.cards.is_empty()));
    let (mut cu, _) = connect(&server, Codec::Json, &cust_user.api).await;
    subscribed(&mut cu, 1, topic, None).await;

    // A job for the customer, and one for someone else.
    adm.send(op(2, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "Fix boiler", "customer_id": cust["id"]}}))).await;
    adm.send(op(3, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "Other job", "assignees": [other_worker.id]}}))).await;
    let created = take_events(&mut adm, 2).await;
    let job = created[0].body.card_id().unwrap();
    adm.send(op(
        4,
        board_id,
        json!({"kind": "checklist.add", "data": {"card_id": job, "title": "Inspect"}}),
    ))
    .await;
    adm.send(op(
        5,
        board_id,
        json!({"kind": "card.assign", "data": {"card_id": job, "assignees": [wid]}}),
    ))
    .await;
    let evs = take_events(&mut adm, 2).await;
    let ServerFrame::Ok(_) = adm
        .recv_until(|f| matches!(f, ServerFrame::Ok(o) if o.r#ref == Some(Ref::Int(5))))
        .await
        .0
    else {
        unreachable!()
    };
    let item = match &evs[0].body {
        EventBody::ChecklistAdded(d) => d.item.id,
        other => panic!("{other:?}"),
    };

    // The worker sees their job appear (card.visible) and never the other one.
    let (f, skipped) = w
        .recv_until(|f| matches!(f, ServerFrame::Event(e) if e.body.kind() == "card.visible"))
        .await;
    assert!(
        !events(&skipped).iter().any(|(_, k)| k == "card.created"),
        "worker saw a card not theirs: {skipped:?}"
    );
    let ServerFrame::Event(vis) = f else {
        unreachable!()
    };
    assert_eq!(vis.body.card_id(), Some(job));
    let n = w.notification().await;
    assert_eq!(n.notification.kind, NotificationKind::CardAssigned);

    // The worker may tick and move their job, but not create cards.
    w.send(op(6, board_id, json!({"kind": "checklist.toggle", "data": {"card_id": job, "item_id": item, "done": true}}))).await;
    w.send(op(
        7,
        board_id,
        json!({"kind": "card.move", "data": {"card_id": job, "column_id": done, "after": null}}),
    ))
    .await;
    w.send(op(
        8,
        board_id,
        json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "mine"}}),
    ))
    .await;
    let e = w.error_to(8).await;
    assert_eq!(e.code, ErrorCode::Forbidden);

    // The customer sees the job move live, without comments or labels, and may change nothing.
    let (f, _) = cu
        .recv_until(|f| matches!(f, ServerFrame::Event(e) if e.body.kind() == "card.moved"))
        .await;
    let ServerFrame::Event(mv) = f else {
        unreachable!()
    };
    assert_eq!(mv.body.card().unwrap().column_id, done);
    let n = cu.notification().await;
    assert_eq!(n.notification.kind, NotificationKind::JobStatus);
    cu.send(op(
        9,
        board_id,
        json!({"kind": "card.update", "data": {"card_id": job, "title": "x"}}),
    ))
    .await;
    let (f, _) = cu.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    let ServerFrame::Error(e) = f else {
        unreachable!()
    };
    assert_eq!(e.code, ErrorCode::Forbidden);

    // A share link shows the card live, read-only.
    let link = share_link(&admin.api, job, json!({})).await;
    let mut sh = Ws::connect(&server.base, Codec::Json).await;
    sh.send(hello(link["token"].as_str().unwrap())).await;
    assert!(matches!(sh.recv().await, ServerFrame::Welcome(_)));
    let ok = subscribed(&mut sh, 1, Topic::Card(job), None).await;
    let Some(Snapshot::Card(cs)) = ok.snapshot else {
        panic!("{ok:?}")
    };
    assert!(cs.column.is_done && cs.card.comments.is_empty());
    sh.send(subscribe(2, topic, None)).await;
    assert_eq!(sh.error_to(2).await.code, ErrorCode::NotFound);
    adm.send(op(
        10,
        board_id,
        json!({"kind": "card.move", "data": {"card_id": job, "column_id": cols[2], "after": null}}),
    ))
    .await;
    let (f, _) = sh.recv_until(|f| matches!(f, ServerFrame::Event(_))).await;
    let ServerFrame::Event(e) = f else {
        unreachable!()
    };
    assert_eq!(e.topic, Topic::Card(job));
    // Revoking the link closes its session with 4003.
    let (s, _) = revoke_link(&admin.api, &link).await;
    assert_eq!(s, 204);
    assert_eq!(sh.closed().await, Closed::Code(4003));

    // Someone of another org sees nothing: subscribe, ops and HTTP answer not_found.
    let outsider = new_org(&server, "Elsewhere").await;
    let (mut o, _) = connect(&server, Codec::Json, &outsider.owner).await;
    o.send(subscribe(1, topic, None)).await;
    assert_eq!(o.error_to(1).await.code, ErrorCode::NotFound);
    o.send(op(
        2,
        board_id,
        json!({"kind": "card.archive", "data": {"card_id": job}}),
    ))
    .await;
    let (f, _) = o.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound),
        "{f:?}"
    );
    for path in [
        format!("/api/v1/boards/{board_id}"),
        format!("/api/v1/boards/{board_id}/events"),
    ] {
        let (s, body) = outsider.owner.get(&path).await;
        assert_eq!(s, 404, "{path}: {body}");
    }
    // Unread counts over HTTP, then marked read over the socket.
    let (s, list) = worker.api.get("/api/v1/notifications?unread=true").await;
    assert_eq!(s, 200);
    assert!(list["unread"].as_i64().unwrap() >= 1, "{list}");
    w.send_json(json!({"type": "notifications.read", "ref": 99, "all": true}))
        .await;
    let ok = w.ok_to(99).await;
    assert_eq!(ok.unread, Some(0));
}

#[tokio::test]
async fn members_added_or_changed_while_a_board_is_live_take_effect_at_once() {
    let (server, org) = server_with_org("Directory").await;
    let (board_id, cols) = board(&org, "jobs").await;
    let (mut a, _) = connect(&server, Codec::Json, &org.owner).await;
    subscribed(&mut a, 1, Topic::Board(board_id), None).await; // the board actor is now loaded
    let late = add_member(&server, &org.owner, &org.id, "worker").await;
    a.send(op(2, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "J", "assignees": [late.id]}}))).await;
    let f = a.next_answer().await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "a member made after the board loaded can be assigned: {f:?}"
    );
    // A role change closes the member's live sessions, which hold the old role.
    let (mut w, _) = connect(&server, Codec::Json, &late.api).await;
    let (s, body) = org
        .owner
        .patch(
            &format!("/api/v1/orgs/{}/members/{}", org.id, late.id),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(w.closed().await, Closed::Code(4003));
}
