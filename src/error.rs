//! The one error type every HTTP handler, the credential checks and the commands return (a
//! crate-level module so that neither `commands` nor `realtime` needs anything from `http`),
//! rendered exactly as PROTOCOL.md says (or as a WebSocket `error` frame, `into_reply`):
//! `{"error":{"code","message","field"?}}` with the code's status; with `rate_limited` and
//! `unavailable` also `Retry-After` (whole seconds, for generic HTTP clients) and
//! `retry_after_ms` in the body (the exact wait, as over the WebSocket).

use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boardroom_actors::policy::Decision;
use boardroom_protocol::{ErrorCode, ErrorReply, Ref};
use serde_json::json;
use std::time::Duration;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<Duration>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(ErrorCode::BadRequest, message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Conflict, message)
    }

    pub fn rate_limited(wait: Duration) -> Self {
        ApiError::rate_limited_because(wait, "too many attempts; try again later")
    }

    pub fn rate_limited_because(wait: Duration, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(ErrorCode::RateLimited, message)
        }
    }

    pub fn internal() -> Self {
        ApiError::new(ErrorCode::Internal, "internal error; it has been logged")
    }

    /// A `not_found` said as "<what> not found", so that a resource of another organization
    /// answers exactly like one that does not exist (no existence leak through the message).
    pub fn hide_as(self, what: &str) -> Self {
        if self.code == ErrorCode::NotFound {
            ApiError::not_found(what)
        } else {
            self
        }
    }

    /// Turns a policy decision into the answer the caller may see.
    pub fn check(decision: Decision, what: &str) -> ApiResult<()> {
        match decision {
            Decision::Allow => Ok(()),
            Decision::Forbidden => Err(ApiError::forbidden(format!("your role may not {what}"))),
            Decision::NotFound => Err(ApiError::new(ErrorCode::NotFound, "not found")),
        }
    }
}

/// A wait as the protocol's `retry_after_ms`: rounded up, never 0 (a client told to wait 0 ms
/// would just try again at once).
pub fn retry_after_ms(wait: Duration) -> u64 {
    (wait.as_nanos().div_ceil(1_000_000) as u64).max(1)
}

impl ApiError {
    /// The same refusal as a WebSocket `error` frame answering `r#ref`.
    pub fn into_reply(self, r#ref: Option<Ref>) -> ErrorReply {
        let mut e = ErrorReply::new(r#ref, self.code, self.message);
        e.field = self.field;
        e.retry_after_ms = self.retry_after.map(retry_after_ms);
        e
    }
}

/// A refusal a board actor answered with, as an HTTP error.
impl From<ErrorReply> for ApiError {
    fn from(e: ErrorReply) -> Self {
        ApiError {
            code: e.code,
            message: e.message,
            field: e.field,
            retry_after: e.retry_after_ms.map(Duration::from_millis),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::InvalidReference(m) => ApiError::new(ErrorCode::BadRequest, m),
            StoreError::Database(ref inner) if is_unavailable(inner) => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError {
                    retry_after: Some(Duration::from_secs(1)),
                    ..ApiError::new(
                        ErrorCode::Unavailable,
                        "the database is unavailable; retry shortly",
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = json!({ "code": self.code, "message": self.message });
        if let Some(f) = &self.field {
            err["field"] = json!(f);
        }
        if let Some(wait) = self.retry_after {
            err["retry_after_ms"] = json!(retry_after_ms(wait));
        }
        let mut res = (status, axum::Json(json!({ "error": err }))).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
