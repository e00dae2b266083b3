//! The answers a board owes: every request that reaches (or is refused on the way to) a board
//! is answered exactly once, even when the board stops before it gets to it.

use crate::live::conn::ConnHandle;
use boardroom_protocol::{ErrorCode, ErrorReply, OkReply, OpResult, Ref, ServerFrame};
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

/// What a request gets when the board actor went away before answering it, so that no client
/// ever waits forever for an answer that cannot come:
///
/// - dropped while the thread unwinds from a panic: the request was in the actor's hands when
///   the server failed on it, which is a server bug: `internal`;
/// - otherwise the actor failed or stopped (restart, shutdown, archive) with the request still
///   queued or, for an op, waiting for its commit. The board comes back on its next use:
///   `unavailable`, retry. For an op the outcome is unknown (its commit may land or be fenced
///   by the restarted board), and retrying with the same `op_id` is safe either way.
pub fn unanswered(r#ref: Option<Ref>) -> ErrorReply {
    if std::thread::panicking() {
        ErrorReply::new(
            r#ref,
            ErrorCode::Internal,
            "the server failed while handling this request (it has been logged); \
             an op may be retried with the same op_id",
        )
    } else {
        let mut e = ErrorReply::new(
            r#ref,
            ErrorCode::Unavailable,
            "the board stopped before answering (it restarts on its next use); \
             retry shortly, an op with the same op_id",
        );
        e.retry_after_ms = Some(UNANSWERED_RETRY_MS);
        e
    }
}

/// How long a client is asked to wait after its board stopped before answering: about the time
/// a board takes to load again.
const UNANSWERED_RETRY_MS: u64 = 500;

/// The answer a board owes to one request of a WebSocket (or SSE) connection, with the
/// request's `ref`. Answered once; if it is dropped unanswered it answers [`unanswered`].
pub struct Owed {
    conn: Arc<ConnHandle>,
    r#ref: Option<Ref>,
    answered: bool,
}

impl Owed {
    pub fn new(conn: Arc<ConnHandle>, r#ref: Option<Ref>) -> Owed {
        Owed {
            conn,
            r#ref,
            answered: false,
        }
    }

    pub fn r#ref(&self) -> Option<Ref> {
        self.r#ref.clone()
    }

    /// Sends the answer (an `ok` or `error` frame carrying this request's `ref`).
    pub fn answer(mut self, frame: &ServerFrame) {
        self.answered = true;
        self.conn.send(frame);
    }

    /// The answer went another way (another node's frames carried it): nothing more to send.
    pub fn settle(mut self) {
        self.answered = true;
    }

    /// Answers with `e` (its `ref` replaced by this request's).
    pub fn refuse(self, mut e: ErrorReply) {
        e.r#ref = self.r#ref();
        self.answer(&ServerFrame::Error(e));
    }

    pub fn error(self, code: ErrorCode, message: &str) {
        let e = ErrorReply::new(self.r#ref(), code, message);
        self.answer(&ServerFrame::Error(e));
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        if !self.answered {
            self.conn
                .send(&ServerFrame::Error(unanswered(self.r#ref.take())));
        }
    }
}

/// The answer owed to `POST /boards/{id}/ops`; like [`Owed`], it answers [`unanswered`] if it
/// is dropped unanswered.
pub struct HttpReply(Option<oneshot::Sender<Result<OpResult, ErrorReply>>>);

impl HttpReply {
    pub fn new(tx: oneshot::Sender<Result<OpResult, ErrorReply>>) -> HttpReply {
        HttpReply(Some(tx))
    }

    fn send(mut self, r: Result<OpResult, ErrorReply>) {
        if let Some(tx) = self.0.take() {
            // The handler may be gone (client hung up); nothing is owed to nobody.
            let _ = tx.send(r);
        }
    }
}

impl Drop for HttpReply {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(unanswered(None)));
        }
    }
}

/// Where the answer to an op goes: straight into a WebSocket's queue (so it is ordered after
/// the op's own event) or back to an HTTP handler (or another node). Either way it is always
/// answered.
pub enum OpReply {
    Conn(Owed),
    Http(HttpReply),
}

impl OpReply {
    pub fn conn(conn: Arc<ConnHandle>, r#ref: Option<Ref>) -> OpReply {
        OpReply::Conn(Owed::new(conn, r#ref))
    }

    pub fn http(tx: oneshot::Sender<Result<OpResult, ErrorReply>>) -> OpReply {
        OpReply::Http(HttpReply::new(tx))
    }

    pub fn ok(self, seq: u64, id: Option<Uuid>) {
        match self {
            OpReply::Conn(owed) => {
                let ok = OkReply {
                    seq: Some(seq),
                    id,
                    ..OkReply::new(owed.r#ref())
                };
                owed.answer(&ServerFrame::Ok(ok));
            }
            OpReply::Http(tx) => tx.send(Ok(OpResult { seq, id })),
        }
    }

    pub fn err(self, mut e: ErrorReply) {
        match self {
            OpReply::Conn(owed) => {
                e.r#ref = owed.r#ref();
                owed.answer(&ServerFrame::Error(e));
            }
            OpReply::Http(tx) => tx.send(Err(e)),
        }
    }
}
