//! `baton serve` runs the monitor: alert transitions reach `/api/events`, `GET /api/alerts`
//! lists them, `GET /api/nodes/NAME/metrics` serves the stored series, and a `baton monitor`
//! beside the server is refused (one monitor per store).

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::server::{TOKEN, TestServer};

#[test]
fn the_server_monitors_and_streams_alert_changes() {
    let p = Project::new(
        r#"
monitoring: { interval: 1s, targets: local }
checks:
  marker: { targets: local, command: "test ! -f down", interval: 1s }
alerts:
  marker_down: { check: marker, severity: critical }
"#,
    );
    let s = TestServer::start(&p);
    let mut events = s.events(&[]);
    std::fs::write(p.path().join("down"), "").unwrap();
    let fired = events.until(|e| e.event == "alert" && e.json()["state"] == "firing");
    let firing = fired.last().unwrap().json();
    assert_eq!(firing["alert"], "marker_down", "{firing}");
    assert_eq!(firing["node"], "local");
    assert_eq!(firing["severity"], "critical");
    assert!(firing["seq"].as_i64().unwrap() > 0);

    let alerts = s.get("/api/alerts", Some(TOKEN));
    alerts.status(200);
    let alerts = alerts.json();
    let active = alerts["active"].as_array().unwrap();
    assert!(
        active
            .iter()
            .any(|a| a["alert"] == "marker_down" && a["state"] == "firing"),
        "{alerts}"
    );

    std::fs::remove_file(p.path().join("down")).unwrap();
    events.until(|e| e.event == "alert" && e.json()["state"] == "resolved");
    let history = s.get("/api/alerts?all=true", Some(TOKEN)).json();
    assert!(
        history["history"].as_array().is_some_and(|h| h.len() >= 2),
        "{history}"
    );

    // The collector's samples of `local`, at raw resolution for the last minute (`up` is in
    // every round; `cpu` needs two).
    let metrics = s.get("/api/nodes/local/metrics?metric=up&since=1m", Some(TOKEN));
    metrics.status(200);
    let metrics = metrics.json();
    assert_eq!(metrics["node"], "local");
    assert_eq!(metrics["series"][0]["metric"], "up", "{metrics}");
    assert!(
        !metrics["series"][0]["points"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{metrics}"
    );
    s.get("/api/nodes/nope/metrics", Some(TOKEN))
        .error(404, "not_found");
    s.get("/api/nodes/local/metrics?since=soon", Some(TOKEN))
        .error(400, "bad_request");
    s.get("/api/alerts", None).status(401);

    // One monitor per store: the server's.
    p.baton(&["monitor"])
        .code(1)
        .stderr_has("another monitor uses this store");
}
