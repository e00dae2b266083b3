//! What can go wrong, typed so that a bot can tell a refusal it should act on (`conflict`,
//! `forbidden`) from a connection problem the client rides out by itself.

use boardroom_protocol::{DecodeError, EncodeError, ErrorCode, ErrorReply};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad server URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The upgrade or the socket failed (boxed: tungstenite's error is large).
    #[error("WebSocket: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the server sent a frame this client cannot read: {0}")]
    Decode(#[from] DecodeError),
    /// The server answered a request (or the `hello`) with an `error` frame.
    #[error("{}: {}", .0.code.as_str(), .0.message)]
    Server(ErrorReply),
    /// The server closed the connection (with its close code, when it sent one).
    #[error("closed by the server ({}){}", .code.map_or("no code".to_string(), |c| c.to_string()), if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    Closed { code: Option<u16>, reason: String },
    /// Dialling took too long, or an open connection went silent (no frame, not even the
    /// server's ping) for longer than this.
    #[error("no word from the server for {0:?}")]
    Timeout(std::time::Duration),
    /// The client was closed, or gave up for good after a fatal error (see [`Error::is_fatal`]).
    #[error("the client has stopped")]
    Stopped,
}

impl Error {
    /// The protocol error code of a server refusal.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether reconnecting cannot help: the credentials were refused or revoked (`hello`
    /// answered `unauthorized`/`forbidden`, close 4001 or 4003) or the server called this
    /// client a protocol violator (4400).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Server(e) => matches!(e.code, ErrorCode::Unauthorized | ErrorCode::Forbidden),
            Error::Closed { code, .. } => matches!(code, Some(4001 | 4003 | 4400)),
            Error::Url { .. } | Error::Stopped => true,
            _ => false,
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}
