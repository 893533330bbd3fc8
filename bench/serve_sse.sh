#!/usr/bin/env bash
# Live events under load: a run whose one stage prints 1,000,000 lines (`seq 1000000`), started
# through the API (`POST /api/pipelines/lines/runs`) and timed from the POST until
# `GET /api/runs/ID` says it finished, with 0 SSE clients and then with 100 clients following
# `/api/events` (100 `curl -N` processes writing to files). Reports both wall times and their
# ratio (goal < 1.10), then checks that EVERY client received the run's whole output — the bytes
# of `seq 1000000`, in order from offset 0 — and its `run_finished`, and counts clients the
# server dropped (an `event: dropped` frame: it fell more than 4096 frames behind).
# SSE_RUNS repetitions (default 5), 0 and 100 clients alternating; medians (and means) are reported.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
BATON=$(cd "$(dirname "$BATON")" && pwd)/$(basename "$BATON")
PYTHON=$(python_bin)
SSE_LINES=${SSE_LINES:-1000000}
SSE_CLIENTS=${SSE_CLIENTS:-100}
SSE_RUNS=${SSE_RUNS:-5}
SSE_TIMEOUT=${SSE_TIMEOUT:-300}   # seconds the clients may take to receive everything

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-sse.XXXXXX")
# The clients' files (~8 MB each: the output as JSON) go to memory when /dev/shm is there, so
# that writing them does not compete with the store for the disk.
if [ -z "${SSE_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  clients_dir=$(mktemp -d /dev/shm/baton-bench-sse.XXXXXX)
else
  clients_dir=$(mktemp -d "${SSE_DIR:-$tmp}/baton-bench-sse-clients.XXXXXX")
fi
curl_pids=()
stop_clients() {
  local pid
  for pid in "${curl_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${curl_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  curl_pids=()
}
cleanup() {
  stop_clients
  stop_baton_serve
  rm -rf "$tmp" "$clients_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
project=$tmp/project
mkdir -p "$project"
cat >"$project/baton.yaml" <<YAML
project: bench-sse
pipelines:
  lines:
    stages:
      emit: { run: "seq $SSE_LINES", timeout: 10m }
YAML
(cd "$project" && "$BATON" validate >/dev/null)

echo "== serve SSE: a run printing $SSE_LINES lines, POST → finished, 0 vs $SSE_CLIENTS clients on /api/events (median of $SSE_RUNS)"
start_baton_serve "$project" "$TOKEN"
api() { "$PYTHON" "$BENCH_DIR/serve/sse_run.py" "$@"; }

# One untimed run: the store, the workspace directory and the page cache are warm for both.
out=$(api run "$SERVE_URL" "$TOKEN" lines)
read -r warm_id _ warm_status _ <<<"$out"
[ "$warm_status" = success ] || { echo "bench: run $warm_id ended $warm_status" >&2; exit 1; }

# timed_run: prints `ID SECONDS START_EPOCH STORED_SECONDS POLLS`; fails unless the run succeeded.
timed_run() {
  local id secs status start stored polls out
  out=$(api run "$SERVE_URL" "$TOKEN" lines)
  read -r id secs status start stored polls <<<"$out"
  if [ "$status" != success ]; then
    echo "bench: run $id ended $status" >&2
    return 1
  fi
  printf '%s %s %s %s %s\n' "$id" "$secs" "$start" "$stored" "$polls"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ t[NR] = $1 } END {
  printf "%.3f", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
# spread VALUES...: `mean M, min A, max B`.
spread() { printf '%s\n' "$@" | sort -n | awk '{ t[NR] = $1; s += $1 } END {
  printf "mean %.3f, min %.3f, max %.3f", s / NR, t[1], t[NR] }'; }

bare=()
loaded=()
caught_up=()
complete_total=0
dropped_total=0
short_total=0
for ((rep = 1; rep <= SSE_RUNS; rep++)); do
  api clients "$SERVE_URL" "$TOKEN" 0
  out=$(timed_run)
  read -r id secs _ stored polls <<<"$out"
  bare+=("$secs")
  printf '  rep %d: %3d clients, run %-3s %7.3f s (stored queued → finished %.3f s, %d polls)\n' \
    "$rep" 0 "$id" "$secs" "$stored" "$polls"

  rm -f "$clients_dir"/*.sse
  pairs=()
  files=()
  for ((c = 1; c <= SSE_CLIENTS; c++)); do
    curl -sS -N -H "Authorization: Bearer $TOKEN" -o "$clients_dir/$c.sse" "$SERVE_URL/api/events" 2>>"$tmp/curl.err" &
    curl_pids+=("$!")
    pairs+=("$clients_dir/$c.sse:$!")
    files+=("$clients_dir/$c.sse")
  done
  # Every client is subscribed (the server counts it) before the run starts.
  api clients "$SERVE_URL" "$TOKEN" "$SSE_CLIENTS"
  out=$(timed_run)
  read -r id secs start stored polls <<<"$out"
  loaded+=("$secs")
  last=$(api collect "$id" "$start" "$SSE_TIMEOUT" "${pairs[@]}")
  caught_up+=("$last")
  stop_clients
  out=$(api verify "$id" "$SSE_LINES" "${files[@]}")
  read -r complete dropped short <<<"$out"
  complete_total=$((complete_total + complete))
  dropped_total=$((dropped_total + dropped))
  short_total=$((short_total + short))
  printf '  rep %d: %3d clients, run %-3s %7.3f s (stored queued → finished %.3f s, %d polls); last client had it all %.3f s after the POST; complete %d, dropped %d, incomplete %d\n' \
    "$rep" "$SSE_CLIENTS" "$id" "$secs" "$stored" "$polls" "$last" "$complete" "$dropped" "$short"
done

t0=$(median "${bare[@]}")
t1=$(median "${loaded[@]}")
tc=$(median "${caught_up[@]}")
ratio=$(calc "$t1 / $t0")
ratio_mean=$(calc "sum([${loaded[*]/%/,}]) / sum([${bare[*]/%/,}])")
# Loaded runs that took more than twice the unloaded median: the ones whose run overlapped the
# server sending the output to the clients (see bench/README.md).
slowed=0
for secs in "${loaded[@]}"; do
  if awk -v a="$secs" -v b="$t0" 'BEGIN { exit !(a > 2 * b) }'; then slowed=$((slowed + 1)); fi
done
echo
printf '%-62s median %7s s  (%s)\n' "run, 0 SSE clients (POST → finished)" "$t0" "$(spread "${bare[@]}")"
printf '%-62s median %7s s  (%s)\n' "run, $SSE_CLIENTS SSE clients (POST → finished)" "$t1" "$(spread "${loaded[@]}")"
printf '%-62s median %7s s  (%s)\n' "last of the $SSE_CLIENTS clients had the whole output, after POST" "$tc" "$(spread "${caught_up[@]}")"
echo "ratio $SSE_CLIENTS clients / 0 clients: $ratio of medians, $ratio_mean of means (goal < 1.10); loaded runs slower than 2x the unloaded median: $slowed of $SSE_RUNS"
echo "clients: $complete_total of $((SSE_CLIENTS * SSE_RUNS)) received all $SSE_LINES lines and run_finished; dropped: $dropped_total; incomplete: $short_total"
result serve_sse_0_s "$t0"
result serve_sse_n_s "$t1"
result serve_sse_caught_up_s "$tc"
result serve_sse_ratio "$ratio"
result serve_sse_ratio_mean "$ratio_mean"
result serve_sse_slowed "$slowed/$SSE_RUNS"
result serve_sse_complete "$complete_total/$((SSE_CLIENTS * SSE_RUNS))"
result serve_sse_dropped "$dropped_total"
if [ "$short_total" -ne 0 ]; then
  echo "bench: $short_total client streams were incomplete" >&2
  exit 1
fi
