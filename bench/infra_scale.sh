#!/usr/bin/env bash
# Infrastructure at scale: a project of N `file` resources (plus the directory they live in),
# N = 1,000 and 10,000 (INFRA_SIZES). For each N:
#   - first apply: `baton apply --auto-approve` on an empty state (every file written atomically
#     through the executor, the state saved after each resource), timed once per run in a fresh
#     directory (INFRA_APPLY_RUNS, default 3; the median is reported);
#   - no-op plan: `baton plan` once everything is applied (refresh = stat + read + sha256 of
#     every file, compare with the state), median of RUNS runs. Goal: under 2 s at 10,000.
# Resources are split over included files of 1,000 each, as a large project would be (one file
# of 10,000 resources exceeds the model's 100,000-values-per-file guard).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin)
# The runs happen in temporary directories: make a relative BATON=path absolute.
BATON=$(cd "$(dirname "$BATON")" && pwd)/$(basename "$BATON")
SIZES=${INFRA_SIZES:-1000 10000}
APPLY_RUNS=${INFRA_APPLY_RUNS:-3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-bench-infra.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# make_project DIR N: baton.yaml + res/partNNN.yaml with N file resources.
make_project() {
  local dir=$1 n=$2
  mkdir -p "$dir/res"
  printf 'project: bench-infra\ninclude: [res/*.yaml]\nresources:\n  files: { type: directory, path: files }\n' >"$dir/baton.yaml"
  awk -v n="$n" -v dir="$dir" 'BEGIN {
    for (i = 0; i < n; i++) {
      part = sprintf("%s/res/part%03d.yaml", dir, int(i / 1000))
      if (i % 1000 == 0) print "resources:" > part
      printf "  f%d: { type: file, path: \"files/f%d.txt\", content: \"file %d\\n\", depends_on: [files] }\n", i, i, i >> part
    }
  }'
}

now_ns() { date +%s%N; }

for n in $SIZES; do
  echo "== infra: $n file resources"
  applies=()
  for ((r = 0; r < APPLY_RUNS; r++)); do
    dir="$tmp/apply-$n-$r"
    make_project "$dir" "$n"
    start=$(now_ns)
    (cd "$dir" && "$BATON" apply --auto-approve >"$dir/apply.log" 2>&1) || {
      tail -n 20 "$dir/apply.log" >&2
      echo "bench: first apply of $n resources failed" >&2
      exit 1
    }
    end=$(now_ns)
    applies+=("$(awk -v ns="$((end - start))" 'BEGIN { printf "%.3f", ns / 1e9 }')")
    grep -q "Apply complete! Resources: $((n + 1)) added" "$dir/apply.log" || {
      echo "bench: apply of $n did not add $((n + 1)) resources" >&2
      exit 1
    }
    [ "$r" -eq 0 ] || rm -rf "$dir"
  done
  apply_s=$(printf '%s\n' "${applies[@]}" | sort -n | awk '{ t[NR] = $1 } END {
    printf "%.3f", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }')
  echo "first apply: ${apply_s} s (median of $APPLY_RUNS: ${applies[*]}), $(awk -v s="$apply_s" -v n="$n" 'BEGIN { printf "%.2f", s * 1000 / n }') ms per resource"
  result "infra_${n}_apply_s" "$apply_s"

  cd "$tmp/apply-$n-0"
  # Sanity: nothing to do, and the state holds every resource.
  if "$BATON" plan >/dev/null; then :; else
    echo "bench: the plan after apply is not empty (exit $?)" >&2
    exit 1
  fi
  plan_s=$(median_seconds "plan-$n" "$BATON" plan)
  echo "no-op plan: ${plan_s} s (median of $RUNS)"
  result "infra_${n}_plan_s" "$plan_s"
  cd "$tmp"
  rm -rf "$tmp/apply-$n-0"
done
