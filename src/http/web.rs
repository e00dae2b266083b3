//! The web client, embedded into the binary from `web/dist` (built by `npm run build` and
//! committed), so `cargo run --release` serves the app with no Node at run time.
//!
//! - `/assets/*` are content-hashed: cached for a year, `immutable`.
//! - Other files (`/index.html`, …) and every app path (`/boards/…`, `/j/<token>`, …) get
//!   `index.html` with `no-cache` and an `ETag`, so a new build is picked up at once.
//! - A `.gz` twin produced by the build is served to clients that accept gzip.
//! - API paths (`/api/…`, `/ws`, health, metrics) never fall back to the app: an unknown one
//!   stays a JSON `not_found`.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use boardroom_protocol::ErrorCode;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "web/dist/"]
struct Assets;

/// Stops pages from sending share tokens (`/j/<token>`) to other sites in `Referer`, and
/// keeps the app to its own origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; \
     form-action 'self'";

fn is_api(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/ws"
        || path.starts_with("/ws/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The router's fallback: the app for browsers, `not_found` for the API.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if is_api(path) || (method != Method::GET && method != Method::HEAD) {
        return ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response();
    }
    let rel = path.trim_start_matches('/');
    if !rel.is_empty() && rel != "index.html" {
        if let Some(res) = file(rel, &headers, true) {
            return res;
        }
        // A missing file (it has an extension) is a 404, not the app.
        if rel
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.'))
        {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "not found",
            )
                .into_response();
        }
    }
    file("index.html", &headers, false).unwrap_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "the web client is not built into this binary (run `npm ci && npm run build` in web/)",
        )
            .into_response()
    })
}

fn file(rel: &str, headers: &HeaderMap, allow_gzip: bool) -> Option<Response> {
    let plain = Assets::get(rel)?;
    let etag = format!("\"{}\"", hex::encode(&plain.metadata.sha256_hash()[..16]));
    let immutable = rel.starts_with("assets/");
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mime = plain.metadata.mimetype().to_string();
    let mut res = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&mime))
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, &etag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer");
    if mime.starts_with("text/html") {
        res = res
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header(header::X_FRAME_OPTIONS, "DENY");
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return res
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .ok();
    }
    let gz = if allow_gzip && accepts_gzip(headers) {
        Assets::get(&format!("{rel}.gz"))
    } else {
        None
    };
    if Assets::get(&format!("{rel}.gz")).is_some() {
        res = res.header(header::VARY, "Accept-Encoding");
    }
    let body = match gz {
        Some(z) => {
            res = res.header(header::CONTENT_ENCODING, "gzip");
            z.data
        }
        None => plain.data,
    };
    res.body(Body::from(body)).ok()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|e| {
                let mut parts = e.trim().split(';');
                parts.next().is_some_and(|n| n.trim() == "gzip")
                    && !parts.any(|q| q.trim().replace(' ', "") == "q=0")
            })
        })
}

fn content_type(mime: &str) -> HeaderValue {
    let v = match mime {
        "text/html" | "text/css" | "text/javascript" | "application/javascript" | "text/plain" => {
            format!("{mime}; charset=utf-8")
        }
        other => other.to_string(),
    };
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_never_fall_back_to_the_app() {
        for p in [
            "/api",
            "/api/v1/nope",
            "/ws",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(is_api(p), "{p}");
        }
        for p in ["/", "/boards/x", "/j/brs_abc", "/apiary", "/wsx"] {
            assert!(!is_api(p), "{p}");
        }
    }

    #[test]
    fn gzip_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
