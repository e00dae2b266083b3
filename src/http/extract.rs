//! Extractors: a strict JSON body (every failure is a 400 naming the field, or 413) and the
//! caller's credential (access JWT or API key), resolved into a policy `Principal` per org.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::ratelimit::CredentialKey;
use crate::auth::secrets;
use crate::store::ApiKey;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use boardroom_actors::policy::Principal;
use boardroom_protocol::{ErrorCode, PrincipalKind, Role};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON request body. Unlike `axum::Json` it answers every failure in the protocol's shape:
/// malformed JSON, a missing or unknown field (named in `field`), a body over the limit.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::TooLarge, "request body is larger than the limit")
            } else {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("cannot read request body: {rejection}"),
                )
            }
        })?;
        // An empty body reads as `{}`: optional-only bodies may be left out, and required
        // fields are then reported by name like any other missing field.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(bytes).map(Body)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        // serde names the offending field in its message; the path names the enclosing one.
        let field = quoted_field(&inner).or_else(|| (path != ".").then_some(path));
        if e.inner().is_syntax() || e.inner().is_eof() {
            return ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {inner}"));
        }
        match field {
            Some(f) => ApiError::bad_field(f, inner),
            None => ApiError::new(ErrorCode::BadRequest, inner),
        }
    })?;
    // Anything but whitespace after the value (`{…} trailing`, `{…}{…}`) is malformed too.
    de.end()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// `missing field `email`` / `unknown field `x`, expected …` -> the name in backquotes.
fn quoted_field(msg: &str) -> Option<String> {
    if !(msg.starts_with("missing field") || msg.starts_with("unknown field")) {
        return None;
    }
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// Who presented which credential, before we know which org they are acting in.
#[derive(Debug, Clone)]
pub enum Caller {
    User { user_id: Uuid },
    ApiKey(ApiKey),
}

impl Caller {
    /// The budget this caller's HTTP ops are counted against.
    pub fn rate_key(&self) -> CredentialKey {
        match self {
            Caller::User { user_id } => CredentialKey::User(*user_id),
            Caller::ApiKey(key) => CredentialKey::ApiKey(key.id),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer header"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?
            .trim();
        state.authenticate(token).await
    }
}

impl AppState {
    pub async fn authenticate(&self, token: &str) -> ApiResult<Caller> {
        if token.starts_with(secrets::API_KEY_PREFIX) {
            let key = self
                .store
                .find_api_key(&secrets::digest(token))
                .await?
                .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
            let now = chrono::Utc::now();
            if key.revoked_at.is_some() {
                return Err(ApiError::unauthorized("API key revoked"));
            }
            if key.expires_at.is_some_and(|e| e <= now) {
                return Err(ApiError::unauthorized("API key expired"));
            }
            // One write a minute per key is enough to answer "is this key still in use?".
            if key
                .last_used_at
                .is_none_or(|t| now - t > chrono::Duration::seconds(60))
            {
                self.store.touch_api_key(key.id, now).await?;
            }
            return Ok(Caller::ApiKey(key));
        }
        let claims = self
            .jwt
            .verify(token)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        Ok(Caller::User {
            user_id: claims.sub,
        })
    }

    /// The caller as a principal of `org_id`. Not a member (or another org's key): 404, so an
    /// outsider cannot tell an org exists. A deactivated member: 401, their access is gone.
    pub async fn principal_in(&self, caller: &Caller, org_id: Uuid) -> ApiResult<Principal> {
        match caller {
            Caller::ApiKey(key) => {
                if key.org_id != org_id {
                    return Err(ApiError::new(ErrorCode::NotFound, "not found"));
                }
                Ok(Principal {
                    kind: PrincipalKind::ApiKey,
                    id: key.id,
                    org_id,
                    role: key.role,
                    board_scope: key.boards.clone(),
                    share_card: None,
                    customer_id: None,
                })
            }
            Caller::User { user_id } => {
                let member = self
                    .store
                    .get_member(org_id, *user_id)
                    .await?
                    .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "not found"))?;
                if !member.active {
                    return Err(ApiError::unauthorized(
                        "your membership of this organization was deactivated",
                    ));
                }
                let mut p = Principal::user(*user_id, org_id, member.role);
                if member.role == Role::Customer {
                    p.customer_id = self.store.customer_of_user(org_id, *user_id).await?;
                }
                Ok(p)
            }
        }
    }
}
