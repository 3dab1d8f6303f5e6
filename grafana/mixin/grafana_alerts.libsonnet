// Grafana-managed alert rules mirroring the Prometheus rules, for teams that
// alert from Grafana (file provisioning format, apiVersion 1).
{
  local c = $._config,
  grafanaAlerts+:: {
    apiVersion: 1,
    groups: [{
      orgId: 1,
      name: g.name,
      folder: c.grafanaFolder,
      interval: '1m',
      rules: [
        {
          uid: std.asciiLower(r.alert),
          title: r.alert,
          condition: 'B',
          data: [
            {
              refId: 'A',
              relativeTimeRange: { from: 600, to: 0 },
              datasourceUid: c.grafanaDatasourceUid,
              // Any series the Prometheus expression returns is firing; make its value 1.
              model: { refId: 'A', expr: '(%s) * 0 + 1' % std.stripChars(r.expr, '\n'), instant: true, intervalMs: 1000, maxDataPoints: 43200 },
            },
            {
              refId: 'B',
              datasourceUid: '__expr__',
              relativeTimeRange: { from: 600, to: 0 },
              model: { refId: 'B', type: 'threshold', expression: 'A', conditions: [{ evaluator: { type: 'gt', params: [0] } }] },
            },
          ],
          noDataState: 'OK',
          execErrState: 'Error',
          'for': r['for'],
          labels: r.labels,
          annotations: r.annotations,
        }
        for r in g.rules
      ],
    } for g in $.prometheusAlerts.groups],
  },
}
