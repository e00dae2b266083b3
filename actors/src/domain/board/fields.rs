//! Checks of op fields (lengths, ids, who may be assigned) and the small lookups the ops share.

use super::Placement;
use crate::domain::ctx::ApplyCtx;
use crate::domain::error::OpError;
use crate::domain::position;
use crate::policy::Principal;
use boardroom_protocol::{Card, ChecklistItem, PrincipalKind, Role};
use uuid::Uuid;

/// A position for `placement` among `siblings` (id and position, sorted by position), the
/// one `moving` left out. The anchor of `After` has been checked by the caller (see
/// [`Placement::anchor`]); if it is not among the siblings the item goes last.
pub(super) fn place<'a>(
    siblings: impl IntoIterator<Item = (Uuid, &'a str)>,
    moving: Option<Uuid>,
    placement: Placement,
) -> String {
    let siblings: Vec<(Uuid, &str)> = siblings
        .into_iter()
        .filter(|s| Some(s.0) != moving)
        .collect();
    match placement {
        Placement::First => position::between(None, siblings.first().map(|s| s.1)),
        Placement::Last => position::between(siblings.last().map(|s| s.1), None),
        Placement::After(anchor) => match siblings.iter().position(|s| s.0 == anchor) {
            Some(i) => position::between(Some(siblings[i].1), siblings.get(i + 1).map(|s| s.1)),
            None => position::between(siblings.last().map(|s| s.1), None),
        },
    }
}

pub(super) fn not_found_card(id: Uuid) -> OpError {
    OpError::NotFound(format!("card {id} not found"))
}

pub(super) fn find_item(card: &Card, item_id: Uuid) -> Result<&ChecklistItem, OpError> {
    card.checklist
        .iter()
        .find(|i| i.id == item_id)
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "checklist item {item_id} not found on card {}",
                card.id
            ))
        })
}

/// "a worker", "an API key with role member", "a share link": for forbidden messages.
pub(super) fn who(p: &Principal) -> String {
    let role = p.role.as_str();
    let article = if matches!(p.role, Role::Owner | Role::Admin) {
        "an"
    } else {
        "a"
    };
    match p.kind {
        PrincipalKind::User => format!("{article} {role}"),
        PrincipalKind::ApiKey => format!("an API key with role {role}"),
        PrincipalKind::Share => "a share link".to_string(),
    }
}

pub(super) fn client_id(
    field: &str,
    client: Option<Uuid>,
    ctx: &ApplyCtx,
) -> Result<Uuid, OpError> {
    match client {
        Some(id) if id.is_nil() => Err(OpError::bad(field, "must not be the nil uuid")),
        Some(id) => Ok(id),
        None => Ok(ctx.new_id),
    }
}

/// Trimmed text of 1..=max characters.
pub(super) fn text(field: &str, value: &str, max: usize) -> Result<String, OpError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(OpError::bad(field, "must not be empty"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(OpError::bad(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(t.to_string())
}

pub(super) fn description(value: &str, ctx: &ApplyCtx) -> Result<String, OpError> {
    let max = ctx.limits.description_max;
    let n = value.chars().count();
    if n > max {
        return Err(OpError::bad(
            "description",
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(value.to_string())
}

/// Labels trimmed, duplicates dropped (a label is a tag, so a repeat adds nothing).
pub(super) fn labels(input: &[String], ctx: &ApplyCtx) -> Result<Vec<String>, OpError> {
    let mut out: Vec<String> = Vec::new();
    for (i, l) in input.iter().enumerate() {
        let l = text(&format!("labels[{i}]"), l, ctx.limits.label_max)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if out.len() > ctx.limits.labels_max {
        return Err(OpError::bad(
            "labels",
            format!("at most {} labels are allowed", ctx.limits.labels_max),
        ));
    }
    Ok(out)
}

/// User ids that must all be members of the org; duplicates dropped, order kept.
pub(super) fn users(
    field: &str,
    input: &[Uuid],
    max: usize,
    ctx: &ApplyCtx,
) -> Result<Vec<Uuid>, OpError> {
    let mut out: Vec<Uuid> = Vec::new();
    for (i, u) in input.iter().enumerate() {
        if ctx.directory.member(*u).is_none() {
            return Err(OpError::bad(
                &format!("{field}[{i}]"),
                format!("{u} is not a member of this organization"),
            ));
        }
        if !out.contains(u) {
            out.push(*u);
        }
    }
    if out.len() > max {
        return Err(OpError::bad(field, format!("at most {max} are allowed")));
    }
    Ok(out)
}

/// A column colour: `#rrggbb`, stored lowercase so equal colours compare equal.
pub(super) fn color(c: &str) -> Result<String, OpError> {
    let hex = c.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(OpError::bad("color", "a colour is `#rrggbb`"))
    }
}

pub(super) fn estimate(minutes: u32, ctx: &ApplyCtx) -> Result<u32, OpError> {
    if minutes <= ctx.limits.estimate_minutes_max {
        Ok(minutes)
    } else {
        Err(OpError::bad(
            "estimate_minutes",
            format!("at most {} minutes", ctx.limits.estimate_minutes_max),
        ))
    }
}

/// Assignees are the people who do the work: any member but a customer user, who is the one
/// the work is for (a field-service job assigned to its own customer would show up in their
/// portal as theirs to do).
pub(super) fn assignees(input: &[Uuid], ctx: &ApplyCtx) -> Result<Vec<Uuid>, OpError> {
    let out = users("assignees", input, ctx.limits.assignees_max, ctx)?;
    for (i, u) in input.iter().enumerate() {
        if ctx.directory.member(*u).map(|m| m.role) == Some(Role::Customer) {
            return Err(OpError::bad(
                &format!("assignees[{i}]"),
                format!("{u} is a customer; only staff can be assigned"),
            ));
        }
    }
    Ok(out)
}

pub(super) fn customer(id: Uuid, ctx: &ApplyCtx) -> Result<Uuid, OpError> {
    if ctx.directory.has_customer(id) {
        Ok(id)
    } else {
        Err(OpError::bad(
            "customer_id",
            format!("{id} is not a customer of this organization"),
        ))
    }
}
