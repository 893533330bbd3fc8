//! Regression tests for loader faults from the issue tracker: unbounded durations, inputs that
//! hung `validate` (symlink loops, FIFOs, devices, huge maps), misleading messages, and problems
//! only `run` used to find.

#![allow(clippy::disallowed_methods)] // tests drive real processes (mkfifo)

mod common;

use std::time::{Duration, Instant};

use baton_model::*;
use common::project;

fn errors(main: &str, others: &[(&str, &str)]) -> String {
    let p = project(main, others);
    match load(&p.main) {
        Ok(_) => panic!("expected diagnostics for:\n{main}"),
        Err(d) => d.render(false),
    }
}

#[track_caller]
fn assert_has(rendered: &str, needle: &str) {
    assert!(
        rendered.contains(needle),
        "missing {needle:?} in:\n{rendered}"
    );
}

#[test]
fn absurd_durations_are_rejected_with_their_place() {
    let out = errors(
        "pipelines:\n  p:\n    stages:\n      s: { run: x, timeout: 20000000000000w }\n      t: { run: x, timeout: 40000000 }\n",
        &[],
    );
    assert_has(&out, "`20000000000000w` is longer than");
    assert_has(&out, "366d");
    assert_has(&out, "baton.yaml:4:29");
    assert_has(&out, "`40000000` is longer than");
    assert_has(&out, "baton.yaml:5:29");
}

#[test]
fn an_include_symlink_loop_ends_and_reads_each_file_once() {
    let p = project(
        "project: x\ninclude: ['conf/**/*.yaml']\npipelines:\n  p: { stages: { s: { run: x } } }\n",
        &[("conf/vars.yaml", "vars: { a: 1 }\n")],
    );
    let conf = p.dir.path().join("conf");
    std::os::unix::fs::symlink(&conf, conf.join("loop")).unwrap();
    std::os::unix::fs::symlink(p.dir.path(), conf.join("up")).unwrap();
    // If the file were read through every looping path, `vars.a` would be "defined twice".
    let project = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert_eq!(project.vars["a"], 1);
}

#[test]
fn an_inventory_that_is_a_fifo_or_a_device_is_refused() {
    let p = project(
        "project: x\ninventory: /dev/urandom\npipelines:\n  p: { stages: { s: { run: x } } }\n",
        &[],
    );
    let out = match load(&p.main) {
        Ok(_) => panic!("/dev/urandom accepted"),
        Err(d) => d.render(false),
    };
    assert_has(&out, "cannot read inventory file /dev/urandom");
    assert_has(&out, "character device, not a regular file");
    assert_has(&out, "baton.yaml:2:12");

    let p = project(
        "project: x\ninventory: hosts\npipelines:\n  p: { stages: { s: { run: x } } }\n",
        &[],
    );
    let fifo = p.dir.path().join("hosts");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = match load(&p.main) {
        Ok(_) => panic!("a FIFO accepted"),
        Err(d) => d.render(false),
    };
    assert_has(&out, "named pipe (FIFO), not a regular file");
}

/// Time to load a project whose `vars:` holds `n` keys.
fn load_time(n: usize) -> Duration {
    let mut text = String::from("project: x\nvars:\n");
    for i in 0..n {
        text.push_str(&format!("  v{i}: {i}\n"));
    }
    text.push_str("pipelines:\n  p: { stages: { s: { run: x } } }\n");
    let p = project(&text, &[]);
    let started = Instant::now();
    let project = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let elapsed = started.elapsed();
    assert_eq!(project.vars.len(), n);
    elapsed
}

#[test]
fn a_map_of_100k_keys_loads_in_linear_time() {
    // Quadratic merging took 8.5 s for 100,000 keys. Compared with a quarter of the keys, a
    // linear loader takes about 4 times as long, a quadratic one 16 times: the ratio, not a
    // wall-clock bound, so a busy machine does not fail the test.
    let small = load_time(25_000);
    let big = load_time(100_000);
    assert!(
        big < small * 9,
        "25k keys: {small:?}, 100k keys: {big:?} (more than linear)"
    );
}

#[test]
fn empty_and_binary_project_files_are_errors_naming_the_file() {
    for text in ["", "# nothing yet\n"] {
        let out = errors(text, &[]);
        assert_has(&out, "baton.yaml is empty");
        assert_has(&out, "project: NAME");
    }
    let out = errors("\0\0\0\0", &[]);
    assert_has(&out, "baton.yaml: a NUL byte at byte offset 0");
    assert_has(&out, "baton.yaml:1:1");
}

#[test]
fn invalid_utf8_is_located() {
    let p = project("", &[]);
    std::fs::write(&p.main, b"project: x\nvars: { a: \"caf\xe9\" }\n").unwrap();
    let out = match load(&p.main) {
        Ok(_) => panic!("invalid UTF-8 accepted"),
        Err(d) => d.render(false),
    };
    assert_has(&out, "invalid UTF-8 at byte offset 26");
    assert_has(&out, "baton.yaml:2:16");
}

#[test]
fn resource_attribute_keys_keep_their_place() {
    let p = project(
        "project: x\nresources:\n  f:\n    type: file\n    pathh: /tmp/x\n",
        &[],
    );
    let project = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let r = &project.resources["f"];
    let key = r.key_span("pathh").expect("key span");
    assert_eq!((key.line, key.col, key.len), (5, 5, 5));
    assert_eq!(r.attrs["pathh"].span.col, 12);
}

#[test]
fn undefined_vars_in_commands_are_errors_at_the_command() {
    let out = errors(
        "project: x\nvars: { app: a }\nenvironments: { prod: { vars: { region: eu } } }\npipelines:\n  p:\n    vars: { tag: t }\n    stages:\n      s:\n        run:\n          - echo {{ vars.app }} {{ vars.region }} {{ vars.tag }} {{ env.vars.zzz }}\n          - echo {{ vars.ap }}\n          - echo {{ vars.nowhere }}\n",
        &[],
    );
    assert_has(&out, "undefined variable `vars.ap` in pipeline `p`");
    assert_has(&out, "baton.yaml:11:13");
    assert_has(&out, "did you mean `vars.app`?");
    assert_has(&out, "undefined variable `vars.nowhere`");
    assert_has(&out, "baton.yaml:12:13");
    assert_has(&out, "--var nowhere=");
    assert!(!out.contains("vars.region`"), "{out}");
    assert!(!out.contains("vars.tag`"), "{out}");
    assert!(!out.contains("zzz"), "{out}");
    assert_has(&out, "2 problems found");
}

#[test]
fn a_selector_whose_parts_match_but_whole_does_not_is_an_error() {
    let out = errors(
        "project: x\nnodes:\n  a: { roles: [web] }\n  b: { roles: [db] }\npipelines:\n  p:\n    stages:\n      s: { run: x, targets: 'role:web & role:db' }\n      t: { run: x, targets: 'role:web' }\n",
        &[],
    );
    assert_has(&out, "selector `role:web & role:db` matches no node");
    assert_has(&out, "baton.yaml:8:29");
    assert_has(&out, "1 problem found");
}

#[test]
fn a_step_kind_this_build_lacks_is_reported_at_the_step() {
    let p = project(
        "project: x\nnotifications: { ops: { webhook: 'http://127.0.0.1:9/' } }\npipelines:\n  p:\n    stages:\n      s:\n        steps:\n          - run: echo hi\n          - notify: { channels: [ops] }\n",
        &[],
    );
    assert!(load(&p.main).is_ok(), "every kind is available to `load`");
    let available: Vec<&str> = STEP_KINDS
        .iter()
        .copied()
        .filter(|k| *k != "notify")
        .collect();
    let out = match load_for(&p.main, &available) {
        Ok(_) => panic!("the notify step accepted"),
        Err(d) => d.render(false),
    };
    assert_has(
        &out,
        "the `notify` step is not available in this build of baton",
    );
    assert_has(&out, "baton.yaml:9:13");
}

#[test]
fn notification_faults_are_reported_at_their_place() {
    let out = errors(
        "project: x\nnotifications:\n  ops_mail: { smtp: { host: h, from: f@x, to: [t@x], password_secret: hunter2, ca_file: nope.pem } }\n  chat: { webhook: { url: 'http://127.0.0.1:9/', secret: my-secret, format: slack } }\n  hook: { webhook: 'http://{{ vars.hoost }}/' }\npipelines:\n  p:\n    notify: { on_change: [ops_mial] }\n    stages:\n      s:\n        steps:\n          - notify: { channels: [chta], message: hi }\n",
        &[],
    );
    assert_has(&out, "no notification `ops_mial`");
    assert_has(&out, "baton.yaml:8:27");
    assert_has(&out, "did you mean `ops_mail`?");
    assert_has(&out, "no notification `chta`");
    assert_has(&out, "baton.yaml:12:34");
    assert_has(&out, "undefined variable `vars.hoost` in the url of `hook`");
    assert_has(&out, "did you mean `chat`?");
    assert_has(
        &out,
        "`hunter2` is not a secret name (password_secret of `ops_mail`)",
    );
    assert_has(&out, "`my-secret` is not a secret name (secret of `chat`)");
    assert_has(&out, "no CA file `nope.pem`");
}

#[test]
fn a_notify_step_message_with_an_undefined_variable_is_an_error() {
    let out = errors(
        "project: x\nnotifications: { chat: { webhook: 'http://127.0.0.1:9/' } }\npipelines:\n  p:\n    stages:\n      s:\n        steps:\n          - notify: { channels: [chat], message: 'deployed {{ vars.versoin }}' }\n",
        &[],
    );
    assert_has(&out, "versoin");
    assert_has(&out, "baton.yaml:8");
}

#[test]
fn channel_settings_decode_with_their_defaults() {
    let p = project(
        "project: x\nnotifications:\n  m: { smtp: { host: h, from: f@x, to: t@x, timeout: 3s }, retries: 2 }\n  w: { webhook: { url: 'http://x/', format: slack } }\n  plain: { webhook: 'http://x/' }\npipelines:\n  p: { notify: { on_change: [m] }, stages: { s: { run: x } } }\n",
        &[],
    );
    let project = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert_eq!(project.notifications["m"].retries, 2);
    assert_eq!(project.notifications["w"].retries, DEFAULT_NOTIFY_RETRIES);
    match &project.notifications["m"].channel {
        Channel::Smtp(s) => assert_eq!(s.timeout, Duration::from_secs(3)),
        other => panic!("{other:?}"),
    }
    match &project.notifications["w"].channel {
        Channel::Webhook(w) => assert_eq!(w.format, WebhookFormat::Slack),
        other => panic!("{other:?}"),
    }
    match &project.notifications["plain"].channel {
        Channel::Webhook(w) => {
            assert_eq!(w.format, WebhookFormat::Json);
            assert_eq!(w.timeout, DEFAULT_NOTIFY_TIMEOUT);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(project.pipelines["p"].notify.on_change[0].value, "m");
}

#[test]
fn config_secrets_are_names_read_by_the_content_only_and_need_recipients() {
    let out = errors(
        r#"configs:
  app:
    type: env
    path: "/etc/{{ secrets.DIR }}/app.env"
    secrets: [DB_PASSWORD, lower]
    vars: { PW: "{{ secrets.DB_PASSWORD }}", KEY: "{{ secrets.API_KEY }}" }
    on_change: "echo {{ secrets.DB_PASSWORD }}"
"#,
        &[],
    );
    assert_has(&out, "`lower` is not a secret name (config `app`)");
    assert_has(
        &out,
        "reads `secrets.API_KEY`, which its `secrets:` does not list",
    );
    assert_has(&out, "secrets: [API_KEY]");
    assert_has(&out, "config `app`: `path` cannot read secrets");
    assert_has(&out, "config `app`: `on_change` cannot read secrets");
    assert_has(&out, "lists no `secrets.recipients`");
    assert!(!out.contains("secrets.DB_PASSWORD`, which"), "{out}");
}
