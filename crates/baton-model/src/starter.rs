//! The commented `baton.yaml` that `baton init` writes: it runs as is, on this machine, and shows
//! the other sections commented out.

pub const STARTER_YAML: &str = r#"# baton.yaml — the project file. `baton validate` checks it; `baton schema` prints its JSON
# Schema for editors. Durations: 90s, 5m, 1h30m. Templates use Jinja: {{ vars.greeting }}.
project: my-project

vars:
  greeting: hello

environments:
  dev: { vars: { debug: true } }

pipelines:
  ci:
    triggers: [manual]            # also: webhook, commit, { schedule: "0 0 * * *" }
    env: dev
    stages:
      prepare:
        run: mkdir -p out
      build:
        needs: [prepare]
        run:
          - echo "{{ vars.greeting }} from {{ env.name }}" > out/hello.txt
          - test -s out/hello.txt
        artifacts: [out/hello.txt]
        timeout: 1m
      check:
        needs: [build]
        run: grep -q hello out/hello.txt

# Nodes reached over SSH (`local`, this machine, always exists):
# nodes:
#   web01: { host: 192.0.2.10, user: deploy, roles: [web], labels: { zone: a } }
# ssh: { known_hosts: ~/.ssh/known_hosts, connect_timeout: 10s }

# Configuration files rendered from templates, validated, versioned:
# configs:
#   app_config:
#     type: file
#     targets: role:web
#     path: /etc/myapp/app.json
#     content: '{"debug": {{ env.vars.debug | tojson }}}'
#     validate: json
#     on_change: systemctl reload myapp

# Infrastructure as code:
# resources:
#   app_dir: { type: directory, path: /tmp/myapp, mode: "0755" }

# Monitoring and notifications:
# checks:  { api_up: { targets: role:web, http: "http://{{ node.host }}:8000/", interval: 30s } }
# alerts:  { api_down: { check: api_up, for: 1m, notify: [ops] } }
# notifications:
#   ops: { webhook: { url: "https://chat.example.com/hook" } }

# Encrypted secrets: `baton secret keygen` prints your recipient; list it here, then
# `echo VALUE | baton secret set NAME [--env E]`; stages get them with `secrets: [NAME]`.
# secrets: { recipients: [age1...] }
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn the_starter_loads_without_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::PROJECT_FILE);
        std::fs::write(&path, super::STARTER_YAML).unwrap();
        let project = crate::load(&path).unwrap_or_else(|d| panic!("{}", d.render(false)));
        assert_eq!(project.pipelines["ci"].stages.len(), 3);
    }
}
