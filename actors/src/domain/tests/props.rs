//! Property tests: random op sequences from random principals.
//!
//! Checked after every op: a refused op changes nothing; an accepted one keeps positions
//! valid, unique and ordered, keeps every card in an existing column, and bumps the card's
//! version by exactly one. Filtered mirrors (two workers, a customer, a share link) fed
//! only what `deliver` gives them must equal the filtered snapshot. At the end, replaying
//! all emitted events onto the initial state rebuilds the final state exactly.

use super::*;
use crate::policy::Principal;
use boardroom_protocol::{BoardSnapshot, Card};
use proptest::prelude::*;
use proptest::sample::select;

/// Ids the generator draws from: existing ones (listed twice, to hit them more often),
/// ones that ops may create, and unknown ones.
fn columns() -> Vec<Uuid> {
    vec![
        uid(100),
        uid(101),
        uid(102),
        uid(100),
        uid(101),
        uid(102),
        uid(110),
        uid(111),
    ]
}
pub(crate) fn cards() -> Vec<Uuid> {
    vec![
        uid(200),
        uid(201),
        uid(200),
        uid(201),
        uid(210),
        uid(211),
        uid(212),
    ]
}
fn items() -> Vec<Uuid> {
    vec![uid(300), uid(300), uid(310), uid(311)]
}
fn users() -> Vec<Uuid> {
    // owner, admin, member, worker1, worker2, customer user, not a member
    vec![
        uid(10),
        uid(11),
        uid(12),
        uid(13),
        uid(14),
        uid(15),
        uid(999),
    ]
}
fn customers() -> Vec<Uuid> {
    vec![uid(50), uid(51), uid(998)]
}

fn title() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-zA-Z ]{1,12}",
        1 => Just(String::new()),
        1 => Just("   ".to_string()),
        1 => Just("x".repeat(201)),
    ]
}

fn opt_after(ids: Vec<Uuid>) -> impl Strategy<Value = Option<Option<Uuid>>> {
    prop_oneof![
        Just(None),
        Just(Some(None)),
        select(ids).prop_map(|id| Some(Some(id))),
    ]
}

fn after(ids: Vec<Uuid>) -> impl Strategy<Value = Option<Uuid>> {
    prop_oneof![2 => Just(None), 1 => select(ids).prop_map(Some)]
}

/// Mostly a client-made id from the pool (so later ops can name the object), sometimes none.
fn client_id(ids: Vec<Uuid>) -> impl Strategy<Value = Option<Uuid>> {
    prop_oneof![4 => select(ids).prop_map(Some), 1 => Just(None)]
}

fn some_of(ids: Vec<Uuid>) -> impl Strategy<Value = Vec<Uuid>> {
    proptest::collection::vec(select(ids), 0..3)
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let column_create = (
        title(),
        opt_after(columns()),
        any::<Option<bool>>(),
        client_id(columns()),
    )
        .prop_map(|(name, after, is_done, column_id)| {
            Op::ColumnCreate(ColumnCreate {
                name,
                after,
                is_done,
                column_id,
                color: None,
            })
        });
    let column_update = (
        select(columns()),
        proptest::option::of(title()),
        any::<Option<bool>>(),
    )
        .prop_map(|(column_id, name, is_done)| {
            Op::ColumnUpdate(ColumnUpdate {
                column_id,
                name,
                is_done,
                color: None,
            })
        });
    let column_move = (select(columns()), after(columns()))
        .prop_map(|(column_id, after)| Op::ColumnMove(ColumnMove { column_id, after }));
    let column_delete =
        select(columns()).prop_map(|column_id| Op::ColumnDelete(ColumnDelete { column_id }));
    let card_create = (
        select(columns()),
        title(),
        opt_after(cards()),
        some_of(users()),
        proptest::option::of(select(customers())),
        client_id(cards()),
        proptest::collection::vec("[a-c]{1,2}", 0..3),
    )
        .prop_map(
            |(column_id, title, after, assignees, customer_id, card_id, labels)| {
                Op::CardCreate(CardCreate {
                    after,
                    assignees,
                    customer_id,
                    labels,
                    card_id,
                    ..CardCreate::new(column_id, title)
                })
            },
        );
    let card_update = (
        select(cards()),
        proptest::option::of(title()),
        proptest::option::of(proptest::option::of("[a-z]{0,8}")),
        proptest::option::of(proptest::option::of(select(customers()))),
        proptest::option::of(0u64..6),
    )
        .prop_map(
            |(card_id, title, description, customer_id, expected_version)| {
                Op::CardUpdate(CardUpdate {
                    card_id,
                    title,
                    description,
                    labels: None,
                    due_at: None,
                    customer_id,
                    expected_version,
                    estimate_minutes: None,
                    priority: None,
                })
            },
        );
    let card_move = (select(cards()), select(columns()), after(cards()))
        .prop_map(|(card_id, column_id, after)| mv(card_id, column_id, after));
    let card_assign = (select(cards()), some_of(users()))
        .prop_map(|(card_id, assignees)| assign(card_id, assignees));
    let card_archive = select(cards()).prop_map(|card_id| Op::CardArchive(CardArchive { card_id }));
    let checklist_add = (select(cards()), title(), client_id(items()))
        .prop_map(|(card_id, title, item_id)| item_add(card_id, title, item_id));
    let checklist_toggle = (select(cards()), select(items()), any::<bool>())
        .prop_map(|(card_id, item_id, done)| toggle(card_id, item_id, done));
    let checklist_remove = (select(cards()), select(items()))
        .prop_map(|(card_id, item_id)| item_remove(card_id, item_id));
    let comment_add = (select(cards()), title(), some_of(users()))
        .prop_map(|(card_id, body, mentions)| comment(card_id, body, mentions));
    prop_oneof![
        1 => column_create.boxed(),
        1 => column_update.boxed(),
        1 => column_move.boxed(),
        1 => column_delete.boxed(),
        3 => card_create.boxed(),
        2 => card_update.boxed(),
        4 => card_move.boxed(),
        2 => card_assign.boxed(),
        1 => card_archive.boxed(),
        1 => checklist_add.boxed(),
        2 => checklist_toggle.boxed(),
        1 => checklist_remove.boxed(),
        2 => comment_add.boxed(),
    ]
}

pub(crate) fn principals(fx: &Fx) -> Vec<Principal> {
    vec![
        fx.owner.clone(),
        fx.admin.clone(),
        fx.member.clone(),
        fx.worker1.clone(),
        fx.worker1.clone(),
        fx.worker2.clone(),
        fx.customer1.clone(),
        fx.share(fx.job),
        fx.api_key(Role::Member, Some(vec![fx.board.id()])),
        fx.api_key(Role::Member, Some(vec![fx.other_board])),
        fx.api_key(Role::Worker, None),
        fx.stranger(),
    ]
}

/// The version a card-changing op must have produced, if the op targets an existing card.
fn card_version(b: &BoardState, op: &Op) -> Option<(Uuid, u64)> {
    let id = op.card_id()?;
    b.card(id).map(|c| (id, c.version))
}

/// Cards by id, with versions blanked: customers and share links skip `comment.added`
/// events (they never see comments), so their copy of `version` may lag.
fn cards_without_versions(cards: impl IntoIterator<Item = Card>) -> Vec<Card> {
    let mut v: Vec<Card> = cards
        .into_iter()
        .map(|mut c| {
            c.version = 0;
            c
        })
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

/// The object an accepted op placed sits exactly where the op asked: first, last, or
/// right after its anchor.
fn check_placement(
    board: &BoardState,
    op: &Op,
    created: Option<Uuid>,
) -> Result<(), TestCaseError> {
    #[derive(Debug, PartialEq)]
    enum Want {
        First,
        Last,
        After(Uuid),
    }
    let of = |after: Option<Option<Uuid>>| match after {
        None => Want::Last,
        Some(None) => Want::First,
        Some(Some(a)) => Want::After(a),
    };
    let (id, siblings, want): (Uuid, Vec<Uuid>, Want) = match op {
        Op::ColumnCreate(d) => (
            created.expect("created"),
            board.columns().iter().map(|c| c.id).collect(),
            of(d.after),
        ),
        Op::ColumnMove(d) => (
            d.column_id,
            board.columns().iter().map(|c| c.id).collect(),
            of(Some(d.after)),
        ),
        Op::CardCreate(d) => (
            created.expect("created"),
            board.cards_in(d.column_id).iter().map(|c| c.id).collect(),
            of(d.after),
        ),
        Op::CardMove(d) => (
            d.card_id,
            board.cards_in(d.column_id).iter().map(|c| c.id).collect(),
            of(Some(d.after)),
        ),
        _ => return Ok(()),
    };
    let at = siblings.iter().position(|s| *s == id);
    prop_assert!(at.is_some(), "{} placed {} outside its list", op.kind(), id);
    let at = at.unwrap_or_default();
    match want {
        Want::First => prop_assert_eq!(at, 0, "{} first", op.kind()),
        Want::Last => prop_assert_eq!(at + 1, siblings.len(), "{} last", op.kind()),
        Want::After(a) => prop_assert!(
            at > 0 && siblings[at - 1] == a,
            "{} right after its anchor",
            op.kind()
        ),
    }
    Ok(())
}

struct Mirror {
    who: Principal,
    state: BoardState,
    exact: bool,
}

impl Mirror {
    fn new(board: &BoardState, who: Principal, exact: bool) -> Self {
        let snap = board.snapshot_for(&who).unwrap_or(BoardSnapshot {
            id: board.id(),
            org_id: board.org_id(),
            name: board.name().to_string(),
            columns: vec![],
            cards: vec![],
        });
        Mirror {
            who,
            state: BoardState::from_snapshot(snap),
            exact,
        }
    }

    fn feed(
        &mut self,
        key: BoardKey,
        ev: &EventBody,
        before: Option<&crate::policy::CardFacts>,
    ) -> Result<(), TestCaseError> {
        let r = match deliver(&self.who, key, ev, before) {
            Delivery::Skip => Ok(()),
            Delivery::Same => self.state.apply_event(ev),
            Delivery::Send(e) => self.state.apply_event(&e),
        };
        prop_assert!(
            r.is_ok(),
            "mirror of {:?} could not apply {}: {:?}",
            self.who.role,
            ev.kind(),
            r
        );
        Ok(())
    }

    fn check(&self, board: &BoardState) -> Result<(), TestCaseError> {
        let want = board.snapshot_for(&self.who);
        if self.exact {
            let want = want.expect("workers read the board");
            prop_assert_eq!(self.state.snapshot(), want);
        } else {
            let live = self.state.all_cards().filter(|c| !c.archived).cloned();
            let want_cards = want.map(|s| s.cards).unwrap_or_default();
            prop_assert_eq!(
                cards_without_versions(live),
                cards_without_versions(want_cards)
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_op_sequences_keep_the_board_consistent(
        steps in proptest::collection::vec((op(), 0usize..12), 1..40)
    ) {
        let fx = Fx::new();
        let initial = fx.board.clone();
        let key = initial.key();
        let ps = principals(&fx);
        let mut board = initial.clone();
        let mut log: Vec<EventBody> = Vec::new();
        let mut mirrors = vec![
            Mirror::new(&board, fx.worker1.clone(), true),
            Mirror::new(&board, fx.worker2.clone(), true),
            Mirror::new(&board, fx.customer1.clone(), false),
            Mirror::new(&board, fx.share(fx.job), false),
        ];
        let mut accepted = 0usize;
        for (i, (op, who)) in steps.iter().enumerate() {
            let p = &ps[*who];
            let ctx = fx.ctx(uid(50_000 + i as u128));
            let before = board.clone();
            let version_before = card_version(&board, op);
            match board.apply_op(p, op, &ctx) {
                Err(e) => {
                    prop_assert_eq!(&board, &before, "refused {} ({:?}) changed the board", op.kind(), e);
                }
                Ok(applied) => {
                    accepted += 1;
                    prop_assert_eq!(applied.events.len(), 1);
                    if let Err(e) = board.check_invariants() {
                        prop_assert!(false, "after {}: {}", op.kind(), e);
                    }
                    check_placement(&board, op, applied.created_id)?;
                    if let Some((id, v)) = version_before {
                        prop_assert_eq!(board.card(id).map(|c| c.version), Some(v + 1), "{} bumps the version", op.kind());
                    }
                    let snap = board.snapshot();
                    prop_assert!(snap.columns.windows(2).all(|w| w[0].position < w[1].position));
                    for m in &mut mirrors {
                        for ev in &applied.events {
                            m.feed(key, ev, applied.card_before.as_ref())?;
                        }
                    }
                    log.extend(applied.events);
                }
            }
            for m in &mirrors {
                m.check(&board)?;
            }
        }
        let mut replayed = initial;
        for ev in &log {
            prop_assert!(replayed.apply_event(ev).is_ok());
        }
        prop_assert_eq!(&replayed, &board);
        // Not a property, a guard that the generator exercises acceptance at all.
        let _ = accepted;
    }
}

/// The generator must actually get ops accepted, or the properties above prove little.
/// Measured over sequences as long as the property's, from a fresh board each time.
#[test]
fn generator_produces_accepted_ops() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let fx = Fx::new();
    let mut ok = 0;
    let mut kinds = std::collections::BTreeSet::new();
    let mut n: u128 = 0;
    for _ in 0..20 {
        let mut board = fx.board.clone();
        for _ in 0..20 {
            n += 1;
            let op = op().new_tree(&mut runner).expect("value").current();
            let ctx = fx.ctx(uid(60_000 + n));
            if board.apply(&fx.owner, &op, &ctx).is_ok() {
                ok += 1;
                kinds.insert(op.kind());
            }
        }
    }
    assert!(ok > 80, "only {ok} of 400 random ops were accepted");
    assert_eq!(
        kinds,
        Op::KINDS.into_iter().collect(),
        "every op kind gets accepted"
    );
}

/// Any principal the server could hold: every kind and role, ids from the pools (so some
/// are assigned, some are a card's customer, some are nobody), another org, API key scopes
/// in and out of the board. Share links get whatever role the generator draws: the policy
/// must not care.
pub(crate) fn any_principal(fx: &Fx) -> impl Strategy<Value = Principal> {
    let (org, other_org, board, other_board) =
        (fx.org, fx.other_org, fx.board.id(), fx.other_board);
    (
        select(vec![
            PrincipalKind::User,
            PrincipalKind::ApiKey,
            PrincipalKind::Share,
        ]),
        select(vec![
            Role::Owner,
            Role::Admin,
            Role::Member,
            Role::Worker,
            Role::Customer,
        ]),
        select(users()),
        prop_oneof![6 => Just(org), 1 => Just(other_org)],
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(vec![board])),
            1 => Just(Some(vec![other_board])),
        ],
        after(cards()),
        after(customers()),
    )
        .prop_map(
            |(kind, role, id, org_id, board_scope, share_card, customer_id)| Principal {
                kind,
                id,
                org_id,
                role,
                board_scope,
                share_card,
                customer_id,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    /// The hub decides once per view class and sends that answer to every subscriber of the
    /// class: for that to be right, every principal of a class must get exactly what the
    /// per-subscriber rule gives it, on the board topic and on every card topic.
    #[test]
    fn a_view_class_gets_what_each_of_its_members_would(
        steps in proptest::collection::vec((op(), 0usize..12), 1..30),
        who in proptest::collection::vec(any_principal(&Fx::new()), 2..24),
    ) {
        let fx = Fx::new();
        let key = fx.board.key();
        let ps = principals(&fx);
        let mut board = fx.board.clone();
        let mut checked = 0usize;
        for (i, (op, by)) in steps.iter().enumerate() {
            let ctx = fx.ctx(uid(70_000 + i as u128));
            let Ok(applied) = board.apply_op(&ps[*by], op, &ctx) else { continue };
            let before = applied.card_before.as_ref();
            for ev in &applied.events {
                let mut first: std::collections::HashMap<ViewClass, &Principal> = Default::default();
                for p in &who {
                    let rep = *first.entry(view_class(p, key)).or_insert(p);
                    prop_assert_eq!(
                        deliver(rep, key, ev, before),
                        deliver(p, key, ev, before),
                        "{:?} and {:?} share class {:?} but differ on {}",
                        rep, p, view_class(p, key), ev.kind()
                    );
                    for card in cards() {
                        prop_assert_eq!(
                            deliver_on_card_topic(rep, key, card, ev, before),
                            deliver_on_card_topic(p, key, card, ev, before),
                            "card topic {}: {:?} and {:?} share a class but differ on {}",
                            card, rep, p, ev.kind()
                        );
                    }
                    checked += 1;
                }
            }
            // Presence goes through the same classes: every card's facts as someone's focus
            // and job, an entry with every kind of state.
            let entry = boardroom_protocol::PresenceEntry {
                name: "someone".into(),
                state: boardroom_protocol::PresenceState {
                    focus: Some(uid(200)),
                    editing: true,
                    extra: [("cursor".to_string(), serde_json::json!(1))].into(),
                },
            };
            let mut first: std::collections::HashMap<ViewClass, &Principal> = Default::default();
            for p in &who {
                let rep = *first.entry(view_class(p, key)).or_insert(p);
                for c in board.all_cards() {
                    let facts = crate::domain::PresenceFacts {
                        focus: Some(card_facts(c)),
                        jobs: vec![card_facts(c)],
                    };
                    prop_assert_eq!(
                        crate::domain::presence_entry_for(rep, key, &entry, Some(&facts)),
                        crate::domain::presence_entry_for(p, key, &entry, Some(&facts)),
                        "presence: {:?} and {:?} share a class", rep, p
                    );
                }
            }
        }
        let _ = checked;
    }
}
