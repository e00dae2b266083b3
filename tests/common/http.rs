//! A small JSON client for the server's HTTP API, and logging in.

use super::*;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

/// `POST /api/v1/auth/login`; panics unless it answers 200 with both tokens.
pub async fn login(base: &str, email: &str, password: &str) -> Tokens {
    let (s, body) = Api::new(base).login_attempt(email, password).await.pair();
    assert_eq!(s, 200, "login of {email} failed: {body}");
    Tokens {
        access: text_of(&body, "access_token"),
        refresh: text_of(&body, "refresh_token"),
        body,
    }
}

/// A whole response: status, headers and the body as JSON (`Null` when empty, a JSON string
/// holding the text when it is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn pair(self) -> (u16, Value) {
        (self.status, self.body)
    }
}

/// A JSON client for one server, optionally sending `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Self::built(base, reqwest::Client::builder())
    }

    /// A client whose connections come from `local` (any 127.x.y.z reaches a server on
    /// 127.0.0.1), so a test can be several client addresses.
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Api {
        Self::built(base, reqwest::Client::builder().local_address(local))
    }

    fn built(base: &str, client: reqwest::ClientBuilder) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: None,
            client: client
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn without_token(&self) -> Api {
        Api {
            token: None,
            ..self.clone()
        }
    }

    /// Any request; `body` is sent as JSON when given.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::finish(req).await
    }

    /// A request with a raw body (for malformed JSON and oversized bodies).
    pub async fn send_raw(&self, method: &str, path: &str, body: Vec<u8>) -> Resp {
        let req = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        Self::finish(req).await
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("http method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    async fn finish(req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("HTTP request failed");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("read HTTP body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await.pair()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await.pair()
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PATCH", path, Some(body)).await.pair()
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PUT", path, Some(body)).await.pair()
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await.pair()
    }

    /// `POST /api/v1/auth/login` with `email` and `password`: the answer, whatever it is.
    pub async fn login_attempt(&self, email: &str, password: &str) -> Resp {
        let body = json!({ "email": email, "password": password });
        self.send("POST", "/api/v1/auth/login", Some(body)).await
    }

    /// `POST /api/v1/auth/refresh` with `refresh_token`: status and body, whatever they are.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let body = json!({ "refresh_token": refresh_token });
        self.post("/api/v1/auth/refresh", body).await
    }

    /// `POST /api/v1/auth/logout` spending `refresh_token`, as this client's user (if any).
    pub async fn logout(&self, refresh_token: &str) -> (u16, Value) {
        let body = json!({ "refresh_token": refresh_token });
        self.post("/api/v1/auth/logout", body).await
    }
}
