#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian
# machine (as root), then runs every check. See README "Testing".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # prometheus: promtool and the e2e server; prometheus-alertmanager: e2e paging;
  # jsonnet: the mixin; iproute2: ip netns; procps + systemd: the next-boot oracles
  # (sysctl --system, systemd-sysctl); fuse3 + python3-fusepy: a file system whose
  # reads hang in the kernel (stuck collectors); python3(-venv): socket peers and
  # kubernetes-validate; util-linux: setpriv; systemd: systemd-analyze verify and
  # systemd-socket-activate (--web.systemd-socket, tests/web_listen.rs);
  # openssl, curl: the TLS tests; musl-tools: the static build (ring's C);
  # gcc-mingw-w64-x86-64, wine: the Windows build and its run under Wine;
  # prometheus-node-exporter: the reference under attack (tests/web_slowloris.rs)
  # and for collect[] answers (tests/web_collect_param.rs).
  pkgs="prometheus prometheus-alertmanager prometheus-node-exporter jsonnet iproute2 python3 python3-venv util-linux systemd procps fuse3 python3-fusepy openssl curl ca-certificates musl-tools gcc-mingw-w64-x86-64 wine wine64"
  command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $pkgs
else
  echo "warning: not root or no apt-get: assuming the tools are installed; root-only tests will not run" >&2
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
rustup target add x86_64-unknown-linux-musl

echo "== offline validators (npm: @grafana/schema, prometheus-operator models; PyPI: kubernetes-validate)"
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
python3 -m venv target/ci-venv
target/ci-venv/bin/pip install -q kubernetes-validate==1.37.0

echo "== format, lint"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test"
cargo test --locked --all-targets

echo "== dashboards and Kubernetes manifests"
node tests/js/validate-dashboards.mjs
node tests/js/validate-k8s-crds.mjs
target/ci-venv/bin/kubernetes-validate --strict deploy/kubernetes/daemonset.yaml deploy/kubernetes/service.yaml

echo "== fuzzing: every parser for a short fixed time"
bash scripts/fuzz.sh 15

echo "== benchmark, smoke size (figures printed, not asserted)"
if [ "$(id -u)" = 0 ]; then
  cargo bench --locked --bench scrape -- --sockets 2000 --procs 20 --scrapes 20 --rounds 2
  # --collector.netns across many namespaces, beside `ip netns exec NS ss -tanp` in each
  cargo bench --locked --bench netns -- --namespaces 20 --scrapes 5
else
  echo "benchmark NOT RUN: it needs root for its network namespace" >&2
  [ "${CI:-}" != true ] || exit 1
fi

echo "== soak, short form: 100 keep-alive scrapers alone and beside each hostile mix, 4 s a phase; fails on an error without attack, < 99% success under attack, or RSS/fd growth (p99 is printed against its 1 s target, not asserted: timings on a shared machine are noise)"
cargo bench --locked --bench soak -- --clients 100 --seconds 4

echo "== static musl binary (what deploy/Dockerfile ships)"
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target x86_64-unknown-linux-musl
musl=target/x86_64-unknown-linux-musl/release/portwatch_exporter
"$musl" --version
if ldd "$musl" 2>&1 | grep -q '=>'; then
  echo "error: $musl links shared libraries:" >&2
  ldd "$musl" >&2
  exit 1
fi
echo "== Debian package (tests/deb_package.rs installs and purges one built from the test binary)"
deb=$(bash scripts/build-deb.sh "$musl" target/debian)
dpkg-deb --info "$deb" | sed -n '/Package:/,/Installed-Size:/p'
dpkg-deb --contents "$deb"

echo "== other systems: cross-checks, and the Windows build under Wine"
bash scripts/cross-check.sh

echo "all checks passed"
