#!/usr/bin/env bash
# Shared helpers of the benchmark scripts (sourced, not run).
# shellcheck disable=SC2034   # variables here are used by the scripts that source this file

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
RUNS=${RUNS:-10}       # timed repetitions of each command (the median is reported)
WARMUP=${WARMUP:-2}    # untimed repetitions first

# The baton binary: $BATON, else the release build.
baton_bin() {
  local bin=${BATON:-$REPO_DIR/target/release/baton}
  if [ ! -x "$bin" ]; then
    echo "bench: no baton binary at $bin (run bench/run.sh, or set BATON=path)" >&2
    return 1
  fi
  printf '%s\n' "$bin"
}

# The real go-task binary of the `go-task-bin` PyPI package (not a pyenv shim, which adds ~0.18 s
# per call). Prints nothing when it is not installed.
task_bin() {
  if [ -n "${TASK:-}" ]; then
    printf '%s\n' "$TASK"
    return 0
  fi
  local prefix candidate
  prefix=$(python3 -c 'import sys; print(sys.prefix)' 2>/dev/null) || return 0
  for candidate in "$prefix/bin/task" "$HOME/.local/bin/task"; do
    if [ -x "$candidate" ] && [ "$(head -c 4 "$candidate" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
}

# median_seconds LABEL COMMAND...: runs COMMAND (argv, no shell) WARMUP + RUNS times from the
# current directory, output discarded, and prints the median wall time in seconds. Uses hyperfine
# when installed (and NO_HYPERFINE is unset), else a bash loop over `date +%s%N`. A failing
# command makes it return 1, which stops the calling script (`x=$(median_seconds ...)`).
median_seconds() {
  local label=$1
  shift
  if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
    local json err
    json=$(mktemp)
    err=$(mktemp)
    # -N: no intermediate shell, so nothing to calibrate away; the command is given as one string.
    # Its warnings (outliers) are dropped: the median is robust to them.
    if ! hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" \
      --command-name "$label" "$(quote_argv "$@")" >/dev/null 2>"$err"; then
      cat "$err" >&2
      rm -f "$json" "$err"
      echo "bench: \`$label\` failed" >&2
      return 1
    fi
    python3 -c 'import json,sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$json"
    rm -f "$json" "$err"
  else
    local i start end
    local -a times=()
    for ((i = 0; i < WARMUP; i++)); do
      "$@" >/dev/null 2>&1 || { echo "bench: \`$label\` failed" >&2; return 1; }
    done
    for ((i = 0; i < RUNS; i++)); do
      start=$(date +%s%N)
      "$@" >/dev/null 2>&1 || { echo "bench: \`$label\` failed" >&2; return 1; }
      end=$(date +%s%N)
      times+=("$((end - start))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END {
      m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.6f\n", m / 1e9 }'
  fi
}

# The argv as one shell-quoted string (hyperfine -N splits it back like a shell would).
quote_argv() {
  local out="" arg
  for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
  printf '%s\n' "${out% }"
}

# calc EXPR: floating point arithmetic (python3), e.g. calc "(1.5 - 0.2) / 100 * 1000".
calc() {
  python3 -c "import sys; print('%.3f' % eval(sys.argv[1]))" "$1"
}

# result KEY VALUE: records a figure for bench/run.sh's summary (when it set BENCH_RESULTS).
result() {
  if [ -n "${BENCH_RESULTS:-}" ]; then
    printf '%s\t%s\n' "$1" "$2" >>"$BENCH_RESULTS"
  fi
}

# write_ansible_cfg STATE FORKS: the kit's ansible.cfg with this run's paths (strict host keys,
# pipelining, ControlPersist), exported as ANSIBLE_CONFIG.
write_ansible_cfg() {
  local state=$1 forks=$2
  cat >"$state/ansible.cfg" <<EOF2
[defaults]
inventory = $state/inventory.yml
forks = $forks
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = $state/ansible-local
timeout = 30
nocows = True

[ssh_connection]
ssh_args = -F $state/ssh_config -o ControlMaster=auto -o ControlPersist=300s
control_path_dir = $state/cp-ansible
pipelining = True
EOF2
  export ANSIBLE_CONFIG=$state/ansible.cfg
}

# The real python3 interpreter (not a pyenv shim, which costs ~0.18 s per start).
python_bin() {
  if [ -n "${PYTHON:-}" ]; then
    printf '%s\n' "$PYTHON"
  else
    python3 -c 'import sys; print(sys.executable)'
  fi
}

# spawn_until DIR LOG REGEX CMD...: starts CMD in DIR in the background, its stdout and stderr
# in LOG, and returns once a line of its output matches REGEX (bash =~; read through a FIFO, so
# no polling), setting SPAWN_PID and SPAWN_MATCH (the regex's first group). Fails with the log
# when the command exits first.
spawn_until() {
  local dir=$1 log=$2 regex=$3 line fd fifo
  shift 3
  fifo=$(mktemp -u "$log.fifo.XXXXXX")
  mkfifo "$fifo"
  (cd "$dir" && exec "$@") </dev/null >"$fifo" 2>&1 &
  SPAWN_PID=$!
  exec {fd}<"$fifo"
  rm -f "$fifo"
  SPAWN_MATCH=""
  : >"$log"
  while IFS= read -r -u "$fd" line; do
    printf '%s\n' "$line" >>"$log"
    if [[ $line =~ $regex ]]; then
      SPAWN_MATCH=${BASH_REMATCH[1]}
      break
    fi
  done
  # The rest of its output goes on into the log until it exits.
  cat <&"$fd" >>"$log" &
  exec {fd}<&-
  if [ -z "$SPAWN_MATCH" ]; then
    wait "$SPAWN_PID" 2>/dev/null || true
    cat "$log" >&2
    echo "bench: \`$*\` exited before printing a line matching $regex" >&2
    return 1
  fi
}

# start_baton_serve DIR TOKEN: `baton serve --listen 127.0.0.1:0` in DIR with BATON_TOKEN=TOKEN (an
# operator token), its output in DIR/serve.log. Returns once it printed its "listening on" line,
# setting SERVE_PID and SERVE_URL (http://127.0.0.1:PORT).
start_baton_serve() {
  spawn_until "$1" "$1/serve.log" 'listening on (http://[0-9.]+:[0-9]+)' \
    env BATON_TOKEN="$2" "$BATON" serve --listen 127.0.0.1:0 || return 1
  SERVE_PID=$SPAWN_PID
  SERVE_URL=$SPAWN_MATCH
}

# Stops the server start_baton_serve started (SIGTERM: its graceful stop) and waits for it.
stop_baton_serve() {
  if [ -n "${SERVE_PID:-}" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=""
}
