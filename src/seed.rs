//! The demo organization created on the first start of an empty embedded store, so a newcomer
//! can log in and see live boards without setting anything up.

use crate::auth::password;
use crate::realtime::convert::card_to_row;
use crate::store::{
    new_id, Card, ChecklistItem, Comment, DynStore, NewBoard, NewCustomer, NewUser, StoreResult,
    Template,
};
use crate::templates::{default_columns, spread_positions};
use boardroom_protocol::Role;

pub const DEMO_PASSWORD: &str = "boardroom-demo";

/// (email, name, role) of the demo users; all share `DEMO_PASSWORD`.
pub const DEMO_USERS: &[(&str, &str, Role)] = &[
    ("owner@demo.boardroom", "Olivia Owner", Role::Owner),
    ("admin@demo.boardroom", "Adam Admin", Role::Admin),
    ("member@demo.boardroom", "Mia Member", Role::Member),
    ("worker@demo.boardroom", "Walter Worker", Role::Worker),
    ("worker2@demo.boardroom", "Wendy Worker", Role::Worker),
    ("customer@demo.boardroom", "Carla Customer", Role::Customer),
];

pub struct Seeded {
    pub org_id: uuid::Uuid,
}

pub async fn demo(store: &DynStore) -> StoreResult<Seeded> {
    let hash = password::hash(DEMO_PASSWORD)
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let user = |i: usize| NewUser {
        email: DEMO_USERS[i].0.into(),
        name: DEMO_USERS[i].1.into(),
        password_hash: hash.clone(),
    };
    let (org, owner) = store.create_org_with_owner("Demo Co", user(0)).await?;
    let mut ids = vec![owner.id];
    for (i, (_, _, role)) in DEMO_USERS.iter().enumerate().skip(1) {
        ids.push(store.create_member(org.id, user(i), *role).await?.id);
    }
    let (member, worker, worker2, customer_user) = (ids[2], ids[3], ids[4], ids[5]);
    let customer = store
        .create_customer(NewCustomer {
            org_id: org.id,
            name: "Carla Customer".into(),
            email: Some("customer@demo.boardroom".into()),
            phone: Some("+1 555 0100".into()),
            address: Some("12 Elm St, Springfield".into()),
            user_id: Some(customer_user),
        })
        .await?;
    let other_customer = store
        .create_customer(NewCustomer {
            org_id: org.id,
            name: "Bob's Bakery".into(),
            email: None,
            phone: Some("+1 555 0199".into()),
            address: Some("3 Market Street, Springfield".into()),
            user_id: None,
        })
        .await?;

    let board = |name: &str, template: Template| NewBoard {
        org_id: org.id,
        name: name.into(),
        template,
        columns: default_columns(template),
    };
    let kanban = store
        .create_board(board("Product roadmap", Template::Kanban))
        .await?;
    let jobs = store
        .create_board(board("Field jobs", Template::Jobs))
        .await?;
    let base = |board: &crate::store::Board, col: usize, pos: String, title: &str| {
        let card = boardroom_protocol::Card::new(new_id(), board.columns[col].id, pos, title);
        card_to_row(org.id, board.id, &card)
    };
    let items = |titles: &[&str]| -> Vec<ChecklistItem> {
        titles
            .iter()
            .zip(spread_positions(titles.len()))
            .map(|(t, position)| ChecklistItem {
                id: new_id(),
                title: (*t).into(),
                done: false,
                position,
            })
            .collect()
    };
    let p = spread_positions(3);
    let mut cards = vec![
        Card {
            description: "Let customers follow their job live.".into(),
            labels: vec!["feature".into()],
            assignees: vec![member],
            ..base(&kanban, 0, p[0].clone(), "Customer job page")
        },
        Card {
            labels: vec!["ops".into()],
            ..base(&kanban, 0, p[1].clone(), "Nightly backups")
        },
        Card {
            comments: vec![Comment {
                id: new_id(),
                author_id: Some(member),
                body: "Drag me to Done when it ships.".into(),
                mentions: vec![],
                created_at: chrono::Utc::now(),
            }],
            ..base(&kanban, 1, p[0].clone(), "Drag-and-drop cards")
        },
        base(&kanban, 2, p[0].clone(), "Sign-in page"),
        Card {
            description: "Boiler makes a knocking noise. Key under the mat.".into(),
            assignees: vec![worker],
            customer_id: Some(customer.id),
            due_at: Some(chrono::Utc::now() + chrono::Duration::days(2)),
            checklist: items(&["Inspect boiler", "Replace pump", "Test pressure"]),
            priority: Some("high".into()),
            estimate_minutes: Some(120),
            ..base(&jobs, 1, p[0].clone(), "Repair boiler at 12 Elm St")
        },
    ];
    // The plainer jobs: (column, title, worker, customer, checklist).
    let plain_jobs: [(usize, &str, _, _, &[&str]); 2] = [
        (
            0,
            "Install shelving at the bakery",
            worker2,
            other_customer.id,
            &["Measure", "Install shelves"],
        ),
        (
            2,
            "Gutter cleaning",
            worker,
            customer.id,
            &["Clean gutters"],
        ),
    ];
    for (col, title, assignee, customer_id, checklist) in plain_jobs {
        cards.push(Card {
            assignees: vec![assignee],
            customer_id: Some(customer_id),
            checklist: items(checklist),
            ..base(&jobs, col, p[0].clone(), title)
        });
    }
    for card in &cards {
        store.create_card(card).await?;
    }
    Ok(Seeded { org_id: org.id })
}
