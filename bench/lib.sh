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
