//! API keys, refresh-token rotation and share links.

use super::*;

pub(crate) async fn api_keys(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let expires = micros_now() + chrono::Duration::days(3);
    let k = s
        .create_api_key(NewApiKey {
            org_id: o.id,
            name: "bot".into(),
            role: Role::Member,
            key_hash: vec![1; 32],
            prefix: "br_abc".into(),
            boards: Some(vec![b.id]),
            created_by: owner.id,
            expires_at: Some(expires),
        })
        .await
        .unwrap();
    assert_eq!(s.find_api_key(&[1; 32]).await.unwrap().unwrap(), k);
    assert!(s.find_api_key(&[2; 32]).await.unwrap().is_none());
    assert_eq!(s.list_api_keys(o.id).await.unwrap(), vec![k.clone()]);
    assert!(s.list_api_keys(other.id).await.unwrap().is_empty());
    let t = micros_now();
    s.touch_api_key(k.id, t).await.unwrap();
    assert_eq!(
        s.find_api_key(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(t)
    );
    assert!(
        !s.revoke_api_key(other.id, k.id, t).await.unwrap(),
        "another org cannot revoke it"
    );
    assert!(s.revoke_api_key(o.id, k.id, t).await.unwrap());
    assert!(!s.revoke_api_key(o.id, k.id, t).await.unwrap());
    assert_eq!(
        s.find_api_key(&[1; 32]).await.unwrap().unwrap().revoked_at,
        Some(t)
    );
    let dup = s
        .create_api_key(NewApiKey {
            org_id: o.id,
            name: "dup".into(),
            role: Role::Member,
            key_hash: vec![1; 32],
            prefix: "br_abc".into(),
            boards: None,
            created_by: owner.id,
            expires_at: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
}

pub(crate) async fn refresh_token_rotation(s: &DynStore) {
    let (_, u) = org(s, "A", "o@x.test").await;
    let family = Uuid::now_v7();
    let first = RefreshToken {
        id: Uuid::now_v7(),
        user_id: u.id,
        family_id: family,
        expires_at: micros_now() + chrono::Duration::days(1),
        spent_at: None,
        revoked_at: None,
    };
    s.insert_refresh_token(&first, &[7; 32]).await.unwrap();
    assert_eq!(
        s.find_refresh_token(&[7; 32]).await.unwrap().unwrap(),
        first
    );
    let t = micros_now();
    assert!(s.spend_refresh_token(first.id, t).await.unwrap());
    assert!(
        !s.spend_refresh_token(first.id, t).await.unwrap(),
        "a token is spent once"
    );
    assert_eq!(
        s.find_refresh_token(&[7; 32])
            .await
            .unwrap()
            .unwrap()
            .spent_at,
        Some(t)
    );
    let second = RefreshToken {
        id: Uuid::now_v7(),
        ..first.clone()
    };
    s.insert_refresh_token(&second, &[8; 32]).await.unwrap();
    s.revoke_refresh_family(family, t).await.unwrap();
    assert_eq!(
        s.find_refresh_token(&[8; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t)
    );
    assert!(
        !s.spend_refresh_token(second.id, t).await.unwrap(),
        "a revoked token cannot be spent"
    );
}

pub(crate) async fn share_links(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Jobs).await;
    let c = card(&b, 0, "job");
    s.create_card(&c).await.unwrap();
    let l = s
        .create_share_link(NewShareLink {
            org_id: o.id,
            board_id: b.id,
            card_id: c.id,
            token_hash: vec![9; 32],
            created_by: owner.id,
            expires_at: Some(micros_now()),
        })
        .await
        .unwrap();
    assert_eq!(s.find_share_link(&[9; 32]).await.unwrap().unwrap(), l);
    assert_eq!(s.get_share_link(l.id).await.unwrap().unwrap(), l);
    let t = micros_now();
    assert!(!s.revoke_share_link(other.id, l.id, t).await.unwrap());
    assert!(s.revoke_share_link(o.id, l.id, t).await.unwrap());
    assert_eq!(
        s.get_share_link(l.id).await.unwrap().unwrap().revoked_at,
        Some(t)
    );
    // A link cannot point at a card of another org.
    let cross = s
        .create_share_link(NewShareLink {
            org_id: other.id,
            board_id: b.id,
            card_id: c.id,
            token_hash: vec![10; 32],
            created_by: owner.id,
            expires_at: None,
        })
        .await;
    assert!(matches!(cross, Err(StoreError::InvalidReference(_))));
    // Listing: the org's links, newest first, with the card's title; filtered by card.
    let c2 = card(&b, 1, "second job");
    s.create_card(&c2).await.unwrap();
    let l2 = s
        .create_share_link(NewShareLink {
            org_id: o.id,
            board_id: b.id,
            card_id: c2.id,
            token_hash: vec![11; 32],
            created_by: owner.id,
            expires_at: None,
        })
        .await
        .unwrap();
    let all = s.list_share_links(o.id, None, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|(x, t)| (x.id, t.as_str()))
            .collect::<Vec<_>>(),
        [(l2.id, "second job"), (l.id, "job")]
    );
    assert_eq!(all[1].0.revoked_at, Some(t));
    let one = s.list_share_links(o.id, Some(c.id), 100).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, s.get_share_link(l.id).await.unwrap().unwrap());
    assert_eq!(s.list_share_links(o.id, None, 1).await.unwrap().len(), 1);
    assert!(s
        .list_share_links(other.id, None, 100)
        .await
        .unwrap()
        .is_empty());
}
