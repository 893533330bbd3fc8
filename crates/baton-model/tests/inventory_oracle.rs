//! Ansible inventories read as Ansible reads them: every probe here is given to Ansible's own
//! reader (`ansible-inventory --list`, from ansible-core, which scripts/test.sh installs) and to
//! baton's, and the hosts, their groups and their variables must agree — or both must refuse.
//! A missing ansible-core is a failure, never a skip.

#![allow(clippy::disallowed_methods)] // the oracle is a real process

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use baton_model::inventory::parse_with_warnings;
use baton_model::{Node, Sources};
use serde_json::Value;

/// What Ansible makes of `text` (written to `name`): per host, its groups and variables; `None`
/// when it refuses the file.
fn ansible(name: &str, text: &str) -> Option<BTreeMap<String, (BTreeSet<String>, Value)>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new("python3")
        .args(["-m", "ansible.cli.inventory", "--list", "-i"])
        .arg(&path)
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ansible-inventory (ansible-core) is required: scripts/test.sh installs it\n{stderr}"
    );
    if stderr.contains("Unable to parse") || stderr.contains("Failed to parse") {
        return None;
    }
    let listed: Value = serde_json::from_slice(&out.stdout).expect("ansible-inventory prints JSON");
    let mut hosts = BTreeMap::new();
    let hostvars = listed["_meta"]["hostvars"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut names: BTreeSet<String> = hostvars.keys().cloned().collect();
    // Hosts without variables appear only in their groups.
    for (group, body) in listed.as_object().unwrap() {
        if group == "_meta" {
            continue;
        }
        for h in body["hosts"].as_array().into_iter().flatten() {
            names.insert(h.as_str().unwrap().to_string());
        }
    }
    for host in names {
        let groups = groups_of(&listed, &host);
        let vars = hostvars
            .get(&host)
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        hosts.insert(host, (groups, vars));
    }
    Some(hosts)
}

/// Every group holding `host`, directly or through `children`, but `all` and `ungrouped`.
fn groups_of(listed: &Value, host: &str) -> BTreeSet<String> {
    let direct: Vec<String> = listed
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, body)| {
            body["hosts"]
                .as_array()
                .is_some_and(|h| h.iter().any(|x| x == host))
        })
        .map(|(g, _)| g.clone())
        .collect();
    let mut out = BTreeSet::new();
    let mut todo = direct;
    while let Some(g) = todo.pop() {
        if !out.insert(g.clone()) {
            continue;
        }
        for (parent, body) in listed.as_object().unwrap() {
            if body["children"]
                .as_array()
                .is_some_and(|c| c.iter().any(|x| x == g.as_str()))
            {
                todo.push(parent.clone());
            }
        }
    }
    out.remove("all");
    out.remove("ungrouped");
    out
}

/// baton's reading, in the same shape: the connection variables put back where Ansible keeps
/// them, so both sides compare as one.
fn baton(name: &str, text: &str) -> Option<BTreeMap<String, (BTreeSet<String>, Value)>> {
    let mut sources = Sources::default();
    let id = sources.add(Path::new(name).to_path_buf(), text.to_string());
    let (nodes, _warnings) = parse_with_warnings(sources.text(id), id, Path::new(name)).ok()?;
    Some(
        nodes
            .into_iter()
            .map(|n: Node| {
                let mut vars = serde_json::Map::new();
                for (k, v) in &n.vars {
                    vars.insert(k.clone(), v.clone());
                }
                (
                    n.host.clone(),
                    (n.roles.iter().cloned().collect(), Value::Object(vars)),
                )
            })
            .collect(),
    )
}

#[track_caller]
fn agree(name: &str, text: &str) {
    let theirs = ansible(name, text);
    let ours = baton(name, text);
    assert_eq!(
        ours, theirs,
        "baton (left) and Ansible (right) read {name} differently:\n{text}"
    );
}

#[test]
fn yaml_inventories_use_yaml_1_1_scalars() {
    agree(
        "hosts.yml",
        r#"
all:
  children:
    web:
      hosts:
        w1: { mode: 0644, become: yes, flag: on, off_flag: Off, n: 1_000, t: ~, s: "0644", q: 'yes', f: 1.5, e: 1e3, sx: 1:30, h: 0x1F, z: 08 }
"#,
    );
}

#[test]
fn a_host_list_may_be_a_single_string() {
    agree(
        "hosts.yml",
        "all:\n  children:\n    web:\n      hosts: web.example.com\n",
    );
}

#[test]
fn undefined_groups_are_refused_like_ansible() {
    agree("a.ini", "[web]\nw1\n[g:children]\nweb\nnope\n");
    agree("b.ini", "[web]\nw1\n[other:vars]\nx=1\n");
    // Named before its own section is fine.
    agree("c.ini", "[g:children]\nweb\n[web:vars]\nx=1\n[web]\nw1\n");
}

#[test]
fn group_priority_orders_groups_of_one_depth() {
    agree(
        "p.ini",
        "[a]\nh1\n[b]\nh1\n[a:vars]\nx=from_a\nansible_group_priority=10\n[b:vars]\nx=from_b\n",
    );
    agree(
        "q.ini",
        "[a]\nh1\n[b]\nh1\n[a:vars]\nx=from_a\n[b:vars]\nx=from_b\n",
    );
}

#[test]
fn a_comment_after_a_var_stays_unless_the_value_is_a_literal() {
    agree(
        "c.ini",
        "[web]\nw1\n[web:vars]\nx=hello # a comment\ny=\"quoted\" # c\nz=1 # c\nw=two words\n",
    );
}

#[test]
fn hosts_with_names_baton_cannot_use_are_renamed_with_a_warning() {
    let text = "[web]\n2001:db8::1\nwéb1\nok1\n";
    // Ansible's hosts are addresses; baton's nodes keep them as `host`.
    agree("v6.ini", text);
    let mut sources = Sources::default();
    let id = sources.add("v6.ini".into(), text.to_string());
    let (nodes, warnings) = parse_with_warnings(sources.text(id), id, Path::new("v6.ini")).unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["2001-db8--1", "w-b1", "ok1"]);
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings[0].message.contains("it is node `2001-db8--1`"),
        "{}",
        warnings[0].message
    );
}
