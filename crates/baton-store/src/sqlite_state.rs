//! [`StateStore`] for the SQLite backend (tables in `migrations/003_infra.sql`).

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::now_millis;
use crate::sqlite::SqliteStore;
use crate::state_store::{InfraState, ResourceState, StateChange, StateStore};
use crate::store::StoreResult;

impl StateStore for SqliteStore {
    fn infra_state(&self) -> StoreResult<InfraState> {
        self.with_own_tables(|conn| {
            // One read transaction, so the serial and the rows are of the same moment.
            let tx = conn.transaction()?;
            let meta: Option<(String, i64)> = tx
                .query_row(
                    "SELECT lineage, serial FROM infra_state WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let resources = {
                let mut stmt = tx.prepare(
                    "SELECT id, kind, node, attrs, depends_on, serial, updated_at \
                     FROM infra_resources ORDER BY id",
                )?;
                let rows = stmt.query_map([], |r| {
                    let attrs: String = r.get(3)?;
                    let deps: String = r.get(4)?;
                    Ok(ResourceState {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        node: r.get(2)?,
                        attrs: serde_json::from_str(&attrs).unwrap_or_default(),
                        depends_on: serde_json::from_str(&deps).unwrap_or_default(),
                        serial: r.get(5)?,
                        updated_at: r.get(6)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            let (lineage, serial) = match meta {
                Some((lineage, serial)) => (Some(lineage), serial),
                None => (None, 0),
            };
            Ok(InfraState {
                lineage,
                serial,
                resources,
            })
        })
    }

    fn save_resource(&self, resource: &ResourceState, action: &str, who: &str) -> StoreResult<i64> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let serial = bump_serial(&tx)?;
            // Cached statements: a 1,000-resource apply saves 1,000 times.
            tx.prepare_cached(
                "INSERT INTO infra_resources (id, kind, node, attrs, depends_on, serial, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT(id) DO UPDATE SET kind = ?2, node = ?3, attrs = ?4, depends_on = ?5, \
                 serial = ?6, updated_at = ?7",
            )?
            .execute(params![
                    resource.id,
                    resource.kind,
                    resource.node,
                    serde_json::Value::Object(resource.attrs.clone()).to_string(),
                    serde_json::to_string(&resource.depends_on).expect("strings serialize"),
                    serial,
                    now_millis()
                ],
            )?;
            history(&tx, serial, who, action, &resource.id, &resource.kind)?;
            tx.commit()?;
            Ok(serial)
        })
    }

    fn remove_resource(&self, id: &str, action: &str, who: &str) -> StoreResult<Option<i64>> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let kind: Option<String> = tx
                .query_row(
                    "SELECT kind FROM infra_resources WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(kind) = kind else {
                return Ok(None);
            };
            let serial = bump_serial(&tx)?;
            tx.execute("DELETE FROM infra_resources WHERE id = ?1", params![id])?;
            history(&tx, serial, who, action, id, &kind)?;
            tx.commit()?;
            Ok(Some(serial))
        })
    }

    fn infra_history(&self, limit: usize) -> StoreResult<Vec<StateChange>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare(
                "SELECT serial, at, who, action, resource, kind FROM infra_history \
                 ORDER BY serial DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                Ok(StateChange {
                    serial: r.get(0)?,
                    at: r.get(1)?,
                    who: r.get(2)?,
                    action: r.get(3)?,
                    resource: r.get(4)?,
                    kind: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }
}

/// Next serial, creating the state row (and its lineage) on the first change.
fn bump_serial(tx: &Transaction) -> rusqlite::Result<i64> {
    let current: Option<i64> = tx
        .prepare_cached("SELECT serial FROM infra_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match current {
        Some(serial) => {
            tx.prepare_cached("UPDATE infra_state SET serial = ?1 WHERE id = 1")?
                .execute(params![serial + 1])?;
            Ok(serial + 1)
        }
        None => {
            tx.execute(
                "INSERT INTO infra_state (id, lineage, serial) VALUES (1, ?1, 1)",
                params![new_lineage()],
            )?;
            Ok(1)
        }
    }
}

fn history(
    tx: &Connection,
    serial: i64,
    who: &str,
    action: &str,
    resource: &str,
    kind: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO infra_history (serial, at, who, action, resource, kind) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![serial, now_millis(), who, action, resource, kind])?;
    Ok(())
}

/// A lineage only has to differ between states, not be secret: hash time, pid and an address.
fn new_lineage() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let local = 0u8;
    let seed = format!("{nanos}-{}-{:p}", std::process::id(), &local);
    let digest = Sha256::digest(seed.as_bytes());
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(id: &str) -> ResourceState {
        ResourceState {
            id: id.into(),
            kind: "file".into(),
            node: "local".into(),
            attrs: serde_json::json!({"path": "/tmp/x"})
                .as_object()
                .unwrap()
                .clone(),
            depends_on: vec![],
            serial: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn every_change_bumps_the_serial_and_is_in_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.infra_state().unwrap(), InfraState::default());
        assert_eq!(
            store
                .save_resource(&resource("a"), "create", "me@h")
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .save_resource(&resource("b"), "create", "me@h")
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .save_resource(&resource("a"), "update", "me@h")
                .unwrap(),
            3
        );
        assert_eq!(store.remove_resource("zz", "rm", "me@h").unwrap(), None);
        assert_eq!(
            store.remove_resource("b", "delete", "me@h").unwrap(),
            Some(4)
        );
        let state = store.infra_state().unwrap();
        let lineage = state.lineage.clone().unwrap();
        assert_eq!(lineage.len(), 36);
        assert_eq!(state.serial, 4);
        assert_eq!(state.resources.len(), 1);
        assert_eq!(state.resources[0].serial, 3);
        let history = store.infra_history(10).unwrap();
        let actions: Vec<_> = history
            .iter()
            .map(|h| (h.serial, h.action.as_str(), h.resource.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (4, "delete", "b"),
                (3, "update", "a"),
                (2, "create", "b"),
                (1, "create", "a")
            ]
        );
        // The lineage stays for the life of the state.
        store
            .save_resource(&resource("c"), "create", "me@h")
            .unwrap();
        assert_eq!(store.infra_state().unwrap().lineage.unwrap(), lineage);
    }
}
