//! Tests of the domain: one module per concern, sharing the fixture below.

mod ops;
pub(crate) mod props;
mod views;

use super::*;
use crate::policy::Principal;
use boardroom_protocol::op::*;
use boardroom_protocol::{EventBody, Op, PrincipalKind, Role};
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

pub fn uid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

pub fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000, 0)
        .single()
        .expect("valid timestamp")
}

// ----- op builders: the ops the tests send most, with what they leave out left out ---------

fn col_create(name: &str) -> Op {
    Op::ColumnCreate(ColumnCreate {
        name: name.into(),
        after: None,
        is_done: None,
        column_id: None,
        color: None,
    })
}

fn update(card: Uuid) -> CardUpdate {
    CardUpdate {
        card_id: card,
        ..CardUpdate::default()
    }
}

fn set_customer(card: Uuid, customer: Option<Uuid>) -> Op {
    Op::CardUpdate(CardUpdate {
        customer_id: Some(customer),
        ..update(card)
    })
}

fn rename(card: Uuid, title: &str) -> Op {
    Op::CardUpdate(CardUpdate {
        title: Some(title.into()),
        ..update(card)
    })
}

/// A `column.update` of `column` that changes nothing yet: tests set what they change.
fn col_update(column: Uuid) -> ColumnUpdate {
    ColumnUpdate {
        column_id: column,
        name: None,
        is_done: None,
        color: None,
    }
}

fn mv(card: Uuid, column: Uuid, after: Option<Uuid>) -> Op {
    Op::CardMove(CardMove {
        card_id: card,
        column_id: column,
        after,
    })
}

fn comment(card: Uuid, body: impl Into<String>, mentions: Vec<Uuid>) -> Op {
    Op::CommentAdd(CommentAdd {
        card_id: card,
        body: body.into(),
        mentions,
    })
}

fn toggle(card: Uuid, item: Uuid, done: bool) -> Op {
    Op::ChecklistToggle(ChecklistToggle {
        card_id: card,
        item_id: item,
        done,
    })
}

fn assign(card: Uuid, assignees: Vec<Uuid>) -> Op {
    Op::CardAssign(CardAssign {
        card_id: card,
        assignees,
    })
}

fn item_add(card: Uuid, title: impl Into<String>, item: Option<Uuid>) -> Op {
    Op::ChecklistAdd(ChecklistAdd {
        card_id: card,
        title: title.into(),
        item_id: item,
    })
}

fn item_remove(card: Uuid, item: Uuid) -> Op {
    Op::ChecklistRemove(ChecklistRemove {
        card_id: card,
        item_id: item,
    })
}

/// An org with one member of each role, two customers, two boards, and a board with three
/// columns (`todo`, `doing`, `done` which is done) and two cards:
/// `job` (assigned to worker1, customer c1, labels, a comment, a checklist item) and
/// `other` (unassigned, customer c2).
pub struct Fx {
    pub org: Uuid,
    pub other_org: Uuid,
    pub board: BoardState,
    pub other_board: Uuid,
    pub dir: OrgDirectory,
    pub limits: Limits,
    pub owner: Principal,
    pub admin: Principal,
    pub member: Principal,
    pub worker1: Principal,
    pub worker2: Principal,
    pub customer1: Principal,
    pub c1: Uuid,
    pub c2: Uuid,
    pub todo: Uuid,
    pub doing: Uuid,
    pub done: Uuid,
    pub job: Uuid,
    pub other: Uuid,
    pub item: Uuid,
    next: u128,
}

impl Fx {
    pub fn new() -> Fx {
        let org = uid(1);
        let other_org = uid(2);
        let board_id = uid(3);
        let other_board = uid(4);
        let c1 = uid(50);
        let c2 = uid(51);
        let owner = Principal::user(uid(10), org, Role::Owner);
        let admin = Principal::user(uid(11), org, Role::Admin);
        let member = Principal::user(uid(12), org, Role::Member);
        let worker1 = Principal::user(uid(13), org, Role::Worker);
        let worker2 = Principal::user(uid(14), org, Role::Worker);
        let mut customer1 = Principal::user(uid(15), org, Role::Customer);
        customer1.customer_id = Some(c1);
        let dir = OrgDirectory::default()
            .with_member(owner.id, Role::Owner)
            .with_member(admin.id, Role::Admin)
            .with_member(member.id, Role::Member)
            .with_member(worker1.id, Role::Worker)
            .with_member(worker2.id, Role::Worker)
            .with_customer_user(customer1.id, c1)
            .with_customer(c2);
        let mut fx = Fx {
            org,
            other_org,
            board: BoardState::new(board_id, org, "Jobs"),
            other_board,
            dir,
            limits: Limits::default(),
            owner,
            admin,
            member,
            worker1,
            worker2,
            customer1,
            c1,
            c2,
            todo: uid(100),
            doing: uid(101),
            done: uid(102),
            job: uid(200),
            other: uid(201),
            item: uid(300),
            next: 10_000,
        };
        let owner = fx.owner.clone();
        for (id, name, is_done) in [
            (fx.todo, "To do", false),
            (fx.doing, "Doing", false),
            (fx.done, "Done", true),
        ] {
            fx.ok(
                &owner,
                Op::ColumnCreate(ColumnCreate {
                    name: name.into(),
                    after: None,
                    is_done: Some(is_done),
                    column_id: Some(id),
                    color: None,
                }),
            );
        }
        fx.ok(
            &owner,
            Op::CardCreate(CardCreate {
                description: Some("Basement".into()),
                assignees: vec![fx.worker1.id],
                customer_id: Some(c1),
                labels: vec!["urgent".into()],
                card_id: Some(fx.job),
                ..CardCreate::new(fx.todo, "Fix the boiler")
            }),
        );
        fx.ok(
            &owner,
            Op::CardCreate(CardCreate {
                customer_id: Some(c2),
                card_id: Some(fx.other),
                ..CardCreate::new(fx.todo, "Paint the fence")
            }),
        );
        fx.ok(
            &owner,
            Op::ChecklistAdd(ChecklistAdd {
                card_id: fx.job,
                title: "Turn off water".into(),
                item_id: Some(fx.item),
            }),
        );
        fx.ok(
            &owner,
            Op::CommentAdd(CommentAdd {
                card_id: fx.job,
                body: "Key under the mat".into(),
                mentions: vec![],
            }),
        );
        fx
    }

    /// The fixture and one of its principals (`Fx::acting(|fx| &fx.member)`): nearly every
    /// op test starts from who acts.
    pub fn acting(who: impl Fn(&Fx) -> &Principal) -> (Fx, Principal) {
        let fx = Fx::new();
        let p = who(&fx).clone();
        (fx, p)
    }

    /// A fresh fixture after the principal `who` picks has applied the op `make` builds, which
    /// must succeed: where the tests of what an op leads to start. With that principal, to go
    /// on acting as them.
    pub fn after(
        who: impl Fn(&Fx) -> &Principal,
        make: impl FnOnce(&Fx) -> Op,
    ) -> (Fx, Principal, Applied) {
        let (mut fx, p) = Fx::acting(who);
        let op = make(&fx);
        let a = fx.ok(&p, op);
        (fx, p, a)
    }

    /// [`Fx::after`] the member has created the card `card` builds.
    pub fn member_created(card: impl FnOnce(&Fx) -> CardCreate) -> (Fx, Principal, Applied) {
        Fx::after(|fx| &fx.member, |fx| Op::CardCreate(card(fx)))
    }

    /// What ops are applied with here: the fixture's clock, people and limits, and `new_id`
    /// for whatever the op creates.
    pub fn ctx(&self, new_id: Uuid) -> ApplyCtx<'_> {
        ApplyCtx {
            now: now(),
            new_id,
            directory: &self.dir,
            limits: &self.limits,
        }
    }

    pub fn share(&self, card: Uuid) -> Principal {
        Principal {
            kind: PrincipalKind::Share,
            id: uid(60),
            org_id: self.org,
            role: Role::Customer,
            board_scope: None,
            share_card: Some(card),
            customer_id: None,
        }
    }

    pub fn api_key(&self, role: Role, boards: Option<Vec<Uuid>>) -> Principal {
        Principal {
            kind: PrincipalKind::ApiKey,
            id: uid(70),
            org_id: self.org,
            role,
            board_scope: boards,
            share_card: None,
            customer_id: None,
        }
    }

    pub fn stranger(&self) -> Principal {
        Principal::user(uid(80), self.other_org, Role::Owner)
    }

    pub fn apply(&mut self, p: &Principal, op: Op) -> Result<Applied, OpError> {
        self.next += 1;
        // Applied to a copy, so that the board before is at hand to compare with.
        let mut board = self.board.clone();
        let r = board.apply_op(p, &op, &self.ctx(uid(self.next)));
        match &r {
            Err(_) => assert_eq!(board, self.board, "a refused op changed the board"),
            Ok(a) => {
                assert_eq!(a.events.len(), 1);
                if let Err(e) = board.check_invariants() {
                    panic!("{e}");
                }
            }
        }
        self.board = board;
        r
    }

    pub fn ok(&mut self, p: &Principal, op: Op) -> Applied {
        let kind = op.kind();
        self.apply(p, op)
            .unwrap_or_else(|e| panic!("{kind} should succeed: {e:?}"))
    }

    pub fn err(&mut self, p: &Principal, op: Op) -> OpError {
        let kind = op.kind();
        match self.apply(p, op) {
            Ok(a) => panic!("{kind} should fail, got {:?}", a.events),
            Err(e) => e,
        }
    }

    pub fn card(&self, id: Uuid) -> &boardroom_protocol::Card {
        self.board.card(id).expect("card exists")
    }

    pub fn event(a: &Applied) -> &EventBody {
        &a.events[0]
    }
}
