#!/usr/bin/env bash
# REST API throughput: `GET /api/runs?limit=50` on `baton serve` over a store of 10,000 runs,
# loaded by wrk (-t2 -c50 -d10s --latency, the Authorization header on every request), against
# the same JSON body served as a static file by `python3 -m http.server` (HTTP/1.1, keep-alive)
# and, when it is installed, by nginx. Prints req/s and p99 of each and the ratios baton/peer.
#
# The store: one real `baton run hello` (one stage, `echo hello`) creates it and writes the rows
# of a real run (runs, stages, steps, events, its log file); bench/serve/seed_runs.py then copies
# that run's rows until the store holds API_RUNS runs — running 10,000 pipelines would take
# longer than the benchmark (see the script's docstring).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
# The server runs in a temporary directory: make a relative BATON=path absolute.
BATON=$(cd "$(dirname "$BATON")" && pwd)/$(basename "$BATON")
PYTHON=$(python_bin)
API_RUNS=${API_RUNS:-10000}
API_LIMIT=${API_LIMIT:-50}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-50}
WRK_DURATION=${WRK_DURATION:-10s}
WRK_WARMUP=${WRK_WARMUP:-2s}   # an untimed wrk run first (0: none)

if ! command -v wrk >/dev/null 2>&1; then
  echo "== apt-get install -y wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } || {
    echo "bench: wrk is not installed and apt-get could not install it (apt-get install -y wrk)" >&2
    exit 1
  }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-api.XXXXXX")
peer_pids=()
cleanup() {
  stop_baton_serve
  local pid
  for pid in "${peer_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
project=$tmp/project
mkdir -p "$project"
cat >"$project/baton.yaml" <<'YAML'
project: bench-api
pipelines:
  hello:
    stages:
      build: { run: "echo hello" }
YAML

echo "== serve API: GET /api/runs?limit=$API_LIMIT over a store of $API_RUNS runs (wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency)"
(cd "$project" && "$BATON" run hello >/dev/null)
"$PYTHON" "$BENCH_DIR/serve/seed_runs.py" "$project/.baton" "$API_RUNS"

start_baton_serve "$project" "$TOKEN"
url="$SERVE_URL/api/runs?limit=$API_LIMIT"
auth="Authorization: Bearer $TOKEN"

# Sanity: the page is the newest API_LIMIT runs, a seeded run reads back whole (detail and log),
# and the token is needed.
curl -sS --fail-with-body -H "$auth" "$url" -o "$tmp/body.json"
"$PYTHON" - "$tmp/body.json" "$API_RUNS" "$API_LIMIT" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
total, limit = int(sys.argv[2]), int(sys.argv[3])
ids = [r["id"] for r in runs]
if ids != list(range(total, total - limit, -1)):
    sys.exit(f"bench: /api/runs returned ids {ids[:3]}…{ids[-3:]}, expected {total} down to {total - limit + 1}")
PY
mid=$((API_RUNS / 2))
detail=$(curl -sS --fail-with-body -H "$auth" "$SERVE_URL/api/runs/$mid")
log=$(curl -sS --fail-with-body -H "$auth" "$SERVE_URL/api/runs/$mid/log")
case $detail in *'"status":"success"'*'"stages"'*) ;; *)
  echo "bench: GET /api/runs/$mid: $detail" >&2
  exit 1
  ;;
esac
[ "$log" = hello ] || { echo "bench: GET /api/runs/$mid/log: \`$log\`, expected hello" >&2; exit 1; }
code=$(curl -sS -o /dev/null -w '%{http_code}' "$url")
[ "$code" = 401 ] || { echo "bench: GET /api/runs without a token answered $code, expected 401" >&2; exit 1; }
bytes=$(wc -c <"$tmp/body.json")
echo "sanity: ids $API_RUNS…$((API_RUNS - API_LIMIT + 1)), run $mid detail and log read back, 401 without the token; body $bytes bytes"

# run_wrk NAME URL [HEADER]: warm-up, then the timed run; prints
# `RPS P50_MS P99_MS REQUESTS NON2XX SOCKET_ERRORS`. Any non-2xx answer fails (a setup error);
# socket errors (timeouts: a request unanswered for 2 s) fail for baton only — from a peer they
# are part of its figures, and reported.
run_wrk() {
  local name=$1 target=$2 header=${3:-}
  local -a args=(-t"$WRK_THREADS" -c"$WRK_CONNS" --latency)
  [ -z "$header" ] || args+=(-H "$header")
  if [ "$WRK_WARMUP" != 0 ]; then
    wrk "${args[@]}" -d"$WRK_WARMUP" "$target" >/dev/null
  fi
  wrk "${args[@]}" -d"$WRK_DURATION" "$target" >"$tmp/wrk-$name.txt"
  local summary
  summary=$("$PYTHON" "$BENCH_DIR/serve/wrk_summary.py" "$tmp/wrk-$name.txt")
  local non2xx errors
  read -r _ _ _ _ non2xx errors <<<"$summary"
  if [ "$non2xx" != 0 ] || { [ "$name" = baton ] && [ "$errors" != 0 ]; }; then
    cat "$tmp/wrk-$name.txt" >&2
    echo "bench: $name answered $non2xx non-2xx responses and had $errors socket errors under wrk" >&2
    return 1
  fi
  printf '%s\n' "$summary"
}

report() {
  local label=$1 summary=$2 rps p50 p99 total errors
  read -r rps p50 p99 total _ errors <<<"$summary"
  printf '%-44s %10s req/s   p50 %8s ms   p99 %8s ms   (%s requests%s)\n' "$label" "$rps" "$p50" "$p99" "$total" \
    "$([ "$errors" = 0 ] || echo ", $errors socket errors/timeouts")"
}

baton_summary=$(run_wrk baton "$url" "$auth")
report "baton serve, GET /api/runs?limit=$API_LIMIT" "$baton_summary"
read -r b_rps _ b_p99 _ <<<"$baton_summary"
result serve_api_rps "$b_rps"
result serve_api_p99_ms "$b_p99"
stop_baton_serve

# The peers serve the very bytes baton answered, as a static file.
mkdir -p "$tmp/www"
cp "$tmp/body.json" "$tmp/www/runs.json"

peers=(python)
if command -v nginx >/dev/null 2>&1; then peers+=(nginx); fi
for peer in "${peers[@]}"; do
  if [ "$peer" = python ]; then
    # `-p HTTP/1.1`: keep-alive, as baton's server does (HTTP/1.0 would close every connection).
    spawn_until "$tmp/www" "$tmp/python-http.log" 'port ([0-9]+)' \
      "$PYTHON" -u -m http.server --bind 127.0.0.1 -p HTTP/1.1 0
    peer_pids+=("$SPAWN_PID")
    port=$SPAWN_MATCH
    label="python3 -m http.server ($("$PYTHON" -c 'import platform; print(platform.python_version())'))"
  else
    port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$tmp/nginx"
    # Its workers must read the (0700) temporary directory: as root they run as root.
    user_line=""
    [ "$(id -u)" -ne 0 ] || user_line="user root;"
    cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  access_log off;
  types { application/json json; }
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$port; root $tmp/www; }
}
EOF
    # nginx logs "start worker processes" (notice) once it listens.
    spawn_until "$tmp/nginx" "$tmp/nginx/log" '(start worker process)' \
      nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
    peer_pids+=("$SPAWN_PID")
    label="nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(nproc) workers"
  fi
  peer_url=http://127.0.0.1:$port/runs.json
  cmp -s <(curl -sS --fail "$peer_url") "$tmp/body.json" || {
    echo "bench: $peer does not serve the same body" >&2
    exit 1
  }
  summary=$(run_wrk "$peer" "$peer_url" "$auth")
  report "$label" "$summary"
  read -r p_rps _ p_p99 _ <<<"$summary"
  echo "  ratio baton/$peer: req/s $(calc "$b_rps / $p_rps"), p99 $(calc "$b_p99 / $p_p99")"
  result "serve_api_${peer}_rps" "$p_rps"
  result "serve_api_${peer}_p99_ms" "$p_p99"
  result "serve_api_ratio_rps_$peer" "$(calc "$b_rps / $p_rps")"
  kill -TERM "${peer_pids[-1]}" 2>/dev/null || true
  wait "${peer_pids[-1]}" 2>/dev/null || true
done
