#!/usr/bin/env bash
# Schedule lag: SCHED_PIPELINES pipelines (default 3), each with a schedule trigger due every
# second (`* * * * * *` — croner takes an optional seconds field; `* * * * *` when this baton
# refuses six fields, every minute then), under `baton serve`. Once SCHED_SLOTS slots (default
# 30) of every pipeline started a run, the lag of each slot is read from the store: the run's
# `started_at` minus the slot's due time (and `queued_at` minus it, when the run was created).
# Reports median, p90 and max over all slots, and the slots' outcomes (fired / caught_up /
# missed). Fails with a note when the server records no slot at all (no schedule loop).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
BATON=$(cd "$(dirname "$BATON")" && pwd)/$(basename "$BATON")
PYTHON=$(python_bin)
SCHED_PIPELINES=${SCHED_PIPELINES:-3}
SCHED_SLOTS=${SCHED_SLOTS:-30}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-sched.XXXXXX")
cleanup() {
  stop_baton_serve
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

project=$tmp/project
mkdir -p "$project"
# write_project CRON: SCHED_PIPELINES pipelines tick1…tickN on CRON, one trivial stage each.
write_project() {
  {
    echo "project: bench-schedule"
    echo "pipelines:"
    local i
    for ((i = 1; i <= SCHED_PIPELINES; i++)); do
      echo "  tick$i:"
      echo "    triggers: [{ schedule: \"$1\" }]"
      echo "    stages:"
      echo "      s: { run: \"true\" }"
    done
  } >"$project/baton.yaml"
}
cron="* * * * * *"
period=1
write_project "$cron"
if ! (cd "$project" && "$BATON" validate >"$tmp/validate.txt" 2>&1); then
  cron="* * * * *"
  period=60
  write_project "$cron"
  (cd "$project" && "$BATON" validate >/dev/null) || {
    cat "$tmp/validate.txt" >&2
    echo "bench: this baton accepts neither \`* * * * * *\` nor \`* * * * *\`" >&2
    exit 1
  }
fi
pipelines=()
for ((i = 1; i <= SCHED_PIPELINES; i++)); do pipelines+=("tick$i"); done
# The store exists before the server starts (the helper reads it).
(cd "$project" && "$BATON" runs >/dev/null)

echo "== schedule lag: $SCHED_PIPELINES pipelines on \`$cron\` (every ${period}s), $SCHED_SLOTS slots each: due time → run started_at"
start_baton_serve "$project" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
timeout_s=$((SCHED_SLOTS * period + 2 * period + 60))
status=0
out=$("$PYTHON" "$BENCH_DIR/serve/sched_lag.py" "$project/.baton/baton.db" "$SCHED_SLOTS" "$period" "$timeout_s" "${pipelines[@]}") || status=$?
if [ "$status" -eq 3 ]; then
  echo "bench: no schedule fired: this baton serve has no schedule loop yet (the script is ready for it)" >&2
  exit 3
elif [ "$status" -ne 0 ]; then
  tail -n 20 "$project/serve.log" >&2
  exit "$status"
fi
stop_baton_serve
get_fig() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$out"; }
echo "slots measured: $(get_fig slots) ($(get_fig outcomes))"
printf '%-40s median %6s ms   p90 %6s ms   max %6s ms   (min %s ms)\n' "due → run started_at" \
  "$(get_fig start_median_ms)" "$(get_fig start_p90_ms)" "$(get_fig start_max_ms)" "$(get_fig start_min_ms)"
printf '%-40s median %6s ms   max %6s ms\n' "due → run queued_at (row created)" \
  "$(get_fig queue_median_ms)" "$(get_fig queue_max_ms)"
result sched_cron "$cron"
result sched_slots "$(get_fig slots)"
result sched_lag_median_ms "$(get_fig start_median_ms)"
result sched_lag_p90_ms "$(get_fig start_p90_ms)"
result sched_lag_max_ms "$(get_fig start_max_ms)"
