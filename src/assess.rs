//! Pure: (Config, Snapshot) -> Report. No I/O, no clock.
//!
//! Rules:
//! - a socket holds a watched port when its local port (and protocol) match,
//!   and, if the watch names an address, its local address is that address or
//!   the wildcard of either family;
//! - a socket is *expected* when at least one of its owner processes matches
//!   every field of `expect` (no `expect`: any identified process matches;
//!   `cgroup` is a pattern over the cgroup path, the others are exact);
//!   a socket with no identified owner (TIME_WAIT, or owners not visible) is not;
//! - a port is in the dynamic range / excluded per store, taking every family
//!   the source reports; the reboot risk is "in the persistent range and not
//!   persistently excluded".

use crate::baseline::{Baseline, Owner};
use crate::config::{Config, Expect, Watch, Watches};
use crate::model::{
    collector_ok, CollectorName, CollectorStatus, Family, Pid, PortRange, Process, Protocol, Ranges, Snapshot, SockState, Socket, Store,
};
use crate::parse::glob::fnmatch;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[path = "assess_ranges.rs"]
pub mod ranges;
pub use ranges::{Offender, RangeCounts, RangeReport};
#[path = "assess_netns.rs"]
pub mod netns;
pub use netns::NetnsPorts;

/// (socket, owner) pairs on a watched port that share every label: one per
/// distinct (family, address, state, pid, expected); `pid` is None for
/// sockets nobody holds. A socket with several owners counts once under each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub family: Family,
    pub address: IpAddr,
    pub state: String,
    pub pid: Option<Pid>,
    pub process: Option<Process>,
    pub expected: bool,
    /// How many sockets this holder stands for (at least 1).
    pub sockets: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortReport {
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    pub sockets: usize,
    pub bound_by_expected: bool,
    pub bound_by_other: bool,
    /// Every holder, aggregated, unexpected first; the exposition keeps the first N.
    pub holders: Vec<Holder>,
    pub in_range: BTreeMap<Store, bool>,
    pub excluded: BTreeMap<Store, bool>,
    /// Windows: inside an exclusion no administrator made, so unbindable.
    pub reserved_by_system: Option<bool>,
    /// Verdicts that cannot be given for this port, and why.
    pub unknown: Vec<Unknown>,
    /// The owners the learned baseline expects here, when they were the
    /// expectation (no config file, or a watch without `expect`).
    pub learned: Option<BTreeSet<Owner>>,
}

/// A verdict the exporter cannot give: it says so rather than guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub verdict: Verdict,
    /// A short, bounded reason (a label value).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Who holds the port (the socket table could not be read).
    Holders,
    /// Whether the holders are the expected owner (owners could not be read).
    Owners,
    /// Whether the port is in the dynamic range or excluded, now.
    Active,
    /// Whether the port is in the range or excluded after the next boot.
    NextBoot,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holders => "holders",
            Verdict::Owners => "owners",
            Verdict::Active => "dynamic_range_now",
            Verdict::NextBoot => "next_boot",
        }
    }
    /// What the verdict is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::Holders => "who holds the port",
            Verdict::Owners => "whether its holders are the expected owner",
            Verdict::Active => "whether it is in the dynamic range or excluded now",
            Verdict::NextBoot => "whether it will be in the dynamic range or excluded after the next boot",
        }
    }
}

impl PortReport {
    /// A TCP port nobody holds and nothing is known of: for tests to fill in.
    #[cfg(test)]
    pub(crate) fn blank(name: &str, port: u16) -> PortReport {
        PortReport {
            name: name.into(),
            port,
            protocol: Protocol::Tcp,
            sockets: 0,
            bound_by_expected: false,
            bound_by_other: false,
            holders: vec![],
            in_range: BTreeMap::new(),
            excluded: BTreeMap::new(),
            reserved_by_system: None,
            unknown: vec![],
            learned: None,
        }
    }

    /// Held by another owner, as far as can be told: an identified holder
    /// that is not expected, or any unexpected holder when owners are known.
    pub fn held_by_other(&self) -> bool {
        if self.unknown(Verdict::Owners) {
            self.holders.iter().any(|h| h.pid.is_some() && !h.expected)
        } else {
            self.bound_by_other
        }
    }

    /// Whether a verdict is unknown for this port.
    pub fn unknown(&self, verdict: Verdict) -> bool {
        self.unknown.iter().any(|u| u.verdict == verdict)
    }

    pub fn bound(&self) -> bool {
        self.sockets > 0
    }
    /// None when the persistent view is unknown.
    pub fn reboot_risk(&self) -> Option<bool> {
        let in_range = *self.in_range.get(&Store::Persistent)?;
        let excluded = *self.excluded.get(&Store::Persistent)?;
        Some(in_range && !excluded)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub ports: Vec<PortReport>,
    pub ranges: Ranges,
    pub dynamic_in_use: BTreeMap<(Protocol, Family), u64>,
    pub dynamic_available: BTreeMap<(Protocol, Family), u32>,
    /// The busiest destinations of the dynamic range's sockets (Linux, `--collector.ephemeral.destinations`).
    pub destinations: Option<crate::model::Destinations>,
    pub owners_resolvable: bool,
    pub reboot_required: Option<bool>,
    /// Linux: the modelled next boot and how its boot path was chosen.
    pub next_boot: Option<(crate::boot::NextBoot, &'static str)>,
    pub collectors: Vec<CollectorStatus>,
    pub socket_info_limit: usize,
    /// Watched ranges (config entries `port: START-END`): counts, no per-port series.
    pub watched_ranges: Vec<RangeReport>,
    /// Linux, `netns` collector: the other network namespaces as read, and how many were not read (the limit).
    pub netns: Vec<crate::model::NetnsView>,
    pub netns_omitted: usize,
    /// How long before this scrape the namespaces were read; None: by this scrape.
    pub netns_age: Option<std::time::Duration>,
    /// The watched ports inside each other network namespace that has any.
    pub netns_ports: Vec<NetnsPorts>,
    /// The learned baseline's status, when learning is on (filled by the scraper).
    pub baseline: Option<crate::baseline::learner::Status>,
    /// Listening ports shared by two or more different processes (SO_REUSEPORT or an inherited
    /// socket): (protocol, port) -> distinct owner processes (by name, user and unit).
    pub shared_listeners: BTreeMap<(Protocol, u16), usize>,
    /// The NodePort range per protocol, when the `nodeport` collector ran
    /// (filled by the scraper from `--collector.nodeport.range`, see [`ranges::assess_nodeport`]).
    pub nodeport: Vec<RangeReport>,
}

/// The watches in force for this snapshot.
pub fn effective_watches(config: &Config, snap: &Snapshot) -> Vec<Watch> {
    watches_with(config, snap, None)
}

/// The watches in force, with discovery also watching every port the
/// baseline learned (whoever holds it now, or nobody).
fn watches_with(config: &Config, snap: &Snapshot, baseline: Option<&Baseline>) -> Vec<Watch> {
    match &config.watches {
        Watches::Listed(w) => w.clone(),
        Watches::DiscoverListeners => {
            let mut w = discover(snap);
            let have: BTreeSet<(Protocol, u16)> = w.iter().map(|w| (w.protocol, w.port)).collect();
            for e in baseline.map(|b| b.ports.as_slice()).unwrap_or_default().iter().filter(|e| e.learned()) {
                let protocol = if e.protocol == "udp" { Protocol::Udp } else { Protocol::Tcp };
                if !have.contains(&(protocol, e.port)) {
                    w.push(Watch { name: format!("{}-{}", e.protocol, e.port), port: e.port, protocol, address: None, expect: None });
                }
            }
            w.sort_by_key(|w| (w.protocol, w.port));
            w
        }
    }
}

/// The learned rule: a process is a learned owner when its name, user and
/// unit (each as far as the baseline recorded it) are those of one of the
/// learned owners. The executable's path is not compared, so an upgrade
/// that installs the service under a new versioned path stays expected;
/// a new process name, user or unit is another owner (until it has held
/// the port for --baseline.learn-after, or `baseline accept`).
pub fn learned_owner_matches(learned: &BTreeSet<Owner>, p: &Process) -> bool {
    learned.iter().any(|o| {
        o.process == p.name
            && o.user.as_ref().is_none_or(|u| p.user.as_ref() == Some(u))
            && o.unit.as_ref().is_none_or(|u| p.units.iter().any(|x| x == u))
    })
}

/// Discovery: each TCP port with a listener, expecting its listeners' processes.
fn discover(snap: &Snapshot) -> Vec<Watch> {
    let mut by_port: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
    for s in snap.sockets.iter().filter(|s| s.protocol == Protocol::Tcp && s.state == SockState::Listen) {
        let names = by_port.entry(s.port).or_default();
        for pid in snap.owners.get(&s.inode).into_iter().flatten() {
            if let Some(p) = snap.processes.get(pid) {
                names.insert(p.name.clone());
            }
        }
    }
    by_port
        .into_iter()
        .map(|(port, names)| Watch {
            name: format!("tcp-{port}"),
            port,
            protocol: Protocol::Tcp,
            address: None,
            // Several listeners' names are joined with '|': alternatives.
            // No visible listener owner: any identified process is expected.
            expect: (!names.is_empty())
                .then(|| Expect { process: Some(names.into_iter().collect::<Vec<_>>().join("|")), ..Expect::default() }),
        })
        .collect()
}

fn process_matches(expect: Option<&Expect>, p: &Process) -> bool {
    let Some(e) = expect else { return true };
    let exe_base = p.exe.as_deref().and_then(|x| x.rsplit(['/', '\\']).next());
    let process_ok = e.process.as_deref().is_none_or(|want| {
        want.split('|').any(|w| w == p.name || Some(w) == exe_base || (w.len() > 15 && w.starts_with(&p.name) && p.name.len() == 15))
    });
    let exe_ok = e.exe.as_deref().is_none_or(|want| p.exe.as_deref() == Some(want));
    let user_ok = e.user.as_deref().is_none_or(|want| p.user.as_deref() == Some(want));
    let unit_ok = e.unit.as_deref().is_none_or(|want| p.units.iter().any(|u| u == want));
    let cgroup_ok = e.cgroup.as_deref().is_none_or(|pat| p.cgroup.as_deref().is_some_and(|cg| fnmatch(pat.as_bytes(), cg.as_bytes())));
    process_ok && exe_ok && user_ok && unit_ok && cgroup_ok
}

fn address_matches(watch: &Watch, local: IpAddr) -> bool {
    match watch.address {
        None => true,
        Some(want) => local == want || local.is_unspecified(),
    }
}

/// Aggregated (socket, holder) pairs of one port: one entry per label set,
/// counting the sockets it stands for.
#[derive(Default)]
struct Tally {
    groups: BTreeMap<(bool, SockState, Family, IpAddr, Option<Pid>), usize>,
    /// Whether each pid matches `expect`, computed once per pid.
    matches: BTreeMap<Pid, bool>,
}

impl Tally {
    fn add(&mut self, matcher: &dyn Fn(&Process) -> bool, socket: &Socket, snap: &Snapshot) {
        let key = |expected, pid| (expected, socket.state, socket.family, socket.local, pid);
        let pids = (socket.inode != 0).then(|| snap.owners.get(&socket.inode)).flatten().filter(|p| !p.is_empty());
        let Some(pids) = pids else {
            *self.groups.entry(key(false, None)).or_default() += 1;
            return;
        };
        let mut expected = false;
        for pid in pids {
            let m = *self.matches.entry(*pid).or_insert_with(|| snap.processes.get(pid).is_some_and(matcher));
            expected |= m;
        }
        for pid in pids {
            *self.groups.entry(key(expected, Some(*pid))).or_default() += 1;
        }
    }

    /// Unexpected first, then by state, family, address and pid.
    fn holders(self, protocol: Protocol, snap: &Snapshot) -> Vec<Holder> {
        let mut holders: Vec<Holder> = self
            .groups
            .into_iter()
            .map(|((expected, state, family, address, pid), sockets)| Holder {
                family,
                address,
                state: state.label(protocol),
                pid,
                process: pid.and_then(|p| snap.processes.get(&p).cloned()),
                expected,
                sockets,
            })
            .collect();
        holders.sort_by(|a, b| (a.expected, &a.state, a.family, a.address, a.pid).cmp(&(b.expected, &b.state, b.family, b.address, b.pid)));
        holders
    }
}

fn range_flags(ranges: &Ranges, protocol: Protocol, port: u16) -> (BTreeMap<Store, bool>, BTreeMap<Store, bool>) {
    let mut in_range = BTreeMap::new();
    let mut excluded = BTreeMap::new();
    for store in Store::ALL {
        let views: Vec<_> = Family::ALL.iter().filter_map(|f| ranges.get(&(protocol, *f, store))).collect();
        // BSD's IP_PORTRANGE_HIGH range hands out ports too.
        let known_ranges: Vec<PortRange> = views.iter().flat_map(|v| v.range.into_iter().chain(v.high)).collect();
        if !known_ranges.is_empty() {
            in_range.insert(store, known_ranges.iter().any(|r| r.contains(port)));
        }
        let known_excl: Vec<_> = views.iter().filter_map(|v| v.excluded.as_ref()).collect();
        if !known_excl.is_empty() {
            excluded.insert(store, known_excl.iter().all(|s| s.contains(port)));
        }
    }
    (in_range, excluded)
}

fn assess_port(watch: &Watch, learned: Option<&BTreeSet<Owner>>, snap: &Snapshot) -> PortReport {
    let mut tally = Tally::default();
    let mut sockets = 0;
    let matcher = |p: &Process| match learned {
        Some(owners) => learned_owner_matches(owners, p),
        None => process_matches(watch.expect.as_ref(), p),
    };
    for s in snap.sockets.iter().filter(|s| s.port == watch.port && s.protocol == watch.protocol && address_matches(watch, s.local)) {
        sockets += 1;
        tally.add(&matcher, s, snap);
    }
    let holders = tally.holders(watch.protocol, snap);
    let (in_range, excluded) = range_flags(&snap.ranges, watch.protocol, watch.port);
    let system: Vec<_> =
        Family::ALL.iter().filter_map(|f| snap.ranges.get(&(watch.protocol, *f, Store::Active))?.system_excluded.as_ref()).collect();
    let reserved_by_system = (!system.is_empty()).then(|| system.iter().any(|s| s.contains(watch.port)));
    PortReport {
        name: watch.name.clone(),
        port: watch.port,
        protocol: watch.protocol,
        sockets,
        bound_by_expected: holders.iter().any(|h| h.expected),
        bound_by_other: holders.iter().any(|h| !h.expected),
        holders,
        in_range,
        excluded,
        reserved_by_system,
        unknown: Vec::new(),
        learned: learned.cloned(),
    }
}

/// The verdicts a port's report cannot give, from what failed in the
/// snapshot or was not asked for (a disabled collector is said as such).
fn unknowns(p: &PortReport, snap: &Snapshot) -> Vec<Unknown> {
    let facts = Facts {
        bound: p.bound(),
        hidden_owner: p.holders.iter().any(|h| h.pid.is_none() && h.state != "time_wait"),
        active: p.in_range.contains_key(&Store::Active) && p.excluded.contains_key(&Store::Active),
        persistent: p.in_range.contains_key(&Store::Persistent) && p.excluded.contains_key(&Store::Persistent),
    };
    unknowns_of(&facts, snap)
}

/// What a port's (or a watched range's) verdicts rest on.
pub(crate) struct Facts {
    /// Some socket holds it.
    pub bound: bool,
    /// Some socket other than TIME_WAIT has no owner in sight.
    pub hidden_owner: bool,
    /// The active range and exclusions are known for it.
    pub active: bool,
    /// The persistent ones are.
    pub persistent: bool,
}

/// The verdicts that cannot be given, from the facts and what failed in the snapshot.
pub(crate) fn unknowns_of(p: &Facts, snap: &Snapshot) -> Vec<Unknown> {
    let mut out = Vec::new();
    let mut add = |verdict, reason: String| out.push(Unknown { verdict, reason });
    // The first of `sources` that is disabled, else `otherwise`.
    let why = |sources: &[CollectorName], otherwise: &str| match sources.iter().find(|c| snap.disabled.contains(**c)) {
        Some(c) => format!("the {c} collector is disabled"),
        None => otherwise.to_string(),
    };
    if collector_ok(&snap.collectors, CollectorName::Sockets) != Some(true) {
        add(Verdict::Holders, why(&[CollectorName::Sockets], "the sockets collector failed"));
    } else if p.bound && collector_ok(&snap.collectors, CollectorName::Owners) != Some(true) {
        add(Verdict::Owners, why(&[CollectorName::Owners], "the owners collector failed"));
    } else if !snap.owners_resolvable && p.hidden_owner {
        add(Verdict::Owners, "owners are hidden from the exporter".into());
    }
    if !p.active {
        add(Verdict::Active, why(&[CollectorName::Sysctl, CollectorName::Netsh], "the active range could not be read"));
    }
    if !p.persistent {
        let otherwise = match &snap.next_boot {
            Some((boot, _)) if !boot.unknown.is_empty() => "a sysctl file could not be read",
            _ => "the persistent view could not be read",
        };
        add(Verdict::NextBoot, why(&[CollectorName::Sysctld, CollectorName::SysctlConf, CollectorName::Netsh], otherwise));
    }
    out
}

pub fn assess(config: &Config, snap: &Snapshot) -> Report {
    assess_with(config, snap, None)
}

/// [`assess`] with the learned baseline: without a config file, and for a
/// watch without `expect`, a learned port's expected owners are its learned
/// owners (see [`learned_owner_matches`]); discovery also watches every
/// learned port, so one that a client holds, or nobody, is still reported.
pub fn assess_with(config: &Config, snap: &Snapshot, baseline: Option<&Baseline>) -> Report {
    let discovering = matches!(config.watches, Watches::DiscoverListeners);
    let ports = watches_with(config, snap, baseline)
        .iter()
        .map(|w| {
            let learned = baseline
                .filter(|_| discovering || w.expect.is_none())
                .and_then(|b| b.expected(crate::baseline::learner::protocol_key(w.protocol), w.port));
            let mut p = assess_port(w, learned, snap);
            p.unknown = unknowns(&p, snap);
            p
        })
        .collect();
    let mut dynamic_available = BTreeMap::new();
    for ((protocol, family, store), view) in &snap.ranges {
        if let (Store::Active, Some(range)) = (store, view.range) {
            let excluded = view.excluded.as_ref().map_or(0, |e| e.count_within(range));
            dynamic_available.insert((*protocol, *family), range.count() - excluded);
        }
    }
    Report {
        ports,
        ranges: snap.ranges.clone(),
        dynamic_in_use: snap.dynamic_in_use.clone(),
        dynamic_available,
        destinations: snap.destinations.clone(),
        owners_resolvable: snap.owners_resolvable,
        reboot_required: snap.reboot_required,
        next_boot: snap.next_boot.clone(),
        collectors: snap.collectors.clone(),
        socket_info_limit: config.socket_info_limit,
        watched_ranges: config.ranges.iter().map(|w| ranges::assess_range(w, snap, config.range_offender_limit)).collect(),
        netns: snap.netns.clone(),
        netns_omitted: snap.netns_omitted,
        netns_age: snap.netns_age,
        netns_ports: netns::assess_namespaces(config, snap),
        baseline: None,
        shared_listeners: shared_listeners(snap),
        nodeport: Vec::new(),
    }
}

/// Listening ports (TCP listeners, UDP unconnected sockets) whose sockets
/// belong to two or more different processes: SO_REUSEPORT groups, where the
/// kernel splits the traffic between them. A forked worker pool of one
/// program counts once (owners compared by name, user and unit).
fn shared_listeners(snap: &Snapshot) -> BTreeMap<(Protocol, u16), usize> {
    type Who = (String, Option<String>, Vec<String>);
    let mut by_port: BTreeMap<(Protocol, u16), BTreeSet<Who>> = BTreeMap::new();
    for s in &snap.sockets {
        if !matches!((s.protocol, s.state), (Protocol::Tcp, SockState::Listen) | (Protocol::Udp, SockState::Close)) || s.inode == 0 {
            continue;
        }
        let owners = by_port.entry((s.protocol, s.port)).or_default();
        for p in snap.owners.get(&s.inode).into_iter().flatten().filter_map(|pid| snap.processes.get(pid)) {
            owners.insert((p.name.clone(), p.user.clone(), p.units.clone()));
        }
    }
    by_port.into_iter().filter(|(_, o)| o.len() >= 2).map(|(k, o)| (k, o.len())).collect()
}

#[cfg(test)]
#[path = "assess_tests.rs"]
mod tests;
