//! One connection of the session: resubscribe and resend on arrival, then frames and
//! commands until it ends, each answer matched to the request that is waiting for it.

use super::{op_key, Cmd, End, Event, OpAck, Pending, Session, CONFLICT_RETRY, MAX_RETRIES};
use crate::error::Error;
use crate::transport::{self, Ws};
use boardroom_protocol::{
    Auth, ClientFrame, ErrorCode, ErrorReply, OkReply, ServerFrame, Since, Topic, Unsubscribe,
};
use futures_util::StreamExt;
use std::time::Duration;

impl Session {
    /// Runs one connection: resubscribe, resend the outbox, then frames and commands until
    /// the connection ends.
    pub(super) async fn serve(&mut self, mut ws: Ws, silence: Duration) -> End {
        let codec = self.opts.codec;
        let topics: Vec<Topic> = self.subs.keys().copied().collect();
        let mut first: Vec<ClientFrame> = topics
            .into_iter()
            .map(|t| self.subscribe_frame(t))
            .collect();
        first.extend(self.outbox.iter_mut().map(|(n, o)| Self::op_frame(*n, o)));
        for f in &first {
            if let Err(e) = transport::send(&mut ws, codec, f).await {
                return End::Lost(e);
            }
        }
        let quiet = tokio::time::sleep(silence);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                () = &mut quiet => return End::Lost(Error::Timeout(silence)),
                msg = ws.next() => {
                    // Anything counts, pings included (tungstenite answers them itself).
                    quiet.as_mut().reset(tokio::time::Instant::now() + silence);
                    let frame = match msg {
                        Some(Ok(m)) => transport::decode(codec, m),
                        Some(Err(e)) => Err(e.into()),
                        None => Err(Error::Closed { code: None, reason: String::new() }),
                    };
                    match frame {
                        Ok(Some(f)) => {
                            if let Err(e) = self.on_frame(&mut ws, f).await {
                                return End::Lost(e);
                            }
                        }
                        Ok(None) => {}
                        Err(e) if e.is_fatal() => return End::Fatal(e),
                        Err(e) => return End::Lost(e),
                    }
                }
                cmd = self.cmds.recv() => {
                    let Some(cmd) = cmd else {
                        let _ = ws.close(None).await;
                        return End::Done;
                    };
                    if let Cmd::Close(done) = cmd {
                        let _ = ws.close(None).await;
                        let _ = done.send(());
                        return End::Done;
                    }
                    if let Err(e) = self.online(&mut ws, cmd).await {
                        return End::Lost(e);
                    }
                }
            }
        }
    }

    async fn online(&mut self, ws: &mut Ws, c: Cmd) -> Result<(), Error> {
        let codec = self.opts.codec;
        match c {
            Cmd::Subscribe {
                topic,
                since,
                reply,
            } => {
                self.add_sub(topic, since, reply);
                let f = self.subscribe_frame(topic);
                transport::send(ws, codec, &f).await
            }
            Cmd::Unsubscribe { topic, reply } => {
                self.drop_sub(topic);
                let r = self.new_ref("unsub");
                self.pending.insert(r.clone(), Pending::Unsubscribe(reply));
                let f = ClientFrame::Unsubscribe(Unsubscribe {
                    r#ref: Some(r),
                    topic,
                });
                transport::send(ws, codec, &f).await
            }
            Cmd::Op(o) => {
                let n = self.queue(o);
                self.send_op(ws, n).await
            }
            Cmd::Resend(n) => self.send_op(ws, n).await,
            Cmd::Auth { token, reply } => {
                let r = self.new_ref("auth");
                let f = ClientFrame::Auth(Auth {
                    r#ref: Some(r.clone()),
                    token: token.clone(),
                });
                self.pending.insert(r, Pending::Auth(token, reply));
                transport::send(ws, codec, &f).await
            }
            other => {
                self.offline(other);
                Ok(())
            }
        }
    }

    async fn send_op(&mut self, ws: &mut Ws, n: u64) -> Result<(), Error> {
        let Some(o) = self.outbox.get_mut(&n) else {
            return Ok(());
        };
        let f = Self::op_frame(n, o);
        transport::send(ws, self.opts.codec, &f).await
    }

    /// Sends op `n` again after `wait`, through the command channel.
    fn resend_later(&self, n: u64, wait: Duration) {
        let tx = self.resend.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(Cmd::Resend(n));
            }
        });
    }

    async fn on_frame(&mut self, ws: &mut Ws, f: ServerFrame) -> Result<(), Error> {
        match f {
            ServerFrame::Ok(ok) => self.on_ok(ok),
            ServerFrame::Error(e) => self.on_error(e),
            ServerFrame::Event(ev) => {
                if let Some(sub) = self.subs.get_mut(&ev.topic) {
                    let at = Since {
                        epoch: ev.epoch,
                        seq: ev.seq,
                    };
                    if sub
                        .since
                        .is_some_and(|s| s.epoch == at.epoch && s.seq >= at.seq)
                    {
                        return Ok(());
                    }
                    sub.since = Some(at);
                }
                let _ = self.events.send(Event::Event(ev));
            }
            ServerFrame::Presence(p) => {
                let _ = self.events.send(Event::Presence(p));
            }
            ServerFrame::Notification(n) => {
                let _ = self.events.send(Event::Notification(n));
            }
            ServerFrame::Resync(r) => {
                let _ = self.events.send(Event::Resync {
                    topic: r.topic,
                    reason: r.reason,
                });
                if self.subs.contains_key(&r.topic) {
                    let f = self.subscribe_frame(r.topic);
                    transport::send(ws, self.opts.codec, &f).await?;
                }
            }
            ServerFrame::Welcome(_) | ServerFrame::Pong(_) => {}
        }
        Ok(())
    }

    fn on_ok(&mut self, ok: OkReply) {
        let Some(r) = ok.r#ref.clone() else { return };
        if let Some(o) = op_key(&r).and_then(|n| self.outbox.remove(&n)) {
            let _ = o.reply.send(Ok(OpAck {
                op_id: o.op_id,
                seq: ok.seq.unwrap_or(0),
                id: ok.id,
            }));
            return;
        }
        match self.pending.remove(&r) {
            Some(Pending::Subscribe(topic)) => {
                let Some(sub) = self.subs.get_mut(&topic) else {
                    return; // unsubscribed meanwhile
                };
                // A recovered subscription is followed by the missed events, which move
                // `since` on; a snapshot starts over at its own position.
                if ok.recovered != Some(true) {
                    if let (Some(epoch), Some(seq)) = (ok.epoch, ok.seq) {
                        sub.since = Some(Since { epoch, seq });
                    }
                }
                for w in sub.waiters.drain(..) {
                    let _ = w.send(Ok(ok.clone()));
                }
                let _ = self.events.send(Event::Subscribed { topic, reply: ok });
            }
            Some(Pending::Unsubscribe(reply)) => {
                let _ = reply.send(Ok(()));
            }
            Some(Pending::Auth(token, reply)) => {
                self.opts.token = token;
                let _ = reply.send(Ok(()));
            }
            None => {}
        }
    }

    fn on_error(&mut self, e: ErrorReply) {
        let Some(r) = e.r#ref.clone() else { return };
        if let Some(n) = op_key(&r) {
            let Some(o) = self.outbox.get_mut(&n) else {
                return;
            };
            let wait = match e.code {
                ErrorCode::Unavailable | ErrorCode::RateLimited => Some(
                    e.retry_after_ms
                        .map_or(Duration::from_millis(500), Duration::from_millis),
                ),
                ErrorCode::Conflict if o.sends > 1 => Some(CONFLICT_RETRY),
                _ => None,
            };
            match wait {
                Some(wait) if o.retries < MAX_RETRIES => {
                    o.retries += 1;
                    self.resend_later(n, wait);
                }
                _ => {
                    if let Some(o) = self.outbox.remove(&n) {
                        let _ = o.reply.send(Err(Error::Server(e)));
                    }
                }
            }
            return;
        }
        match self.pending.remove(&r) {
            Some(Pending::Subscribe(topic)) => {
                if let Some(sub) = self.subs.remove(&topic) {
                    for w in sub.waiters {
                        let _ = w.send(Err(Error::Server(e.clone())));
                    }
                }
            }
            Some(Pending::Unsubscribe(reply)) | Some(Pending::Auth(_, reply)) => {
                let _ = reply.send(Err(Error::Server(e)));
            }
            None => {}
        }
    }

    pub(super) fn fail_all(&mut self, err: impl Fn() -> Error) {
        for (_, o) in std::mem::take(&mut self.outbox) {
            let _ = o.reply.send(Err(err()));
        }
        for (_, sub) in std::mem::take(&mut self.subs) {
            for w in sub.waiters {
                let _ = w.send(Err(err()));
            }
        }
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Unsubscribe(reply) | Pending::Auth(_, reply) => {
                    let _ = reply.send(Err(err()));
                }
                Pending::Subscribe(_) => {}
            }
        }
    }

    /// Ends the session after a fatal error: every waiting caller learns why.
    pub(super) fn stop(&mut self, e: Error) {
        let msg = e.to_string();
        let _ = self.events.send(Event::Stopped(msg.clone()));
        self.fail_all(|| Error::Closed {
            code: None,
            reason: msg.clone(),
        });
        // Commands sent from now on find the channel closed: `Error::Stopped`.
        self.cmds.close();
    }
}
