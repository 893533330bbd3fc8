#!/usr/bin/env bash
# nodes.sh start N | stop | status
#
# Starts N real OpenSSH sshd daemons on this machine, one per loopback
# address 127.0.0.2 .. 127.0.0.(N+1), all on port $NODE_PORT (default 2222).
# Each node has its own state dir $STATE/nodeNN/ with its own sshd_config,
# ed25519 host key, PidFile and log. A shared test client key (ed25519,
# no passphrase) lives in $STATE/client/. Writes for clients:
#   $STATE/ssh_config     Host nodeNN entries (HostName/Port/User/IdentityFile,
#                         UserKnownHostsFile=$STATE/known_hosts, strict checking)
#   $STATE/known_hosts    collected with ssh-keyscan
#   $STATE/nodes.txt      node names, one per line
#   $STATE/inventory.yml  Ansible inventory (app_port per host)
#   $STATE/inventory.py   pyinfra inventory
# `stop` kills exactly the PIDs recorded in the PidFiles (nothing else).
#
# Login user is root. Remote commands run in root's bash, and Debian's bash
# sources ~/.bashrc for commands started by sshd. On a machine where root's ~/.bashrc runs
# `pyenv init` (~0.2 s per shell!), which would dominate every remote step. So by
# default (NODE_HOME=clean) each sshd sets `SetEnv HOME=$STATE/nodeNN/home`, an
# empty home with empty rc files, emulating a lean target. NODE_HOME=real keeps
# root's real home (to measure that effect).
#
# Copied unchanged from the shared peer benchmark kit (shared/bench/nodes.sh), so that
# bench/exec_fanout.sh does not depend on it at run time.
set -euo pipefail

STATE=${STATE:-/tmp/peer-nodes}
NODE_PORT=${NODE_PORT:-2222}
NODE_USER=root
NODE_HOME=${NODE_HOME:-clean}

node_name() { printf 'node%02d' "$1"; }
node_ip() { echo "127.0.0.$(( $1 + 1 ))"; }

stop_nodes() {
  local n=0 pidf pid
  shopt -s nullglob
  for pidf in "$STATE"/node*/sshd.pid; do
    pid=$(cat "$pidf" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      # only kill if it really is the sshd we started with this node's config
      if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-f $(dirname "$pidf")/sshd_config"; then
        kill "$pid"; n=$((n+1))
      fi
    fi
    rm -f "$pidf"
  done
  # close any ControlMaster processes left by the benchmarks (they are ours:
  # they live on sockets under $STATE)
  for sock in "$STATE"/cm/* "$STATE"/cp-ansible/*; do
    [ -S "$sock" ] && ssh -S "$sock" -O exit dummy >/dev/null 2>&1 || true
  done
  echo "stopped $n sshd"
}

start_nodes() {
  local N=$1 i name ip dir
  [ "$N" -ge 1 ] && [ "$N" -le 250 ] || { echo "N must be 1..250" >&2; exit 2; }
  stop_nodes >/dev/null
  mkdir -p /run/sshd "$STATE/client" "$STATE/cm" "$STATE/cp-ansible"
  chmod 755 /run/sshd
  if [ ! -f "$STATE/client/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C peer-bench -f "$STATE/client/id_ed25519"
  fi
  cp "$STATE/client/id_ed25519.pub" "$STATE/client/authorized_keys"
  chmod 644 "$STATE/client/authorized_keys"
  : >"$STATE/nodes.txt"
  : >"$STATE/ssh_config.tmp"
  for i in $(seq 1 "$N"); do
    name=$(node_name "$i"); ip=$(node_ip "$i"); dir="$STATE/$name"
    mkdir -p "$dir"
    mkdir -p "$dir/home"; : >"$dir/home/.bashrc"; : >"$dir/home/.profile"
    [ -f "$dir/ssh_host_ed25519_key" ] || \
      ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/ssh_host_ed25519_key"
    cat >"$dir/sshd_config" <<EOF
ListenAddress $ip:$NODE_PORT
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile $STATE/client/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 200
MaxSessions 100
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
EOF
    [ "$NODE_HOME" = clean ] && echo "SetEnv HOME=$dir/home" >>"$dir/sshd_config"
    /usr/sbin/sshd -t -f "$dir/sshd_config"
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
    echo "$name" >>"$STATE/nodes.txt"
    cat >>"$STATE/ssh_config.tmp" <<EOF
Host $name
  HostName $ip
EOF
  done
  {
    cat "$STATE/ssh_config.tmp"
    cat <<EOF
Host *
  Port $NODE_PORT
  User $NODE_USER
  IdentityFile $STATE/client/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $STATE/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF
  } >"$STATE/ssh_config"
  rm -f "$STATE/ssh_config.tmp"
  # wait for all listeners, then collect host keys
  local tries=0
  while [ "$(ss -Hltn "sport = :$NODE_PORT" | wc -l)" -lt "$N" ]; do
    tries=$((tries+1)); [ $tries -gt 100 ] && { echo "sshd did not come up" >&2; exit 1; }
    sleep 0.1
  done
  : >"$STATE/known_hosts"
  for i in $(seq 1 "$N"); do
    ssh-keyscan -T 5 -t ed25519 -p "$NODE_PORT" "$(node_ip "$i")" 2>/dev/null >>"$STATE/known_hosts"
  done
  [ "$(wc -l <"$STATE/known_hosts")" -eq "$N" ] || { echo "keyscan incomplete" >&2; exit 1; }
  write_inventories "$N"
  echo "started $N sshd on 127.0.0.2..$(node_ip "$N"):$NODE_PORT home=$NODE_HOME state=$STATE"
}

write_inventories() {
  local N=$1 i name
  {
    echo "all:"
    echo "  vars:"
    echo "    ansible_user: $NODE_USER"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "  hosts:"
    for i in $(seq 1 "$N"); do
      name=$(node_name "$i")
      echo "    $name: {app_port: $((8000 + i))}"
    done
  } >"$STATE/inventory.yml"
  {
    echo "# pyinfra inventory generated by nodes.sh"
    echo "_common = {'ssh_port': $NODE_PORT, 'ssh_user': '$NODE_USER',"
    echo "           'ssh_key': '$STATE/client/id_ed25519',"
    echo "           'ssh_known_hosts_file': '$STATE/known_hosts',"
    echo "           'ssh_strict_host_key_checking': 'yes'}"
    echo "nodes = ["
    for i in $(seq 1 "$N"); do
      echo "    ('$(node_name "$i")', dict(_common, ssh_hostname='$(node_ip "$i")', app_port=$((8000 + i)))),"
    done
    echo "]"
  } >"$STATE/inventory.py"
}

case "${1:-}" in
  start) start_nodes "${2:?usage: nodes.sh start N}" ;;
  stop) stop_nodes ;;
  status)
    shopt -s nullglob; up=0
    for p in "$STATE"/node*/sshd.pid; do kill -0 "$(cat "$p")" 2>/dev/null && up=$((up+1)); done
    echo "$up sshd running" ;;
  *) echo "usage: $0 start N | stop | status" >&2; exit 2 ;;
esac
