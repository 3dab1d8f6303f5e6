#!/usr/bin/env bash
# Windows, macOS and FreeBSD from this Linux machine:
# - cargo check and clippy -D warnings for each target (library and binary);
# - the OS-free parts' unit tests compiled for each target, and run for
#   Windows under Wine;
# - the Windows build, linked with mingw, started under Wine: it must serve
#   /metrics and report a real listener on a watched port.
# macOS is checked without the `tls` feature: ring's C needs Apple's SDK,
# which cannot be installed here. Nothing for macOS or FreeBSD is run.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add x86_64-pc-windows-gnu x86_64-apple-darwin x86_64-unknown-freebsd >/dev/null

# Unit tests are type-checked for every target; linking needs each system's
# libraries, which only Windows (mingw) has here.
for t in x86_64-pc-windows-gnu x86_64-unknown-freebsd; do
  echo "== $t: check, clippy, unit tests compile"
  cargo check --locked --target "$t"
  cargo clippy --locked --target "$t" -- -D warnings
  cargo check --locked --lib --profile test --target "$t"
done
echo "== x86_64-apple-darwin (no tls): check, clippy, unit tests compile"
cargo check --locked --target x86_64-apple-darwin --no-default-features
cargo clippy --locked --target x86_64-apple-darwin --no-default-features -- -D warnings
cargo check --locked --lib --profile test --target x86_64-apple-darwin --no-default-features

export WINEPREFIX="${WINEPREFIX:-$PWD/target/wineprefix}" WINEDEBUG=-all
win=target/x86_64-pc-windows-gnu
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng, used by Rust's std): a
# test-only shim forwards it to BCryptGenRandom.
shim() { x86_64-w64-mingw32-gcc -shared -O2 -o "$1/bcryptprimitives.dll" tests/wine/bcryptprimitives.c -lbcrypt; }

echo "== unit tests of the OS-free parts, run on Windows (Wine)"
unit=$(cargo test --locked --lib --no-run --target x86_64-pc-windows-gnu --message-format=json 2>/dev/null | sed -n 's/.*"executable":"\([^"]*\.exe\)".*/\1/p' | tail -1)
shim "$(dirname "$unit")"
[ -n "$unit" ] || { echo "error: no Windows unit-test executable was built" >&2; exit 1; }
timeout 600 wine "$unit" 2>&1 | grep -E "^test result|FAILED|panicked" | tee target/wine-unit.txt || true
grep -q "^test result: ok" target/wine-unit.txt || { echo "error: unit tests failed under Wine" >&2; exit 1; }

echo "== the Windows exporter under Wine"
cargo build --locked --release --target x86_64-pc-windows-gnu
shim "$win/release"
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
listen=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'ports:\n  - name: wine-listener\n    port: %s\n' "$listen" > "$tmp/config.yml"
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$listen)); s.listen(); time.sleep(120)" &
holder=$!
timeout 150 wine "$win/release/portwatch_exporter.exe" --web.listen-address "127.0.0.1:$port" --config.file "Z:${tmp//\//\\}\\config.yml" > "$tmp/log" 2>&1 &
exporter=$!
cleanup() { kill "$exporter" "$holder" 2>/dev/null || true; pkill -P $$ -x sleep 2>/dev/null || true; wineserver -k 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -s -m 5 "http://127.0.0.1:$port/metrics" > "$tmp/metrics" 2>/dev/null && [ -s "$tmp/metrics" ] && break
  sleep 1
done
grep -v '^#' "$tmp/metrics" | grep -E 'bound|socket_info|collector_success|owners_resolvable' || true
grep -q '^portwatch_build_info{' "$tmp/metrics" || { echo "error: no /metrics from the Windows build under Wine"; cat "$tmp/log"; exit 1; }
grep -q "^portwatch_port_bound{name=\"wine-listener\",port=\"$listen\",protocol=\"tcp\"} 1" "$tmp/metrics" || { echo "error: the listener on $listen was not seen"; exit 1; }
grep -q '^portwatch_scrape_collector_success{collector="sockets"} 1' "$tmp/metrics"
# The exporter's own process, from the Windows calls (platform/self_stats.rs).
grep -Eq '^process_start_time_seconds [0-9]' "$tmp/metrics" || { echo "error: no process_* from the Windows build"; exit 1; }
echo "Windows build under Wine: serves /metrics and sees the real listener on $listen"

echo "== check under Wine: the table, and Windows advice"
# Wine gives no owning pids, so who holds the port cannot be told: no all-clear
# and no false alarm, but "cannot tell" (exit 2).
set +e
timeout 120 wine "$win/release/portwatch_exporter.exe" check --config.file "Z:${tmp//\//\\}\\config.yml" > "$tmp/check" 2>/dev/null
rc=$?
set -e
cat "$tmp/check"
[ "$rc" = 2 ] || { echo "error: check exited $rc, expected 2"; exit 1; }
grep -q "HELD, OWNER HIDDEN" "$tmp/check" && grep -q "^Cannot tell" "$tmp/check" || { echo "error: check did not say it cannot tell the owner"; exit 1; }
grep -q "^wine-listener  *$listen  *tcp" "$tmp/check" || { echo "error: check did not list the watched port"; exit 1; }
grep -q "owners are not resolvable: run as an administrator" "$tmp/check" || { echo "error: check gave no Windows advice"; exit 1; }

echo "== the Windows service entry point, started outside the service control manager"
if timeout 60 wine "$win/release/portwatch_exporter.exe" service --log.file "Z:${tmp//\//\\}\\service.log" >/dev/null 2>&1; then
  echo "error: 'service' outside the SCM must fail" >&2
  exit 1
fi
grep -q "not started by the Windows service control manager" "$tmp/service.log" || { echo "error: no clear message:"; cat "$tmp/service.log"; exit 1; }
echo "'service' outside the SCM fails with: $(grep -o 'not started by the Windows service control manager[^;]*' "$tmp/service.log" | head -1)"

echo "== the Windows service under Wine's service control manager: install, start, scrape, stop, delete"
# Wine ends service processes once no ordinary Wine process is left, so a
# cmd waiting on stdin keeps the session alive while the service runs.
svc=portwatch_ci
sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sleep 120 </dev/null 2>/dev/null | wine cmd >/dev/null 2>&1 &
sleep 2
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
wexe=$(winpath "$PWD/$win/release/portwatch_exporter.exe")
wine sc delete "$svc" >/dev/null 2>&1 || true
timeout 60 wine sc create "$svc" binPath= "$wexe service --web.listen-address 127.0.0.1:$sport --log.file $(winpath "$tmp/svc.log")" > "$tmp/sc" 2>&1 || { echo "error: sc create failed"; cat "$tmp/sc"; exit 1; }
timeout 60 wine sc start "$svc" > "$tmp/sc" 2>&1 || { echo "error: sc start failed"; cat "$tmp/sc"; exit 1; }
for _ in $(seq 1 60); do
  curl -s -m 5 "http://127.0.0.1:$sport/metrics" > "$tmp/svc-metrics" 2>/dev/null && [ -s "$tmp/svc-metrics" ] && break
  sleep 1
done
grep -q '^portwatch_build_info{' "$tmp/svc-metrics" || { echo "error: the service did not serve /metrics"; cat "$tmp/svc.log" "$tmp/sc"; exit 1; }
timeout 60 wine sc stop "$svc" > "$tmp/sc" 2>&1 || true
for _ in $(seq 1 30); do
  timeout 30 wine sc query "$svc" > "$tmp/sc" 2>&1 || true
  grep -q 'STATE *: 1 *STOPPED' "$tmp/sc" && break
  sleep 1
done
timeout 60 wine sc delete "$svc" >/dev/null 2>&1 || true
grep -q 'STATE *: 1 *STOPPED' "$tmp/sc" || { echo "error: the service did not stop"; cat "$tmp/sc"; exit 1; }
grep -q 'WIN32_EXIT_CODE *: 0 ' "$tmp/sc" || { echo "error: the service stopped with an error"; cat "$tmp/sc" "$tmp/svc.log"; exit 1; }
grep -q 'shutting down' "$tmp/svc.log" || { echo "error: the stop request did not reach the server"; cat "$tmp/svc.log"; exit 1; }
echo "service $svc: served /metrics under the SCM, stopped gracefully with exit code 0"

echo "== --log.file eventlog under Wine: warnings reach ReportEventW"
# Wine's ReportEventW stores nothing, but traces each event's text on the
# eventlog debug channel: warnings at warn level. Under Wine the netsh
# collector always fails, so every scrape logs a warning.
elog=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WINEDEBUG=warn+eventlog timeout 90 wine "$win/release/portwatch_exporter.exe" --web.listen-address "127.0.0.1:$elog" --log.file eventlog > "$tmp/eventlog" 2>&1 &
elog_pid=$!
for _ in $(seq 1 60); do
  curl -s -m 5 "http://127.0.0.1:$elog/metrics" > /dev/null 2>&1 && break
  sleep 1
done
sleep 2
kill "$elog_pid" 2>/dev/null || true
grep -q 'warn:eventlog:ReportEventW.*level=warn.*collector netsh failed' "$tmp/eventlog" || { echo "error: no warning event reached the event log"; cat "$tmp/eventlog"; exit 1; }
echo "event log: $(grep -c 'ReportEventW' "$tmp/eventlog") events, e.g. $(grep -m1 -o 'msg=\\"collector [a-z]* failed' "$tmp/eventlog")"
