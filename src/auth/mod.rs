//! Credentials: passwords, access JWTs, opaque secrets (refresh tokens, API keys, share
//! tokens) and login throttling. Turning a credential into a `Principal` happens in
//! `http::extract`, which knows about the store.

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod secrets;
