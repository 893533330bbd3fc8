//! Secrets through the real binary: keygen, set/get/list/rm, injection into stages (local and
//! over SSH), masking in logs and the store, and the refusals.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::nodes::TestNodes;
use common::{Project, Run};

/// A user: a home directory holding `~/.config/baton/identity.txt` once `keygen` ran.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        User {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn identity(&self) -> PathBuf {
        self.home.path().join(".config/baton/identity.txt")
    }

    /// `baton ARGS` as this user (HOME set, no BATON_IDENTITY), `stdin` piped in.
    fn baton(&self, p: &Project, args: &[&str], stdin: &str) -> Run {
        let mut cmd = p.command(args);
        cmd.env("HOME", self.home.path())
            .env_remove("BATON_IDENTITY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("baton starts");
        // baton may refuse before reading stdin (a bad name): a closed pipe is not a failure.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Create the identity; returns the public recipient.
    fn keygen(&self, p: &Project) -> String {
        let out = self.baton(p, &["secret", "keygen"], "");
        out.code(0);
        out.stdout.trim().to_string()
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

fn with_recipients(p: &Project, yaml: &str, recipients: &[&str]) {
    p.write(
        "baton.yaml",
        &format!(
            "secrets: {{ recipients: [{}] }}\n{yaml}",
            recipients.join(", ")
        ),
    );
}

const PIPELINE: &str = r#"
environments: { prod: {} }
pipelines:
  deploy:
    env: prod
    stages:
      show:
        secrets: [DB_PASSWORD]
        run: 'echo "password is $DB_PASSWORD"; test ${#DB_PASSWORD} = 17'
"#;

#[test]
fn set_get_list_rm_round_trip_with_a_generated_identity() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    assert!(public.starts_with("age1"), "{public}");
    let mode = std::fs::metadata(user.identity())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // A second keygen never replaces the key.
    user.baton(&p, &["secret", "keygen"], "")
        .code(1)
        .stderr_has("already exists");
    with_recipients(&p, PIPELINE, &[&public]);

    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        "pa55-w0rd {{ x }}\n",
    )
    .code(0);
    user.baton(
        &p,
        &["secret", "set", "API_TOKEN", "--env", "prod"],
        "tok-987654\n\n",
    )
    .code(0);
    user.baton(&p, &["secret", "get", "DB_PASSWORD", "--env", "prod"], "")
        .code(0);
    let got = user.baton(&p, &["secret", "get", "DB_PASSWORD", "--env", "prod"], "");
    assert_eq!(
        got.stdout, "pa55-w0rd {{ x }}",
        "a single trailing newline is dropped"
    );
    let got = user.baton(&p, &["secret", "get", "API_TOKEN", "--env", "prod"], "");
    assert_eq!(
        got.stdout, "tok-987654\n\n",
        "two trailing newlines are kept"
    );

    // One entry per key, no plaintext.
    let text = std::fs::read_to_string(p.file("secrets/prod.yaml")).unwrap();
    assert!(
        !text.contains("pa55") && !text.contains("tok-987654"),
        "{text}"
    );
    assert_eq!(text.matches("BEGIN AGE ENCRYPTED FILE").count(), 2);
    assert_eq!(text.lines().filter(|l| *l == "DB_PASSWORD:").count(), 1);

    let listed = user
        .baton(&p, &["secret", "list", "--env", "prod", "--json"], "")
        .json();
    assert_eq!(listed[0]["name"], "API_TOKEN");
    assert_eq!(listed[1]["name"], "DB_PASSWORD");
    assert_eq!(listed[1]["recipients"], serde_json::json!([public]));
    assert_eq!(listed[1]["current"], true);
    user.baton(&p, &["secret", "list", "--env", "prod"], "")
        .code(0)
        .stdout_has("DB_PASSWORD");
    // The default environment is a separate file.
    let listed = user.baton(&p, &["secret", "list", "--json"], "").json();
    assert_eq!(listed, serde_json::json!([]));

    user.baton(&p, &["secret", "rm", "API_TOKEN", "--env", "prod"], "")
        .code(0);
    user.baton(&p, &["secret", "get", "API_TOKEN", "--env", "prod"], "")
        .code(2)
        .stderr_has("`API_TOKEN` is not set in environment `prod`");
    user.baton(&p, &["secret", "rm", "DB_PASSWORT", "--env", "prod"], "")
        .code(2)
        .stderr_has("did you mean `DB_PASSWORD`");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let user = User::new();
    let p = Project::new("environments: { prod: {} }\n");
    // No recipients: the fix is named.
    let public = user.keygen(&p);
    user.baton(&p, &["secret", "set", "A_KEY"], "value\n")
        .code(1)
        .stderr_has("no `secrets.recipients`")
        .stderr_has("baton secret keygen");
    with_recipients(&p, "environments: { prod: {} }\n", &[&public]);
    user.baton(&p, &["secret", "set", "lower"], "value\n")
        .code(2)
        .stderr_has("not a valid secret name");
    user.baton(&p, &["secret", "set", "A_KEY", "--env", "prdo"], "value\n")
        .code(2)
        .stderr_has("unknown environment `prdo`")
        .stderr_has("did you mean `prod`");
    user.baton(&p, &["secret", "set", "A_KEY"], "")
        .code(2)
        .stderr_has("empty value");
    assert!(!p.file("secrets").exists(), "nothing was written");
    user.baton(&p, &["secret", "set", "A_KEY"], "abc\n")
        .code(0)
        .stderr_has("will not be masked");
}

#[test]
fn a_wrong_identity_fails_clearly() {
    let (alice, bob) = (User::new(), User::new());
    let p = Project::new("");
    let alice_key = alice.keygen(&p);
    let bob_key = bob.keygen(&p);
    with_recipients(&p, "", &[&alice_key]);
    alice
        .baton(&p, &["secret", "set", "TOKEN"], "s3cret-value")
        .code(0);
    bob.baton(&p, &["secret", "get", "TOKEN"], "")
        .code(1)
        .stderr_has("cannot decrypt secret `TOKEN`")
        .stderr_has(&alice_key)
        .stderr_has(&bob_key);
    // No identity at all: the fix is named.
    let nobody = User::new();
    nobody
        .baton(&p, &["secret", "get", "TOKEN"], "")
        .code(1)
        .stderr_has("baton secret keygen");
    // BATON_IDENTITY points at another identity file.
    let out = {
        let mut cmd = p.command(&["secret", "get", "TOKEN"]);
        cmd.env("HOME", bob.home.path())
            .env("BATON_IDENTITY", alice.identity());
        cmd.output().unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s3cret-value");
}

#[test]
fn a_group_readable_identity_is_refused() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(&p, "", &[&public]);
    user.baton(&p, &["secret", "set", "TOKEN"], "s3cret-value")
        .code(0);
    std::fs::set_permissions(user.identity(), std::fs::Permissions::from_mode(0o640)).unwrap();
    user.baton(&p, &["secret", "get", "TOKEN"], "")
        .code(1)
        .stderr_has("too open")
        .stderr_has("chmod 600");
}

#[test]
fn a_stage_gets_its_secret_and_output_is_masked_everywhere() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(&p, PIPELINE, &[&public]);
    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        "pa55-w0rd {{ x }}",
    )
    .code(0);
    let run = user.baton(&p, &["run", "deploy"], "");
    run.code(0);
    assert!(!run.stdout.contains("pa55"), "{}", run.stdout);
    user.baton(&p, &["logs", "1"], "")
        .code(0)
        .stdout_has("password is ***");
    assert_eq!(
        files_containing(&p.file(".baton"), "pa55-w0rd"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_missing_secret_fails_the_stage_before_anything_runs() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(
        &p,
        r#"
environments: { prod: {} }
pipelines:
  deploy:
    env: prod
    stages:
      first: { run: "touch first.ran" }
      second: { needs: [first], secrets: [NOT_THERE], run: "touch second.ran" }
"#,
        &[&public],
    );
    user.baton(&p, &["run", "deploy"], "").code(1);
    assert!(!p.file("first.ran").exists() && !p.file("second.ran").exists());
    assert_eq!(p.stage_status(1, "second"), "failed");
    let report = p.show(1);
    let reason = report["run"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("`NOT_THERE`")
            && reason.contains("`prod`")
            && reason.contains("baton secret set NOT_THERE --env prod"),
        "{report}"
    );
}

#[test]
fn a_secret_reaches_a_command_on_an_ssh_node_and_is_masked() {
    let nodes = TestNodes::start(1);
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    let yaml = format!(
        "{}pipelines:\n  remote:\n    stages:\n      use:\n        targets: all\n        secrets: [API_KEY]\n        run: 'echo \"key=$API_KEY on $BATON_NODE\"; test ${{#API_KEY}} = 13'\n",
        nodes.baton_yaml()
    );
    with_recipients(&p, &yaml, &[&public]);
    user.baton(&p, &["secret", "set", "API_KEY"], "it's-a-s3cret\n")
        .code(0);
    user.baton(&p, &["run", "remote"], "").code(0);
    user.baton(&p, &["logs", "1"], "")
        .code(0)
        .stdout_has(&format!("key=*** on {}", nodes.name(0)));
    assert_eq!(
        files_containing(&p.file(".baton"), "s3cret"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn multi_line_secrets_are_masked_line_by_line_and_rollback_gets_them() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(
        &p,
        r#"
pipelines:
  p:
    stages:
      a:
        secrets: [TLS_KEY]
        run: 'printf "%s\n" "$TLS_KEY"'
        rollback: 'printf "rollback sees %s\n" "$TLS_KEY" > rollback.out; echo "undo with $TLS_KEY"'
      b: { needs: [a], run: "false" }
"#,
        &[&public],
    );
    let key =
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----";
    user.baton(&p, &["secret", "set", "TLS_KEY"], &format!("{key}\n"))
        .code(0);
    user.baton(&p, &["run", "p"], "").code(1);
    // The rollback command got the real value...
    assert_eq!(
        std::fs::read_to_string(p.file("rollback.out")).unwrap(),
        format!("rollback sees {key}\n")
    );
    // ...and no line of it reached the logs or the store.
    let logs = user.baton(&p, &["logs", "1"], "");
    logs.code(0).stdout_has("undo with ***");
    for line in key.lines() {
        assert!(!logs.stdout.contains(line), "{line} in\n{}", logs.stdout);
        assert_eq!(
            files_containing(&p.file(".baton"), line),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn derived_forms_of_a_secret_and_values_split_across_chunks_are_masked() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    // Each form printed by a real tool; the last line is longer than the executor's 256 KiB
    // line cap, so it reaches the engine in two chunks with the value across the cut.
    with_recipients(
        &p,
        r#"
pipelines:
  p:
    stages:
      leak:
        secrets: [TOKEN]
        run: |
          printf '%s' "$TOKEN" | base64 -w0; echo
          printf '%s' "$TOKEN" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo
          printf 'user:%s' "$TOKEN" | base64 -w0; echo
          printf '%s' "$TOKEN" | od -An -tx1 | tr -d ' \n'; echo
          python3 -c 'import json,os,urllib.parse; t=os.environ["TOKEN"]; print(urllib.parse.quote(t, safe="")); print(json.dumps(t))'
          python3 -c 'import os; print("x" * (256 * 1024 - 5) + os.environ["TOKEN"] + " end")'
"#,
        &[&public],
    );
    let token = "s3cr3t/t0ken+\"with\" spaces&é";
    user.baton(&p, &["secret", "set", "TOKEN"], &format!("{token}\n"))
        .code(0);
    user.baton(&p, &["run", "p"], "").code(0);
    let logs = user.baton(&p, &["logs", "1"], "");
    logs.code(0);
    let lines: Vec<&str> = logs.stdout.lines().collect();
    let masked = lines.iter().filter(|l| l.contains("***")).count();
    assert!(masked >= 7, "every form masked:\n{}", logs.stdout);
    let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
    for leaked in [
        "s3cr3t",
        hex.as_str(),
        "czNjcjN0",
        "s3cr3t%2F",
        "\\\"with\\\"",
    ] {
        assert!(!logs.stdout.contains(leaked), "{leaked} leaked");
        assert_eq!(
            files_containing(&p.file(".baton"), leaked),
            Vec::<PathBuf>::new(),
            "{leaked} in the store"
        );
    }
    assert!(logs.stdout.contains("*** end"), "the split value is masked");
}

/// A config whose content reads a secret, on two SSH nodes, in environment `prod`; `on_change`
/// prints the line with the secret (it must be masked wherever it is shown).
fn secret_config(nodes: &TestNodes) -> String {
    format!(
        r#"{}environments: {{ prod: {{}} }}
configs:
  app:
    targets: all
    path: "{{{{ node.vars.dir }}}}/app.env"
    secrets: [DB_PASSWORD]
    content: "DB_HOST=db.internal\nDB_PASSWORD={{{{ secrets.DB_PASSWORD }}}}\nNODE={{{{ node.name }}}}\n"
    mode: "0600"
    on_change: 'grep DB_PASSWORD "$BATON_CONFIG_PATH" || true'
"#,
        nodes.baton_yaml()
    )
}

#[test]
fn a_config_secret_is_written_to_nodes_masked_everywhere_and_stored_encrypted() {
    let nodes = TestNodes::start(2);
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(&p, &secret_config(&nodes), &[&public]);
    let (first, second) = ("s3cr3t-Pa55w0rd", "r0tated-Pa55w0rd-2");
    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        first,
    )
    .code(0);
    let files: Vec<PathBuf> = (0..2)
        .map(|i| {
            std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
            nodes.node_dir(i).join("app.env")
        })
        .collect();
    let expected = |value: &str, i: usize| {
        format!(
            "DB_HOST=db.internal\nDB_PASSWORD={value}\nNODE={}\n",
            nodes.name(i)
        )
    };
    let leaks = |out: &Run, values: &[&str]| {
        for v in values {
            assert!(!out.stdout.contains(v), "{v} on stdout:\n{}", out.stdout);
            assert!(!out.stderr.contains(v), "{v} on stderr:\n{}", out.stderr);
        }
    };

    let diff = user.baton(&p, &["config", "diff", "app", "--env", "prod"], "");
    diff.code(3).stdout_has("+DB_PASSWORD=***");
    leaks(&diff, &[first]);
    let diff = user.baton(
        &p,
        &["config", "diff", "app", "--env", "prod", "--json"],
        "",
    );
    assert!(diff.stdout.contains("DB_PASSWORD=***"), "{}", diff.stdout);
    leaks(&diff, &[first]);

    let apply = user.baton(&p, &["config", "apply", "app", "--env", "prod"], "");
    apply.code(0).stdout_has("version 1");
    leaks(&apply, &[first]);
    for (i, file) in files.iter().enumerate() {
        assert_eq!(std::fs::read_to_string(file).unwrap(), expected(first, i));
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // `on_change` printed the line: the run's log, events and reports show it masked.
    let logs = user.baton(&p, &["logs", "1"], "");
    logs.code(0).stdout_has("DB_PASSWORD=***");
    leaks(&logs, &[first]);
    for args in [&["runs", "--json"][..], &["show", "1", "--json"]] {
        let out = user.baton(&p, args, "");
        out.code(0);
        leaks(&out, &[first]);
    }
    let history = user.baton(&p, &["config", "history", "app", "--json"], "");
    assert_eq!(history.json()[0]["encrypted"], true);
    user.baton(&p, &["config", "history", "app"], "")
        .code(0)
        .stdout_has("encrypted");

    // A rotated secret: neither the value the nodes hold nor the new one is shown.
    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        second,
    )
    .code(0);
    let diff = user.baton(&p, &["config", "diff", "app", "--env", "prod"], "");
    diff.code(3)
        .stdout_has("-DB_PASSWORD=***")
        .stdout_has("+DB_PASSWORD=***");
    leaks(&diff, &[first, second]);
    let apply = user.baton(
        &p,
        &["config", "apply", "app", "--env", "prod", "--json"],
        "",
    );
    apply.code(0);
    leaks(&apply, &[first, second]);
    assert_eq!(
        std::fs::read_to_string(&files[1]).unwrap(),
        expected(second, 1)
    );

    // Drift is found from hashes, without the identity.
    let nobody = User::new();
    let drift = |who: &User| {
        let list = who.baton(&p, &["config", "list", "--env", "prod", "--json"], "");
        list.code(0);
        list.json()[0]["versions"][0]["drift"].clone()
    };
    assert_eq!(drift(&nobody), serde_json::json!([]));
    std::fs::write(&files[1], "DB_PASSWORD=changed-by-hand\n").unwrap();
    assert_eq!(drift(&nobody), serde_json::json!([nodes.name(1)]));

    // Rolling back needs the identity, and restores the exact bytes (the first value).
    nobody
        .baton(&p, &["config", "rollback", "app", "--env", "prod"], "")
        .code(1)
        .stderr_has("encrypted")
        .stderr_has("baton secret keygen");
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        expected(second, 0),
        "a refused rollback writes nothing"
    );
    let rollback = user.baton(
        &p,
        &["config", "rollback", "app", "--env", "prod", "--to", "1"],
        "",
    );
    rollback.code(0).stdout_has("version 3");
    leaks(&rollback, &[first, second]);
    for (i, file) in files.iter().enumerate() {
        assert_eq!(std::fs::read(file).unwrap(), expected(first, i).as_bytes());
    }
    // Run 3 is the refused rollback (failed, nothing written); this one is run 4.
    let logs = user.baton(&p, &["logs", "4"], "");
    logs.code(0).stdout_has("DB_PASSWORD=***");
    leaks(&logs, &[first, second]);

    // Not one byte of either value in the store: database, WAL, logs.
    for value in [first, second] {
        assert_eq!(
            files_containing(&p.file(".baton"), value),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn a_missing_secret_or_identity_fails_the_config_and_writes_nothing() {
    let nodes = TestNodes::start(1);
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    with_recipients(&p, &secret_config(&nodes), &[&public]);
    std::fs::create_dir_all(nodes.node_dir(0)).unwrap();
    let file = nodes.node_dir(0).join("app.env");
    // What was there before baton: its stored copy (version 0) is encrypted too.
    let before = "before: ORIGINAL-c0ffee\n";
    std::fs::write(&file, before).unwrap();

    // Not set in `prod`: the config, the secret, where it is named, the environment, the fix.
    for verb in ["apply", "validate"] {
        user.baton(&p, &["config", verb, "app", "--env", "prod"], "")
            .code(2)
            .stderr_has("config `app`")
            .stderr_has("secret `DB_PASSWORD` (baton.yaml:")
            .stderr_has("not set in environment `prod`")
            .stderr_has("baton secret set DB_PASSWORD --env prod");
    }
    // Without `--env`, the `default` environment's secrets, as stages use.
    user.baton(&p, &["config", "diff", "app"], "")
        .code(2)
        .stderr_has("not set in environment `default`");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // Set, but this user has no identity.
    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        "pa55-w0rd-x",
    )
    .code(0);
    User::new()
        .baton(&p, &["config", "apply", "app", "--env", "prod"], "")
        .code(1)
        .stderr_has("config `app`")
        .stderr_has("DB_PASSWORD")
        .stderr_has("baton secret keygen")
        .stderr_has("nothing was written");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let history = user.baton(&p, &["config", "history", "--json"], "");
    assert_eq!(history.json(), serde_json::json!([]));

    // Version 0 comes back byte for byte.
    user.baton(&p, &["config", "apply", "app", "--env", "prod"], "")
        .code(0);
    user.baton(
        &p,
        &["config", "rollback", "app", "--env", "prod", "--to", "0"],
        "",
    )
    .code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    for plaintext in ["pa55-w0rd-x", "ORIGINAL-c0ffee"] {
        assert_eq!(
            files_containing(&p.file(".baton"), plaintext),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn secrets_a_config_does_not_list_are_refused_and_the_pipeline_step_masks_them() {
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    let yaml = |content: &str| {
        format!(
            r#"configs:
  token:
    path: "{}"
    secrets: [API_TOKEN]
    {content}
    on_change: 'cat "$BATON_CONFIG_PATH"'
pipelines:
  deploy:
    stages:
      configure: {{ steps: [{{ config: token }}] }}
"#,
            p.file("out/token.txt").display()
        )
    };
    // Inline content: `baton validate` says where.
    with_recipients(
        &p,
        &yaml(r#"content: "{{ secrets.API_TOKEN }} {{ secrets.OTHER }}""#),
        &[&public],
    );
    user.baton(&p, &["validate"], "")
        .code(2)
        .stderr_has("reads `secrets.OTHER`, which its `secrets:` does not list")
        .stderr_has("baton.yaml:")
        .stderr_has("secrets: [OTHER]");
    // A template file: said when it is rendered.
    p.write("token.j2", "{{ secrets.API_TOKEN }} {{ secrets.OTHER }}\n");
    with_recipients(&p, &yaml("template: token.j2"), &[&public]);
    user.baton(&p, &["secret", "set", "API_TOKEN"], "tok-0123456789")
        .code(0);
    user.baton(&p, &["config", "apply", "token"], "")
        .code(2)
        .stderr_has("token.j2")
        .stderr_has("add it: `secrets: [OTHER]`");
    assert!(!p.file("out/token.txt").exists());

    // Through a pipeline's `config:` step: written, and masked in the run's log.
    p.write("token.j2", "token={{ secrets.API_TOKEN }}\n");
    std::fs::create_dir_all(p.file("out")).unwrap();
    user.baton(&p, &["run", "deploy"], "").code(0);
    assert_eq!(
        std::fs::read_to_string(p.file("out/token.txt")).unwrap(),
        "token=tok-0123456789\n"
    );
    // Run 1 is the refused apply.
    let logs = user.baton(&p, &["logs", "2"], "");
    logs.code(0).stdout_has("token=***");
    assert!(!logs.stdout.contains("tok-0123456789"), "{}", logs.stdout);
    assert_eq!(
        files_containing(&p.file(".baton"), "tok-0123456789"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_killed_apply_of_a_secret_config_is_reconciled_from_its_encrypted_intent() {
    let nodes = TestNodes::start(1);
    let user = User::new();
    let p = Project::new("");
    let public = user.keygen(&p);
    let dir = nodes.node_dir(0);
    std::fs::create_dir_all(&dir).unwrap();
    // `on_change` runs after the write and before the version: it blocks until `go` exists.
    let yaml = secret_config(&nodes).replace(
        "on_change: 'grep DB_PASSWORD \"$BATON_CONFIG_PATH\" || true'",
        "on_change: '[ -e {{ node.vars.dir }}/go ] || { touch {{ node.vars.dir }}/started; sleep 30; }'",
    );
    assert!(yaml.contains("/go ]"), "{yaml}");
    with_recipients(&p, &yaml, &[&public]);
    let value = "k1lled-Pa55w0rd";
    user.baton(
        &p,
        &["secret", "set", "DB_PASSWORD", "--env", "prod"],
        value,
    )
    .code(0);
    let mut child = p
        .command(&["config", "apply", "app", "--env", "prod"])
        .env("HOME", user.home.path())
        .env_remove("BATON_IDENTITY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for(
        "on_change to start",
        std::time::Duration::from_secs(30),
        || dir.join("started").exists(),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Written, not yet versioned: only the (encrypted) intent is in the store.
    assert!(
        std::fs::read_to_string(dir.join("app.env"))
            .unwrap()
            .contains(value)
    );
    assert_eq!(
        files_containing(&p.file(".baton"), value),
        Vec::<PathBuf>::new()
    );
    std::fs::write(dir.join("go"), "").unwrap();
    let apply = user.baton(&p, &["config", "apply", "app", "--env", "prod"], "");
    apply
        .code(0)
        .stdout_has("recorded that as version 1")
        .stdout_has("1 pending handler from run");
    assert_eq!(
        user.baton(&p, &["config", "history", "app", "--json"], "")
            .json()[0]["encrypted"],
        true
    );
    assert_eq!(
        files_containing(&p.file(".baton"), value),
        Vec::<PathBuf>::new()
    );
    // The recovered version holds the exact bytes: back to 0 and forward to 1 again.
    let written = std::fs::read(dir.join("app.env")).unwrap();
    user.baton(
        &p,
        &["config", "rollback", "app", "--env", "prod", "--to", "0"],
        "",
    )
    .code(0);
    assert!(!dir.join("app.env").exists());
    user.baton(
        &p,
        &["config", "rollback", "app", "--env", "prod", "--to", "1"],
        "",
    )
    .code(0);
    assert_eq!(std::fs::read(dir.join("app.env")).unwrap(), written);
}
