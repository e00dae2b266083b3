//! The commands that enter by more than one transport: an op (WebSocket `op`, `POST
//! /boards/{id}/ops`), a board or card subscription (WebSocket `subscribe`, the SSE stream) and
//! marking notifications read (WebSocket `notifications.read`, `POST /notifications/read`).
//! Each is resolved (board -> org), charged to its credential's budget, authorized and handed
//! to its board actor here, once; the transports only parse their input and render the answer
//! in their own framing. So a command meets the same rules, the same refusals (code, message,
//! field) and the same budget whichever way it comes in.
//!
//! This module knows the store, the board registry and the credential checks, never `http`
//! or `realtime` (`tests/module_graph.rs`).

pub mod notifications;
pub mod op;
pub mod subscribe;

use crate::auth::ratelimit::CredentialKey;
use crate::auth::session::{Caller, Credential, Credentials, SessionAuth};
use crate::error::ApiResult;
use crate::store::DynStore;
use boardroom_actors::live::registry::BoardRegistry;
use boardroom_actors::policy::Principal;
use std::sync::Arc;
use uuid::Uuid;

/// What the commands need; cheap to clone (all shared).
#[derive(Clone)]
pub struct Commands {
    store: DynStore,
    boards: Arc<BoardRegistry>,
    credentials: Credentials,
    max_notification_ids: usize,
}

impl Commands {
    pub fn new(
        store: DynStore,
        boards: Arc<BoardRegistry>,
        credentials: Credentials,
        max_notification_ids: usize,
    ) -> Self {
        Commands {
            store,
            boards,
            credentials,
            max_notification_ids,
        }
    }
}

/// Who sends a command, as the transport knows them.
#[derive(Clone, Copy)]
pub enum Sender<'a> {
    /// A socket or a stream, authenticated once: its home principal and name are known.
    Session(&'a SessionAuth),
    /// An HTTP request: the credential alone (the name is looked up when an op needs it).
    Request(&'a Caller),
}

impl Sender<'_> {
    fn caller(&self) -> Option<&Caller> {
        match self {
            Sender::Session(s) => match &s.credential {
                Credential::Caller(c) => Some(c),
                Credential::Share => None,
            },
            Sender::Request(c) => Some(c),
        }
    }

    /// The budget this sender's ops spend: the credential's, whichever transport they use.
    fn budget_key(&self) -> CredentialKey {
        match self.caller() {
            Some(Caller::User { user_id }) => CredentialKey::User(*user_id),
            Some(Caller::ApiKey(key)) => CredentialKey::ApiKey(key.id),
            None => match self {
                Sender::Session(s) => CredentialKey::Share(s.principal.id),
                // A request always has a caller; kept total rather than panicking.
                Sender::Request(_) => CredentialKey::Share(Uuid::nil()),
            },
        }
    }

    async fn principal_in(&self, creds: &Credentials, org_id: Uuid) -> ApiResult<Principal> {
        match self {
            Sender::Session(s) => s.principal_in(creds, org_id).await,
            Sender::Request(c) => creds.principal_in(c, org_id).await,
        }
    }

    async fn name(&self, creds: &Credentials) -> ApiResult<String> {
        match self {
            Sender::Session(s) => Ok(s.info.name.clone()),
            Sender::Request(c) => creds.name_of(c).await,
        }
    }
}
