//! Names of the metrics the actors record. The server installs the Prometheus recorder and
//! re-exports these so that dashboards have one list to look at.

pub const SUBSCRIPTIONS: &str = "boardroom_subscriptions";
pub const OPS: &str = "boardroom_ops_total";
pub const OPS_REJECTED: &str = "boardroom_ops_rejected_total";
pub const DELIVERIES: &str = "boardroom_deliveries_total";
pub const SEND_QUEUE_DROPS: &str = "boardroom_send_queue_drops_total";
pub const ACTOR_RESTARTS: &str = "boardroom_actor_restarts_total";
pub const BOARDS_ACTIVE: &str = "boardroom_boards_active";
pub const OPS_REFUSED_OVERLOAD: &str = "boardroom_ops_refused_overload_total";
