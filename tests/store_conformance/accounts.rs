//! Orgs, users, members and customers.

use super::*;

pub(crate) async fn org_and_owner(s: &DynStore) {
    assert_eq!(s.count_orgs().await.unwrap(), 0);
    let (o, u) = org(s, "Acme", "Boss@Acme.test").await;
    assert_eq!(s.count_orgs().await.unwrap(), 1);
    assert_eq!(s.get_org(o.id).await.unwrap().unwrap(), o);
    assert_eq!(u.email, "boss@acme.test", "emails are stored lower-cased");
    let found = s
        .find_user_by_email("BOSS@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, u);
    assert_eq!(s.get_user(u.id).await.unwrap().unwrap(), u);
    assert_eq!(u.id.get_version_num(), 7, "UUIDv7 keys");
    let ms = s.memberships_of(u.id).await.unwrap();
    assert_eq!(
        ms,
        vec![MembershipInfo {
            org_id: o.id,
            org_name: "Acme".into(),
            role: Role::Owner
        }]
    );
    assert!(s.get_org(Uuid::now_v7()).await.unwrap().is_none());
    assert!(s.find_user_by_email("nobody@x").await.unwrap().is_none());
}

pub(crate) async fn emails_are_unique_everywhere(s: &DynStore) {
    let (a, _) = org(s, "A", "a@x.test").await;
    let (b, _) = org(s, "B", "b@x.test").await;
    member(s, a.id, "w@x.test", Role::Worker).await;
    let again = s.create_member(b.id, user("W@X.test"), Role::Member).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let org_again = s.create_org_with_owner("C", user("a@x.test")).await;
    assert!(matches!(org_again, Err(StoreError::Conflict(_))));
    assert_eq!(
        s.count_orgs().await.unwrap(),
        2,
        "a failed create-org leaves nothing behind"
    );
    assert_eq!(s.list_members(b.id).await.unwrap().len(), 1);
}

pub(crate) async fn member_roles_and_deactivation(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let m = member(s, o.id, "m@x.test", Role::Member).await;
    assert!(m.active);
    assert_eq!(s.get_member(o.id, m.id).await.unwrap().unwrap(), m);
    let list = s.list_members(o.id).await.unwrap();
    assert_eq!(
        list.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![owner.id, m.id]
    );
    let changed = s
        .set_member_role(o.id, m.id, Role::Admin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert!(s
        .set_member_role(o.id, Uuid::now_v7(), Role::Admin)
        .await
        .unwrap()
        .is_none());
    assert!(s.deactivate_member(o.id, m.id).await.unwrap());
    assert!(
        !s.deactivate_member(o.id, m.id).await.unwrap(),
        "already deactivated"
    );
    assert!(!s.get_member(o.id, m.id).await.unwrap().unwrap().active);
    assert!(s.memberships_of(m.id).await.unwrap().is_empty());
    let (other, _) = org(s, "B", "b@x.test").await;
    assert!(s.get_member(other.id, m.id).await.unwrap().is_none());
    assert!(!s.deactivate_member(other.id, owner.id).await.unwrap());
}

pub(crate) async fn customers_soft_delete(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let cu = member(s, o.id, "c@x.test", Role::Customer).await;
    let c = s
        .create_customer(NewCustomer {
            email: Some("c@x.test".into()),
            address: Some("1 Main St".into()),
            user_id: Some(cu.id),
            ..customer(o.id, "Carla")
        })
        .await
        .unwrap();
    assert_eq!(s.get_customer(o.id, c.id).await.unwrap().unwrap(), c);
    assert_eq!(s.customer_of_user(o.id, cu.id).await.unwrap(), Some(c.id));
    let patched = s
        .update_customer(
            o.id,
            c.id,
            CustomerPatch {
                name: Some("Carla B".into()),
                email: Some(None),
                address: Some(Some("2 Side St".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            patched.name.as_str(),
            patched.email.as_deref(),
            patched.address.as_deref()
        ),
        ("Carla B", None, Some("2 Side St"))
    );
    assert_eq!(s.get_customer(o.id, c.id).await.unwrap().unwrap(), patched);
    assert_eq!(s.list_customers(o.id).await.unwrap(), vec![patched]);
    assert!(s.delete_customer(o.id, c.id).await.unwrap());
    assert!(!s.delete_customer(o.id, c.id).await.unwrap());
    assert!(s.get_customer(o.id, c.id).await.unwrap().is_none());
    assert!(s.list_customers(o.id).await.unwrap().is_empty());
    assert!(s
        .update_customer(o.id, c.id, CustomerPatch::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.customer_of_user(o.id, cu.id).await.unwrap(), None);
    // A customer's user must be a member of the same org.
    let stranger = s
        .create_customer(NewCustomer {
            user_id: Some(Uuid::now_v7()),
            ..customer(o.id, "X")
        })
        .await;
    assert!(
        matches!(stranger, Err(StoreError::InvalidReference(_))),
        "{stranger:?}"
    );
}
