//! Who is online in each organization (the `org:<id>` topic): users merged over their
//! connections, so a user joins with their first connection and leaves with their last.

use super::broker::Broker;
use super::conn::ConnId;
use boardroom_protocol::{
    PresenceEntry, PresenceFrame, PresenceMap, PresenceState, ServerFrame, Topic,
};
use dashmap::DashMap;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

#[derive(Default)]
pub struct Online {
    orgs: DashMap<Uuid, HashMap<Uuid, (String, HashSet<ConnId>)>>,
}

impl Online {
    pub fn join(&self, broker: &dyn Broker, org_id: Uuid, user: Uuid, name: &str, conn: ConnId) {
        let first = {
            let mut org = self.orgs.entry(org_id).or_default();
            let entry = org
                .entry(user)
                .or_insert_with(|| (name.to_string(), HashSet::new()));
            entry.1.insert(conn);
            entry.1.len() == 1
        };
        if first {
            let mut joins = PresenceMap::new();
            joins.insert(
                user,
                PresenceEntry {
                    name: name.to_string(),
                    state: PresenceState::default(),
                },
            );
            broker.publish_frame(
                Topic::Org(org_id),
                ServerFrame::Presence(PresenceFrame {
                    topic: Topic::Org(org_id),
                    joins,
                    leaves: PresenceMap::new(),
                }),
            );
        }
    }

    pub fn leave(&self, broker: &dyn Broker, org_id: Uuid, user: Uuid, conn: ConnId) {
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
        if let Some(name) = gone {
            let mut leaves = PresenceMap::new();
            leaves.insert(
                user,
                PresenceEntry {
                    name,
                    state: PresenceState::default(),
                },
            );
            broker.publish_frame(
                Topic::Org(org_id),
                ServerFrame::Presence(PresenceFrame {
                    topic: Topic::Org(org_id),
                    joins: PresenceMap::new(),
                    leaves,
                }),
            );
        }
    }

    pub fn snapshot(&self, org_id: Uuid) -> PresenceMap {
        self.orgs
            .get(&org_id)
            .map(|m| {
                m.iter()
                    .map(|(u, (name, _))| {
                        (
                            *u,
                            PresenceEntry {
                                name: name.clone(),
                                state: PresenceState::default(),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
