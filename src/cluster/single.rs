//! Ownership on one node: every board this node loads is its own. Taking a board still raises
//! its epoch in the database, so that a restarted node (or a second process pointed at the
//! same database by mistake) fences the writes of the one before it.

use crate::store::DynStore;
use async_trait::async_trait;
use boardroom_actors::live::ports::{Acquired, Claim, Ownership, PortError};
use uuid::Uuid;

pub struct SingleNode {
    store: DynStore,
}

impl SingleNode {
    pub fn new(store: DynStore) -> Self {
        SingleNode { store }
    }
}

#[async_trait]
impl Ownership for SingleNode {
    async fn acquire(&self, board_id: Uuid) -> Result<Acquired, PortError> {
        match self.store.claim_board(board_id).await {
            Ok(Some((epoch, last_seq))) => Ok(Acquired::Owned(Claim {
                epoch: epoch.max(0) as u64,
                last_seq: last_seq.max(0) as u64,
            })),
            Ok(None) => Ok(Acquired::NotFound),
            Err(e) => Err(PortError::new(e)),
        }
    }

    async fn release(&self, _board_id: Uuid, _epoch: u64) {}

    fn still_owner(&self, _board_id: Uuid, _epoch: u64) -> bool {
        true
    }
}
