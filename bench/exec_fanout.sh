#!/usr/bin/env bash
# Ad-hoc command fan-out over SSH: `baton exec all -- uptime` against real OpenSSH sshd nodes on
# loopback (bench/nodes.sh: 127.0.0.2 .. 127.0.0.(N+1), one sshd each), side by side with
#   - Ansible:  `ansible all -m command -a uptime`, forks = N, pipelining, ControlPersist, warm
#               (the ControlPersist masters exist before timing);
#   - pyinfra:  `pyinfra inventory.py exec -- uptime`, --parallel N;
#   - OpenSSH:  `xargs -P N ssh NODE uptime`, cold (a new connection per node, curve25519-sha256,
#               no ControlMaster) and warm (over ControlMaster connections opened beforehand).
# For each N in $FANOUT_NODES (default "20 50"). Every tool is checked to succeed on all N nodes
# before it is timed. The nodes this script started are stopped on exit, failure included.
#
# Needs root (sshd on 127.0.0.x, /run/sshd), openssh-server and openssh-client. Ansible and
# pyinfra are pip-installed when missing; a peer that cannot be installed is left out.
set -euo pipefail

# This benchmark's own defaults: a 50-node Ansible run takes ~15 s, so fewer repetitions than
# the local benchmarks (RUNS / WARMUP given in the environment still win).
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
if [ ! -x /usr/sbin/sshd ]; then
  echo "bench: no /usr/sbin/sshd (apt-get install -y openssh-server)" >&2
  exit 1
fi
FANOUT_NODES=${FANOUT_NODES:-20 50}

# --- the peers: the real scripts of the pip packages, never pyenv shims (+0.18 s per call)
python_prefix=$(python3 -c 'import sys; print(sys.prefix)' 2>/dev/null || true)
peer_bin() { # peer_bin NAME: the real script NAME of the current python, else nothing
  local candidate
  for candidate in "$python_prefix/bin/$1" "$HOME/.local/bin/$1"; do
    if [ -x "$candidate" ] && [[ "$candidate" != */shims/* ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
}
ensure_peer() { # ensure_peer NAME PIP_PACKAGE
  if [ -z "$(peer_bin "$1")" ]; then
    echo "== pip install $2" >&2
    python3 -m pip install --quiet "$2" >&2 || echo "bench: could not install $2; $1 is left out" >&2
  fi
  peer_bin "$1"
}
ANSIBLE=${ANSIBLE:-$(ensure_peer ansible ansible-core)}
PYINFRA=${PYINFRA:-$(ensure_peer pyinfra pyinfra)}

# --- the nodes: our copy of the shared kit's nodes.sh, in a state directory of our own and on a
# port nobody listens on (another benchmark may be using the kit's default 2222)
STATE=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-fanout.XXXXXX")
NODE_PORT=${FANOUT_PORT:-2322}
while [ -n "$(ss -Hltn "sport = :$NODE_PORT" 2>/dev/null)" ]; do NODE_PORT=$((NODE_PORT + 1)); done
export STATE NODE_PORT
cleanup() {
  "$BENCH_DIR/nodes.sh" stop >/dev/null 2>&1 || true # sshd + ControlMasters under $STATE
  rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# load: the load averages, and how busy the CPUs are over one second (others' work: nothing of
# ours runs then), a better sign of a quiet machine than the load average our fan-out inflates
load() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  echo "$(cut -d' ' -f1-3 /proc/loadavg), CPUs $(echo "$a $b" | awk '{ printf "%d", 100 * ($3 - $1) / (($3 - $1) + ($4 - $2) + 1e-9) }')% busy"
}
check_count() { # check_count LABEL EXPECTED FOUND OUTPUT_FILE
  if [ "$3" -ne "$2" ]; then
    cat "$4" >&2
    echo "bench: $1 succeeded on $3 of $2 nodes" >&2
    exit 1
  fi
  echo "  check: $1 ok on $3 of $2 nodes"
}

echo "== exec fan-out: \`uptime\` on N nodes over SSH (median of $RUNS runs, $WARMUP warm-up)"
echo "   $(nproc) cores; baton $BATON"
echo "   ansible: ${ANSIBLE:-not installed}${ANSIBLE:+ ($("$ANSIBLE" --version 2>/dev/null | sed -n 1p))}"
echo "   pyinfra: ${PYINFRA:-not installed}${PYINFRA:+ ($("$PYINFRA" --version 2>&1 | sed -n 1p))}"
echo "   openssh: $(ssh -V 2>&1)"

# CPU time, in clock ticks, of (1) the nodes: every sshd listener and all its descendants, live
# ones included (sessions on ControlMaster connections stay alive), and (2) the client's
# ControlMaster processes (daemonized, so outside the measured command's process tree).
TICK_MS=$((1000 / $(getconf CLK_TCK)))
cpu_ticks() {
  local roots masters
  roots=$(cat "$STATE"/node*/sshd.pid 2>/dev/null | tr '\n' ' ')
  masters=$(pgrep -f -- "$STATE/(cm|cp-ansible)/" | tr '\n' ' ' || true)
  # /proc/PID/stat without its "(comm)": 1 pid, 2 state, 3 ppid, 13 utime, 14 stime, 15 cutime, 16 cstime
  cat /proc/[0-9]*/stat 2>/dev/null | sed -E 's/^([0-9]+) \(.*\) /\1 /' | awk -v roots="$roots" -v masters="$masters" '
    BEGIN { n = split(roots, a, " "); for (i = 1; i <= n; i++) root[a[i]] = 1
            n = split(masters, a, " "); for (i = 1; i <= n; i++) master[a[i]] = 1 }
    { ppid[$1] = $3; t[$1] = $13 + $14 + $15 + $16; pids[++np] = $1 }
    END {
      for (i = 1; i <= np; i++) {
        p = pids[i]; x = p; hops = 0
        while (!(x in root) && (x in ppid) && x > 1 && hops++ < 64) x = ppid[x]
        if (x in root) nodes += t[p]
        if (p in master) client += t[p]
      }
      print nodes + 0, client + 0
    }'
}
# cpu_profile KEY COMMAND...: runs COMMAND $CPU_RUNS more times and records the medians of the
# client's CPU (user + sys of the command and its children, plus its ControlMasters) in C[N,KEY]
# and of the nodes' sshd CPU in S[N,KEY], in ms. Without /usr/bin/time: nothing.
CPU_RUNS=${CPU_RUNS:-3}
declare -A C S
cpu_profile() {
  local key=$1 r n0 m0 n1 m1 u s
  shift
  [ -x /usr/bin/time ] && [ "$CPU_RUNS" -gt 0 ] || return 0
  local -a client=() nodes=()
  for ((r = 0; r < CPU_RUNS; r++)); do
    read -r n0 m0 < <(cpu_ticks)
    /usr/bin/time -o "$STATE/time.txt" -f '%U %S' "$@" >/dev/null 2>&1 || true
    sleep 0.3 # let the sessions end and be reaped
    read -r n1 m1 < <(cpu_ticks)
    read -r u s < <(tail -n1 "$STATE/time.txt")
    client+=("$(awk -v u="$u" -v s="$s" -v m=$((m1 - m0)) -v k="$TICK_MS" 'BEGIN { printf "%d", (u + s) * 1000 + m * k }')")
    nodes+=("$(((n1 - n0) * TICK_MS))")
  done
  C[$N,$key]=$(printf '%s\n' "${client[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  S[$N,$key]=$(printf '%s\n' "${nodes[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
}
# measure KEY LABEL COMMAND...: the median wall time (T[N,KEY]), then the CPU profile
measure() {
  local key=$1 label=$2
  shift 2
  T[$N,$key]=$(median_seconds "$label" "$@")
  cpu_profile "$key" "$@"
}

declare -A T # T[N,tool] = median seconds
for N in $FANOUT_NODES; do
  echo
  echo "-- $N nodes (load before: $(load))"
  "$BENCH_DIR/nodes.sh" start "$N" | sed 's/^/  /'

  # baton: a project with one node per sshd and the kit's client key and known_hosts
  proj="$STATE/baton-$N"
  mkdir -p "$proj"
  {
    echo "project: bench-fanout"
    echo "nodes:"
    for ((i = 1; i <= N; i++)); do
      printf '  node%02d: { host: 127.0.0.%d, port: %d, user: root, key: %s }\n' \
        "$i" "$((i + 1))" "$NODE_PORT" "$STATE/client/id_ed25519"
    done
    echo "ssh: { known_hosts: $STATE/known_hosts, connect_timeout: 10s, forks: $N }"
  } >"$proj/baton.yaml"
  cd "$proj"
  "$BATON" validate >/dev/null
  # exit 0 and the summary line "N ok · 0 failed · 0 unreachable", else count the ✓ lines
  if "$BATON" exec all -- uptime >"$STATE/check.log" 2>&1 &&
    grep -q "^$N ok · 0 failed · 0 unreachable" "$STATE/check.log"; then
    found=$N
  else
    found=$(grep -c '^✓ ' "$STATE/check.log" || true)
    [ "$found" -eq "$N" ] && found=$((N - 1)) # all ✓ but no clean summary or exit 0: a failure
  fi
  check_count "baton exec" "$N" "$found" "$STATE/check.log"
  measure baton "baton exec $N" "$BATON" exec all -- uptime
  measure ping "baton ping $N" "$BATON" ping all
  # The same with `ssh: { persist }`: connections kept open by the project's daemon between
  # commands (ControlPersist's counterpart); one run first opens them.
  sed -i "s/forks: $N }/forks: $N, persist: 2m }/" "$proj/baton.yaml"
  "$BATON" exec all -- uptime >"$STATE/check.log" 2>&1 || true
  grep -q "^$N ok · 0 failed · 0 unreachable" "$STATE/check.log" ||
    { cat "$STATE/check.log" >&2; echo "bench: baton exec with persist failed" >&2; exit 1; }
  measure baton_warm "baton exec $N (persist)" "$BATON" exec all -- uptime
  pkill -f "ssh-mux --socket $proj/" || true
  cd "$STATE"

  # OpenSSH cold: a new connection per node, curve25519-sha256, no ControlMaster
  ssh_cold=(xargs -a "$STATE/nodes.txt" -P "$N" -I '{}' ssh -F "$STATE/ssh_config"
    -o KexAlgorithms=curve25519-sha256 -o ControlMaster=no -o ControlPath=none '{}' uptime)
  "${ssh_cold[@]}" >"$STATE/check.log" 2>&1 || true
  check_count "openssh cold" "$N" "$(grep -c 'load average' "$STATE/check.log")" "$STATE/check.log"
  measure ssh_cold "openssh cold $N" "${ssh_cold[@]}"

  # OpenSSH warm: one ControlMaster per node opened first (ControlPersist), then the fan-out
  xargs -a "$STATE/nodes.txt" -P "$N" -I '{}' ssh -F "$STATE/ssh_config" -o ControlMaster=yes \
    -o ControlPersist=600s -o "ControlPath=$STATE/cm/%C" -fN '{}'
  ssh_warm=(xargs -a "$STATE/nodes.txt" -P "$N" -I '{}' ssh -F "$STATE/ssh_config"
    -o ControlMaster=no -o "ControlPath=$STATE/cm/%C" '{}' uptime)
  "${ssh_warm[@]}" >"$STATE/check.log" 2>&1 || true
  check_count "openssh warm" "$N" "$(grep -c 'load average' "$STATE/check.log")" "$STATE/check.log"
  measure ssh_warm "openssh warm $N" "${ssh_warm[@]}"

  # Ansible: the kit's ansible.cfg (ansible/ansible.cfg) with our paths, forks = N, pipelining,
  # ControlPersist; the check run opens the masters, so every timed run is warm
  if [ -n "$ANSIBLE" ]; then
    write_ansible_cfg "$STATE" "$N"
    ansible_cmd=("$ANSIBLE" all -f "$N" -m command -a uptime)
    "${ansible_cmd[@]}" >"$STATE/check.log" 2>&1 || true
    check_count "ansible" "$N" "$(grep -c '| CHANGED | rc=0' "$STATE/check.log")" "$STATE/check.log"
    measure ansible "ansible $N" "${ansible_cmd[@]}"
  fi

  # pyinfra: the kit's inventory.py carries the key, known_hosts and strict host key checking
  if [ -n "$PYINFRA" ]; then
    pyinfra_cmd=("$PYINFRA" --parallel "$N" "$STATE/inventory.py" exec -- uptime)
    "${pyinfra_cmd[@]}" >"$STATE/check.log" 2>&1 || true
    check_count "pyinfra" "$N" "$(grep -c '\] Success$' "$STATE/check.log")" "$STATE/check.log"
    measure pyinfra "pyinfra $N" "${pyinfra_cmd[@]}"
  fi

  echo "  load after: $(load)"
  "$BENCH_DIR/nodes.sh" stop | sed 's/^/  /'
  for k in baton ping baton_warm ssh_cold ssh_warm ansible pyinfra; do
    [ -n "${T[$N,$k]:-}" ] && result "fanout_${N}_${k}_s" "${T[$N,$k]}"
    [ -n "${C[$N,$k]:-}" ] && result "fanout_${N}_${k}_client_cpu_ms" "${C[$N,$k]}"
    [ -n "${S[$N,$k]:-}" ] && result "fanout_${N}_${k}_nodes_cpu_ms" "${S[$N,$k]}"
  done
done

# --- the table: medians, then how many times faster baton is (peer time / baton time)
echo
echo "== exec fan-out summary (medians, seconds; speed-up = peer / baton exec)"
header="| %-44s"
for N in $FANOUT_NODES; do header+=" | %12s"; done
header+=" |\n"
titles=()
for N in $FANOUT_NODES; do titles+=("$N nodes"); done
# shellcheck disable=SC2059
printf "$header" "" "${titles[@]}"
printf '|%s' "$(printf -- '-%.0s' {1..46})"
for N in $FANOUT_NODES; do printf '|%s' "$(printf -- '-%.0s' {1..14})"; done
printf '|\n'
row() { # row LABEL KEY|ratio:KEY
  local label=$1 key=$2 N v
  local -a cells=()
  for N in $FANOUT_NODES; do
    if [[ $key == ratio:* ]]; then
      v=${T[$N,${key#ratio:}]:-}
      [ -n "$v" ] && v=$(printf '%.1fx' "$(calc "$v / ${T[$N,baton]}")")
    elif [[ $key == warmratio:* ]]; then
      v=${T[$N,${key#warmratio:}]:-}
      [ -n "$v" ] && [ -n "${T[$N,baton_warm]:-}" ] &&
        v=$(printf '%.2fx' "$(calc "${T[$N,baton_warm]} / $v")")
    else
      v=${T[$N,$key]:-}
      [ -n "$v" ] && v=$(printf '%.3f s' "$v")
    fi
    cells+=("${v:--}")
  done
  # shellcheck disable=SC2059
  printf "$header" "$label" "${cells[@]}"
}
row "baton exec all -- uptime (cold process)" baton
row "baton ping all (connect, auth, true)" ping
row "baton exec, ssh.persist (warm daemon)" baton_warm
row "ansible -m command, pipelining, CP warm" ansible
row "pyinfra exec -- uptime" pyinfra
row "OpenSSH xargs -P N, cold, curve25519" ssh_cold
row "OpenSSH xargs -P N, warm ControlMaster" ssh_warm
row "speed-up vs Ansible (target >= 10x)" ratio:ansible
row "speed-up vs pyinfra (target >= 3x)" ratio:pyinfra
row "speed-up vs OpenSSH cold (target >= 1x)" ratio:ssh_cold
row "speed-up vs OpenSSH warm (no target)" ratio:ssh_warm
row "persist: baton/OpenSSH warm (goal <= 1.5x)" warmratio:ssh_warm
if [ -n "${!C[*]}" ]; then
  echo
  echo "== CPU per run, ms (medians of $CPU_RUNS runs): client (the tool, its children and its"
  echo "   ControlMasters) / nodes (every sshd and its sessions); 2 cores shared by both"
  # shellcheck disable=SC2059
  printf "$header" "" "${titles[@]}"
  printf '|%s' "$(printf -- '-%.0s' {1..46})"
  for N in $FANOUT_NODES; do printf '|%s' "$(printf -- '-%.0s' {1..14})"; done
  printf '|\n'
  for k in baton:"baton exec" ping:"baton ping" ansible:"Ansible (warm)" pyinfra:pyinfra \
    ssh_cold:"OpenSSH cold" ssh_warm:"OpenSSH warm (ControlMaster)"; do
    cells=()
    for N in $FANOUT_NODES; do cells+=("${C[$N,${k%%:*}]:--} / ${S[$N,${k%%:*}]:--}"); done
    # shellcheck disable=SC2059
    printf "$header" "${k#*:}" "${cells[@]}"
  done
fi
for N in $FANOUT_NODES; do
  for k in ansible pyinfra ssh_cold ssh_warm; do
    [ -n "${T[$N,$k]:-}" ] && result "fanout_${N}_speedup_${k}" "$(calc "${T[$N,$k]} / ${T[$N,baton]}")"
  done
done
exit 0
