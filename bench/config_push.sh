#!/usr/bin/env bash
# Templated config push over SSH: a small file with a per-node variable (app_port) pushed to N
# real OpenSSH sshd nodes on loopback (bench/nodes.sh), side by side with
#   - Ansible:  `ansible-playbook push.yml` (the template module), forks = N, pipelining,
#               ControlPersist, warm (the masters exist before timing);
#   - pyinfra:  `pyinfra inventory.py push.py` (files.template), --parallel N;
#   - baton:    `baton config apply app` (render, validate, probe, staged upload, verify+rename,
#               record a version).
# Two runs for each tool: "changed" (every node's file removed before each timed run, untimed)
# and "no-op" (the files are already right). Playbook, deploy and templates: bench/config_push/,
# copied from the shared kit with the destination under this script's own $STATE.
# For each N in $CONFIG_NODES (default "20 50"). Each tool is checked on all N nodes first.
set -euo pipefail

RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
if [ ! -x /usr/sbin/sshd ]; then
  echo "bench: no /usr/sbin/sshd (apt-get install -y openssh-server)" >&2
  exit 1
fi
CONFIG_NODES=${CONFIG_NODES:-20 50}
KIT="$BENCH_DIR/config_push"

python_prefix=$(python3 -c 'import sys; print(sys.prefix)' 2>/dev/null || true)
peer_bin() {
  local candidate
  for candidate in "$python_prefix/bin/$1" "$HOME/.local/bin/$1"; do
    if [ -x "$candidate" ] && [[ "$candidate" != */shims/* ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
}
ensure_peer() {
  if [ -z "$(peer_bin "$1")" ]; then
    echo "== pip install $2" >&2
    python3 -m pip install --quiet "$2" >&2 || echo "bench: could not install $2; $1 is left out" >&2
  fi
  peer_bin "$1"
}
PLAYBOOK=${PLAYBOOK:-$(ensure_peer ansible-playbook ansible-core)}
PYINFRA=${PYINFRA:-$(ensure_peer pyinfra pyinfra)}

STATE=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-config.XXXXXX")
NODE_PORT=${CONFIG_PORT:-2422}
while [ -n "$(ss -Hltn "sport = :$NODE_PORT" 2>/dev/null)" ]; do NODE_PORT=$((NODE_PORT + 1)); done
export STATE NODE_PORT
cleanup() {
  "$BENCH_DIR/nodes.sh" stop >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
remove_files() { rm -f "$STATE"/node[0-9]*/app.conf; }
count_files() { # files that hold their node's own port
  local n=0 i
  for ((i = 1; i <= N; i++)); do
    grep -qx "listen_port = $((8000 + i))" "$(printf '%s/node%02d/app.conf' "$STATE" "$i")" 2>/dev/null && n=$((n + 1))
  done
  echo "$n"
}
check() { # check LABEL: every node has its file
  local found
  found=$(count_files)
  if [ "$found" -ne "$N" ]; then
    cat "$STATE/check.log" >&2
    echo "bench: $1 wrote $found of $N files" >&2
    exit 1
  fi
  echo "  check: $1 ok on $found of $N nodes"
}
# median_changed LABEL COMMAND...: like median_seconds, but every node's file is removed before
# each run (outside the timing), so each timed run changes all N files.
median_changed() {
  local label=$1 i start end
  shift
  local -a times=()
  for ((i = 0; i < WARMUP + RUNS; i++)); do
    remove_files
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "bench: \`$label\` failed" >&2; return 1; }
    end=$(date +%s%N)
    [ "$i" -ge "$WARMUP" ] && times+=("$((end - start))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END {
    m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.6f\n", m / 1e9 }'
}

echo "== config push: a templated file with a per-node variable on N nodes (median of $RUNS runs)"
echo "   $(nproc) cores; baton $BATON"
echo "   ansible-playbook: ${PLAYBOOK:-not installed}"
echo "   pyinfra: ${PYINFRA:-not installed}"

declare -A T
for N in $CONFIG_NODES; do
  echo
  echo "-- $N nodes (load before: $(load))"
  "$BENCH_DIR/nodes.sh" start "$N" | sed 's/^/  /'

  proj="$STATE/baton-$N"
  mkdir -p "$proj"
  cp "$KIT/app.conf.baton.j2" "$proj/app.conf.j2"
  {
    echo "project: bench-config"
    echo "vars: { state: $STATE }"
    echo "nodes:"
    for ((i = 1; i <= N; i++)); do
      printf '  node%02d: { host: 127.0.0.%d, port: %d, user: root, key: %s, vars: { app_port: %d } }\n' \
        "$i" "$((i + 1))" "$NODE_PORT" "$STATE/client/id_ed25519" "$((8000 + i))"
    done
    echo "ssh: { known_hosts: $STATE/known_hosts, connect_timeout: 10s, forks: $N }"
    echo "configs:"
    echo "  app:"
    echo "    targets: all"
    echo "    path: \"{{ vars.state }}/{{ node.name }}/app.conf\""
    echo "    template: app.conf.j2"
    echo "    mode: \"0644\""
  } >"$proj/baton.yaml"
  cd "$proj"
  remove_files
  "$BATON" config apply app >"$STATE/check.log" 2>&1 || { cat "$STATE/check.log" >&2; exit 1; }
  check "baton config apply"
  T[$N,baton_changed]=$(median_changed "baton changed $N" "$BATON" config apply app)
  T[$N,baton_noop]=$(median_seconds "baton no-op $N" "$BATON" config apply app)
  cd "$STATE"

  if [ -n "$PLAYBOOK" ]; then
    write_ansible_cfg "$STATE" "$N"
    ansible_cmd=("$PLAYBOOK" -f "$N" -e "state=$STATE" "$KIT/push.yml")
    remove_files
    "${ansible_cmd[@]}" >"$STATE/check.log" 2>&1 || true
    check "ansible-playbook"
    T[$N,ansible_changed]=$(median_changed "ansible changed $N" "${ansible_cmd[@]}")
    T[$N,ansible_noop]=$(median_seconds "ansible no-op $N" "${ansible_cmd[@]}")
  fi

  if [ -n "$PYINFRA" ]; then
    cp "$KIT/push.py" "$KIT/app.conf.pyinfra.j2" "$STATE/"
    pyinfra_cmd=("$PYINFRA" -y --parallel "$N" "$STATE/inventory.py" "$STATE/push.py")
    remove_files
    "${pyinfra_cmd[@]}" >"$STATE/check.log" 2>&1 || true
    check "pyinfra"
    T[$N,pyinfra_changed]=$(median_changed "pyinfra changed $N" "${pyinfra_cmd[@]}")
    T[$N,pyinfra_noop]=$(median_seconds "pyinfra no-op $N" "${pyinfra_cmd[@]}")
  fi

  echo "  load after: $(load)"
  "$BENCH_DIR/nodes.sh" stop | sed 's/^/  /'
  for k in baton_changed baton_noop ansible_changed ansible_noop pyinfra_changed pyinfra_noop; do
    [ -n "${T[$N,$k]:-}" ] && result "config_${N}_${k}_s" "${T[$N,$k]}"
  done
done

echo
echo "== config push summary (medians, seconds; speed-up = peer / baton on the same run)"
for N in $CONFIG_NODES; do
  printf '| %-8s | %-8s | %10s | %10s | %10s | %12s | %12s |\n' "nodes" "run" "baton" "ansible" "pyinfra" "vs ansible" "vs pyinfra"
  printf '|%s|\n' "$(printf -- '-%.0s' {1..93})"
  break
done
for N in $CONFIG_NODES; do
  for run in changed noop; do
    b=${T[$N,baton_$run]}
    a=${T[$N,ansible_$run]:-}
    p=${T[$N,pyinfra_$run]:-}
    ra=-; rp=-
    [ -n "$a" ] && ra=$(printf '%.1fx' "$(calc "$a / $b")") && result "config_${N}_${run}_speedup_ansible" "$(calc "$a / $b")"
    [ -n "$p" ] && rp=$(printf '%.1fx' "$(calc "$p / $b")") && result "config_${N}_${run}_speedup_pyinfra" "$(calc "$p / $b")"
    [ -n "$a" ] && a=$(printf '%.3f' "$a")
    [ -n "$p" ] && p=$(printf '%.3f' "$p")
    printf '| %-8s | %-8s | %10.3f | %10s | %10s | %12s | %12s |\n' "$N" "$run" "$b" "${a:--}" "${p:--}" "$ra" "$rp"
  done
done
echo "   targets: >= 10x vs Ansible and >= 2x vs pyinfra on both runs"
exit 0
