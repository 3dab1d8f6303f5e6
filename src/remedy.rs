//! The exact commands that take a port out of the dynamic range for good,
//! per OS, and every other piece of OS-specific advice. Pure. The one source
//! of the fixes: `check` prints them filled in, [`alert_fixes`] gives the
//! alert descriptions theirs (rendered into `grafana/mixin/remedies.json`),
//! and [`runbook_commands`] lists what the runbook must show; both are
//! checked against the committed files by `tests/remedy_sources.rs`.

use crate::assess::{PortReport, RangeReport, Report};
use crate::model::{Family, Os, PortRange, PortSet, Protocol, Store};

/// Drop-in name that sorts after 99-sysctl.conf, so its value wins.
pub const DROP_IN: &str = "/etc/sysctl.d/99-zz-portwatch-reserved-ports.conf";
/// Linux: the one list of ports kept out of the dynamic range.
const RESERVED_KEY: &str = "net.ipv4.ip_local_reserved_ports";
/// Linux: the dynamic range.
const RANGE_KEY: &str = "net.ipv4.ip_local_port_range";
/// Linux: applies every sysctl.d file now, as the boot will.
const SYSCTL_APPLY: &str = "sysctl --system";
/// Linux: sets one key now, until the next boot.
const SYSCTL_SET_NOW: &str = "sysctl -w {key}={value}";
/// Windows: a persistent, administered exclusion.
const NETSH_EXCLUDE: &str =
    "netsh int {family} add excludedportrange protocol={protocol} startport={port} numberofports={count} store=persistent";
/// macOS, FreeBSD: move a bound of the range now, and at boot.
const BSD_SET_NOW: &str = "sysctl net.inet.ip.portrange.{key}={value}";
const BSD_SET_AT_BOOT: &str = "echo 'net.inet.ip.portrange.{key}={value}' >> /etc/sysctl.conf";

/// A template with each `{name}` replaced by its value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |t, (k, v)| t.replace(&format!("{{{k}}}"), v))
}

fn netsh_exclude(family: Family, protocol: &str, port: &str) -> String {
    netsh_exclude_n(family, protocol, port, "1")
}

fn netsh_exclude_n(family: Family, protocol: &str, start: &str, count: &str) -> String {
    fill(NETSH_EXCLUDE, &[("family", family.as_str()), ("protocol", protocol), ("port", start), ("count", count)])
}

/// Single ports as one-port pieces.
fn port_pieces(ports: &[&PortReport]) -> Vec<PortRange> {
    ports.iter().map(|p| PortRange { start: p.port, end: p.port }).collect()
}

fn bsd_set(key: &str, value: &str) -> [String; 2] {
    [BSD_SET_NOW, BSD_SET_AT_BOOT].map(|t| fill(t, &[("key", key), ("value", value)]))
}

fn format_set(set: &PortSet) -> String {
    set.ranges()
        .iter()
        .map(|r| if r.start == r.end { r.start.to_string() } else { format!("{}-{}", r.start, r.end) })
        .collect::<Vec<_>>()
        .join(",")
}

/// `ip_local_reserved_ports` is one list and the last assignment wins, so
/// the new value keeps what is already reserved and adds the ports at risk.
pub fn linux(report: &Report, at_risk: &[&PortReport]) -> Vec<String> {
    linux_pieces(report, &port_pieces(at_risk))
}

/// [`linux`] for any pieces of ports: the kernel's list takes ranges.
fn linux_pieces(report: &Report, at_risk: &[PortRange]) -> Vec<String> {
    if at_risk.is_empty() {
        return Vec::new();
    }
    let value = merged_reserved(report, Store::Persistent, at_risk);
    // The drop-in wins only if no line assigning the key is read after it;
    // otherwise the last such line is where the ports must go.
    let last = report.next_boot.as_ref().and_then(|(b, _)| b.last_assigned(crate::parse::kernel_sysctl::PortKey::Reserved));
    match last.filter(|o| applied_after_drop_in(&o.file)) {
        Some(o) => vec![
            format!("# {} line {} is read after any drop-in and would override it: replace that line by", o.file, o.line),
            format!("{RESERVED_KEY} = {value}"),
            SYSCTL_APPLY.to_string(),
        ],
        None => vec![drop_in_line(&value), SYSCTL_APPLY.to_string()],
    }
}

/// The store's reserved list (Linux has one) with `at_risk` added, as the kernel takes it.
fn merged_reserved(report: &Report, store: Store, at_risk: &[PortRange]) -> String {
    let mut ranges: Vec<PortRange> = report
        .ranges
        .get(&(Protocol::Tcp, Family::Ipv4, store))
        .and_then(|v| v.excluded.as_ref())
        .map(|s| s.ranges().to_vec())
        .unwrap_or_default();
    ranges.extend(at_risk.iter().copied());
    format_set(&PortSet::from_ranges(ranges))
}

/// The NodePort range reserved now, until the next boot (the persistent fix
/// is [`for_all`]'s): on Linux one `sysctl -w` that keeps the ports reserved
/// now and adds the range. Elsewhere nothing apart: Windows' persistent
/// exclusion applies at once, macOS and FreeBSD set their bounds now too.
pub fn nodeport_now(os: Os, report: &Report, range: PortRange) -> Vec<String> {
    match os {
        Os::Linux => vec![sysctl_now(&merged_reserved(report, Store::Active, &[range]))],
        Os::Windows | Os::Macos | Os::Freebsd | Os::Other => Vec::new(),
    }
}

fn sysctl_now(value: &str) -> String {
    fill(SYSCTL_SET_NOW, &[("key", RESERVED_KEY), ("value", value)])
}

/// Whether a sysctl file is applied after the drop-in: /etc/sysctl.conf (last
/// for procps), or a file whose name sorts after the drop-in's.
fn applied_after_drop_in(file: &str) -> bool {
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).as_bytes().to_vec();
    file == "/etc/sysctl.conf" || name(file) > name(DROP_IN)
}

/// One netsh line per port and family; the exclusion is per protocol.
pub fn windows(at_risk: &[&PortReport]) -> Vec<String> {
    at_risk.iter().flat_map(|p| Family::ALL.map(|f| netsh_exclude(f, p.protocol.as_str(), &p.port.to_string()))).collect()
}

/// A port inside a block Windows reserved for WinNAT/Hyper-V cannot be
/// bound. Stopping WinNAT releases its blocks; an administered exclusion then
/// keeps the port out of the blocks it reserves when it starts again.
pub fn windows_reserved(ports: &[&PortReport]) -> Vec<String> {
    if ports.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["net stop winnat".to_string()];
    lines.extend(windows(ports));
    lines.push("net start winnat".to_string());
    lines
}

/// macOS and FreeBSD have no reservation list: move one bound of each
/// range that holds ports at risk (the default range, `first`..`last`, and
/// the IP_PORTRANGE_HIGH range, `hifirst`..`hilast`) past those ports, now
/// and in /etc/sysctl.conf (read at boot). The bound that keeps the larger
/// range moves; a range left smaller than 1024 ports is called out.
pub fn bsd(report: &Report, at_risk: &[&PortReport]) -> Vec<String> {
    bsd_pieces(report, &port_pieces(at_risk))
}

/// [`bsd`] for any pieces of ports: the bounds move past all of them.
fn bsd_pieces(report: &Report, at_risk: &[PortRange]) -> Vec<String> {
    if at_risk.is_empty() {
        return Vec::new();
    }
    let view = |store| report.ranges.get(&(Protocol::Tcp, Family::Ipv4, store)).filter(|v| v.range.is_some() || v.high.is_some());
    let Some(v) = view(Store::Persistent).or_else(|| view(Store::Active)) else {
        return vec!["# the dynamic range is unknown: see the sysctl collector's error".to_string()];
    };
    let mut lines = Vec::new();
    for (range, low_key, high_key) in [(v.range, "first", "last"), (v.high, "hifirst", "hilast")] {
        let Some(r) = range else { continue };
        let inside = at_risk.iter().filter(|p| p.start <= r.end && r.start <= p.end);
        let lo = inside.clone().map(|p| p.start.max(r.start)).min();
        let hi = inside.map(|p| p.end.min(r.end)).max();
        let (Some(lo), Some(hi)) = (lo, hi) else { continue };
        // Ports left if the lower bound moves above `hi`, or the upper one below `lo`.
        let above = (hi < r.end).then(|| (u32::from(r.end) - u32::from(hi), low_key, hi + 1));
        let below = (lo > r.start).then(|| (u32::from(lo) - u32::from(r.start), high_key, lo - 1));
        let Some((left, key, value)) = above.into_iter().chain(below).max_by_key(|c| c.0) else {
            lines.push(format!(
                "# no bound of {}-{} can move past ports {lo}-{hi}: move the service to a port outside the range",
                r.start, r.end
            ));
            continue;
        };
        lines.extend(bsd_set(key, &value.to_string()));
        if left < 1024 {
            lines.push(format!("# this leaves only {left} ports in {low_key}-{high_key}: consider moving the service instead"));
        }
    }
    lines
}

/// A warning when reserving the ports at risk would take half or more of the
/// dynamic range (after the next boot, else now): outgoing connections would
/// then run short of source ports.
pub fn range_warning(report: &Report, at_risk: &[&PortReport]) -> Option<String> {
    range_warning_pieces(report, &port_pieces(at_risk))
}

fn range_warning_pieces(report: &Report, at_risk: &[PortRange]) -> Option<String> {
    let view = |store| report.ranges.get(&(Protocol::Tcp, Family::Ipv4, store)).and_then(|v| v.range);
    let r = view(Store::Persistent).or_else(|| view(Store::Active))?;
    let size = u32::from(r.end) - u32::from(r.start) + 1;
    let n = PortSet::from_ranges(at_risk.to_vec()).count_within(r);
    (n * 2 >= size).then(|| {
        format!(
            "# WARNING: this reserves {n} of the {size} ports of the dynamic range {}-{}: outgoing connections may run out of source ports. Move services out of the range, or watch fewer ports, rather than apply it as is",
            r.start, r.end
        )
    })
}

/// The remedy for this OS, led by [`range_warning`] when it would reserve
/// most of the range (macOS and FreeBSD move a bound instead: `bsd` warns).
pub fn for_os(os: Os, report: &Report, at_risk: &[&PortReport]) -> Vec<String> {
    for_all(os, report, at_risk, &[])
}

/// One remedy for the ports and the watched ranges at risk after the next
/// boot together (Linux has one list: two drop-ins would overwrite each
/// other). A range is reserved whole on Linux (the list takes ranges; what
/// is reserved already is kept); on Windows each of its pieces that is not
/// yet excluded gets one netsh line per family (netsh refuses an exclusion
/// that overlaps another); on macOS and FreeBSD the bounds move past its
/// ports at risk.
pub fn for_all(os: Os, report: &Report, ports: &[&PortReport], ranges: &[&RangeReport]) -> Vec<String> {
    let mut risky = port_pieces(ports);
    risky.extend(ranges.iter().flat_map(|r| r.at_risk_next_boot.iter().copied()));
    let (lines, reserves) = match os {
        Os::Windows => {
            let mut lines = windows(ports);
            lines.extend(ranges.iter().flat_map(|r| windows_range(r)));
            (lines, true)
        }
        Os::Linux => {
            let mut pieces = port_pieces(ports);
            pieces.extend(ranges.iter().map(|r| r.range));
            (linux_pieces(report, &pieces), true)
        }
        Os::Macos | Os::Freebsd => (bsd_pieces(report, &risky), false),
        Os::Other => (Vec::new(), false),
    };
    match range_warning_pieces(report, &risky) {
        Some(w) if !lines.is_empty() && reserves => std::iter::once(w).chain(lines).collect(),
        _ => lines,
    }
}

/// netsh lines for a watched range's pieces at risk: a start and a count each, per family.
pub fn windows_range(r: &RangeReport) -> Vec<String> {
    r.at_risk_next_boot
        .iter()
        .flat_map(|p| Family::ALL.map(|f| netsh_exclude_n(f, r.protocol.as_str(), &p.start.to_string(), &p.count().to_string())))
        .collect()
}

/// How to give the exporter the rights to see every socket's owner.
pub fn rights_hint(os: Os) -> &'static str {
    match os {
        Os::Linux => "run as root, or with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE",
        Os::Windows => "run as an administrator, or as a service under LocalSystem",
        Os::Macos | Os::Freebsd | Os::Other => "run as root",
    }
}

/// Prometheus label templates, for the alert descriptions.
const PORT_LABEL: &str = "{{ $labels.port }}";
const PROTOCOL_LABEL: &str = "{{ $labels.protocol }}";

/// The fix for one port at risk, as alert descriptions write it (with
/// Prometheus label templates), per OS, and the WinNAT variant: the content
/// of `grafana/mixin/remedies.json`.
pub fn alert_fixes() -> Vec<(&'static str, String)> {
    let netsh = netsh_exclude(Family::Ipv4, PROTOCOL_LABEL, PORT_LABEL);
    let mut out: Vec<(&'static str, String)> = Os::KNOWN.iter().filter_map(|os| Some((os.as_str(), alert_fix(*os)?))).collect();
    out.extend([
        ("exclude", per_os(alert_fix)),
        ("persist", per_os(|os| alert_fix(os).filter(|_| has_exclusion_list(os)))),
        ("winnat", format!("Run `net stop winnat`, then `{netsh}` so the next block avoids it, then `net start winnat`.")),
        ("sysctlSyntax", SYSCTL_SYNTAX.to_string()),
        ("rangeDrift", per_os(range_fix)),
        ("rangeExclude", per_os(watched_range_fix)),
        (
            "nodeportNow",
            format!("on Linux, `{}` reserves it at once, PORTS being the ports reserved now plus START-END", sysctl_now("PORTS")),
        ),
        ("rights", per_os(|os| Some(rights_hint(os).to_string()))),
    ]);
    out.sort();
    out
}

/// Whether the OS keeps a list of ports out of its dynamic range.
fn has_exclusion_list(os: Os) -> bool {
    matches!(os, Os::Linux | Os::Windows)
}

/// The fix for one port at risk, with Prometheus label templates.
fn alert_fix(os: Os) -> Option<String> {
    match os {
        Os::Linux => {
            Some(format!("add {PORT_LABEL} to {RESERVED_KEY} in {DROP_IN} (keep the ports already listed there) and run `{SYSCTL_APPLY}`"))
        }
        Os::Windows => Some(format!("`{}` (and the same for ipv6)", netsh_exclude(Family::Ipv4, PROTOCOL_LABEL, PORT_LABEL))),
        Os::Macos | Os::Freebsd => {
            let [now, at_boot] = bsd_set("first", "N");
            Some(format!(
                "`{now}` and `{at_boot}` with N one above {PORT_LABEL} (or move `last` below it, whichever leaves the larger range: there is no exclusion list)"
            ))
        }
        Os::Other => None,
    }
}

/// The fix for a watched range at risk, with Prometheus label templates
/// (the bounds are values, not labels: START and END stand for them).
fn watched_range_fix(os: Os) -> Option<String> {
    match os {
        Os::Linux => Some(format!(
            "add the range START-END to {RESERVED_KEY} in {DROP_IN} (keep the ports already listed there; the list takes ranges) and run `{SYSCTL_APPLY}`"
        )),
        Os::Windows => Some(format!(
            "`{}` for each piece of the range not yet excluded, N its number of ports (and the same for ipv6)",
            netsh_exclude_n(Family::Ipv4, PROTOCOL_LABEL, "S", "N")
        )),
        Os::Macos | Os::Freebsd => {
            let [now, at_boot] = bsd_set("first", "N");
            Some(format!("`{now}` and `{at_boot}` with N one above END (or move `last` below START, whichever leaves the larger range)"))
        }
        Os::Other => None,
    }
}

/// How to make the active dynamic range the one the next boot applies.
fn range_fix(os: Os) -> Option<String> {
    match os {
        Os::Linux => Some(format!("set {RANGE_KEY} in /etc/sysctl.d and run `{SYSCTL_APPLY}`")),
        Os::Windows => Some("`netsh int ipv4 set dynamicport tcp start=N num=M` (it is persistent)".to_string()),
        Os::Macos | Os::Freebsd => Some("set net.inet.ip.portrange.first and last in /etc/sysctl.conf".to_string()),
        Os::Other => None,
    }
}

/// "on Linux, A; on Windows, B; on macOS and FreeBSD, C": one clause per
/// distinct text, over every known OS, so a new OS reaches every alert.
fn per_os(text: impl Fn(Os) -> Option<String>) -> String {
    let mut clauses: Vec<(Vec<&str>, String)> = Vec::new();
    for os in Os::KNOWN {
        let Some(t) = text(os) else { continue };
        match clauses.iter_mut().find(|(_, c)| *c == t) {
            Some((names, _)) => names.push(os.display_name()),
            None => clauses.push((vec![os.display_name()], t)),
        }
    }
    let clause = |(names, t): &(Vec<&str>, String)| {
        let who = match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        format!("on {who}, {t}")
    };
    clauses.iter().map(clause).collect::<Vec<_>>().join("; ")
}

/// Whole command lines as `check` prints them, with PORT (and PORTS: the
/// ports already reserved plus PORT) for the port: the runbook shows each.
pub fn runbook_commands(os: Os) -> Vec<String> {
    match os {
        Os::Linux => vec![drop_in_line("PORTS"), SYSCTL_APPLY.to_string(), sysctl_now("PORTS")],
        Os::Windows => vec![
            netsh_exclude(Family::Ipv4, "tcp", "PORT"),
            "net stop winnat".into(),
            "net start winnat".into(),
            netsh_exclude_n(Family::Ipv4, "tcp", "START", "COUNT"),
        ],
        Os::Macos | Os::Freebsd => bsd_set("first", "PORT+1").to_vec(),
        Os::Other => Vec::new(),
    }
}

/// The drop-in that reserves `value` for good.
fn drop_in_line(value: &str) -> String {
    format!("echo '{RESERVED_KEY} = {value}' > {DROP_IN}")
}

/// How the kernel wants the port sysctls written, for people fixing a refused line.
pub const SYSCTL_SYNTAX: &str = "net.ipv4.ip_local_reserved_ports takes ports and ranges separated by commas, with no spaces \
(8080,9000-9010); net.ipv4.ip_local_port_range takes two numbers, low first, the low one not below \
net.ipv4.ip_unprivileged_port_start (which must be 0-65535).";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RangeView;
    use std::collections::BTreeMap;

    fn port(n: u16) -> PortReport {
        PortReport::blank(&format!("p{n}"), n)
    }

    #[test]
    fn linux_remedy_keeps_existing_reservations() {
        let mut ranges = BTreeMap::new();
        let existing = crate::parse::sysctl::parse_reserved_ports("30000-32767,5433").expect("ok");
        ranges.insert(
            (Protocol::Tcp, Family::Ipv4, Store::Persistent),
            RangeView { range: None, excluded: Some(existing), system_excluded: None, high: None },
        );
        let report = Report { ranges, socket_info_limit: 10, ..Report::default() };
        let (a, b) = (port(5432), port(1433));
        let lines = linux(&report, &[&a, &b]);
        assert_eq!(lines[0], format!("echo 'net.ipv4.ip_local_reserved_ports = 1433,5432-5433,30000-32767' > {DROP_IN}"));
        assert_eq!(lines[1], "sysctl --system");
        assert!(linux(&report, &[]).is_empty());
    }

    fn with_range(start: u16, end: u16, high: Option<(u16, u16)>) -> Report {
        let mut ranges = BTreeMap::new();
        let view = RangeView {
            range: Some(PortRange { start, end }),
            excluded: Some(PortSet::default()),
            system_excluded: None,
            high: high.map(|(start, end)| PortRange { start, end }),
        };
        ranges.insert((Protocol::Tcp, Family::Ipv4, Store::Persistent), view);
        Report { ranges, socket_info_limit: 10, ..Report::default() }
    }

    #[test]
    fn bsd_remedy_moves_the_bound_that_keeps_the_larger_range() {
        let report = with_range(49152, 65535, None);
        let (a, b) = (port(50000), port(49500));
        assert_eq!(
            bsd(&report, &[&a, &b]),
            vec!["sysctl net.inet.ip.portrange.first=50001", "echo 'net.inet.ip.portrange.first=50001' >> /etc/sysctl.conf"]
        );
        let c = port(65000);
        let lines = bsd(&report, &[&c]);
        assert_eq!(lines[0], "sysctl net.inet.ip.portrange.last=64999", "moving first would leave 535 ports");
        assert_eq!(lines.len(), 2);
        let small = with_range(10000, 10999, None);
        let d = port(10500);
        let lines = bsd(&small, &[&d]);
        assert_eq!(lines[0], "sysctl net.inet.ip.portrange.last=10499");
        assert!(lines[2].contains("only 500 ports in first-last"), "{lines:?}");
        let (e, f) = (port(10000), port(10999));
        assert!(bsd(&small, &[&e, &f])[0].starts_with("# no bound"), "ports at both ends");
        assert!(bsd(&Report::default(), &[&d])[0].starts_with("# the dynamic range is unknown"));
        assert!(bsd(&report, &[]).is_empty());
        assert_eq!(for_os(Os::Freebsd, &report, &[&a]), for_os(Os::Macos, &report, &[&a]));
    }

    #[test]
    fn bsd_remedy_moves_the_high_range_too_when_it_holds_the_port() {
        // FreeBSD's defaults: first..last 10000-65535, hifirst..hilast 49152-65535.
        let report = with_range(10000, 65535, Some((49152, 65535)));
        let p = port(50000);
        assert_eq!(
            bsd(&report, &[&p]),
            vec![
                "sysctl net.inet.ip.portrange.last=49999",
                "echo 'net.inet.ip.portrange.last=49999' >> /etc/sysctl.conf",
                "sysctl net.inet.ip.portrange.hifirst=50001",
                "echo 'net.inet.ip.portrange.hifirst=50001' >> /etc/sysctl.conf",
            ]
        );
        let low = port(20000);
        assert_eq!(bsd(&report, &[&low]).len(), 2, "only the default range holds 20000");
    }

    #[test]
    fn a_remedy_reserving_most_of_the_range_says_so() {
        let report = with_range(60000, 60999, None);
        for n in [1u16, 10, 499, 500, 1000] {
            let ports: Vec<PortReport> = (0..n).map(|i| port(60000 + i)).collect();
            let refs: Vec<&PortReport> = ports.iter().collect();
            let lines = for_os(Os::Linux, &report, &refs);
            let warned = lines[0].starts_with("# WARNING") && lines[0].contains(&format!("reserves {n} of the 1000 ports"));
            assert_eq!(warned, n >= 500, "{n} ports: {:?}", &lines[0]);
            assert_eq!(for_os(Os::Windows, &report, &refs)[0].starts_with("# WARNING"), n >= 500);
            assert!(lines.iter().any(|l| l.contains("ip_local_reserved_ports")), "the remedy itself still follows");
        }
        // Ports outside the range do not count; an unknown range gives no warning.
        let outside: Vec<PortReport> = (0..900).map(|i| port(1000 + i)).collect();
        assert!(range_warning(&report, &outside.iter().collect::<Vec<_>>()).is_none());
        assert!(range_warning(&Report::default(), &[&port(60000)]).is_none());
    }

    #[test]
    fn windows_remedy_is_the_netsh_line() {
        let p = port(1433);
        assert_eq!(windows(&[&p])[0], "netsh int ipv4 add excludedportrange protocol=tcp startport=1433 numberofports=1 store=persistent");
        let r = windows_reserved(&[&p]);
        assert_eq!((r[0].as_str(), r[3].as_str(), r.len()), ("net stop winnat", "net start winnat", 4));
        assert_eq!(r[1], windows(&[&p])[0]);
        assert!(windows_reserved(&[]).is_empty());
    }
}
