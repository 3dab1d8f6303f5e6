// Fleet dashboard: which hosts need attention before the next reboot window.
local g = import 'lib.libsonnet';

{
  fleet(c)::
    local s = g.matchers(c);
    // One row per exporter: by instance, and by cluster too when there are several.
    local by = g.hostLabels(c);
    local table(title, expr, x, y, description) = g.panel('table', title, [g.target(expr, instant=true, format='table')], x, y, 12, 8, description, 'none') + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Ports' } } }],
    };
    g.dashboard(
      c, 'portwatch-fleet', 'portwatch / Fleet',
      'Hosts with watched ports at risk after a reboot, ports held by others, ranges that drift, ephemeral usage.',
      [
        table('Hosts by ports at risk after reboot', 'sort_desc(count by (%s) (portwatch_port_reboot_risk{%s} == 1))' % [by, s], 0, 0,
              'Watched ports per host that lie in the persistent dynamic range and are not persistently excluded (portwatch_port_reboot_risk).'),
        table('Hosts with ports held by others', 'sort_desc(count by (%s) (portwatch_port_bound_by_other{%s} == 1))' % [by, s], 12, 0,
              'Watched ports per host with at least one socket not owned by the expected process (portwatch_port_bound_by_other).'),
        table('Reboot pending with ports at risk',
              'count by (%s) (portwatch_port_reboot_risk{%s} == 1) and on (%s) (max by (%s) (portwatch_reboot_required{%s}) == 1)' % [by, s, by, by, s], 0, 8,
              'Page-now list: a reboot is pending (portwatch_reboot_required) and this many ports can be taken after it.'),
        table('Ranges that change at the next boot',
              'count by (%s) ((portwatch_dynamic_port_range_start{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_start{%s, store="persistent"}) or (portwatch_dynamic_port_range_end{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_end{%s, store="persistent"}))' % [by, s, s, s, s], 12, 8,
              'Active dynamic range differs from the persistent one (number of protocol/family pairs, from portwatch_dynamic_port_range_start/end).'),
        g.panel('bargauge', 'Top ephemeral usage',
                [g.target('topk(10, max by (%s) (portwatch_dynamic_ports_in_use{%s} / portwatch_dynamic_ports_available{%s}))' % [by, s, s], '{{instance}}', instant=true)],
                0, 16, 12, 8, 'Share of the dynamic range in use, worst protocol/family per host (portwatch_dynamic_ports_in_use / portwatch_dynamic_ports_available).', 'percentunit') + {
          fieldConfig+: { defaults+: { min: 0, max: 1 } },
          options: { orientation: 'horizontal', displayMode: 'gradient', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
        },
        g.panel('timeseries', 'Exporters up', [g.target('sum(up{%s})' % s, 'up'), g.target('count(up{%s})' % s, 'targets')], 12, 16, 12, 8,
                'Exporters Prometheus scraped successfully (up) against the targets it knows. A gap means hosts whose ports nobody watches.', 'none'),
      ],
      multiInstance=true,
    ),
}
