//! Pipelines through the real binary: DAG, statuses, retries, rollback, artifacts, reports.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;

#[test]
fn independent_stages_run_in_parallel_and_needs_order_the_rest() {
    // a and b each wait for the other's marker: they can only both finish if run at once.
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "touch a.started; while [ ! -f b.started ]; do sleep 0.01; done", timeout: 20s }
      b: { run: "touch b.started; while [ ! -f a.started ]; do sleep 0.01; done", timeout: 20s }
      c: { needs: [a, b], run: "test -f a.started && test -f b.started && echo joined" }
"#,
    );
    p.baton(&["run", "p"]).code(0).stdout_has("c");
    assert_eq!(p.stage_status(1, "c"), "success");
    p.baton(&["logs", "1", "--stage", "c"])
        .code(0)
        .stdout_has("joined");
}

#[test]
fn a_failure_skips_dependents_and_fail_fast_stops_new_stages() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      bad: { run: "echo boom >&2; exit 7" }
      after_bad: { needs: [bad], run: "touch after_bad.ran" }
      slow: { run: "true" }
      after_slow: { needs: [slow], run: "touch after_slow.ran" }
"#,
    );
    let run = p.baton(&["run", "p"]);
    run.code(1).stdout_has("exit code 7").stdout_has("boom");
    assert_eq!(p.stage_status(1, "bad"), "failed");
    assert_eq!(p.stage_status(1, "after_bad"), "skipped");
    assert!(!p.file("after_bad.ran").exists());
    let report = p.show(1);
    assert_eq!(report["run"]["status"], "failed");
    assert_eq!(report["failed_stages"], serde_json::json!(["bad"]));
}

#[test]
fn without_fail_fast_independent_branches_continue() {
    let p = Project::new(
        r#"
pipelines:
  p:
    fail_fast: false
    stages:
      bad: { run: "exit 1" }
      slow: { run: "sleep 0.2" }
      after_slow: { needs: [slow], run: "touch after_slow.ran" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    assert!(p.file("after_slow.ran").exists());
    assert_eq!(p.stage_status(1, "after_slow"), "success");
}

#[test]
fn failure_and_always_stages_run_after_a_failure_and_fail_fast_spares_them() {
    // `deploy` fails while `lint` (independent) is still running: fail_fast skips `package`,
    // which has an implicit success(); `cleanup` (failure()) and `report` (always()) run,
    // `celebrate` (success()) does not; the run stays failed.
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      build: { run: "true" }
      deploy: { needs: [build], run: "exit 4" }
      lint: { run: "while [ ! -f cleanup.ran ]; do sleep 0.01; done", timeout: 20s }
      package: { needs: [lint], run: "touch package.ran" }
      cleanup: { needs: [deploy], if: "{{ failure() }}", run: "touch cleanup.ran" }
      report: { needs: [cleanup], if: "{{ always() }}", run: "touch report.ran" }
      celebrate: { needs: [deploy], if: "{{ success() }}", run: "touch celebrate.ran" }
      transitive: { needs: [report], if: "{{ failure() }}", run: "touch transitive.ran" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    assert_eq!(p.stage_status(1, "deploy"), "failed");
    assert_eq!(p.stage_status(1, "cleanup"), "success");
    assert!(p.file("cleanup.ran").exists());
    assert_eq!(p.stage_status(1, "report"), "success");
    assert_eq!(p.stage_status(1, "celebrate"), "skipped");
    assert!(!p.file("celebrate.ran").exists());
    assert_eq!(p.stage_status(1, "package"), "skipped");
    // failure() looks at every stage needed on the way: deploy failed two hops up.
    assert_eq!(p.stage_status(1, "transitive"), "success");
    assert_eq!(p.show(1)["run"]["status"], "failed");
}

#[test]
fn failure_stages_are_skipped_when_everything_succeeded() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      deploy: { run: "true" }
      cleanup: { needs: [deploy], if: "{{ failure() }}", run: "touch cleanup.ran" }
      report: { needs: [deploy], if: "{{ always() }}", run: "touch report.ran" }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    assert_eq!(p.stage_status(1, "cleanup"), "skipped");
    assert!(!p.file("cleanup.ran").exists());
    assert!(p.file("report.ran").exists());
}

#[test]
fn failure_without_needs_is_a_validate_error() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      cleanup: { if: "{{ failure() }}", run: "true" }
"#,
    );
    p.baton(&["validate"])
        .code(2)
        .stderr_has("`failure()` is never true for a stage that needs nothing")
        .stderr_has("baton.yaml:5:22");
}

#[test]
fn if_retries_and_continue_on_error() {
    let p = Project::new(
        r#"
vars: { deploy: false }
pipelines:
  p:
    stages:
      gated: { if: "{{ vars.deploy }}", run: "touch gated.ran" }
      flaky: { retries: 2, run: "echo x >> tries; test $(wc -l < tries) -ge 3" }
      optional: { continue_on_error: true, run: "exit 3" }
      last: { needs: [flaky, optional], run: "touch last.ran" }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    assert_eq!(p.stage_status(1, "gated"), "skipped");
    assert!(!p.file("gated.ran").exists());
    assert_eq!(
        std::fs::read_to_string(p.file("tries"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert_eq!(p.stage_status(1, "optional"), "failed");
    assert!(p.file("last.ran").exists());
    // --var overrides vars, so the gate opens.
    p.baton(&["run", "p", "--var", "deploy=true"]).code(0);
    assert!(p.file("gated.ran").exists());
}

#[test]
fn every_command_gets_the_baton_variables_and_stage_env() {
    let p = Project::new(
        r#"
environments: { dev: { vars: { region: eu } } }
pipelines:
  p:
    env: dev
    stages:
      show:
        env: { GREETING: "hi {{ env.vars.region }}" }
        run: 'echo "$BATON_RUN_ID $BATON_PIPELINE $BATON_STAGE $BATON_ENV $BATON_TRIGGER $BATON_NODE $GREETING"; test -d "$BATON_WORKSPACE"'
"#,
    );
    p.baton(&["run", "p"]).code(0);
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("1 p show dev manual local hi eu");
}

#[test]
fn rollback_runs_for_succeeded_stages_in_reverse_completion_order() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      one: { run: "true", rollback: "echo one >> undo.log" }
      two: { needs: [one], run: "true", rollback: "echo two >> undo.log" }
      three: { needs: [two], run: "exit 1", rollback: "echo three >> undo.log" }
"#,
    );
    p.baton(&["run", "p"])
        .code(1)
        .stdout_has("rolling back two, one");
    assert_eq!(
        std::fs::read_to_string(p.file("undo.log")).unwrap(),
        "two\none\n"
    );
    // Its automatic rollback already ran: rolling it back again is refused (nothing runs)…
    std::fs::remove_file(p.file("undo.log")).unwrap();
    p.baton(&["rollback", "1"])
        .code(1)
        .stderr_has("its automatic rollback already ran (stage `two`, `one`)");
    assert!(!p.file("undo.log").exists());
    // …unless forced: on demand, on a finished run, recorded as a new run linked to it.
    p.baton(&["rollback", "1", "--force"]).code(0);
    assert_eq!(
        std::fs::read_to_string(p.file("undo.log")).unwrap(),
        "two\none\n"
    );
    assert_eq!(p.show(2)["run"]["trigger"], "rollback");
    assert_eq!(p.show(2)["run"]["rollback_of"], 1);
}

#[test]
fn retry_reruns_failed_stages_and_reuses_successes() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      build: { run: "echo built >> build.log" }
      test: { needs: [build], run: "test -f fixed" }
      ship: { needs: [test], run: "touch shipped" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    p.write("fixed", "");
    p.baton(&["retry", "1"]).code(0);
    assert_eq!(
        std::fs::read_to_string(p.file("build.log"))
            .unwrap()
            .lines()
            .count(),
        1,
        "build re-ran"
    );
    assert!(p.file("shipped").exists());
    let report = p.show(2);
    assert_eq!(report["run"]["retry_of"], 1);
    let build = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "build")
        .unwrap()
        .clone();
    assert_eq!(build["reused_from"], 1);
    p.baton(&["retry", "2"])
        .code(2)
        .stderr_has("nothing to retry");
}

#[test]
fn artifacts_are_stored_by_content_and_listed() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      build: { run: "mkdir -p out && echo payload > out/app.bin", artifacts: ["out/*.bin"] }
      deploy:
        needs: [build]
        steps:
          - upload: { artifact: app.bin, dest: deployed/app.bin, mode: "0600" }
          - run: "grep -q payload deployed/app.bin"
"#,
    );
    p.baton(&["run", "p"]).code(0);
    let list = p.baton(&["artifact", "list", "--json"]).code(0).json();
    let artifact = &list.as_array().unwrap()[0];
    assert_eq!(artifact["name"], "app.bin");
    assert_eq!(artifact["version"], 1);
    let sha = artifact["sha256"].as_str().unwrap();
    let blob = p.file(&format!(".baton/artifacts/{}/{sha}", &sha[..2]));
    assert_eq!(std::fs::read_to_string(blob).unwrap(), "payload\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.file("deployed/app.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_artifact_glob_matching_nothing_fails_the_stage() {
    let p = Project::new(
        "pipelines: { p: { stages: { build: { run: 'true', artifacts: [missing.tgz] } } } }\n",
    );
    p.baton(&["run", "p"]).code(1).stdout_has("matched no file");
}

#[test]
fn junit_and_text_reports() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      ok: { run: "true" }
      bad: { needs: [ok], run: "exit 2" }
      never: { needs: [bad], run: "true" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    let xml = p
        .baton(&["show", "1", "--format", "junit"])
        .code(0)
        .stdout
        .clone();
    assert!(
        xml.contains(r#"<testsuite name="p" id="1" tests="3" failures="1" skipped="1""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure message="exit code 2" type="failed"/>"#),
        "{xml}"
    );
    p.baton(&["show", "1"])
        .code(0)
        .stdout_has("failed stages: bad");
    let runs = p.baton(&["runs", "--json"]).code(0).json();
    assert_eq!(runs[0]["status"], "failed");
    let pipelines = p.baton(&["pipelines", "--json"]).code(0).json();
    assert_eq!(pipelines[0]["last_run"]["status"], "failed");
}

#[test]
fn unknown_pipeline_environment_and_bad_vars_are_usage_errors() {
    let p = Project::new(
        "environments: { dev: {} }\npipelines: { build: { stages: { a: { run: 'true' } } } }\n",
    );
    p.baton(&["run", "biuld"])
        .code(2)
        .stderr_has("did you mean `build`?");
    p.baton(&["run", "build", "--env", "prod"])
        .code(2)
        .stderr_has("no environment named `prod`");
    p.baton(&["run", "build", "--var", "novalue"])
        .code(2)
        .stderr_has("NAME=VALUE");
    p.baton(&["show", "99"]).code(2).stderr_has("no run 99");
}

#[test]
fn rollback_commands_get_the_stage_env() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { env: { FOO: bar }, run: "true", rollback: 'echo "rollback FOO=${FOO:-unset}" > rollback.out' }
      b: { needs: [a], run: "false" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    assert_eq!(
        std::fs::read_to_string(p.file("rollback.out")).unwrap(),
        "rollback FOO=bar\n"
    );
}

#[test]
fn branch_and_commit_come_from_the_git_checkout() {
    let p = Project::new(
        "pipelines: { p: { stages: { a: { run: 'echo \"$BATON_BRANCH $BATON_COMMIT\"' } } } }\n",
    );
    p.git(&["init", "-q", "-b", "trunk"]);
    p.git(&["add", "baton.yaml"]);
    p.git(&["commit", "-q", "-m", "init"]);
    let head = p.git(&["rev-parse", "HEAD"]);
    p.baton(&["run", "p"]).code(0);
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has(&format!("trunk {head}"));
    assert_eq!(p.show(1)["run"]["commit"], head.as_str());
}

#[test]
fn shell_length_expansions_are_not_mistaken_for_templates() {
    let p = Project::new(
        r#"
vars: { word: baton }
pipelines:
  p:
    stages:
      count: { run: 'w={{ vars.word }}; echo "${#w} letters in $w"' }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("5 letters in baton");
}

#[test]
fn logs_follow_prints_new_output_until_the_run_ends() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      slow: { run: "echo first; touch started; while [ ! -f release ]; do sleep 0.02; done; echo second" }
"#,
    );
    let run = p.spawn(&["run", "p"]);
    common::wait_for(
        "the stage to start",
        std::time::Duration::from_secs(20),
        || p.file("started").exists(),
    );
    // `-f` after `logs` is --follow (elsewhere it is --file).
    let follower = p.spawn(&["logs", "1", "-f"]);
    p.write("release", "");
    assert!(run.wait_with_output().unwrap().status.success());
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("first\nsecond\n"), "{text}");
}

#[test]
fn the_local_node_carries_roles_labels_and_vars() {
    let p = Project::new(
        r#"
nodes:
  local: { roles: [control], labels: { zone: here }, vars: { greeting: hello } }
pipelines:
  p:
    stages:
      s:
        targets: "role:control&label:zone=here"
        run: "echo {{ node.name }} says {{ node.vars.greeting }} as {{ node.roles[0] }}"
"#,
    );
    p.baton(&["run", "p"]).code(0);
    p.baton(&["logs", "1", "--stage", "s"])
        .code(0)
        .stdout_has("local says hello as control");
}

#[test]
fn logs_timestamps_prefix_each_line_with_when_it_arrived() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      s: { run: "echo one; sleep 0.3; echo two; printf 'no newline'" }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    let run = p.baton(&["logs", "1", "--timestamps"]);
    run.code(0);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("──"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let parse = |line: &str| {
        let (stamp, rest) = line.split_once(' ').unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(stamp)
            .unwrap_or_else(|e| panic!("`{stamp}` is not RFC 3339: {e}"));
        (t, rest.to_string())
    };
    let (t1, one) = parse(lines[0]);
    let (t2, two) = parse(lines[1]);
    assert_eq!(one, "one");
    assert_eq!(two, "two");
    assert!((t2 - t1).num_milliseconds() >= 250, "{t1} then {t2}");
    assert!(lines[2].ends_with(" no newline"));
    // Without the flag, the bytes as printed.
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("one\ntwo\nno newline");
}

#[test]
fn named_steps_show_their_name_instead_of_the_command() {
    let p = Project::new(
        r#"
vars: { target: world }
pipelines:
  p:
    stages:
      s:
        steps:
          - name: Greet the world
            run: "echo hello {{ vars.target }}"
          - name: Two commands
            run: ["true", "echo second"]
          - run: "echo unnamed"
"#,
    );
    p.baton(&["run", "p"]).code(0);
    let logs = p.baton(&["logs", "1"]);
    logs.code(0)
        .stdout_has("· Greet the world ──")
        .stdout_has("· Two commands (2/2) ──")
        .stdout_has("· run: echo unnamed ──")
        .stdout_lacks("vars.target");
    let steps = &p.show(1)["stages"][0]["steps"];
    assert_eq!(steps[0]["label"], "Greet the world", "{steps}");
    // `name:` beside two kinds is still an error.
    p.write(
        "baton.yaml",
        "pipelines:\n  p:\n    stages:\n      s:\n        steps:\n          - { name: x, run: a, http: b }\n",
    );
    p.baton(&["validate"])
        .code(2)
        .stderr_has("exactly one key, its kind (and an optional `name:`)");
}
