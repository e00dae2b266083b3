//! `GET /api/v1/orgs/{org}/audit`: the organization's audit log for its owners and admins, as
//! JSON pages (cursor) or as CSV (`?format=csv`), and [`record`], the one call a route makes
//! to add a row.
//!
//! Rows are written right after the change they record has committed, not in its
//! transaction: the store methods of members, keys and links commit on their own. A failed
//! audit write is logged (and counted) but does not undo or fail the change.

use super::extract::Acting;
use super::params::{Path, Query};
use crate::app::AppState;
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{AuditActor, AuditCursor, AuditEntry, AuditQuery, AuditRecord};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use boardroom_actors::policy::Action;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use uuid::Uuid;

/// Rows of one JSON page when `limit` is not given, and the most one may ask for.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// The caller as an audit actor, with the name it had at the time (names change; the log
/// keeps what an admin saw then).
pub async fn actor_of(state: &AppState, caller: &Caller) -> AuditActor {
    match caller {
        Caller::ApiKey(k) => AuditActor {
            kind: "api_key".into(),
            id: Some(k.id),
            name: k.name.clone(),
        },
        Caller::User { user_id } => user_actor(state, *user_id).await,
    }
}

pub async fn user_actor(state: &AppState, user_id: Uuid) -> AuditActor {
    let name = match state.store.get_user(user_id).await {
        Ok(Some(u)) => u.name,
        _ => String::new(),
    };
    AuditActor {
        kind: "user".into(),
        id: Some(user_id),
        name,
    }
}

/// What every recorded change shares: the org, who, and from where.
pub struct AuditCtx {
    pub org_id: Uuid,
    pub actor: AuditActor,
    pub ip: IpAddr,
}

impl AuditCtx {
    pub async fn new(state: &AppState, caller: &Caller, org_id: Uuid, ip: IpAddr) -> Self {
        AuditCtx {
            org_id,
            actor: actor_of(state, caller).await,
            ip,
        }
    }

    /// An entry about `target`: what it was (`old`) and is now (`new`), as far as they apply.
    pub fn change(
        &self,
        kind: &str,
        target: Uuid,
        old: Option<Value>,
        new: Option<Value>,
    ) -> AuditEntry {
        AuditEntry {
            target_id: Some(target),
            old,
            new,
            ..self.entry(kind)
        }
    }

    /// A `change` that happened on one board (to the board itself, or to a link to one of
    /// its cards), so that the board's filter finds it.
    pub fn board_change(
        &self,
        kind: &str,
        board_id: Uuid,
        target: Uuid,
        old: Option<Value>,
        new: Option<Value>,
    ) -> AuditEntry {
        AuditEntry {
            board_id: Some(board_id),
            ..self.change(kind, target, old, new)
        }
    }

    /// An entry of this context; fill in `board_id`/`target_id`/`old`/`new` as needed.
    pub fn entry(&self, kind: &str) -> AuditEntry {
        AuditEntry {
            org_id: self.org_id,
            kind: kind.into(),
            actor: self.actor.clone(),
            ip: Some(self.ip.to_string()),
            board_id: None,
            target_id: None,
            old: None,
            new: None,
        }
    }
}

/// Records a change to `target` by `caller` in `org_id`, from `ip`: what it was (`old`) and
/// is now (`new`), as far as they apply (see [`AuditCtx::change`]).
pub async fn record_change(
    state: &AppState,
    caller: &Caller,
    org_id: Uuid,
    ip: IpAddr,
    kind: &str,
    target: Uuid,
    (old, new): (Option<Value>, Option<Value>),
) {
    let ctx = AuditCtx::new(state, caller, org_id, ip).await;
    record(state, ctx.change(kind, target, old, new)).await;
}

/// Appends one row to the audit log. Never fails the request: the change it records has
/// already happened, so a failure is logged and counted for the operator instead.
pub async fn record(state: &AppState, entry: AuditEntry) {
    if let Err(e) = state.store.insert_audit(&entry).await {
        metrics::counter!("boardroom_audit_write_failures_total").increment(1);
        tracing::error!(error = %e, org_id = %entry.org_id, kind = %entry.kind, "audit write failed");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    actor: Option<String>,
    kind: Option<String>,
    board: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    format: Option<String>,
}

fn uuid_param(name: &str, v: &Option<String>) -> ApiResult<Option<Uuid>> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Uuid::try_parse(s)
                .map_err(|_| ApiError::bad_field(name, format!("{name} must be an id")))
        })
        .transpose()
}

fn time_param(name: &str, v: &Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::bad_field(name, format!("{name} must be an RFC 3339 time")))
        })
        .transpose()
}

pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<AuditParams>,
) -> ApiResult<Response> {
    // The same people who manage members (owners and admins, not a key scoped to boards).
    let what = "read the audit log";
    super::access::org_principal(&state, &caller, org_id, Action::ManageMembers, what).await?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_field("format", "format must be json or csv")),
    };
    let export_max = i64::try_from(state.config.limits.audit_export_max_rows).unwrap_or(i64::MAX);
    let (default, max) = if csv {
        (export_max, export_max)
    } else {
        (DEFAULT_PAGE, MAX_PAGE)
    };
    let limit = q.limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("limit must be between 1 and {max}"),
        ));
    }
    let after =
        match q.cursor.as_deref().filter(|s| !s.is_empty()) {
            Some(c) => Some(AuditCursor::decode(c).ok_or_else(|| {
                ApiError::bad_field("cursor", "cursor is not one this server gave")
            })?),
            None => None,
        };
    let kind = q.kind.filter(|k| !k.is_empty());
    if kind.as_ref().is_some_and(|k| k.len() > 64) {
        return Err(ApiError::bad_field("kind", "kind is at most 64 characters"));
    }
    let query = AuditQuery {
        org_id,
        actor: uuid_param("actor", &q.actor)?,
        kind,
        board: uuid_param("board", &q.board)?,
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
        limit,
        after,
    };
    let rows = state.store.audit_page(&query).await?;
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            to_csv(&rows),
        )
            .into_response());
    }
    // A full page may have more behind it; a short one is the end.
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.cursor.encode()))
        .flatten();
    Ok(Json(json!({ "entries": rows, "next_cursor": next })).into_response())
}

const CSV_HEADER: &str =
    "at,source,kind,actor_kind,actor_id,actor_name,ip,board_id,target_id,old,new\r\n";

fn to_csv(rows: &[AuditRecord]) -> String {
    let mut out = String::from(CSV_HEADER);
    let opt = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let js = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    for AuditRecord {
        source,
        at,
        entry: e,
        ..
    } in rows
    {
        let source = match source {
            crate::store::AuditSource::Log => "log",
            crate::store::AuditSource::BoardOp => "board_op",
        };
        let cells = [
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            source.to_string(),
            e.kind.clone(),
            e.actor.kind.clone(),
            opt(e.actor.id),
            e.actor.name.clone(),
            e.ip.clone().unwrap_or_default(),
            opt(e.board_id),
            opt(e.target_id),
            js(&e.old),
            js(&e.new),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// RFC 4180 quoting, and a leading `'` on a cell a spreadsheet would run as a formula (names
/// and card titles are user input).
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(
            csv_cell("{\"a\":1,\"b\":2}"),
            "\"{\"\"a\"\":1,\"\"b\"\":2}\""
        );
    }
}
