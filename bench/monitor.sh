#!/usr/bin/env bash
# monitor.sh — the cost of watching N nodes, and how fast an alert's mail arrives.
#
# 1. Collection: `baton monitor` samples MON_NODES (100) real sshd nodes every MON_INTERVAL (5s)
#    for MON_SECONDS (120) over held SSH connections. Measured: baton's CPU (% of one core) and
#    peak memory, and the CPU the nodes spend per sample (sshd + the probe's processes).
#    Peers on the same nodes and interval, one after the other:
#    - Prometheus + node_exporter: one node_exporter per node address (restricted to the same
#      metrics: cpu, meminfo, loadavg, filesystem), scraped by one Prometheus;
#    - fresh ssh: the same probe over a new OpenSSH connection per node and sample (what a cron
#      loop over `ssh` costs), when Prometheus is not installed or always with PEER_SSH=1.
# 2. Alert latency: an alert on a `command` check of one node (`test ! -f MARKER`, every
#    MON_INTERVAL) with `for: MON_FOR`, mailed to a local SMTP server (aiosmtpd); the marker is
#    created and the time from then to the mail, minus `for`, is reported (it includes up to one
#    interval before a check sees it). A check, not a CPU burn: on a shared machine other work
#    makes `cpu above N` true or false on its own, and the figure would measure that instead.
#
# Prints a table; exits non-zero when a measurement could not be made.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BATON=$(baton_bin)
PYTHON=${PYTHON:-python3}
MON_NODES=${MON_NODES:-100}
MON_INTERVAL=${MON_INTERVAL:-5}
MON_SECONDS=${MON_SECONDS:-120}
MON_FOR=${MON_FOR:-10}
ALERT_RUNS=${ALERT_RUNS:-3}
if [ ! -x /usr/sbin/sshd ]; then
  echo "bench: no /usr/sbin/sshd (apt-get install -y openssh-server)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
  echo "== pip install aiosmtpd" >&2
  "$PYTHON" -m pip install --quiet aiosmtpd >&2
fi
if ! command -v prometheus >/dev/null || ! command -v prometheus-node-exporter >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== apt-get install -y prometheus prometheus-node-exporter" >&2
    apt-get install -y -qq prometheus prometheus-node-exporter >/dev/null 2>&1 || true
  fi
fi
HAVE_PROM=0
command -v prometheus >/dev/null && command -v prometheus-node-exporter >/dev/null && HAVE_PROM=1

STATE=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-monitor.XXXXXX")
NODE_PORT=${MON_PORT:-2422}
while [ -n "$(ss -Hltn "sport = :$NODE_PORT" 2>/dev/null)" ]; do NODE_PORT=$((NODE_PORT + 1)); done
export STATE NODE_PORT
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "$STATE/burn" 2>/dev/null || true
  "$BENCH_DIR/nodes.sh" stop >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TICK=$(getconf CLK_TCK)
# proc_ticks PID...: utime + stime (+ reaped children's) of these processes, in clock ticks
proc_ticks() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed -E 's/^[0-9]+ \(.*\) //' "/proc/$p/stat" | awk '{ print $12 + $13 + $14 + $15 }')))
  done
  echo "$total"
}
node_roots() { cat "$STATE"/node*/sshd.pid | tr '\n' ' '; }
# The nodes' sshd listeners with everything they reaped: once the sessions ended, all the
# node-side work (session sshd, bash, the probe's commands) is in their children's times.
nodes_ticks() {
  # shellcheck disable=SC2046
  proc_ticks $(node_roots)
}
sessions_gone() { # no session sshd left under the listeners
  local roots
  roots=$(node_roots | tr ' ' ',')
  ! pgrep -P "${roots%,}" >/dev/null 2>&1
}
wait_until() { # wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
pct_of_core() { awk -v t="$1" -v k="$TICK" -v s="$2" 'BEGIN { printf "%.1f", 100 * t / k / s }'; }
ms_per_sample() { awk -v t="$1" -v k="$TICK" -v n="$2" 'BEGIN { printf "%.2f", 1000 * t / k / n }'; }

echo "== monitoring: $MON_NODES nodes every ${MON_INTERVAL}s for ${MON_SECONDS}s ($(nproc) cores)"
echo "   baton $BATON"
"$BENCH_DIR/nodes.sh" start "$MON_NODES" | sed 's/^/  /'
samples=$((MON_NODES * MON_SECONDS / MON_INTERVAL))

proj="$STATE/project"
mkdir -p "$proj"
write_project() { # write_project EXTRA_YAML
  {
    echo "project: bench-monitor"
    echo "nodes:"
    for ((i = 1; i <= MON_NODES; i++)); do
      printf '  node%02d: { host: 127.0.0.%d, port: %d, user: root, key: %s }\n' \
        "$i" "$((i + 1))" "$NODE_PORT" "$STATE/client/id_ed25519"
    done
    echo "ssh: { known_hosts: $STATE/known_hosts, connect_timeout: 10s, forks: $MON_NODES }"
    printf '%s\n' "$1"
  } >"$proj/baton.yaml"
}

# -- 1a. baton monitor
write_project "monitoring: { interval: ${MON_INTERVAL}s, targets: all }"
cd "$proj"
"$BATON" validate >/dev/null
sleep 1
n0=$(nodes_ticks)
"$BATON" monitor >"$STATE/monitor.log" 2>&1 &
mon=$!
PIDS+=("$mon")
sleep "$MON_SECONDS"
baton_ticks=$(proc_ticks "$mon")
baton_rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$mon/status")
kill -TERM "$mon"
wait "$mon" || true
wait_until 20 sessions_gone || echo "bench: sessions still open after baton monitor stopped" >&2
n1=$(nodes_ticks)
baton_node=$((n1 - n0))
stored=$("$BATON" metrics node01 --metric cpu --since "${MON_SECONDS}s" --json 2>/dev/null |
  "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(x.get("points", [])) for x in d.get("series", [])))' 2>/dev/null || echo "?")
echo "  baton: cpu $(pct_of_core "$baton_ticks" "$MON_SECONDS")% of a core, peak RSS $((baton_rss / 1024)) MiB," \
  "nodes $(ms_per_sample "$baton_node" "$samples") ms CPU per sample; node01 cpu points stored: $stored"

# -- 1b. Prometheus + node_exporter
if [ "$HAVE_PROM" = 1 ]; then
  exporters=()
  targets=""
  for ((i = 1; i <= MON_NODES; i++)); do
    addr="127.0.0.$((i + 1)):9${NODE_PORT: -3}"
    prometheus-node-exporter --web.listen-address="$addr" --collector.disable-defaults \
      --collector.cpu --collector.meminfo --collector.loadavg --collector.filesystem \
      >"$STATE/exporter-$i.log" 2>&1 &
    exporters+=("$!")
    PIDS+=("$!")
    targets+="'$addr',"
  done
  cat >"$STATE/prometheus.yml" <<EOF
global: { scrape_interval: ${MON_INTERVAL}s, evaluation_interval: ${MON_INTERVAL}s }
scrape_configs:
  - job_name: nodes
    static_configs: [ { targets: [${targets%,}] } ]
EOF
  up() { curl -fs "http://127.0.0.2:9${NODE_PORT: -3}/metrics" >/dev/null; }
  wait_until 20 up || { echo "bench: node_exporter did not start" >&2; exit 1; }
  e0=$(proc_ticks "${exporters[@]}")
  prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/tsdb" \
    --web.listen-address="127.0.0.1:$((NODE_PORT + 2000))" >"$STATE/prometheus.log" 2>&1 &
  prom=$!
  PIDS+=("$prom")
  sleep "$MON_SECONDS"
  prom_ticks=$(proc_ticks "$prom")
  prom_rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$prom/status")
  e1=$(proc_ticks "${exporters[@]}")
  kill "$prom" "${exporters[@]}" 2>/dev/null || true
  wait "$prom" "${exporters[@]}" 2>/dev/null || true
  exporter_ticks=$((e1 - e0))
  echo "  prometheus: cpu $(pct_of_core "$prom_ticks" "$MON_SECONDS")% of a core, peak RSS $((prom_rss / 1024)) MiB," \
    "node_exporter $(ms_per_sample "$exporter_ticks" "$samples") ms CPU per scrape"
fi

# -- 1c. fresh ssh per sample
if [ "$HAVE_PROM" = 0 ] || [ -n "${PEER_SSH:-}" ]; then
  probe='cat /proc/stat /proc/meminfo /proc/loadavg; df -P /'
  n0=$(nodes_ticks)
  start=$(date +%s)
  client=0
  for ((round = 0; round < MON_SECONDS / MON_INTERVAL; round++)); do
    t0=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$STATE/round.time" bash -c '
      for ((i = 1; i <= '"$MON_NODES"'; i++)); do
        ssh -F "'"$STATE"'/ssh_config" -o ControlMaster=no -o ControlPath=none "$(printf node%02d "$i")" "'"$probe"'" >/dev/null 2>&1 &
      done; wait'
    read -r u s <"$STATE/round.time"
    client=$(awk -v c="$client" -v u="$u" -v s="$s" 'BEGIN { print c + u + s }')
    left=$((MON_INTERVAL * 1000000000 - ($(date +%s%N) - t0)))
    [ "$left" -gt 0 ] && sleep "$(awk -v n="$left" 'BEGIN { print n / 1e9 }')"
  done
  elapsed=$(($(date +%s) - start))
  wait_until 20 sessions_gone || true
  n1=$(nodes_ticks)
  echo "  fresh ssh: client cpu $(awk -v c="$client" -v s="$elapsed" 'BEGIN { printf "%.1f", 100 * c / s }')% of a core," \
    "nodes $(ms_per_sample $((n1 - n0)) "$samples") ms CPU per sample"
fi

# -- 2. alert latency
port=$((NODE_PORT + 1000))
while [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; do port=$((port + 1)); done
"$PYTHON" "$BENCH_DIR/monitor/smtp_sink.py" "$port" "$STATE/mail.txt" >"$STATE/sink.out" 2>&1 &
PIDS+=("$!")
wait_until 20 grep -q ready "$STATE/sink.out" || { echo "bench: the SMTP sink did not start" >&2; exit 1; }
write_project "monitoring: { interval: ${MON_INTERVAL}s }
alerts:
  marker_down: { check: marker, for: ${MON_FOR}s, notify: [mail] }
checks:
  marker: { targets: node01, command: \"test ! -f $STATE/marker\", interval: ${MON_INTERVAL}s }
notifications:
  mail: { smtp: { host: 127.0.0.1, port: $port, tls: none, from: baton@bench.test, to: [oncall@bench.test] } }"
"$BATON" validate >/dev/null
: >"$STATE/mail.txt"
"$BATON" monitor >"$STATE/alert.log" 2>&1 &
mon=$!
PIDS+=("$mon")
mails() { wc -l <"$STATE/mail.txt"; }
more_mail() { [ "$(mails)" -gt "$1" ]; } # evaluated on every poll, not once
latencies=()
for ((r = 1; r <= ALERT_RUNS; r++)); do
  sleep $((2 * MON_INTERVAL)) # two quiet samples: the alert is inactive
  # A random phase against the check's ticks: this loop is otherwise locked to them (it wakes
  # on a mail, sent right after a check) and would always just miss a check.
  sleep "$(awk -v i="$MON_INTERVAL" 'BEGIN { srand(); printf "%.2f", rand() * i }')"
  before=$(mails)
  t0=$(date +%s.%N)
  : >"$STATE/marker"
  if ! wait_until $((MON_FOR + 6 * MON_INTERVAL + 30)) more_mail "$before"; then
    echo "bench: no mail for the firing alert (see $STATE/alert.log)" >&2
    tail -5 "$STATE/alert.log" >&2
    "$BATON" notify log >&2 || true
    cat "$STATE/sink.out" >&2 || true
    exit 1
  fi
  t1=$(tail -n1 "$STATE/mail.txt" | cut -d' ' -f1)
  rm -f "$STATE/marker"
  latencies+=("$(awk -v a="$t0" -v b="$t1" -v f="$MON_FOR" 'BEGIN { printf "%.2f", b - a - f }')")
  before=$(mails)
  wait_until $((6 * MON_INTERVAL + 30)) more_mail "$before" ||
    { echo "bench: no mail for the resolved alert" >&2; exit 1; }
done
kill -TERM "$mon"
wait "$mon" || true
echo "  alert latency (marker → mail − for ${MON_FOR}s, interval ${MON_INTERVAL}s): ${latencies[*]} s"
sorted=$(printf '%s\n' "${latencies[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

echo
echo "| figure | baton | peer |"
echo "|---|---|---|"
peer_cpu=""
peer_rss=""
peer_node=""
if [ "$HAVE_PROM" = 1 ]; then
  peer_cpu="$(pct_of_core "$prom_ticks" "$MON_SECONDS")% (Prometheus)"
  peer_rss="$((prom_rss / 1024)) MiB (Prometheus)"
  peer_node="$(ms_per_sample "$exporter_ticks" "$samples") ms (node_exporter)"
fi
echo "| collector CPU, % of one core | $(pct_of_core "$baton_ticks" "$MON_SECONDS")% | ${peer_cpu:-n/a} |"
echo "| collector peak memory | $((baton_rss / 1024)) MiB | ${peer_rss:-n/a} |"
echo "| node CPU per sample | $(ms_per_sample "$baton_node" "$samples") ms | ${peer_node:-n/a} |"
echo "| alert latency beyond \`for\` (median of $ALERT_RUNS) | $sorted s | |"
