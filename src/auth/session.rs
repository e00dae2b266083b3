//! Who is calling: any credential (access JWT, API key or share token) turned into a `Caller`
//! or a session's `SessionAuth`, and either into a policy `Principal` of one organization; and
//! the client's address behind trusted proxies (`ClientIp`).
//! `Credentials` holds only what the checks need (the store, the signing keys, the revoked
//! logins and the budgets), not the whole server, so the command layer and every transport
//! (HTTP, WebSocket, SSE) authenticate one way without depending on each other.

use crate::auth::jwt::{Claims, JwtKeys};
use crate::auth::ratelimit::Budgets;
use crate::auth::revocation::RevokedFamilies;
use crate::auth::secrets;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::store::{ApiKey, DynStore};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use boardroom_actors::policy::Principal;
use boardroom_protocol::{ErrorCode, PrincipalInfo, PrincipalKind, Role};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Who presented which credential, before we know which org they are acting in.
#[derive(Debug, Clone)]
pub enum Caller {
    User { user_id: Uuid },
    ApiKey(ApiKey),
}

/// A credential a session (socket or stream) may hold: what HTTP accepts, or a share link.
#[derive(Clone, Debug)]
pub enum Credential {
    Caller(Caller),
    Share,
}

/// The credential checks and what they need. Cheap to clone (all shared).
#[derive(Clone)]
pub struct Credentials {
    store: DynStore,
    jwt: JwtKeys,
    /// Shared with the live-session registry, which records every revocation in it.
    revoked: Arc<RevokedFamilies>,
    revocation_check: Duration,
    /// Per-credential budgets (ops, an API key's requests), whatever transport spends them.
    pub budgets: Arc<Budgets>,
}

impl Credentials {
    pub fn new(
        store: DynStore,
        jwt: JwtKeys,
        revoked: Arc<RevokedFamilies>,
        revocation_check: Duration,
        budgets: Arc<Budgets>,
    ) -> Self {
        Credentials {
            store,
            jwt,
            revoked,
            revocation_check,
            budgets,
        }
    }

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
        let revoked = match self.revoked.lookup(family, self.revocation_check) {
            Some(r) => r,
            None => {
                let r = self.store.refresh_family_revoked(family).await?;
                self.revoked.record(family, r);
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

    /// The name events and presence show for this caller: the key's, or the user's.
    pub async fn name_of(&self, caller: &Caller) -> ApiResult<String> {
        Ok(match caller {
            Caller::ApiKey(k) => k.name.clone(),
            Caller::User { user_id } => self
                .store
                .get_user(*user_id)
                .await?
                .map(|u| u.name)
                .unwrap_or_default(),
        })
    }

    /// The token of a `hello` (or of an SSE stream, or the job page): access JWT, API key or
    /// share token, as a session's principal in its home organization.
    pub async fn session(&self, token: &str) -> ApiResult<SessionAuth> {
        let unavailable = |e: crate::store::StoreError| {
            tracing::warn!(error = %e, "authentication lookup failed");
            ApiError::new(ErrorCode::Unavailable, "the database is unavailable; retry")
        };
        if token.starts_with(secrets::SHARE_TOKEN_PREFIX) {
            let link = self
                .store
                .find_share_link(&secrets::digest(token))
                .await
                .map_err(unavailable)?
                .ok_or_else(|| ApiError::unauthorized("unknown share link"))?;
            if link.revoked_at.is_some() {
                return Err(ApiError::unauthorized("this share link has been revoked"));
            }
            if link.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
                return Err(ApiError::unauthorized("this share link has expired"));
            }
            let principal = Principal {
                kind: PrincipalKind::Share,
                id: link.id,
                org_id: link.org_id,
                role: Role::Customer,
                board_scope: Some(vec![link.board_id]),
                share_card: Some(link.card_id),
                customer_id: None,
            };
            let info = PrincipalInfo {
                kind: PrincipalKind::Share,
                id: link.id,
                org_id: link.org_id,
                role: Role::Customer,
                name: "Shared link".into(),
            };
            return Ok(SessionAuth {
                credential: Credential::Share,
                principal,
                info,
                expires_at: None,
                revocation_keys: vec![link.id],
            });
        }
        let (caller, claims) = self.authenticate_with_claims(token).await?;
        match &caller {
            Caller::ApiKey(key) => {
                let principal = self.principal_in(&caller, key.org_id).await?;
                let info = PrincipalInfo {
                    kind: PrincipalKind::ApiKey,
                    id: key.id,
                    org_id: key.org_id,
                    role: key.role,
                    name: key.name.clone(),
                };
                // An expiring key's sockets end when it expires (4003), not at the next frame.
                let expires_at = key.expires_at.map(|at| {
                    let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                    Instant::now() + left
                });
                let revocation_keys = vec![key.id];
                Ok(SessionAuth {
                    credential: Credential::Caller(caller),
                    principal,
                    info,
                    expires_at,
                    revocation_keys,
                })
            }
            Caller::User { user_id } => {
                let claims =
                    claims.ok_or_else(|| ApiError::unauthorized("invalid access token"))?;
                let user = self
                    .store
                    .get_user(*user_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
                let home = self
                    .store
                    .memberships_of(*user_id)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| ApiError::unauthorized("this account has been deactivated"))?;
                let principal = self.principal_in(&caller, home.org_id).await?;
                let left = (claims.exp - chrono::Utc::now().timestamp()).max(0) as u64;
                let info = PrincipalInfo {
                    kind: PrincipalKind::User,
                    id: user.id,
                    org_id: home.org_id,
                    role: home.role,
                    name: user.name,
                };
                let mut revocation_keys = vec![user.id];
                if let Some(f) = claims.fam {
                    revocation_keys.push(f);
                }
                Ok(SessionAuth {
                    credential: Credential::Caller(caller),
                    principal,
                    info,
                    expires_at: Some(Instant::now() + Duration::from_secs(left)),
                    revocation_keys,
                })
            }
        }
    }
}

/// A session's identity: its credential, and its principal in its home organization (the
/// first membership of a user; a key's or link's own org).
pub struct SessionAuth {
    pub credential: Credential,
    pub principal: Principal,
    pub info: PrincipalInfo,
    /// When the credential runs out: an access token (renew with `auth` before then) or an
    /// API key with an expiry (the session is closed with 4003 then).
    pub expires_at: Option<Instant>,
    /// The keys under which revocation finds this session.
    pub revocation_keys: Vec<Uuid>,
}

impl SessionAuth {
    pub fn is_api_key(&self) -> bool {
        matches!(self.credential, Credential::Caller(Caller::ApiKey(_)))
    }

    /// The session's principal in `org_id`: its home principal there (no lookup), another
    /// org's membership for a user or key, and `not_found` for a share link elsewhere.
    pub async fn principal_in(&self, creds: &Credentials, org_id: Uuid) -> ApiResult<Principal> {
        if self.principal.org_id == org_id {
            return Ok(self.principal.clone());
        }
        match &self.credential {
            Credential::Caller(c) => creds.principal_in(c, org_id).await,
            Credential::Share => Err(ApiError::new(ErrorCode::NotFound, "not found")),
        }
    }
}

/// The token of an `Authorization: Bearer` header: `None` without the header, `unauthorized`
/// when it is there but says something else. Every transport reads the header this way.
pub fn bearer(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(|t| Some(t.trim()))
        .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))
}

impl<S> FromRequestParts<S> for Caller
where
    Credentials: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer header"))?;
        let creds = Credentials::from_ref(state);
        let caller = creds.authenticate(token).await?;
        // A key's budget counts every request it makes (ops also spend the op budget).
        if let Caller::ApiKey(key) = &caller {
            creds.budgets.key_request(key.id)?;
        }
        Ok(caller)
    }
}

/// The address a request came from, for per-IP limits. The TCP peer, unless the peer is one of
/// `trusted_proxies`: then the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy (proxies append, so everything left of the last untrusted hop could be made up by
/// the client). With no trusted proxies the header is ignored: any client can write it.
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Arc<Config>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config = Arc::<Config>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(ApiError::internal)?;
        if config.trusted_proxies.is_empty() {
            return Ok(ClientIp(peer));
        }
        let trusted = config.trusted_proxy_nets();
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
