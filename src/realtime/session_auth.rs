//! Turning the token of a `hello` (access JWT, API key or share token) into a session's
//! principal, and the registry that closes live sessions when their credential is revoked.

use crate::app::AppState;
use crate::auth::revocation::RevokedFamilies;
use crate::auth::secrets;
use crate::auth::session::Caller;
use boardroom_actors::live::conn::{ConnHandle, ConnId};
use boardroom_actors::policy::Principal;
use boardroom_protocol::{close, ErrorCode, PrincipalInfo, PrincipalKind, Role};
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub enum WsCredential {
    Http(Caller),
    Share,
}

pub struct SessionAuth {
    pub credential: WsCredential,
    /// The principal in the session's home organization (the first membership of a user).
    pub principal: Principal,
    pub info: PrincipalInfo,
    /// When the credential runs out: an access token (renew with `auth` before then) or an
    /// API key with an expiry (the session is closed with 4003 then).
    pub expires_at: Option<Instant>,
    /// The keys under which revocation finds this session.
    pub revocation_keys: Vec<Uuid>,
}

pub struct AuthError {
    pub code: ErrorCode,
    pub message: String,
}

fn unauthorized(m: impl Into<String>) -> AuthError {
    AuthError {
        code: ErrorCode::Unauthorized,
        message: m.into(),
    }
}

impl SessionAuth {
    pub async fn authenticate(state: &AppState, token: &str) -> Result<SessionAuth, AuthError> {
        let internal = |e: crate::store::StoreError| {
            tracing::warn!(error = %e, "authentication lookup failed");
            AuthError {
                code: ErrorCode::Unavailable,
                message: "the database is unavailable; retry".into(),
            }
        };
        if token.starts_with(secrets::SHARE_TOKEN_PREFIX) {
            let link = state
                .store
                .find_share_link(&secrets::digest(token))
                .await
                .map_err(internal)?
                .ok_or_else(|| unauthorized("unknown share link"))?;
            if link.revoked_at.is_some() {
                return Err(unauthorized("this share link has been revoked"));
            }
            if link.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
                return Err(unauthorized("this share link has expired"));
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
                credential: WsCredential::Share,
                principal,
                info,
                expires_at: None,
                revocation_keys: vec![link.id],
            });
        }
        let (caller, claims) =
            state
                .authenticate_with_claims(token)
                .await
                .map_err(|e| AuthError {
                    code: e.code,
                    message: e.message,
                })?;
        match &caller {
            Caller::ApiKey(key) => {
                let principal =
                    state
                        .principal_in(&caller, key.org_id)
                        .await
                        .map_err(|e| AuthError {
                            code: e.code,
                            message: e.message,
                        })?;
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
                Ok(SessionAuth {
                    credential: WsCredential::Http(caller.clone()),
                    principal,
                    info,
                    expires_at,
                    revocation_keys: vec![key.id],
                })
            }
            Caller::User { user_id } => {
                let claims = claims.ok_or_else(|| unauthorized("invalid access token"))?;
                let user = state
                    .store
                    .get_user(*user_id)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| unauthorized("user no longer exists"))?;
                let home = state
                    .store
                    .memberships_of(*user_id)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| unauthorized("this account has been deactivated"))?;
                let principal = state
                    .principal_in(&caller, home.org_id)
                    .await
                    .map_err(|e| AuthError {
                        code: e.code,
                        message: e.message,
                    })?;
                let left = (claims.exp - chrono::Utc::now().timestamp()).max(0) as u64;
                let info = PrincipalInfo {
                    kind: PrincipalKind::User,
                    id: user.id,
                    org_id: home.org_id,
                    role: home.role,
                    name: user.name,
                };
                let mut keys = vec![user.id];
                if let Some(f) = claims.fam {
                    keys.push(f);
                }
                Ok(SessionAuth {
                    credential: WsCredential::Http(caller.clone()),
                    principal,
                    info,
                    expires_at: Some(Instant::now() + std::time::Duration::from_secs(left)),
                    revocation_keys: keys,
                })
            }
        }
    }
}

/// Live sessions by credential (user id, refresh family, API key id, share link id), so that
/// revoking a credential can close its sessions with 4003.
#[derive(Default)]
pub struct Sessions {
    /// Live sessions per revocation key, by connection id: thousands of connections can share
    /// one key (an API key, a share link), and each must leave in O(1).
    by_key: DashMap<Uuid, HashMap<ConnId, Arc<ConnHandle>>>,
    /// Revoked logins, so that the access tokens they issued are refused on new requests and
    /// sockets too. Fed by every revocation, this node's and (through `Rt::on_control`) the
    /// cluster's.
    pub revoked_families: RevokedFamilies,
}

impl Sessions {
    pub fn add(&self, auth: &SessionAuth, conn: Arc<ConnHandle>) {
        for k in &auth.revocation_keys {
            self.by_key
                .entry(*k)
                .or_default()
                .insert(conn.id, conn.clone());
        }
    }

    pub fn remove(&self, auth: &SessionAuth, conn: ConnId) {
        for k in &auth.revocation_keys {
            if let Some(mut v) = self.by_key.get_mut(k) {
                v.remove(&conn);
            }
            self.by_key.remove_if(k, |_, v| v.is_empty());
        }
    }

    /// Debug endpoint only: every live session that authenticated with `key` fails on its next
    /// frame; returns how many.
    pub fn fail_on_next_frame(&self, key: Uuid) -> usize {
        let conns: Vec<_> = self
            .by_key
            .get(&key)
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default();
        for c in &conns {
            c.fail_on_next_frame();
        }
        conns.len()
    }

    /// Closes every live session that authenticated with `key`; returns how many. When `key`
    /// is a login (refresh-token family), its access tokens are refused from now on.
    pub fn revoke(&self, key: Uuid) -> usize {
        // Any revoked key is recorded: an id of another kind (user, API key, share link) is
        // never a family, so it only takes a cache slot until pruned.
        self.revoked_families.revoke(key);
        let conns: Vec<_> = self
            .by_key
            .get(&key)
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default();
        for c in &conns {
            c.close(close::CREDENTIALS_REVOKED);
        }
        conns.len()
    }
}
