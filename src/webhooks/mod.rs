//! Outbound webhooks: the dispatcher that turns committed board events into signed HTTP POSTs.
//!
//! **Outbox.** The committed `board_events` table is the outbox: an event is there exactly
//! when the change it reports is (the write-behind commits both in one transaction). Each pass
//! reads, per active webhook, the boards whose `last_seq` is past the webhook's cursor for
//! them, and stores one delivery per wanted event together with the cursor's advance, in one
//! transaction. A kill -9 at any point either leaves the cursor (the events are read again;
//! the unique (webhook, board, seq) key keeps their deliveries single) or has both. Only
//! committed events are read, so nothing is invented.
//!
//! **Order.** Per (webhook, board), only the oldest pending delivery is ever due: a failing
//! event holds back the later events of that board for that endpoint until it is delivered or
//! given up (`failed` after `max_attempts`; then the next one goes). Other boards and other
//! endpoints are not held up.
//!
//! **At least once, with an id.** A delivery can be sent twice (a kill between the send and the
//! recording of its answer, a lease lost mid-send): it carries the same
//! `X-Boardroom-Delivery` id each time, by which receivers drop repeats.
//!
//! **Cluster.** One node sends at a time: the one holding the `webhook_lease` row in the shared
//! database (taken when free or expired, renewed every poll, lost `lease_ms` after its holder
//! stops renewing). So each event is delivered once by one node, whichever node owns the
//! board's actor; a node that loses the lease mid-pass may send what it already picked once
//! more, which the delivery id covers.

pub mod guard;
pub mod sign;

use crate::config::Config;
use crate::store::{
    new_delivery_id, AttemptOutcome, DeliveryStatus, DueDelivery, DynStore, EventRecord,
    NewDelivery, StoreResult, Webhook,
};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The event type of test deliveries (`POST .../webhooks/{id}/test`).
pub const TEST_EVENT: &str = "webhook.test";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The JSON body of a delivery of a board event (PROTOCOL.md, "Webhooks").
pub fn event_payload(delivery_id: uuid::Uuid, e: &EventRecord) -> String {
    json!({
        "id": delivery_id,
        "type": e.kind,
        "org_id": e.org_id,
        "board_id": e.board_id,
        "seq": e.seq,
        "op_id": e.op_id,
        "at": e.at,
        "actor": e.actor,
        "data": e.data,
    })
    .to_string()
}

/// A test delivery for `webhook`.
pub fn test_delivery(webhook: &Webhook) -> NewDelivery {
    let id = new_delivery_id();
    NewDelivery {
        id,
        board_id: None,
        seq: None,
        event_type: TEST_EVENT.into(),
        payload: json!({
            "id": id,
            "type": TEST_EVENT,
            "org_id": webhook.org_id,
            "webhook_id": webhook.id,
            "at": chrono::Utc::now(),
            "data": {"message": "This is a test event from Boardroom."},
        })
        .to_string(),
    }
}

/// Whether `webhook` wants events of `kind` on `board`.
fn wants(webhook: &Webhook, board: uuid::Uuid, kind: &str) -> bool {
    webhook.boards.as_ref().is_none_or(|bs| bs.contains(&board))
        && webhook
            .event_types
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|t| t == kind || t == "*"))
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones: exponential from
/// `retry_base_ms`, capped at `retry_max_ms`, plus up to 25 % jitter (never less than the
/// schedule, so the documented total span holds).
pub fn backoff_ms(cfg: &crate::config::Webhooks, attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(40);
    let base = cfg
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(cfg.retry_max_ms);
    let jitter = rand::thread_rng().gen_range(0.0..0.25);
    (base as f64 * (1.0 + jitter)) as i64
}

/// Starts the dispatcher; it stops when `shutdown` turns true.
pub fn spawn(store: DynStore, config: Arc<Config>, mut shutdown: watch::Receiver<bool>) {
    let allow_private = config.webhooks_allow_private();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(config.webhooks.timeout_ms))
        .user_agent(concat!("Boardroom-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(guard::PublicOnlyResolver));
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are off");
            return;
        }
    };
    let d = Dispatcher {
        store,
        holder: format!("{}-{}", config.node_id(), uuid::Uuid::now_v7().simple()),
        config,
        client,
        allow_private,
        pruned: std::sync::Mutex::new(None),
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(d.config.webhooks.poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = d.pass().await {
                tracing::warn!(error = %e, "webhook dispatch pass failed; retrying next poll");
            }
        }
    });
}

struct Dispatcher {
    store: DynStore,
    config: Arc<Config>,
    client: reqwest::Client,
    /// This process's name on the lease (a restarted node is a new holder).
    holder: String,
    allow_private: bool,
    /// When the delivery log was last pruned (hourly, by the lease holder).
    pruned: std::sync::Mutex<Option<Instant>>,
}

impl Dispatcher {
    async fn pass(&self) -> StoreResult<()> {
        let cfg = &self.config.webhooks;
        let start = Instant::now();
        // Only active endpoints are ever sent to: with none, there is nothing to do and no
        // reason to write the lease (an idle server then only reads, once per poll).
        let hooks = self.store.webhooks().active_webhooks().await?;
        if hooks.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        if !self
            .store
            .webhooks()
            .claim_dispatch_lease(&self.holder, now, now + cfg.lease_ms as i64)
            .await?
        {
            return Ok(());
        }
        self.enqueue_new_events(hooks).await?;
        self.prune_log().await?;
        // Send until nothing is due; a delivered head makes the next event of its board due
        // at once. Stop well within the lease (renewed at the next pass).
        let budget = Duration::from_millis(cfg.lease_ms / 2);
        while start.elapsed() < budget {
            let due = self
                .store
                .webhooks()
                .due_deliveries(now_ms(), cfg.concurrency as i64)
                .await?;
            if due.is_empty() {
                break;
            }
            let mut set = tokio::task::JoinSet::new();
            for d in due {
                let client = self.client.clone();
                let store = self.store.clone();
                let config = self.config.clone();
                let allow_private = self.allow_private;
                set.spawn(async move {
                    let outcome = attempt(&client, &config, allow_private, &d).await;
                    store
                        .webhooks()
                        .record_attempt(d.delivery.id, &outcome)
                        .await
                });
            }
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => tracing::error!(error = %e, "webhook delivery task failed"),
                }
            }
        }
        Ok(())
    }

    /// At most hourly: the delivery log keeps `log_retention_days`.
    async fn prune_log(&self) -> StoreResult<()> {
        let due = {
            let mut last = self.pruned.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() > Duration::from_secs(3600));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let days = self.config.webhooks.log_retention_days.min(36_500) as i64;
            let before = chrono::Utc::now() - chrono::Duration::days(days);
            let n = self.store.webhooks().prune_deliveries(before).await?;
            if n > 0 {
                tracing::info!(deleted = n, "webhook delivery log pruned");
            }
        }
        Ok(())
    }

    async fn enqueue_new_events(&self, hooks: Vec<Webhook>) -> StoreResult<()> {
        let batch = self.config.webhooks.batch as i64;
        for w in hooks {
            for b in self.store.webhooks().boards_behind(&w).await? {
                let events = self.store.events_after(b.board_id, b.cursor, batch).await?;
                let Some(last) = events.last().map(|e| e.seq) else {
                    continue;
                };
                let deliveries: Vec<NewDelivery> = events
                    .iter()
                    .filter(|e| wants(&w, e.board_id, &e.kind))
                    .map(|e| {
                        let id = new_delivery_id();
                        NewDelivery {
                            id,
                            board_id: Some(e.board_id),
                            seq: Some(e.seq),
                            event_type: e.kind.clone(),
                            payload: event_payload(id, e),
                        }
                    })
                    .collect();
                self.store
                    .webhooks()
                    .enqueue(&w, Some(b.board_id), Some(last), &deliveries, now_ms())
                    .await?;
            }
        }
        Ok(())
    }
}

/// Sends one delivery and says what became of it.
async fn attempt(
    client: &reqwest::Client,
    config: &Config,
    allow_private: bool,
    due: &DueDelivery,
) -> AttemptOutcome {
    let cfg = &config.webhooks;
    let d = &due.delivery;
    let started = Instant::now();
    let result = send(client, allow_private, due).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    let attempts = (d.attempts + 1).max(1) as u32;
    let (ok, code, error) = match result {
        Ok(code) => ((200..300).contains(&code), Some(code as i64), None),
        Err(e) => (false, None, Some(e)),
    };
    let status = if ok {
        DeliveryStatus::Delivered
    } else if attempts >= cfg.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    if !ok {
        tracing::info!(delivery = %d.id, webhook = %d.webhook_id, attempts, code, error = error.as_deref().unwrap_or(""), "webhook delivery failed");
    }
    AttemptOutcome {
        status,
        next_attempt_ms: if status == DeliveryStatus::Pending {
            now_ms() + backoff_ms(cfg, attempts)
        } else {
            d.next_attempt_ms
        },
        response_code: code,
        latency_ms,
        error,
        at: chrono::Utc::now(),
    }
}

/// The POST itself: the HTTP status, or why there was none.
async fn send(
    client: &reqwest::Client,
    allow_private: bool,
    due: &DueDelivery,
) -> Result<u16, String> {
    // Literal addresses never reach the resolver: check them here, every time.
    guard::check_literal(&due.url, allow_private).map_err(|e| e.to_string())?;
    let d = &due.delivery;
    let t = chrono::Utc::now().timestamp();
    let res = client
        .post(&due.url)
        .header("content-type", "application/json")
        .header("x-boardroom-delivery", d.id.to_string())
        .header("x-boardroom-event", &d.event_type)
        .header(
            "x-boardroom-signature",
            sign::signature(&due.secret, t, &d.payload),
        )
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            msg.chars().take(300).collect::<String>()
        })?;
    Ok(res.status().as_u16())
}
