//! Artifacts without ceremony: a run with no branch mapping publishes to its environment's
//! shelf or `default`, `upload: { artifact, from: PIPELINE }` takes the newest success of that
//! pipeline, and `baton artifact get` downloads a version with its sha256 checked.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;

const YAML: &str = r#"
environments:
  dev: {}
  prod: { promote_from: dev }
pipelines:
  build:
    stages:
      make: { run: "echo \"build $BATON_RUN_ID\" > app.bin", artifacts: [app.bin] }
  broken:
    stages:
      make: { run: "echo broken > app.bin", artifacts: [app.bin] }
      fail: { needs: [make], run: "exit 1" }
  deploy:
    stages:
      ship:
        steps:
          - upload: { artifact: app.bin, from: build, dest: "{{ vars.out }}/deployed.bin" }
"#;

#[test]
fn runs_publish_to_their_environment_or_default_and_get_downloads_verified() {
    let p = Project::new(YAML);
    p.baton(&["run", "build"]).code(0);
    let listed = p.baton(&["artifact", "list", "--json"]).json();
    assert_eq!(
        listed[0]["shelves"],
        serde_json::json!(["default"]),
        "{listed}"
    );
    p.baton(&["run", "build", "--env", "dev"]).code(0);
    // prod receives promotions only: a run there publishes nowhere, and says why.
    p.baton(&["run", "build", "--env", "prod"])
        .code(0)
        .stdout_has("not published to `prod`");
    let listed = p.baton(&["artifact", "list", "--json"]).json();
    let shelves: Vec<&serde_json::Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["shelves"])
        .collect();
    assert_eq!(shelves[1], &serde_json::json!(["dev"]));
    assert_eq!(shelves[2], &serde_json::json!([]));

    let out = p.path().join("got.bin");
    p.baton(&["artifact", "get", "app.bin@1", "-o", out.to_str().unwrap()])
        .code(0)
        .stdout_has("app.bin@1");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "build 1\n");
    p.baton(&["artifact", "get", "app.bin", "--env", "dev", "-o", "-"])
        .code(0)
        .stdout_has("build 2");
    p.baton(&["artifact", "get", "app.bin@9"])
        .code(2)
        .stderr_has("has no version 9");

    // A damaged blob is refused and the destination is left as it was.
    let blobs = p.path().join(".baton/artifacts");
    let sha = listed[0]["sha256"].as_str().unwrap().to_string();
    let blob = walk(&blobs)
        .into_iter()
        .find(|f| f.to_string_lossy().contains(&sha))
        .expect("the blob of version 1");
    std::fs::write(&blob, "tampered\n").unwrap();
    std::fs::write(&out, "mine\n").unwrap();
    p.baton(&["artifact", "get", "app.bin@1", "-o", out.to_str().unwrap()])
        .code(1)
        .stderr_has("damaged");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine\n");
}

#[test]
fn upload_from_a_pipeline_takes_its_newest_successful_build() {
    let p = Project::new(YAML);
    let out = p.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let var = format!("out={}", out.display());
    p.baton(&["run", "deploy", "--var", &var])
        .code(1)
        .stdout_has("no successful run of pipeline `build` stored an artifact `app.bin`");
    p.baton(&["run", "build"]).code(0); // run 2
    p.baton(&["run", "broken"]).code(1); // run 3: a newer app.bin, from a failed run
    p.baton(&["run", "deploy", "--var", &var]).code(0);
    assert_eq!(
        std::fs::read_to_string(out.join("deployed.bin")).unwrap(),
        "build 2\n"
    );
}

#[test]
fn from_must_name_a_pipeline() {
    let p = Project::new(&YAML.replace("from: build", "from: biuld"));
    p.baton(&["validate"])
        .code(2)
        .stderr_has("no pipeline `biuld`")
        .stderr_has("build");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
