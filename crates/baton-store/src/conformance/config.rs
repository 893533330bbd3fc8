//! The configuration part of the conformance kit ([`crate::ConfigStore`]): contents that hold
//! secrets are stored encrypted, and a backend keeps those bytes and the flag as given.

use crate::{ConfigAction, ConfigIntent, ConfigTarget, NewConfigVersion, Store};

/// An encrypted content (opaque bytes, the hash of the plaintext the node holds) survives every
/// path that stores one — original, version, intent — byte for byte, flagged; history lists the
/// flag without the bytes.
pub fn encrypted_config_contents_are_kept_as_given(store: &dyn Store) {
    let sealed = b"-----BEGIN AGE ENCRYPTED FILE-----\nopaque\n-----END AGE ENCRYPTED FILE-----\n";
    let target = |node: &str, encrypted: bool| ConfigTarget {
        node: node.into(),
        path: "/etc/app.env".into(),
        content: Some(if encrypted {
            sealed.to_vec()
        } else {
            b"PLAIN=1\n".to_vec()
        }),
        sha256: Some(format!("{:064}", if encrypted { 1 } else { 2 })),
        mode: Some(0o600),
        owner: Some("root:root".into()),
        encrypted,
        changed: true,
    };
    store
        .record_config_intent(&ConfigIntent {
            config: "app".into(),
            env: "prod".into(),
            target: target("web1", true),
            handler: true,
            written: false,
            run: Some(1),
            actor: "me".into(),
            at: 1,
        })
        .unwrap();
    let intents = store.config_intents("app", "prod").unwrap();
    assert_eq!(intents[0].target.content.as_deref(), Some(&sealed[..]));
    assert!(intents[0].target.encrypted, "the intent keeps its flag");
    let version = store
        .record_config_version(&NewConfigVersion {
            config: "app".into(),
            env: "prod".into(),
            who: "me@here".into(),
            actor: "me".into(),
            run: Some(1),
            action: ConfigAction::Applied,
            targets: vec![target("web1", true), target("web2", false)],
            originals: vec![target("web1", true)],
        })
        .unwrap();
    for v in [0, version] {
        let record = store.config_version("app", "prod", v).unwrap().unwrap();
        let web1 = &record.targets[0];
        assert!(web1.encrypted, "version {v} keeps the flag");
        assert_eq!(web1.content.as_deref(), Some(&sealed[..]), "version {v}");
        assert_eq!(web1.sha256, target("web1", true).sha256, "version {v}");
    }
    let record = store
        .config_version("app", "prod", version)
        .unwrap()
        .unwrap();
    assert!(!record.targets[1].encrypted);
    let history = store.config_history(Some("app"), Some("prod")).unwrap();
    let flags: Vec<bool> = history[0].targets.iter().map(|t| t.encrypted).collect();
    assert_eq!(flags, [true, false]);
    assert!(
        history[0]
            .targets
            .iter()
            .all(|t| t.content.as_deref() == Some(&[][..]))
    );
}
