//! [`ConfigStore`] for the SQLite backend (tables in `migrations/002_configs.sql`).

use crate::config_store::ConfigStore;
use crate::sqlite::SqliteStore;

impl ConfigStore for SqliteStore {}
