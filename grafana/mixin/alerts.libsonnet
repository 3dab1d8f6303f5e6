// Prometheus alert rules. Every expression is unit-tested in tests/rules/.
// The fixes come from src/remedy.rs (tests/remedy_sources.rs keeps this file in step).
local remedies = import 'remedies.json';
local checkHint = '`portwatch_exporter check` on the host prints the exact line.';

{
  local c = $._config,
  local sel = c.portwatchSelector,
  // The labels that name one exporter: cluster (absent in a single cluster, and
  // harmless then), job, instance. Every `by`/`on` keeps them all.
  local host = '%s, job, instance' % c.clusterLabel,
  local runbook(name) = c.runbookBase + '#' + std.asciiLower(name),
  local alert(name, severity, expr, forDuration, summary, description) = {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity },
    annotations: { summary: summary, description: description, runbook_url: runbook(name) },
  },
  // Owner-based alerts are meaningless when the exporter cannot see owners.
  local ownersVisible = 'unless on (%s) portwatch_owners_resolvable{%s} == 0' % [host, sel],

  prometheusAlerts+:: {
    groups+: [{
      name: 'portwatch',
      rules: [
        alert(
          'PortwatchPortHeldByOther', 'critical',
          |||
            max by (%s, name, port, protocol) (portwatch_port_socket_info{%s, expected="false", state!="time_wait"})
            unless on (%s, name, port, protocol) portwatch_port_expected_owner_info{%s, source="baseline"}
            unless on (%s, name, port, protocol) portwatch_port_verdict_unknown{%s, verdict="owners"}
            %s
          ||| % [host, sel, host, sel, host, sel, ownersVisible],
          c.heldByOtherFor,
          'Port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) on {{ $labels.instance }} is held by another owner',
          'A socket on watched port {{ $labels.port }} belongs to a process other than the expected one, so the service cannot bind it. Find the holder in portwatch_port_socket_info (pid, process, user, state), then stop it or move it. If it is a client socket whose source port is {{ $labels.port }}, the port is in the dynamic range: %s. Then restart the client. %s' % [remedies.exclude, checkHint],
        ),
        alert(
          'PortwatchLearnedPortTaken', 'critical',
          |||
            max by (%s, name, port, protocol) (portwatch_port_socket_info{%s, expected="false", state!="time_wait"})
            * on (%s, name, port, protocol) group_left (owner) portwatch_port_expected_owner_info{%s, source="baseline"}
            %s
          ||| % [host, sel, host, sel, ownersVisible],
          c.heldByOtherFor,
          'Port {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }}, learned as {{ $labels.owner }}\'s, is held by another owner',
          'The exporter learned that {{ $labels.owner }} holds {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }}, and now another process holds it: after a reboot, typically a client handed the port as its ephemeral source port before the service started, so the service cannot bind it. Find the holder in portwatch_port_socket_info (pid, process, state). If it is a client socket, the port is in the dynamic range: %s. Then restart the client and the service. If the new owner is legitimate, run `portwatch_exporter baseline accept` on the host. %s' % [remedies.exclude, checkHint],
        ),
        alert(
          'PortwatchPortRebootRisk', 'warning',
          |||
            portwatch_port_reboot_risk{%s} == 1
            unless on (%s) portwatch_reboot_required{%s} == 1
          ||| % [sel, host, sel],
          c.rebootRiskFor,
          'Port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) on {{ $labels.instance }} can be taken by a client after the next reboot',
          'After the next boot the port lies inside the dynamic (ephemeral) range and is not excluded, so a client starting before the service can be handed it. Exclude it persistently: %s. %s' % [remedies.exclude, checkHint],
        ),
        alert(
          'PortwatchPortRebootRiskRebootPending', 'critical',
          |||
            portwatch_port_reboot_risk{%s} == 1
            and on (%s) portwatch_reboot_required{%s} == 1
          ||| % [sel, host, sel],
          c.rebootPendingRiskFor,
          'Reboot pending on {{ $labels.instance }} and port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) is not excluded from the dynamic range',
          'A reboot is pending and after it the port can be handed to a client before the service starts. Fix it before the maintenance window: %s. %s' % [remedies.exclude, checkHint],
        ),
        alert(
          'PortwatchPortReservedBySystem', 'critical',
          'portwatch_port_reserved_by_system{%s} == 1' % sel,
          c.reservedBySystemFor,
          'Port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) on {{ $labels.instance }} is inside a system port exclusion',
          'Windows reserved a block of ports containing {{ $labels.port }} (WinNAT/Hyper-V/WSL/Docker, not an administrator), so binding it fails with "access forbidden" (WSAEACCES, 10013). %s' % remedies.winnat,
        ),
        alert(
          'PortwatchExclusionNotPersistent', 'warning',
          |||
            portwatch_port_excluded_from_dynamic_range{%s, store="active"} == 1
            and ignoring (store) portwatch_port_excluded_from_dynamic_range{%s, store="persistent"} == 0
            and ignoring (store) portwatch_port_in_dynamic_range{%s, store="persistent"} == 1
          ||| % [sel, sel, sel],
          c.exclusionNotPersistentFor,
          'Exclusion of port {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }} will not survive a reboot',
          'The port is excluded from the dynamic range now (sysctl -w or netsh without store=persistent) but the next boot will not exclude it. Persist it: %s.' % remedies.persist,
        ),
        alert(
          'PortwatchDynamicRangeDrift', 'warning',
          |||
            (
              portwatch_dynamic_port_range_start{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_start{%s, store="persistent"}
            ) or (
              portwatch_dynamic_port_range_end{%s, store="active"} != ignoring (store) portwatch_dynamic_port_range_end{%s, store="persistent"}
            )
          ||| % [sel, sel, sel, sel],
          c.rangeDriftFor,
          'Dynamic port range on {{ $labels.instance }} ({{ $labels.protocol }}/{{ $labels.family }}) will change at the next boot',
          'On {{ $labels.instance }} the active dynamic range for {{ $labels.protocol }}/{{ $labels.family }} differs from what the next boot applies (see portwatch_dynamic_port_range_start/end by store). Ports safe today may be inside the range after the reboot. Make them agree: %s.' % remedies.rangeDrift,
        ),
        alert(
          'PortwatchDynamicPortsNearlyExhausted', 'warning',
          |||
            portwatch_dynamic_ports_in_use{%s} / portwatch_dynamic_ports_available{%s} > %g
          ||| % [sel, sel, c.dynamicPortsUsedThreshold],
          c.exhaustionFor,
          'Dynamic ports on {{ $labels.instance }} ({{ $labels.protocol }}/{{ $labels.family }}) are {{ $value | humanizePercentage }} used',
          'On {{ $labels.instance }}, sockets on {{ $labels.protocol }}/{{ $labels.family }} ports of the dynamic range are close to the number of ports available in it; new outgoing connections will fail with EADDRNOTAVAIL (Linux) or WSAENOBUFS (Windows). Find the processes with many connections (ss -tanp), or widen the range.',
        ),
        alert(
          'PortwatchDestinationPortsNearlyExhausted', 'warning',
          |||
            (
              portwatch_ephemeral_destination_ports_in_use{%s} + portwatch_ephemeral_destination_ports_time_wait{%s}
            )
            / on (%s, protocol, family) group_left
            portwatch_dynamic_ports_available{%s}
            > %g
          ||| % [sel, sel, host, sel, c.destinationPortsUsedThreshold],
          c.destinationExhaustionFor,
          'Ephemeral ports to {{ $labels.destination_address }}:{{ $labels.destination_port }} from {{ $labels.instance }} are {{ $value | humanizePercentage }} used',
          'Linux picks an ephemeral port per destination: {{ $labels.instance }} holds so many {{ $labels.protocol }} sockets (open and in TIME_WAIT) to {{ $labels.destination_address }}:{{ $labels.destination_port }} that few ports of the dynamic range are left for it, and new connections to it will fail with EADDRNOTAVAIL ("Cannot assign requested address") while other destinations still work. Reuse connections (keep-alive, a pool), spread them over more destination addresses or ports, widen the dynamic range, or let TIME_WAIT ports be reused (net.ipv4.tcp_tw_reuse=1).',
        ),
        alert(
          'PortwatchExpectedOwnerMissing', 'warning',
          |||
            portwatch_port_bound_by_expected{%s} == 0
            %s
          ||| % [sel, ownersVisible],
          c.expectedMissingFor,
          'Expected owner of port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) on {{ $labels.instance }} is missing',
          'No socket on {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }} belongs to the expected process of {{ $labels.name }}: the service is down, or another process holds the port (see PortwatchPortHeldByOther and portwatch_port_socket_info). Start the service; if it fails with "address already in use", free the port first.',
        ),
        alert(
          'PortwatchLearnedOwnerChanged', 'warning',
          'increase(portwatch_baseline_changes_total{%s, kind="owner_changed"}[1h]) > 0' % sel,
          '0m',
          'A learned port on {{ $labels.instance }} has a new owner',
          'On {{ $labels.instance }} a process other than the learned owner has held a learned port for --baseline.learn-after, so it became the expected owner. Which port, and the owners before and after, are in portwatch_baseline_change_timestamp_seconds{kind="owner_changed"}. Expected after an upgrade that renamed the service; otherwise find out who started it.',
        ),
        alert(
          'PortwatchNewListener', 'info',
          'increase(portwatch_baseline_changes_total{%s, kind="appeared"}[15m]) > 0' % sel,
          '0m',
          'A new listening port appeared on {{ $labels.instance }}',
          'A port that was not in the learned baseline of {{ $labels.instance }} is now held by a listener (TCP) or a bound socket (UDP). Which port and which process are in portwatch_baseline_change_timestamp_seconds{kind="appeared"}. On the first start of the exporter every listener is new.',
        ),
        alert(
          'PortwatchListenerSplit', 'warning',
          'portwatch_listener_distinct_owners{%s} >= 2' % sel,
          c.listenerSplitFor,
          'Listening port {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }} is shared by {{ $value }} different processes',
          'Sockets of {{ $value }} different processes listen on {{ $labels.protocol }}/{{ $labels.port }} on {{ $labels.instance }} (SO_REUSEPORT, or an inherited socket), so the kernel splits new connections between them. Find them with `ss -ltnp sport = :{{ $labels.port }}`; stop the one that should not be there.',
        ),
        alert(
          'PortwatchBaselineStorageFailing', 'warning',
          |||
            portwatch_baseline_last_write_success{%s} == 0
            or portwatch_baseline_load_success{%s} == 0
          ||| % [sel, sel],
          c.baselineStorageFor,
          'portwatch on {{ $labels.instance }} cannot keep its learned baseline',
          'The exporter on {{ $labels.instance }} could not write its learned baseline (portwatch_baseline_last_write_success 0: read-only or full disk, wrong --storage.path or permissions), or found it unreadable, corrupt or from a newer version at start (portwatch_baseline_load_success 0; the file was set aside as baseline.json.bad-TIME and learning started over). Until it is fixed, what was learned does not survive a restart, so the outage after a reboot goes unnoticed. The exporter logs say which.',
        ),
        alert(
          'PortwatchRangeRebootRisk', 'warning',
          'portwatch_watched_range_ports_at_risk{%s, store="persistent"} > 0' % sel,
          c.rebootRiskFor,
          'Ports of watched range {{ $labels.name }} ({{ $labels.protocol }}) on {{ $labels.instance }} can be taken by a client after the next reboot',
          'After the next boot some ports of the watched range {{ $labels.name }} ({{ $labels.protocol }}) on {{ $labels.instance }} lie inside the dynamic (ephemeral) range and are not excluded, so a client starting before the service can be handed one (the count is the value; START and END are portwatch_watched_range_first_port and last_port). Reserve the whole range: %s. %s' % [remedies.rangeExclude, checkHint],
        ),
        alert(
          'PortwatchRangeHeldByOther', 'warning',
          |||
            max by (%s, name, protocol) (portwatch_watched_range_offender_info{%s, state!="time_wait"})
            %s
          ||| % [host, sel, ownersVisible],
          c.heldByOtherFor,
          'A port of watched range {{ $labels.name }} ({{ $labels.protocol }}) on {{ $labels.instance }} is held by another owner',
          'A socket on a port of the watched range {{ $labels.name }} ({{ $labels.protocol }}) on {{ $labels.instance }} belongs to a process other than the expected one. portwatch_watched_range_offender_info names the first (port, pid, process, state) and portwatch_watched_range_ports_bound_by_other counts the ports. Stop or move a listener; a client whose source port lies in the range means the range is in the dynamic range: %s, then restart the client. %s' % [remedies.rangeExclude, checkHint],
        ),
        alert(
          'PortwatchPodPortInDynamicRange', 'warning',
          'portwatch_netns_listeners_in_dynamic_range{%s} > 0' % sel,
          c.podPortInRangeFor,
          'A port listened on in network namespace {{ $labels.netns }} on {{ $labels.instance }} lies in its own dynamic range',
          'In network namespace {{ $labels.netns }} on {{ $labels.instance }} (a pod or container: portwatch_netns_info names it), a server listens on a port inside the namespace\'s own ip_local_port_range that is not reserved there (portwatch_netns_listener_in_dynamic_range_info lists them). A new namespace starts with the kernel\'s range and no reserved ports, whatever the host\'s sysctl.d says, so when the server restarts an outgoing connection of a sidecar can hold its port. Reserve the port in the pod: securityContext.sysctls net.ipv4.ip_local_reserved_ports (a safe sysctl since Kubernetes 1.27), or move the port below the range.',
        ),
        alert(
          'PortwatchPodPortHeldByOther', 'critical',
          |||
            max by (%s, netns, name, port, protocol, pod_uid) (portwatch_netns_port_socket_info{%s, expected="false", state!="time_wait"})
            unless on (%s, netns, name, port, protocol) portwatch_netns_port_verdict_unknown{%s, verdict="owners"}
            %s
          ||| % [host, sel, host, sel, ownersVisible],
          c.heldByOtherFor,
          'Port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) in network namespace {{ $labels.netns }} on {{ $labels.instance }} is held by another owner',
          'Inside network namespace {{ $labels.netns }} on {{ $labels.instance }} (pod UID {{ $labels.pod_uid }}; portwatch_netns_info names its container), a socket on watched port {{ $labels.port }} belongs to a process other than the expected one, so the pod\'s own server cannot bind it. portwatch_netns_port_socket_info names the holder (pid, process, state). When it is a sidecar\'s outgoing connection whose source port is {{ $labels.port }}, the port lies in the namespace\'s own dynamic range: reserve it in the pod (securityContext.sysctls net.ipv4.ip_local_reserved_ports), then restart the pod.',
        ),
      ],
    }, {
      // The exporter's own health: what it cannot see, cannot read, or cannot keep.
      name: 'portwatch-exporter',
      rules: [
        alert(
          'PortwatchCollectorFailing', 'warning',
          'portwatch_scrape_collector_success{%s} == 0' % sel,
          c.collectorFailingFor,
          'portwatch collector {{ $labels.collector }} fails on {{ $labels.instance }}',
          'The {{ $labels.collector }} collector on {{ $labels.instance }} has failed for a while, so its metrics are missing or stale. The exporter logs say why (run it with --log.level=debug): unreadable /proc, garbage in sysctl.d (file and line are logged), or sock_diag unavailable.',
        ),
        alert(
          'PortwatchVerdictUnknown', 'warning',
          'portwatch_port_verdict_unknown{%s} == 1' % sel,
          c.verdictUnknownFor,
          'portwatch cannot tell {{ $labels.verdict }} for port {{ $labels.protocol }}/{{ $labels.port }} ({{ $labels.name }}) on {{ $labels.instance }}',
          'The exporter cannot give this verdict ({{ $labels.reason }}), so its series are absent rather than a misleading 0 and the alerts that read them stay silent. Until it is fixed, nothing says the port is safe. %s' % checkHint,
        ),
        alert(
          'PortwatchSysctlRejectedAtBoot', 'warning',
          'portwatch_next_boot_rejected_info{%s} == 1' % sel,
          c.rejectedAtBootFor,
          'Your {{ $labels.key }} in {{ $labels.file }} line {{ $labels.line }} on {{ $labels.instance }} will be rejected at boot',
          'The kernel will refuse {{ $labels.key }} = "{{ $labels.value }}" from {{ $labels.file }} line {{ $labels.line }} at the next boot ({{ $labels.reason }}), so {{ $labels.in_force }} stays in force instead. %s %s' % [remedies.sysctlSyntax, checkHint],
        ),
        alert(
          'PortwatchOwnersNotResolvable', 'warning',
          'portwatch_owners_resolvable{%s} == 0' % sel,
          c.ownersUnresolvableFor,
          'portwatch on {{ $labels.instance }} cannot map sockets to processes',
          'The exporter on {{ $labels.instance }} lacks the rights to read other processes\' file descriptors, so owner-based alerts are silenced on this host: %s. The shipped systemd unit, DaemonSet and Windows service do.' % remedies.rights,
        ),
        alert(
          'PortwatchNetnsUnreadable', 'warning',
          'count by (%s) (portwatch_netns_read_failure_info{%s, reason!="vanished"}) > 0' % [host, sel],
          c.netnsUnreadableFor,
          'portwatch on {{ $labels.instance }} cannot read some network namespaces',
          'The netns collector on {{ $labels.instance }} could not enter or read other network namespaces (the alert\'s value counts them; portwatch_netns_read_failure_info gives each one\'s reason), so their ports, ranges and pods go unwatched. permission_denied: the exporter needs CAP_SYS_ADMIN for setns(2) and ptrace access to the namespace\'s processes (the DaemonSet grants both, with hostPID). A namespace that vanished is pod churn and never counts here.',
        ),
        alert(
          'PortwatchNodePortRangeInDynamicRange', 'warning',
          'max by (%s, protocol, store) (portwatch_nodeport_range_ports_at_risk{%s}) > 0' % [host, sel],
          c.rebootRiskFor,
          'The Kubernetes NodePort range on {{ $labels.instance }} overlaps the dynamic port range ({{ $labels.protocol }}, store {{ $labels.store }})',
          'Ports of the NodePort range (portwatch_nodeport_range_first_port to last_port, from --collector.nodeport.range) on {{ $labels.instance }} lie inside the dynamic (ephemeral) port range and are not reserved (store {{ $labels.store }}: active is now, persistent is after the next boot), so the kernel can hand one to an outgoing connection as its source port, and a NodePort service on that port then collides with it. Reserve the whole range: %s. For now: %s. %s' % [remedies.rangeExclude, remedies.nodeportNow, checkHint],
        ),
        alert(
          'PortwatchExporterDown', 'critical',
          'up{%s} == 0' % sel,
          c.exporterDownFor,
          'portwatch exporter on {{ $labels.instance }} is down',
          'Prometheus cannot scrape the exporter at {{ $labels.instance }} (job {{ $labels.job }}), so port conflicts on this host go unnoticed. Check the service (systemctl status portwatch_exporter) and its logs.',
        ),
        alert(
          'PortwatchExporterAbsent', 'critical',
          'absent(up{%s})' % sel,
          c.exporterDownFor,
          'No portwatch exporter is scraped at all',
          'Prometheus has no target matching %s: the scrape config or service discovery lost the exporters.' % sel,
        ),
      ],
    }],
  },
}
