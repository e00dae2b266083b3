//! The session itself: bearer auth and its revocation, heartbeats, token renewal, and a
//! silently dead connection.

use super::*;

/// A token in the upgrade's `Authorization: Bearer` header works like one in `hello`; a wrong
/// token is a typed, fatal refusal from `connect` (no retry loop); revoking the API key ends
/// the session (close 4003): `Event::Stopped`, and later calls fail instead of waiting.
#[tokio::test]
async fn bearer_auth_refusal_and_revocation() {
    let f = fixture().await;
    let key = member_key(&f, "bearer bot").await;
    let secret = key["key"].as_str().expect("key");

    let refused = Client::connect(Options::new(&f.server.base, "br_not_a_real_key"))
        .await
        .err()
        .expect("a wrong key is refused");
    assert_eq!(refused.code(), Some(ErrorCode::Unauthorized), "{refused}");
    assert!(refused.is_fatal());

    let opts = Options::new(&f.server.base, secret).auth(AuthMode::Bearer);
    let (client, mut events) = Client::connect(opts).await.expect("bearer connect");
    assert_eq!(client.welcome().principal.kind, PrincipalKind::ApiKey);
    assert_eq!(client.welcome().principal.id.to_string(), key["id"]);
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");

    let (s, body) = f
        .org
        .owner
        .delete(&format!(
            "/api/v1/orgs/{}/api-keys/{}",
            f.org.id,
            key["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(s, 204, "{body}");
    let why = wait_for(&mut events, "the session's end", |e| match e {
        Event::Stopped(why) => Some(why),
        _ => None,
    })
    .await;
    assert!(why.contains("4003"), "closed as revoked: {why}");
    let err = client
        .op(topic, comment(f.card_id, "too late"))
        .await
        .expect_err("no ops after the end");
    assert!(matches!(err, Error::Stopped), "{err:?}");
}

/// A session with nothing to say stays up: the client answers the server's pings (the server
/// closes a connection silent for two heartbeat intervals, here 2 × 150 ms).
#[tokio::test]
async fn idle_session_survives_server_heartbeats() {
    let f = fixture_with(&[("BOARDROOM_REALTIME__HEARTBEAT_MS", "150")]).await;
    let (client, mut events) = Client::connect(Options::new(&f.server.base, &f.token))
        .await
        .expect("connect");
    assert_eq!(
        client.welcome().heartbeat_ms,
        150,
        "the setting took effect"
    );
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");
    // Beside it, a bare socket that reads nothing (so answers no ping) for the same time.
    let (mut silent, _) = transport::connect(
        &f.server.base,
        &f.token,
        Codec::Json,
        AuthMode::Hello,
        "silent",
        Default::default(),
    )
    .await
    .expect("silent socket");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = loop {
        match transport::recv(&mut silent, Codec::Json).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            end,
            Error::Closed {
                code: Some(1001),
                ..
            }
        ),
        "the server drops a socket that answers no ping: {end:?}"
    );
    client
        .op(topic, comment(f.card_id, "still here"))
        .await
        .expect("op");
    let mut connects = 0;
    while let Some(Some(e)) = events.next().now_or_never() {
        match e {
            Event::Disconnected(why) => panic!("the idle session was dropped: {why}"),
            Event::Connected(_) => connects += 1,
            _ => {}
        }
    }
    assert_eq!(connects, 1, "one connection all along");
    client.close().await;
}

/// A user session renews its access token in place (`auth`); a token of someone else or no
/// token at all is refused with the protocol's code and the session carries on.
#[tokio::test]
async fn renewing_the_access_token() {
    let f = fixture().await;
    let (client, _events) = Client::connect(Options::new(&f.server.base, &f.token))
        .await
        .expect("connect");
    let fresh = login(&f.server.base, &f.org.owner_email, PASSWORD).await;
    client.renew(fresh.access).await.expect("renewed");

    let other = add_member(&f.server, &f.org.owner, &f.org.id, "member").await;
    let err = client
        .renew(other.api.token.clone().expect("token"))
        .await
        .expect_err("another user's token");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = client.renew("garbage").await.expect_err("not a token");
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");

    client
        .op(Topic::Board(f.board_id), comment(f.card_id, "still me"))
        .await
        .expect("the session carries on");
    client.close().await;
}

/// A connection the network drops without a word (no FIN, no close, nothing): the client
/// notices the silence (no ping for two heartbeat intervals), reconnects, and the op it had
/// sent into the void is applied once.
#[tokio::test]
async fn a_silently_dead_connection_is_replaced() {
    let f = fixture_with(&[("BOARDROOM_REALTIME__HEARTBEAT_MS", "200")]).await;
    let proxy = Proxy::start(&f.server.base).await;
    let (client, mut events) = through_proxy(&f, &proxy).await;
    let topic = Topic::Board(f.board_id);

    proxy.freeze();
    let ack = tokio::time::timeout(
        Duration::from_secs(20),
        client.op(topic, comment(f.card_id, "into the void")),
    )
    .await
    .expect("the op is answered after the client replaced the dead connection")
    .expect("op");
    let why = disconnected(&mut events).await;
    assert!(why.contains("no word from the server"), "{why}");
    let snap = board_until(&f.org.owner, &f.board_id.to_string(), "the board", |_| true).await;
    assert_eq!(
        comment_bodies(&snap, &f.card_id.to_string()),
        ["into the void"]
    );
    assert!(ack.seq > 0);
    client.close().await;
}
