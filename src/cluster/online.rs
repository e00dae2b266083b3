//! Who is online across the cluster, for the `org:` topics: one Redis hash per org whose
//! fields are `<user>:<node>` (value: the user's name). A user is announced when their first
//! field appears and leaves with their last; a dead node's fields are swept by the heartbeat.

use async_trait::async_trait;
use boardroom_actors::live::online::SharedOnline;
use boardroom_actors::live::Broker;
use boardroom_protocol::{
    PresenceEntry, PresenceFrame, PresenceMap, PresenceState, ServerFrame, Topic,
};
use redis::aio::ConnectionManager;
use redis::Script;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use uuid::Uuid;

/// KEYS: org hash. ARGV: user, node, name (empty name: remove). The user's fields left.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local field = ARGV[1] .. ':' .. ARGV[2]
        if ARGV[3] == '' then
            redis.call('HDEL', KEYS[1], field)
        else
            redis.call('HSET', KEYS[1], field, ARGV[3])
        end
        local n = 0
        local p = ARGV[1] .. ':'
        for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
            if string.sub(f, 1, #p) == p then n = n + 1 end
        end
        return n",
    )
});

pub struct RedisOnline {
    node: Arc<str>,
    prefix: String,
    cmd: ConnectionManager,
}

const DEADLINE: Duration = Duration::from_millis(1000);

impl RedisOnline {
    pub fn new(node: Arc<str>, prefix: String, cmd: ConnectionManager) -> Arc<RedisOnline> {
        Arc::new(RedisOnline { node, prefix, cmd })
    }

    fn key(&self, org_id: Uuid) -> String {
        format!("{}online:{org_id}", self.prefix)
    }

    async fn touch(&self, org_id: Uuid, user: Uuid, name: &str) -> Option<i64> {
        let mut cmd = self.cmd.clone();
        let mut inv = TOUCH.key(self.key(org_id));
        inv.arg(user.to_string()).arg(&*self.node).arg(name);
        tokio::time::timeout(DEADLINE, inv.invoke_async::<i64>(&mut cmd))
            .await
            .ok()?
            .ok()
    }

    /// Removes a dead node's entries everywhere and announces the users it was the last
    /// node of.
    pub async fn sweep(&self, node: &str, broker: &dyn Broker) {
        let mut cmd = self.cmd.clone();
        let pattern = format!("{}online:*", self.prefix);
        let keys: Vec<String> = match redis::cmd("KEYS").arg(&pattern).query_async(&mut cmd).await {
            Ok(k) => k,
            Err(_) => return,
        };
        let suffix = format!(":{node}");
        for key in keys {
            let Some(org_id) = key.rsplit(':').next().and_then(|o| o.parse::<Uuid>().ok()) else {
                continue;
            };
            let fields: HashMap<String, String> =
                match redis::cmd("HGETALL").arg(&key).query_async(&mut cmd).await {
                    Ok(f) => f,
                    Err(_) => continue,
                };
            let mut leaves = PresenceMap::new();
            for (field, name) in &fields {
                let Some(user) = field.strip_suffix(&suffix) else {
                    continue;
                };
                let _: redis::RedisResult<i64> = redis::cmd("HDEL")
                    .arg(&key)
                    .arg(field)
                    .query_async(&mut cmd)
                    .await;
                let elsewhere = fields
                    .keys()
                    .any(|f| f != field && f.starts_with(&format!("{user}:")));
                if let (false, Ok(user)) = (elsewhere, user.parse::<Uuid>()) {
                    leaves.insert(
                        user,
                        PresenceEntry {
                            name: name.clone(),
                            state: PresenceState::default(),
                        },
                    );
                }
            }
            if !leaves.is_empty() {
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
    }
}

#[async_trait]
impl SharedOnline for RedisOnline {
    async fn add(&self, org_id: Uuid, user: Uuid, name: &str) -> bool {
        // A name is never empty here (it is a user's name), but an empty value means "remove".
        let name = if name.is_empty() { "?" } else { name };
        self.touch(org_id, user, name).await.is_none_or(|n| n <= 1)
    }

    async fn remove(&self, org_id: Uuid, user: Uuid) -> bool {
        self.touch(org_id, user, "").await.is_none_or(|n| n == 0)
    }

    async fn list(&self, org_id: Uuid) -> Option<PresenceMap> {
        let mut cmd = self.cmd.clone();
        let mut c = redis::cmd("HGETALL");
        c.arg(self.key(org_id));
        let call = c.query_async::<HashMap<String, String>>(&mut cmd);
        let fields = tokio::time::timeout(DEADLINE, call).await.ok()?.ok()?;
        Some(
            fields
                .into_iter()
                .filter_map(|(field, name)| {
                    let user = field.split(':').next()?.parse::<Uuid>().ok()?;
                    Some((
                        user,
                        PresenceEntry {
                            name,
                            state: PresenceState::default(),
                        },
                    ))
                })
                .collect(),
        )
    }
}
