//! `/api/v1/orgs/{org}/customers`: the people jobs are done for. Deleting is soft, so a
//! customer's past jobs keep their name.

use super::access::org_principal;
use super::extract::{Acting, Body};
use super::page::{paginate, Order, PageQuery};
use super::params::{Path, Query};
use super::validate;
use crate::error::{ApiError, ApiResult};
use crate::store::{CustomerPatch, NewCustomer, StoreError};
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::policy::Action;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    user_id: Option<Uuid>,
}

const MAX_PHONE: usize = 50;
/// Long enough for any postal address with directions ("ring twice, side door").
const MAX_ADDRESS: usize = 500;

fn optional_email(v: Option<&str>) -> ApiResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => validate::email("email", e).map(Some),
    }
}

fn bad_user(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidReference(_) => {
            ApiError::bad_field("user_id", "user_id is not a member of this organization")
        }
        other => other.into(),
    }
}

pub async fn create(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<CreateCustomer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let what = "manage customers";
    org_principal(&state, &caller, org_id, Action::ManageCustomers, what).await?;
    let c = NewCustomer {
        org_id,
        name: validate::text("name", &body.name, state.config.limits.max_name_chars)?,
        email: optional_email(body.email.as_deref())?,
        phone: validate::optional_text("phone", body.phone.as_deref(), MAX_PHONE)?,
        address: validate::optional_text("address", body.address.as_deref(), MAX_ADDRESS)?,
        user_id: body.user_id,
    };
    let customer = state.store.create_customer(c).await.map_err(bad_user)?;
    state.rt.directory_changed(org_id);
    Ok((StatusCode::CREATED, Json(json!(customer))))
}

pub async fn list(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let what = "list customers";
    org_principal(&state, &caller, org_id, Action::ReadCustomers, what).await?;
    // By name as people read it (case folded), then by id.
    let page = paginate(
        state.store.list_customers(org_id).await?,
        |c| format!("{}\u{0}{}", c.name.to_lowercase(), c.id),
        Order::Ascending,
        q.limit,
        q.cursor.as_deref(),
        state.config.limits.max_page_items,
    )?;
    Ok(Json(page.to_json("customers")))
}

pub async fn get(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    let what = "read customers";
    org_principal(&state, &caller, org_id, Action::ReadCustomers, what).await?;
    let c = state
        .store
        .get_customer(org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(json!(c)))
}

/// `Some(None)` when the field is present as `null`, `None` when absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchCustomer {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    user_id: Option<Option<Uuid>>,
}

pub async fn patch(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
    Body(body): Body<PatchCustomer>,
) -> ApiResult<Json<Value>> {
    let what = "manage customers";
    org_principal(&state, &caller, org_id, Action::ManageCustomers, what).await?;
    let patch = CustomerPatch {
        name: body
            .name
            .as_deref()
            .map(|n| validate::text("name", n, state.config.limits.max_name_chars))
            .transpose()?,
        email: body
            .email
            .map(|e| optional_email(e.as_deref()))
            .transpose()?,
        phone: body
            .phone
            .map(|ph| validate::optional_text("phone", ph.as_deref(), MAX_PHONE))
            .transpose()?,
        address: body
            .address
            .map(|a| validate::optional_text("address", a.as_deref(), MAX_ADDRESS))
            .transpose()?,
        user_id: body.user_id,
    };
    let c = state
        .store
        .update_customer(org_id, id, patch)
        .await
        .map_err(bad_user)?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    state.rt.directory_changed(org_id);
    Ok(Json(json!(c)))
}

pub async fn delete(
    Acting { state, caller, .. }: Acting,
    Path((org_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let what = "manage customers";
    org_principal(&state, &caller, org_id, Action::ManageCustomers, what).await?;
    if !state.store.delete_customer(org_id, id).await? {
        return Err(ApiError::not_found("customer"));
    }
    state.rt.directory_changed(org_id);
    Ok(StatusCode::NO_CONTENT)
}
