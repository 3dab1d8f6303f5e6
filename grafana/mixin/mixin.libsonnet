// portwatch mixin: alert and recording rules, Grafana dashboards and Grafana-managed alerts.
// Override `_config` (see config.libsonnet) to change selectors and thresholds.
local fleet = import 'dashboards/fleet.libsonnet';
local host = import 'dashboards/host.libsonnet';

(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'rules.libsonnet') +
(import 'grafana_alerts.libsonnet') +
{
  grafanaDashboards+:: {
    'portwatch-host.json': host.host($._config),
    'portwatch-fleet.json': fleet.fleet($._config),
  },
}
