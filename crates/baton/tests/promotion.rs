//! Build once, promote through environments (SPEC §7): shelves, `promote_from`, gates,
//! approval, tags, and deploys that take the promoted bytes — through the real binary and a real
//! git repository.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;

/// Environments of SPEC §1, with a gate on preprod and a tag on prod.
const PROJECT: &str = r#"
environments:
  dev:     { branch: develop }
  integ:   { promote_from: dev }
  preprod: { promote_from: integ, gate: [smoke] }
  staging: { branch: hotfix }
  prod:    { promote_from: [preprod, staging], approval: manual, tag: "v{{ artifact.version }}-{{ env.name }}" }
pipelines:
  build:
    stages:
      # Different bytes on every build: a rebuild could not pass for the promoted artifact.
      package: { run: "echo \"built $(date +%s%N) $RANDOM\" > app.tgz", artifacts: [app.tgz] }
  smoke:
    stages: { check: { run: "true" } }
  deploy:
    env: prod
    stages:
      ship: { steps: [ { upload: { artifact: app.tgz, dest: "{{ vars.dest }}" } } ] }
"#;

fn git(p: &Project, args: &[&str]) -> String {
    p.git(args)
}

/// A project that is a git repository with one commit on `branch`; returns the commit.
fn repo(yaml: &str, branch: &str) -> (Project, String) {
    let p = Project::new(yaml);
    p.write(".gitignore", ".baton/\napp.tgz\n");
    git(&p, &["init", "-q", "-b", branch]);
    git(&p, &["add", "baton.yaml", ".gitignore"]);
    git(&p, &["commit", "-q", "-m", "init"]);
    let head = git(&p, &["rev-parse", "HEAD"]);
    (p, head)
}

/// Shelves of each artifact version, from `artifact list --json`.
fn shelves(p: &Project, filter: &[&str]) -> Vec<(i64, Vec<String>)> {
    let mut args = vec!["artifact", "list", "--json"];
    args.extend_from_slice(filter);
    p.baton(&args)
        .code(0)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let shelves = a["shelves"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            (a["version"].as_i64().unwrap(), shelves)
        })
        .collect()
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn built_once_on_dev_then_promoted_gated_approved_tagged_and_deployed() {
    let (p, head) = repo(PROJECT, "develop");
    p.baton(&["run", "build"]).code(0);
    assert_eq!(shelves(&p, &[]), [(1, vec!["dev".to_string()])]);

    p.baton(&["artifact", "promote", "app.tgz", "--to", "integ"])
        .code(0)
        .stdout_has("app.tgz@1 dev → integ");
    // Idempotent: a second promotion says so and records nothing.
    p.baton(&["artifact", "promote", "app.tgz@1", "--to", "integ"])
        .code(0)
        .stdout_has("already on the `integ` shelf");

    // preprod's gate: `smoke` must have succeeded on integ since the artifact was built.
    p.baton(&["artifact", "promote", "app.tgz", "--to", "preprod"])
        .code(1)
        .stderr_has("gate `smoke` has not passed for `app.tgz@1`")
        .stderr_has("baton run smoke --env integ");
    // A success on another shelf proves nothing about integ.
    p.baton(&["run", "smoke", "--env", "dev"]).code(0);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "preprod"])
        .code(1);
    p.baton(&["run", "smoke", "--env", "integ"]).code(0);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "preprod"])
        .code(0)
        .stdout_has("integ → preprod");

    // prod needs a person's approval; a refusal writes nothing (no shelf, no tag).
    p.baton(&["artifact", "promote", "app.tgz", "--to", "prod"])
        .code(1)
        .stderr_has("`prod` needs manual approval")
        .stderr_has("--approve");
    assert!(shelves(&p, &["--env", "prod"]).is_empty());
    assert_eq!(git(&p, &["tag", "--list"]), "");
    p.baton(&[
        "artifact",
        "promote",
        "app.tgz",
        "--to",
        "prod",
        "--approve",
    ])
    .code(0)
    .stdout_has("preprod → prod, tagged `v1-prod`");
    assert_eq!(git(&p, &["rev-parse", "v1-prod^{commit}"]), head);
    assert_eq!(
        shelves(&p, &[]),
        [(
            1,
            ["dev", "integ", "preprod", "prod"]
                .map(String::from)
                .to_vec()
        )]
    );

    // The prod deploy takes the promoted bytes: same sha256, and nothing was rebuilt.
    let dest = p.file("deployed/app.tgz");
    let var = format!("dest={}", dest.display());
    p.baton(&["run", "deploy", "--var", &var]).code(0);
    let list = p.baton(&["artifact", "list", "--json"]).code(0).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "no second build: {list}");
    assert_eq!(sha256_of(&dest), list[0]["sha256"].as_str().unwrap());
}

#[test]
fn the_newest_version_on_the_source_shelf_is_promoted_by_default() {
    let yaml = PROJECT.replace("gate: [smoke]", "gate: []");
    let (p, _) = repo(&yaml, "develop");
    p.baton(&["run", "build"]).code(0);
    p.baton(&["run", "build"]).code(0);
    // Version 2 is newest on dev; version 1 can still be promoted by number.
    p.baton(&["artifact", "promote", "app.tgz@1", "--to", "integ"])
        .code(0);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "integ"])
        .code(0)
        .stdout_has("app.tgz@2 dev → integ");
    // From integ, the default is the newest version there.
    p.baton(&["artifact", "promote", "app.tgz", "--to", "preprod"])
        .code(0)
        .stdout_has("app.tgz@2 integ → preprod");
    let on_preprod: Vec<i64> = shelves(&p, &["--env", "preprod"])
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(on_preprod, [2]);
    // Version 1 never reached preprod: prod may not take it.
    p.baton(&[
        "artifact",
        "promote",
        "app.tgz@1",
        "--to",
        "prod",
        "--approve",
    ])
    .code(1)
    .stderr_has(
        "`app.tgz@1` is on `dev` or `integ`; `prod` promotes only from `preprod` or `staging`",
    );
}

#[test]
fn promotion_only_from_a_shelf_promote_from_allows() {
    let (p, _) = repo(PROJECT, "hotfix");
    p.baton(&["run", "build"]).code(0);
    assert_eq!(shelves(&p, &[]), [(1, vec!["staging".to_string()])]);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "integ"])
        .code(1)
        .stderr_has("`app.tgz@1` is on `staging`; `integ` promotes only from `dev`");
    // prod allows staging: a hotfix goes straight there (with approval).
    p.baton(&[
        "artifact",
        "promote",
        "app.tgz",
        "--to",
        "prod",
        "--approve",
    ])
    .code(0)
    .stdout_has("staging → prod");
    // An artifact built on a branch no environment maps, by a run with no environment, is on
    // the `default` shelf, which no environment promotes from.
    git(&p, &["checkout", "-q", "-b", "feature"]);
    p.baton(&["run", "build"]).code(0);
    p.baton(&["artifact", "promote", "app.tgz@2", "--to", "integ"])
        .code(1)
        .stderr_has("`app.tgz@2` is on `default`; `integ` promotes only from `dev`");
    assert_eq!(
        shelves(&p, &[]),
        [
            (1, vec!["staging".to_string(), "prod".to_string()]),
            (2, vec!["default".to_string()])
        ]
    );
}

#[test]
fn bad_names_are_usage_errors_with_suggestions() {
    let (p, _) = repo(PROJECT, "develop");
    p.baton(&["run", "build"]).code(0);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "integg"])
        .code(2)
        .stderr_has("no environment named `integg` (did you mean `integ`?)");
    p.baton(&["artifact", "promote", "app.tg", "--to", "integ"])
        .code(2)
        .stderr_has("no artifact named `app.tg` (did you mean `app.tgz`?)");
    p.baton(&["artifact", "promote", "app.tgz@7", "--to", "integ"])
        .code(2)
        .stderr_has("artifact `app.tgz` has no version 7 (versions 1 to 1)");
    p.baton(&["artifact", "promote", "app.tgz@latest", "--to", "integ"])
        .code(2)
        .stderr_has("is not NAME or NAME@VERSION");
    p.baton(&["artifact", "list", "--env", "prd"])
        .code(2)
        .stderr_has("did you mean `prod`?");
    // None of it recorded anything.
    assert_eq!(shelves(&p, &[]), [(1, vec!["dev".to_string()])]);
}

#[test]
fn a_tag_on_another_commit_refuses_the_promotion_and_records_nothing() {
    let yaml = PROJECT.replace("approval: manual, ", "");
    let (p, _) = repo(&yaml, "hotfix");
    p.baton(&["run", "build"]).code(0);
    // Someone already used the name on a different commit: tags are never moved.
    git(&p, &["commit", "-q", "--allow-empty", "-m", "later"]);
    git(&p, &["tag", "v1-prod"]);
    p.baton(&["artifact", "promote", "app.tgz", "--to", "prod"])
        .code(1)
        .stderr_has("git tag `v1-prod` already exists on commit");
    assert!(shelves(&p, &["--env", "prod"]).is_empty());
}

#[test]
fn the_promote_step_promotes_from_its_runs_shelf_but_cannot_approve() {
    let yaml = format!(
        "{}{}",
        PROJECT.replace("gate: [smoke]", "gate: []"),
        r#"
  to_preprod:
    env: integ
    stages: { p: { steps: [ { promote: { artifact: app.tgz, to: preprod } } ] } }
  to_prod:
    env: preprod
    stages: { p: { steps: [ { promote: { artifact: app.tgz, to: prod } } ] } }
"#
    );
    let (p, _) = repo(&yaml, "develop");
    p.baton(&["run", "build"]).code(0);
    // The run's own shelf (integ) does not hold it yet.
    p.baton(&["run", "to_preprod"]).code(1);
    p.baton(&["logs", "2"])
        .code(0)
        .stdout_has("`app.tgz@1` is on `dev`; `preprod` promotes only from `integ`");
    p.baton(&["artifact", "promote", "app.tgz", "--to", "integ"])
        .code(0);
    p.baton(&["run", "to_preprod"]).code(0);
    p.baton(&["logs", "3"])
        .code(0)
        .stdout_has("app.tgz@1 integ → preprod");
    // The run whose step promoted it is recorded as the promoter.
    let promoted = p
        .baton(&["artifact", "list", "--env", "preprod", "--json"])
        .code(0)
        .json();
    assert_eq!(promoted.as_array().unwrap().len(), 1);
    assert_eq!(promoted[0]["promotions"][0]["run"], serde_json::Value::Null);
    let record = &promoted[0]["promotions"][1];
    assert_eq!(
        (record["from"].as_str(), record["env"].as_str()),
        (Some("integ"), Some("preprod"))
    );
    assert_eq!(record["run"], 3);
    // A step never approves.
    p.baton(&["run", "to_prod"]).code(1);
    p.baton(&["logs", "4"])
        .code(0)
        .stdout_has("`prod` needs manual approval: a `promote:` step cannot approve it");
    assert!(shelves(&p, &["--env", "prod"]).is_empty());
}
