//! `node.facts` in templates: gathered from the node itself (over SSH) when a stage's command
//! or a config reads them, once per node and run; a project that never reads them is never
//! probed for them.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::nodes::TestNodes;

/// What `uname -n` and `getconf` say here: the sshd nodes run on this machine.
fn local(cmd: &[&str]) -> String {
    let out = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn stage_commands_and_configs_read_the_facts_of_their_node() {
    let nodes = TestNodes::start(2);
    for i in 0..2 {
        std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
    }
    let p = Project::new(&format!(
        "{}{}",
        nodes.baton_yaml(),
        r#"
configs:
  motd:
    targets: all
    path: "{{ node.vars.dir }}/motd"
    content: "{{ node.name }} runs {{ node.facts.kernel }} on {{ node.facts.cpus }} cpus\n"
pipelines:
  info:
    stages:
      facts:
        targets: all
        run:
          - "echo first {{ node.name }} {{ node.facts.hostname }} {{ node.facts.cpus }} {{ node.facts.memory_available_bytes }}"
          - "echo second {{ node.name }} {{ node.facts.memory_available_bytes }}"
          - "echo os={{ node.facts.os }} mem={{ node.facts.memory_mb }}"
"#
    ));
    let run = p.baton(&["run", "info"]);
    let log = p.baton(&["logs", "1"]).stdout;
    let hostname = local(&["uname", "-n"]);
    let cpus = local(&["getconf", "_NPROCESSORS_ONLN"]);
    for node in ["node01", "node02"] {
        let first = log
            .lines()
            .find(|l| l.contains(&format!("first {node} ")))
            .unwrap_or_else(|| panic!("no first line of {node}:\n{log}\n{}", run.stdout));
        assert!(
            first.contains(&format!("{node} {hostname} {cpus} ")),
            "{first}"
        );
        let available = first.rsplit(' ').next().unwrap();
        assert!(available.parse::<u64>().unwrap() > 0, "{first}");
        // Gathered once for the run: every step sees the same sample.
        assert!(
            log.contains(&format!("second {node} {available}")),
            "facts were probed again:\n{log}"
        );
    }
    assert!(!log.contains("os= "), "{log}");
    assert!(!log.contains("mem=0"), "{log}");

    p.baton(&["config", "apply", "motd"]);
    let kernel = local(&["uname", "-r"]);
    for i in 0..2 {
        let motd = std::fs::read_to_string(nodes.node_dir(i).join("motd")).unwrap();
        assert_eq!(
            motd,
            format!("node0{} runs {kernel} on {cpus} cpus\n", i + 1)
        );
    }
}

#[test]
fn a_node_whose_facts_cannot_be_gathered_fails_its_step_and_writes_no_config() {
    let mut nodes = TestNodes::start(2);
    for i in 0..2 {
        std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
    }
    nodes.stop(1);
    let p = Project::new(&format!(
        "{}{}",
        nodes.baton_yaml(),
        r#"
configs:
  motd:
    targets: all
    path: "{{ node.vars.dir }}/motd"
    content: "{{ node.facts.kernel }}\n"
pipelines:
  info:
    stages:
      facts: { targets: all, run: "echo {{ node.facts.kernel }}" }
"#
    ));
    let run = p.baton(&["run", "info"]);
    run.code(1);
    let detail = p.show(1);
    let steps = detail["stages"][0]["steps"].as_array().unwrap();
    let failed = steps
        .iter()
        .find(|s| s["target"] == "node02")
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("node.facts of `node02`"),
        "{detail}\n{}",
        run.stdout
    );
    p.baton(&["config", "apply", "motd"])
        .code(2)
        .stderr_has("node.facts");
    assert!(!nodes.node_dir(0).join("motd").exists());
}
