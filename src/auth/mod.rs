//! Credentials: passwords, access JWTs, opaque secrets (refresh tokens, API keys, share
//! tokens), the generated signing secret, revoked logins, login throttling and the
//! per-credential budgets. `session` turns a credential into a `Principal` and finds the
//! client's address behind trusted proxies.

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod revocation;
pub mod secrets;
pub mod session;
pub mod signing_key;
