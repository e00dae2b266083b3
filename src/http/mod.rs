//! The HTTP surface: REST under `/api/v1` (PROTOCOL.md, "HTTP"), health and readiness.

mod access;
mod api_keys;
pub mod audit;
mod auth;
mod boards;
pub mod bodies;
mod card_history;
mod cards;
mod customers;
pub mod extract;
mod job;
mod live;
mod members;
mod notification_prefs;
mod openapi;
mod org_settings;
pub mod page;
pub mod params;
mod share_links;
mod stream;
mod validate;
mod web;
mod webhooks;

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use boardroom_protocol::ErrorCode;
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// An HTTP method of the route table, kept to the ones the API uses so that building the
/// router cannot meet a method axum has no filter for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Verb {
    /// The lowercase name OpenAPI uses for the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route of the server. [`router`] is built from [`routes`] and nothing else, so the same
/// list is what the OpenAPI drift test holds the checked-in spec against.
pub struct Route {
    pub verb: Verb,
    /// The full path, `{name}` for parameters (axum's syntax, which is also OpenAPI's).
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

fn route<H, T>(verb: Verb, path: &'static str, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route {
        verb,
        path,
        handler: on(verb.filter(), handler),
    }
}

/// Where the REST API is mounted; its routes are nested under it so that they share the
/// outer fallbacks exactly as the other routes do.
const API_PREFIX: &str = "/api/v1";

/// Every route the server answers (the web client's files are the fallback, not routes).
pub fn routes() -> Vec<Route> {
    use Verb::{Delete, Get, Patch, Post, Put};
    vec![
        route(Post, "/api/v1/auth/login", auth::login),
        route(Post, "/api/v1/auth/refresh", auth::refresh),
        route(Post, "/api/v1/auth/logout", auth::logout),
        route(Get, "/api/v1/me", auth::me),
        route(Patch, "/api/v1/orgs/{org}", org_settings::patch),
        route(Post, "/api/v1/orgs/{org}/members", members::create),
        route(Get, "/api/v1/orgs/{org}/members", members::list),
        route(Patch, "/api/v1/orgs/{org}/members/{user}", members::patch),
        route(
            Delete,
            "/api/v1/orgs/{org}/members/{user}",
            members::deactivate,
        ),
        route(Post, "/api/v1/orgs/{org}/customers", customers::create),
        route(Get, "/api/v1/orgs/{org}/customers", customers::list),
        route(Get, "/api/v1/orgs/{org}/customers/{id}", customers::get),
        route(Patch, "/api/v1/orgs/{org}/customers/{id}", customers::patch),
        route(
            Delete,
            "/api/v1/orgs/{org}/customers/{id}",
            customers::delete,
        ),
        route(Get, "/api/v1/orgs/{org}/people", members::people),
        route(Post, "/api/v1/orgs/{org}/boards", boards::create),
        route(Get, "/api/v1/orgs/{org}/boards", boards::list),
        route(Post, "/api/v1/boards/{board}/archive", boards::archive),
        route(Post, "/api/v1/orgs/{org}/api-keys", api_keys::create),
        route(Get, "/api/v1/orgs/{org}/api-keys", api_keys::list),
        route(Get, "/api/v1/orgs/{org}/audit", audit::list),
        route(
            Get,
            "/api/v1/boards/{board}/cards/{card}/history",
            card_history::history,
        ),
        route(Delete, "/api/v1/orgs/{org}/api-keys/{id}", api_keys::revoke),
        route(Post, "/api/v1/orgs/{org}/webhooks", webhooks::create),
        route(Get, "/api/v1/orgs/{org}/webhooks", webhooks::list),
        route(Get, "/api/v1/orgs/{org}/webhooks/{id}", webhooks::get),
        route(Patch, "/api/v1/orgs/{org}/webhooks/{id}", webhooks::patch),
        route(Delete, "/api/v1/orgs/{org}/webhooks/{id}", webhooks::delete),
        route(
            Post,
            "/api/v1/orgs/{org}/webhooks/{id}/rotate-secret",
            webhooks::rotate_secret,
        ),
        route(
            Post,
            "/api/v1/orgs/{org}/webhooks/{id}/test",
            webhooks::test,
        ),
        route(
            Get,
            "/api/v1/orgs/{org}/webhooks/{id}/deliveries",
            webhooks::deliveries,
        ),
        route(
            Post,
            "/api/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/redeliver",
            webhooks::redeliver,
        ),
        route(
            Post,
            "/api/v1/cards/{card}/share-links",
            share_links::create,
        ),
        route(Get, "/api/v1/orgs/{org}/share-links", share_links::list),
        route(Get, "/api/v1/job", job::job),
        route(Delete, "/api/v1/share-links/{id}", share_links::revoke),
        route(Get, "/api/v1/boards/{board}", live::snapshot),
        route(Get, "/api/v1/boards/{board}/cards", cards::search),
        route(Post, "/api/v1/boards/{board}/ops", live::apply_op),
        route(Get, "/api/v1/boards/{board}/events", live::events),
        route(
            Post,
            "/api/v1/boards/{board}/debug/panic",
            live::debug_panic,
        ),
        route(
            Post,
            "/api/v1/debug/sessions/panic",
            live::debug_session_panic,
        ),
        route(Get, "/api/v1/notifications", live::notifications),
        route(Post, "/api/v1/notifications/read", live::mark_read),
        route(
            Get,
            "/api/v1/orgs/{org}/me/notification-preferences",
            notification_prefs::get,
        ),
        route(
            Put,
            "/api/v1/orgs/{org}/me/notification-preferences",
            notification_prefs::put,
        ),
        route(Get, "/api/v1/stream", stream::stream),
        route(Get, "/api/v1/openapi.json", openapi::spec),
        route(Get, "/api/v1/docs", openapi::docs),
        route(Get, "/healthz", healthz),
        route(Get, "/readyz", readyz),
        route(Get, "/metrics", metrics_text),
        route(Get, "/ws", crate::realtime::gateway::upgrade),
    ]
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes;
    // Test-only doors (`/debug/...`): absent unless configured, which `serve` allows in dev
    // mode only; the table and the spec still list them (the spec says "else 404").
    let debug = state.config.realtime.debug_endpoints;
    let mut api = Router::new();
    let mut root = Router::new();
    for r in routes() {
        if r.path.contains("/debug/") && !debug {
            continue;
        }
        match r.path.strip_prefix(API_PREFIX) {
            Some(rest) => api = api.route(rest, r.handler),
            None => root = root.route(r.path, r.handler),
        }
    }

    root.nest(API_PREFIX, api)
        .fallback(web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Alive. `demo` says whether this server seeds the demo organization (dev mode), so that the
/// sign-in page offers the demo accounts only where they exist.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let demo = state.config.dev_mode() && state.config.demo_seed;
    Json(json!({ "status": "ok", "demo": demo }))
}

/// Ready when the store answers and, in a cluster, Redis too (a node that cannot reach Redis
/// can neither take boards nor reach other nodes).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let redis_up = match &state.rt.node {
        Some(n) => Some(n.redis_up().await),
        None => None,
    };
    let unready = |msg: &str| {
        let mut err = ApiError::new(ErrorCode::Unavailable, msg);
        err.retry_after = Some(std::time::Duration::from_secs(1));
        err.into_response()
    };
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return unready("the store is unreachable");
    }
    if redis_up == Some(false) {
        return unready("Redis is unreachable");
    }
    let mut body = json!({ "status": "ready", "store": state.store.backend() });
    // What an ack promises on the embedded store: `full` survives power loss, `normal` only a
    // crash of the process.
    if let Ok(Some(sync)) = state.store.sqlite_synchronous().await {
        body["sqlite_synchronous"] = json!(sync);
    }
    if let Some(n) = &state.rt.node {
        body["node_id"] = json!(&*n.id);
        body["redis"] = json!("up");
    }
    (StatusCode::OK, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!(crate::metrics::JOURNAL_DEPTH).set(state.rt.journal.depth() as f64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
}

async fn method_not_allowed() -> impl IntoResponse {
    let mut res =
        ApiError::new(ErrorCode::BadRequest, "method not allowed on this endpoint").into_response();
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res
}
