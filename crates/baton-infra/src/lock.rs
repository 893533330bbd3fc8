//! The one lock serialising apply and destroy (and `state rm`), held in the store so every
//! process sees it; it names its holder, and a holder that died leaves a lock reported stale.

use std::sync::Arc;

use baton_store::{Owner, Store};

use crate::error::InfraError;

pub const LOCK_NAME: &str = "infra-state";

/// Held while alive; released on drop (also on an error path). A `kill -9` leaves the row,
/// which the next taker sees as stale (its owner is gone) and `baton state unlock` breaks.
pub struct StateLock {
    store: Arc<dyn Store>,
    owner: Owner,
}

impl StateLock {
    /// Take the lock at once or fail naming who holds it: waiting behind an apply that may take
    /// an hour, or behind a dead one, helps no one.
    pub fn acquire(store: Arc<dyn Store>, purpose: &str) -> Result<StateLock, InfraError> {
        let owner = Owner::current();
        match store.acquire_lock(LOCK_NAME, purpose, &owner, &owner.user)? {
            Ok(_) => Ok(StateLock { store, owner }),
            Err(held) => Err(InfraError::Locked(held)),
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = self.store.release_lock(LOCK_NAME, &self.owner);
    }
}
