//! Triggers and the `server:` section (SPEC §2, §9): every form reads into its typed value, and
//! each mistake is an error at its place.

mod common;

use std::time::Duration;

use baton_model::*;
use common::project;

const STAGES: &str = "stages: { a: { run: 'true' } }";

fn triggers(list: &str) -> Result<Vec<Trigger>, String> {
    let p = project(
        &format!("pipelines:\n  p:\n    triggers: {list}\n    {STAGES}\n"),
        &[],
    );
    load(&p.main)
        .map(|project| {
            project.pipelines["p"]
                .triggers
                .iter()
                .map(|t| t.value.clone())
                .collect()
        })
        .map_err(|d| d.render(false))
}

#[test]
fn every_trigger_form_reads_with_its_defaults() {
    let got = triggers(
        "[manual, webhook, commit, { schedule: '*/15 * * * *', timezone: Europe/Paris }, \
         { schedule: '0 0 * * *', catch_up: false }, \
         { webhook: { secret: HOOK, branches: [main, 'release/*'] } }, \
         { commit: { repo: ., branches: [develop], interval: 30s } }]",
    )
    .unwrap();
    assert_eq!(
        got,
        vec![
            Trigger::Manual,
            Trigger::Webhook {
                secret: None,
                branches: vec![]
            },
            Trigger::Commit {
                repo: None,
                branches: vec![],
                interval: DEFAULT_COMMIT_INTERVAL
            },
            Trigger::Schedule {
                cron: "*/15 * * * *".into(),
                timezone: Some("Europe/Paris".into()),
                catch_up: true
            },
            Trigger::Schedule {
                cron: "0 0 * * *".into(),
                timezone: None,
                catch_up: false
            },
            Trigger::Webhook {
                secret: Some("HOOK".into()),
                branches: vec!["main".into(), "release/*".into()]
            },
            Trigger::Commit {
                repo: Some(".".into()),
                branches: vec!["develop".into()],
                interval: Duration::from_secs(30)
            },
        ]
    );
}

#[test]
fn a_cron_croner_rejects_is_an_error_at_it() {
    let err = triggers("[{ schedule: '61 * * * *' }]").unwrap_err();
    assert!(
        err.contains("invalid cron expression `61 * * * *`"),
        "{err}"
    );
    assert!(err.contains("baton.yaml:3"), "{err}");
}

#[test]
fn an_unknown_time_zone_suggests_the_closest() {
    let err = triggers("[{ schedule: '0 0 * * *', timezone: Europe/Pari }]").unwrap_err();
    assert!(err.contains("unknown time zone `Europe/Pari`"), "{err}");
    assert!(err.contains("Europe/Paris"), "{err}");
}

#[test]
fn unknown_keys_of_triggers_are_errors() {
    let err = triggers("[{ schedule: '0 0 * * *', timezone: UTC, catchup: false }]").unwrap_err();
    assert!(err.contains("catchup"), "{err}");
    assert!(err.contains("catch_up"), "{err}");
    let err = triggers("[{ webhook: { secrets: X } }]").unwrap_err();
    assert!(err.contains("secrets"), "{err}");
    let err = triggers("[{ commit: { interval: 0s } }]").unwrap_err();
    assert!(err.contains("`interval` must be more than 0s"), "{err}");
}

#[test]
fn server_tokens_are_names_to_role_and_hash() {
    let hash = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    let p = project(
        &format!(
            "server:\n  listen: 0.0.0.0:9000\n  grace: 5s\n  tokens:\n    ci: {{ role: operator, sha256: {hash} }}\n    wall: {{ role: viewer, sha256: {} }}\n",
            hash.to_lowercase()
        ),
        &[],
    );
    let project = load(&p.main).unwrap();
    let server = &project.server;
    assert_eq!(server.listen.as_deref(), Some("0.0.0.0:9000"));
    assert_eq!(server.grace, Duration::from_secs(5));
    assert_eq!(server.tokens["ci"].role, TokenRole::Operator);
    assert_eq!(server.tokens["ci"].sha256, hash.to_lowercase());
    assert_eq!(server.tokens["wall"].role, TokenRole::Viewer);
}

#[test]
fn a_token_without_a_hash_or_with_a_plain_value_is_refused() {
    let p = project(
        "server:\n  tokens:\n    ci: { role: operator, sha256: hunter2 }\n    wall: { role: admin, sha256: aa }\n",
        &[],
    );
    let err = load(&p.main).unwrap_err().render(false);
    assert!(
        err.contains("token `ci`: `sha256` is not a SHA-256 hash"),
        "{err}"
    );
    assert!(err.contains("admin"), "{err}");
}
