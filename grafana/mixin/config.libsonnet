// Everything a user may want to override, mixin style:
//   (import 'mixin.libsonnet') + { _config+:: { portwatchSelector: 'job="node-portwatch"' } }
{
  _config+:: {
    // Selects this exporter's series (and its `up` series).
    portwatchSelector: 'job="portwatch"',
    // Selects kube-state-metrics' kube_pod_info, which names the pod behind a
    // holder's pod_uid (recording rule pod:portwatch_port_socket_info:kube_pod_info).
    kubeStateMetricsSelector: 'job="kube-state-metrics"',
    // How long a condition must hold before the alert fires.
    heldByOtherFor: '2m',
    rebootPendingRiskFor: '5m',
    reservedBySystemFor: '5m',
    rebootRiskFor: '15m',
    exclusionNotPersistentFor: '15m',
    rangeDriftFor: '15m',
    exhaustionFor: '10m',
    expectedMissingFor: '5m',
    collectorFailingFor: '10m',
    ownersUnresolvableFor: '15m',
    verdictUnknownFor: '15m',
    rejectedAtBootFor: '5m',
    exporterDownFor: '5m',
    podPortInRangeFor: '15m',
    netnsUnreadableFor: '15m',
    listenerSplitFor: '5m',
    baselineStorageFor: '15m',
    // Share of the dynamic range in use above which ports are "nearly exhausted".
    dynamicPortsUsedThreshold: 0.8,
    // Share of the dynamic range one destination takes (in use + TIME_WAIT) above
    // which its ports are "nearly exhausted", and for how long.
    destinationPortsUsedThreshold: 0.8,
    destinationExhaustionFor: '10m',
    // Where each alert's runbook lives (docs/runbook.md); the alert name in lower
    // case is the anchor. An absolute URL, so links work from Alertmanager and
    // Grafana; point it at your own copy if you fork or host the docs elsewhere.
    runbookBase: 'https://github.com/portwatch/portwatch_exporter/blob/main/docs/runbook.md',
    // Several clusters in one Prometheus (Thanos, Mimir, federation): the label
    // that tells them apart. Alert rules always keep it in their `by`/`on`
    // clauses (harmless where it is absent); showMultiCluster adds a cluster
    // variable to the dashboards and a matcher on it to every query.
    clusterLabel: 'cluster',
    showMultiCluster: false,
    // Dashboards.
    dashboardTags: ['portwatch'],
    dashboardRefresh: '30s',
    dashboardTimezone: 'utc',
    // Grafana-managed alert rules: the UID of the Prometheus datasource they query.
    grafanaDatasourceUid: 'prometheus',
    grafanaFolder: 'portwatch',
  },
}
