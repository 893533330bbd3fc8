//! Opening an authenticated SSH connection: TCP with a timeout, key exchange, host key checked
//! against known_hosts, then public-key authentication (a key file, else the agent, else the
//! default key files).
//!
//! Through a bastion (`ProxyJump`): the bastion's connection is opened the same way (its host
//! key checked, its own jumps followed), then a `direct-tcpip` channel to the target carries
//! the target's SSH session, whose host key is checked under the target's name and port, as
//! OpenSSH's `ssh -J` does. The bastion's connection lives as long as the target's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::{MethodKind, kex};

/// Where and how to reach one node.
#[derive(Debug, Clone)]
pub struct NodeAddress {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; `None` = ssh-agent, then `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`.
    pub key: Option<PathBuf>,
    /// The bastion to tunnel through (`ProxyJump`); its own `jump` is the hop before it.
    pub jump: Option<Box<NodeAddress>>,
}

/// How every connection is made.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub known_hosts: PathBuf,
    /// Record unknown host keys instead of refusing them. A changed key is always refused.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
}

/// The russh client configuration baton uses.
///
/// Key exchange: curve25519-sha256 first. OpenSSH's default post-quantum hybrid
/// (mlkem768x25519-sha256) costs about three times the client CPU per connection, which
/// dominates a fan-out to many nodes; it stays in the list, after curve25519, for servers that
/// insist on it.
pub fn client_config() -> Arc<client::Config> {
    let preferred = russh::Preferred {
        kex: std::borrow::Cow::Owned(vec![
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::MLKEM768X25519_SHA256,
            kex::DH_GEX_SHA256,
            kex::DH_G16_SHA512,
            kex::DH_G14_SHA256,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
        ]),
        ..Default::default()
    };
    Arc::new(client::Config {
        preferred,
        nodelay: true,
        // Idle pooled connections stay usable: probe them rather than letting NATs drop them.
        keepalive_interval: Some(Duration::from_secs(30)),
        ..Default::default()
    })
}

/// Checks the server's host key; remembers why it refused, for the error message.
pub struct HostKeyCheck {
    node: NodeAddress,
    options: SshOptions,
    refusal: Arc<Mutex<Option<String>>>,
    /// The bastion's connection, held for as long as this session runs over it.
    _via: Option<Connection>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(_) => {
                self.refuse("presented a host certificate; baton checks plain host keys against known_hosts");
                return Ok(false);
            }
        };
        let (host, port, path) = (&self.node.host, self.node.port, &self.options.known_hosts);
        match russh::keys::check_known_hosts_path(host, port, &key, path) {
            Ok(true) => Ok(true),
            Ok(false) if self.options.accept_new_host_keys => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match russh::keys::known_hosts::learn_known_hosts_path(host, port, &key, path) {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        self.refuse(&format!(
                            "cannot record its host key in `{}`: {e}",
                            path.display()
                        ));
                        Ok(false)
                    }
                }
            }
            Ok(false) => {
                self.refuse(&format!(
                    "unknown host key {} (not in `{}`); add it (ssh-keyscan -p {port} {host} >> {}) or set `ssh: {{ accept_new_host_keys: true }}`",
                    fingerprint(&key),
                    path.display(),
                    path.display()
                ));
                Ok(false)
            }
            Err(russh::keys::Error::KeyChanged { line }) => {
                let known = russh::keys::known_hosts::known_host_keys_path(host, port, path)
                    .ok()
                    .and_then(|keys| keys.into_iter().find(|(l, _)| *l == line))
                    .map(|(_, k)| fingerprint(&k))
                    .unwrap_or_else(|| "?".into());
                self.refuse(&format!(
                    "HOST KEY CHANGED: known_hosts (`{}` line {line}) has {known}, the node now presents {}; refusing to connect (if the change is expected, remove that line)",
                    path.display(),
                    fingerprint(&key)
                ));
                Ok(false)
            }
            Err(e) => {
                self.refuse(&format!(
                    "cannot read known_hosts `{}`: {e}",
                    path.display()
                ));
                Ok(false)
            }
        }
    }
}

impl HostKeyCheck {
    fn refuse(&self, why: &str) {
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    }
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

pub type Connection = Handle<HostKeyCheck>;

/// Connect and authenticate within the connect timeout. Errors are one line naming the cause.
pub async fn connect(
    node: &NodeAddress,
    options: &SshOptions,
    config: Arc<client::Config>,
) -> Result<Connection, String> {
    let refusal = Arc::new(Mutex::new(None));
    let mut handler = HostKeyCheck {
        node: node.clone(),
        options: options.clone(),
        refusal: refusal.clone(),
        _via: None,
    };
    let attempt = async {
        let mut handle = match &node.jump {
            Some(jump) => {
                let bastion = Box::pin(connect(jump, options, config.clone()))
                    .await
                    .map_err(|e| format!("through `{}`: {e}", jump.name))?;
                let channel = bastion
                    .channel_open_direct_tcpip(node.host.clone(), node.port.into(), "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        format!(
                            "the bastion `{}` cannot reach {}:{}: {e}",
                            jump.name, node.host, node.port
                        )
                    })?;
                handler._via = Some(bastion);
                handshake(config, channel.into_stream(), handler, node, &refusal).await?
            }
            None => {
                let addrs = tokio::net::lookup_host((node.host.as_str(), node.port))
                    .await
                    .map_err(|e| {
                        format!("cannot resolve host `{}`: {}", node.host, plain_io(&e))
                    })?;
                let addrs: Vec<_> = addrs.collect();
                let stream = connect_tcp(&addrs).await.map_err(|e| {
                    format!(
                        "cannot connect to {}:{}: {}",
                        node.host,
                        node.port,
                        plain_io(&e)
                    )
                })?;
                handshake(config, stream, handler, node, &refusal).await?
            }
        };
        authenticate(&mut handle, node).await?;
        Ok::<_, String>(handle)
    };
    match tokio::time::timeout(options.connect_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer from {}:{} within {}s (connect timeout)",
            node.host,
            node.port,
            options.connect_timeout.as_secs_f32()
        )),
    }
}

/// The SSH handshake over `stream` (TCP, or a channel through a bastion).
async fn handshake<S>(
    config: Arc<client::Config>,
    stream: S,
    handler: HostKeyCheck,
    node: &NodeAddress,
    refusal: &Mutex<Option<String>>,
) -> Result<Connection, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    client::connect_stream(config, stream, handler)
        .await
        .map_err(
            |e| match refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(why) => why,
                None => format!("SSH handshake with {}:{} failed: {e}", node.host, node.port),
            },
        )
}

async fn connect_tcp(addrs: &[std::net::SocketAddr]) -> std::io::Result<tokio::net::TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `Connection refused (os error 111)` → `connection refused`.
fn plain_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

async fn authenticate(handle: &mut Connection, node: &NodeAddress) -> Result<(), String> {
    let user = node.user.clone();
    if let Some(path) = &node.key {
        let key = load_key(path)?;
        return match try_key(handle, &user, key).await? {
            true => Ok(()),
            false => Err(format!(
                "authentication failed for user `{user}` with key `{}` (is its public key in the node's authorized_keys?)",
                path.display()
            )),
        };
    }
    let mut tried = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some()
        && let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await
    {
        tried.push("ssh-agent".to_string());
        let identities = agent.request_identities().await.unwrap_or_default();
        for identity in identities {
            let key = identity.public_key().into_owned();
            let hash = rsa_hash(handle, &key).await;
            if let Ok(russh::client::AuthResult::Success) = handle
                .authenticate_publickey_with(&user, key, hash, &mut agent)
                .await
            {
                return Ok(());
            }
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    for name in ["id_ed25519", "id_rsa"] {
        let path = home.join(".ssh").join(name);
        if !path.is_file() {
            continue;
        }
        tried.push(path.display().to_string());
        if try_key(handle, &user, load_key(&path)?).await? {
            return Ok(());
        }
    }
    if tried.is_empty() {
        return Err(format!(
            "no key to authenticate user `{user}`: set `key:` on the node, start ssh-agent, or create ~/.ssh/id_ed25519"
        ));
    }
    Err(format!(
        "authentication failed for user `{user}` (tried {})",
        tried.join(", ")
    ))
}

fn load_key(path: &Path) -> Result<russh::keys::PrivateKey, String> {
    russh::keys::load_secret_key(path, None)
        .map_err(|e| format!("cannot load key `{}`: {e}", path.display()))
}

async fn rsa_hash(handle: &Connection, key: &PublicKey) -> Option<HashAlg> {
    if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    }
}

async fn try_key(
    handle: &mut Connection,
    user: &str,
    key: russh::keys::PrivateKey,
) -> Result<bool, String> {
    let hash = rsa_hash(handle, key.public_key()).await;
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    match handle.authenticate_publickey(user, key).await {
        Ok(russh::client::AuthResult::Success) => Ok(true),
        Ok(russh::client::AuthResult::Failure {
            remaining_methods, ..
        }) => {
            if !remaining_methods
                .iter()
                .any(|m| matches!(m, MethodKind::PublicKey))
                && !remaining_methods.is_empty()
            {
                return Err(format!(
                    "the server does not accept public keys for `{user}`"
                ));
            }
            Ok(false)
        }
        Err(e) => Err(format!("authentication error: {e}")),
    }
}
