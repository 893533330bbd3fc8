#!/usr/bin/env bash
# Runs a shop-app binary on the sample data and compares its report with the expected one.
# usage: scripts/check_report.sh BINARY [DATA_DIR]   (run from the project root)
set -euo pipefail

bin=${1:?usage: check_report.sh BINARY [DATA_DIR]}
data=${2:-data}
expected=app/tests/expected_report.txt

if [ ! -x "$bin" ]; then
  echo "check_report: $bin is not an executable" >&2
  exit 1
fi

"$bin" --version | grep -q '^shop-app ' || { echo "check_report: $bin --version is wrong" >&2; exit 1; }

actual=$("$bin" --tax-bp 2000 "$data/inventory.csv" "$data/orders.csv")
if ! diff -u "$expected" <(printf '%s\n' "$actual"); then
  echo "check_report: the report of $bin differs from $expected" >&2
  exit 1
fi

# Malformed input must be refused with exit status 1.
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
printf 'order_id,sku,qty\n9001,NO-SUCH-SKU,1\n' >"$bad"
set +e
"$bin" "$data/inventory.csv" "$bad" 2>/dev/null
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "check_report: an unknown sku gave exit status $status, expected 1" >&2
  exit 1
fi

echo "check_report: $bin OK ($(wc -l <"$expected") report lines match)"
