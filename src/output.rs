//! `check`'s outputs for machines: JSON for scripts, and the atomic write of
//! the textfile for node_exporter's textfile collector (the text exposition
//! itself is `metrics::render` in the text format). Pure but for that write.

use crate::assess::{PortReport, RangeReport, Report, Verdict};
use crate::model::{collector_ok, CollectorName, Store};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::path::Path;

fn stores(m: &std::collections::BTreeMap<Store, bool>) -> Value {
    let get = |s: Store| m.get(&s).map_or(Value::Null, |v| Value::Bool(*v));
    json!({ "now": get(Store::Active), "after_reboot": get(Store::Persistent) })
}

fn port(p: &PortReport) -> Value {
    let holders: Vec<Value> = p
        .holders
        .iter()
        .map(|h| {
            let proc_ = h.process.as_ref();
            json!({
                "family": h.family.as_str(),
                "address": h.address.to_string(),
                "state": h.state,
                "pid": h.pid,
                "process": proc_.map(|p| p.name.clone()),
                "user": proc_.and_then(|p| p.user.clone()),
                "expected": h.expected,
                "sockets": h.sockets,
            })
        })
        .collect();
    let unknown: Vec<Value> =
        p.unknown.iter().map(|u| json!({ "verdict": u.verdict.as_str(), "why": u.reason, "what": u.verdict.describe() })).collect();
    json!({
        "name": p.name,
        "port": p.port,
        "protocol": p.protocol.as_str(),
        "sockets": p.sockets,
        "bound_by_expected": p.bound_by_expected,
        "held_by_other": p.held_by_other(),
        "in_dynamic_range": stores(&p.in_range),
        "excluded": stores(&p.excluded),
        "reboot_risk": p.reboot_risk(),
        "reserved_by_system": p.reserved_by_system,
        "holders": holders,
        "cannot_tell": unknown,
    })
}

/// A watched range: counts per store (null when unknown), holders, offenders.
fn range(r: &RangeReport) -> Value {
    let store = |s: Store| {
        r.stores.get(&s).map_or(Value::Null, |c| json!({ "in_dynamic_range": c.in_dynamic, "excluded": c.excluded, "at_risk": c.at_risk }))
    };
    let owners_known = !r.unknown(Verdict::Holders) && !r.unknown(Verdict::Owners);
    let offenders: Vec<Value> = r
        .offenders
        .iter()
        .map(|o| json!({ "port": o.port, "state": o.state, "pid": o.pid, "process": o.process, "sockets": o.sockets }))
        .collect();
    let unknown: Vec<Value> =
        r.unknown.iter().map(|u| json!({ "verdict": u.verdict.as_str(), "why": u.reason, "what": u.verdict.describe() })).collect();
    json!({
        "name": r.name,
        "first_port": r.range.start,
        "last_port": r.range.end,
        "protocol": r.protocol.as_str(),
        "now": store(Store::Active),
        "after_reboot": store(Store::Persistent),
        "bound": (!r.unknown(Verdict::Holders)).then_some(r.bound),
        "bound_by_expected": owners_known.then_some(r.held_by_expected),
        "bound_by_other": owners_known.then_some(r.held_by_other),
        "offenders": offenders,
        "offenders_omitted": r.offenders_omitted,
        "cannot_tell": unknown,
    })
}

/// The NodePort range of one protocol: counts per store only (kube-proxy
/// serves a NodePort without a socket, so its holders are not counted).
fn nodeport(r: &RangeReport) -> Value {
    let mut v = range(r);
    if let Some(o) = v.as_object_mut() {
        for holders in ["bound", "bound_by_expected", "bound_by_other", "offenders", "offenders_omitted"] {
            o.remove(holders);
        }
    }
    v
}

/// The report as one JSON document, with `check`'s exit code in it.
pub fn json(report: &Report, code: i32) -> String {
    let next_boot = report.next_boot.as_ref().map(|(b, why)| {
        let rejected: Vec<Value> = b
            .rejected
            .iter()
            .map(|r| {
                json!({
                    "key": r.key.dotted(), "file": r.origin.file, "line": r.origin.line,
                    "value": r.value, "reason": r.reason, "in_force": r.in_force,
                })
            })
            .collect();
        json!({ "applier": b.applier.as_str(), "detected_by": why, "rejected": rejected, "cannot_tell": b.unknown })
    });
    let collectors: Vec<Value> = report.collectors.iter().map(|c| json!({ "name": c.name.as_str(), "success": c.success })).collect();
    let doc = json!({
        "exit_code": code,
        "ports": report.ports.iter().map(port).collect::<Vec<_>>(),
        "watched_ranges": report.watched_ranges.iter().map(range).collect::<Vec<_>>(),
        // Empty unless the nodeport collector ran.
        "nodeport_ranges": report.nodeport.iter().map(nodeport).collect::<Vec<_>>(),
        // null when the owners collector did not run (disabled), as the metric is absent then.
        "owners_resolvable": collector_ok(&report.collectors, CollectorName::Owners).map(|_| report.owners_resolvable),
        "reboot_required": report.reboot_required,
        "next_boot": next_boot,
        "collectors": collectors,
    });
    format!("{doc:#}\n")
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one,
/// never a part: a temporary file beside it, synced, then renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    // node_exporter reads only `*.prom`: the temporary name never matches.
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_verdicts_and_the_exit_code() {
        let mut p = PortReport::blank("web", 8080);
        p.in_range.insert(Store::Active, true);
        let report = Report { ports: vec![p], ..Report::default() };
        let v: Value = serde_json::from_str(&json(&report, 1)).expect("valid JSON");
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["ports"][0]["name"], "web");
        assert_eq!(v["ports"][0]["in_dynamic_range"]["now"], true);
        assert_eq!(v["ports"][0]["in_dynamic_range"]["after_reboot"], Value::Null, "unknown is null, never false");
    }

    #[test]
    fn json_carries_the_nodeport_range_per_protocol_without_holders() {
        use crate::model::{Family, PortRange, Protocol, RangeView, Snapshot};
        let mut snap = Snapshot::default();
        let reserved = crate::parse::sysctl::parse_reserved_ports("30000-30099").expect("reserved");
        for p in Protocol::ALL {
            for f in Family::ALL {
                let view = RangeView {
                    range: Some(PortRange { start: 20000, end: 60999 }),
                    excluded: Some(reserved.clone()),
                    ..RangeView::default()
                };
                snap.ranges.insert((p, f, Store::Active), view);
            }
        }
        let nodeport = crate::assess::ranges::assess_nodeport(PortRange { start: 30000, end: 32767 }, &snap);
        let report = Report { nodeport, ..Report::default() };
        let v: Value = serde_json::from_str(&json(&report, 1)).expect("valid JSON");
        let tcp = &v["nodeport_ranges"][0];
        assert_eq!(
            (tcp["protocol"].as_str(), tcp["first_port"].as_u64(), tcp["last_port"].as_u64()),
            (Some("tcp"), Some(30000), Some(32767))
        );
        assert_eq!(
            (tcp["now"]["in_dynamic_range"].as_u64(), tcp["now"]["excluded"].as_u64(), tcp["now"]["at_risk"].as_u64()),
            (Some(2768), Some(100), Some(2668))
        );
        assert_eq!(tcp["after_reboot"], Value::Null, "the persistent view was not read: unknown, never 0");
        assert!(tcp.get("offenders").is_none() && tcp.get("bound_by_other").is_none(), "no holders: {tcp}");
        let none: Value = serde_json::from_str(&json(&Report::default(), 0)).expect("valid JSON");
        assert_eq!(none["nodeport_ranges"], serde_json::json!([]));
    }

    #[test]
    fn the_textfile_is_replaced_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("portwatch.prom");
        write_atomically(&path, b"a 1\n").expect("first");
        write_atomically(&path, b"a 2\n").expect("second");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "no temporary file is left");
    }
}
