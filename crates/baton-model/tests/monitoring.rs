//! The monitoring sections (SPEC §5): metrics, check kinds, alert keys and their defaults, and
//! the problems reported with their place.

mod common;

use std::time::Duration;

use baton_model::*;
use common::project;

const NODES: &str =
    "nodes:\n  web1: { host: 10.0.0.1, roles: [web] }\n  db1: { host: 10.0.0.2, roles: [db] }\n";

fn load_ok(text: &str) -> Project {
    let p = project(&format!("{NODES}{text}"), &[]);
    load(&p.main).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn errors(text: &str) -> String {
    let p = project(&format!("{NODES}{text}"), &[]);
    match load(&p.main) {
        Ok(_) => panic!("expected diagnostics for:\n{text}"),
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
fn every_metric_check_kind_and_alert_key_decodes() {
    let p = load_ok(
        r#"
monitoring: { interval: 5s, retention: 2d, targets: "role:db,local" }
checks:
  api: { targets: role:web, http: { url: "http://{{ node.host }}:8000/", expect_status: 204, expect_body_contains: ok }, timeout: 3s }
  pg: { targets: role:db, tcp: "{{ node.host }}:5432", interval: 1m }
  disk_ok: { targets: all, command: "test -w /tmp" }
notifications:
  ops: { webhook: "http://127.0.0.1:9/hook" }
alerts:
  cpu: { metric: cpu, above: 80, for: 5m, notify: [ops], repeat: 1h, severity: critical }
  load: { metric: load, above: 4 }
  load15: { metric: load15, above: 2, below: 0.01 }
  var: { metric: "disk:/var/lib/", above: 90, severity: info }
  root: { metric: disk, above: 95, targets: web1 }
  down: { metric: up }
  api_down: { check: api, notify: [ops] }
"#,
    );
    assert_eq!(p.monitoring.interval, Duration::from_secs(5));
    assert_eq!(
        p.monitoring.targets.as_ref().unwrap().source,
        "role:db,local"
    );
    let kinds: Vec<&str> = p.checks.values().map(|c| c.probe.kind()).collect();
    assert_eq!(kinds, ["http", "tcp", "command"]);
    assert_eq!(p.checks["api"].timeout, Duration::from_secs(3));
    assert_eq!(
        p.checks["api"].interval,
        Duration::from_secs(5),
        "the monitoring interval"
    );
    assert_eq!(p.checks["pg"].timeout, DEFAULT_CHECK_TIMEOUT);

    let metric = |name: &str| match &p.alerts[name].condition {
        AlertCondition::Metric { metric, .. } => metric.clone(),
        AlertCondition::Check(_) => panic!("{name} is a metric alert"),
    };
    assert_eq!(metric("load"), Metric::Load1, "`load` is load1");
    assert_eq!(metric("load15"), Metric::Load15);
    assert_eq!(metric("var"), Metric::Disk("/var/lib".into()));
    assert_eq!(metric("var").name(), "disk:/var/lib");
    assert_eq!(metric("root").name(), "disk");
    let cpu = &p.alerts["cpu"];
    assert_eq!(cpu.severity, Severity::Critical);
    assert_eq!(cpu.repeat, Some(Duration::from_secs(3600)));
    assert_eq!(cpu.for_, Duration::from_secs(300));
    assert_eq!(cpu.condition.describe(), "cpu above 80");
    let load = &p.alerts["load"];
    assert_eq!(
        (load.severity, load.repeat, load.for_),
        (Severity::Warning, None, Duration::ZERO)
    );
    assert_eq!(
        p.alerts["load15"].condition.describe(),
        "load15 above 2 or load15 below 0.01"
    );
    assert_eq!(p.alerts["down"].condition.describe(), "up below 1");
    assert_eq!(p.alerts["api_down"].condition.describe(), "check api fails");
}

#[test]
fn unknown_metrics_checks_and_channels_are_located_with_a_suggestion() {
    let out = errors(
        r#"
checks:
  api_up: { targets: role:web, http: "http://{{ node.host }}/" }
notifications:
  ops_mail: { webhook: "http://127.0.0.1:9/hook" }
alerts:
  a: { metric: cpux, above: 1 }
  b: { metric: "disk:var", above: 1 }
  c: { check: api_upp }
  d: { metric: memory, above: 90, notify: [ops_mial] }
  e: { metric: cpu }
  f: { check: api_up, above: 3 }
"#,
    );
    assert_has(&out, "unknown metric `cpux`");
    assert_has(&out, "baton.yaml:10:16");
    assert_has(&out, "did you mean `cpu`?");
    assert_has(&out, "unknown metric `disk:var`");
    assert_has(&out, "`disk:` takes an absolute mount point");
    assert_has(&out, "no check `api_upp` (alert `c`)");
    assert_has(&out, "did you mean `api_up`?");
    assert_has(&out, "no notification `ops_mial` (alert `d`)");
    assert_has(&out, "did you mean `ops_mail`?");
    assert_has(&out, "alert `e` needs `above` or `below`");
    assert_has(&out, "`above` goes with `metric`, not `check`");
}

#[test]
fn a_checks_alert_watches_only_nodes_the_check_targets() {
    let out = errors(
        r#"
checks:
  api_up: { targets: role:web, http: "http://{{ node.host }}/" }
alerts:
  g: { check: api_up, targets: "web1,db1" }
"#,
    );
    assert_has(
        &out,
        "alert `g` watches node `db1`, which check `api_up` does not target",
    );
    assert_has(&out, "baton.yaml:8:32");
}

#[test]
fn check_and_monitoring_mistakes_are_reported() {
    let out = errors(
        r#"
monitoring: { interval: 0s, targets: role:nope }
checks:
  two: { http: "http://x/", tcp: "x:1" }
  none: { targets: web1 }
  fast: { command: "true", interval: 0s }
alerts:
  s: { metric: up, severity: urgent }
"#,
    );
    assert_has(&out, "`monitoring.interval` must be more than 0");
    assert_has(&out, "no role `nope` on any node");
    assert_has(
        &out,
        "check `two` needs exactly one of `http`, `tcp` and `command`",
    );
    assert_has(&out, "check `none` needs exactly one of");
    assert_has(&out, "the `interval` of check `fast` must be more than 0");
    assert_has(&out, "unknown value `urgent`");
}
