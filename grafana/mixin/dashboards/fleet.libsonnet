// Fleet dashboard: which hosts need attention before the next reboot window.
local g = import 'lib.libsonnet';

{
  fleet(c)::
    local s = 'job=~"$job", instance=~"$instance"';
    local table(title, expr, x, y, description) = g.panel('table', title, [g.target(expr, instant=true, format='table')], x, y, 12, 8, description) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Ports' } } }],
    };
    local d = g.dashboard(
      'portwatch-fleet', 'portwatch / Fleet',
      'Hosts with watched ports at risk after a reboot, ports held by others, ranges that drift, ephemeral usage.',
      [
        table('Hosts by ports at risk after reboot', 'sort_desc(count by (instance) (portwatch_port_reboot_risk{%s} == 1))' % s, 0, 0,
              'Watched ports that lie in the persistent dynamic range and are not persistently excluded.'),
        table('Hosts with ports held by others', 'sort_desc(count by (instance) (portwatch_port_bound_by_other{%s} == 1))' % s, 12, 0,
              'Watched ports with at least one socket not owned by the expected process.'),
        table('Reboot pending with ports at risk',
              'count by (instance) (portwatch_port_reboot_risk{%s} == 1) and on (instance) (max by (instance) (portwatch_reboot_required{%s}) == 1)' % [s, s], 0, 8,
              'Page-now list: a reboot is pending and a port can be taken after it.'),
        table('Ranges that change at the next boot',
              'count by (instance) ((portwatch_dynamic_port_range_start{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_start{%s, store="persistent"}) or (portwatch_dynamic_port_range_end{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_end{%s, store="persistent"}))' % [s, s, s, s], 12, 8,
              'Active dynamic range differs from the persistent one (number of protocol/family pairs).'),
        g.panel('bargauge', 'Top ephemeral usage',
                [g.target('topk(10, max by (instance) (portwatch_dynamic_ports_in_use{%s} / portwatch_dynamic_ports_available{%s}))' % [s, s], '{{instance}}', instant=true)],
                0, 16, 12, 8, 'Share of the dynamic range in use, worst protocol/family per host.') + {
          fieldConfig: { defaults: { unit: 'percentunit', min: 0, max: 1 }, overrides: [] },
          options: { orientation: 'horizontal', displayMode: 'gradient', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
        },
        g.panel('timeseries', 'Exporters up', [g.target('sum(up{%s})' % s, 'up'), g.target('count(up{%s})' % s, 'targets')], 12, 16, 12, 8),
      ],
      c.dashboardTags, c.dashboardRefresh, c.dashboardTimezone,
    );
    // The fleet view selects any number of instances.
    d + { templating: { list: [
      if v.name == 'instance' then v { multi: true, includeAll: true, current: { text: 'All', value: '$__all' }, query: { query: 'label_values(portwatch_build_info{job=~"$job"}, instance)', refId: 'instance' } } else v
      for v in d.templating.list
    ] } },
}
