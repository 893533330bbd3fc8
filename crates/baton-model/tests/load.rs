//! Loading whole projects from disk: the SPEC example, and every kind of problem reported with
//! its exact place.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use baton_model::*;
use common::project;

/// SPEC.md §1-§5 combined.
const FULL: &str = r#"project: shop
vars: { app_port: 8000 }

nodes:
  web01: { host: 127.0.0.2, port: 2222, user: root, key: keys/id_ed25519, roles: [web], labels: { zone: a } }
  web02: { host: 127.0.0.3, port: 2222, user: root, key: keys/id_ed25519, roles: [web], labels: { zone: b } }
  db01:  { host: 127.0.0.4, port: 2222, user: root, key: keys/id_ed25519, roles: [database] }
ssh: { known_hosts: keys/known_hosts, accept_new_host_keys: false, connect_timeout: 10s, forks: 50 }

environments:
  dev:     { branch: develop, vars: { debug: true } }
  integ:   { promote_from: dev }
  preprod: { branch: release, promote_from: integ }
  staging: { branch: hotfix }
  prod:    { promote_from: [preprod, staging], approval: manual, vars: { debug: false } }

pipelines:
  build_app:
    triggers: [commit]                  # manual is always allowed
    env: dev
    stages:
      lint:    { run: cargo clippy, timeout: 60s }
      test:    { run: cargo test, needs: [lint], timeout: 2m }
      build:   { run: cargo build --release, needs: [test], artifacts: [target/release/app] }
      package: { run: tar czf app.tgz -C target/release app, needs: [build], artifacts: [app.tgz] }
  deploy_prod:
    triggers: [manual, webhook]
    env: prod
    notify: { on_failure: [ops_mail] }
    stages:
      backup: { targets: role:database, run: mysqldump shop > /var/backups/shop.sql, timeout: 3m }
      deploy:
        targets: role:web
        needs: [backup]
        strategy: { batch: 1, max_failures: 0 }      # rolling: one node at a time, stop at first failure
        steps:
          - upload: { artifact: app.tgz, dest: /opt/app/app.tgz }
          - config: app_config
          - run: systemctl restart app
        rollback: systemctl restart app-previous
      smoke_test: { needs: [deploy], targets: role:web, http: { url: "http://{{ node.host }}:8000/", expect_status: 200, retries: 5, interval: 2s } }
      cleanup: { needs: [smoke_test], run: rm -rf /tmp/deploy }
  nightly_backup:
    triggers: [{ schedule: "0 0 * * *" }]
    stages: { backup: { run: ./backup.sh }, verify: { run: ./verify.sh, needs: [backup] } }

configs:
  app_config:
    type: file                         # file | env | service | network
    targets: role:web                  # default local
    path: /etc/myapp/app.json
    template: templates/app.json.j2    # or content: |
    validate: json                     # json|yaml|toml|ini|sh|none or a command; default from the extension
    mode: "0644"
    owner: root
    on_change: systemctl reload myapp  # runs once per node whose content changed
  env_vars:
    type: env
    path: /etc/myapp/app.env           # KEY=value lines; names must match ^[A-Z_][A-Z0-9_]*$
    vars: { APP_NAME: MyApp, DEBUG: "{{ env.vars.debug }}", PORT: "8080" }
  myapp_unit: { type: service, name: myapp, content: "[Unit]\n..." }   # /etc/systemd/system/NAME.service, daemon-reload when systemctl exists
  eth1:       { type: network, name: eth1, content: "..." }            # /etc/network/interfaces.d/NAME

resources:
  app_dir:     { type: directory, path: /tmp/myapp, mode: "0755" }
  config_file: { type: file, path: "{{ resources.app_dir.path }}/config.json", content: '{"app":"myapp"}' }
  app_user:    { type: user, name: myapp, uid: 1001, home: /home/myapp, shell: /bin/bash }
  web_dir:     { type: directory, node: web01, path: /srv/app }        # made on a node over SSH
  artifacts:   { type: aws.s3_bucket, name: shop-artifacts }
outputs:
  config_path: "{{ resources.config_file.path }}"

monitoring: { interval: 15s, retention: 7d }
checks:  { api_up: { targets: role:web, http: "http://{{ node.host }}:8000/", interval: 30s } }
alerts:
  high_cpu: { metric: cpu, targets: all, above: 80, for: 5m, notify: [ops_mail] }
  api_down: { check: api_up, for: 1m, notify: [ops_mail, chat] }
notifications:
  ops_mail: { smtp: { host: smtp.example.com, port: 587, tls: starttls, user: ops, password_secret: SMTP_PASSWORD, from: ops@example.com, to: [oncall@example.com] } }
  chat:     { webhook: { url: "https://chat.example.com/hook" } }
secrets: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
server: { listen: "127.0.0.1:8080", tokens: { ci: { role: operator, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 } } }
"#;

fn load_ok(main: &str) -> Project {
    let p = project(main, &[]);
    match load(&p.main) {
        Ok(project) => project,
        Err(d) => panic!("unexpected diagnostics:\n{}", d.render(false)),
    }
}

fn errors(main: &str, others: &[(&str, &str)]) -> (String, usize) {
    let p = project(main, others);
    match load(&p.main) {
        Ok(_) => panic!("expected diagnostics for:\n{main}"),
        Err(d) => (d.render(false), d.items.len()),
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
fn the_spec_example_loads() {
    let p = load_ok(FULL);
    assert_eq!(p.name.as_deref().map(String::as_str), Some("shop"));
    assert_eq!(p.nodes.len(), 3);
    assert_eq!(p.nodes["web01"].port, Some(2222));
    assert_eq!(p.nodes["web02"].labels["zone"], "b");
    assert_eq!(p.environments["prod"].approval, Approval::Manual);
    assert_eq!(p.environments["prod"].promote_from.len(), 2);
    assert_eq!(p.pipelines.len(), 3);
    let deploy = &p.pipelines["deploy_prod"].stages["deploy"];
    let StageAction::Steps(steps) = &deploy.action else {
        panic!("deploy is steps")
    };
    let kinds: Vec<_> = steps.iter().map(|s| s.kind()).collect();
    assert_eq!(kinds, ["upload", "config", "run"]);
    assert_eq!(deploy.strategy.batch, [Amount::Count(1)]);
    assert_eq!(deploy.strategy.max_failures, Some(Amount::Count(0)));
    assert_eq!(
        p.pipelines["build_app"].stages["test"].timeout.as_secs(),
        120
    );
    assert_eq!(
        p.pipelines["build_app"].stages["lint"].timeout.as_secs(),
        60
    );
    assert_eq!(
        p.pipelines["nightly_backup"].stages["backup"].timeout,
        DEFAULT_STAGE_TIMEOUT
    );
    assert_eq!(
        p.pipelines["nightly_backup"].triggers[0].value,
        Trigger::Schedule {
            cron: "0 0 * * *".into(),
            timezone: None,
            catch_up: true,
        }
    );
    let StageAction::Http(http) = &p.pipelines["deploy_prod"].stages["smoke_test"].action else {
        panic!("smoke_test is http")
    };
    assert_eq!(
        (http.expect_status, http.retries, http.interval.as_secs()),
        (Some(200), 5, 2)
    );
    assert_eq!(p.configs["app_config"].mode, Some(0o644));
    assert_eq!(p.configs["app_config"].validate, Validator::Json);
    assert_eq!(
        p.configs["myapp_unit"].path.as_deref().map(String::as_str),
        Some("/etc/systemd/system/myapp.service")
    );
    assert_eq!(
        p.configs["eth1"].path.as_deref().map(String::as_str),
        Some("/etc/network/interfaces.d/eth1")
    );
    let ConfigSource::Vars(vars) = &p.configs["env_vars"].source else {
        panic!("env vars")
    };
    assert_eq!(vars["PORT"].value, "8080");
    assert_eq!(
        p.resources["app_user"].attrs["uid"].value,
        serde_json::json!(1001)
    );
    assert_eq!(
        p.resources["web_dir"].node.as_deref().map(String::as_str),
        Some("web01")
    );
    assert_eq!(p.monitoring.retention.as_secs(), 7 * 86_400);
    assert_eq!(p.checks["api_up"].interval.as_secs(), 30);
    assert_eq!(p.alerts["high_cpu"].for_.as_secs(), 300);
    assert!(matches!(
        p.alerts["api_down"].condition,
        AlertCondition::Check(_)
    ));
    assert!(matches!(
        p.notifications["chat"].channel,
        Channel::Webhook(_)
    ));
    assert_eq!(p.server.tokens["ci"].role, TokenRole::Operator);
}

#[test]
fn unknown_key_points_at_it_with_a_suggestion() {
    let (out, n) = errors(
        "pipelines:\n  ci:\n    stages:\n      lint: { run: echo }\n      test: { run: echo, neds: [lint] }\n",
        &[],
    );
    assert_eq!(n, 1, "{out}");
    assert_has(&out, "unknown key `neds` in stage `test`");
    assert_has(&out, "baton.yaml:5:26");
    assert_has(&out, "did you mean `needs`?");
}

#[test]
fn unknown_key_far_from_any_lists_the_keys() {
    let (out, _) = errors(
        "pipelines:\n  ci:\n    stages:\n      a: { run: echo, zzzzzz: 1 }\n",
        &[],
    );
    assert_has(&out, "expected one of: run, http, steps");
}

#[test]
fn several_errors_are_reported_at_once() {
    let text = "\
pipelines:
  ci:
    stages:
      a: { run: echo, timeout: soon }
      b: { run: echo, needs: [a], retries: many }
      c: { needs: [a] }
nodes:
  local: { host: 1.2.3.4 }
";
    let (out, n) = errors(text, &[]);
    assert_eq!(n, 4, "{out}");
    assert_has(&out, "baton.yaml:4:32");
    assert_has(&out, "invalid duration");
    assert_has(&out, "baton.yaml:5:44");
    assert_has(&out, "stage `c` does nothing");
    assert_has(&out, "node `local` cannot have `host`");
}

#[test]
fn a_needs_cycle_is_named() {
    let text = "\
pipelines:
  ci:
    stages:
      a: { run: echo, needs: [c] }
      b: { run: echo, needs: [a] }
      c: { run: echo, needs: [b] }
      d: { run: echo, needs: [d] }
";
    let (out, _) = errors(text, &[]);
    assert_has(&out, "cycle in `needs`: a → c → b → a");
    assert_has(&out, "stage `d` needs itself");
}

#[test]
fn unknown_needs_suggests_a_stage() {
    let (out, _) = errors(
        "pipelines:\n  ci:\n    stages:\n      build: { run: echo }\n      test: { run: echo, needs: [biuld] }\n",
        &[],
    );
    assert_has(&out, "no stage `biuld` in pipeline `ci`");
    assert_has(&out, "baton.yaml:5:34");
    assert_has(&out, "did you mean `build`?");
}

#[test]
fn duplicate_names_across_includes_name_both_files() {
    let main = "include: [\"ci/*.yaml\"]\npipelines:\n  ci: { stages: { a: { run: echo } } }\n";
    let other = "pipelines:\n  ci: { stages: { b: { run: echo } } }\n";
    let (out, n) = errors(main, &[("ci/more.yaml", other)]);
    assert_eq!(n, 1, "{out}");
    assert_has(&out, "pipeline `ci` is defined twice");
    assert_has(&out, "more.yaml:2:3");
    assert_has(&out, "baton.yaml:3:3");
    assert_has(&out, "first defined here");
}

#[test]
fn includes_merge_sections() {
    let main = "include: [extra.yaml]\npipelines:\n  ci: { stages: { a: { run: echo } } }\n";
    let other = "pipelines:\n  cd: { stages: { b: { run: echo } }, notify: { on_failure: [chat] } }\nnotifications:\n  chat: { webhook: \"https://x\" }\n";
    let p = project(main, &[("extra.yaml", other)]);
    let loaded = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert_eq!(loaded.pipelines.len(), 2);
    assert!(loaded.notifications.contains_key("chat"));
}

#[test]
fn an_include_matching_nothing_is_an_error() {
    let (out, _) = errors("include: [nothing/*.yaml]\n", &[]);
    assert_has(&out, "include `nothing/*.yaml` matches no file");
    assert_has(&out, "baton.yaml:1:11");
}

#[test]
fn bad_duration_cron_and_selector() {
    let text = "\
pipelines:
  ci:
    triggers: [{ schedule: \"61 * * * *\" }]
    stages:
      a: { run: echo, timeout: 5 minutes }
      b: { run: echo, targets: \"role:web,,db\" }
";
    let (out, n) = errors(text, &[]);
    assert_eq!(n, 3, "{out}");
    assert_has(&out, "baton.yaml:3:28");
    assert_has(&out, "invalid cron expression `61 * * * *`");
    assert_has(&out, "baton.yaml:5:32");
    assert_has(&out, "invalid duration");
    assert_has(&out, "baton.yaml:6:32");
    assert_has(&out, "invalid selector");
}

#[test]
fn malformed_yaml_is_located() {
    let (out, _) = errors("pipelines:\n  ci: { stages: [a, \n", &[]);
    assert_has(&out, "invalid YAML");
    assert_has(&out, "baton.yaml:3:1");
}

#[test]
fn duplicate_keys_are_errors() {
    let (out, _) = errors(
        "pipelines:\n  ci:\n    stages: { a: { run: echo } }\n  ci:\n    stages: {}\n",
        &[],
    );
    assert_has(&out, "duplicate key `ci`");
    assert_has(&out, "baton.yaml:4:3");
    assert_has(&out, "baton.yaml:2:3");
}

#[test]
fn billion_laughs_is_rejected() {
    let mut text =
        String::from("vars:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let (out, _) = errors(&text, &[]);
    assert_has(&out, "more than 100000");
}

#[test]
fn bad_templates_are_reported_at_the_string() {
    let (out, _) = errors(
        "pipelines:\n  ci:\n    stages:\n      a: { run: \"echo {{ oops \" }\n",
        &[],
    );
    assert_has(&out, "invalid template");
    assert_has(&out, "baton.yaml:4:17");
}

#[test]
fn references_to_missing_things_are_errors() {
    let text = "\
nodes:
  web01: { host: 127.0.0.2, roles: [web] }
environments:
  prod: { promote_from: [dve], gate: [nope] }
pipelines:
  ci:
    env: prdo
    notify: { on_failure: [mail] }
    stages:
      a: { run: echo, targets: \"role:wbe,web02,db*\" }
      b:
        steps:
          - config: app
          - notify: { channels: [chat] }
          - promote: { artifact: x, to: staging }
resources:
  a: { type: file, path: \"{{ resources.b.path }}\", node: web02 }
  b: { type: file, path: /x, depends_on: [a, c] }
alerts:
  down: { check: api, notify: [mail] }
";
    let (out, _) = errors(text, &[]);
    for needle in [
        "no environment `dve`",
        "no pipeline `nope`",
        "no environment `prdo`",
        "did you mean `prod`?",
        "no notification `mail`",
        "no role `wbe`",
        "no node `web02`",
        "glob `db*` matches no node",
        "no config `app`",
        "no notification `chat`",
        "no environment `staging`",
        "no resource `c`",
        "cycle among resources: a → b → a",
        "no check `api`",
    ] {
        assert_has(&out, needle);
    }
}

#[test]
fn with_an_inventory_file_selectors_are_checked_against_its_hosts() {
    let main = "inventory: hosts.ini\npipelines:\n  ci: { stages: { a: { run: echo, targets: \"role:db,web09\" } } }\n";
    let p = project(main, &[("hosts.ini", "[db]\ndb01\n[web]\nweb[01:09]\n")]);
    let project = load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert_eq!(project.nodes.len(), 10);
    let (out, n) = errors(main, &[("hosts.ini", "[db]\ndb01\n[web]\nweb[01:08]\n")]);
    assert_has(&out, "no node `web09`");
    assert_eq!(n, 1, "{out}");
}

#[test]
fn the_starter_project_loads() {
    load_ok(starter::STARTER_YAML);
}

#[test]
fn stage_and_step_shapes_are_checked() {
    let text = "\
pipelines:
  ci:
    triggers: [manaul]
    stages:
      both: { run: echo, steps: [] }
      a:
        steps:
          - { run: echo, config: x }
          - upload: { src: a.txt }
          - deploy: x
          - infra: destroy
          - upload: { src: a, dest: /b, mode: \"0999\" }
";
    let (out, n) = errors(text, &[]);
    for needle in [
        "unknown trigger `manaul`",
        "did you mean `manual`?",
        "stage `both` has both `run` and `steps`",
        "a step has exactly one key",
        "an `upload` step needs `dest`",
        "unknown step kind `deploy`",
        "unknown value `destroy`",
        "not an octal file mode",
    ] {
        assert_has(&out, needle);
    }
    assert_eq!(n, 7, "{out}");
}

#[test]
fn config_shapes_are_checked() {
    let text = "\
configs:
  a: { type: file, content: x }
  b: { type: env, path: /x.env, vars: { lower: x } }
  c: { type: service, content: x }
  d: { type: file, path: /d, content: x, template: t.j2 }
  e: { type: socket, path: /e, content: x }
";
    let (out, _) = errors(text, &[]);
    for needle in [
        "config `a` needs `path`",
        "`lower` is not an environment variable name",
        "config `c` needs `name`",
        "config `d` has both `template` and `content`",
        "unknown value `socket`",
    ] {
        assert_has(&out, needle);
    }
}

#[test]
fn problems_are_listed_in_file_order() {
    let text = "\
nodes:
  web01: { host: h, port: big }
pipelines:
  ci:
    stages:
      a: { run: echo, timeout: never }
";
    let (out, _) = errors(text, &[]);
    let first = out.find("baton.yaml:2:").expect("node error");
    let second = out.find("baton.yaml:6:").expect("stage error");
    assert!(first < second, "{out}");
}
