#!/usr/bin/env bash
# Entry point of the benchmarks (not part of the test suite): builds the release binary, installs
# the peer tools when they are missing, runs every benchmark and prints a summary table.
#   bench/run.sh                 everything
#   RUNS=5 bench/run.sh          fewer repetitions (default 10, medians are reported)
#   SKIP_BUILD=1 bench/run.sh    use target/release/baton as it is (or BATON=path)
#   SKIP_FANOUT=1 bench/run.sh   leave out the SSH fan-out benchmark (sshd nodes, Ansible, pyinfra)
#   SKIP_CONFIG=1 bench/run.sh   leave out the config push benchmark (sshd nodes, Ansible, pyinfra)
#   SKIP_INFRA=1 bench/run.sh    leave out the infrastructure benchmark (1,000 and 10,000 files)
#   SKIP_SERVE=1 bench/run.sh    leave out the server benchmarks (REST API under wrk, SSE clients)
#   SKIP_SCHEDULE=1 bench/run.sh leave out the schedule lag benchmark (~40 s)
#   SKIP_MONITOR=1 bench/run.sh  leave out the monitoring benchmark (100 sshd nodes, ~7 min)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${SKIP_BUILD:-}" ] && [ -z "${BATON:-}" ]; then
  echo "== cargo build --release -p baton"
  (cd "$REPO_DIR" && cargo build --release -p baton)
fi
BATON=$(baton_bin)
export BATON

if ! command -v hyperfine >/dev/null 2>&1; then
  echo "== hyperfine is not installed: timing with a bash loop (apt-get install -y hyperfine for better figures)"
fi
if [ -z "$(task_bin)" ]; then
  echo "== pip install go-task-bin"
  python3 -m pip install --quiet go-task-bin || echo "bench: could not install go-task-bin; go-task figures are left out" >&2
fi
TASK=$(task_bin)
export TASK

BENCH_RESULTS=$(mktemp "${TMPDIR:-/tmp}/baton-bench-results.XXXXXX")
export BENCH_RESULTS
trap 'rm -f "$BENCH_RESULTS"' EXIT

echo "== machine: $(nproc) cores, $(uname -sr); baton: $BATON${TASK:+; go-task: $TASK ($("$TASK" --version 2>/dev/null | head -n1))}"
echo
"$BENCH_DIR/pipeline_overhead.sh"
echo
"$BENCH_DIR/log_capture.sh"
if [ -z "${SKIP_INFRA:-}" ]; then
  echo
  "$BENCH_DIR/infra_scale.sh"
fi
if [ -z "${SKIP_SERVE:-}" ]; then
  echo
  "$BENCH_DIR/serve_api.sh"
  echo
  "$BENCH_DIR/serve_sse.sh"
fi
schedule=""
if [ -z "${SKIP_SCHEDULE:-}" ]; then
  echo
  # Exit 3: the server has no schedule loop (noted in the summary, not a failure of the rest).
  status=0
  "$BENCH_DIR/schedule_lag.sh" || status=$?
  case $status in
    0) schedule=1 ;;
    3) schedule="no schedule loop in this baton serve" ;;
    *) exit "$status" ;;
  esac
fi
FANOUT_NODES=${FANOUT_NODES:-20 50}
export FANOUT_NODES
fanout=""
if [ -n "${SKIP_FANOUT:-}" ]; then
  :
elif [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
  echo
  echo "== exec fan-out left out: it needs root and openssh-server (apt-get install -y openssh-server)"
else
  echo
  "$BENCH_DIR/exec_fanout.sh"
  fanout=1
fi
configpush=""
if [ -n "${SKIP_CONFIG:-}" ]; then
  :
elif [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
  echo
  echo "== config push left out: it needs root and openssh-server (apt-get install -y openssh-server)"
else
  echo
  CONFIG_NODES=${CONFIG_NODES:-20 50} "$BENCH_DIR/config_push.sh"
  configpush=1
fi
# Its own table (baton monitor against Prometheus + node_exporter, alert latency).
if [ -n "${SKIP_MONITOR:-}" ]; then
  :
elif [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
  echo
  echo "== monitoring left out: it needs root and openssh-server (apt-get install -y openssh-server)"
else
  echo
  "$BENCH_DIR/monitor.sh"
fi

get() { awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "-" : v) }' "$BENCH_RESULTS"; }

echo
echo "== summary (medians of $RUNS runs; compare ratios, not seconds)"
printf '| %-52s | %18s |\n' "figure" "value"
printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..20})"
row() { printf '| %-52s | %18s |\n' "$1" "$2"; }
row "baton: 100 chained stages, total (s)" "$(get baton_100_s | cut -c1-5)"
row "baton: 1 stage, total (s)" "$(get baton_1_s | cut -c1-5)"
row "baton: fixed start-up above one bash -c (ms)" "$(get baton_startup_ms)"
row "baton: per stage, (T100 - bash loop)/100 (ms)" "$(get baton_overhead_per_stage_ms)"
row "baton: marginal per stage, (T100 - T1)/99 (ms)" "$(get baton_marginal_per_stage_ms)"
row "floor: bash -c true per step (ms)" "$(get floor_per_step_ms)"
row "go-task: per step, (T100 - bash loop)/100 (ms)" "$(get task_overhead_per_step_ms)"
row "go-task: marginal per step, bash -c true (ms)" "$(get task_marginal_per_step_ms)"
row "go-task: marginal per step, builtin true (ms)" "$(get task_builtin_marginal_per_step_ms)"
row "ratio marginal per step baton / go-task" "$(get ratio_marginal_baton_task)"
row "ratio marginal per step baton / bash floor" "$(get ratio_marginal_baton_floor)"
for v in seq wide; do
  row "log $v ($(get "log_${v}_mb" | cut -c1-4) MB): baton MB/s (net of start-up)" "$(get "log_${v}_baton_mbps") ($(get "log_${v}_baton_net_mbps"))"
  row "log $v: generator | cat > /dev/null MB/s" "$(get "log_${v}_cat_mbps")"
  row "log $v: ratio time baton / cat" "$(get "log_${v}_ratio")"
done
if [ -z "${SKIP_INFRA:-}" ]; then
  for n in ${INFRA_SIZES:-1000 10000}; do
    row "infra $n files: no-op plan / first apply (s)" "$(get "infra_${n}_plan_s" | cut -c1-5) / $(get "infra_${n}_apply_s" | cut -c1-6)"
  done
fi
if [ -z "${SKIP_SERVE:-}" ]; then
  row "serve: /api/runs?limit=50 (10k runs) req/s, p99 ms" "$(get serve_api_rps), $(get serve_api_p99_ms)"
  row "serve: python http.server, same body: req/s, p99 ms" "$(get serve_api_python_rps), $(get serve_api_python_p99_ms)"
  row "serve: req/s ratio baton / python http.server" "$(get serve_api_ratio_rps_python)"
  if [ "$(get serve_api_nginx_rps)" != - ]; then
    row "serve: nginx, same body: req/s, p99 ms" "$(get serve_api_nginx_rps), $(get serve_api_nginx_p99_ms)"
    row "serve: req/s ratio baton / nginx" "$(get serve_api_ratio_rps_nginx)"
  fi
  row "sse: 1M-line run, 0 / 100 clients (s)" "$(get serve_sse_0_s) / $(get serve_sse_n_s)"
  row "sse: ratio 100 / 0 clients, medians / means (< 1.10)" "$(get serve_sse_ratio) / $(get serve_sse_ratio_mean)"
  row "sse: loaded runs slowed > 2x by the fan-out" "$(get serve_sse_slowed)"
  row "sse: clients with every line / dropped" "$(get serve_sse_complete) / $(get serve_sse_dropped)"
fi
if [ "$schedule" = 1 ]; then
  row "schedule lag ($(get sched_slots) slots): median / p90 / max ms" "$(get sched_lag_median_ms) / $(get sched_lag_p90_ms) / $(get sched_lag_max_ms)"
elif [ -n "$schedule" ]; then
  row "schedule lag" "$schedule"
fi
if [ -n "$configpush" ]; then
  for n in ${CONFIG_NODES:-20 50}; do
    row "config push $n nodes: baton changed / no-op (s)" "$(get "config_${n}_baton_changed_s" | cut -c1-5) / $(get "config_${n}_baton_noop_s" | cut -c1-5)"
    row "config push $n: x vs Ansible changed / no-op" "$(get "config_${n}_changed_speedup_ansible" | cut -c1-5) / $(get "config_${n}_noop_speedup_ansible" | cut -c1-5)"
    row "config push $n: x vs pyinfra changed / no-op" "$(get "config_${n}_changed_speedup_pyinfra" | cut -c1-5) / $(get "config_${n}_noop_speedup_pyinfra" | cut -c1-5)"
  done
fi
if [ -n "$fanout" ]; then
  for n in $FANOUT_NODES; do
    row "fan-out $n nodes: baton exec / ping (s)" "$(get "fanout_${n}_baton_s" | cut -c1-5) / $(get "fanout_${n}_ping_s" | cut -c1-5)"
    row "fan-out $n nodes: Ansible / pyinfra (s)" "$(get "fanout_${n}_ansible_s" | cut -c1-5) / $(get "fanout_${n}_pyinfra_s" | cut -c1-5)"
    row "fan-out $n nodes: OpenSSH cold / warm (s)" "$(get "fanout_${n}_ssh_cold_s" | cut -c1-5) / $(get "fanout_${n}_ssh_warm_s" | cut -c1-5)"
    row "fan-out $n nodes: speed-up vs Ansible, pyinfra" "$(get "fanout_${n}_speedup_ansible" | cut -c1-5), $(get "fanout_${n}_speedup_pyinfra" | cut -c1-5)"
    row "fan-out $n nodes: speed-up vs OpenSSH cold, warm" "$(get "fanout_${n}_speedup_ssh_cold" | cut -c1-5), $(get "fanout_${n}_speedup_ssh_warm" | cut -c1-5)"
  done
fi
