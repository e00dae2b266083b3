//! Who is online in each organization (the `org:<id>` topic): users merged over their
//! connections, so a user joins with their first connection and leaves with their last.
//!
//! In a cluster the same user may be connected to several nodes: a [`SharedOnline`] (Redis)
//! records who is online where, so that a join or leave is announced only when it is the
//! user's first or last connection in the whole cluster, and a subscriber sees everyone online
//! whichever node it is on.

use super::broker::Broker;
use super::conn::ConnId;
use async_trait::async_trait;
use boardroom_protocol::{
    PresenceEntry, PresenceFrame, PresenceMap, PresenceState, ServerFrame, Topic,
};
use dashmap::DashMap;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// Who is online on every node. Errors are not reported: when the shared record cannot be
/// reached, a node announces what it sees itself.
#[async_trait]
pub trait SharedOnline: Send + Sync + 'static {
    /// Records `user` as online on this node; true when no other node has them.
    async fn add(&self, org_id: Uuid, user: Uuid, name: &str) -> bool;
    /// Removes this node's record of `user`; true when no other node has them.
    async fn remove(&self, org_id: Uuid, user: Uuid) -> bool;
    /// Everyone online in the org, on any node (`None`: unknown right now).
    async fn list(&self, org_id: Uuid) -> Option<PresenceMap>;
}

#[derive(Default)]
pub struct Online {
    orgs: DashMap<Uuid, HashMap<Uuid, (String, HashSet<ConnId>)>>,
    shared: OnceLock<Arc<dyn SharedOnline>>,
}

fn entry(name: &str) -> PresenceEntry {
    PresenceEntry {
        name: name.to_string(),
        state: PresenceState::default(),
    }
}

fn announce(broker: &dyn Broker, org_id: Uuid, joins: PresenceMap, leaves: PresenceMap) {
    broker.publish_frame(
        Topic::Org(org_id),
        ServerFrame::Presence(PresenceFrame {
            topic: Topic::Org(org_id),
            joins,
            leaves,
        }),
    );
}

impl Online {
    /// Installs the cluster's shared record (once).
    pub fn share(&self, shared: Arc<dyn SharedOnline>) {
        let _ = self.shared.set(shared);
    }

    pub fn join(
        &self,
        broker: &Arc<dyn Broker>,
        org_id: Uuid,
        user: Uuid,
        name: &str,
        conn: ConnId,
    ) {
        let first = {
            let mut org = self.orgs.entry(org_id).or_default();
            let entry = org
                .entry(user)
                .or_insert_with(|| (name.to_string(), HashSet::new()));
            entry.1.insert(conn);
            entry.1.len() == 1
        };
        if !first {
            return;
        }
        let joins = PresenceMap::from([(user, entry(name))]);
        match self.shared.get().cloned() {
            None => announce(&**broker, org_id, joins, PresenceMap::new()),
            Some(shared) => {
                let broker = broker.clone();
                let name = name.to_string();
                tokio::spawn(async move {
                    if shared.add(org_id, user, &name).await {
                        announce(&*broker, org_id, joins, PresenceMap::new());
                    }
                });
            }
        }
    }

    pub fn leave(&self, broker: &Arc<dyn Broker>, org_id: Uuid, user: Uuid, conn: ConnId) {
        let gone = {
            let Some(mut org) = self.orgs.get_mut(&org_id) else {
                return;
            };
            let Some(entry) = org.get_mut(&user) else {
                return;
            };
            entry.1.remove(&conn);
            if entry.1.is_empty() {
                org.remove(&user).map(|(name, _)| name)
            } else {
                None
            }
        };
        self.orgs.remove_if(&org_id, |_, m| m.is_empty());
        let Some(name) = gone else {
            return;
        };
        let leaves = PresenceMap::from([(user, entry(&name))]);
        match self.shared.get().cloned() {
            None => announce(&**broker, org_id, PresenceMap::new(), leaves),
            Some(shared) => {
                let broker = broker.clone();
                tokio::spawn(async move {
                    if shared.remove(org_id, user).await {
                        announce(&*broker, org_id, PresenceMap::new(), leaves);
                    }
                });
            }
        }
    }

    /// Everyone online in the org: on every node in a cluster, else on this one.
    pub async fn snapshot(&self, org_id: Uuid) -> PresenceMap {
        let mut map: PresenceMap = self
            .orgs
            .get(&org_id)
            .map(|m| m.iter().map(|(u, (name, _))| (*u, entry(name))).collect())
            .unwrap_or_default();
        if let Some(shared) = self.shared.get() {
            if let Some(all) = shared.list(org_id).await {
                map.extend(all);
            }
        }
        map
    }
}
