#!/usr/bin/env bash
# Renders the jsonnet mixin in grafana/mixin into the committed YAML/JSON, so
# users without jsonnet can drop them in. `--check` renders into a temporary
# directory and fails if the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mixin='(import "grafana/mixin/mixin.libsonnet")'
mkdir -p "$out/deploy/prometheus" "$out/deploy/kubernetes" "$out/grafana/dashboards" "$out/grafana/provisioning/alerting"
header='# Generated from grafana/mixin by scripts/render-mixin.sh; edit the jsonnet, not this file.'
# One rule file: the alert groups, then the recording groups.
rules="{groups: $mixin.prometheusAlerts.groups + $mixin.prometheusRules.groups}"
{ echo "$header"; jsonnet -S -e "std.manifestYamlDoc($rules, quote_keys=false)"; } > "$out/deploy/prometheus/portwatch.rules.yml"
{ echo "$header"; jsonnet -S -e "std.manifestYamlDoc({apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: {name: 'portwatch', namespace: 'monitoring', labels: {'app.kubernetes.io/name': 'portwatch-exporter', role: 'alert-rules'}}, spec: $rules}, quote_keys=false)"; } > "$out/deploy/kubernetes/prometheusrule.yaml"
{ echo "$header"; jsonnet -S -e "std.manifestYamlDoc($mixin.grafanaAlerts, quote_keys=false)"; } > "$out/grafana/provisioning/alerting/portwatch.yaml"
jsonnet -m "$out/grafana/dashboards" -e "$mixin.grafanaDashboards" >/dev/null
if [ "$out" != . ]; then
  for f in deploy/prometheus/portwatch.rules.yml deploy/kubernetes/prometheusrule.yaml grafana/provisioning/alerting/portwatch.yaml grafana/dashboards/portwatch-host.json grafana/dashboards/portwatch-fleet.json; do
    if ! diff -u "$f" "$out/$f"; then
      echo "error: $f is stale: run scripts/render-mixin.sh and commit the result" >&2
      exit 1
    fi
  done
  echo "rendered mixin files are up to date"
fi
