// promtool unit tests for every shipped alert rule: firing, not firing and
// escalation. Rendered to YAML by tests/ops_files.rs, then `promtool test rules`.
// Expected annotations are the rule's templates with the labels filled in, so
// a template naming a missing label fails here.
local mixin = import '../../grafana/mixin/mixin.libsonnet';
local rules = { [r.alert]: r for g in mixin.prometheusAlerts.groups for r in g.rules };

local expand(text, labels) = std.foldl(function(t, k) std.strReplace(t, '{{ $labels.%s }}' % k, labels[k]), std.objectFields(labels), text);
local fire(name, labels, value_text=null) = {
  exp_labels: labels { severity: rules[name].labels.severity },
  exp_annotations: {
    [k]: (if k == 'summary' && value_text != null then std.strReplace(expand(rules[name].annotations[k], labels), '{{ $value | humanizePercentage }}', value_text) else expand(rules[name].annotations[k], labels))
    for k in std.objectFields(rules[name].annotations)
  },
};
local at(t, name, alerts) = { eval_time: t, alertname: name, exp_alerts: alerts };

local h = { job: 'portwatch', instance: 'h1' };
local sel(m, extra={}) = m + '{' + std.join(',', ['%s="%s"' % [k, (h + extra)[k]] for k in std.objectFields(h + extra)]) + '}';
local pg = { name: 'pg', port: '5432', protocol: 'tcp' };
local series(m, extra, values) = { series: sel(m, extra), values: values };
local info(state, expected) = pg { family: 'ipv4', address: '0.0.0.0', state: state, pid: '42', process: 'nc', user: 'root', expected: expected };

{
  rule_files: ['portwatch.rules.yml'],
  evaluation_interval: '1m',
  tests: [
    {
      name: 'held by another process: fires after 2m, ignores TIME_WAIT and expected sockets',
      interval: '1m',
      input_series: [
        series('portwatch_port_socket_info', info('listen', 'false'), '1x10'),
        series('portwatch_port_socket_info', info('time_wait', 'false') { name: 'web', port: '80', pid: '', process: '', user: '' }, '1x10'),
        series('portwatch_port_socket_info', info('listen', 'true') { name: 'ssh', port: '22' }, '1x10'),
        series('portwatch_owners_resolvable', {}, '1x10'),
        // --no-collector.owners: every holder is unknown, never "another owner".
        series('portwatch_port_socket_info', info('listen', 'false') { name: 'dns', port: '53', pid: '', process: '', user: '' }, '1x10'),
        series('portwatch_port_verdict_unknown', { name: 'dns', port: '53', protocol: 'tcp', verdict: 'owners', reason: 'the owners collector is disabled' }, '1x10'),
      ],
      alert_rule_test: [
        at('1m', 'PortwatchPortHeldByOther', []),
        at('3m', 'PortwatchPortHeldByOther', [fire('PortwatchPortHeldByOther', h + pg)]),
      ],
    },
    {
      name: 'a learned port held by another owner names the learned owner, and only that alert fires',
      interval: '1m',
      local learned = { source: 'baseline', owner: 'sqlservr (mssql, mssql-server.service)' },
      input_series: [
        series('portwatch_port_socket_info', info('established', 'false') { process: 'curl' }, '1x10'),
        series('portwatch_port_expected_owner_info', pg + learned, '1x10'),
        series('portwatch_port_socket_info', info('listen', 'false') { name: 'web', port: '80' }, '1x10'),
        series('portwatch_owners_resolvable', {}, '1x10'),
      ],
      alert_rule_test: [
        at('1m', 'PortwatchLearnedPortTaken', []),
        at('3m', 'PortwatchLearnedPortTaken', [fire('PortwatchLearnedPortTaken', h + pg { owner: learned.owner })]),
        at('3m', 'PortwatchPortHeldByOther', [fire('PortwatchPortHeldByOther', h + { name: 'web', port: '80', protocol: 'tcp' })]),
      ],
    },
    {
      name: 'baseline changes: an owner change warns for an hour, a new listener informs for 15m',
      interval: '1m',
      input_series: [
        series('portwatch_baseline_changes_total', { kind: 'owner_changed' }, '0x5 1x100'),
        series('portwatch_baseline_changes_total', { kind: 'appeared' }, '3x5 4x100'),
        series('portwatch_baseline_changes_total', { kind: 'learned' }, '0x5 9x100'),
      ],
      alert_rule_test: [
        at('4m', 'PortwatchLearnedOwnerChanged', []),
        at('4m', 'PortwatchNewListener', []),
        at('10m', 'PortwatchLearnedOwnerChanged', [fire('PortwatchLearnedOwnerChanged', h { kind: 'owner_changed' })]),
        at('10m', 'PortwatchNewListener', [fire('PortwatchNewListener', h { kind: 'appeared' })]),
        at('30m', 'PortwatchNewListener', []),
        at('90m', 'PortwatchLearnedOwnerChanged', []),
      ],
    },
    {
      name: 'a listening port split between different processes',
      interval: '1m',
      input_series: [series('portwatch_listener_distinct_owners', { protocol: 'tcp', port: '8080' }, '2x10')],
      alert_rule_test: [
        at('3m', 'PortwatchListenerSplit', []),
        at('7m', 'PortwatchListenerSplit', [fire('PortwatchListenerSplit', h { protocol: 'tcp', port: '8080' }) + { exp_annotations+: {
          summary: 'Listening port tcp/8080 on h1 is shared by 2 different processes',
          description: 'Sockets of 2 different processes listen on tcp/8080 on h1 (SO_REUSEPORT, or an inherited socket), so the kernel splits new connections between them. Find them with `ss -ltnp sport = :8080`; stop the one that should not be there.',
        } }]),
      ],
    },
    {
      name: 'baseline storage failing: a failed write or a bad file at start',
      interval: '1m',
      input_series: [
        series('portwatch_baseline_last_write_success', {}, '1x5 0x30'),
        series('portwatch_baseline_load_success', {}, '1x40'),
        series('portwatch_baseline_load_success', { instance: 'h2' }, '0x40'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchBaselineStorageFailing', []),
        at('17m', 'PortwatchBaselineStorageFailing', [fire('PortwatchBaselineStorageFailing', { job: 'portwatch', instance: 'h2' })]),
        at('25m', 'PortwatchBaselineStorageFailing', [
          fire('PortwatchBaselineStorageFailing', { job: 'portwatch', instance: 'h2' }),
          fire('PortwatchBaselineStorageFailing', h),
        ]),
      ],
    },
    {
      name: 'owners not resolvable silences owner alerts and raises its own',
      interval: '1m',
      input_series: [
        series('portwatch_port_socket_info', info('listen', 'false') { pid: '', process: '', user: '' }, '1x30'),
        series('portwatch_port_bound_by_expected', pg, '0x30'),
        series('portwatch_owners_resolvable', {}, '0x30'),
      ],
      alert_rule_test: [
        at('20m', 'PortwatchPortHeldByOther', []),
        at('20m', 'PortwatchExpectedOwnerMissing', []),
        at('20m', 'PortwatchOwnersNotResolvable', [fire('PortwatchOwnersNotResolvable', h)]),
      ],
    },
    {
      name: 'reboot risk is a warning, escalated to critical when a reboot is pending',
      interval: '1m',
      input_series: [
        series('portwatch_port_reboot_risk', pg, '1x40'),
        series('portwatch_reboot_required', {}, '0x19 1x20'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchPortRebootRisk', []),
        at('16m', 'PortwatchPortRebootRisk', [fire('PortwatchPortRebootRisk', h + pg)]),
        at('16m', 'PortwatchPortRebootRiskRebootPending', []),
        at('30m', 'PortwatchPortRebootRisk', []),
        at('30m', 'PortwatchPortRebootRiskRebootPending', [fire('PortwatchPortRebootRiskRebootPending', h + pg)]),
      ],
    },
    {
      // Thanos, Mimir or federation: one Prometheus sees hosts of several
      // clusters under the same job and instance. Neither may silence,
      // escalate or merge the other's alerts.
      name: 'two clusters with the same job and instance stay apart',
      interval: '1m',
      local a = { cluster: 'a' },
      local b = { cluster: 'b' },
      input_series: [
        series('portwatch_port_reboot_risk', pg + a, '1x40'),
        series('portwatch_reboot_required', a, '0x40'),
        series('portwatch_port_reboot_risk', pg + b, '1x40'),
        series('portwatch_reboot_required', b, '1x40'),
        series('portwatch_port_socket_info', info('listen', 'false') + a, '1x40'),
        series('portwatch_owners_resolvable', a, '1x40'),
        series('portwatch_port_socket_info', info('listen', 'false') + b, '1x40'),
        series('portwatch_owners_resolvable', b, '0x40'),
      ],
      alert_rule_test: [
        at('20m', 'PortwatchPortRebootRisk', [fire('PortwatchPortRebootRisk', h + pg + a)]),
        at('20m', 'PortwatchPortRebootRiskRebootPending', [fire('PortwatchPortRebootRiskRebootPending', h + pg + b)]),
        at('20m', 'PortwatchPortHeldByOther', [fire('PortwatchPortHeldByOther', h + pg + a)]),
      ],
    },
    {
      name: 'no reboot risk, no alert',
      interval: '1m',
      input_series: [series('portwatch_port_reboot_risk', pg, '0x30'), series('portwatch_reboot_required', {}, '1x30')],
      alert_rule_test: [at('20m', 'PortwatchPortRebootRisk', []), at('20m', 'PortwatchPortRebootRiskRebootPending', [])],
    },
    {
      name: 'watched port inside a system (WinNAT) exclusion',
      interval: '1m',
      input_series: [series('portwatch_port_reserved_by_system', pg, '1x10'), series('portwatch_port_reserved_by_system', pg { name: 'web', port: '80' }, '0x10')],
      alert_rule_test: [
        at('2m', 'PortwatchPortReservedBySystem', []),
        at('6m', 'PortwatchPortReservedBySystem', [fire('PortwatchPortReservedBySystem', h + pg)]),
      ],
    },
    {
      name: 'exclusion made now but not persisted',
      interval: '1m',
      input_series: [
        series('portwatch_port_excluded_from_dynamic_range', pg { store: 'active' }, '1x30'),
        series('portwatch_port_excluded_from_dynamic_range', pg { store: 'persistent' }, '0x20 1x10'),
        series('portwatch_port_in_dynamic_range', pg { store: 'persistent' }, '1x30'),
      ],
      alert_rule_test: [
        at('16m', 'PortwatchExclusionNotPersistent', [fire('PortwatchExclusionNotPersistent', h + pg { store: 'active' })]),
        at('25m', 'PortwatchExclusionNotPersistent', []),
      ],
    },
    {
      name: 'range drift: active differs from persistent',
      interval: '1m',
      input_series: [
        series('portwatch_dynamic_port_range_start', { protocol: 'tcp', family: 'ipv4', store: 'active' }, '1024x30'),
        series('portwatch_dynamic_port_range_start', { protocol: 'tcp', family: 'ipv4', store: 'persistent' }, '32768x30'),
        series('portwatch_dynamic_port_range_end', { protocol: 'tcp', family: 'ipv4', store: 'active' }, '65535x30'),
        series('portwatch_dynamic_port_range_end', { protocol: 'tcp', family: 'ipv4', store: 'persistent' }, '60999x30'),
        series('portwatch_dynamic_port_range_start', { protocol: 'udp', family: 'ipv4', store: 'active' }, '32768x30'),
        series('portwatch_dynamic_port_range_start', { protocol: 'udp', family: 'ipv4', store: 'persistent' }, '32768x30'),
        series('portwatch_dynamic_port_range_end', { protocol: 'udp', family: 'ipv4', store: 'active' }, '60999x30'),
        series('portwatch_dynamic_port_range_end', { protocol: 'udp', family: 'ipv4', store: 'persistent' }, '60999x30'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchDynamicRangeDrift', []),
        at('20m', 'PortwatchDynamicRangeDrift', [fire('PortwatchDynamicRangeDrift', h { protocol: 'tcp', family: 'ipv4' })]),
      ],
    },
    {
      name: 'dynamic ports nearly exhausted above the threshold only',
      interval: '1m',
      input_series: [
        series('portwatch_dynamic_ports_in_use', { protocol: 'tcp', family: 'ipv4' }, '900x30'),
        series('portwatch_dynamic_ports_available', { protocol: 'tcp', family: 'ipv4' }, '1000x30'),
        series('portwatch_dynamic_ports_in_use', { protocol: 'udp', family: 'ipv4' }, '100x30'),
        series('portwatch_dynamic_ports_available', { protocol: 'udp', family: 'ipv4' }, '1000x30'),
      ],
      alert_rule_test: [
        at('5m', 'PortwatchDynamicPortsNearlyExhausted', []),
        at('15m', 'PortwatchDynamicPortsNearlyExhausted', [fire('PortwatchDynamicPortsNearlyExhausted', h { protocol: 'tcp', family: 'ipv4' }, '90%')]),
      ],
    },
    {
      name: 'one destination near exhaustion: in use + TIME_WAIT against the ports available, per family, after 10m',
      interval: '1m',
      local dst(addr, port, family='ipv4') = { protocol: 'tcp', family: family, destination_address: addr, destination_port: port },
      input_series: [
        // 600 open + 250 in TIME_WAIT of 1000: 85%, from the 3rd minute on.
        series('portwatch_ephemeral_destination_ports_in_use', dst('10.0.0.5', '443'), '100 100 600x30'),
        series('portwatch_ephemeral_destination_ports_time_wait', dst('10.0.0.5', '443'), '0 0 250x30'),
        // 790 in use alone stays under 80%.
        series('portwatch_ephemeral_destination_ports_in_use', dst('10.0.0.6', '5432'), '790x32'),
        series('portwatch_ephemeral_destination_ports_time_wait', dst('10.0.0.6', '5432'), '0x32'),
        // An IPv6 destination is measured against the IPv6 range: 900 of 2000.
        series('portwatch_ephemeral_destination_ports_in_use', dst('fd00::1', '443', 'ipv6'), '900x32'),
        series('portwatch_ephemeral_destination_ports_time_wait', dst('fd00::1', '443', 'ipv6'), '0x32'),
        series('portwatch_dynamic_ports_available', { protocol: 'tcp', family: 'ipv4' }, '1000x32'),
        series('portwatch_dynamic_ports_available', { protocol: 'tcp', family: 'ipv6' }, '2000x32'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchDestinationPortsNearlyExhausted', []),
        at('13m', 'PortwatchDestinationPortsNearlyExhausted', [fire('PortwatchDestinationPortsNearlyExhausted', h + dst('10.0.0.5', '443'), '85%')]),
      ],
    },
    {
      name: 'expected owner missing: free port, then back',
      interval: '1m',
      input_series: [series('portwatch_port_bound_by_expected', pg, '0x10 1x10'), series('portwatch_owners_resolvable', {}, '1x20')],
      alert_rule_test: [
        at('6m', 'PortwatchExpectedOwnerMissing', [fire('PortwatchExpectedOwnerMissing', h + pg)]),
        at('15m', 'PortwatchExpectedOwnerMissing', []),
      ],
    },
    {
      name: 'collector failing for a while',
      interval: '1m',
      input_series: [
        series('portwatch_scrape_collector_success', { collector: 'sysctld' }, '0x20'),
        series('portwatch_scrape_collector_success', { collector: 'sockets' }, '1x20'),
      ],
      alert_rule_test: [
        at('5m', 'PortwatchCollectorFailing', []),
        at('12m', 'PortwatchCollectorFailing', [fire('PortwatchCollectorFailing', h { collector: 'sysctld' })]),
      ],
    },
    {
      name: 'a verdict that cannot be given pages after 15m; a known one never',
      interval: '1m',
      input_series: [
        series('portwatch_port_verdict_unknown', pg { verdict: 'next_boot', reason: 'a sysctl file could not be read' }, '1x20'),
        series('portwatch_port_reboot_risk', { name: 'web', port: '80', protocol: 'tcp' }, '0x20'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchVerdictUnknown', []),
        at('17m', 'PortwatchVerdictUnknown', [fire('PortwatchVerdictUnknown', h + pg { verdict: 'next_boot', reason: 'a sysctl file could not be read' })]),
      ],
    },
    {
      name: 'a port sysctl the kernel will refuse at boot names the file and line',
      interval: '1m',
      local rej = { key: 'net.ipv4.ip_local_reserved_ports', file: '/etc/sysctl.d/60-ports.conf', line: '1', value: '40000, 40001', reason: "unexpected ',' after a number", in_force: '(none)' },
      input_series: [series('portwatch_next_boot_rejected_info', rej, '1x10')],
      alert_rule_test: [
        at('3m', 'PortwatchSysctlRejectedAtBoot', []),
        at('7m', 'PortwatchSysctlRejectedAtBoot', [fire('PortwatchSysctlRejectedAtBoot', h + rej)]),
      ],
    },
    {
      name: 'a watched range at risk after the next boot warns after 15m; one safe at boot or only at risk now never',
      interval: '1m',
      local np = { name: 'nodeports', protocol: 'tcp' },
      input_series: [
        series('portwatch_watched_range_ports_at_risk', np { store: 'persistent' }, '2668x20'),
        series('portwatch_watched_range_ports_at_risk', np { name: 'rtp', store: 'persistent' }, '0x20'),
        series('portwatch_watched_range_ports_at_risk', np { name: 'rtp', store: 'active' }, '500x20'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchRangeRebootRisk', []),
        at('17m', 'PortwatchRangeRebootRisk', [fire('PortwatchRangeRebootRisk', h + np { store: 'persistent' })]),
      ],
    },
    {
      name: 'a range port held by another process fires after 2m; TIME_WAIT leftovers and hidden owners never',
      interval: '1m',
      local np = { name: 'nodeports', protocol: 'tcp' },
      local off(port, state, pid, process) = np { port: port, state: state, pid: pid, process: process },
      input_series: [
        series('portwatch_watched_range_offender_info', off('30080', 'established', '77', 'curl'), '1x10'),
        series('portwatch_watched_range_offender_info', off('30081', 'listen', '78', 'nc'), '1x10'),
        series('portwatch_watched_range_offender_info', off('30000', 'time_wait', '', '') { name: 'rtp' }, '1x10'),
        series('portwatch_owners_resolvable', {}, '1x10'),
      ],
      alert_rule_test: [
        at('1m', 'PortwatchRangeHeldByOther', []),
        at('3m', 'PortwatchRangeHeldByOther', [fire('PortwatchRangeHeldByOther', h + np)]),
      ],
    },
    {
      name: 'range offenders are silenced while owners cannot be seen',
      interval: '1m',
      input_series: [
        series('portwatch_watched_range_offender_info', { name: 'nodeports', protocol: 'tcp', port: '30080', state: 'listen', pid: '', process: '' }, '1x10'),
        series('portwatch_owners_resolvable', {}, '0x10'),
      ],
      alert_rule_test: [at('5m', 'PortwatchRangeHeldByOther', [])],
    },
    {
      name: 'exporter down, then absent',
      interval: '1m',
      input_series: [series('up', {}, '1 0x10')],
      alert_rule_test: [
        at('3m', 'PortwatchExporterDown', []),
        at('7m', 'PortwatchExporterDown', [fire('PortwatchExporterDown', h)]),
        at('7m', 'PortwatchExporterAbsent', []),
      ],
    },
    {
      name: 'no target at all',
      interval: '1m',
      input_series: [{ series: 'up{job="other",instance="x"}', values: '1x10' }],
      alert_rule_test: [at('7m', 'PortwatchExporterAbsent', [fire('PortwatchExporterAbsent', { job: 'portwatch' })])],
    },
    {
      name: 'a pod port in its namespace dynamic range fires after 15m; a namespace without one does not',
      interval: '1m',
      input_series: [
        series('portwatch_netns_listeners_in_dynamic_range', { netns: '4026532400' }, '2x30'),
        series('portwatch_netns_listeners_in_dynamic_range', { netns: '4026532401' }, '0x30'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchPodPortInDynamicRange', []),
        at('20m', 'PortwatchPodPortInDynamicRange', [fire('PortwatchPodPortInDynamicRange', h { netns: '4026532400' })]),
      ],
    },
    {
      name: 'a pod port held by another owner fires after 2m with the pod UID; the expected holder, TIME_WAIT and hidden owners do not',
      interval: '1m',
      local pod = { netns: '4026532500', name: 'app', port: '8080', protocol: 'tcp' },
      input_series: [
        series('portwatch_netns_port_socket_info', pod { family: 'ipv4', address: '127.0.0.1', state: 'close_wait', pid: '4242', process: 'sidecar', user: 'root', expected: 'false', container_runtime: 'containerd', container_id: 'abc', pod_uid: 'u-1' }, '1x10'),
        series('portwatch_netns_port_socket_info', pod { netns: '4026532501', family: 'ipv4', address: '0.0.0.0', state: 'listen', pid: '7', process: 'app', user: 'root', expected: 'true' }, '1x10'),
        series('portwatch_netns_port_socket_info', pod { netns: '4026532502', family: 'ipv4', address: '127.0.0.1', state: 'time_wait', pid: '', process: '', user: '', expected: 'false' }, '1x10'),
        series('portwatch_owners_resolvable', {}, '1x10'),
        // Owners not looked at (read late, or the owners collector off): unknown, never "other".
        series('portwatch_netns_port_socket_info', pod { netns: '4026532503', family: 'ipv4', address: '0.0.0.0', state: 'listen', pid: '', process: '', user: '', expected: 'false' }, '1x10'),
        series('portwatch_netns_port_verdict_unknown', pod { netns: '4026532503', verdict: 'owners', reason: 'the owners collector is disabled' }, '1x10'),
      ],
      alert_rule_test: [
        at('1m', 'PortwatchPodPortHeldByOther', []),
        at('4m', 'PortwatchPodPortHeldByOther', [fire('PortwatchPodPortHeldByOther', h { netns: '4026532500', name: 'app', port: '8080', protocol: 'tcp', pod_uid: 'u-1' })]),
      ],
    },
    {
      name: 'namespaces the exporter cannot enter fire after 15m with their count; vanished ones never do',
      interval: '1m',
      input_series: [
        series('portwatch_netns_read_failure_info', { netns: '4026532600', reason: 'permission_denied' }, '1x30'),
        series('portwatch_netns_read_failure_info', { netns: '4026532601', reason: 'permission_denied' }, '1x30'),
        series('portwatch_netns_read_failure_info', { netns: '4026532602', reason: 'vanished' }, '1x30'),
        series('portwatch_netns_read_failure_info', h { instance: 'h2', netns: '4026532603', reason: 'vanished' }, '1x30'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchNetnsUnreadable', []),
        at('20m', 'PortwatchNetnsUnreadable', [fire('PortwatchNetnsUnreadable', h)]),
      ],
    },
    {
      name: 'the NodePort range at risk warns after 15m, per protocol and store; reserved ranges never',
      interval: '1m',
      input_series: [
        series('portwatch_nodeport_range_ports_at_risk', { protocol: 'tcp', store: 'persistent' }, '2768x20'),
        series('portwatch_nodeport_range_ports_at_risk', { protocol: 'udp', store: 'persistent' }, '2768x20'),
        series('portwatch_nodeport_range_ports_at_risk', { protocol: 'tcp', store: 'active' }, '0x20'),
        series('portwatch_nodeport_range_ports_at_risk', { protocol: 'udp', store: 'active' }, '0x20'),
        series('portwatch_nodeport_range_ports_at_risk', { instance: 'h2', protocol: 'tcp', store: 'active' }, '0x5 12x15'),
        series('portwatch_nodeport_range_ports_at_risk', { instance: 'h2', protocol: 'tcp', store: 'persistent' }, '0x20'),
      ],
      alert_rule_test: [
        at('10m', 'PortwatchNodePortRangeInDynamicRange', []),
        at('17m', 'PortwatchNodePortRangeInDynamicRange', [
          fire('PortwatchNodePortRangeInDynamicRange', h { protocol: 'tcp', store: 'persistent' }),
          fire('PortwatchNodePortRangeInDynamicRange', h { protocol: 'udp', store: 'persistent' }),
        ]),
        at('21m', 'PortwatchNodePortRangeInDynamicRange', [
          fire('PortwatchNodePortRangeInDynamicRange', h { protocol: 'tcp', store: 'persistent' }),
          fire('PortwatchNodePortRangeInDynamicRange', h { protocol: 'udp', store: 'persistent' }),
          fire('PortwatchNodePortRangeInDynamicRange', h { instance: 'h2', protocol: 'tcp', store: 'active' }),
        ]),
      ],
    },
    {
      name: 'holders in pods are named from kube_pod_info; host holders and other pods are not',
      interval: '1m',
      local uid = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
      local inPod = info('listen', 'false') { container_runtime: 'containerd', container_id: 'abc', pod_uid: uid },
      input_series: [
        series('portwatch_port_socket_info', inPod, '3x5'),
        series('portwatch_port_socket_info', info('listen', 'true') { name: 'ssh', port: '22' }, '1x5'),
        // The exporter's own pod's target labels must not clash with the pod's.
        { series: 'kube_pod_info{job="kube-state-metrics",instance="ksm:8080",namespace="shop",pod="cart-7d9",uid="%s",node="n1"}' % uid, values: '1x5' },
        { series: 'kube_pod_info{job="kube-state-metrics",instance="ksm:8080",namespace="shop",pod="other",uid="ffffffff-0000-0000-0000-000000000000",node="n1"}', values: '1x5' },
      ],
      promql_expr_test: [
        {
          expr: 'pod:portwatch_port_socket_info:kube_pod_info',
          eval_time: '2m',
          exp_samples: [{ labels: sel('pod:portwatch_port_socket_info:kube_pod_info', inPod { pod_namespace: 'shop', pod_name: 'cart-7d9' }), value: 3 }],
        },
      ],
    },
  ],
}
