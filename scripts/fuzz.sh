#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 20), seeded from the test
# fixtures. cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP lets the
# stable toolchain (the only one this project's machines have) provide them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
fx=tests/fixtures
seed() { # target files...
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
  return 0
}
seed sysctl_values $fx/linux-sysctl/*
seed sysctl_d $fx/linux-sysctl/conf-* $fx/host1/root/*/sysctl.d/* $fx/host1/root/usr/lib/sysctl.d/* $fx/broken/root/etc/sysctl.d/*
seed config_yaml $fx/host1/portwatch.yml $fx/broken/portwatch.yml deploy/portwatch.yml
seed procfs_text $fx/host1/proc/*/stat $fx/host1/proc/*/status $fx/host1/proc/*/cgroup $fx/host1/proc/net/* $fx/host1/root/etc/passwd $fx/broken/proc/net/*
seed sock_diag_reply
seed os_tables $fx/windows-excluded/* $fx/windows-dynamic/*
mkdir -p fuzz/corpus/web_config_yaml
printf 'tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\nbasic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n' > fuzz/corpus/web_config_yaml/seed.yml
mkdir -p fuzz/corpus/exposition
printf 'pg "quoted" \\back\xffpost\x1b[31mgres\n\xfe\xffev\ril\x00' > fuzz/corpus/exposition/seed
mkdir -p fuzz/corpus/rootfs_resolve
printf 'd etc\nl esc ../../../../OUTSIDE/secret\nl abs /etc\nl loop loop\nl -up ../..\nesc' > fuzz/corpus/rootfs_resolve/seed
mkdir -p fuzz/corpus/check_render
printf '\x03\x01web\x50\x00\x00\x00\xdc\x05\x00\x00\x01nginx\x01root\x07' > fuzz/corpus/check_render/seed
for t in sysctl_values sysctl_d config_yaml procfs_text sock_diag_reply web_config_yaml os_tables exposition rootfs_resolve check_render; do
  echo "== fuzz $t for ${secs}s"
  cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|Done|ERROR|panicked|SUMMARY" || true
  if [ -n "$(ls fuzz/artifacts/"$t" 2>/dev/null)" ]; then
    echo "error: fuzz target $t found a crash: fuzz/artifacts/$t" >&2
    exit 1
  fi
done
