//! Boards, columns and cards, and references that cannot cross tenants.

use super::*;

pub(crate) async fn new_board(s: &DynStore, org_id: Uuid, template: Template) -> Board {
    s.create_board(NewBoard {
        org_id,
        name: "Jobs".into(),
        template,
        columns: default_columns(template),
    })
    .await
    .unwrap()
}

pub(crate) async fn boards_columns_and_archive(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Jobs).await;
    assert_eq!((b.epoch, b.last_seq, b.archived), (0, 0, false));
    let got = s.get_board(b.id).await.unwrap().unwrap();
    assert_eq!(got, b);
    let names: Vec<_> = got.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["New", "Scheduled", "In progress", "Done"]);
    assert_eq!(
        s.list_boards(o.id, BoardFilter::All).await.unwrap(),
        vec![b.clone()]
    );
    assert!(s
        .list_boards(other.id, BoardFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .list_boards(o.id, BoardFilter::Nothing)
        .await
        .unwrap()
        .is_empty());
    assert!(
        s.archive_board(other.id, b.id).await.unwrap().is_none(),
        "another org cannot archive it"
    );
    assert!(!s.get_board(b.id).await.unwrap().unwrap().archived);
    let archived = s.archive_board(o.id, b.id).await.unwrap().unwrap();
    assert!(archived.archived);
    assert!(s
        .list_boards(o.id, BoardFilter::All)
        .await
        .unwrap()
        .is_empty());
}

pub(crate) fn card(b: &Board, col: usize, title: &str) -> Card {
    let card = boardroom_protocol::Card::new(Uuid::now_v7(), b.columns[col].id, "V", title);
    card_to_row(b.org_id, b.id, &card)
}

pub(crate) async fn cards_round_trip_and_board_filters(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let c = s.create_customer(customer(o.id, "C")).await.unwrap();
    let b = new_board(s, o.id, Template::Jobs).await;
    let empty = new_board(s, o.id, Template::Kanban).await;
    let full = Card {
        description: "desc".into(),
        assignees: vec![w.id],
        customer_id: Some(c.id),
        labels: vec!["urgent".into(), "ü".into()],
        due_at: Some(micros_now()),
        checklist: vec![ChecklistItem {
            id: Uuid::now_v7(),
            title: "Step".into(),
            done: true,
            position: "V".into(),
        }],
        comments: vec![Comment {
            id: Uuid::now_v7(),
            author_id: Some(owner.id),
            body: "hi @w".into(),
            mentions: vec![w.id],
            created_at: micros_now(),
        }],
        version: 3,
        priority: Some("urgent".into()),
        estimate_minutes: Some(150),
        ..card(&b, 1, "Fix it")
    };
    s.create_card(&full).await.unwrap();
    s.create_card(&card(&b, 0, "Other")).await.unwrap();
    let cards = s.list_cards(b.id).await.unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards.iter().find(|x| x.id == full.id).unwrap(), &full);
    let loc = s.card_location(full.id).await.unwrap().unwrap();
    assert_eq!(
        loc,
        CardLocation {
            org_id: o.id,
            board_id: b.id,
            card_id: full.id,
            assignees: vec![w.id],
            customer_id: Some(c.id)
        }
    );
    assert!(s.card_location(Uuid::now_v7()).await.unwrap().is_none());
    let ids = |v: Vec<Board>| v.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_boards(o.id, BoardFilter::All).await.unwrap()),
        vec![b.id, empty.id]
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::AssignedTo(w.id))
            .await
            .unwrap()),
        vec![b.id]
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::AssignedTo(owner.id))
            .await
            .unwrap()),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::OfCustomer(c.id))
            .await
            .unwrap()),
        vec![b.id]
    );
    let dup = s.create_card(&full).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}

pub(crate) async fn cross_tenant_references_are_impossible(s: &DynStore) {
    let (a, _) = org(s, "A", "a@x.test").await;
    let (bo, bowner) = org(s, "B", "b@x.test").await;
    let board_a = new_board(s, a.id, Template::Kanban).await;
    let board_b = new_board(s, bo.id, Template::Kanban).await;
    let cust_b = s.create_customer(customer(bo.id, "C")).await.unwrap();
    // A card in org A on a column of org B's board.
    let wrong_column = Card {
        column_id: board_b.columns[0].id,
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_column).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card of org A naming org B's customer.
    let wrong_customer = Card {
        customer_id: Some(cust_b.id),
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_customer).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card of org A assigned to a user of org B.
    let wrong_assignee = Card {
        assignees: vec![bowner.id],
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_assignee).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card claiming org B while living on org A's board.
    let wrong_org = Card {
        org_id: bo.id,
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_org).await,
        Err(StoreError::InvalidReference(_))
    ));
    assert!(
        s.list_cards(board_a.id).await.unwrap().is_empty(),
        "nothing half-written"
    );
}
