//! Pure: one watched range (a config entry `port: START-END`) against the
//! snapshot, as counts rather than one report per port.
//!
//! Per store (active, persistent), a port of the range is *in the dynamic
//! range* when any family's dynamic range (or BSD's high range) of the
//! protocol holds it, *excluded* when every family's exclusions hold it (the
//! rules of a single port, [`super::range_flags`]), and *at risk* when in
//! and not excluded. A port is *held by another owner* when any socket on it
//! is not expected (another process, none such as TIME_WAIT, or an
//! unidentified one), and *held by the expected owner* when any socket on it
//! is: the single port's `bound_by_other`/`bound_by_expected`, counted.
//! Offenders are the unexpected (port, state, pid) holders, lowest port
//! first but TIME_WAIT last (a closed connection's leftover on a service
//! port is common, a process holding one is the finding); only the first
//! `limit` are kept, and how many were not is said.

use super::{process_matches, Unknown, Verdict};
use crate::config::RangeWatch;
use crate::model::{Family, Pid, PortRange, PortSet, Protocol, Ranges, Snapshot, SockState, Store};
use std::collections::BTreeMap;

/// The counts of one store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeCounts {
    /// Ports of the watched range inside the dynamic range.
    pub in_dynamic: u32,
    /// Ports of the watched range excluded (reserved) from it.
    pub excluded: u32,
    /// Ports inside the dynamic range and not excluded: the OS may hand them out.
    pub at_risk: u32,
}

/// An unexpected holder of a port of the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    pub port: u16,
    pub state: String,
    /// None: no process holds the socket (TIME_WAIT), or none could be seen.
    pub pid: Option<Pid>,
    pub process: Option<String>,
    /// Sockets it stands for.
    pub sockets: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeReport {
    pub name: String,
    pub protocol: Protocol,
    pub range: PortRange,
    /// The stores whose range and exclusions are known.
    pub stores: BTreeMap<Store, RangeCounts>,
    /// Ports with at least one socket (any owner).
    pub bound: u32,
    pub held_by_expected: u32,
    pub held_by_other: u32,
    /// The first `limit` offenders by (port, state, pid).
    pub offenders: Vec<Offender>,
    /// Offenders beyond the limit.
    pub offenders_omitted: usize,
    /// Every piece of the range that is at risk after the next boot, for `check`'s remedy.
    pub at_risk_next_boot: Vec<PortRange>,
    pub unknown: Vec<Unknown>,
}

impl RangeReport {
    pub fn unknown(&self, verdict: Verdict) -> bool {
        self.unknown.iter().any(|u| u.verdict == verdict)
    }
}

/// Per store: (the dynamic ranges' union, the exclusions every family shares),
/// each only when some view gives it.
pub(crate) fn store_sets(ranges: &Ranges, protocol: Protocol, store: Store) -> (Option<PortSet>, Option<PortSet>) {
    let views: Vec<_> = Family::ALL.iter().filter_map(|f| ranges.get(&(protocol, *f, store))).collect();
    let dynamic: Vec<PortRange> = views.iter().flat_map(|v| v.range.into_iter().chain(v.high)).collect();
    let dynamic = (!dynamic.is_empty()).then(|| PortSet::from_ranges(dynamic));
    let mut excluded: Option<PortSet> = None;
    for e in views.iter().filter_map(|v| v.excluded.as_ref()) {
        excluded = Some(match excluded {
            None => e.clone(),
            Some(x) => x.intersection(e),
        });
    }
    (dynamic, excluded)
}

/// The counts of `range` against one store's sets.
pub(crate) fn counts(range: PortRange, dynamic: &PortSet, excluded: &PortSet) -> (RangeCounts, PortSet) {
    let risky = dynamic.difference(excluded).intersection(&PortSet::from_ranges(vec![range]));
    let c = RangeCounts { in_dynamic: dynamic.count_within(range), excluded: excluded.count_within(range), at_risk: risky.len() };
    (c, risky)
}

/// (expected, other) per port, and the unexpected holders.
#[derive(Default)]
struct Holds {
    ports: BTreeMap<u16, (bool, bool)>,
    /// Keyed (TIME_WAIT, port, state, pid): TIME_WAIT sorts last.
    offenders: BTreeMap<(bool, u16, SockState, Option<Pid>), usize>,
    /// A socket whose owners could not be seen though it should have some.
    hidden: bool,
}

fn holds(w: &RangeWatch, snap: &Snapshot) -> Holds {
    let mut h = Holds::default();
    let mut matches: BTreeMap<Pid, bool> = BTreeMap::new();
    let on_range = |s: &&crate::model::Socket| {
        s.protocol == w.protocol && w.range.contains(s.port) && w.address.is_none_or(|a| s.local == a || s.local.is_unspecified())
    };
    for s in snap.sockets.iter().filter(on_range) {
        let entry = h.ports.entry(s.port).or_default();
        let pids = (s.inode != 0).then(|| snap.owners.get(&s.inode)).flatten().filter(|p| !p.is_empty());
        let Some(pids) = pids else {
            entry.1 = true;
            h.hidden |= s.state != SockState::TimeWait;
            *h.offenders.entry((s.state == SockState::TimeWait, s.port, s.state, None)).or_default() += 1;
            continue;
        };
        let expected = pids.iter().fold(false, |any, pid| {
            let m = *matches.entry(*pid).or_insert_with(|| snap.processes.get(pid).is_some_and(|p| process_matches(w.expect.as_ref(), p)));
            any | m
        });
        if expected {
            entry.0 = true;
        } else {
            entry.1 = true;
            for pid in pids {
                *h.offenders.entry((s.state == SockState::TimeWait, s.port, s.state, Some(*pid))).or_default() += 1;
            }
        }
    }
    h
}

/// The counts of `range` per store whose views are known, and its pieces at
/// risk after the next boot.
fn store_counts(protocol: Protocol, range: PortRange, snap: &Snapshot) -> (BTreeMap<Store, RangeCounts>, Vec<PortRange>) {
    let mut stores = BTreeMap::new();
    let mut at_risk_next_boot = Vec::new();
    for store in Store::ALL {
        if let (Some(dynamic), Some(excluded)) = store_sets(&snap.ranges, protocol, store) {
            let (c, risky) = counts(range, &dynamic, &excluded);
            if store == Store::Persistent {
                at_risk_next_boot = risky.ranges().to_vec();
            }
            stores.insert(store, c);
        }
    }
    (stores, at_risk_next_boot)
}

/// One watched range's report; at most `limit` offenders kept.
pub fn assess_range(w: &RangeWatch, snap: &Snapshot, limit: usize) -> RangeReport {
    let (stores, at_risk_next_boot) = store_counts(w.protocol, w.range, snap);
    let h = holds(w, snap);
    let total = h.offenders.len();
    let offenders = h
        .offenders
        .into_iter()
        .take(limit)
        .map(|((_, port, state, pid), sockets)| Offender {
            port,
            state: state.label(w.protocol),
            pid,
            process: pid.and_then(|p| snap.processes.get(&p)).map(|p| p.name.clone()),
            sockets,
        })
        .collect::<Vec<_>>();
    let bound = h.ports.len() as u32;
    let unknown = super::unknowns_of(
        &super::Facts {
            bound: bound > 0,
            hidden_owner: h.hidden,
            active: stores.contains_key(&Store::Active),
            persistent: stores.contains_key(&Store::Persistent),
        },
        snap,
    );
    RangeReport {
        name: w.name.clone(),
        protocol: w.protocol,
        range: w.range,
        stores,
        bound,
        held_by_expected: h.ports.values().filter(|p| p.0).count() as u32,
        held_by_other: h.ports.values().filter(|p| p.1).count() as u32,
        offenders_omitted: total - offenders.len(),
        offenders,
        at_risk_next_boot,
        unknown,
    }
}

/// The name a range without an owner to expect carries: the Kubernetes
/// NodePort range (`--collector.nodeport.range`).
pub const NODEPORT: &str = "nodeport";

/// The NodePort range as a watched range without an expected owner, per
/// protocol: the same counts per store, and the same unknowns of the range
/// now and after the next boot. Its holders are not counted (kube-proxy
/// serves a NodePort through iptables/IPVS, usually without a socket, and
/// the sockets pass does not list the range), so `bound`, the holders and the
/// offenders stay empty and no holder verdict is said unknown.
pub fn assess_nodeport(range: PortRange, snap: &Snapshot) -> Vec<RangeReport> {
    Protocol::ALL
        .into_iter()
        .map(|protocol| {
            let (stores, at_risk_next_boot) = store_counts(protocol, range, snap);
            let facts = super::Facts {
                bound: false,
                hidden_owner: false,
                active: stores.contains_key(&Store::Active),
                persistent: stores.contains_key(&Store::Persistent),
            };
            let unknown =
                super::unknowns_of(&facts, snap).into_iter().filter(|u| matches!(u.verdict, Verdict::Active | Verdict::NextBoot)).collect();
            RangeReport {
                name: NODEPORT.to_string(),
                protocol,
                range,
                stores,
                bound: 0,
                held_by_expected: 0,
                held_by_other: 0,
                offenders: Vec::new(),
                offenders_omitted: 0,
                at_risk_next_boot,
                unknown,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "assess_ranges_tests.rs"]
mod tests;
