//! `/api/v1/orgs/{org}/members`: the only way to register is to be created by an owner or
//! admin of an organization.

use super::access::org_principal;
use super::audit::record_change;
use super::extract::{Acting, Body};
use super::page::PageQuery;
use super::params::{Path, Query};
use super::validate;
use crate::app::AppState;
use crate::auth::password;
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::{Member, NewUser};
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::{decide, Action, Principal, Resource};
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
    Acting { state, caller, ip }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = manage_members(&state, &caller, org_id).await?;
    ApiError::check(
        decide(&p, Action::GrantRole(body.role), &Resource::Org { org_id }),
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
    let new = json!({ "email": member.email, "name": member.name, "role": member.role });
    record_change(
        &state,
        &caller,
        org_id,
        ip,
        "member.created",
        member.id,
        (None, Some(new)),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(member))))
}

pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let what = "list members";
    org_principal(&state, &caller, org_id, Action::ManageMembers, what).await?;
    let members = state.store.list_members(org_id).await?;
    let page = q.oldest_first(members, state.config.limits.max_page_items)?;
    Ok(Json(page.to_json("members")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchMember {
    role: Role,
}

pub async fn patch(
    Acting { state, caller, ip }: Acting,
    Path((org_id, user_id)): Path<(Uuid, Uuid)>,
    Body(body): Body<PatchMember>,
) -> ApiResult<Json<Value>> {
    let (p, target) =
        member_to_modify(&state, &caller, org_id, user_id, "change the role of").await?;
    ApiError::check(
        decide(&p, Action::GrantRole(body.role), &Resource::Org { org_id }),
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
        let change = (
            Some(json!({ "role": target.role })),
            Some(json!({ "role": member.role })),
        );
        record_change(
            &state,
            &caller,
            org_id,
            ip,
            "member.role_changed",
            user_id,
            change,
        )
        .await;
    }
    Ok(Json(json!(member)))
}

pub async fn deactivate(
    Acting { state, caller, ip }: Acting,
    Path((org_id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let (_, target) = member_to_modify(&state, &caller, org_id, user_id, "deactivate").await?;
    if target.role == Role::Owner {
        ensure_another_owner(&state, org_id, user_id).await?;
    }
    let changed = state.store.deactivate_member(org_id, user_id).await?;
    state.rt.revoke(user_id);
    state.rt.directory_changed(org_id);
    tracing::info!(%org_id, %user_id, "member deactivated");
    if changed {
        let old = json!({ "role": target.role, "active": true });
        let new = json!({ "role": target.role, "active": false });
        record_change(
            &state,
            &caller,
            org_id,
            ip,
            "member.deactivated",
            user_id,
            (Some(old), Some(new)),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn manage_members(state: &AppState, caller: &Caller, org_id: Uuid) -> ApiResult<Principal> {
    org_principal(
        state,
        caller,
        org_id,
        Action::ManageMembers,
        "manage members",
    )
    .await
}

/// The member `user_id` with the caller, when the caller's role may change a member of that
/// member's role; `verb` completes "your role may not … an owner".
async fn member_to_modify(
    state: &AppState,
    caller: &Caller,
    org_id: Uuid,
    user_id: Uuid,
    verb: &str,
) -> ApiResult<(Principal, Member)> {
    let p = manage_members(state, caller, org_id).await?;
    let target = state
        .store
        .get_member(org_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    ApiError::check(
        decide(
            &p,
            Action::ModifyMemberWithRole(target.role),
            &Resource::Org { org_id },
        ),
        &format!("{verb} an {}", target.role),
    )?;
    Ok((p, target))
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
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    // The org's people, as on the `org:` topic: not for customers, nor for a key scoped to
    // boards (issue 15.7: such a key touches only its boards).
    let what = "list people";
    org_principal(&state, &caller, org_id, Action::ReadOrgPresence, what).await?;
    let people: Vec<_> = state
        .store
        .list_members(org_id)
        .await?
        .into_iter()
        .filter(|m| m.active)
        .collect();
    let page = q.oldest_first(people, state.config.limits.max_page_items)?;
    Ok(Json(page.to_json_with(
        "people",
        |m| json!({ "id": m.id, "name": m.name, "role": m.role }),
    )))
}
