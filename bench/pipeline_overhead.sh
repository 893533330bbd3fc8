#!/usr/bin/env bash
# Per-stage overhead of `baton run`: one pipeline of 100 trivial stages chained by `needs`
# (s2 needs s1, ...), each `run: "true"`, against
#   - the fork/exec floor: a bash loop running `bash -c true` 100 times (baton runs every stage
#     command under `bash -eo pipefail -c`, so this is the least a stage can cost), and
#   - go-task (`go-task-bin` from PyPI), one task of 100 sequential cmds, twice: `bash -c true`
#     (the same fork/exec as baton) and plain `true` (a builtin of go-task's shell interpreter: no
#     process at all).
# Each is also timed with 1 step, so fixed start-up cost and per-step cost can be told apart.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
TASK=$(task_bin)
STAGES=100

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-overhead.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- the project: chain100 (100 stages) and chain1 (1 stage)
{
  echo "project: bench-overhead"
  echo "pipelines:"
  echo "  chain$STAGES:"
  echo "    stages:"
  echo "      s1: { run: \"true\" }"
  for ((i = 2; i <= STAGES; i++)); do
    echo "      s$i: { run: \"true\", needs: [s$((i - 1))] }"
  done
  echo "  chain1:"
  echo "    stages:"
  echo "      s1: { run: \"true\" }"
} >"$tmp/baton.yaml"

# --- the go-task file: the same, with `bash -c true` and with the builtin `true`
{
  echo "version: '3'"
  echo "tasks:"
  for style in bash builtin; do
    cmd=$([ "$style" = bash ] && echo "bash -c true" || echo "true")
    for n in "$STAGES" 1; do
      echo "  steps$n-$style:"
      echo "    silent: true"
      echo "    cmds:"
      for ((i = 1; i <= n; i++)); do echo "      - '$cmd'"; done
    done
  done
} >"$tmp/Taskfile.yml"

cd "$tmp"
"$BATON" validate >/dev/null
"$BATON" run chain1 >/dev/null # creates the store, so every timed run finds it in place
if ! "$BATON" run "chain$STAGES" >"$tmp/check.log" 2>&1; then
  cat "$tmp/check.log" >&2
  echo "bench: baton run chain$STAGES failed" >&2
  exit 1
fi

echo "== pipeline overhead: $STAGES chained trivial stages (median of $RUNS runs, $WARMUP warm-up)"
b100=$(median_seconds "baton $STAGES stages" "$BATON" run "chain$STAGES")
b1=$(median_seconds "baton 1 stage" "$BATON" run chain1)
l100=$(median_seconds "bash loop $STAGES" bash -c "for i in \$(seq $STAGES); do bash -c true; done")
l1=$(median_seconds "bash loop 1" bash -c "for i in \$(seq 1); do bash -c true; done")

printf '%-38s %9s %9s\n' "" "${STAGES} steps" "1 step"
printf '%-38s %8.3fs %8.3fs\n' "baton run (bash -c true per stage)" "$b100" "$b1"
printf '%-38s %8.3fs %8.3fs\n' "bash loop of bash -c true (floor)" "$l100" "$l1"

per_stage=$(calc "($b100 - $l100) / $STAGES * 1000")
marginal=$(calc "($b100 - $b1) / ($STAGES - 1) * 1000")
floor_marginal=$(calc "($l100 - $l1) / ($STAGES - 1) * 1000")
net_marginal=$(calc "(($b100 - $b1) - ($l100 - $l1)) / ($STAGES - 1) * 1000")
startup=$(calc "($b1 - $l1) * 1000")
result baton_100_s "$b100"
result baton_1_s "$b1"
result bash_loop_100_s "$l100"
result baton_overhead_per_stage_ms "$per_stage"
result baton_marginal_per_stage_ms "$marginal"
result baton_net_marginal_per_stage_ms "$net_marginal"
result floor_per_step_ms "$floor_marginal"
result baton_startup_ms "$startup"

if [ -n "$TASK" ]; then
  t100b=$(median_seconds "go-task $STAGES bash -c" "$TASK" -t "$tmp/Taskfile.yml" "steps$STAGES-bash")
  t1b=$(median_seconds "go-task 1 bash -c" "$TASK" -t "$tmp/Taskfile.yml" steps1-bash)
  t100i=$(median_seconds "go-task $STAGES builtin" "$TASK" -t "$tmp/Taskfile.yml" "steps$STAGES-builtin")
  t1i=$(median_seconds "go-task 1 builtin" "$TASK" -t "$tmp/Taskfile.yml" steps1-builtin)
  printf '%-38s %8.3fs %8.3fs\n' "go-task, cmd 'bash -c true'" "$t100b" "$t1b"
  printf '%-38s %8.3fs %8.3fs\n' "go-task, cmd 'true' (builtin)" "$t100i" "$t1i"
  task_per_stage=$(calc "($t100b - $l100) / $STAGES * 1000")
  task_marginal=$(calc "($t100b - $t1b) / ($STAGES - 1) * 1000")
  task_builtin_marginal=$(calc "($t100i - $t1i) / ($STAGES - 1) * 1000")
  result task_100_s "$t100b"
  result task_overhead_per_step_ms "$task_per_stage"
  result task_marginal_per_step_ms "$task_marginal"
  result task_builtin_marginal_per_step_ms "$task_builtin_marginal"
fi

echo
echo "per-stage overhead, (total - bash loop) / $STAGES:"
printf '  baton    %8s ms/stage\n' "$per_stage"
[ -n "$TASK" ] && printf '  go-task  %8s ms/step  (bash -c true)\n' "$task_per_stage"
echo "marginal cost of one more step, (T$STAGES - T1) / $((STAGES - 1)):"
printf '  baton    %8s ms/stage  (%s ms above the fork/exec floor)\n' "$marginal" "$net_marginal"
printf '  bash     %8s ms/step   (the floor: fork + exec of bash -c true)\n' "$floor_marginal"
if [ -n "$TASK" ]; then
  printf '  go-task  %8s ms/step   (bash -c true)\n' "$task_marginal"
  printf '  go-task  %8s ms/step   (builtin true, no process)\n' "$task_builtin_marginal"
fi
printf 'fixed start-up of baton run (1 stage, minus one bash -c true): %s ms\n' "$startup"
if [ -n "$TASK" ]; then
  echo "ratio baton/go-task, marginal per step (both bash -c true): $(calc "$marginal / $task_marginal")"
  result ratio_marginal_baton_task "$(calc "$marginal / $task_marginal")"
else
  echo "(go-task not found: pip install go-task-bin, or set TASK=path)"
fi
echo "ratio baton/bash floor, marginal per step: $(calc "$marginal / $floor_marginal")"
result ratio_marginal_baton_floor "$(calc "$marginal / $floor_marginal")"
