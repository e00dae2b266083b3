//! `/api/v1/auth/*` and `/api/v1/me`: login, refresh with rotation and reuse detection,
//! logout.

use super::extract::{Acting, Body};
use crate::app::AppState;
use crate::auth::session::{Caller, ClientIp};
use crate::auth::{password, secrets};
use crate::error::{ApiError, ApiResult};
use crate::store::{new_id, RefreshToken};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

const BAD_LOGIN: &str = "invalid email or password";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(body): Body<LoginBody>,
) -> ApiResult<Json<Value>> {
    let email = body.email.trim().to_lowercase();
    if email.len() > 254 || body.password.len() > 1024 {
        return Err(ApiError::unauthorized(BAD_LOGIN));
    }
    state
        .login_limiter
        .check(&email, ip)
        .map_err(ApiError::rate_limited)?;
    let user = state.store.find_user_by_email(&email).await?;
    let pw = body.password;
    let Some(user) = user else {
        // Same work as a real check, so timing does not tell which emails exist.
        let _ = tokio::task::spawn_blocking(move || password::verify_dummy(&pw)).await;
        metrics::counter!("boardroom_login_failures_unknown_account_total").increment(1);
        tracing::info!(%ip, "login failed for an email with no account");
        return Err(ApiError::unauthorized(BAD_LOGIN));
    };
    let stored = user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &stored))
        .await
        .map_err(|_| ApiError::internal())?;
    if !ok {
        // In the log of every org the account belongs to, written in the background so that
        // the answer takes no longer than for an email with no account. That failure belongs
        // to no org: it goes to tracing and a counter only (see the README).
        let state = state.clone();
        tokio::spawn(async move {
            match state.store.memberships_of(user.id).await {
                Ok(orgs) => record_login(&state, &user, &orgs, ip, "login.failed").await,
                Err(e) => tracing::error!(error = %e, "audit of a failed login: no memberships"),
            }
        });
        return Err(ApiError::unauthorized(BAD_LOGIN));
    }
    let orgs = state.store.memberships_of(user.id).await?;
    if orgs.is_empty() {
        return Err(ApiError::unauthorized("this account has been deactivated"));
    }
    tracing::info!(user_id = %user.id, "login");
    // Recorded once the tokens exist (and not before: the access token's clock starts at issue).
    let pair = issue_pair(&state, user.id, new_id()).await?;
    record_login(&state, &user, &orgs, ip, "login.succeeded").await;
    Ok(Json(pair))
}

/// One audit row per organization of the account: a login is not about one org, but each org's
/// admins want to see who got into (or tried) their org.
async fn record_login(
    state: &AppState,
    user: &crate::store::User,
    orgs: &[crate::store::MembershipInfo],
    ip: std::net::IpAddr,
    kind: &str,
) {
    for m in orgs {
        let entry = crate::store::AuditEntry {
            org_id: m.org_id,
            kind: kind.into(),
            actor: crate::store::AuditActor {
                kind: "user".into(),
                id: Some(user.id),
                name: user.name.clone(),
            },
            ip: Some(ip.to_string()),
            board_id: None,
            target_id: Some(user.id),
            old: None,
            new: Some(json!({ "email": user.email })),
        };
        super::audit::record(state, entry).await;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(
    State(state): State<AppState>,
    Body(body): Body<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let invalid = || ApiError::unauthorized("invalid refresh token");
    let token = state
        .store
        .find_refresh_token(&secrets::digest(&body.refresh_token))
        .await?
        .ok_or_else(invalid)?;
    let now = chrono::Utc::now();
    if token.revoked_at.is_some() {
        return Err(ApiError::unauthorized("refresh token revoked"));
    }
    if token.spent_at.is_some() || !state.store.spend_refresh_token(token.id, now).await? {
        // A spent token presented again means someone else holds a copy: end the whole login.
        state
            .store
            .revoke_refresh_family(token.family_id, now)
            .await?;
        state.rt.revoke(token.family_id);
        tracing::warn!(user_id = %token.user_id, family = %token.family_id, "refresh token reuse; family revoked");
        return Err(ApiError::unauthorized(
            "refresh token already used; every session of this login has been revoked, log in again",
        ));
    }
    if token.expires_at <= now {
        return Err(ApiError::unauthorized("refresh token expired"));
    }
    if state.store.memberships_of(token.user_id).await?.is_empty() {
        state
            .store
            .revoke_refresh_family(token.family_id, now)
            .await?;
        return Err(ApiError::unauthorized("this account has been deactivated"));
    }
    issue_pair(&state, token.user_id, token.family_id)
        .await
        .map(Json)
}

async fn issue_pair(state: &AppState, user_id: Uuid, family_id: Uuid) -> ApiResult<Value> {
    let (access, _) = state
        .jwt
        .issue(user_id, Some(family_id))
        .map_err(|_| ApiError::internal())?;
    let refresh = secrets::generate(secrets::REFRESH_TOKEN_PREFIX);
    let days = i64::try_from(state.config.auth.refresh_token_ttl_days).unwrap_or(30);
    let row = RefreshToken {
        id: new_id(),
        user_id,
        family_id,
        expires_at: chrono::Utc::now() + chrono::Duration::days(days),
        spent_at: None,
        revoked_at: None,
    };
    state
        .store
        .insert_refresh_token(&row, &secrets::digest(&refresh))
        .await?;
    Ok(json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": state.jwt.ttl_secs(),
    }))
}

pub async fn logout(
    Acting { state, caller, .. }: Acting,
    Body(body): Body<RefreshBody>,
) -> ApiResult<StatusCode> {
    let Caller::User { user_id } = caller else {
        return Err(ApiError::forbidden("only a user can log out"));
    };
    if let Some(t) = state
        .store
        .find_refresh_token(&secrets::digest(&body.refresh_token))
        .await?
    {
        if t.user_id == user_id {
            state
                .store
                .revoke_refresh_family(t.family_id, chrono::Utc::now())
                .await?;
            state.rt.revoke(t.family_id);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Caller::User { user_id } = caller else {
        return Err(ApiError::forbidden(
            "/me is for users; an API key has no user",
        ));
    };
    let user = state
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
    let memberships = state.store.memberships_of(user_id).await?;
    if memberships.is_empty() {
        return Err(ApiError::unauthorized("this account has been deactivated"));
    }
    Ok(Json(json!({
        "user": { "id": user.id, "email": user.email, "name": user.name },
        "memberships": memberships,
    })))
}
