//! `portwatch_exporter check`: one scrape rendered as a table for a person,
//! with the remedy for every port at risk. Replaces the netstat runbook.

use crate::assess::{Holder, PortReport, RangeReport, Report, Verdict};
use crate::model::{collector_ok, CollectorName, Os, Store};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Exit codes.
pub const OK: i32 = 0;
pub const PROBLEM: i32 = 1;
pub const CANNOT_RUN: i32 = 2;

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// Holders shown in full before the rest is summarised.
const FULL: usize = 3;
/// (owner, state) groups named in the summary of the rest.
const GROUPS: usize = 3;
/// Longest name, process or user shown, in characters.
const NAME_MAX: usize = 64;

/// A name for a terminal: control characters escaped (`\n`, `\u{1b}`), at
/// most NAME_MAX characters (a longer one ends in `…`).
fn clean(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == NAME_MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn owner(h: &Holder) -> String {
    match (&h.pid, &h.process) {
        (Some(pid), Some(p)) => format!("{pid}/{} ({})", clean(&p.name), clean(p.user.as_deref().unwrap_or("?"))),
        (Some(pid), None) => format!("{pid}/?"),
        _ => "(no process)".into(),
    }
}

fn times(n: usize) -> String {
    if n > 1 {
        format!(" x{n}")
    } else {
        String::new()
    }
}

/// The first FULL holders in full, then the rest as counts per owner and
/// state (the GROUPS largest named): bounded whatever the port carries.
fn holders(p: &PortReport) -> String {
    if p.holders.is_empty() {
        return "-".into();
    }
    let mut parts: Vec<String> = p
        .holders
        .iter()
        .take(FULL)
        .map(|h| {
            let addr = if h.address.is_ipv6() { format!("[{}]", h.address) } else { h.address.to_string() };
            format!("{} {} {addr}{}{}", owner(h), h.state, times(h.sockets), if h.expected { "" } else { " [other]" })
        })
        .collect();
    let rest = p.holders.get(FULL..).unwrap_or_default();
    if !rest.is_empty() {
        let mut groups: BTreeMap<(String, &str), usize> = BTreeMap::new();
        for h in rest {
            *groups.entry((owner(h), h.state.as_str())).or_default() += h.sockets;
        }
        let total: usize = groups.values().sum();
        let mut by_size: Vec<_> = groups.into_iter().collect();
        by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let named: Vec<String> = by_size.iter().take(GROUPS).map(|((who, state), n)| format!("{who} {state}{}", times(*n))).collect();
        let more = by_size.len().saturating_sub(GROUPS);
        let tail = if more > 0 { format!(", {more} more owner/state groups") } else { String::new() };
        parts.push(format!("and {total} more: {}{tail}", named.join(", ")));
    }
    parts.join("; ")
}

/// `cell` left-aligned in `width` characters; never a formatter width, so
/// no length can overflow it.
fn pad(out: &mut String, cell: &str, width: usize) {
    out.push_str(cell);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
}

/// The report as text, and the exit code it calls for.
pub fn render(report: &Report, os: Os) -> (String, i32) {
    let mut out = String::new();
    let header = ["NAME", "PORT", "PROTO", "STATE", "IN RANGE", "EXCLUDED NOW", "EXCLUDED AFTER REBOOT", "HOLDERS"];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for p in &report.ports {
        let state = match (p.bound_by_expected, p.held_by_other(), p.reserved_by_system) {
            _ if p.unknown(Verdict::Holders) => "UNKNOWN",
            (_, true, _) => "HELD BY OTHER",
            (_, false, Some(true)) => "RESERVED BY SYSTEM",
            (true, false, _) => "expected",
            (false, false, _) if p.unknown(Verdict::Owners) => "HELD, OWNER HIDDEN",
            (false, false, _) if p.learned.is_some() && !p.bound() => "LEARNED OWNER MISSING",
            (false, false, _) => "free",
        };
        rows.push([
            clean(&p.name),
            p.port.to_string(),
            p.protocol.to_string(),
            state.into(),
            yes_no(p.in_range.get(&Store::Active).copied()).into(),
            yes_no(p.excluded.get(&Store::Active).copied()).into(),
            yes_no(p.excluded.get(&Store::Persistent).copied()).into(),
            holders(p),
        ]);
    }
    write_table(&mut out, &rows);
    ranges_table(&mut out, &report.watched_ranges);
    let nodeport_now = nodeport_lines(&mut out, report, os);
    let failed: Vec<&str> = report.collectors.iter().filter(|c| !c.success).map(|c| c.name.as_str()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nwarning: collectors failed: {} (run with --log.level=debug for details)", failed.join(", "));
    }
    // A failed owners collector is its own warning above, not a rights problem; a disabled one says nothing of rights.
    let owners_ran = collector_ok(&report.collectors, CollectorName::Owners) == Some(true);
    if !report.owners_resolvable && owners_ran {
        let _ = writeln!(out, "\nwarning: owners are not resolvable: {}", crate::remedy::rights_hint(os));
    }
    let others: Vec<&PortReport> = report.ports.iter().filter(|p| p.held_by_other()).collect();
    let at_risk: Vec<&PortReport> = report.ports.iter().filter(|p| p.reboot_risk() == Some(true)).collect();
    if !others.is_empty() {
        let _ = writeln!(out);
    }
    for p in &others {
        let before = p
            .learned
            .as_ref()
            .map(|o| format!(" (before: {}, as learned)", clean(&crate::baseline::learner::describe(o))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} ({}/{}) is held by another owner{before}: stop that process or move it to another port.",
            clean(&p.name),
            p.protocol,
            p.port
        );
    }
    let missing: Vec<&PortReport> =
        report.ports.iter().filter(|p| p.learned.is_some() && !p.bound() && !p.unknown(Verdict::Holders)).collect();
    if !missing.is_empty() {
        let _ = writeln!(out);
    }
    for p in &missing {
        let who = p.learned.as_ref().map(crate::baseline::learner::describe).unwrap_or_default();
        let _ = writeln!(out, "{}/{}: learned owner missing, nobody holds it (before: {}).", p.protocol, p.port, clean(&who));
    }
    let range_others: Vec<&RangeReport> =
        report.watched_ranges.iter().filter(|r| r.held_by_other > 0 && !r.unknown(Verdict::Holders)).collect();
    for r in &range_others {
        let _ = writeln!(out, "\n{}", range_offenders(r));
    }
    // The NodePort range joins the watched ranges' remedy: Linux has one reserved list, so one drop-in.
    let range_risk: Vec<&RangeReport> = report
        .watched_ranges
        .iter()
        .chain(&report.nodeport)
        .filter(|r| r.stores.get(&Store::Persistent).is_some_and(|c| c.at_risk > 0))
        .collect();
    let reserved: Vec<&PortReport> = report.ports.iter().filter(|p| p.reserved_by_system == Some(true)).collect();
    if !reserved.is_empty() {
        let names: Vec<String> = reserved.iter().map(|p| format!("{}/{}", p.protocol, p.port)).collect();
        let _ = writeln!(
            out,
            "\nReserved by Windows (WinNAT/Hyper-V), so binding fails with 10013 even though nothing listens: {}\nRemedy:",
            names.join(", ")
        );
        for line in crate::remedy::windows_reserved(&reserved) {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !at_risk.is_empty() || !range_risk.is_empty() {
        let mut names: Vec<String> = at_risk.iter().map(|p| format!("{}/{}", p.protocol, p.port)).collect();
        names.extend(range_risk.iter().map(|r| {
            let n = r.stores.get(&Store::Persistent).map_or(0, |c| c.at_risk);
            format!("{}/{}-{} ({}: {n} of its {} ports)", r.protocol, r.range.start, r.range.end, clean(&r.name), r.range.count())
        }));
        let _ = writeln!(out, "\nAt risk after the next reboot (inside the dynamic range, not excluded): {}\nRemedy:", names.join(", "));
        for line in crate::remedy::for_all(os, report, &at_risk, &range_risk) {
            let _ = writeln!(out, "  {line}");
        }
    }
    next_boot_findings(&mut out, report);
    busy_destinations(&mut out, report);
    let unknown = cannot_tell(&mut out, report);
    let sockets_ok = collector_ok(&report.collectors, CollectorName::Sockets) == Some(true);
    let code = if !sockets_ok {
        CANNOT_RUN
    } else if !others.is_empty()
        || !at_risk.is_empty()
        || !reserved.is_empty()
        || !range_others.is_empty()
        || !range_risk.is_empty()
        || nodeport_now
    {
        PROBLEM
    } else if unknown {
        CANNOT_RUN
    } else {
        OK
    };
    if code == OK {
        let _ = writeln!(out, "\nAll watched ports are fine.");
    }
    (out, code)
}

/// Share of the ports available above which `check` names a destination (as the alert's default).
const DESTINATION_SHARE: f64 = 0.8;

/// The top destinations that take most of the ports the range leaves them
/// (in use + TIME_WAIT); informational: the exit code is about watched ports.
fn busy_destinations(out: &mut String, report: &Report) {
    let Some(d) = &report.destinations else { return };
    let mut any = false;
    for l in &d.top {
        let t = &l.destination;
        let Some(available) = report.dynamic_available.get(&(t.protocol, t.family)).copied().filter(|a| *a > 0) else { continue };
        let share = l.taken() as f64 / f64::from(available);
        if share <= DESTINATION_SHARE {
            continue;
        }
        if !any {
            let _ = writeln!(
                out,
                "
Destinations near ephemeral port exhaustion (new connections to them fail with EADDRNOTAVAIL):"
            );
            any = true;
        }
        let addr = match t.address {
            std::net::IpAddr::V6(a) => format!("[{a}]"),
            v4 => v4.to_string(),
        };
        let _ = writeln!(
            out,
            "  {addr}:{} ({}/{}): {} in use + {} TIME_WAIT of {available} ports ({:.0}%)",
            t.port,
            t.protocol,
            t.family.as_str(),
            l.in_use,
            l.time_wait,
            share * 100.0
        );
    }
    if any {
        let _ = writeln!(
            out,
            "  Fix: reuse connections (keep-alive, pools), spread over more destination addresses or ports, widen the range, or set net.ipv4.tcp_tw_reuse=1 (runbook: PortwatchDestinationPortsNearlyExhausted)."
        );
    }
}

/// A count, or `?` when it cannot be given.
fn count(v: Option<u32>) -> String {
    v.map_or_else(|| "?".to_string(), |n| n.to_string())
}

/// The watched ranges, one row each: counts, never a row per port.
fn ranges_table(out: &mut String, ranges: &[RangeReport]) {
    if ranges.is_empty() {
        return;
    }
    let header = ["RANGE", "PORTS", "PROTO", "IN RANGE NOW", "EXCLUDED NOW", "AT RISK NOW", "AT RISK AFTER REBOOT", "EXPECTED", "OTHER"];
    let mut rows: Vec<[String; 9]> = vec![header.map(String::from)];
    for r in ranges {
        let store = |s: Store, f: fn(&crate::assess::RangeCounts) -> u32| count(r.stores.get(&s).map(f));
        let owners_known = !r.unknown(Verdict::Holders) && !r.unknown(Verdict::Owners);
        rows.push([
            clean(&r.name),
            format!("{}-{}", r.range.start, r.range.end),
            r.protocol.to_string(),
            store(Store::Active, |c| c.in_dynamic),
            store(Store::Active, |c| c.excluded),
            store(Store::Active, |c| c.at_risk),
            store(Store::Persistent, |c| c.at_risk),
            count(owners_known.then_some(r.held_by_expected)),
            count(owners_known.then_some(r.held_by_other)),
        ]);
    }
    let _ = writeln!(out);
    write_table(out, &rows);
}

/// Rows as columns two spaces apart, each as wide as its widest cell
/// (counted in characters, padded by `pad`, never a formatter width).
fn write_table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            pad(&mut line, c, *w);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The NodePort range (the `nodeport` collector) against the dynamic range,
/// per protocol, now and after the next boot, and the fix for now when it is
/// at risk now (the fix for the next boot joins the other ranges' remedy).
/// True when it is at risk now.
fn nodeport_lines(out: &mut String, report: &Report, os: Os) -> bool {
    let Some(first) = report.nodeport.first() else { return false };
    let (s, e) = (first.range.start, first.range.end);
    let _ = writeln!(out, "\nNodePort range {s}-{e} (--collector.nodeport.range) against the dynamic range:");
    for r in &report.nodeport {
        let store = |st: Store| {
            let c = r.stores.get(&st);
            format!(
                "{} in the dynamic range, {} reserved, {} at risk",
                count(c.map(|c| c.in_dynamic)),
                count(c.map(|c| c.excluded)),
                count(c.map(|c| c.at_risk))
            )
        };
        let _ = writeln!(out, "  {}: now {}; after the next reboot {}", r.protocol, store(Store::Active), store(Store::Persistent));
    }
    let now = report.nodeport.iter().any(|r| r.stores.get(&Store::Active).is_some_and(|c| c.at_risk > 0));
    let fix = crate::remedy::nodeport_now(os, report, first.range);
    if now && !fix.is_empty() {
        let _ = writeln!(out, "  At risk now: a client may be handed a NodePort as its source port. Remedy now (until the next boot):");
        for line in fix {
            let _ = writeln!(out, "    {line}");
        }
    }
    now
}

/// "NAME (tcp/S-E): N ports held by another owner: first ...".
fn range_offenders(r: &RangeReport) -> String {
    let first: Vec<String> = r
        .offenders
        .iter()
        .map(|o| {
            let who = match (&o.pid, &o.process) {
                (Some(pid), Some(name)) => format!("{pid}/{}", clean(name)),
                (Some(pid), None) => format!("{pid}/?"),
                _ => "(no process)".into(),
            };
            format!("{} {who} {}{}", o.port, o.state, times(o.sockets))
        })
        .collect();
    let more = if r.offenders_omitted > 0 { format!(", and {} more", r.offenders_omitted) } else { String::new() };
    format!(
        "{} ({}/{}-{}): {} of its ports held by another owner: {}{more}. Stop those processes or move them out of the range.",
        clean(&r.name),
        r.protocol,
        r.range.start,
        r.range.end,
        r.held_by_other,
        if first.is_empty() { "-".to_string() } else { first.join("; ") }
    )
}

/// Lines of sysctl.d that the next boot skips or the kernel will refuse.
fn next_boot_findings(out: &mut String, report: &Report) {
    let Some((boot, why)) = &report.next_boot else { return };
    if boot.rejected.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nThe next boot (modelled as {}: {why}) will not apply these settings:", boot.applier.as_str());
    for r in &boot.rejected {
        let _ = writeln!(out, "  {r}");
    }
    let _ = writeln!(out, "  Fix: {} Then check again with `portwatch_exporter check`.", crate::remedy::SYSCTL_SYNTAX);
}

/// The verdicts that cannot be given; true when there is any.
fn cannot_tell(out: &mut String, report: &Report) -> bool {
    let mut any = false;
    for p in &report.ports {
        for u in &p.unknown {
            if !any {
                let _ = writeln!(out, "\nCannot tell (no all-clear is given for these):");
                any = true;
            }
            let _ = writeln!(out, "  {} ({}/{}): {}: {}", p.name, p.protocol, p.port, u.verdict.describe(), u.reason);
        }
    }
    for r in report.watched_ranges.iter().chain(&report.nodeport) {
        for u in &r.unknown {
            if !any {
                let _ = writeln!(out, "\nCannot tell (no all-clear is given for these):");
                any = true;
            }
            let _ =
                writeln!(out, "  {} ({}/{}-{}): {}: {}", r.name, r.protocol, r.range.start, r.range.end, u.verdict.describe(), u.reason);
        }
    }
    if let Some((boot, _)) = &report.next_boot {
        for u in &boot.unknown {
            let _ = writeln!(out, "  next boot: {u}");
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CollectorStatus;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn port(name: &str, n: u16, reserved: Option<bool>) -> PortReport {
        PortReport {
            in_range: BTreeMap::from([(Store::Active, false)]),
            excluded: BTreeMap::from([(Store::Active, true), (Store::Persistent, true)]),
            reserved_by_system: reserved,
            ..PortReport::blank(name, n)
        }
    }

    fn report(ports: Vec<PortReport>) -> Report {
        let sockets = CollectorStatus { name: CollectorName::Sockets, success: true, duration: Duration::ZERO };
        Report { ports, owners_resolvable: true, collectors: vec![sockets], socket_info_limit: 10, ..Report::default() }
    }

    /// A NodePort-style range, half of it inside the next boot's dynamic
    /// range with a piece reserved, plus a single port at risk.
    fn with_range() -> Report {
        use crate::assess::{Offender, RangeCounts, RangeReport};
        use crate::model::{Family, PortRange, PortSet, Protocol, RangeView};
        let mut r = report(vec![PortReport {
            in_range: BTreeMap::from([(Store::Active, true), (Store::Persistent, true)]),
            excluded: BTreeMap::from([(Store::Active, false), (Store::Persistent, false)]),
            ..PortReport::blank("mssql", 1433)
        }]);
        let excluded = PortSet::from_ranges(vec![PortRange { start: 31000, end: 31099 }, PortRange { start: 5000, end: 5000 }]);
        let view =
            RangeView { range: Some(PortRange { start: 1024, end: 65535 }), excluded: Some(excluded), system_excluded: None, high: None };
        for f in Family::ALL {
            r.ranges.insert((Protocol::Tcp, f, Store::Persistent), view.clone());
        }
        let counts = RangeCounts { in_dynamic: 2768, excluded: 100, at_risk: 2668 };
        r.watched_ranges.push(RangeReport {
            name: "nodeports".into(),
            protocol: Protocol::Tcp,
            range: PortRange { start: 30000, end: 32767 },
            stores: BTreeMap::from([(Store::Active, counts), (Store::Persistent, counts)]),
            bound: 3,
            held_by_expected: 2,
            held_by_other: 1,
            offenders: vec![Offender { port: 30080, state: "established".into(), pid: Some(77), process: Some("curl".into()), sockets: 1 }],
            offenders_omitted: 2,
            at_risk_next_boot: vec![PortRange { start: 30000, end: 30999 }, PortRange { start: 31100, end: 32767 }],
            unknown: vec![],
        });
        r
    }

    #[test]
    fn a_range_at_risk_gets_one_remedy_for_the_whole_range() {
        let report = with_range();
        let (text, code) = render(&report, Os::Linux);
        assert_eq!(code, PROBLEM, "{text}");
        assert!(text.lines().any(|l| l.starts_with("nodeports") && l.contains("30000-32767") && l.contains("2668")), "{text}");
        assert!(text.contains("tcp/30000-32767 (nodeports: 2668 of its 2768 ports)"), "{text}");
        assert!(text.contains("1 of its ports held by another owner: 30080 77/curl established, and 2 more."), "{text}");
        // One drop-in for the single port and the range, keeping what is reserved.
        let drop_ins: Vec<&str> = text.lines().filter(|l| l.contains("ip_local_reserved_ports =")).collect();
        assert_eq!(
            drop_ins,
            vec![format!("  echo 'net.ipv4.ip_local_reserved_ports = 1433,5000,30000-32767' > {}", crate::remedy::DROP_IN)]
        );
        let (win, _) = render(&report, Os::Windows);
        for (start, n) in [(30000, 1000), (31100, 1668)] {
            for fam in ["ipv4", "ipv6"] {
                let line =
                    format!("netsh int {fam} add excludedportrange protocol=tcp startport={start} numberofports={n} store=persistent");
                assert!(win.contains(&line), "{line}\n{win}");
            }
        }
        assert!(!win.contains("startport=31000"), "the reserved piece is not excluded twice: {win}");
        let (bsd, _) = render(&report, Os::Freebsd);
        assert!(bsd.contains("sysctl net.inet.ip.portrange.first=32768"), "the bound moves past the whole range: {bsd}");
        // Nothing at risk and no offender: the range is fine.
        let mut fine = with_range();
        fine.ports.clear();
        fine.watched_ranges[0].stores.clear();
        fine.watched_ranges[0].held_by_other = 0;
        fine.watched_ranges[0].unknown =
            vec![crate::assess::Unknown { verdict: Verdict::NextBoot, reason: "the sysctld collector is disabled".into() }];
        let (text, code) = render(&fine, Os::Linux);
        assert_eq!(code, CANNOT_RUN, "an unknown next boot gives no all-clear: {text}");
        assert!(text.contains("nodeports (tcp/30000-32767): whether it will be in the dynamic range"), "{text}");
    }

    #[test]
    fn a_port_windows_reserved_is_a_problem_with_the_winnat_remedy() {
        let (text, code) = render(&report(vec![port("mssql", 1433, Some(true)), port("web", 8080, Some(false))]), Os::Windows);
        assert_eq!(code, PROBLEM, "{text}");
        assert!(text.lines().any(|l| l.starts_with("mssql") && l.contains("RESERVED BY SYSTEM")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("web") && l.contains("free")), "{text}");
        assert!(
            text.contains("Reserved by Windows (WinNAT/Hyper-V), so binding fails with 10013 even though nothing listens: tcp/1433"),
            "{text}"
        );
        let remedy: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("Reserved by Windows")).skip(2).map(str::trim).collect();
        assert_eq!(remedy.first(), Some(&"net stop winnat"), "{text}");
        assert!(remedy.contains(&"netsh int ipv4 add excludedportrange protocol=tcp startport=1433 numberofports=1 store=persistent"));
        assert!(remedy.contains(&"net start winnat"));
    }

    #[test]
    fn without_system_reservations_all_is_well() {
        let (text, code) = render(&report(vec![port("web", 8080, Some(false)), port("db", 5432, None)]), Os::Linux);
        assert_eq!(code, OK, "{text}");
        assert!(text.contains("All watched ports are fine.") && !text.contains("Reserved by Windows"), "{text}");
    }

    fn holder(pid: u32, name: &str, state: &str, sockets: usize) -> Holder {
        Holder {
            family: crate::model::Family::Ipv4,
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            state: state.into(),
            pid: Some(pid),
            process: Some(crate::model::Process { name: name.into(), user: Some("root".into()), ..Default::default() }),
            expected: true,
            sockets,
        }
    }

    #[test]
    fn a_busy_port_gets_a_bounded_summary_not_a_panic() {
        for n in [1usize, 4, 1_500, 70_000] {
            let mut p = port("web", 443, None);
            p.holders =
                (0..n as u32).map(|i| holder(100 + i % 7, "nginx", if i % 2 == 0 { "established" } else { "time_wait" }, 1)).collect();
            p.sockets = n;
            p.bound_by_expected = true;
            let (text, _) = render(&report(vec![p]), Os::Linux);
            let row = text.lines().find(|l| l.starts_with("web")).unwrap_or_else(|| panic!("{text}"));
            assert!(row.chars().count() < 1_000, "{n} holders: a row of {} characters", row.chars().count());
            assert!(row.contains("100/nginx (root) established"), "{row}");
            if n > FULL {
                assert!(row.contains(&format!("and {} more", n - FULL)), "{row}");
            }
        }
    }

    #[test]
    fn only_destinations_above_the_share_are_named_and_the_exit_code_stays() {
        use crate::model::{Destination, DestinationLoad, Destinations, Family, Protocol};
        let load = |addr: &str, in_use, time_wait| DestinationLoad {
            destination: Destination {
                protocol: Protocol::Tcp,
                family: if addr.contains(':') { Family::Ipv6 } else { Family::Ipv4 },
                address: addr.parse().expect("ip"),
                port: 443,
            },
            in_use,
            time_wait,
        };
        let mut r = report(vec![port("web", 80, None)]);
        r.dynamic_available = BTreeMap::from([((Protocol::Tcp, Family::Ipv4), 1000), ((Protocol::Tcp, Family::Ipv6), 2000)]);
        let (quiet, code) = render(&r, Os::Linux);
        r.destinations = Some(Destinations {
            top: vec![load("10.0.0.5", 600, 250), load("fd00::1", 900, 0), load("10.0.0.6", 800, 0)],
            ..Destinations::default()
        });
        let (text, code2) = render(&r, Os::Linux);
        assert_eq!(code, code2, "informational only");
        assert!(!quiet.contains("Destinations near"), "{quiet}");
        assert!(text.contains("  10.0.0.5:443 (tcp/ipv4): 600 in use + 250 TIME_WAIT of 1000 ports (85%)"), "{text}");
        assert!(!text.contains("fd00::1") && !text.contains("10.0.0.6"), "45% of the IPv6 range, and exactly 80%, are not named: {text}");
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        let mut p = port("we\nb\u{1b}[31m", 80, None);
        p.holders = vec![holder(5, "evil\r\nname\u{7}", "listen", 2)];
        let (text, _) = render(&report(vec![p]), Os::Linux);
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("we\\nb\\u{1b}[31m") && text.contains("5/evil\\r\\nname\\u{7} (root) listen 127.0.0.1 x2"), "{text}");
        let long = "x".repeat(100_000);
        let (text, _) = render(&report(vec![port(&long, 81, None)]), Os::Linux);
        assert!(text.lines().all(|l| l.chars().count() < 1_000), "a long name is cut");
    }

    /// The NodePort range at risk now only: its counts per protocol, the
    /// `sysctl -w` that keeps what is reserved now and adds the range, no
    /// drop-in (the next boot already reserves it), exit 1; reserved now too: fine.
    #[test]
    fn nodeport_at_risk_now_gets_sysctl_w_and_no_drop_in() {
        use crate::model::{PortRange, PortSet, RangeView, Snapshot};
        let view = |excluded: Vec<PortRange>| RangeView {
            range: Some(PortRange { start: 1024, end: 65535 }),
            excluded: Some(PortSet::from_ranges(excluded)),
            system_excluded: None,
            high: None,
        };
        let nodeport = PortRange { start: 30000, end: 32767 };
        let mut snap = Snapshot::default();
        snap.set_range_everywhere(Store::Active, view(vec![PortRange { start: 8080, end: 8081 }]));
        snap.set_range_everywhere(Store::Persistent, view(vec![nodeport]));
        let mut r = report(vec![]);
        r.ranges = snap.ranges.clone();
        r.nodeport = crate::assess::ranges::assess_nodeport(nodeport, &snap);
        let (text, code) = render(&r, Os::Linux);
        assert_eq!(code, PROBLEM, "{text}");
        assert!(text.contains("NodePort range 30000-32767 (--collector.nodeport.range)"), "{text}");
        let now = "now 2768 in the dynamic range, 0 reserved, 2768 at risk; after the next reboot 2768 in the dynamic range, 2768 reserved, 0 at risk";
        assert!(text.contains(&format!("tcp: {now}")) && text.contains(&format!("udp: {now}")), "{text}");
        assert!(text.contains("    sysctl -w net.ipv4.ip_local_reserved_ports=8080-8081,30000-32767\n"), "{text}");
        assert!(!text.contains("echo '"), "nothing at risk after the reboot: {text}");

        snap.set_range_everywhere(Store::Active, view(vec![nodeport]));
        r.ranges = snap.ranges.clone();
        r.nodeport = crate::assess::ranges::assess_nodeport(nodeport, &snap);
        let (text, code) = render(&r, Os::Linux);
        assert_eq!(code, OK, "{text}");
        assert!(!text.contains("sysctl -w"), "{text}");
    }
}
