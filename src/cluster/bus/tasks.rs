//! The bus's background tasks: the ordered publisher, the subscription connection (interest,
//! receiver, watchdog), the owner watch and the event task.

use super::{Bus, Interest};
use crate::cluster::wire::{self, Message, Reply, WireEvent};
use redis::aio::ConnectionManager;
use redis::{Msg, PushInfo, PushKind};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Publishes in order, pipelining whatever has queued up.
pub(super) async fn publisher(
    mut cmd: ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, bytes) in batch.drain(..) {
            pipe.publish(channel, bytes).ignore();
        }
        // Lost while Redis is down: the receivers repair the gap from the owner afterwards.
        if let Err(e) = pipe.query_async::<()>(&mut cmd).await {
            tracing::debug!(error = %e, "publish failed");
        }
    }
}

/// Applies subscription changes in order, reference-counted per channel, retrying failures.
pub(super) async fn interest_task(
    mut sub: ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<Interest>,
) {
    let mut refs: HashMap<String, usize> = HashMap::new();
    while let Some(change) = rx.recv().await {
        match change {
            Interest::Add(ch, done) => {
                let n = refs.entry(ch.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    retry(|| {
                        let mut sub = sub.clone();
                        let ch = ch.clone();
                        async move { sub.subscribe(ch).await }
                    })
                    .await;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Interest::Remove(ch) => {
                let last = match refs.get_mut(&ch) {
                    Some(n) => {
                        *n -= 1;
                        *n == 0
                    }
                    None => false,
                };
                if last {
                    refs.remove(&ch);
                    let _ = sub.unsubscribe(ch).await;
                }
            }
        }
    }
}

pub(super) async fn retry<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<()>>,
{
    let mut wait = Duration::from_millis(50);
    for _ in 0..20 {
        match f().await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(error = %e, "subscribe failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A PING now and then: the manager gives up reconnecting after its retry budget, and a
/// command is what starts it again (and with it the automatic resubscription).
pub(super) async fn watchdog(mut sub: ConnectionManager) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let _: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut sub).await;
    }
}

pub(super) async fn receiver(bus: Weak<Bus>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(bus) = bus.upgrade() else { break };
        match push.kind {
            PushKind::Message => {
                let Some(msg) = Msg::from_push_info(push) else {
                    continue;
                };
                let Some(m) = wire::decode(msg.get_payload_bytes()) else {
                    tracing::warn!(
                        channel = msg.get_channel_name(),
                        "undecodable cluster message"
                    );
                    continue;
                };
                match m {
                    Message::Event { from, ev } => {
                        if *from != *bus.node {
                            let _ = bus.events.send(Inbound::Event(from, Box::new(ev)));
                        }
                    }
                    Message::Frame { from, topic, frame } => {
                        if *from != *bus.node {
                            bus.hub.publish(&topic, &frame);
                        }
                    }
                    Message::Presence { from, note } => {
                        if *from != *bus.node {
                            bus.hub.publish_presence(&note);
                        }
                    }
                    Message::Request {
                        from,
                        id,
                        board_id,
                        req,
                    } => {
                        tokio::spawn(bus.clone().on_request(from, id, board_id, req));
                    }
                    Message::Control { from, control } => {
                        if *from != *bus.node {
                            if let Some(f) = bus.on_control.get() {
                                f(control);
                            }
                        }
                    }
                    Message::Reply { id, reply } => {
                        // An op's answer must not overtake its event, which may still be
                        // queued for the event task.
                        match bus.pending.remove(&id) {
                            Some((_, p)) if p.direct => {
                                let _ = p.tx.send(reply);
                            }
                            Some((_, p)) => {
                                let _ = bus.events.send(Inbound::Reply(p.tx, reply));
                            }
                            None => {}
                        }
                    }
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("lost the Redis subscription connection; reconnecting");
                bus.degraded.store(true, Ordering::Release);
            }
            PushKind::Subscribe if bus.degraded.swap(false, Ordering::AcqRel) => {
                tracing::info!("Redis subscriptions restored; repairing gaps");
                tokio::spawn(bus.clone().repair_all());
            }
            _ => {}
        }
    }
}

/// Answers the requests waiting on an owner that is gone as soon as Redis shows it. Without
/// this, a request forwarded to a dead node waits `forward_timeout_ms` for an answer that
/// never comes, and every request for the board behind it keeps going to that node.
///
/// The test is the board's lease, not the node's heartbeat: while the asked node holds the
/// lease nobody else can take the board, so waiting is right (the owner may just be slow,
/// and answering early would only send the retry back to it); once the lease is gone or held
/// by another node, the asked node has died or stepped down, and a retry can claim the board.
/// Requests pending for longer than `owner_check` are checked every `owner_check`, and again
/// right when the lease they wait on is due to expire (its PTTL), so failover follows the
/// lease's expiry within a few milliseconds.
pub(super) async fn owner_watch(bus: Weak<Bus>) {
    loop {
        let Some(b) = bus.upgrade() else { return };
        let every = b.owner_check;
        let now = tokio::time::Instant::now();
        let mut suspects: Vec<(Arc<str>, Uuid)> = b
            .pending
            .iter()
            .filter(|p| now.duration_since(p.sent) >= every)
            .map(|p| (p.node.clone(), p.board_id))
            .collect();
        suspects.sort();
        suspects.dedup();
        let mut wait = every;
        if !suspects.is_empty() {
            let mut pipe = redis::pipe();
            for (_, board_id) in &suspects {
                let key = crate::cluster::lease::lease_key(&b.prefix, *board_id);
                pipe.get(&key).pttl(&key);
            }
            let mut cmd = b.cmd.clone();
            let answer = tokio::time::timeout(
                Duration::from_secs(1),
                pipe.query_async::<Vec<redis::Value>>(&mut cmd),
            )
            .await;
            match answer {
                Ok(Ok(values)) => {
                    // GET, PTTL for each board, in order.
                    let mut values = values.into_iter();
                    let leases = std::iter::from_fn(|| {
                        let holder = values.next()?;
                        let pttl = values.next()?;
                        Some((
                            redis::from_redis_value::<Option<String>>(holder).ok(),
                            redis::from_redis_value::<i64>(pttl).unwrap_or(-1),
                        ))
                    });
                    for ((node, board_id), (holder, pttl)) in suspects.iter().zip(leases) {
                        // An answer that does not parse proves nothing: keep waiting.
                        let Some(holder) = holder else { continue };
                        if holder.as_deref() == Some(&**node) {
                            if pttl >= 0 {
                                wait = wait.min(Duration::from_millis(pttl as u64 + 1));
                            }
                        } else {
                            tracing::info!(
                                %board_id, %node, holder = holder.as_deref().unwrap_or("none"),
                                "the board's owner no longer holds its lease; answering its pending requests"
                            );
                            b.owner_gone(node, *board_id);
                        }
                    }
                }
                // Redis unreachable: the forward timeout still bounds the wait.
                Ok(Err(e)) => tracing::debug!(error = %e, "owner check failed"),
                Err(_) => tracing::debug!("owner check timed out"),
            }
        }
        drop(b);
        tokio::time::sleep(wait).await;
    }
}

/// What the event task handles, in arrival order.
pub(super) enum Inbound {
    Event(String, Box<WireEvent>),
    Reply(oneshot::Sender<Reply>, Reply),
}

pub(super) async fn event_task(bus: Weak<Bus>, mut rx: mpsc::UnboundedReceiver<Inbound>) {
    while let Some(item) = rx.recv().await {
        let Some(bus) = bus.upgrade() else { break };
        match item {
            Inbound::Event(from, ev) => bus.on_event(from, *ev).await,
            Inbound::Reply(tx, reply) => {
                let _ = tx.send(reply);
            }
        }
    }
}
