//! The one lock serialising apply and destroy (and `state rm`), held in the store so every
//! process sees it; it names its holder and actor. A holder that died (kill -9) leaves a row
//! the next taker takes over, with an audit entry naming the dead holder.

use std::sync::Arc;

use baton_store::{LockInfo, Owner, Store};

use crate::error::InfraError;

pub const LOCK_NAME: &str = "infra-state";

/// Held while alive; released on drop (also on an error path).
pub struct StateLock {
    store: Arc<dyn Store>,
    owner: Owner,
    /// The dead holder this lock was taken over from, if any.
    pub took_over: Option<LockInfo>,
}

impl StateLock {
    /// Take the lock at once or fail naming who holds it: waiting behind an apply that may take
    /// an hour helps no one. A dead holder's lock is taken over (see [`StateLock::took_over`]).
    pub fn acquire(
        store: Arc<dyn Store>,
        purpose: &str,
        actor: &str,
    ) -> Result<StateLock, InfraError> {
        let owner = Owner::current();
        match store.acquire_lock(LOCK_NAME, purpose, &owner, actor)? {
            Ok(took_over) => Ok(StateLock {
                store,
                owner,
                took_over,
            }),
            Err(held) => Err(InfraError::Locked(Box::new(held))),
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = self.store.release_lock(LOCK_NAME, &self.owner);
    }
}
