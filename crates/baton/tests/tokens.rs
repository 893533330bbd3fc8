//! `baton token add|list|rm` through the real binary: the token alone on stdout (so `$(…)`
//! captures it), its hash in baton.yaml, the listing as a table and as JSON, and the exit codes
//! of the refusals.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use baton_ops::tokens::token_hash;
use common::{Project, Run};

const YAML: &str =
    "# demo\nproject: demo\npipelines:\n  build:\n    stages:\n      test: { run: 'true' }\n";

/// `baton ARGS` with `BATON_TOKEN` as given (unset when `None`), whatever the caller's is.
fn baton(p: &Project, args: &[&str], env_token: Option<&str>) -> Run {
    let mut cmd = p.command(args);
    cmd.env_remove("BATON_TOKEN");
    if let Some(token) = env_token {
        cmd.env("BATON_TOKEN", token);
    }
    let out = cmd.output().expect("baton runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn add_list_and_rm_through_the_binary() {
    let p = Project::new(YAML);
    let none = baton(&p, &["token", "list"], None);
    none.code(0)
        .stdout_has("no API tokens")
        .stdout_has("baton token add");

    let added = baton(&p, &["token", "add", "ci", "--role", "operator"], None);
    added.code(0).stderr_has("only time");
    // stdout is the token and its newline, nothing else.
    let token = added.stdout.strip_suffix('\n').unwrap();
    assert!(
        !token.contains('\n') && token.starts_with("baton_"),
        "{:?}",
        added.stdout
    );
    assert_eq!(token.len(), "baton_".len() + 64);
    assert!(!added.stderr.contains(token), "the token is printed once");
    let yaml = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    let sha256 = token_hash(token);
    assert!(
        yaml.contains(&format!("ci: {{ role: operator, sha256: {sha256} }}")),
        "{yaml}"
    );
    assert!(!yaml.contains(token));

    let list = baton(&p, &["token", "list"], None);
    list.code(0)
        .stdout_has("NAME")
        .stdout_has("SHA256")
        .stdout_has("ci")
        .stdout_has("operator")
        .stdout_has(&sha256[..12]);
    assert!(!list.stdout.contains(&sha256[..13]), "12 digits only");
    assert!(!list.stdout.contains("BATON_TOKEN"));

    let json = baton(&p, &["token", "list", "--json"], Some("from-the-env"))
        .code(0)
        .json();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "ci");
    assert_eq!(rows[0]["role"], "operator");
    assert_eq!(rows[0]["sha256_prefix"], &sha256[..12]);
    assert_eq!(rows[0]["source"], "project");
    assert_eq!(rows[1]["name"], "BATON_TOKEN");
    assert_eq!(rows[1]["role"], "operator");
    assert_eq!(rows[1]["source"], "env");
    baton(&p, &["token", "list"], Some("from-the-env"))
        .code(0)
        .stdout_has("BATON_TOKEN")
        .stdout_has("env");

    let viewer = baton(
        &p,
        &["token", "add", "dash", "--role", "viewer", "--json"],
        None,
    );
    let doc = viewer.code(0).json();
    assert_eq!(doc["api"], 1);
    assert_eq!(doc["name"], "dash");
    assert_eq!(doc["role"], "viewer");
    assert_eq!(doc["sha256"], token_hash(doc["token"].as_str().unwrap()));

    baton(&p, &["token", "rm", "dash"], None)
        .code(0)
        .stderr_has("removed token `dash`");
    baton(&p, &["token", "rm", "ci"], None).code(0);
    assert_eq!(std::fs::read_to_string(p.file("baton.yaml")).unwrap(), YAML);
    baton(&p, &["token", "list"], None)
        .code(0)
        .stdout_has("no API tokens");
}

#[test]
fn refusals_have_the_cli_exit_codes() {
    let p = Project::new(YAML);
    baton(&p, &["token", "add", "ci", "--role", "viewer"], None).code(0);
    baton(&p, &["token", "add", "deploy", "--role", "operator"], None).code(0);
    let before = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    // A conflict is exit 1; bad usage and unknown names are exit 2.
    baton(&p, &["token", "add", "ci", "--role", "viewer"], None)
        .code(1)
        .stderr_has("already exists")
        .stderr_has("baton token rm ci");
    baton(&p, &["token", "add", "c i", "--role", "viewer"], None)
        .code(2)
        .stderr_has("not a valid token name");
    baton(&p, &["token", "add", "x", "--role", "admin"], None).code(2);
    baton(&p, &["token", "add", "x"], None).code(2);
    baton(&p, &["token", "rm", "deplyo"], None)
        .code(2)
        .stderr_has("no token named `deplyo`")
        .stderr_has("did you mean `deploy`?");
    assert_eq!(
        std::fs::read_to_string(p.file("baton.yaml")).unwrap(),
        before
    );

    let flow = Project::new(&format!("{YAML}server: {{ listen: 127.0.0.1:9000 }}\n"));
    let refused = baton(&flow, &["token", "add", "ci", "--role", "viewer"], None);
    refused
        .code(2)
        .stderr_has("flow style")
        .stderr_has("ci: { role: viewer, sha256: ");
    assert!(
        refused.stdout.is_empty(),
        "no token on stdout: it was not added"
    );
}
