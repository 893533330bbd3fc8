//! [`ConfigStore`] for the SQLite backend (tables in `migrations/002_configs.sql`, intents in
//! `006_config_intents.sql`, the `encrypted` flag from `012_config_encrypted.sql`).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::config_store::*;
use crate::now_millis;
use crate::sqlite::SqliteStore;
use crate::store::StoreResult;

/// Store `content` once, by the hash of the stored bytes; returns that key.
fn put_blob(conn: &Connection, content: &[u8]) -> rusqlite::Result<String> {
    let key = hex::encode(Sha256::digest(content));
    conn.execute(
        "INSERT OR IGNORE INTO config_blobs (sha256, content) VALUES (?1, ?2)",
        params![key, content],
    )?;
    Ok(key)
}

fn insert_target(
    conn: &Connection,
    config: &str,
    env: &str,
    version: i64,
    t: &ConfigTarget,
    or_ignore: bool,
) -> rusqlite::Result<()> {
    let blob = match &t.content {
        Some(bytes) => Some(put_blob(conn, bytes)?),
        None => None,
    };
    let verb = if or_ignore {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    };
    conn.execute(
        &format!(
            "{verb} INTO config_targets (config, env, version, node, path, present, blob, sha256, \
             mode, owner, encrypted, changed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            config,
            env,
            version,
            t.node,
            t.path,
            t.present(),
            blob,
            t.sha256,
            t.mode,
            t.owner,
            t.encrypted,
            t.changed
        ],
    )?;
    Ok(())
}

fn action_from(kind: &str, from: Option<i64>, to: Option<i64>) -> ConfigAction {
    match kind {
        "rolled_back" => ConfigAction::RolledBack {
            from: from.unwrap_or(0),
            to: to.unwrap_or(0),
        },
        _ => ConfigAction::Applied,
    }
}

fn targets(
    conn: &Connection,
    config: &str,
    env: &str,
    version: i64,
    with_content: bool,
) -> rusqlite::Result<Vec<ConfigTarget>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.node, t.path, t.present, b.content, t.sha256, t.mode, t.owner, t.encrypted, t.changed \
         FROM config_targets t LEFT JOIN config_blobs b ON b.sha256 = t.blob \
         WHERE t.config = ?1 AND t.env = ?2 AND t.version = ?3 ORDER BY t.node",
    )?;
    let rows = stmt.query_map(params![config, env, version], |r| {
        let present: bool = r.get(2)?;
        let content: Option<Vec<u8>> = r.get(3)?;
        Ok(ConfigTarget {
            node: r.get(0)?,
            path: r.get(1)?,
            // History listings skip the bytes but must still tell present from absent.
            content: match (present, with_content) {
                (false, _) => None,
                (true, true) => Some(content.unwrap_or_default()),
                (true, false) => Some(Vec::new()),
            },
            sha256: r.get(4)?,
            mode: r.get(5)?,
            owner: r.get(6)?,
            encrypted: r.get(7)?,
            changed: r.get(8)?,
        })
    })?;
    rows.collect()
}

impl ConfigStore for SqliteStore {
    fn record_config_version(&self, v: &NewConfigVersion) -> StoreResult<i64> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for original in &v.originals {
                insert_target(&tx, &v.config, &v.env, 0, original, true)?;
            }
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM config_versions WHERE config = ?1 AND env = ?2",
                params![v.config, v.env],
                |r| r.get(0),
            )?;
            let (kind, from, to) = match v.action {
                ConfigAction::Applied => ("applied", None, None),
                ConfigAction::RolledBack { from, to } => ("rolled_back", Some(from), Some(to)),
            };
            tx.execute(
                "INSERT INTO config_versions (config, env, version, at, who, action, from_version, to_version, actor, run) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![v.config, v.env, version, now_millis(), v.who, kind, from, to, v.actor, v.run],
            )?;
            for target in &v.targets {
                insert_target(&tx, &v.config, &v.env, version, target, false)?;
                // The version now records this write: its intent is done unless the handler
                // is still pending (then only the handler is).
                tx.execute(
                    "DELETE FROM config_intents WHERE config = ?1 AND env = ?2 AND node = ?3 \
                     AND handler = 0 AND sha256 IS ?4",
                    params![v.config, v.env, target.node, target.sha256],
                )?;
                tx.execute(
                    "UPDATE config_intents SET written = 1 WHERE config = ?1 AND env = ?2 AND node = ?3 \
                     AND sha256 IS ?4",
                    params![v.config, v.env, target.node, target.sha256],
                )?;
            }
            tx.commit()?;
            Ok(version)
        })
    }

    fn record_config_originals(
        &self,
        config: &str,
        env: &str,
        originals: &[ConfigTarget],
    ) -> StoreResult<()> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for original in originals {
                insert_target(&tx, config, env, 0, original, true)?;
            }
            tx.commit()
        })
    }

    fn config_history(
        &self,
        config: Option<&str>,
        env: Option<&str>,
    ) -> StoreResult<Vec<ConfigVersionRecord>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare(
                "SELECT config, env, version, at, who, action, from_version, to_version, actor, run FROM config_versions \
                 WHERE (?1 IS NULL OR config = ?1) AND (?2 IS NULL OR env = ?2) ORDER BY at, config, env, version",
            )?;
            let rows = stmt.query_map(params![config, env], |r| {
                let kind: String = r.get(5)?;
                Ok(ConfigVersionRecord {
                    config: r.get(0)?,
                    env: r.get(1)?,
                    version: r.get(2)?,
                    at: r.get(3)?,
                    who: r.get(4)?,
                    action: action_from(&kind, r.get(6)?, r.get(7)?),
                    actor: r.get(8)?,
                    run: r.get(9)?,
                    targets: Vec::new(),
                })
            })?;
            let mut records = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            for record in &mut records {
                record.targets = targets(conn, &record.config, &record.env, record.version, false)?;
            }
            Ok(records)
        })
    }

    fn config_version(
        &self,
        config: &str,
        env: &str,
        version: i64,
    ) -> StoreResult<Option<ConfigVersionRecord>> {
        self.with_own_tables(|conn| {
            let head = if version == 0 {
                Some((0, String::new(), ConfigAction::Applied, String::new(), None))
            } else {
                conn.query_row(
                    "SELECT at, who, action, from_version, to_version, actor, run FROM config_versions \
                     WHERE config = ?1 AND env = ?2 AND version = ?3",
                    params![config, env, version],
                    |r| {
                        let kind: String = r.get(2)?;
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            action_from(&kind, r.get(3)?, r.get(4)?),
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    },
                )
                .optional()?
            };
            let Some((at, who, action, actor, run)) = head else {
                return Ok(None);
            };
            Ok(Some(ConfigVersionRecord {
                config: config.to_string(),
                env: env.to_string(),
                version,
                at,
                who,
                actor,
                run,
                action,
                targets: targets(conn, config, env, version, true)?,
            }))
        })
    }

    fn config_current_version(&self, config: &str, env: &str) -> StoreResult<i64> {
        self.with_own_tables(|conn| {
            conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM config_versions WHERE config = ?1 AND env = ?2",
                params![config, env],
                |r| r.get(0),
            )
        })
    }

    fn record_config_intent(&self, i: &ConfigIntent) -> StoreResult<()> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let t = &i.target;
            let blob = match &t.content {
                Some(bytes) => Some(put_blob(&tx, bytes)?),
                None => None,
            };
            // A handler pending from an earlier, completed write stays pending.
            let earlier: bool = tx
                .query_row(
                    "SELECT handler = 1 AND written = 1 FROM config_intents \
                     WHERE config = ?1 AND env = ?2 AND node = ?3",
                    params![i.config, i.env, t.node],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            tx.execute(
                "INSERT OR REPLACE INTO config_intents (config, env, node, path, present, blob, sha256, \
                 mode, owner, handler, written, run, actor, at, encrypted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    i.config,
                    i.env,
                    t.node,
                    t.path,
                    t.present(),
                    blob,
                    t.sha256,
                    t.mode,
                    t.owner,
                    i.handler || earlier,
                    i.written,
                    i.run,
                    i.actor,
                    i.at,
                    t.encrypted
                ],
            )?;
            tx.commit()
        })
    }

    fn config_intent_written(
        &self,
        config: &str,
        env: &str,
        node: &str,
        handler: bool,
    ) -> StoreResult<()> {
        self.with_own_tables(|conn| {
            conn.execute(
                "UPDATE config_intents SET written = 1, handler = ?4 \
                 WHERE config = ?1 AND env = ?2 AND node = ?3",
                params![config, env, node, handler],
            )?;
            Ok(())
        })
    }

    fn clear_config_intent(&self, config: &str, env: &str, node: &str) -> StoreResult<()> {
        self.with_own_tables(|conn| {
            conn.execute(
                "DELETE FROM config_intents WHERE config = ?1 AND env = ?2 AND node = ?3",
                params![config, env, node],
            )?;
            Ok(())
        })
    }

    fn config_intents(&self, config: &str, env: &str) -> StoreResult<Vec<ConfigIntent>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT i.node, i.path, i.present, b.content, i.sha256, i.mode, i.owner, i.handler, \
                 i.written, i.run, i.actor, i.at, i.encrypted \
                 FROM config_intents i LEFT JOIN config_blobs b ON b.sha256 = i.blob \
                 WHERE i.config = ?1 AND i.env = ?2 ORDER BY i.node",
            )?;
            let rows = stmt.query_map(params![config, env], |r| {
                let present: bool = r.get(2)?;
                let content: Option<Vec<u8>> = r.get(3)?;
                Ok(ConfigIntent {
                    config: config.to_string(),
                    env: env.to_string(),
                    target: ConfigTarget {
                        node: r.get(0)?,
                        path: r.get(1)?,
                        content: present.then(|| content.unwrap_or_default()),
                        sha256: r.get(4)?,
                        mode: r.get(5)?,
                        owner: r.get(6)?,
                        encrypted: r.get(12)?,
                        changed: true,
                    },
                    handler: r.get(7)?,
                    written: r.get(8)?,
                    run: r.get(9)?,
                    actor: r.get(10)?,
                    at: r.get(11)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigStore;

    fn target(node: &str, content: Option<&str>) -> ConfigTarget {
        ConfigTarget {
            node: node.into(),
            path: "/etc/x".into(),
            content: content.map(|c| c.as_bytes().to_vec()),
            sha256: content.map(|c| hex::encode(Sha256::digest(c))),
            mode: Some(0o644),
            owner: Some("root:root".into()),
            encrypted: false,
            changed: true,
        }
    }

    #[test]
    fn versions_count_up_and_originals_are_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let v1 = NewConfigVersion {
            config: "app".into(),
            env: "".into(),
            who: "me@here".into(),
            actor: "me".into(),
            run: Some(1),
            action: ConfigAction::Applied,
            targets: vec![target("a", Some("one")), target("b", Some("one"))],
            originals: vec![target("a", Some("orig")), target("b", None)],
        };
        assert_eq!(store.record_config_version(&v1).unwrap(), 1);
        let v2 = NewConfigVersion {
            targets: vec![target("a", Some("two"))],
            // A later "original" of a known node must not replace the first one.
            originals: vec![target("a", Some("one"))],
            ..v1.clone()
        };
        assert_eq!(store.record_config_version(&v2).unwrap(), 2);
        assert_eq!(store.config_current_version("app", "").unwrap(), 2);
        assert_eq!(store.config_current_version("app", "prod").unwrap(), 0);
        let zero = store.config_version("app", "", 0).unwrap().unwrap();
        assert_eq!(zero.targets[0].content.as_deref(), Some(&b"orig"[..]));
        assert_eq!(zero.targets[1].content, None);
        let one = store.config_version("app", "", 1).unwrap().unwrap();
        assert_eq!(one.targets.len(), 2);
        assert_eq!(one.targets[1].content.as_deref(), Some(&b"one"[..]));
        let history = store.config_history(Some("app"), None).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].targets.len(), 1);
        assert!(store.config_version("app", "", 3).unwrap().is_none());
    }

    #[test]
    fn intents_are_cleared_by_the_version_unless_their_handler_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let intent = |node: &str, handler: bool| ConfigIntent {
            config: "app".into(),
            env: "".into(),
            target: target(node, Some("one")),
            handler,
            written: false,
            run: Some(7),
            actor: "me".into(),
            at: 1,
        };
        store.record_config_intent(&intent("a", false)).unwrap();
        store.record_config_intent(&intent("b", true)).unwrap();
        store.config_intent_written("app", "", "b", true).unwrap();
        let v = NewConfigVersion {
            config: "app".into(),
            env: "".into(),
            who: "me@here".into(),
            actor: "me".into(),
            run: Some(7),
            action: ConfigAction::Applied,
            targets: vec![target("a", Some("one")), target("b", Some("one"))],
            originals: vec![],
        };
        store.record_config_version(&v).unwrap();
        let left = store.config_intents("app", "").unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].target.node, "b");
        assert!(left[0].handler && left[0].written);
        assert_eq!(left[0].target.content.as_deref(), Some(&b"one"[..]));
        // A new intent for b keeps its pending handler.
        store.record_config_intent(&intent("b", false)).unwrap();
        assert!(store.config_intents("app", "").unwrap()[0].handler);
        store.clear_config_intent("app", "", "b").unwrap();
        assert!(store.config_intents("app", "").unwrap().is_empty());
        let history = store.config_history(Some("app"), None).unwrap();
        assert_eq!((history[0].actor.as_str(), history[0].run), ("me", Some(7)));
    }
}
