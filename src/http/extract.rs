//! The strict JSON body extractor: every failure is a 400 naming the field, or 413. (The
//! caller's credential and address are `crate::auth::session`'s, shared with the WebSocket.)

use crate::app::AppState;
use crate::auth::session::{Caller, ClientIp};
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use boardroom_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use std::net::IpAddr;

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

/// The app, who is asking and from where: what nearly every handler needs (the address for
/// the audit log of writes), taken as one extractor so a handler's signature names only what
/// is particular to it. Extracted in the
/// order the handlers listed them before (credential, then address), so a request missing
/// both is still refused as unauthorized first.
pub struct Acting {
    pub state: AppState,
    pub caller: Caller,
    pub ip: IpAddr,
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Acting {
            state: state.clone(),
            caller,
            ip,
        })
    }
}
