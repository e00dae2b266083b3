//! The registry of live sessions (sockets and SSE streams) by credential, which closes them
//! when their credential is revoked. (Turning a token into a session's principal is
//! `crate::auth::session`'s.)

use crate::auth::revocation::RevokedFamilies;
use crate::auth::session::SessionAuth;
use boardroom_actors::live::conn::{ConnHandle, ConnId};
use boardroom_protocol::close;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Live sessions by credential (user id, refresh family, API key id, share link id), so that
/// revoking a credential can close its sessions with 4003.
pub struct Sessions {
    /// Live sessions per revocation key, by connection id: thousands of connections can share
    /// one key (an API key, a share link), and each must leave in O(1).
    by_key: DashMap<Uuid, HashMap<ConnId, Arc<ConnHandle>>>,
    /// Revoked logins, so that the access tokens they issued are refused on new requests and
    /// sockets too. Fed by every revocation, this node's and (through `Rt::on_control`) the
    /// cluster's.
    pub revoked_families: Arc<RevokedFamilies>,
}

impl Sessions {
    /// `revoked` is shared with the credential checks, which refuse what it records.
    pub fn new(revoked: Arc<RevokedFamilies>) -> Self {
        Sessions {
            by_key: DashMap::new(),
            revoked_families: revoked,
        }
    }

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
        self.each_of(key, |c| c.fail_on_next_frame())
    }

    /// Runs `f` on every live session of `key` (a copy of the list: `f` may make them leave);
    /// returns how many.
    fn each_of(&self, key: Uuid, f: impl Fn(&ConnHandle)) -> usize {
        let conns: Vec<Arc<ConnHandle>> = self
            .by_key
            .get(&key)
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default();
        conns.iter().for_each(|c| f(c));
        conns.len()
    }

    /// Closes every live session that authenticated with `key`; returns how many. When `key`
    /// is a login (refresh-token family), its access tokens are refused from now on.
    pub fn revoke(&self, key: Uuid) -> usize {
        // Any revoked key is recorded: an id of another kind (user, API key, share link) is
        // never a family, so it only takes a cache slot until pruned.
        self.revoked_families.revoke(key);
        self.each_of(key, |c| c.close(close::CREDENTIALS_REVOKED))
    }
}
