//! `/api/v1/orgs/{org}/members`: the only way to register is to be created by an owner or
//! admin of an organization.

use super::audit::{record, AuditCtx};
use super::extract::Body;
use super::page::{by_creation, Order, PageQuery};
use super::params::{Path, Query};
use super::validate;
use crate::app::AppState;
use crate::auth::password;
use crate::auth::session::{Caller, ClientIp};
use crate::error::{ApiError, ApiResult};
use crate::store::NewUser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{decide, Action, Resource};
use boardroom_protocol::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    email: String,
    name: String,
    password: String,
    role: Role,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = state.principal_in(&caller, org_id).await?;
    let org = Resource::Org { org_id };
    ApiError::check(decide(&p, Action::ManageMembers, &org), "manage members")?;
    ApiError::check(
        decide(&p, Action::GrantRole(body.role), &org),
        &format!("create a member with role {}", body.role),
    )?;
    let email = validate::email("email", &body.email)?;
    let name = validate::text("name", &body.name, state.config.limits.max_name_chars)?;
    validate::password("password", &body.password)?;
    let pw = body.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    let member = state
        .store
        .create_member(
            org_id,
            NewUser {
                email,
                name,
                password_hash: hash,
            },
            body.role,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                ApiError::conflict("a user with this email already exists")
            }
            other => other.into(),
        })?;
    state.rt.directory_changed(org_id);
    tracing::info!(%org_id, user_id = %member.id, role = %member.role, "member created");
    let mut e = AuditCtx::new(&state, &caller, org_id, ip)
        .await
        .entry("member.created");
    e.target_id = Some(member.id);
    e.new = Some(json!({ "email": member.email, "name": member.name, "role": member.role }));
    record(&state, e).await;
    Ok((StatusCode::CREATED, Json(json!(member))))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = state.principal_in(&caller, org_id).await?;
    ApiError::check(
        decide(&p, Action::ManageMembers, &Resource::Org { org_id }),
        "list members",
    )?;
    let members = state.store.list_members(org_id).await?;
    let page = by_creation(
        members,
        |m| (&m.created_at, m.id),
        Order::Ascending,
        &q,
        state.config.limits.max_page_items,
    )?;
    Ok(Json(page.to_json("members")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchMember {
    role: Role,
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Path((org_id, user_id)): Path<(Uuid, Uuid)>,
    Body(body): Body<PatchMember>,
) -> ApiResult<Json<Value>> {
    let p = state.principal_in(&caller, org_id).await?;
    let org = Resource::Org { org_id };
    ApiError::check(decide(&p, Action::ManageMembers, &org), "manage members")?;
    let target = state
        .store
        .get_member(org_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    ApiError::check(
        decide(&p, Action::ModifyMemberWithRole(target.role), &org),
        &format!("change the role of an {}", target.role),
    )?;
    ApiError::check(
        decide(&p, Action::GrantRole(body.role), &org),
        &format!("grant the role {}", body.role),
    )?;
    if target.role == Role::Owner && body.role != Role::Owner {
        ensure_another_owner(&state, org_id, user_id).await?;
    }
    let member = state
        .store
        .set_member_role(org_id, user_id, body.role)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    state.rt.directory_changed(org_id);
    // Live sessions hold the old role: close them (4003) so they reconnect with the new one.
    state.rt.revoke(user_id);
    tracing::info!(%org_id, %user_id, role = %member.role, "member role changed");
    if target.role != member.role {
        let mut e = AuditCtx::new(&state, &caller, org_id, ip)
            .await
            .entry("member.role_changed");
        e.target_id = Some(user_id);
        e.old = Some(json!({ "role": target.role }));
        e.new = Some(json!({ "role": member.role }));
        record(&state, e).await;
    }
    Ok(Json(json!(member)))
}

pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    Path((org_id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let p = state.principal_in(&caller, org_id).await?;
    let org = Resource::Org { org_id };
    ApiError::check(decide(&p, Action::ManageMembers, &org), "manage members")?;
    let target = state
        .store
        .get_member(org_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    ApiError::check(
        decide(&p, Action::ModifyMemberWithRole(target.role), &org),
        &format!("deactivate an {}", target.role),
    )?;
    if target.role == Role::Owner {
        ensure_another_owner(&state, org_id, user_id).await?;
    }
    let changed = state.store.deactivate_member(org_id, user_id).await?;
    state.rt.revoke(user_id);
    state.rt.directory_changed(org_id);
    tracing::info!(%org_id, %user_id, "member deactivated");
    if changed {
        let mut e = AuditCtx::new(&state, &caller, org_id, ip)
            .await
            .entry("member.deactivated");
        e.target_id = Some(user_id);
        e.old = Some(json!({ "role": target.role, "active": true }));
        e.new = Some(json!({ "role": target.role, "active": false }));
        record(&state, e).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// An organization must keep at least one active owner, or nobody could ever manage it again.
async fn ensure_another_owner(state: &AppState, org_id: Uuid, leaving: Uuid) -> ApiResult<()> {
    let owners = state
        .store
        .list_members(org_id)
        .await?
        .into_iter()
        .filter(|m| m.active && m.role == Role::Owner && m.id != leaving)
        .count();
    if owners == 0 {
        return Err(ApiError::conflict(
            "the organization must keep at least one active owner",
        ));
    }
    Ok(())
}

/// `GET /api/v1/orgs/{org}/people`: who is in the organization, by name and role, for
/// the people who work on its boards (assignee pickers, @mentions, comment authors). No
/// emails; customers (and customer API keys) may not list the staff.
pub async fn people(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let p = state.principal_in(&caller, org_id).await?;
    // The org's people, as on the `org:` topic: not for customers, nor for a key scoped to
    // boards (issue 15.7: such a key touches only its boards).
    ApiError::check(
        decide(&p, Action::ReadOrgPresence, &Resource::Org { org_id }),
        "list people",
    )?;
    let people: Vec<_> = state
        .store
        .list_members(org_id)
        .await?
        .into_iter()
        .filter(|m| m.active)
        .collect();
    let page = by_creation(
        people,
        |m| (&m.created_at, m.id),
        Order::Ascending,
        &q,
        state.config.limits.max_page_items,
    )?;
    let people: Vec<Value> = page
        .items
        .iter()
        .map(|m| json!({ "id": m.id, "name": m.name, "role": m.role }))
        .collect();
    Ok(Json(json!({
        "people": people,
        "total": page.total,
        "next_cursor": page.next_cursor,
    })))
}
