#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian
# machine (as root), then runs every check. See README "Testing".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # prometheus: promtool and the e2e server; prometheus-alertmanager: e2e paging;
  # jsonnet: the mixin; iproute2: ip netns; python3: socket peers;
  # util-linux: setpriv for the unprivileged run.
  apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager jsonnet iproute2 python3 util-linux ca-certificates
else
  echo "warning: not root or no apt-get: assuming the tools are installed; root-only tests will not run" >&2
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
