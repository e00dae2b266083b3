//! `PATCH /api/v1/orgs/{org}`: the organization's settings (today its name), for owners and
//! admins. The change and its audit row commit in one transaction.

use super::access::org_principal;
use super::audit::AuditCtx;
use super::extract::{Acting, Body};
use super::params::Path;
use super::validate;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use boardroom_actors::policy::Action;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchOrg {
    name: String,
}

pub async fn patch(
    Acting { state, caller, ip }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<PatchOrg>,
) -> ApiResult<Json<Value>> {
    // Those who run the org (owners, admins): the same rule as for its members.
    let what = "change the organization's settings";
    org_principal(&state, &caller, org_id, Action::ManageMembers, what).await?;
    let name = validate::text("name", &body.name, state.config.limits.max_name_chars)?;
    let entry = AuditCtx::new(&state, &caller, org_id, ip)
        .await
        .entry("org.updated");
    state
        .store
        .rename_org(org_id, &name, entry)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    tracing::info!(%org_id, "organization renamed");
    let org = state
        .store
        .get_org(org_id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    Ok(Json(
        json!({ "id": org.id, "name": org.name, "created_at": org.created_at }),
    ))
}
