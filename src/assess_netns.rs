//! The watched ports inside each other network namespace (`netns`
//! collector), by the same rules as the host's: each namespace is assessed
//! as a host of its own whose active range is the one read inside it.
//!
//! What differs from the host: a namespace has no persistent view (a new one
//! starts from the kernel's defaults or what its runtime writes, not from
//! sysctl.d), so its ports carry no next-boot verdict at all rather than an
//! unknown one; watched ranges and the learned baseline are the host's alone.

use super::{assess_port, unknowns, PortReport, Verdict};
use crate::config::Config;
use crate::model::{collector_ok, CollectorName, CollectorStatus, NetnsOwners, NetnsView, Owners, RangeView, Snapshot, Store};
use std::collections::BTreeMap;

/// One namespace's watched ports.
#[derive(Debug, Clone, PartialEq)]
pub struct NetnsPorts {
    /// The namespace's inode (`netns` label).
    pub inode: u64,
    pub ports: Vec<PortReport>,
}

/// Every namespace that was read, with its watched ports (namespaces without
/// any are left out).
pub fn assess_namespaces(config: &Config, snap: &Snapshot) -> Vec<NetnsPorts> {
    snap.netns
        .iter()
        .filter(|v| v.error.is_none())
        .map(|v| {
            let inside = namespace_snapshot(v, snap);
            let ports = super::effective_watches(config, &inside)
                .iter()
                .map(|w| {
                    let mut p = assess_port(w, None, &inside);
                    p.unknown = unknowns(&p, &inside).into_iter().filter(|u| u.verdict != Verdict::NextBoot).collect();
                    let looked = collector_ok(&snap.collectors, CollectorName::Owners) == Some(true);
                    for u in p.unknown.iter_mut().filter(|u| u.verdict == Verdict::Owners && looked) {
                        match snap.netns_owners {
                            NetnsOwners::Resolved => {}
                            NetnsOwners::ReadLate => u.reason = "the namespace was read after the owners collector looked".into(),
                            NetnsOwners::LookFailed => u.reason = "the namespace read's own look at the processes failed".into(),
                        }
                    }
                    p
                })
                .collect();
            NetnsPorts { inode: v.inode, ports }
        })
        .filter(|n| !n.ports.is_empty())
        .collect()
}

/// The namespace as a host of its own: its sockets with their owners (from
/// the host's look at every process), its own active range, no persistent
/// view; the collectors' statuses are the namespace's read (sockets, range)
/// and the host's owners collector.
fn namespace_snapshot(v: &NetnsView, snap: &Snapshot) -> Snapshot {
    let mut owners = Owners::default();
    let mut processes = BTreeMap::new();
    for s in &v.sockets {
        let Some(pids) = snap.owners.get(&s.inode) else { continue };
        owners.insert(s.inode, pids.clone());
        processes.extend(pids.iter().filter_map(|pid| Some((*pid, snap.processes.get(pid)?.clone()))));
    }
    let read = |name| CollectorStatus { name, success: true, duration: Default::default() };
    let mut collectors = vec![read(CollectorName::Sysctl)];
    // Its sockets were listed when the scrape asked for sockets (the namespace read them itself).
    if snap.collectors.iter().any(|c| c.name == CollectorName::Sockets) {
        collectors.push(read(CollectorName::Sockets));
    }
    // The host's owners collector, as far as it looked at the namespace's sockets.
    let looked = snap.collectors.iter().filter(|c| c.name == CollectorName::Owners);
    collectors.extend(looked.map(|c| CollectorStatus { success: c.success && snap.netns_owners == NetnsOwners::Resolved, ..c.clone() }));
    let mut inside = Snapshot {
        sockets: v.sockets.clone(),
        owners,
        processes,
        owners_resolvable: snap.owners_resolvable,
        collectors,
        disabled: snap.disabled,
        ..Snapshot::default()
    };
    if let (Some(range), Some(reserved)) = (v.range, &v.reserved) {
        let view = RangeView { range: Some(range), excluded: Some(reserved.clone()), system_excluded: None, high: None };
        inside.set_range_everywhere(Store::Active, view);
    }
    inside
}
