#!/usr/bin/env bash
# Builds the Debian package from a portwatch_exporter binary:
#   scripts/build-deb.sh BINARY OUTDIR    -> prints the path of the .deb
# Contents: the binary (/usr/bin), the hardened unit (deploy/systemd, run as the
# portwatch_exporter system user with a state directory, flags from
# /etc/default/portwatch_exporter), the socket-activated variant (the socket,
# not enabled, and the service it starts), the sample config as a conffile, and
# the maintainer scripts in deploy/debian (user, state directory, purge).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: build-deb.sh BINARY OUTDIR}
out=${2:?usage: build-deb.sh BINARY OUTDIR}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -D -m 0755 "$bin" "$stage/usr/bin/portwatch_exporter"
install -D -m 0644 deploy/portwatch.yml "$stage/etc/portwatch_exporter/portwatch.yml"
install -D -m 0644 deploy/debian/default "$stage/etc/default/portwatch_exporter"
units="$stage/lib/systemd/system"
install -D -m 0644 -t "$units" deploy/systemd/portwatch_exporter.service deploy/systemd/portwatch_exporter.socket \
  deploy/systemd/portwatch_exporter-activated.service
# The packaged units: the packaged paths, a fixed system user with a state directory.
subst() {
  grep -q -- "$2" "$1" || { echo "error: '$2' not found in $1" >&2; exit 1; }
  sed -i "s|$2|$3|" "$1"
}
# The address comes from the default (:9795) or from $ARGS; the activated service's from the socket.
exec_start='EnvironmentFile=-/etc/default/portwatch_exporter\nExecStart=/usr/bin/portwatch_exporter --config.file=/etc/portwatch_exporter/portwatch.yml'
subst "$units/portwatch_exporter.service" \
  '^ExecStart=/usr/local/bin/portwatch_exporter --config.file=/etc/portwatch/portwatch.yml --web.listen-address=:9795$' "$exec_start \$ARGS"
subst "$units/portwatch_exporter-activated.service" \
  '^ExecStart=/usr/local/bin/portwatch_exporter --config.file=/etc/portwatch/portwatch.yml --web.systemd-socket$' "$exec_start --web.systemd-socket \$ARGS"
for unit in "$units/portwatch_exporter.service" "$units/portwatch_exporter-activated.service"; do
  subst "$unit" '^DynamicUser=yes$' 'User=portwatch_exporter\nGroup=portwatch_exporter\nStateDirectoryMode=0750'
done
install -d "$stage/DEBIAN"
sed "s/@VERSION@/$version/" deploy/debian/control.in > "$stage/DEBIAN/control"
echo "Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)" >> "$stage/DEBIAN/control"
install -m 0644 deploy/debian/conffiles "$stage/DEBIAN/conffiles"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$stage/DEBIAN/"
mkdir -p "$out"
deb="$out/portwatch-exporter_${version}_amd64.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
