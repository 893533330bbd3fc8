#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
# Tests use real components (processes, SQLite, HTTP servers on loopback); a missing one is a
# failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bash >/dev/null || need_apt+=(bash)
command -v git >/dev/null || need_apt+=(git)
command -v ps >/dev/null || need_apt+=(procps)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
