//! How a session ends: the close frame and the reason given for a close code, the wait for
//! the server's shutdown, and what a caught panic said (for the log).

use axum::extract::ws::{CloseFrame, Message};
use boardroom_protocol::close;
use futures_util::SinkExt;

/// The message of a caught panic, for the log.
pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

pub(super) fn close_reason(code: u16) -> &'static str {
    match code {
        close::TOO_SLOW => "send queue full: the client does not read fast enough",
        close::CREDENTIALS_REVOKED => "credentials revoked",
        close::RATE_LIMITED => "rate limited",
        close::GOING_AWAY => "server going away; reconnect",
        _ => "closed by the server",
    }
}

pub(super) async fn send_close<S>(sink: &mut S, code: u16, reason: &str) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await?;
    sink.flush().await
}

/// Resolves once the server starts shutting down.
pub(super) async fn shutting_down(rx: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        let down = *rx.borrow_and_update();
        if down {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
