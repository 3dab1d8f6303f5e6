//! The only place metric names, help texts and labels live: Report -> the
//! OpenMetrics or the text 0.0.4 exposition, through the official
//! `prometheus-client`, whose two encoders name counters as client_golang
//! does: OpenMetrics `# TYPE x counter` over `x_total` samples, the text
//! format `x_total` throughout.

use crate::assess::{PortReport, RangeCounts, RangeReport, Report, Verdict};
use crate::model::{collector_ok, CollectorName, Family, Protocol, SelfStats, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeExemplarValue, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic text format (0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// Picks the format from an `Accept` header as client_golang does: the
/// accepted types by descending quality, the first that is `text/plain`
/// (version 0.0.4 or none) or `application/openmetrics-text` (1.0.0, 0.0.1
/// or none) wins; anything else, or no header, gets the text format.
pub fn negotiate(accept: Option<&str>) -> Format {
    let mut types: Vec<(f64, usize, Option<Format>)> = Vec::new();
    for (i, item) in accept.unwrap_or("").split(',').enumerate() {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version) = (1.0, None);
        for p in parts {
            match p.split_once('=').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'))) {
                Some((k, v)) if k == "q" => q = v.parse::<f64>().ok().filter(|q| q.is_finite()).unwrap_or(0.0),
                Some((k, v)) if k == "version" => version = Some(v.to_string()),
                _ => {}
            }
        }
        let format = match (media.as_str(), version.as_deref()) {
            ("text/plain", None | Some("0.0.4")) => Some(Format::Text),
            ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => Some(Format::OpenMetrics),
            _ => None,
        };
        if q > 0.0 {
            types.push((q, i, format));
        }
    }
    types.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    types.into_iter().find_map(|(_, _, f)| f).unwrap_or(Format::Text)
}

pub const PORT_BOUND: &str = "portwatch_port_bound";
pub const PORT_BOUND_BY_EXPECTED: &str = "portwatch_port_bound_by_expected";
pub const PORT_BOUND_BY_OTHER: &str = "portwatch_port_bound_by_other";
pub const PORT_SOCKETS: &str = "portwatch_port_sockets";
pub const PORT_SOCKET_INFO: &str = "portwatch_port_socket_info";
pub const PORT_SOCKET_INFO_OMITTED: &str = "portwatch_port_socket_info_omitted";
pub const PORT_IN_DYNAMIC_RANGE: &str = "portwatch_port_in_dynamic_range";
pub const PORT_EXCLUDED: &str = "portwatch_port_excluded_from_dynamic_range";
pub const PORT_REBOOT_RISK: &str = "portwatch_port_reboot_risk";
pub const PORT_RESERVED_BY_SYSTEM: &str = "portwatch_port_reserved_by_system";
pub const RANGE_START: &str = "portwatch_dynamic_port_range_start";
pub const RANGE_END: &str = "portwatch_dynamic_port_range_end";
pub const DYNAMIC_IN_USE: &str = "portwatch_dynamic_ports_in_use";
pub const DYNAMIC_AVAILABLE: &str = "portwatch_dynamic_ports_available";
pub const DESTINATION_IN_USE: &str = "portwatch_ephemeral_destination_ports_in_use";
pub const DESTINATION_TIME_WAIT: &str = "portwatch_ephemeral_destination_ports_time_wait";
pub const DESTINATIONS: &str = "portwatch_ephemeral_destinations";
pub const DESTINATIONS_UNTRACKED: &str = "portwatch_ephemeral_destinations_untracked_sockets";
pub const OWNERS_RESOLVABLE: &str = "portwatch_owners_resolvable";
pub const REBOOT_REQUIRED: &str = "portwatch_reboot_required";
pub const COLLECTOR_SUCCESS: &str = "portwatch_scrape_collector_success";
pub const COLLECTOR_DURATION: &str = "portwatch_scrape_collector_duration_seconds";
pub const BUILD_INFO: &str = "portwatch_build_info";
pub const RELOAD_OK: &str = "portwatch_config_last_reload_successful";
pub const RELOAD_TS: &str = "portwatch_config_last_reload_success_timestamp_seconds";
pub const PORT_VERDICT_UNKNOWN: &str = "portwatch_port_verdict_unknown";
pub const NEXT_BOOT_INFO: &str = "portwatch_next_boot_info";
pub const NEXT_BOOT_REJECTED: &str = "portwatch_next_boot_rejected_info";
pub const NEXT_BOOT_UNPRIVILEGED_START: &str = "portwatch_next_boot_unprivileged_port_start";
pub const WATCHED_RANGE_FIRST_PORT: &str = "portwatch_watched_range_first_port";
pub const WATCHED_RANGE_LAST_PORT: &str = "portwatch_watched_range_last_port";
pub const WATCHED_RANGE_IN_DYNAMIC: &str = "portwatch_watched_range_ports_in_dynamic_range";
pub const WATCHED_RANGE_EXCLUDED: &str = "portwatch_watched_range_ports_excluded";
pub const WATCHED_RANGE_AT_RISK: &str = "portwatch_watched_range_ports_at_risk";
pub const WATCHED_RANGE_BOUND: &str = "portwatch_watched_range_ports_bound";
pub const WATCHED_RANGE_BY_EXPECTED: &str = "portwatch_watched_range_ports_bound_by_expected";
pub const WATCHED_RANGE_BY_OTHER: &str = "portwatch_watched_range_ports_bound_by_other";
pub const WATCHED_RANGE_OFFENDER_INFO: &str = "portwatch_watched_range_offender_info";
pub const WATCHED_RANGE_OFFENDERS_OMITTED: &str = "portwatch_watched_range_offenders_omitted";
pub const WATCHED_RANGE_VERDICT_UNKNOWN: &str = "portwatch_watched_range_verdict_unknown";
// The Kubernetes NodePort range (`nodeport` collector, issue #15).
pub const NODEPORT_FIRST_PORT: &str = "portwatch_nodeport_range_first_port";
pub const NODEPORT_LAST_PORT: &str = "portwatch_nodeport_range_last_port";
pub const NODEPORT_IN_DYNAMIC: &str = "portwatch_nodeport_range_ports_in_dynamic_range";
pub const NODEPORT_EXCLUDED: &str = "portwatch_nodeport_range_ports_excluded";
pub const NODEPORT_AT_RISK: &str = "portwatch_nodeport_range_ports_at_risk";
pub const NODEPORT_VERDICT_UNKNOWN: &str = "portwatch_nodeport_range_verdict_unknown";
/// Offender series kept over all watched ranges together, whatever each range's limit.
pub const RANGE_OFFENDER_TOTAL_LIMIT: usize = 500;
/// Rejected sysctl lines kept as series.
pub const REJECTED_LIMIT: usize = 20;

// The learned baseline (issue #14).
pub const PORT_EXPECTED_OWNER_INFO: &str = "portwatch_port_expected_owner_info";
pub const BASELINE_LOAD_SUCCESS: &str = "portwatch_baseline_load_success";
pub const BASELINE_LOAD_PROBLEM: &str = "portwatch_baseline_load_problem_info";
pub const BASELINE_WRITE_SUCCESS: &str = "portwatch_baseline_last_write_success";
pub const BASELINE_WRITE_TS: &str = "portwatch_baseline_last_write_timestamp_seconds";
pub const BASELINE_WRITE_FAILURES: &str = "portwatch_baseline_write_failures_total";
pub const BASELINE_PORTS: &str = "portwatch_baseline_ports";
pub const BASELINE_CHANGES: &str = "portwatch_baseline_changes_total";
pub const BASELINE_DROPPED: &str = "portwatch_baseline_ports_dropped_total";
pub const BASELINE_SKIPPED: &str = "portwatch_baseline_observations_skipped_total";
pub const BASELINE_RECENT_CHANGE: &str = "portwatch_baseline_change_timestamp_seconds";
pub const BASELINE_PORT_LAST_SEEN: &str = "portwatch_baseline_port_last_seen_timestamp_seconds";
pub const LISTENER_OWNERS: &str = "portwatch_listener_distinct_owners";
/// expected_owner_info series kept over all ports together.
pub const EXPECTED_OWNER_INFO_LIMIT: usize = 2000;
/// listener_distinct_owners series kept.
pub const SHARED_LISTENER_LIMIT: usize = 100;
/// Counters are named here as their samples are (and as PromQL asks for
/// them), with `_total`; OpenMetrics' family name drops it.
pub const COLLECTIONS: &str = "portwatch_collections_total";
// The `netns` collector (Linux, off by default): one series set per other network namespace.
pub const NETNS_NAMESPACES: &str = "portwatch_netns_namespaces";
pub const NETNS_OMITTED: &str = "portwatch_netns_omitted";
pub const NETNS_READ_AGE: &str = "portwatch_netns_read_age_seconds";
pub const NETNS_INFO: &str = "portwatch_netns_info";
pub const NETNS_READ_OK: &str = "portwatch_netns_read_success";
pub const NETNS_RANGE_START: &str = "portwatch_netns_dynamic_port_range_start";
pub const NETNS_RANGE_END: &str = "portwatch_netns_dynamic_port_range_end";
pub const NETNS_RESERVED: &str = "portwatch_netns_reserved_ports_in_range";
pub const NETNS_IN_USE: &str = "portwatch_netns_dynamic_ports_in_use";
pub const NETNS_AVAILABLE: &str = "portwatch_netns_dynamic_ports_available";
pub const NETNS_LISTENERS_IN_RANGE: &str = "portwatch_netns_listeners_in_dynamic_range";
pub const NETNS_LISTENER_INFO: &str = "portwatch_netns_listener_in_dynamic_range_info";
pub const NETNS_NEXT_BOOT_KNOWN: &str = "portwatch_netns_next_boot_known";
// The watched ports inside each other namespace, by the host's rules (`netns` label).
pub const NETNS_PORT_BOUND_BY_EXPECTED: &str = "portwatch_netns_port_bound_by_expected";
pub const NETNS_PORT_BOUND_BY_OTHER: &str = "portwatch_netns_port_bound_by_other";
pub const NETNS_PORT_SOCKET_INFO: &str = "portwatch_netns_port_socket_info";
pub const NETNS_PORT_SOCKET_INFO_OMITTED: &str = "portwatch_netns_port_socket_info_omitted";
pub const NETNS_PORT_IN_DYNAMIC_RANGE: &str = "portwatch_netns_port_in_dynamic_range";
pub const NETNS_PORT_EXCLUDED: &str = "portwatch_netns_port_excluded_from_dynamic_range";
pub const NETNS_PORT_VERDICT_UNKNOWN: &str = "portwatch_netns_port_verdict_unknown";
pub const NETNS_PORTS_OMITTED: &str = "portwatch_netns_ports_omitted";
/// Watched ports reported over all other namespaces together, and at least
/// per namespace while the total allows (each gets total / namespaces).
pub const NETNS_PORT_TOTAL_LIMIT: usize = 4000;
pub const NETNS_PORT_MIN_SHARE: usize = 16;
pub const NETNS_READ_FAILURE: &str = "portwatch_netns_read_failure_info";
/// Listener info series per namespace, and over all namespaces.
pub const NETNS_LISTENER_LIMIT: usize = 10;
pub const NETNS_LISTENER_TOTAL_LIMIT: usize = 2000;

// The exporter's own process, named, typed and helped exactly as
// client_golang's process collector (node_exporter's `process_*`).
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_MAX_FDS: &str = "process_max_fds";
pub const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
pub const PROCESS_VIRTUAL_MEMORY_MAX: &str = "process_virtual_memory_max_bytes";
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
pub const PROCESS_START_TIME: &str = "process_start_time_seconds";

/// Facts about the exporter itself rather than the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub version: String,
    pub revision: String,
    /// The git branch and the rustc release it was built from.
    pub branch: String,
    pub rust_version: String,
    pub reload_successful: bool,
    pub reload_timestamp_seconds: f64,
    /// Collections run since start; scrapes that arrive together share one.
    pub collections: u64,
    /// The exporter process itself, when the exposition is served (not in
    /// `check`'s textfile, which node_exporter's own `process_*` would clash with).
    pub process: Option<SelfStats>,
}

type Labels = Vec<(&'static str, String)>;
type Series = Vec<(Labels, i64)>;

/// socket_info series kept over all ports together, whatever the per-port
/// limit, so discovery on a host with many listeners stays bounded.
pub const SOCKET_INFO_TOTAL_LIMIT: usize = 2000;

/// Renders one scrape in `format`. Series within a family keep the report's
/// order, so the output is stable for golden tests.
pub fn render(report: &Report, meta: &Meta, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition { report: report.clone(), meta: meta.clone() }));
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, &registry),
    };
    out
}

#[derive(Debug)]
struct Exposition {
    report: Report,
    meta: Meta,
}

fn gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, V)>,
) -> Result<(), std::fmt::Error> {
    let series: Vec<(Labels, V)> = series.into_iter().collect();
    if series.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (mut labels, v) in series {
        // Every label value stays one printable line, whatever its source
        // (config names too); the encoder escapes quotes and backslashes.
        for (_, value) in labels.iter_mut().filter(|(_, v)| v.chars().any(char::is_control)) {
            *value = crate::parse::procfs::sanitize(value.as_bytes());
        }
        m.encode_family(&labels)?.encode_gauge(&v)?;
    }
    Ok(())
}

/// One unlabelled counter; `name` ends in `_total`, which the encoders add
/// back where each format wants it.
fn counter<V: EncodeCounterValue + EncodeExemplarValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<V>,
) -> Result<(), std::fmt::Error> {
    let Some(v) = value else { return Ok(()) };
    let family = name.strip_suffix("_total").unwrap_or(name);
    enc.encode_descriptor(family, help, None, MetricType::Counter)?.encode_counter::<NoLabelSet, V, V>(&v, None)
}

/// One labelled counter family; `name` ends in `_total`.
fn counters(enc: &mut DescriptorEncoder, name: &str, help: &str, series: Vec<(Labels, u64)>) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let family = name.strip_suffix("_total").unwrap_or(name);
    let mut m = enc.encode_descriptor(family, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        m.encode_family(&labels)?.encode_counter::<NoLabelSet, u64, u64>(&v, None)?;
    }
    Ok(())
}

/// The learned baseline's series: the expected owners it supplies, its
/// file's health, its size and its changes; and listening ports split
/// between processes. All bounded (ports by --baseline.max-ports and a cap,
/// recent changes by `learner::RECENT`).
fn baseline_series(e: &mut DescriptorEncoder, r: &Report) -> Result<(), std::fmt::Error> {
    let owners: Series = r
        .ports
        .iter()
        .filter_map(|p| {
            let learned = p.learned.as_ref()?;
            let mut l = port_labels(p);
            l.push(("source", "baseline".into()));
            l.push(("owner", crate::baseline::learner::describe(learned)));
            Some((l, 1))
        })
        .take(EXPECTED_OWNER_INFO_LIMIT)
        .collect();
    gauge(
        e,
        PORT_EXPECTED_OWNER_INFO,
        "The owners expected on the port and where the expectation comes from (source=baseline: learned from what held the port before; owner: process (user, unit), alternatives joined by |).",
        owners,
    )?;
    let shared: Series = r
        .shared_listeners
        .iter()
        .take(SHARED_LISTENER_LIMIT)
        .map(|((proto, port), n)| (vec![("protocol", proto.as_str().to_string()), ("port", port.to_string())], *n as i64))
        .collect();
    gauge(
        e,
        LISTENER_OWNERS,
        "Listening ports (TCP listen, UDP unconnected) among those read whose sockets belong to two or more different processes (by name, user and unit), e.g. through SO_REUSEPORT, which splits the traffic between them. Only ports with 2 or more; at most 100.",
        shared,
    )?;
    let Some(b) = &r.baseline else { return Ok(()) };
    gauge(e, BASELINE_LOAD_SUCCESS, "1 if the stored baseline was loaded (or there was none yet); 0 if it was unreadable, corrupt or of a newer format (then set aside, and learning starts over).", [(Labels::new(), i64::from(b.load_problem.is_none()))])?;
    gauge(
        e,
        BASELINE_LOAD_PROBLEM,
        "Why the stored baseline was not used: unreadable, corrupt or newer_format.",
        b.load_problem.map(|p| (vec![("problem", p.to_string())], 1i64)),
    )?;
    gauge(
        e,
        BASELINE_WRITE_SUCCESS,
        "1 if the last write of the baseline file succeeded; absent before the first write.",
        b.last_write_ok.map(|ok| (Labels::new(), i64::from(ok))),
    )?;
    gauge(
        e,
        BASELINE_WRITE_TS,
        "Time of the last successful write of the baseline file, in seconds since the epoch.",
        b.last_write_seconds.map(|t| (Labels::new(), t as i64)),
    )?;
    counters(
        e,
        BASELINE_WRITE_FAILURES,
        "Failed writes of the baseline file since start (each is logged; serving goes on).",
        vec![(Labels::new(), b.write_failures)],
    )?;
    gauge(
        e,
        BASELINE_PORTS,
        "Ports in the learned baseline: state=learned (their owners are expected) or state=candidate (held for less than --baseline.learn-after).",
        [(vec![("state", "learned".to_string())], b.learned as i64), (vec![("state", "candidate".to_string())], b.candidates as i64)],
    )?;
    counters(
        e,
        BASELINE_CHANGES,
        "Baseline changes since start by kind: learned, owner_changed (a new owner held a learned port for --baseline.learn-after), appeared (a port not in the baseline is held: a new listener), forgotten.",
        b.changes.iter().map(|(k, v)| (vec![("kind", k.as_str().to_string())], *v)).collect(),
    )?;
    gauge(
        e,
        BASELINE_PORT_LAST_SEEN,
        "Each learned port's last time held by a listener (TCP) or bound socket (UDP), in seconds since the epoch; it is forgotten --baseline.forget-after later. At most --baseline.max-ports series.",
        b.last_seen.iter().map(|(proto, port, t)| (vec![("protocol", proto.clone()), ("port", port.to_string())], *t as i64)).collect::<Series>(),
    )?;
    counters(
        e,
        BASELINE_DROPPED,
        "New held ports not stored because the baseline holds --baseline.max-ports already.",
        vec![(Labels::new(), b.dropped)],
    )?;
    counters(
        e,
        BASELINE_SKIPPED,
        "Scrapes not learned from because the sockets or owners collector failed, was not run, or could not see every owner.",
        vec![(Labels::new(), b.skipped)],
    )?;
    gauge(
        e,
        BASELINE_RECENT_CHANGE,
        "The most recent baseline changes (at most 10), each with its kind, port, previous and current owners; the value is when it happened, in seconds since the epoch.",
        b.recent
            .iter()
            .map(|c| {
                let l = vec![
                    ("kind", c.kind.as_str().to_string()),
                    ("protocol", c.protocol.clone()),
                    ("port", c.port.to_string()),
                    ("previous", c.previous.clone()),
                    ("current", c.current.clone()),
                ];
                (l, c.at as i64)
            })
            .collect::<Series>(),
    )
}

/// client_golang's process collector, metric by metric; what the OS did not
/// give is left out.
fn process(enc: &mut DescriptorEncoder, p: &SelfStats) -> Result<(), std::fmt::Error> {
    let one = |v: Option<u64>| v.map(|v| (Labels::new(), v));
    counter(enc, PROCESS_CPU, "Total user and system CPU time spent in seconds.", p.cpu_seconds)?;
    gauge(enc, PROCESS_MAX_FDS, "Maximum number of open file descriptors.", one(p.max_fds))?;
    gauge(enc, PROCESS_OPEN_FDS, "Number of open file descriptors.", one(p.open_fds))?;
    gauge(enc, PROCESS_RESIDENT_MEMORY, "Resident memory size in bytes.", one(p.resident_memory_bytes))?;
    gauge(
        enc,
        PROCESS_START_TIME,
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds.map(|v| (Labels::new(), v)),
    )?;
    gauge(enc, PROCESS_VIRTUAL_MEMORY, "Virtual memory size in bytes.", one(p.virtual_memory_bytes))?;
    gauge(enc, PROCESS_VIRTUAL_MEMORY_MAX, "Maximum amount of virtual memory available in bytes.", one(p.virtual_memory_max_bytes))
}

fn port_labels(p: &PortReport) -> Labels {
    vec![("name", p.name.clone()), ("port", p.port.to_string()), ("protocol", p.protocol.as_str().to_string())]
}

/// Ports with the labels their series carry (the host's: name, port and
/// protocol; another namespace's: `netns` too).
type Labelled<'a> = Vec<(Labels, &'a PortReport)>;

fn host_ports(r: &Report) -> Labelled<'_> {
    r.ports.iter().map(|p| (port_labels(p), p)).collect()
}

/// One series per port, left out where `unknown` says the verdict cannot be given.
fn per_port(ports: &Labelled, unknown: &[Verdict], f: impl Fn(&PortReport) -> i64) -> Vec<(Labels, i64)> {
    ports.iter().filter(|(_, p)| !unknown.iter().any(|v| p.unknown(*v))).map(|(l, p)| (l.clone(), f(p))).collect()
}

fn verdicts_unknown(ports: &Labelled) -> Vec<(Labels, i64)> {
    let mut out = Vec::new();
    for (labels, p) in ports {
        for u in &p.unknown {
            let mut l = labels.clone();
            l.extend([("verdict", u.verdict.as_str().to_string()), ("reason", u.reason.clone())]);
            out.push((l, 1));
        }
    }
    out
}

/// The next boot's info, rejected lines and unprivileged start.
fn next_boot_series(r: &Report) -> (Series, Series, Series) {
    let Some((boot, why)) = &r.next_boot else { return (vec![], vec![], vec![]) };
    let info = vec![(vec![("applier", boot.applier.as_str().to_string()), ("detected_by", (*why).to_string())], 1)];
    let rejected = boot
        .rejected
        .iter()
        .take(REJECTED_LIMIT)
        .map(|x| {
            let l = vec![
                ("key", x.key.dotted().to_string()),
                ("file", x.origin.file.clone()),
                ("line", x.origin.line.to_string()),
                ("value", x.value.clone()),
                ("reason", x.reason.clone()),
                ("in_force", x.in_force.clone()),
            ];
            (l, 1)
        })
        .collect();
    let start = if boot.unknown.is_empty() { vec![(Labels::new(), i64::from(boot.state.unprivileged_port_start))] } else { vec![] };
    (info, rejected, start)
}

fn per_store(ports: &Labelled, pick: impl Fn(&PortReport) -> &std::collections::BTreeMap<Store, bool>) -> Vec<(Labels, i64)> {
    let mut out = Vec::new();
    for (labels, p) in ports {
        for (store, v) in pick(p) {
            let mut l = labels.clone();
            l.push(("store", store.as_str().into()));
            out.push((l, i64::from(*v)));
        }
    }
    out
}

/// socket_info series (value: the sockets each stands for), at most
/// `socket_info_limit` per port and SOCKET_INFO_TOTAL_LIMIT in all, and per
/// port the (socket, owner) pairs the left-out series stood for.
fn socket_info(ports: &Labelled, limit: usize) -> (Series, Series) {
    let (mut out, mut omitted) = (Vec::new(), Vec::new());
    for (labels, p) in ports {
        let room = SOCKET_INFO_TOTAL_LIMIT.saturating_sub(out.len());
        let keep = limit.min(room);
        for h in p.holders.iter().take(keep) {
            let mut l = labels.clone();
            let proc_ = h.process.as_ref();
            l.extend([
                ("family", h.family.as_str().to_string()),
                ("address", h.address.to_string()),
                ("state", h.state.clone()),
                ("pid", h.pid.map(|p| p.to_string()).unwrap_or_default()),
                ("process", proc_.map(|p| p.name.clone()).unwrap_or_default()),
                ("user", proc_.and_then(|p| p.user.clone()).unwrap_or_default()),
                ("expected", h.expected.to_string()),
            ]);
            // Only for a process in a container: a host process's series
            // keep the labels they always had.
            if let Some(c) = proc_.and_then(|p| p.container.as_ref()) {
                l.extend([("container_runtime", c.runtime.as_str().to_string()), ("container_id", c.id.clone())]);
                l.extend(c.pod_uid.clone().map(|uid| ("pod_uid", uid)));
            }
            out.push((l, h.sockets as i64));
        }
        // Who holds the port unknown: nothing was left out, and 0 would say otherwise.
        if !p.unknown(Verdict::Holders) {
            let left: usize = p.holders.iter().skip(keep).map(|h| h.sockets).sum();
            omitted.push((labels.clone(), left as i64));
        }
    }
    (out, omitted)
}

fn range_labels(r: &RangeReport) -> Labels {
    vec![("name", r.name.clone()), ("protocol", r.protocol.as_str().to_string())]
}

/// One series per watched range, left out where `unknown` says the count cannot be given.
fn per_range(ranges: &[RangeReport], unknown: &[Verdict], f: impl Fn(&RangeReport) -> u32) -> Series {
    ranges.iter().filter(|r| !unknown.iter().any(|v| r.unknown(*v))).map(|r| (range_labels(r), i64::from(f(r)))).collect()
}

fn per_range_store(ranges: &[RangeReport], f: impl Fn(&RangeCounts) -> u32) -> Series {
    let mut out = Vec::new();
    for r in ranges {
        for (store, c) in &r.stores {
            let mut l = range_labels(r);
            l.push(("store", store.as_str().into()));
            out.push((l, i64::from(f(c))));
        }
    }
    out
}

/// Offender series (value: the sockets each stands for), capped overall at
/// RANGE_OFFENDER_TOTAL_LIMIT, and per range how many were left out.
fn range_offenders(ranges: &[RangeReport]) -> (Series, Series) {
    let (mut out, mut omitted) = (Vec::new(), Vec::new());
    for r in ranges.iter().filter(|r| !r.unknown(Verdict::Holders)) {
        let keep = RANGE_OFFENDER_TOTAL_LIMIT.saturating_sub(out.len()).min(r.offenders.len());
        for o in r.offenders.iter().take(keep) {
            let mut l = range_labels(r);
            l.extend([
                ("port", o.port.to_string()),
                ("state", o.state.clone()),
                ("pid", o.pid.map(|p| p.to_string()).unwrap_or_default()),
                ("process", o.process.clone().unwrap_or_default()),
            ]);
            out.push((l, o.sockets as i64));
        }
        omitted.push((range_labels(r), (r.offenders_omitted + r.offenders.len() - keep) as i64));
    }
    (out, omitted)
}

fn range_verdicts_unknown(ranges: &[RangeReport]) -> Series {
    let mut out = Vec::new();
    for r in ranges {
        for u in &r.unknown {
            let mut l = range_labels(r);
            l.extend([("verdict", u.verdict.as_str().to_string()), ("reason", u.reason.clone())]);
            out.push((l, 1));
        }
    }
    out
}

/// The watched ranges' series: bounds, counts per store, holders, offenders.
fn watched_ranges(e: &mut DescriptorEncoder, ranges: &[RangeReport]) -> Result<(), std::fmt::Error> {
    gauge(
        e,
        WATCHED_RANGE_FIRST_PORT,
        "First port of the watched range (a config entry written START-END), inclusive.",
        per_range(ranges, &[], |r| u32::from(r.range.start)),
    )?;
    gauge(e, WATCHED_RANGE_LAST_PORT, "Last port of the watched range, inclusive.", per_range(ranges, &[], |r| u32::from(r.range.end)))?;
    gauge(
        e,
        WATCHED_RANGE_IN_DYNAMIC,
        "Ports of the watched range inside the dynamic (ephemeral) port range; store=active is now, store=persistent is after the next boot.",
        per_range_store(ranges, |c| c.in_dynamic),
    )?;
    gauge(
        e,
        WATCHED_RANGE_EXCLUDED,
        "Ports of the watched range excluded (reserved) from automatic assignment; store=active is now, store=persistent is after the next boot.",
        per_range_store(ranges, |c| c.excluded),
    )?;
    gauge(
        e,
        WATCHED_RANGE_AT_RISK,
        "Ports of the watched range inside the dynamic range and not excluded, so the OS may hand them to any client as its source port; store=active is now, store=persistent is after the next boot.",
        per_range_store(ranges, |c| c.at_risk),
    )?;
    gauge(
        e,
        WATCHED_RANGE_BOUND,
        "Ports of the watched range held by at least one socket.",
        per_range(ranges, &[Verdict::Holders], |r| r.bound),
    )?;
    gauge(
        e,
        WATCHED_RANGE_BY_EXPECTED,
        "Ports of the watched range with at least one socket of a process matching 'expect'.",
        per_range(ranges, &[Verdict::Holders, Verdict::Owners], |r| r.held_by_expected),
    )?;
    gauge(
        e,
        WATCHED_RANGE_BY_OTHER,
        "Ports of the watched range with at least one socket held by another process, by no process (TIME_WAIT), or by an unidentified owner.",
        per_range(ranges, &[Verdict::Holders, Verdict::Owners], |r| r.held_by_other),
    )?;
    let (offenders, omitted) = range_offenders(ranges);
    gauge(
        e,
        WATCHED_RANGE_OFFENDER_INFO,
        "The first unexpected holders of the watched range's ports, lowest port first, per (port, state, pid): the value counts their sockets. At most range_offender_limit per range.",
        offenders,
    )?;
    gauge(
        e,
        WATCHED_RANGE_OFFENDERS_OMITTED,
        "Unexpected (port, state, pid) holders of the watched range that no offender_info series stands for: beyond range_offender_limit or the total cap.",
        omitted,
    )?;
    gauge(
        e,
        WATCHED_RANGE_VERDICT_UNKNOWN,
        "1 for each verdict the exporter cannot give for the watched range (its series are then absent, not 0): verdict and reason say which and why.",
        range_verdicts_unknown(ranges),
    )
}

/// A watched range's series without its `name` label: the NodePort range is one, by flag.
fn unnamed(series: Series) -> Series {
    series
        .into_iter()
        .map(|(mut l, v)| {
            l.retain(|(k, _)| *k != "name");
            (l, v)
        })
        .collect()
}

/// The NodePort range's series (the `nodeport` collector): its bounds, and per
/// protocol and store the watched range's counts; a store whose view is
/// unknown has no series, and a verdict_unknown series says why.
fn nodeport(e: &mut DescriptorEncoder, ranges: &[RangeReport]) -> Result<(), std::fmt::Error> {
    let bound = |f: fn(&RangeReport) -> u16| ranges.first().map(|r| (Labels::new(), i64::from(f(r))));
    gauge(
        e,
        NODEPORT_FIRST_PORT,
        "First port of the Kubernetes NodePort range (--collector.nodeport.range), inclusive.",
        bound(|r| r.range.start),
    )?;
    gauge(e, NODEPORT_LAST_PORT, "Last port of the Kubernetes NodePort range, inclusive.", bound(|r| r.range.end))?;
    gauge(
        e,
        NODEPORT_IN_DYNAMIC,
        "Ports of the NodePort range inside the dynamic (ephemeral) port range; store=active is now, store=persistent is after the next boot.",
        unnamed(per_range_store(ranges, |c| c.in_dynamic)),
    )?;
    gauge(
        e,
        NODEPORT_EXCLUDED,
        "Ports of the NodePort range excluded (reserved) from automatic assignment; store=active is now, store=persistent is after the next boot.",
        unnamed(per_range_store(ranges, |c| c.excluded)),
    )?;
    gauge(
        e,
        NODEPORT_AT_RISK,
        "Ports of the NodePort range inside the dynamic range and not excluded, so the OS may hand them to a client as its source port and a NodePort service collides with it; store=active is now, store=persistent is after the next boot.",
        unnamed(per_range_store(ranges, |c| c.at_risk)),
    )?;
    gauge(
        e,
        NODEPORT_VERDICT_UNKNOWN,
        "1 for each verdict the exporter cannot give for the NodePort range (its series are then absent, not 0): verdict and reason say which and why.",
        unnamed(range_verdicts_unknown(ranges)),
    )
}

impl Collector for Exposition {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.report;
        let ports = &host_ports(r);
        gauge(
            &mut e,
            PORT_BOUND,
            "1 if any socket holds the watched local port (any address, family or state).",
            per_port(ports, &[Verdict::Holders], |p| i64::from(p.bound())),
        )?;
        gauge(
            &mut e,
            PORT_BOUND_BY_EXPECTED,
            "1 if at least one socket on the port belongs to a process matching 'expect'.",
            per_port(ports, &[Verdict::Holders, Verdict::Owners], |p| i64::from(p.bound_by_expected)),
        )?;
        gauge(
            &mut e,
            PORT_BOUND_BY_OTHER,
            "1 if at least one socket on the port is held by another process, by no process (TIME_WAIT), or by an unidentified owner.",
            per_port(ports, &[Verdict::Holders, Verdict::Owners], |p| i64::from(p.bound_by_other)),
        )?;
        gauge(
            &mut e,
            PORT_SOCKETS,
            "Number of sockets holding the watched port.",
            per_port(ports, &[Verdict::Holders], |p| p.sockets as i64),
        )?;
        let (info, omitted) = socket_info(ports, r.socket_info_limit);
        gauge(
            &mut e,
            PORT_SOCKET_INFO,
            "Sockets on the watched port per distinct (family, address, state, owner process, expected); a socket with several owners counts under each; the owner's container and pod UID when it runs in one. At most socket_info_limit series per port.",
            info,
        )?;
        gauge(
            &mut e,
            PORT_SOCKET_INFO_OMITTED,
            "(Socket, owner process) pairs on the watched port that no socket_info series stands for: beyond socket_info_limit or the total cap.",
            omitted,
        )?;
        gauge(
            &mut e,
            PORT_IN_DYNAMIC_RANGE,
            "1 if the port lies inside the dynamic (ephemeral) port range; store=active is now, store=persistent is after the next boot.",
            per_store(ports, |p| &p.in_range),
        )?;
        gauge(
            &mut e,
            PORT_EXCLUDED,
            "1 if the port is excluded (reserved) from automatic assignment; store=active is now, store=persistent is after the next boot.",
            per_store(ports, |p| &p.excluded),
        )?;
        gauge(&mut e, PORT_REBOOT_RISK, "1 if after the next boot the port lies in the dynamic range and is not excluded, so a client can be handed it before the service starts.", ports.iter().filter_map(|(l, p)| p.reboot_risk().map(|v| (l.clone(), i64::from(v)))))?;
        gauge(
            &mut e,
            PORT_RESERVED_BY_SYSTEM,
            "Windows: 1 if the port lies in an exclusion no administrator made (WinNAT/Hyper-V), so it cannot be bound at all.",
            ports.iter().filter_map(|(l, p)| p.reserved_by_system.map(|v| (l.clone(), i64::from(v)))),
        )?;
        gauge(
            &mut e,
            PORT_VERDICT_UNKNOWN,
            "1 for each verdict the exporter cannot give for the port (its series are then absent, not 0): verdict and reason say which and why.",
            verdicts_unknown(ports),
        )?;
        watched_ranges(&mut e, &r.watched_ranges)?;
        nodeport(&mut e, &r.nodeport)?;
        let (boot_info, rejected, unpriv) = next_boot_series(r);
        gauge(
            &mut e,
            NEXT_BOOT_INFO,
            "Linux: the tool modelled as applying sysctl.d at the next boot (systemd-sysctl or sysctl-system), and how it was chosen.",
            boot_info,
        )?;
        gauge(
            &mut e,
            NEXT_BOOT_REJECTED,
            "Linux: a port sysctl that the kernel will refuse at the next boot, with its file, line, value, the kernel's reason and the value in force instead (at most 20).",
            rejected,
        )?;
        gauge(
            &mut e,
            NEXT_BOOT_UNPRIVILEGED_START,
            "Linux: net.ipv4.ip_unprivileged_port_start after the next boot; the range's low bound may not be below it.",
            unpriv,
        )?;
        let range_series = |end: bool| -> Vec<(Labels, i64)> {
            r.ranges
                .iter()
                .filter_map(|((proto, fam, store), v)| {
                    let range = v.range?;
                    let labels =
                        vec![("protocol", proto.as_str().into()), ("family", fam.as_str().into()), ("store", store.as_str().into())];
                    Some((labels, i64::from(if end { range.end } else { range.start })))
                })
                .collect()
        };
        gauge(&mut e, RANGE_START, "First port of the dynamic (ephemeral) port range, inclusive.", range_series(false))?;
        gauge(&mut e, RANGE_END, "Last port of the dynamic (ephemeral) port range, inclusive.", range_series(true))?;
        let pf = |(proto, fam): &(crate::model::Protocol, crate::model::Family)| -> Labels {
            vec![("protocol", proto.as_str().into()), ("family", fam.as_str().into())]
        };
        gauge(
            &mut e,
            DYNAMIC_IN_USE,
            "Sockets whose local port lies in the active dynamic range.",
            r.dynamic_in_use.iter().map(|(k, v)| (pf(k), *v as i64)),
        )?;
        gauge(
            &mut e,
            DYNAMIC_AVAILABLE,
            "Ports in the active dynamic range that are not excluded.",
            r.dynamic_available.iter().map(|(k, v)| (pf(k), i64::from(*v))),
        )?;
        let dest = r.destinations.as_ref();
        let dest_series = |time_wait: bool| -> Vec<(Labels, i64)> {
            dest.map(|d| d.top.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|l| {
                    let t = &l.destination;
                    let labels = vec![
                        ("protocol", t.protocol.as_str().into()),
                        ("family", t.family.as_str().into()),
                        ("destination_address", t.address.to_string()),
                        ("destination_port", t.port.to_string()),
                    ];
                    (labels, (if time_wait { l.time_wait } else { l.in_use }) as i64)
                })
                .collect()
        };
        gauge(
            &mut e,
            DESTINATION_IN_USE,
            "Sockets in any state but TIME_WAIT whose local port lies in the active dynamic range, per destination (remote address and port; IPv4-mapped IPv6 as IPv4), for the busiest --collector.ephemeral.destinations destinations. Each destination may use every port of portwatch_dynamic_ports_available.",
            dest_series(false),
        )?;
        gauge(
            &mut e,
            DESTINATION_TIME_WAIT,
            "Sockets in TIME_WAIT whose local port lies in the active dynamic range, per destination, for the same destinations as portwatch_ephemeral_destination_ports_in_use.",
            dest_series(true),
        )?;
        gauge(
            &mut e,
            DESTINATIONS,
            "Distinct destinations (remote address and port) of sockets whose local port lies in the active dynamic range.",
            dest.map(|d| d.distinct.iter().map(|(p, n)| (vec![("protocol", p.as_str().into())], *n as i64)).collect::<Vec<_>>())
                .unwrap_or_default(),
        )?;
        gauge(
            &mut e,
            DESTINATIONS_UNTRACKED,
            "Sockets in the dynamic range left out of the per-destination counts because the table of destinations was full; when not 0, the counts are lower bounds.",
            dest.map(|d| d.untracked.iter().map(|(p, n)| (vec![("protocol", p.as_str().into())], *n as i64)).collect::<Vec<_>>()).unwrap_or_default(),
        )?;
        gauge(
            &mut e,
            OWNERS_RESOLVABLE,
            "0 when the exporter lacks the rights to map sockets to processes.",
            // The owners collector's answer: absent when it did not run (disabled, or no source).
            collector_ok(&r.collectors, CollectorName::Owners).map(|_| (Labels::new(), i64::from(r.owners_resolvable))),
        )?;
        gauge(&mut e, REBOOT_REQUIRED, "1 when the host has a reboot pending.", r.reboot_required.map(|v| (Labels::new(), i64::from(v))))?;
        gauge(
            &mut e,
            COLLECTOR_SUCCESS,
            "1 if the collector succeeded during this scrape.",
            r.collectors.iter().map(|c| (vec![("collector", c.name.as_str().to_string())], i64::from(c.success))),
        )?;
        gauge(
            &mut e,
            COLLECTOR_DURATION,
            "How long the collector took during this scrape.",
            r.collectors.iter().map(|c| (vec![("collector", c.name.as_str().to_string())], c.duration.as_secs_f64())),
        )?;
        // Only from a run that listed the namespaces: a failed one says nothing, not "none".
        if collector_ok(&r.collectors, CollectorName::Netns) == Some(true) {
            netns(&mut e, r)?;
            netns_ports(&mut e, r)?;
        }
        let m = &self.meta;
        let build = vec![
            ("arch", std::env::consts::ARCH.to_string()),
            ("branch", m.branch.clone()),
            ("os", std::env::consts::OS.to_string()),
            ("revision", m.revision.clone()),
            ("rustversion", m.rust_version.clone()),
            ("version", m.version.clone()),
        ];
        gauge(
            &mut e,
            BUILD_INFO,
            "A metric with a constant '1' value labeled by version, revision, branch, rustversion from which portwatch_exporter was built, and the os and arch for the build.",
            [(build, 1i64)],
        )?;
        gauge(&mut e, RELOAD_OK, "1 if the last configuration load succeeded.", [(Labels::new(), i64::from(self.meta.reload_successful))])?;
        gauge(
            &mut e,
            RELOAD_TS,
            "Time of the last successful configuration load, in seconds since the epoch.",
            [(Labels::new(), self.meta.reload_timestamp_seconds)],
        )?;
        counter(&mut e, COLLECTIONS, "Collections run since start; simultaneous scrapes share one.", Some(self.meta.collections))?;
        baseline_series(&mut e, r)?;
        match &self.meta.process {
            Some(p) => process(&mut e, p),
            None => Ok(()),
        }
    }
}

/// The `netns` collector's series: each namespace by its inode (`netns`).
fn netns(e: &mut DescriptorEncoder, r: &Report) -> Result<(), std::fmt::Error> {
    let ns = |v: &crate::model::NetnsView| -> Labels {
        vec![("netns", if v.inode == HOST_NETNS { "host".to_string() } else { v.inode.to_string() })]
    };
    let host = host_view(r);
    let read: Vec<_> = host.iter().chain(r.netns.iter().filter(|v| v.error.is_none())).collect();
    gauge(
        e,
        NETNS_NAMESPACES,
        "Network namespaces on the host other than the exporter's own.",
        [(Labels::new(), (r.netns.len() + r.netns_omitted) as i64)],
    )?;
    gauge(e, NETNS_OMITTED, "Namespaces beyond the limit, not read.", [(Labels::new(), r.netns_omitted as i64)])?;
    gauge(
        e,
        NETNS_READ_AGE,
        "Seconds since the namespaces served were read: 0 when this scrape read them; with --collector.netns.refresh-interval, how long ago the background reader's latest read began (up to the interval plus two reads while it keeps up).",
        [(Labels::new(), r.netns_age.map_or(0.0, |a| a.as_secs_f64()))],
    )?;
    let info = r.netns.iter().map(|v| {
        let mut l = ns(v);
        // Not `name`: on the per-port series that is the watch's, and a join would clash.
        l.extend(v.name.clone().map(|n| ("netns_name", n)));
        if let Some(c) = &v.container {
            l.extend([("container_runtime", c.runtime.as_str().to_string()), ("container_id", c.id.clone())]);
            l.extend(c.pod_uid.clone().map(|uid| ("pod_uid", uid)));
        }
        (l, v.processes as i64)
    });
    gauge(
        e,
        NETNS_INFO,
        "Processes in the namespace; labelled by its name under /run/netns (netns_name) and the container (and pod UID) of a process inside it.",
        info,
    )?;
    gauge(
        e,
        NETNS_READ_OK,
        "1 if the namespace was entered and read; 0 if it could not be (rights, or it vanished): its other series are then absent. netns=\"host\" is the exporter's own.",
        host.iter().chain(&r.netns).map(|v| (ns(v), i64::from(v.error.is_none()))),
    )?;
    gauge(
        e,
        NETNS_READ_FAILURE,
        "Why a namespace with portwatch_netns_read_success 0 could not be read: reason=\"vanished\" (gone between listing and entering: pod churn, once), \"permission_denied\" (no CAP_SYS_ADMIN for setns, or no ptrace access to its process), \"enter_failed\" (opening or joining failed otherwise), \"read_failed\" (entered, but its sysctls or sockets could not be read).",
        r.netns.iter().filter(|v| v.error.is_some()).map(|v| {
            let mut l = ns(v);
            l.push(("reason", netns_failure(v.failure.unwrap_or(crate::model::NetnsFailure::ReadFailed)).to_string()));
            (l, 1i64)
        }),
    )?;
    let range = |v: &&crate::model::NetnsView| v.range;
    gauge(
        e,
        NETNS_RANGE_START,
        "First port of the namespace's own dynamic range (its ip_local_port_range, read inside it).",
        read.iter().filter_map(|v| Some((ns(v), i64::from(range(v)?.start)))),
    )?;
    gauge(
        e,
        NETNS_RANGE_END,
        "Last port of the namespace's own dynamic range.",
        read.iter().filter_map(|v| Some((ns(v), i64::from(range(v)?.end)))),
    )?;
    gauge(
        e,
        NETNS_RESERVED,
        "Ports of the namespace's dynamic range that its own ip_local_reserved_ports excludes (a new namespace starts with none).",
        read.iter().filter_map(|v| Some((ns(v), i64::from(v.reserved.as_ref()?.count_within(range(v)?))))),
    )?;
    gauge(
        e,
        NETNS_IN_USE,
        "TCP and UDP sockets in the namespace whose local port lies in its dynamic range.",
        read.iter().filter_map(|v| Some((ns(v), v.in_use? as i64))),
    )?;
    gauge(
        e,
        NETNS_AVAILABLE,
        "Ports in the namespace's dynamic range that it does not exclude.",
        read.iter().filter_map(|v| Some((ns(v), i64::from(range(v)?.count() - v.reserved.as_ref()?.count_within(range(v)?))))),
    )?;
    let at_risk = |v: &crate::model::NetnsView| -> Vec<u16> {
        match (v.range, &v.reserved) {
            (Some(rg), Some(res)) => v.listeners.iter().copied().filter(|p| rg.contains(*p) && !res.contains(*p)).collect(),
            _ => Vec::new(),
        }
    };
    gauge(
        e,
        NETNS_LISTENERS_IN_RANGE,
        "TCP ports listened on in the namespace that lie in its own dynamic range and are not reserved there: a restart of the listener can find its port taken by an outgoing connection.",
        read.iter().filter(|v| v.inode != HOST_NETNS).map(|v| (ns(v), at_risk(v).len() as i64)),
    )?;
    let mut listed = Vec::new();
    for v in read.iter().filter(|v| v.inode != HOST_NETNS) {
        for port in at_risk(v).into_iter().take(NETNS_LISTENER_LIMIT) {
            if listed.len() < NETNS_LISTENER_TOTAL_LIMIT {
                let mut l = ns(v);
                l.push(("port", port.to_string()));
                listed.push((l, 1i64));
            }
        }
    }
    gauge(e, NETNS_LISTENER_INFO, "The first listened ports in the namespace's own dynamic range (10 per namespace).", listed)?;
    gauge(
        e,
        NETNS_NEXT_BOOT_KNOWN,
        "0: a namespace other than the host's has no persistent view. A new one starts from the kernel's defaults (or what its runtime writes), not from sysctl.d, so the host's next-boot answer does not apply to it. netns=\"host\": 1 when the host's next boot was read.",
        host.iter().map(|_| (vec![("netns", "host".to_string())], i64::from(host_next_boot_known(r)))).chain(r.netns.iter().map(|v| (ns(v), 0i64))),
    )?;
    Ok(())
}

/// The `inode` that stands for the exporter's own namespace in the
/// per-namespace families (no namespace has inode 0).
const HOST_NETNS: u64 = 0;

/// The exporter's own namespace as a row of the per-namespace families
/// (`netns="host"`): its active range, reserved ports and ephemeral count
/// from the host's collectors, when they gave them. Its listeners are the
/// host's `portwatch_port_*` business, so it has no listener row.
fn host_view(r: &Report) -> Option<crate::model::NetnsView> {
    let active = r.ranges.get(&(Protocol::Tcp, Family::Ipv4, Store::Active))?;
    let in_use = (!r.dynamic_in_use.is_empty()).then(|| r.dynamic_in_use.values().sum());
    Some(crate::model::NetnsView {
        inode: HOST_NETNS,
        range: active.range,
        reserved: active.excluded.clone(),
        in_use,
        ..Default::default()
    })
}

fn host_next_boot_known(r: &Report) -> bool {
    r.ranges.get(&(Protocol::Tcp, Family::Ipv4, Store::Persistent)).is_some_and(|v| v.range.is_some())
}

/// The watched ports inside other namespaces: the host's per-port families
/// under `portwatch_netns_port_*`, with `netns`, now only (a namespace has no
/// next boot of its own), at most NETNS_PORT_TOTAL_LIMIT ports.
fn netns_ports(e: &mut DescriptorEncoder, r: &Report) -> Result<(), std::fmt::Error> {
    // Each namespace its share of the total (at least NETNS_PORT_MIN_SHARE), so
    // one pod listening on thousands of ports cannot hide the others.
    let share = (NETNS_PORT_TOTAL_LIMIT / r.netns_ports.len().max(1)).max(NETNS_PORT_MIN_SHARE);
    let all = r.netns_ports.iter().flat_map(|n| n.ports.iter().take(share).map(move |p| (n.inode, p)));
    let ports: Labelled = all
        .take(NETNS_PORT_TOTAL_LIMIT)
        .map(|(inode, p)| {
            let mut l = vec![("netns", inode.to_string())];
            l.extend(port_labels(p));
            (l, p)
        })
        .collect();
    let omitted = r.netns_ports.iter().map(|n| n.ports.len()).sum::<usize>() - ports.len();
    let both = [Verdict::Holders, Verdict::Owners];
    gauge(
        e,
        NETNS_PORT_BOUND_BY_EXPECTED,
        "1 if at least one socket on the watched port in the namespace belongs to a process matching 'expect' (without a config file: the namespace's listeners).",
        per_port(&ports, &both, |p| i64::from(p.bound_by_expected)),
    )?;
    gauge(
        e,
        NETNS_PORT_BOUND_BY_OTHER,
        "1 if at least one socket on the watched port in the namespace is held by another process, by none (TIME_WAIT) or by an unidentified owner: e.g. a sidecar's outgoing connection on the app's port.",
        per_port(&ports, &both, |p| i64::from(p.bound_by_other)),
    )?;
    let (info, info_omitted) = socket_info(&ports, r.socket_info_limit);
    gauge(e, NETNS_PORT_SOCKET_INFO, "Sockets on the watched port in the namespace, as portwatch_port_socket_info.", info)?;
    gauge(
        e,
        NETNS_PORT_SOCKET_INFO_OMITTED,
        "Pairs on the watched port in the namespace that no socket_info series stands for.",
        info_omitted,
    )?;
    gauge(
        e,
        NETNS_PORT_IN_DYNAMIC_RANGE,
        "1 if the port lies inside the namespace's own dynamic range now.",
        per_store(&ports, |p| &p.in_range).into_iter().map(|(l, v)| (without_store(l), v)),
    )?;
    gauge(
        e,
        NETNS_PORT_EXCLUDED,
        "1 if the namespace's own ip_local_reserved_ports excludes the port now.",
        per_store(&ports, |p| &p.excluded).into_iter().map(|(l, v)| (without_store(l), v)),
    )?;
    gauge(
        e,
        NETNS_PORT_VERDICT_UNKNOWN,
        "1 for each verdict the exporter cannot give for the port in the namespace (its series are then absent): verdict and reason say which and why.",
        verdicts_unknown(&ports),
    )?;
    gauge(
        e,
        NETNS_PORTS_OMITTED,
        "Watched ports in other namespaces not reported: each namespace gets an equal share of 4000 (at least 16), 4000 in all.",
        [(Labels::new(), omitted as i64)],
    )
}

/// A namespace has one store (now): its per-store series drop the label.
fn without_store(mut l: Labels) -> Labels {
    l.retain(|(k, _)| *k != "store");
    l
}

/// The `reason` label of [`NETNS_READ_FAILURE`]: a fixed set.
fn netns_failure(f: crate::model::NetnsFailure) -> &'static str {
    use crate::model::NetnsFailure::*;
    match f {
        Vanished => "vanished",
        PermissionDenied => "permission_denied",
        EnterFailed => "enter_failed",
        ReadFailed => "read_failed",
    }
}

/// Metrics absent from the golden Linux host: those only some systems
/// provide (absent, not faked, elsewhere), those present only when a
/// verdict cannot be given, and those of `netns`, a collector off by default.
pub const OS_SPECIFIC: &[&str] = &[
    PORT_RESERVED_BY_SYSTEM,
    PORT_VERDICT_UNKNOWN,
    NETNS_NAMESPACES,
    NETNS_OMITTED,
    NETNS_READ_AGE,
    NETNS_INFO,
    NETNS_READ_OK,
    NETNS_RANGE_START,
    NETNS_RANGE_END,
    NETNS_RESERVED,
    NETNS_IN_USE,
    NETNS_AVAILABLE,
    NETNS_LISTENERS_IN_RANGE,
    NETNS_LISTENER_INFO,
    NETNS_NEXT_BOOT_KNOWN,
    NETNS_PORT_BOUND_BY_EXPECTED,
    NETNS_PORT_BOUND_BY_OTHER,
    NETNS_PORT_SOCKET_INFO,
    NETNS_PORT_SOCKET_INFO_OMITTED,
    NETNS_PORT_IN_DYNAMIC_RANGE,
    NETNS_PORT_EXCLUDED,
    NETNS_PORT_VERDICT_UNKNOWN,
    NETNS_PORTS_OMITTED,
    NETNS_READ_FAILURE,
    WATCHED_RANGE_VERDICT_UNKNOWN,
    // `nodeport`, off by default.
    NODEPORT_FIRST_PORT,
    NODEPORT_LAST_PORT,
    NODEPORT_IN_DYNAMIC,
    NODEPORT_EXCLUDED,
    NODEPORT_AT_RISK,
    NODEPORT_VERDICT_UNKNOWN,
];

/// Metrics present only while learning is on (`--storage.path` set), or
/// only when a baseline or a shared listener exists: absent from the golden
/// fixture host, which runs without storage.
pub const LEARNING: &[&str] = &[
    PORT_EXPECTED_OWNER_INFO,
    BASELINE_LOAD_SUCCESS,
    BASELINE_LOAD_PROBLEM,
    BASELINE_WRITE_SUCCESS,
    BASELINE_WRITE_TS,
    BASELINE_WRITE_FAILURES,
    BASELINE_PORTS,
    BASELINE_CHANGES,
    BASELINE_DROPPED,
    BASELINE_SKIPPED,
    BASELINE_RECENT_CHANGE,
    BASELINE_PORT_LAST_SEEN,
    LISTENER_OWNERS,
];

/// Every name this module can emit but those of `OS_SPECIFIC` and
/// `LEARNING`: the golden fixture host's, and the exporter's own `process_*`.
pub const EVERYWHERE: &[&str] = &[
    PORT_BOUND,
    PORT_BOUND_BY_EXPECTED,
    PORT_BOUND_BY_OTHER,
    PORT_SOCKETS,
    PORT_SOCKET_INFO,
    PORT_SOCKET_INFO_OMITTED,
    PORT_IN_DYNAMIC_RANGE,
    PORT_EXCLUDED,
    PORT_REBOOT_RISK,
    RANGE_START,
    RANGE_END,
    DYNAMIC_IN_USE,
    DYNAMIC_AVAILABLE,
    DESTINATION_IN_USE,
    DESTINATION_TIME_WAIT,
    DESTINATIONS,
    DESTINATIONS_UNTRACKED,
    OWNERS_RESOLVABLE,
    REBOOT_REQUIRED,
    COLLECTOR_SUCCESS,
    COLLECTOR_DURATION,
    BUILD_INFO,
    RELOAD_OK,
    RELOAD_TS,
    COLLECTIONS,
    NEXT_BOOT_INFO,
    NEXT_BOOT_REJECTED,
    NEXT_BOOT_UNPRIVILEGED_START,
    WATCHED_RANGE_FIRST_PORT,
    WATCHED_RANGE_LAST_PORT,
    WATCHED_RANGE_IN_DYNAMIC,
    WATCHED_RANGE_EXCLUDED,
    WATCHED_RANGE_AT_RISK,
    WATCHED_RANGE_BOUND,
    WATCHED_RANGE_BY_EXPECTED,
    WATCHED_RANGE_BY_OTHER,
    WATCHED_RANGE_OFFENDER_INFO,
    WATCHED_RANGE_OFFENDERS_OMITTED,
    PROCESS_CPU,
    PROCESS_MAX_FDS,
    PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_VIRTUAL_MEMORY,
    PROCESS_VIRTUAL_MEMORY_MAX,
];

/// Whether this module can emit `name`; dashboards and rules are checked against it.
pub fn is_defined(name: &str) -> bool {
    [EVERYWHERE, OS_SPECIFIC, LEARNING].iter().any(|names| names.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once() {
        let all: Vec<&str> = [EVERYWHERE, OS_SPECIFIC, LEARNING].concat();
        let unique: std::collections::BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a name in two lists");
        assert!(is_defined(NETNS_PORT_BOUND_BY_OTHER) && is_defined(BASELINE_PORTS) && is_defined(PORT_BOUND));
        assert!(!is_defined("portwatch_port_bound_total"));
    }

    #[test]
    fn one_namespace_with_thousands_of_ports_cannot_hide_the_others() {
        use crate::assess::NetnsPorts;
        let big = NetnsPorts { inode: 1, ports: (1..=5000).map(|p| PortReport::blank("tcp", p)).collect() };
        let small = NetnsPorts { inode: 2, ports: vec![PortReport::blank("app", 8080)] };
        let netns = crate::model::CollectorStatus { name: CollectorName::Netns, success: true, duration: Default::default() };
        let report = Report { netns_ports: vec![big, small], collectors: vec![netns], ..Report::default() };
        let text = render(&report, &Meta::default(), Format::Text);
        let count =
            |ns: &str| text.lines().filter(|l| l.starts_with(&format!("portwatch_netns_port_bound_by_other{{netns=\"{ns}\""))).count();
        assert_eq!((count("1"), count("2")), (2000, 1), "each gets half of 4000");
        assert!(text.contains("\nportwatch_netns_ports_omitted 3000\n"), "{}", &text[..2000]);
    }

    #[test]
    fn negotiation_follows_client_golang() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.8")), Format::Text);
        assert_eq!(negotiate(Some("application/openmetrics-text; version=2.0.0, text/plain")), Format::Text, "unknown version skipped");
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0")), Format::Text, "q=0 refuses");
    }
    #[test]
    fn counters_are_named_as_each_format_names_them_and_missing_stats_are_absent() {
        let process = SelfStats { cpu_seconds: Some(1.5), open_fds: Some(9), max_fds: Some(u64::MAX), ..SelfStats::default() };
        let meta = Meta { collections: 7, process: Some(process), ..Meta::default() };
        let om = render(&Report::default(), &meta, Format::OpenMetrics);
        assert!(om.contains("# TYPE portwatch_collections counter\nportwatch_collections_total 7\n"), "{om}");
        assert!(om.contains("# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 1.5\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        let text = render(&Report::default(), &meta, Format::Text);
        assert!(
            text.contains("# HELP portwatch_collections_total Collections run since start; simultaneous scrapes share one.\n# TYPE portwatch_collections_total counter\nportwatch_collections_total 7\n"),
            "{text}"
        );
        assert!(text.contains("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"), "{text}");
        assert!(text.contains("# TYPE process_open_fds gauge\nprocess_open_fds 9\n"), "{text}");
        assert!(text.contains("\nprocess_max_fds 18446744073709551615\n"), "unlimited as client_golang reports it: {text}");
        assert!(!text.contains("# EOF") && !text.contains("process_resident_memory_bytes"), "what the OS did not give is absent: {text}");
        let without = render(&Report::default(), &Meta::default(), Format::Text);
        assert!(!without.contains("process_"), "no process stats, no process_* series");
    }

    use crate::assess::{Holder, PortReport};
    use crate::model::{Family, Protocol};
    use std::collections::BTreeMap;

    #[test]
    fn range_offenders_are_capped_overall_and_unknown_counts_are_absent() {
        use crate::assess::{Offender, RangeCounts, RangeReport, Unknown};
        use crate::model::PortRange;
        let range = |n: u16, unknown: Vec<Unknown>| RangeReport {
            name: format!("r{n}"),
            protocol: Protocol::Tcp,
            range: PortRange { start: n * 10, end: n * 10 + 9 },
            stores: BTreeMap::from([(Store::Active, RangeCounts { in_dynamic: 10, excluded: 3, at_risk: 7 })]),
            bound: 6,
            held_by_expected: 1,
            held_by_other: 5,
            offenders: (0..5)
                .map(|i| Offender { port: n * 10 + i, state: "listen".into(), pid: Some(u32::from(i)), process: None, sockets: 2 })
                .collect(),
            offenders_omitted: 1,
            at_risk_next_boot: vec![],
            unknown,
        };
        let owners = || vec![Unknown { verdict: Verdict::Owners, reason: "the owners collector failed".into() }];
        let holders = || vec![Unknown { verdict: Verdict::Holders, reason: "the sockets collector failed".into() }];
        let mut ranges: Vec<RangeReport> = (1..=120).map(|n| range(n, vec![])).collect();
        ranges.push(range(200, owners()));
        ranges.push(range(201, holders()));
        let report = Report { watched_ranges: ranges, ..Report::default() };
        let text = render(&report, &Meta::default(), Format::Text);
        let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("portwatch_watched_range_offender_info{"), RANGE_OFFENDER_TOTAL_LIMIT, "100 ranges fill the cap");
        let omitted = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("portwatch_watched_range_offenders_omitted{{name=\"{name}\",")))
                .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        };
        assert_eq!(omitted("r1"), Some(1), "kept 5, 1 left out by the range's limit");
        assert_eq!(omitted("r120"), Some(6), "past the total cap all are left out");
        assert_eq!(omitted("r201"), None, "who holds it unknown: nothing to say was left out");
        assert_eq!(count("portwatch_watched_range_ports_bound_by_other{name=\"r200\""), 0, "owners unknown: no count");
        assert_eq!(count("portwatch_watched_range_ports_bound{name=\"r200\""), 1, "but the ports bound are known");
        assert_eq!(count("portwatch_watched_range_ports_bound{name=\"r201\""), 0);
        assert_eq!(count("portwatch_watched_range_verdict_unknown{"), 2);
        assert_eq!(count("portwatch_watched_range_ports_at_risk{"), 122, "range views are known for every range");
        assert!(text.contains("portwatch_watched_range_ports_at_risk{name=\"r1\",protocol=\"tcp\",store=\"active\"} 7"), "{text}");
    }

    #[test]
    fn socket_info_is_capped_per_port_and_overall() {
        let holder = |i: u32| Holder {
            family: Family::Ipv4,
            address: "127.0.0.1".parse().expect("ip"),
            state: "established".into(),
            pid: Some(i),
            process: None,
            expected: false,
            sockets: 3,
        };
        let ports: Vec<PortReport> = (1..=500u16)
            .map(|n| PortReport {
                name: format!("p{n}"),
                port: n,
                protocol: Protocol::Tcp,
                sockets: 20,
                bound_by_expected: false,
                bound_by_other: true,
                holders: (0..20).map(holder).collect(),
                in_range: BTreeMap::new(),
                excluded: BTreeMap::new(),
                reserved_by_system: (n == 1).then_some(true),
                unknown: vec![],
                learned: None,
            })
            .collect();
        let report = Report { ports, owners_resolvable: true, socket_info_limit: 10, ..Report::default() };
        let meta = Meta { version: "v".into(), revision: "r".into(), reload_successful: true, collections: 1, ..Meta::default() };
        let text = render(&report, &meta, Format::OpenMetrics);
        let infos = text.lines().filter(|l| l.starts_with("portwatch_port_socket_info{")).count();
        assert_eq!(infos, SOCKET_INFO_TOTAL_LIMIT, "500 ports x 10 allowed each, capped overall");
        assert_eq!(text.lines().filter(|l| l.starts_with("portwatch_port_socket_info{name=\"p1\"")).count(), 10, "per-port limit");
        assert_eq!(text.lines().filter(|l| l.starts_with("portwatch_port_sockets{")).count(), 500, "counts are never capped");
        assert!(text.contains("portwatch_port_reserved_by_system{name=\"p1\",port=\"1\",protocol=\"tcp\"} 1"));
        let omitted = |port: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("portwatch_port_socket_info_omitted{{name=\"{port}\",")))
                .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
        };
        assert_eq!(omitted("p1").as_deref(), Some("30"), "10 of 20 holders left out, 3 sockets each");
        assert_eq!(omitted("p500").as_deref(), Some("60"), "past the total cap every holder is left out");
        let kept: i64 = text
            .lines()
            .filter(|l| l.starts_with("portwatch_port_socket_info{name=\"p1\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum();
        assert_eq!(kept, 30, "each series counts the sockets it stands for");
        assert_eq!(text.matches("portwatch_port_reserved_by_system{").count(), 1, "absent where unknown");
    }

    #[test]
    fn baseline_series_name_the_learned_owner_and_stay_bounded() {
        use crate::baseline::learner::{Recent, Status};
        use crate::baseline::{Change, Owner};
        use std::collections::{BTreeMap, BTreeSet};
        let owner = Owner { process: "sqlservr".into(), exe: None, user: Some("mssql".into()), unit: Some("mssql-server.service".into()) };
        let port = PortReport { learned: Some(BTreeSet::from([owner])), bound_by_other: true, ..PortReport::blank("tcp-1433", 1433) };
        let recent: Vec<Recent> = (0..10u16)
            .map(|i| Recent {
                kind: Change::Appeared,
                protocol: "tcp".into(),
                port: 2000 + i,
                previous: String::new(),
                current: "x\ny".into(),
                at: 5,
            })
            .collect();
        let status = Status { changes: Change::ALL.iter().map(|c| (*c, 1)).collect(), recent, learned: 1, ..Status::default() };
        let shared: BTreeMap<_, _> = (1..=150u16).map(|p| ((crate::model::Protocol::Tcp, p), 2)).collect();
        let report = Report { ports: vec![port], baseline: Some(status), shared_listeners: shared, ..Report::default() };
        let text = render(&report, &Meta::default(), Format::Text);
        assert!(text.contains(r#"portwatch_port_expected_owner_info{name="tcp-1433",port="1433",protocol="tcp",source="baseline",owner="sqlservr (mssql, mssql-server.service)"} 1"#), "{text}");
        for kind in ["learned", "owner_changed", "appeared", "forgotten"] {
            assert!(text.contains(&format!("portwatch_baseline_changes_total{{kind=\"{kind}\"}} 1")), "{kind}: {text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("portwatch_baseline_change_timestamp_seconds{")).count(), 10);
        assert!(!text.contains("x\ny") && text.contains(r#"current="x?y""#), "label values stay one line");
        assert_eq!(text.lines().filter(|l| l.starts_with("portwatch_listener_distinct_owners{")).count(), SHARED_LISTENER_LIMIT);
        assert!(text.contains("portwatch_baseline_load_success 1") && !text.contains("portwatch_baseline_last_write_success"), "{text}");
        let off = render(&Report::default(), &Meta::default(), Format::Text);
        assert!(!off.contains("portwatch_baseline_"), "learning off: no baseline series");
    }

    #[test]
    fn a_namespace_that_could_not_be_read_says_why_and_only_for_itself() {
        use crate::model::{CollectorName, CollectorStatus, NetnsFailure, NetnsView, PortRange, PortSet};
        let ok = NetnsView {
            inode: 1,
            range: Some(PortRange { start: 40_000, end: 40_099 }),
            reserved: Some(PortSet::default()),
            in_use: Some(3),
            ..NetnsView::default()
        };
        let failed = |inode: u64, failure: Option<NetnsFailure>| NetnsView {
            inode,
            error: Some(format!("detail {inode}")),
            failure,
            ..NetnsView::default()
        };
        let views = vec![
            ok,
            failed(2, Some(NetnsFailure::Vanished)),
            failed(3, Some(NetnsFailure::PermissionDenied)),
            failed(4, Some(NetnsFailure::EnterFailed)),
            failed(5, Some(NetnsFailure::ReadFailed)),
            failed(6, None),
        ];
        let collectors = vec![CollectorStatus { name: CollectorName::Netns, success: true, duration: std::time::Duration::ZERO }];
        let report = Report { netns: views, collectors, ..Report::default() };
        let text = render(&report, &Meta::default(), Format::Text);
        let lines = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            lines("portwatch_netns_read_failure_info{"),
            [
                r#"portwatch_netns_read_failure_info{netns="2",reason="vanished"} 1"#,
                r#"portwatch_netns_read_failure_info{netns="3",reason="permission_denied"} 1"#,
                r#"portwatch_netns_read_failure_info{netns="4",reason="enter_failed"} 1"#,
                r#"portwatch_netns_read_failure_info{netns="5",reason="read_failed"} 1"#,
                r#"portwatch_netns_read_failure_info{netns="6",reason="read_failed"} 1"#,
            ],
            "one per failed namespace, the detail text never in a label"
        );
        assert!(text.contains("portwatch_netns_read_success{netns=\"1\"} 1\n"), "{text}");
        for inode in 2..=6 {
            assert!(text.contains(&format!("portwatch_netns_read_success{{netns=\"{inode}\"}} 0\n")), "{text}");
            assert!(!text.contains(&format!("portwatch_netns_dynamic_port_range_start{{netns=\"{inode}\"}}")), "{text}");
        }
        assert!(text.contains("portwatch_netns_dynamic_port_range_start{netns=\"1\"} 40000\n"), "{text}");
        let all_read = Report { netns: vec![report.netns[0].clone()], ..report.clone() };
        let text = render(&all_read, &Meta::default(), Format::Text);
        assert!(!text.contains("portwatch_netns_read_failure_info{"), "nothing failed, no series: {text}");
    }
}
