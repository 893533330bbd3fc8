//! Where a node really is: its own keys, then the OpenSSH client configuration, then the
//! project's `ssh:` defaults, then the built-in defaults — the first that says wins, value
//! by value (port, user, key, ProxyJump). A node's `host` is the name ssh_config's `Host`
//! patterns are matched against (as `ssh HOST` would), and `HostName` there is the address
//! connected to. `ProxyJump` hops are resolved the same way; a hop that names a node uses
//! that node's settings. See docs/decisions.md for the comparison with OpenSSH.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::connect::NodeAddress;
use crate::ssh_config::{SshConfig, Tokens, expand_tilde};

/// Hops (nested jumps included) followed at most: more is a loop or a mistake.
const MAX_HOPS: usize = 8;

/// A node as the project file gives it: its own keys only (`None` = not said).
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub name: String,
    /// The name given to ssh: ssh_config is looked up by it; the address unless `HostName`.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Absolute.
    pub key: Option<PathBuf>,
    pub proxy_jump: Option<String>,
}

/// `ssh: { user, port, key }`.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Absolute.
    pub key: Option<PathBuf>,
}

/// Resolves nodes of one project.
pub struct Resolver<'a> {
    /// Every node, by name: a ProxyJump hop may name one.
    pub nodes: &'a HashMap<String, NodeSpec>,
    pub defaults: Defaults,
    /// `None` with `ssh.config: false` (or no `~/.ssh/config`).
    pub config: Option<&'a SshConfig>,
    pub local_user: String,
    pub home: PathBuf,
}

/// What decides one connection before ssh_config and defaults are consulted.
#[derive(Debug, Clone, Default)]
struct Own {
    port: Option<u16>,
    user: Option<String>,
    key: Option<PathBuf>,
    proxy_jump: Option<String>,
}

impl Resolver<'_> {
    /// The address of `node`, jumps included. Errors are one line naming what is wrong.
    pub fn resolve(&self, node: &NodeSpec) -> Result<NodeAddress, String> {
        self.resolve_node(node, None, None, 0)
    }

    fn resolve_node(
        &self,
        node: &NodeSpec,
        user: Option<String>,
        port: Option<u16>,
        depth: usize,
    ) -> Result<NodeAddress, String> {
        let own = Own {
            port: port.or(node.port),
            user: user.or_else(|| node.user.clone()),
            key: node.key.clone(),
            proxy_jump: node.proxy_jump.clone(),
        };
        self.resolve_alias(&node.name, &node.host, own, depth)
    }

    fn resolve_alias(
        &self,
        name: &str,
        alias: &str,
        own: Own,
        depth: usize,
    ) -> Result<NodeAddress, String> {
        if depth > MAX_HOPS {
            return Err(format!(
                "ProxyJump from `{name}` goes through more than {MAX_HOPS} hops (a loop?)"
            ));
        }
        let found = self.config.map(|c| c.query(alias)).unwrap_or_default();
        let host = match &found.host_name {
            Some(h) => h.replace("%h", alias).replace("%%", "%"),
            None => alias.to_string(),
        };
        let port = own.port.or(found.port).or(self.defaults.port).unwrap_or(22);
        let user = own
            .user
            .or(found.user)
            .or_else(|| self.defaults.user.clone())
            .unwrap_or_else(|| self.local_user.clone());
        let tokens = Tokens {
            host: &host,
            port,
            remote_user: &user,
            alias,
            local_user: &self.local_user,
            home: &self.home,
        };
        // As OpenSSH, identity files that do not exist are skipped.
        let from_config = found
            .identity_files
            .iter()
            .map(|f| expand_tilde(&tokens.expand(f), &self.home))
            .find(|p| p.is_file());
        let key = own
            .key
            .or(from_config)
            .or_else(|| self.defaults.key.clone());
        let jump = match own.proxy_jump.or(found.proxy_jump) {
            Some(spec) if !spec.eq_ignore_ascii_case("none") => {
                Some(Box::new(self.hops(name, &spec, depth)?))
            }
            _ => None,
        };
        Ok(NodeAddress {
            name: name.to_string(),
            host,
            port,
            user,
            key,
            jump,
        })
    }

    /// `a,b,c`: connect to `a`, through it to `b`, through `b` to `c`; returns `c`'s address.
    fn hops(&self, name: &str, spec: &str, depth: usize) -> Result<NodeAddress, String> {
        let mut previous: Option<NodeAddress> = None;
        for (i, hop) in spec.split(',').map(str::trim).enumerate() {
            let (user, host, port) = parse_hop(hop).ok_or_else(|| {
                format!("`{name}`: ProxyJump `{spec}`: `{hop}` is not [user@]host[:port]")
            })?;
            let mut address = match self.nodes.get(&host) {
                Some(node) => self.resolve_node(node, user, port, depth + i + 1)?,
                None => self.resolve_alias(
                    &host,
                    &host,
                    Own {
                        port,
                        user,
                        ..Own::default()
                    },
                    depth + i + 1,
                )?,
            };
            if let Some(before) = previous.take() {
                // A later hop goes through the one before it, whatever its own config says.
                address.jump = Some(Box::new(before));
            }
            previous = Some(address);
        }
        previous.ok_or_else(|| format!("`{name}`: ProxyJump is empty"))
    }
}

/// `[user@]host[:port]`, also `ssh://[user@]host[:port]`; `[v6]:port` for IPv6.
fn parse_hop(hop: &str) -> Option<(Option<String>, String, Option<u16>)> {
    let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
    let (user, rest) = match hop.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
        Some(_) => return None,
        None => (None, hop),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (host.to_string(), Some(p.parse().ok()?)),
            None if after.is_empty() => (host.to_string(), None),
            None => return None,
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() || port == Some(0) {
        return None;
    }
    Some((user, host, port))
}

/// `path` relative to `root`, `~/` the home directory.
pub fn project_path(root: &Path, path: &Path, home: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        return home.join(rest);
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, host: &str) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            host: host.into(),
            ..Default::default()
        }
    }

    fn resolver<'a>(
        nodes: &'a HashMap<String, NodeSpec>,
        config: Option<&'a SshConfig>,
    ) -> Resolver<'a> {
        Resolver {
            nodes,
            defaults: Defaults {
                user: Some("deploy".into()),
                port: Some(2200),
                key: None,
            },
            config,
            local_user: "me".into(),
            home: PathBuf::from("/nonexistent-home"),
        }
    }

    #[test]
    fn own_keys_beat_ssh_config_which_beats_the_defaults() {
        let config = SshConfig::parse_str(
            "Host web1\n  HostName 10.0.0.1\n  Port 2022\n  User cfg\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        let nodes = HashMap::new();
        let r = resolver(&nodes, Some(&config));
        let a = r.resolve(&spec("web1", "web1")).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.user.as_str()),
            ("10.0.0.1", 2022, "cfg")
        );
        let own = NodeSpec {
            port: Some(22),
            user: Some("root".into()),
            ..spec("web1", "web1")
        };
        let a = r.resolve(&own).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.user.as_str()),
            ("10.0.0.1", 22, "root")
        );
        let a = r.resolve(&spec("db1", "db1")).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.user.as_str()),
            ("db1", 2200, "deploy")
        );
        let nodes = HashMap::new();
        let bare = Resolver {
            defaults: Defaults::default(),
            ..resolver(&nodes, None)
        };
        let a = bare.resolve(&spec("web1", "web1")).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.user.as_str()),
            ("web1", 22, "me")
        );
    }

    #[test]
    fn proxy_jump_hops_chain_and_may_name_nodes() {
        let mut nodes = HashMap::new();
        nodes.insert(
            "bastion".to_string(),
            NodeSpec {
                port: Some(2201),
                user: Some("jump".into()),
                ..spec("bastion", "127.0.0.9")
            },
        );
        let config = SshConfig::parse_str(
            "Host inner\n  ProxyJump bastion\nHost outer-hop\n  HostName 10.1.1.1\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        let r = resolver(&nodes, Some(&config));
        let a = r.resolve(&spec("inner", "inner")).unwrap();
        let jump = a.jump.as_deref().unwrap();
        assert_eq!(
            (jump.host.as_str(), jump.port, jump.user.as_str()),
            ("127.0.0.9", 2201, "jump")
        );
        let chained = NodeSpec {
            proxy_jump: Some("admin@outer-hop:2022,bastion".into()),
            ..spec("t", "10.2.2.2")
        };
        let a = r.resolve(&chained).unwrap();
        let second = a.jump.as_deref().unwrap();
        assert_eq!(second.host, "127.0.0.9");
        let first = second.jump.as_deref().unwrap();
        assert_eq!(
            (first.host.as_str(), first.port, first.user.as_str()),
            ("10.1.1.1", 2022, "admin")
        );
        assert!(first.jump.is_none());
    }

    #[test]
    fn jump_loops_and_bad_hops_are_refused() {
        let mut nodes = HashMap::new();
        nodes.insert(
            "a".to_string(),
            NodeSpec {
                proxy_jump: Some("b".into()),
                ..spec("a", "a")
            },
        );
        nodes.insert(
            "b".to_string(),
            NodeSpec {
                proxy_jump: Some("a".into()),
                ..spec("b", "b")
            },
        );
        let r = resolver(&nodes, None);
        assert!(r.resolve(&nodes["a"]).unwrap_err().contains("hops"));
        let bad = NodeSpec {
            proxy_jump: Some("u@:22".into()),
            ..spec("x", "x")
        };
        assert!(
            r.resolve(&bad)
                .unwrap_err()
                .contains("not [user@]host[:port]")
        );
    }

    #[test]
    fn hops_parse() {
        assert_eq!(parse_hop("h"), Some((None, "h".into(), None)));
        assert_eq!(
            parse_hop("u@h:2"),
            Some((Some("u".into()), "h".into(), Some(2)))
        );
        assert_eq!(
            parse_hop("ssh://u@[::1]:2"),
            Some((Some("u".into()), "::1".into(), Some(2)))
        );
        assert_eq!(parse_hop("h:x"), None);
    }
}
