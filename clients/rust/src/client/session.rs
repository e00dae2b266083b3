//! The session across connections: the run loop, reconnecting with backoff, what is kept
//! while offline (subscriptions, the outbox) and the frames that resend it.

use super::{
    dial, jitter, op_ref, silence_limit, Cmd, End, Event, Outgoing, Pending, Reply, Session, Sub,
};
use crate::error::Error;
use crate::transport::Ws;
use boardroom_protocol::{ClientFrame, OkReply, OpFrame, Ref, Since, Subscribe, Topic};
use std::time::Duration;

impl Session {
    pub(super) async fn run(mut self, first: (Ws, Duration)) {
        let mut ws = Some(first);
        let mut delay = self.opts.reconnect_min;
        loop {
            let conn = match ws.take() {
                Some(w) => w,
                None => match self.reconnect(&mut delay).await {
                    Ok(Some(w)) => w,
                    Ok(None) => break,
                    Err(e) => {
                        self.stop(e);
                        return;
                    }
                },
            };
            match self.serve(conn.0, conn.1).await {
                End::Done => break,
                End::Fatal(e) => {
                    self.stop(e);
                    return;
                }
                End::Lost(e) => {
                    // An unsubscribe in flight is done: the new connection will not
                    // subscribe to the topic again.
                    // A renewal in flight is checked by the next connection's `hello`.
                    for (_, p) in std::mem::take(&mut self.pending) {
                        match p {
                            Pending::Unsubscribe(reply) => {
                                let _ = reply.send(Ok(()));
                            }
                            Pending::Auth(token, reply) => {
                                self.opts.token = token;
                                let _ = reply.send(Ok(()));
                            }
                            Pending::Subscribe(_) => {}
                        }
                    }
                    let _ = self.events.send(Event::Disconnected(e.to_string()));
                }
            }
        }
        self.fail_all(|| Error::Stopped);
    }

    /// Dials until a connection is up, handling commands meanwhile. `Ok(None)`: closed.
    pub(super) async fn reconnect(
        &mut self,
        delay: &mut Duration,
    ) -> Result<Option<(Ws, Duration)>, Error> {
        loop {
            let wait = jitter(*delay);
            *delay = (*delay * 2).min(self.opts.reconnect_max);
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    cmd = self.cmds.recv() => match cmd {
                        Some(Cmd::Close(done)) => {
                            let _ = done.send(());
                            return Ok(None);
                        }
                        Some(c) => self.offline(c),
                        None => return Ok(None),
                    },
                }
            }
            match dial(&self.opts).await {
                Ok((ws, welcome)) => {
                    *delay = self.opts.reconnect_min;
                    let silence = silence_limit(&welcome);
                    let _ = self.events.send(Event::Connected(welcome));
                    return Ok(Some((ws, silence)));
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(_) => continue,
            }
        }
    }

    /// A command while no connection is up: remembered for the next one.
    pub(super) fn offline(&mut self, c: Cmd) {
        match c {
            Cmd::Subscribe {
                topic,
                since,
                reply,
            } => self.add_sub(topic, since, reply),
            Cmd::Unsubscribe { topic, reply } => {
                self.drop_sub(topic);
                let _ = reply.send(Ok(()));
            }
            Cmd::Op(o) => {
                self.queue(o);
            }
            // Checked by the `hello` of the next connection.
            Cmd::Auth { token, reply } => {
                self.opts.token = token;
                let _ = reply.send(Ok(()));
            }
            Cmd::Outbox(tx) => {
                let _ = tx.send(self.outbox.len());
            }
            // Offline: the op goes out with the whole outbox on the next connection.
            Cmd::Resend(_) => {}
            Cmd::Close(done) => {
                let _ = done.send(());
            }
        }
    }

    pub(super) fn add_sub(&mut self, topic: Topic, since: Option<Since>, reply: Reply<OkReply>) {
        let sub = self.subs.entry(topic).or_insert(Sub {
            since: None,
            waiters: Vec::new(),
        });
        if since.is_some() {
            sub.since = since;
        }
        sub.waiters.push(reply);
    }

    pub(super) fn drop_sub(&mut self, topic: Topic) {
        if let Some(sub) = self.subs.remove(&topic) {
            for w in sub.waiters {
                let _ = w.send(Err(Error::Stopped));
            }
        }
    }

    pub(super) fn queue(&mut self, o: Outgoing) -> u64 {
        let n = self.next;
        self.next += 1;
        self.outbox.insert(n, o);
        n
    }

    pub(super) fn new_ref(&mut self, kind: &str) -> Ref {
        self.next += 1;
        Ref::Str(format!("{kind}{}", self.next))
    }

    pub(super) fn subscribe_frame(&mut self, topic: Topic) -> ClientFrame {
        let r = self.new_ref("sub");
        self.pending.insert(r.clone(), Pending::Subscribe(topic));
        ClientFrame::Subscribe(Subscribe {
            r#ref: Some(r),
            topic,
            since: self.subs.get(&topic).and_then(|s| s.since),
        })
    }

    pub(super) fn op_frame(n: u64, o: &mut Outgoing) -> ClientFrame {
        o.sends += 1;
        ClientFrame::Op(OpFrame {
            r#ref: Some(op_ref(n)),
            topic: o.topic,
            op_id: o.op_id,
            op: o.op.clone(),
        })
    }
}
