//! Path and query extractors that answer a malformed parameter in the protocol's JSON error
//! shape. axum's own `Path` and `Query` reject with a plain-text body, which a client that
//! parses every error as `{"error":{…}}` cannot read; these wrap them and turn the rejection
//! into `bad_request`. Every handler in `http` uses these (a test over the sources checks it).

use crate::error::ApiError;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::FromRequestParts;
use boardroom_protocol::ErrorCode;

/// A path parameter (an id), rejected as `400 bad_request` naming the parameter.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A query string, rejected as `400 bad_request` with serde's reason (which names an unknown
/// or malformed field).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(e) => {
                let field = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. }
                    | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                    _ => None,
                };
                let mut err = ApiError::new(
                    ErrorCode::BadRequest,
                    format!("invalid path parameter: {}", e.body_text()),
                );
                err.field = field;
                err
            }
            other => ApiError::new(
                ErrorCode::BadRequest,
                format!("invalid path: {}", other.body_text()),
            ),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("invalid query string: {}", rejection.body_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    /// A handler that takes axum's own `Path` or `Query` would answer a malformed parameter in
    /// plain text again; new routes must use the wrappers above.
    #[test]
    fn no_handler_uses_axums_plain_text_extractors() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut offenders = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("src/http is readable") {
            let path = entry.expect("a directory entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs")
                || path.file_name().and_then(|n| n.to_str()) == Some("params.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("use axum"))
            {
                let names = line.split(['{', '}', ',', ' ', ':', ';']);
                if names.into_iter().any(|n| n == "Path" || n == "Query") {
                    offenders.push(format!("{}: {line}", path.display()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "use http::params instead: {offenders:?}"
        );
    }
}
