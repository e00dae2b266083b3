//! The faults the scenarios inject from outside the server: a TCP proxy in front of Postgres
//! that can cut it off (the throwaway `redis-server` to kill is `common::OwnRedis`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A TCP forwarder on a loopback port in front of `upstream`. `cut()` drops every connection
/// through it and closes new ones at once (the server sees its database go away: reset
/// connections, then refused handshakes); `heal()` forwards again.
pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let down = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (d, l) = (down.clone(), live.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut v) = l.lock() {
                    v.retain(|h| !h.is_finished());
                    v.push(task.abort_handle());
                }
            }
        });
        Proxy {
            port,
            down,
            live,
            accept,
        }
    }

    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        if let Ok(mut v) = self.live.lock() {
            for h in v.drain(..) {
                h.abort();
            }
        }
    }

    pub fn heal(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
