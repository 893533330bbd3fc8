//! `inventory:` — Ansible inventories (INI and YAML) loaded as nodes, merged with `nodes:`, and
//! their problems reported at the inventory's file:line:column.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::path::{Path, PathBuf};

mod common;

use baton_model::*;
use common::{Fixture, project};
use serde_json::{Value, json};

fn load_ok(main: &str, others: &[(&str, &str)]) -> (Project, Fixture) {
    let d = project(main, others);
    match load(&d.main) {
        Ok(p) => (p, d),
        Err(e) => panic!("unexpected diagnostics:\n{}", e.render(false)),
    }
}

fn errors(main: &str, others: &[(&str, &str)]) -> (String, usize) {
    let d = project(main, others);
    match load(&d.main) {
        Ok(_) => panic!("expected diagnostics for {others:?}"),
        Err(e) => (e.render(false), e.items.len()),
    }
}

/// A node as comparable data (the span left out).
fn summary(node: &Node) -> Value {
    json!({
        "name": node.name,
        "host": node.host,
        "port": node.port,
        "user": node.user,
        "key": node.key,
        "roles": node.roles,
        "labels": node.labels,
        "vars": node.vars,
    })
}

fn summaries(project: &Project) -> Vec<Value> {
    project.nodes.values().map(summary).collect()
}

const INI: &str = r#"# a comment
; another comment
jump01 ansible_host=10.0.0.9

[web]
web[01:03] ansible_user=deploy
web04:2201 ansible_host=10.0.0.4 flavour="big box"   # trailing comment

[db]
db-[a:b] ansible_ssh_host=10.0.1.1 ansible_ssh_port=2202 ansible_ssh_user=pg

[prod:children]
web
db

[prod:vars]
tier=prod
debug=False
ansible_ssh_private_key_file=keys/prod

[web:vars]
tier=web-tier
weight=1.5

[all:vars]
ansible_user=admin
region="eu west"
tier=all

[tools]
controller ansible_connection=local
"#;

const YAML: &str = r#"all:
  hosts:
    jump01: { ansible_host: 10.0.0.9 }
  vars:
    ansible_user: admin
    region: eu west
    tier: all
  children:
    prod:
      vars: { tier: prod, debug: false, ansible_ssh_private_key_file: keys/prod }
      children:
        web:
          hosts:
            web[01:03]: { ansible_user: deploy }
            web04:2201: { ansible_host: 10.0.0.4, flavour: big box }
          vars: { tier: web-tier, weight: 1.5 }
        db:
          hosts:
            db-[a:b]: { ansible_ssh_host: 10.0.1.1, ansible_ssh_port: 2202, ansible_ssh_user: pg }
tools:
  hosts:
    controller:
      ansible_connection: local
"#;

fn expected(dir: &Path) -> Vec<Value> {
    let root = std::fs::canonicalize(dir).unwrap();
    let key = root.join("inv/keys/prod");
    let web = |name: &str| {
        json!({
            "name": name, "host": name, "port": null, "user": "deploy", "key": key,
            "roles": ["web", "prod"], "labels": {},
            "vars": { "region": "eu west", "tier": "web-tier", "debug": false, "weight": 1.5 },
        })
    };
    let db = |name: &str| {
        json!({
            "name": name, "host": "10.0.1.1", "port": 2202, "user": "pg", "key": key,
            "roles": ["db", "prod"], "labels": {},
            "vars": { "region": "eu west", "tier": "prod", "debug": false },
        })
    };
    vec![
        json!({
            "name": "jump01", "host": "10.0.0.9", "port": null, "user": "admin", "key": null,
            "roles": [], "labels": {}, "vars": { "region": "eu west", "tier": "all" },
        }),
        web("web01"),
        web("web02"),
        web("web03"),
        json!({
            "name": "web04", "host": "10.0.0.4", "port": 2201, "user": "admin", "key": key,
            "roles": ["web", "prod"], "labels": {},
            "vars": { "region": "eu west", "tier": "web-tier", "debug": false, "weight": 1.5,
                      "flavour": "big box" },
        }),
        db("db-a"),
        db("db-b"),
    ]
}

#[test]
fn ini_and_yaml_inventories_give_the_same_nodes() {
    for (file, text) in [
        ("inv/hosts.ini", INI),
        ("inv/hosts.yml", YAML),
        ("inv/hosts", INI),
        ("inv/hosts.txt", YAML),
    ] {
        let main = format!("inventory: {file}\n");
        let (p, d) = load_ok(&main, &[(file, text)]);
        assert_eq!(summaries(&p), expected(d.dir.path()), "{file}");
    }
}

#[test]
fn role_selectors_resolve_through_children() {
    let main = "\
inventory: inv/hosts.ini
pipelines:
  deploy:
    stages:
      a: { run: echo, targets: \"role:prod,!role:db\" }
      b: { run: echo, targets: \"role:db,jump01\" }
";
    let (p, _d) = load_ok(main, &[("inv/hosts.ini", INI)]);
    let resolve = |text: &str| Selector::parse(text).unwrap().resolve(&p).unwrap();
    assert_eq!(
        resolve("role:prod"),
        ["web01", "web02", "web03", "web04", "db-a", "db-b"]
    );
    assert_eq!(resolve("role:prod,!role:web"), ["db-a", "db-b"]);
    assert_eq!(
        resolve("all"),
        ["jump01", "web01", "web02", "web03", "web04", "db-a", "db-b"]
    );
    // `ansible_connection=local` hosts are skipped, so their group is no role.
    assert!(Selector::parse("role:tools").unwrap().resolve(&p).is_err());
}

#[test]
fn selectors_are_checked_against_inventory_nodes() {
    let main = "\
inventory: hosts.ini
pipelines:
  ci: { stages: { a: { run: echo, targets: \"role:dbs,web09,role:web\" } } }
";
    let (out, n) = errors(main, &[("hosts.ini", "[web]\nweb01\n[db]\ndb01\n")]);
    assert!(out.contains("no role `dbs` on any node"), "{out}");
    assert!(out.contains("did you mean `db`?"), "{out}");
    assert!(out.contains("no node `web09`"), "{out}");
    assert_eq!(n, 2, "{out}");
}

#[test]
fn nodes_entries_merge_over_inventory_hosts() {
    let main = "\
inventory: hosts.ini
nodes:
  extra: { host: 10.9.9.9 }
  web01:
    port: 2222
    roles: [frontend, web]
    labels: { zone: a }
    vars: { tier: mine, new: 1 }
";
    let ini = "\
[web]
web01 ansible_host=10.0.0.1 ansible_user=deploy tier=inv old=x
web02
";
    let (p, _d) = load_ok(main, &[("hosts.ini", ini)]);
    let names: Vec<&str> = p.nodes.keys().map(String::as_str).collect();
    assert_eq!(names, ["web01", "web02", "extra"]);
    assert_eq!(
        summary(&p.nodes["web01"]),
        json!({
            "name": "web01", "host": "10.0.0.1", "port": 2222, "user": "deploy", "key": null,
            "roles": ["web", "frontend"], "labels": { "zone": "a" },
            "vars": { "tier": "mine", "old": "x", "new": 1 },
        })
    );
    // The entry's span is baton.yaml's.
    assert_eq!(p.nodes["web01"].span.line, 4);
    assert_eq!(p.nodes["extra"].host, "10.9.9.9");

    // Written fields win, even when they equal the default; unwritten ones keep the inventory's.
    let main = "inventory: hosts.ini\nnodes:\n  web01: { host: web01, user: root }\n";
    let (p, _d) = load_ok(main, &[("hosts.ini", ini)]);
    let web01 = &p.nodes["web01"];
    assert_eq!(
        (web01.host.as_str(), web01.user.as_deref()),
        ("web01", Some("root"))
    );
}

#[test]
fn inventory_problems_point_into_the_inventory() {
    // (file, text, message, location)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "hosts.ini",
            "[web]\nweb01 ansible_port=abc\n",
            "`abc` is not a port",
            "hosts.ini:2:20",
        ),
        (
            "hosts.ini",
            "[all:vars]\nansible_port=70000\n[web]\nweb01\n",
            "port 70000 is out of range",
            "hosts.ini:2:14",
        ),
        (
            "hosts.ini",
            "[web]\n  web[3:1]\n",
            "invalid host range in `web[3:1]`",
            "hosts.ini:2:3",
        ),
        (
            "hosts.ini",
            "[web]\nweb[01:3]\n",
            "begin and end must have the same width",
            "hosts.ini:2:1",
        ),
        (
            "hosts.ini",
            "web01 a=\"open\n",
            "no closing quotation",
            "hosts.ini:1:9",
        ),
        (
            "hosts.ini",
            "web01 a=1 oops\n",
            "expected `key=value` after the host name, found `oops`",
            "hosts.ini:1:11",
        ),
        (
            "hosts.ini",
            "[web:var]\nx=1\n",
            "section `[web:var]` has unknown type `var`",
            "hosts.ini:1:1",
        ),
        (
            "hosts.ini",
            "[web:vars]\njust words\n",
            "expected `key=value` in `[web:vars]`",
            "hosts.ini:2:1",
        ),
        (
            "hosts.ini",
            "[a:children]\nb\n[b:children]\na\n",
            "cycle in inventory group `children`: a → b → a",
            "hosts.ini:4:1",
        ),
        (
            "hosts.ini",
            "[web]\nlocal\n",
            "an inventory host cannot be named `local`",
            "hosts.ini:2:1",
        ),
        (
            "hosts.ini",
            "[web]\nweb01\n[web x]\n",
            "invalid section header `[web x]`",
            "hosts.ini:3:1",
        ),
        (
            "hosts.yml",
            "all:\n  children:\n    web:\n      host:\n        web01:\n",
            "unknown key `host` in inventory group `web`",
            "hosts.yml:4:7",
        ),
        (
            "hosts.yml",
            "all:\n  hosts:\n    web01: { ansible_port: big }\n",
            "`big` is not a port",
            "hosts.yml:3:28",
        ),
        (
            "hosts.yml",
            "all:\n  children:\n    a: { children: { b: } }\n    b: { children: { a: } }\n",
            "cycle in inventory group `children`",
            "hosts.yml:",
        ),
        (
            "hosts.yml",
            "all: [web01]\n",
            "expected group `all` to be a mapping",
            "hosts.yml:1:6",
        ),
        (
            "hosts.yml",
            "all:\n  hosts: [web01]\n",
            "expected a mapping of hosts in group `all`, found a list",
            "hosts.yml:2:10",
        ),
    ];
    for (file, text, message, location) in cases {
        let main = format!("inventory: {file}\n");
        let (out, _) = errors(&main, &[(file, text)]);
        assert!(
            out.contains(message),
            "{file} {text:?}: no {message:?} in\n{out}"
        );
        assert!(
            out.contains(location),
            "{file} {text:?}: no {location:?} in\n{out}"
        );
    }
}

#[test]
fn an_unreadable_inventory_points_at_the_project_file() {
    let (out, n) = errors("inventory: missing.ini\n", &[]);
    assert!(out.contains("cannot read inventory file"), "{out}");
    assert!(out.contains("baton.yaml:1:12"), "{out}");
    assert_eq!(n, 1);
}

#[test]
fn inventory_errors_show_an_excerpt_of_the_inventory() {
    let (out, _) = errors(
        "inventory: hosts.ini\n",
        &[("hosts.ini", "[web]\nweb01 ansible_port=abc\n")],
    );
    assert!(out.contains("2 | web01 ansible_port=abc"), "{out}");
    assert!(out.contains("^^^"), "{out}");
}

#[test]
fn host_lines_and_vars_follow_ansible() {
    // (inventory, node, expected fields)
    let cases: &[(&str, &str, Value)] = &[
        // Host vars override group vars; a later line for the same host adds to it.
        (
            "[a]\nh x=1 y=1\n[b]\nh y=2\n[a:vars]\nx=0\nz=0\n",
            "h",
            json!({ "roles": ["a", "b"], "vars": { "x": 1, "y": 2, "z": 0 } }),
        ),
        // A deeper group overrides a shallower one, whatever the file order.
        (
            "[child]\nh\n[child:vars]\nv=child\n[parent:children]\nchild\n[parent:vars]\nv=parent\n",
            "h",
            json!({ "roles": ["child", "parent"], "vars": { "v": "child" } }),
        ),
        // Same depth: by name, as Ansible sorts groups.
        (
            "[b]\nh\n[a]\nh\n[a:vars]\nv=a\n[b:vars]\nv=b\n",
            "h",
            json!({ "roles": ["b", "a"], "vars": { "v": "b" } }),
        ),
        // Python literals; shell quotes on a host line are removed before reading the value.
        (
            "h a=True b=yes c='x y' d=\"22\" e=0644 f=[1,2] g=None\n",
            "h",
            json!({ "roles": [], "vars": {
                "a": true, "b": "yes", "c": "x y", "d": 22, "e": "0644", "f": [1, 2], "g": null
            } }),
        ),
        // Both names set: the old `ansible_ssh_*` one wins, as in Ansible's ssh plugin.
        (
            "h ansible_ssh_host=old ansible_host=new ansible_user=u2 ansible_ssh_user=u1\n",
            "h",
            json!({ "host": "old", "user": "u1", "vars": {} }),
        ),
        // Grandparent roles, a `localhost` that is a normal SSH host.
        (
            "[a]\nlocalhost\n[b:children]\na\n[c:children]\nb\n",
            "localhost",
            json!({ "host": "localhost", "roles": ["a", "b", "c"] }),
        ),
        // Comments after headers and vars, spaces around `=`, a child named before its section.
        (
            "[p:children]  # later\nweb\n[web] # c\nh\n[p:vars]\nx = 1 # c\ny = 'a # b'\n",
            "h",
            json!({ "roles": ["web", "p"], "vars": { "x": 1, "y": "a # b" } }),
        ),
        // The same child under two parents: both are roles.
        (
            "[a]\nh\n[p1:children]\na\n[p2:children]\na\n",
            "h",
            json!({ "roles": ["a", "p1", "p2"] }),
        ),
    ];
    for (ini, name, fields) in cases {
        let (p, _d) = load_ok("inventory: hosts\n", &[("hosts", ini)]);
        let got = summary(&p.nodes[*name]);
        for (key, value) in fields.as_object().unwrap() {
            assert_eq!(&got[key], value, "{ini:?}: {key}");
        }
    }
}

#[test]
fn key_paths_expand_home() {
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return;
    };
    let (p, _d) = load_ok(
        "inventory: hosts\n",
        &[("hosts", "h ansible_ssh_private_key_file=~/.ssh/id_x\n")],
    );
    assert_eq!(
        p.nodes["h"].key.as_deref(),
        Some(PathBuf::from(home).join(".ssh/id_x").as_path())
    );
}
