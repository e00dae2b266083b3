//! `bare-peer`: the bare broadcast server — tokio + tungstenite, no auth, no actors, no
//! persistence — that the load generator measures as the ceiling of what this machine can
//! deliver.
//!
//! Protocol (WebSocket text frames, any path):
//!
//! - `sub <room>` -> `ok <room>`: join a room (a board).
//! - `pub <room> <payload>`: `<payload>` goes, verbatim, to every subscriber of the room (the
//!   publisher included, if it subscribed). No answer.
//!
//! It is built the way a careful hand-written broadcast server would be, and the way Boardroom's
//! hub and gateway deliver: the payload is one reference-counted buffer shared by every
//! subscriber's queue; each connection is one task that writes whatever its bounded queue holds
//! and flushes once per batch; a subscriber whose queue is full (too slow to read) is closed
//! with 4009, as Boardroom does.
//!
//! ```sh
//! bare-peer --listen 127.0.0.1:9001
//! ```

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

struct Sub {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    slow: Arc<Notify>,
}

#[derive(Default)]
struct Rooms {
    rooms: RwLock<HashMap<String, Vec<Sub>>>,
}

impl Rooms {
    fn join(&self, room: &str, sub: Sub) {
        if let Ok(mut r) = self.rooms.write() {
            let subs = r.entry(room.to_string()).or_default();
            if !subs.iter().any(|s| s.id == sub.id) {
                subs.push(sub);
            }
        }
    }

    fn leave_all(&self, id: u64, rooms: &[String]) {
        if let Ok(mut r) = self.rooms.write() {
            for room in rooms {
                if let Some(subs) = r.get_mut(room) {
                    subs.retain(|s| s.id != id);
                    if subs.is_empty() {
                        r.remove(room);
                    }
                }
            }
        }
    }

    fn publish(&self, room: &str, payload: Utf8Bytes) {
        if let Ok(r) = self.rooms.read() {
            for s in r.get(room).into_iter().flatten() {
                if let Err(mpsc::error::TrySendError::Full(_)) = s.tx.try_send(payload.clone()) {
                    s.slow.notify_one();
                }
            }
        }
    }
}

struct Args {
    listen: String,
    queue: usize,
}

fn args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:9001".into(),
        queue: 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--listen" => a.listen = it.next().expect("--listen ADDR"),
            "--queue" => {
                a.queue = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--queue FRAMES")
            }
            "-h" | "--help" => {
                println!("bare-peer [--listen 127.0.0.1:9001] [--queue 1024]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = args();
    let listener = TcpListener::bind(&a.listen).await?;
    eprintln!("bare-peer listening on {}", listener.local_addr()?);
    let rooms = Arc::new(Rooms::default());
    let ids = AtomicU64::new(0);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the others.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(stream, id, rooms.clone(), a.queue));
    }
}

async fn serve(stream: TcpStream, id: u64, rooms: Arc<Rooms>, queue: usize) {
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(queue);
    let slow = Arc::new(Notify::new());
    let mut joined: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                if ws.feed(Message::Text(m)).await.is_err() {
                    break;
                }
                let mut more = 0;
                while more < 256 {
                    match rx.try_recv() {
                        Ok(m) => {
                            if ws.feed(Message::Text(m)).await.is_err() {
                                break;
                            }
                            more += 1;
                        }
                        Err(_) => break,
                    }
                }
                if ws.flush().await.is_err() {
                    break;
                }
            }
            f = ws.next() => {
                let t = match f {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let s = t.as_str();
                if let Some(room) = s.strip_prefix("sub ") {
                    rooms.join(room, Sub { id, tx: tx.clone(), slow: slow.clone() });
                    joined.push(room.to_string());
                    if ws.send(Message::Text(format!("ok {room}").into())).await.is_err() {
                        break;
                    }
                } else if let Some(rest) = s.strip_prefix("pub ") {
                    let Some(sp) = rest.find(' ') else { continue };
                    let room = &rest[..sp];
                    let offset = 4 + sp + 1;
                    let bytes: Bytes = Bytes::from(t.clone()).slice(offset..);
                    if let Ok(payload) = Utf8Bytes::try_from(bytes) {
                        rooms.publish(room, payload);
                    }
                }
            }
            _ = slow.notified() => {
                let _ = ws
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::from(4009),
                        reason: "too slow to read".into(),
                    })))
                    .await;
                break;
            }
        }
    }
    rooms.leave_all(id, &joined);
}
