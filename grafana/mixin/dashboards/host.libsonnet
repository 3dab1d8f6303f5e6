// Host dashboard: every watched port of one instance as a row, its holders,
// its state over time, the range bounds (active vs persistent), dynamic-port
// usage, and collector health.
local g = import 'lib.libsonnet';

{
  host(c)::
    local s = g.matchers(c);
    local byPort(metric, extra='') = 'max by (name, port, protocol) (%s{%s%s})' % [metric, s, extra];
    local portCols = [
      ['portwatch_port_bound_by_expected', '', 'Expected owner', g.yesNo('holds it', 'absent', 'green', 'orange')],
      ['portwatch_port_bound_by_other', '', 'Other holder', g.yesNo('YES', 'no')],
      ['portwatch_port_sockets', '', 'Sockets', []],
      ['portwatch_port_in_dynamic_range', ', store="active"', 'In range now', g.yesNo('yes', 'no', 'orange', 'green')],
      ['portwatch_port_excluded_from_dynamic_range', ', store="active"', 'Excluded now', g.yesNo('yes', 'no', 'green', 'text')],
      ['portwatch_port_excluded_from_dynamic_range', ', store="persistent"', 'Excluded after reboot', g.yesNo('yes', 'no', 'green', 'text')],
      ['portwatch_port_reboot_risk', '', 'Reboot risk', g.yesNo('AT RISK', 'safe')],
    ];
    local ports = g.panel(
      'table', 'Watched ports',
      [g.target(byPort(col[0], col[1]), instant=true, format='table') for col in portCols],
      0, 1, 24, 9,
      'One row per watched port: who holds it, whether it is in the dynamic range, and whether it is excluded now and after the next reboot.',
      'none',
    ) + {
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { Time: true },
          renameByName: { ['Value #' + std.char(65 + i)]: portCols[i][2] for i in std.range(0, std.length(portCols) - 1) },
        } },
      ],
      fieldConfig+: {
        defaults+: { custom: { align: 'auto', cellOptions: { type: 'auto' } } },
        overrides: [
          {
            matcher: { id: 'byName', options: col[2] },
            properties: [{ id: 'mappings', value: col[3] }, { id: 'custom.cellOptions', value: { type: 'color-text' } }],
          }
          for col in portCols
          if std.length(col[3]) > 0
        ],
      },
    };
    local holders = g.panel(
      'table', 'Holders',
      [g.target('portwatch_port_socket_info{%s}' % s, instant=true, format='table')],
      0, 10, 24, 8,
      'One row per (socket, owner process) on a watched port, unexpected holders first. An empty pid means no process holds the socket (TIME_WAIT) or it could not be identified.',
      'none',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true, job: true, instance: true, [c.clusterLabel]: true } } }],
    };
    local timeline = g.panel(
      'state-timeline', 'Port state over time',
      [g.target('max by (name) (portwatch_port_bound_by_expected{%s}) + 2 * max by (name) (portwatch_port_bound_by_other{%s})' % [s, s], '{{name}}')],
      0, 18, 24, 8,
      'Per watched port: free (no socket), expected (only the expected owner holds it), other (only other processes), expected + other. From portwatch_port_bound_by_expected and portwatch_port_bound_by_other.',
      'none',
    ) + {
      fieldConfig+: {
        defaults+: {
          mappings: [{ type: 'value', options: {
            '0': { text: 'free', color: 'text', index: 0 },
            '1': { text: 'expected', color: 'green', index: 1 },
            '2': { text: 'other', color: 'red', index: 2 },
            '3': { text: 'expected + other', color: 'orange', index: 3 },
          } }],
        },
      },
      options: { mergeValues: true, showValue: 'auto', rowHeight: 0.9 },
    };
    local riskTimeline = g.panel(
      'state-timeline', 'Reboot risk over time',
      [g.target('max by (name) (portwatch_port_reboot_risk{%s})' % s, '{{name}}')],
      0, 26, 24, 6,
      'Per watched port: at risk while the next boot puts it inside the dynamic range without excluding it, so a client may take it before the service starts (portwatch_port_reboot_risk).',
      'none',
    ) + { fieldConfig+: { defaults+: { mappings: g.yesNo('at risk', 'safe') } } };
    local bounds = g.panel(
      'timeseries', 'Dynamic range bounds: active vs persistent',
      [
        g.target('portwatch_dynamic_port_range_start{%s}' % s, 'start {{protocol}}/{{family}} {{store}}'),
        g.target('portwatch_dynamic_port_range_end{%s}' % s, 'end {{protocol}}/{{family}} {{store}}'),
      ],
      0, 33, 12, 8,
      'First and last port of the dynamic range, now (store="active") and after the next boot (store="persistent"). When they differ, the range changes at the next boot.',
      'none',
    ) + { fieldConfig+: { defaults+: { decimals: 0 } } };
    local usage = g.panel(
      'timeseries', 'Dynamic ports: in use vs available',
      [
        g.target('portwatch_dynamic_ports_in_use{%s}' % s, 'in use {{protocol}}/{{family}}'),
        g.target('portwatch_dynamic_ports_available{%s}' % s, 'available {{protocol}}/{{family}}'),
      ],
      12, 33, 12, 8,
      'Sockets on ports of the dynamic range against the number of ports in it, per protocol and family. New outgoing connections fail when the two meet.',
      'none',
    ) + { fieldConfig+: { defaults+: { decimals: 0 } } };
    local stat(title, expr, x, mappings, description) = g.panel('stat', title, [g.target(expr, instant=true)], x, 42, 6, 4, description, 'none') + {
      fieldConfig+: { defaults+: { mappings: mappings } },
      options: { colorMode: 'background', graphMode: 'none', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
    };
    local health = [
      stat('Reboot pending', 'portwatch_reboot_required{%s}' % s, 0, g.yesNo('pending', 'no', 'orange', 'green'),
           'Whether the OS reports a pending reboot (portwatch_reboot_required): the next boot\'s range and exclusions will soon be the active ones.'),
      stat('Owners resolvable', 'portwatch_owners_resolvable{%s}' % s, 6, g.yesNo('yes', 'NO', 'green', 'red'),
           'Whether the exporter can map sockets to processes (portwatch_owners_resolvable). When NO, the verdicts that need owners are absent and owner-based alerts are silenced.'),
      stat('Failing collectors', 'count(portwatch_scrape_collector_success{%s} == 0) or vector(0)' % s, 12, [],
           'Collectors whose last run failed (portwatch_scrape_collector_success == 0); the metrics they feed are missing.'),
      stat('Exporter up', 'up{%s}' % s, 18, g.yesNo('up', 'DOWN', 'green', 'red'),
           'Whether Prometheus\'s last scrape of the exporter succeeded (up).'),
    ];
    local durations = g.panel(
      'timeseries', 'Collector duration',
      [g.target('portwatch_scrape_collector_duration_seconds{%s}' % s, '{{collector}}')],
      0, 46, 12, 8,
      'How long each collector took in the last scrape (portwatch_scrape_collector_duration_seconds). A collector that nears the scrape timeout is failed alone.',
      's',
    );
    local successes = g.panel(
      'state-timeline', 'Collector success',
      [g.target('portwatch_scrape_collector_success{%s}' % s, '{{collector}}')],
      12, 46, 12, 8,
      'Per collector: ok while its runs succeed (portwatch_scrape_collector_success); while FAILED its metrics are missing.',
      'none',
    ) + { fieldConfig+: { defaults+: { mappings: g.yesNo('ok', 'FAILED', 'green', 'red') } } };
    local countStat(title, expr, x, description) = g.panel('stat', title, [g.target('count(%s{%s}) or vector(0)' % [expr, s], instant=true)], x, 54, 12, 4, description, 'none') + {
      fieldConfig+: { defaults+: { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] } } },
      options: { colorMode: 'background', graphMode: 'none', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } },
    };
    local trust = [
      countStat('sysctl lines the next boot will refuse', 'portwatch_next_boot_rejected_info', 0, 'Port sysctl lines the kernel will refuse at the next boot (portwatch_next_boot_rejected_info: file, line, reason, value in force instead). An exclusion that looks persistent may not be.'),
      countStat('Verdicts that cannot be given', 'portwatch_port_verdict_unknown', 12, 'Watched-port verdicts the exporter cannot give (portwatch_port_verdict_unknown: verdict and reason); their series are absent, so no alert can say the port is safe.'),
    ];
    // The learned baseline (--storage.path): what held each port before, and its changes.
    local baselinePorts = g.panel(
      'timeseries', 'Learned baseline ports',
      [g.target('portwatch_baseline_ports{%s}' % s, '{{state}}')],
      0, 59, 8, 8,
      'Ports in the learned baseline (portwatch_baseline_ports): learned (their owners are the expected owners without a config file, or for a watch without expect) and candidates (held for less than --baseline.learn-after).',
      'none',
    );
    local baselineChanges = g.panel(
      'timeseries', 'Baseline changes',
      [g.target('increase(portwatch_baseline_changes_total{%s}[$__rate_interval])' % s, '{{kind}}')],
      8, 59, 8, 8,
      'Changes to the learned baseline by kind (portwatch_baseline_changes_total): learned, owner_changed (a new owner held a learned port for --baseline.learn-after), appeared (a new listener), forgotten.',
      'none',
    );
    local baselineHealth = [
      g.panel('stat', 'Baseline loaded', [g.target('portwatch_baseline_load_success{%s}' % s, instant=true)], 16, 59, 4, 4,
              'Whether the stored baseline was loaded at start (portwatch_baseline_load_success); NO: it was corrupt, truncated or newer and was set aside, so learning started over.', 'none') + {
        fieldConfig+: { defaults+: { mappings: g.yesNo('yes', 'NO', 'green', 'red') } },
      },
      g.panel('stat', 'Shared listening ports', [g.target('count(portwatch_listener_distinct_owners{%s}) or vector(0)' % s, instant=true)], 20, 59, 4, 4,
              'Listening ports whose sockets belong to two or more different processes (portwatch_listener_distinct_owners, e.g. SO_REUSEPORT): the kernel splits the traffic between them.', 'none'),
      g.panel('timeseries', 'Baseline write failures', [g.target('increase(portwatch_baseline_write_failures_total{%s}[$__rate_interval])' % s)], 16, 63, 8, 4,
              'Failed writes of the baseline file (portwatch_baseline_write_failures_total): what is learned does not survive a restart while they go on.', 'none'),
    ];
    local recentChanges = g.panel(
      'table', 'Recent baseline changes',
      [g.target('portwatch_baseline_change_timestamp_seconds{%s} * 1000' % s, instant=true, format='table')],
      0, 67, 24, 8,
      'The most recent changes to the learned baseline (portwatch_baseline_change_timestamp_seconds, at most 10): kind, port, previous and current owners; Value is when.',
      'dateTimeAsIso',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true, instance: true, [c.clusterLabel]: true } } }],
    };
    // Watched ranges: one row per range, counts only (no series per port).
    local byRange(metric, extra='') = 'max by (name, protocol) (%s{%s%s})' % [metric, s, extra];
    local rangeCols = [
      ['portwatch_watched_range_first_port', '', 'First port'],
      ['portwatch_watched_range_last_port', '', 'Last port'],
      ['portwatch_watched_range_ports_in_dynamic_range', ', store="active"', 'In dynamic range now'],
      ['portwatch_watched_range_ports_excluded', ', store="active"', 'Excluded now'],
      ['portwatch_watched_range_ports_at_risk', ', store="persistent"', 'At risk after reboot'],
      ['portwatch_watched_range_ports_bound_by_expected', '', 'Held by expected'],
      ['portwatch_watched_range_ports_bound_by_other', '', 'Held by other'],
    ];
    local ranges = g.panel(
      'table', 'Watched ranges',
      [g.target(byRange(col[0], col[1]), instant=true, format='table', refId=std.char(65 + i)) for i in std.range(0, std.length(rangeCols) - 1) for col in [rangeCols[i]]],
      0, 110, 24, 7,
      'One row per watched range (a config entry written START-END): how many of its ports are inside the dynamic range and excluded now, how many are at risk after the next boot (inside and not excluded), and how many are held by the expected owner and by others. Counts of ports; the first offenders are in portwatch_watched_range_offender_info.',
      'none',
    ) + {
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { Time: true },
          renameByName: { ['Value #' + std.char(65 + i)]: rangeCols[i][2] for i in std.range(0, std.length(rangeCols) - 1) },
        } },
      ],
    };
    local offenders = g.panel(
      'table', 'Watched range offenders',
      [g.target('portwatch_watched_range_offender_info{%s}' % s, instant=true, format='table')],
      0, 117, 24, 7,
      'The first unexpected holders of each watched range\'s ports (port, state, pid, process; TIME_WAIT leftovers last), at most range_offender_limit per range; the value is the sockets each stands for. portwatch_watched_range_offenders_omitted counts the rest.',
      'none',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true, instance: true, [c.clusterLabel]: true } } }],
    };
    local podHolders = g.panel(
      'table', 'Holders in Kubernetes pods',
      [g.target('pod:portwatch_port_socket_info:kube_pod_info{%s}' % s, instant=true, format='table')],
      0, 76, 24, 8,
      'Holders of watched ports that run in a Kubernetes pod, named by kube-state-metrics (recording rule pod:portwatch_port_socket_info:kube_pod_info: portwatch_port_socket_info joined with kube_pod_info on the pod UID). Empty outside Kubernetes or without kube-state-metrics.',
      'none',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true, job: true, instance: true, [c.clusterLabel]: true } } }],
    };
    local nsCols = [
      ['portwatch_netns_dynamic_port_range_start', 'Range start'],
      ['portwatch_netns_dynamic_port_range_end', 'Range end'],
      ['portwatch_netns_reserved_ports_in_range', 'Reserved'],
      ['portwatch_netns_dynamic_ports_in_use', 'Ephemeral in use'],
      ['portwatch_netns_listeners_in_dynamic_range', 'Listeners in range'],
      ['portwatch_netns_read_success', 'Read'],
    ];
    local namespaces = g.panel(
      'table', 'Network namespaces',
      [g.target('max by (netns) (%s{%s})' % [col[0], s], instant=true, format='table') for col in nsCols]
      + [g.target('max by (netns, netns_name, container_runtime, container_id, pod_uid) (portwatch_netns_info{%s})' % s, instant=true, format='table')],
      0, 84, 24, 8,
      'With --collector.netns: every other network namespace on the host (pods, containers), read from inside it: its own dynamic range and reserved ports (the host\'s sysctl.d does not apply there), sockets in that range, and listened ports inside it (PortwatchPodPortInDynamicRange). The last columns name its container and pod UID (join with kube_pod_info). With --collector.netns.refresh-interval these are the latest background read, portwatch_netns_read_age_seconds old.',
      'none',
    ) + {
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { Time: true },
          renameByName: { ['Value #' + std.char(65 + i)]: nsCols[i][1] for i in std.range(0, std.length(nsCols) - 1) } + { ['Value #' + std.char(65 + std.length(nsCols))]: 'Processes' },
        } },
      ],
    };
    // Holders on watched ports inside pods' namespaces, with the namespace's container and pod UID.
    local podPorts = g.panel(
      'table', 'Watched ports inside pods',
      [g.target('portwatch_netns_port_socket_info{%s}' % s, instant=true, format='table')],
      0, 92, 16, 8,
      'With --collector.netns: the sockets on watched ports inside every other network namespace (pods, containers), by the same config as the host (without one: each namespace\'s own listeners): namespace, port, holder (pid, process, state, container, pod UID) and whether it is the expected owner. expected=false on a listening port\'s namespace is PortwatchPodPortHeldByOther, e.g. a sidecar whose outgoing connection took the app\'s port.',
      'none',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true, instance: true, [c.clusterLabel]: true } } }],
    };
    // The NodePort range against the dynamic range, now and after the next boot.
    local nodeport = g.panel(
      'table', 'NodePort range at risk',
      [g.target('max by (protocol, store) (portwatch_nodeport_range_ports_at_risk{%s})' % s, instant=true, format='table')],
      16, 92, 8, 8,
      'With --collector.nodeport: ports of the Kubernetes NodePort range (--collector.nodeport.range, 30000-32767 by default) inside the dynamic range and not reserved, per protocol; store=active is now, persistent after the next boot. Above 0, an outgoing connection can take a NodePort (PortwatchNodePortRangeInDynamicRange).',
      'none',
    ) + {
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'Ports at risk' } } }],
    };
    local destLabels = 'protocol, family, destination_address, destination_port';
    local destCols = [
      ['max by (%s) (portwatch_ephemeral_destination_ports_in_use{%s})' % [destLabels, s], 'In use'],
      ['max by (%s) (portwatch_ephemeral_destination_ports_time_wait{%s})' % [destLabels, s], 'TIME_WAIT'],
      [
        'max by (%s) ((portwatch_ephemeral_destination_ports_in_use{%s} + portwatch_ephemeral_destination_ports_time_wait{%s}) / on (job, %s, protocol, family) group_left portwatch_dynamic_ports_available{%s})'
        % [destLabels, s, s, g.hostLabels(c), s],
        'Share of the range',
      ],
    ];
    local destinations = g.panel(
      'table', 'Top destinations by ephemeral ports',
      [g.target(col[0], instant=true, format='table') for col in destCols],
      0, 101, 12, 8,
      'The destinations (remote address and port) that take the most ports of the dynamic range on this host (--collector.ephemeral.destinations, Linux): sockets in use, in TIME_WAIT, and both as a share of the ports the range leaves each destination (portwatch_dynamic_ports_available). Linux picks an ephemeral port per destination, so one destination can run out while the host has ports to spare.',
      'none',
    ) + {
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { Time: true },
          renameByName: { ['Value #' + std.char(65 + i)]: destCols[i][1] for i in std.range(0, std.length(destCols) - 1) },
        } },
        { id: 'sortBy', options: { sort: [{ field: 'Share of the range', desc: true }] } },
      ],
      fieldConfig+: {
        overrides: [{ matcher: { id: 'byName', options: 'Share of the range' }, properties: [{ id: 'unit', value: 'percentunit' }] }],
      },
    };
    local timeWait = g.panel(
      'timeseries', 'Ephemeral ports per destination over time',
      [
        g.target('portwatch_ephemeral_destination_ports_time_wait{%s}' % s, 'TIME_WAIT {{destination_address}}:{{destination_port}}'),
        g.target('portwatch_ephemeral_destination_ports_in_use{%s}' % s, 'in use {{destination_address}}:{{destination_port}}'),
      ],
      12, 101, 12, 8,
      'Per top destination, sockets of the dynamic range in TIME_WAIT and in use (portwatch_ephemeral_destination_ports_time_wait, _in_use). A TIME_WAIT wave that grows with the request rate points at connections opened and closed per request.',
      'none',
    ) + { fieldConfig+: { defaults+: { decimals: 0 } } };
    g.dashboard(
      c, 'portwatch-host', 'portwatch / Host',
      'Who holds each watched port on one host, and will it still be free after a reboot.',
      [g.row('Watched ports', 0), ports, holders, timeline, riskTimeline, g.row('Dynamic port range', 32), bounds, usage, g.row('Exporter', 41)] + health + [durations, successes] + trust
      + [g.row('Learned baseline', 58), baselinePorts, baselineChanges] + baselineHealth + [recentChanges]
      + [g.row('Kubernetes', 75), podHolders, namespaces, podPorts, nodeport]
      + [g.row('Ephemeral ports per destination', 100), destinations, timeWait]
      + [g.row('Watched ranges', 109), ranges, offenders],
      multiInstance=false,
    ),
}
