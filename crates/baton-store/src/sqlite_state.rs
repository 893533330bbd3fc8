//! [`StateStore`] for the SQLite backend (tables in `migrations/003_infra.sql`).

use crate::sqlite::SqliteStore;
use crate::state_store::StateStore;

impl StateStore for SqliteStore {}
