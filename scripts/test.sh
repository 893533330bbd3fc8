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
# `nodes --watch` is tested on a real pty through script(1) (crates/baton/tests/nodes_watch.rs).
command -v script >/dev/null || need_apt+=(bsdutils)
# The SMTP STARTTLS test makes its own CA (crates/baton/tests/notify.rs).
command -v openssl >/dev/null || need_apt+=(openssl)
# SSH tests run real OpenSSH sshd daemons on loopback (crates/baton/tests/common/nodes.rs).
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null && command -v ssh >/dev/null || need_apt+=(openssh-client)
# The monitor's checks are tested against python3's own http.server (crates/baton/tests/monitor.rs).
# `become` tests log in as non-root users and escalate with real sudo (crates/baton/tests/become.rs).
[ -x /usr/bin/sudo ] || need_apt+=(sudo)
# /metrics is checked with Prometheus's own OpenMetrics parser (crates/baton/tests/serve.rs), the
# OpenAPI document with schemathesis (crates/baton/tests/serve_openapi.rs): Python with pip.
command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 ||
  need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# sshd's privilege separation directory.
mkdir -p /run/sshd
# pip quietly: no warning about root, no version nag.
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "installing: prometheus-client (python)"
  # A distribution's own python3 refuses pip installs outside a venv (PEP 668) unless told.
  python3 -m pip install --quiet prometheus-client 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages prometheus-client
fi
# The OpenAPI fuzz test (crates/baton/tests/serve_openapi.rs) runs schemathesis against the real
# server.
if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "installing: schemathesis (python)"
  python3 -m pip install --quiet 'schemathesis>=3,<5' 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages 'schemathesis>=3,<5'
fi
# The Ansible inventory import is checked against Ansible's own reader
# (crates/baton-model/tests/inventory_oracle.rs).
if ! python3 -c 'import ansible' 2>/dev/null; then
  echo "installing: ansible-core (python)"
  python3 -m pip install --quiet ansible-core 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages ansible-core
fi
# Notifications (crates/baton/tests/notify.rs) are sent to a real SMTP server: aiosmtpd.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing: aiosmtpd (python)"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages aiosmtpd
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
