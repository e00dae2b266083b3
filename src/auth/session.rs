//! Who is calling: any credential (access JWT or API key; share tokens are the WebSocket's
//! `SessionAuth`) turned into a `Caller`, and a `Caller` into a policy `Principal` of one
//! organization; and the client's address behind trusted proxies. HTTP handlers take these as
//! extractors; the WebSocket gateway and SSE use the same functions, so every transport
//! authenticates one way.

use crate::app::AppState;
use crate::auth::jwt::Claims;
use crate::auth::ratelimit::CredentialKey;
use crate::auth::secrets;
use crate::error::{ApiError, ApiResult};
use crate::store::ApiKey;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use boardroom_actors::policy::Principal;
use boardroom_protocol::{ErrorCode, PrincipalKind, Role};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use uuid::Uuid;

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
        let caller = state.authenticate(token).await?;
        // A key's budget counts every request it makes (ops also spend the op budget).
        if let Caller::ApiKey(key) = &caller {
            state
                .key_limiter
                .check(CredentialKey::ApiKey(key.id))
                .map_err(|wait| {
                    ApiError::rate_limited_because(
                        wait,
                        "too many requests from this API key; slow down",
                    )
                })?;
        }
        Ok(caller)
    }
}

impl AppState {
    pub async fn authenticate(&self, token: &str) -> ApiResult<Caller> {
        self.authenticate_with_claims(token).await.map(|(c, _)| c)
    }

    /// The caller, and the claims when the token is an access JWT.
    pub async fn authenticate_with_claims(
        &self,
        token: &str,
    ) -> ApiResult<(Caller, Option<Claims>)> {
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
            return Ok((Caller::ApiKey(key), None));
        }
        let claims = self
            .jwt
            .verify(token)
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        if let Some(family) = claims.fam {
            self.check_login_not_revoked(family).await?;
        }
        Ok((
            Caller::User {
                user_id: claims.sub,
            },
            Some(claims),
        ))
    }

    /// An access token dies with its login: after logout or a detected refresh-token reuse
    /// its family is revoked, and the token is refused though its signature and expiry are
    /// fine. Cached (`auth.revocation_check_ms`) so that most requests do not ask the store.
    async fn check_login_not_revoked(&self, family: Uuid) -> ApiResult<()> {
        let known = &self.rt.sessions.revoked_families;
        let max_age = Duration::from_millis(self.config.auth.revocation_check_ms);
        let revoked = match known.lookup(family, max_age) {
            Some(r) => r,
            None => {
                let r = self.store.refresh_family_revoked(family).await?;
                known.record(family, r);
                r
            }
        };
        if revoked {
            return Err(ApiError::unauthorized(
                "this login has ended (logged out or revoked); log in again",
            ));
        }
        Ok(())
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

/// The address a request came from, for per-IP limits. The TCP peer, unless the peer is one of
/// `trusted_proxies`: then the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy (proxies append, so everything left of the last untrusted hop could be made up by
/// the client). With no trusted proxies the header is ignored: any client can write it.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(ApiError::internal)?;
        if state.config.trusted_proxies.is_empty() {
            return Ok(ClientIp(peer));
        }
        let trusted = state.config.trusted_proxy_nets();
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(peer, forwarded, &trusted)))
    }
}

/// Walks from the peer back along `X-Forwarded-For` (right to left) while the hop is a trusted
/// proxy; the first untrusted hop is the client. A malformed entry ends the walk at the last
/// hop that could be believed.
fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let nets: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a proxy: the header is the client's own words.
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &nets),
            ip("203.0.113.9")
        );
        // From a proxy: the last hop it saw.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.2.3.4, 198.51.100.7"].into_iter(), &nets),
            ip("198.51.100.7")
        );
        // Through two proxies, and split over two headers.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                ["198.51.100.7", "10.0.0.3"].into_iter(),
                &nets
            ),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last believable hop.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["nonsense"].into_iter(), &nets),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), std::iter::empty(), &nets),
            ip("10.0.0.2")
        );
    }
}
