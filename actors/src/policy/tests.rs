//! The whole role table, written out by hand (not derived from the code under test): every
//! principal × every action × a resource of its own org, then the same against another org.
//! `A` allow, `F` forbidden, `N` not found.

use super::*;

const OWN_ORG: Uuid = Uuid::from_u128(1);
const OTHER_ORG: Uuid = Uuid::from_u128(2);
const BOARD: Uuid = Uuid::from_u128(10);
const OTHER_BOARD: Uuid = Uuid::from_u128(11);
const WORKER: Uuid = Uuid::from_u128(20);
const CUSTOMER_USER: Uuid = Uuid::from_u128(21);
const CUSTOMER: Uuid = Uuid::from_u128(30);
const THEIR_CARD: Uuid = Uuid::from_u128(40);
const OTHER_CARD: Uuid = Uuid::from_u128(41);
const KEY: Uuid = Uuid::from_u128(50);
const LINK: Uuid = Uuid::from_u128(60);

/// Column order of the table below.
fn principals() -> Vec<(&'static str, Principal)> {
    let user = |id: u128, role| Principal::user(Uuid::from_u128(id), OWN_ORG, role);
    let key = |role, scope: Option<Vec<Uuid>>| Principal {
        kind: PrincipalKind::ApiKey,
        id: KEY,
        org_id: OWN_ORG,
        role,
        board_scope: scope,
        share_card: None,
        customer_id: None,
    };
    vec![
        ("owner", user(100, Role::Owner)),
        ("admin", user(101, Role::Admin)),
        ("member", user(102, Role::Member)),
        ("worker", Principal::user(WORKER, OWN_ORG, Role::Worker)),
        (
            "customer",
            Principal {
                customer_id: Some(CUSTOMER),
                ..Principal::user(CUSTOMER_USER, OWN_ORG, Role::Customer)
            },
        ),
        ("admin key", key(Role::Admin, None)),
        ("member key", key(Role::Member, None)),
        ("scoped key", key(Role::Member, Some(vec![OTHER_BOARD]))),
        ("scoped admin key", key(Role::Admin, Some(vec![BOARD]))),
        ("worker key", key(Role::Worker, None)),
        (
            "share",
            Principal {
                kind: PrincipalKind::Share,
                id: LINK,
                org_id: OWN_ORG,
                role: Role::Customer,
                board_scope: None,
                share_card: Some(THEIR_CARD),
                customer_id: None,
            },
        ),
    ]
}

fn org(o: Uuid) -> Resource {
    Resource::Org { org_id: o }
}
fn board(o: Uuid) -> Resource {
    Resource::Board {
        org_id: o,
        board_id: BOARD,
    }
}
/// A card assigned to WORKER for CUSTOMER, and shared by LINK.
fn their_card(o: Uuid) -> Resource {
    Resource::Card {
        org_id: o,
        board_id: BOARD,
        card: CardFacts {
            card_id: THEIR_CARD,
            assignees: vec![WORKER],
            customer_id: Some(CUSTOMER),
        },
    }
}
/// A card of nobody in particular.
fn other_card(o: Uuid) -> Resource {
    Resource::Card {
        org_id: o,
        board_id: BOARD,
        card: CardFacts {
            card_id: OTHER_CARD,
            assignees: vec![Uuid::from_u128(99)],
            customer_id: None,
        },
    }
}

type Row = (&'static str, Action, fn(Uuid) -> Resource, &'static str);

/// Columns: owner admin member worker customer
/// | admin-key member-key scoped-key scoped-admin-key (scoped to BOARD) worker-key | share
// One row a line, so the table reads as a table.
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Action::*;
    use OpClass::*;
    vec![
        ("read org", ReadOrg, org, "AAAAA AAAAA N"),
        ("manage members", ManageMembers, org, "AAFFF AFFFF N"),
        ("grant owner", GrantRole(Role::Owner), org, "AFFFF FFFFF N"),
        ("grant admin", GrantRole(Role::Admin), org, "AAFFF AFFFF N"),
        ("grant member", GrantRole(Role::Member), org, "AAFFF AFFFF N"),
        ("grant worker", GrantRole(Role::Worker), org, "AAFFF AFFFF N"),
        ("grant customer", GrantRole(Role::Customer), org, "AAFFF AFFFF N"),
        ("modify an owner", ModifyMemberWithRole(Role::Owner), org, "AFFFF FFFFF N"),
        ("modify an admin", ModifyMemberWithRole(Role::Admin), org, "AAFFF AFFFF N"),
        ("modify a worker", ModifyMemberWithRole(Role::Worker), org, "AAFFF AFFFF N"),
        ("read customers", ReadCustomers, org, "AAAFF AAFFF N"),
        ("manage customers", ManageCustomers, org, "AAAFF AAFFF N"),
        ("create board", CreateBoard, org, "AAAFF AAFFF N"),
        ("archive board", ArchiveBoard, board, "AAAFF AANAF N"),
        ("read board", ReadBoard, board, "AAAAA AANAA N"),
        ("read board events", ReadBoardEvents, board, "AAAFF AANAF N"),
        ("read their card", ReadCard, their_card, "AAAAA AANAN A"),
        ("read other card", ReadCard, other_card, "AAANN AANAN N"),
        ("manage api keys", ManageApiKeys, org, "AAFFF FFFFF N"),
        ("manage webhooks", ManageWebhooks, org, "AAFFF FFFFF N"),
        ("issue owner key", IssueApiKey(Role::Owner), org, "FFFFF FFFFF N"),
        ("issue admin key", IssueApiKey(Role::Admin), org, "AAFFF FFFFF N"),
        ("issue member key", IssueApiKey(Role::Member), org, "AAFFF FFFFF N"),
        ("manage share links", ManageShareLinks, their_card, "AAAFF FFNFF N"),
        ("read notifications", ReadNotifications, org, "AAAAA FFFFF N"),
        ("column op", Op(Column), board, "AAAFF AANAF N"),
        ("card.create", Op(CardCreate), board, "AAAFF AANAF N"),
        ("edit their card", Op(CardEdit), their_card, "AAAFF AANAN F"),
        ("edit other card", Op(CardEdit), other_card, "AAANN AANAN N"),
        ("move their card", Op(CardMove), their_card, "AAAAF AANAN F"),
        ("move other card", Op(CardMove), other_card, "AAANN AANAN N"),
        ("toggle their checklist", Op(ChecklistToggle), their_card, "AAAAF AANAN F"),
        ("toggle other checklist", Op(ChecklistToggle), other_card, "AAANN AANAN N"),
        ("comment their card", Op(CommentAdd), their_card, "AAAAF AANAN F"),
        ("comment other card", Op(CommentAdd), other_card, "AAANN AANAN N"),
    ]
}

fn expected(c: char) -> Decision {
    match c {
        'A' => Decision::Allow,
        'F' => Decision::Forbidden,
        'N' => Decision::NotFound,
        other => panic!("bad table cell {other:?}"),
    }
}

#[test]
fn every_role_every_action_in_own_org() {
    let ps = principals();
    let mut failures = Vec::new();
    for (name, action, resource, row) in table() {
        let cells: Vec<char> = row.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(
            cells.len(),
            ps.len(),
            "row {name} has the wrong number of cells"
        );
        for ((who, p), cell) in ps.iter().zip(cells) {
            let got = decide(p, action, &resource(OWN_ORG));
            if got != expected(cell) {
                failures.push(format!(
                    "{name} / {who}: expected {:?}, got {got:?}",
                    expected(cell)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "policy disagrees with the table:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_role_every_action_in_another_org_is_not_found() {
    for (name, action, resource, _) in table() {
        for (who, p) in principals() {
            assert_eq!(
                decide(&p, action, &resource(OTHER_ORG)),
                Decision::NotFound,
                "{name} by {who} on another org must be not_found"
            );
        }
    }
}

#[test]
fn worker_key_has_no_user_so_sees_no_assigned_cards() {
    // A worker-role API key is not a user, so no card is "assigned to it": it can read the
    // board (filtered to nothing) but act on no card.
    let (_, p) = principals()
        .into_iter()
        .find(|(n, _)| *n == "worker key")
        .unwrap();
    assert_eq!(
        decide(&p, Action::Op(OpClass::CardMove), &their_card(OWN_ORG)),
        Decision::NotFound
    );
    assert_eq!(
        decide(&p, Action::ReadBoard, &board(OWN_ORG)),
        Decision::Allow
    );
}
