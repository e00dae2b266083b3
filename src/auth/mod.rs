//! Credentials: passwords, access JWTs, opaque secrets (refresh tokens, API keys, share
//! tokens), the generated signing secret, revoked logins and login throttling. Turning a
//! credential into a `Principal` happens in `http::extract`, which knows about the store.

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod revocation;
pub mod secrets;
pub mod session;
pub mod signing_key;
