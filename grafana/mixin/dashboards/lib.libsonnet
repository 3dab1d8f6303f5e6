// Small builders for Grafana 10+ dashboard JSON (schemaVersion 39), so the
// dashboards stay readable without external jsonnet libraries. They follow
// grafana/dashboard-linter's rules (checked by tests/mixin_lint.rs): a
// `datasource` variable, job/instance (and cluster) variables refreshed on
// time change, every panel with a unit and a description, every query
// filtered by the variables.
{
  ds:: { type: 'prometheus', uid: '${datasource}' },

  // The matchers every query carries: the cluster (when showMultiCluster is on),
  // the job and the instance variables.
  matchers(c):: (if c.showMultiCluster then '%s=~"$cluster", ' % c.clusterLabel else '') + 'job=~"$job", instance=~"$instance"',

  // The labels that name one exporter across the fleet, for `by` clauses.
  hostLabels(c):: (if c.showMultiCluster then c.clusterLabel + ', ' else '') + 'instance',

  target(expr, legend='', instant=false, format='time_series', refId='A'):: {
    datasource: $.ds,
    expr: expr,
    legendFormat: legend,
    refId: refId,
    instant: instant,
    range: !instant,
    format: format,
  },

  // A query variable `name` listing the values of `labelName` in
  // portwatch_build_info, filtered by the variables before it.
  local queryVariable(name, label, filter, multi, labelName=name) = {
    local q = 'label_values(portwatch_build_info%s, %s)' % [if filter == '' then '' else '{%s}' % filter, labelName],
    name: name,
    label: label,
    type: 'query',
    datasource: $.ds,
    query: { query: q, refId: name },
    definition: q,
    current: if multi then { text: 'All', value: '$__all' } else { text: '', value: '' },
    includeAll: multi,
    multi: multi,
    [if multi then 'allValue']: '.+',
    refresh: 2,
    sort: 1,
    hide: 0,
    regex: '',
    options: [],
  },

  // datasource, [cluster], job, instance. `multiInstance`: whether several
  // instances can be selected at once.
  variables(c, multiInstance)::
    local clusterFilter = if c.showMultiCluster then '%s=~"$cluster"' % c.clusterLabel else '';
    [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: { text: 'default', value: 'default' },
        hide: 0,
        refresh: 1,
        regex: '',
        options: [],
      },
    ] + (
      if c.showMultiCluster then [queryVariable('cluster', 'Cluster', '', true, c.clusterLabel)] else []
    ) + [
      queryVariable('job', 'Job', clusterFilter, true),
      queryVariable('instance', 'Instance', std.join(', ', std.filter(function(m) m != '', [clusterFilter, 'job=~"$job"'])), multiInstance),
    ],

  // Every panel states its unit and what it shows (dashboard-linter's
  // panel-units and panel-title-description rules, applied to every type).
  panel(type, title, targets, x, y, w, h, description, unit):: {
    type: type,
    title: title,
    description: description,
    datasource: $.ds,
    gridPos: { x: x, y: y, w: w, h: h },
    targets: [t { refId: std.char(65 + i) } for i in std.range(0, std.length(targets) - 1) for t in [targets[i]]],
    options: {},
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
  },

  row(title, y):: { type: 'row', title: title, collapsed: false, gridPos: { x: 0, y: y, w: 24, h: 1 }, panels: [] },

  // Value mappings for 0/1 gauges.
  yesNo(yesText, noText, yesColor='red', noColor='green'):: [{
    type: 'value',
    options: {
      '0': { text: noText, color: noColor, index: 0 },
      '1': { text: yesText, color: yesColor, index: 1 },
    },
  }],

  // Provisioned from files: not editable in the UI (dashboard-linter's
  // uneditable-dashboard rule); edit the jsonnet instead.
  dashboard(c, uid, title, description, panels, multiInstance):: {
    uid: uid,
    title: title,
    description: description,
    tags: c.dashboardTags,
    timezone: c.dashboardTimezone,
    editable: false,
    graphTooltip: 1,
    refresh: c.dashboardRefresh,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: [],
    annotations: { list: [] },
    templating: { list: $.variables(c, multiInstance) },
    panels: panels,
  },
}
