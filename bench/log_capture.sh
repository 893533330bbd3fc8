#!/usr/bin/env bash
# Log capture throughput: one stage printing 1,000,000 lines, captured and stored by baton, against
# the same generator piped to `cat > /dev/null` (the cost of just moving the bytes through a pipe).
# Two generators: `seq 1000000` (short lines, 6.9 MB) and 60-character lines (61 MB, under baton's
# 64 MiB per-step log limit, so nothing is truncated).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
LINES=1000000
WIDE_LINE='some log line of about sixty characters ...................!'   # 60 characters

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-logs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

gen_seq="seq $LINES"
# `yes` ends by SIGPIPE when `head` has enough: not a failure here, while stages run under
# `bash -eo pipefail`, so pipefail is turned off for this one pipeline (in both measurements).
gen_wide="set +o pipefail; yes '$WIDE_LINE' | head -n $LINES"

cat >"$tmp/baton.yaml" <<YAML
project: bench-logs
pipelines:
  log_seq:
    stages:
      emit: { run: "$gen_seq", timeout: 5m }
  log_wide:
    stages:
      emit: { run: "$gen_wide", timeout: 5m }
  empty:
    stages:
      emit: { run: "true" }
YAML

cd "$tmp"
"$BATON" validate >/dev/null
"$BATON" run empty >/dev/null

# Sanity: the stored log of one run holds every line.
"$BATON" run log_seq >/dev/null
if "$BATON" runs --json >"$tmp/runs.json" 2>/dev/null; then
  run_id=$(python3 - "$tmp/runs.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
runs = data if isinstance(data, list) else data.get("runs", [])
runs = [r for r in runs if r.get("name", r.get("pipeline")) == "log_seq"]
print(max(r["id"] for r in runs) if runs else "")
PY
)
  if [ -n "$run_id" ]; then
    stored=$("$BATON" logs "$run_id" | grep -c '^[0-9][0-9]*$' || true)
    echo "sanity: run $run_id stored $stored of $LINES lines"
    if [ "$stored" -ne "$LINES" ]; then
      echo "bench: baton logs $run_id returned $stored number lines, expected $LINES" >&2
    fi
  fi
fi

echo "== log capture: $LINES lines from one stage (median of $RUNS runs, $WARMUP warm-up)"
empty=$(median_seconds "baton empty" "$BATON" run empty)
printf '%-34s %8.3fs  (fixed cost, subtracted for the net figure)\n' "baton run, 1 empty stage" "$empty"

for variant in seq wide; do
  if [ "$variant" = seq ]; then gen=$gen_seq; else gen=$gen_wide; fi
  bytes=$(bash -c "$gen" | wc -c)
  mb=$(calc "$bytes / 1e6")
  t_baton=$(median_seconds "baton $variant" "$BATON" run "log_$variant")
  t_cat=$(median_seconds "cat $variant" bash -c "$gen | cat > /dev/null")
  tp_baton=$(calc "$mb / $t_baton")
  tp_net=$(calc "$mb / max($t_baton - $empty, 1e-9)")
  tp_cat=$(calc "$mb / $t_cat")
  echo
  echo "-- $variant: ${gen#set +o pipefail; }  ($mb MB)"
  printf '%-34s %8.3fs  %9s MB/s  (net of start-up: %s MB/s)\n' "baton run" "$t_baton" "$tp_baton" "$tp_net"
  printf '%-34s %8.3fs  %9s MB/s\n' "generator | cat > /dev/null" "$t_cat" "$tp_cat"
  ratio=$(calc "$t_baton / $t_cat")
  echo "ratio baton/cat time ($variant): $ratio  (throughput $(calc "$tp_baton / $tp_cat")x of cat)"
  result "log_${variant}_mb" "$mb"
  result "log_${variant}_baton_s" "$t_baton"
  result "log_${variant}_cat_s" "$t_cat"
  result "log_${variant}_baton_mbps" "$tp_baton"
  result "log_${variant}_baton_net_mbps" "$tp_net"
  result "log_${variant}_cat_mbps" "$tp_cat"
  result "log_${variant}_ratio" "$ratio"
done
