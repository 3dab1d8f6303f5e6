//! Generated cases: each count restated port by port, straight from the rules.

use super::*;
use crate::assess::assess;
use crate::config::{Config, Expect, Watches};
use crate::model::{collector_ok, CollectorStatus, Process, RangeView, Socket};
use crate::testing::Rng;
use std::net::IpAddr;
use std::time::Duration;

fn port(rng: &mut Rng) -> u16 {
    // Mostly near the usual ranges so overlaps are common, sometimes anywhere.
    if rng.below(4) == 0 {
        1 + rng.below(65535) as u16
    } else {
        28000 + rng.below(8000) as u16
    }
}

fn span(rng: &mut Rng, max_len: u64) -> PortRange {
    let start = port(rng);
    let end = start.saturating_add(rng.below(max_len) as u16);
    PortRange { start, end }
}

fn set(rng: &mut Rng) -> PortSet {
    PortSet::from_ranges((0..rng.below(8)).map(|_| span(rng, 600)).collect())
}

/// Views that differ per family (as Windows' do), sometimes missing parts.
fn ranges(rng: &mut Rng) -> Ranges {
    let mut r = Ranges::new();
    for store in Store::ALL {
        for p in Protocol::ALL {
            for f in Family::ALL {
                if rng.below(8) == 0 {
                    continue;
                }
                let view = RangeView {
                    range: (rng.below(8) != 0).then(|| span(rng, 30000)),
                    excluded: (rng.below(8) != 0).then(|| set(rng)),
                    system_excluded: None,
                    high: (rng.below(6) == 0).then(|| span(rng, 3000)),
                };
                r.insert((p, f, store), view);
            }
        }
    }
    r
}

/// The rules, one port at a time.
fn restated(r: &Ranges, protocol: Protocol, store: Store, range: PortRange) -> Option<RangeCounts> {
    let views: Vec<&RangeView> = Family::ALL.iter().filter_map(|f| r.get(&(protocol, *f, store))).collect();
    let dyns: Vec<PortRange> = views.iter().flat_map(|v| v.range.into_iter().chain(v.high)).collect();
    let excls: Vec<&PortSet> = views.iter().filter_map(|v| v.excluded.as_ref()).collect();
    if dyns.is_empty() || excls.is_empty() {
        return None;
    }
    let mut c = RangeCounts::default();
    for port in range.start..=range.end {
        let inside = dyns.iter().any(|d| d.contains(port));
        let excluded = excls.iter().all(|e| e.contains(port));
        c.in_dynamic += u32::from(inside);
        c.excluded += u32::from(excluded);
        c.at_risk += u32::from(inside && !excluded);
    }
    Some(c)
}

#[test]
fn generated_range_counts_match_a_port_by_port_restatement() {
    let mut rng = Rng::from_env("PORTWATCH_SEED", 0x07a1_19e5);
    for case in 0..400 {
        let r = ranges(&mut rng);
        let protocol = Protocol::ALL[rng.below(2) as usize];
        let range = span(&mut rng, 5000);
        let snap = Snapshot { ranges: r.clone(), ..Snapshot::default() };
        let w = RangeWatch { name: "r".into(), range, protocol, address: None, expect: None };
        let got = assess_range(&w, &snap, 5);
        for store in Store::ALL {
            assert_eq!(got.stores.get(&store).copied(), restated(&r, protocol, store, range), "case {case} {store:?} {range:?}");
        }
        // The risky pieces of the next boot are exactly the ports at risk.
        let pieces = PortSet::from_ranges(got.at_risk_next_boot.clone());
        assert_eq!(pieces.len(), got.stores.get(&Store::Persistent).map_or(0, |c| c.at_risk), "case {case}");
        assert!(pieces.ranges().iter().all(|p| range.contains(p.start) && range.contains(p.end)), "case {case}");
        assert_eq!(got.unknown(Verdict::Active), !got.stores.contains_key(&Store::Active), "case {case}");
        assert_eq!(got.unknown(Verdict::NextBoot), !got.stores.contains_key(&Store::Persistent), "case {case}");
    }
}

/// PortSet's set operations against membership, port by port.
#[test]
fn generated_port_set_operations_match_membership() {
    let mut rng = Rng::from_env("PORTWATCH_SEED", 0x5e75);
    for case in 0..300 {
        let (a, b) = (set(&mut rng), set(&mut rng));
        let (i, d) = (a.intersection(&b), a.difference(&b));
        let (mut ni, mut nd, mut na) = (0, 0, 0);
        for p in 1..=65535u16 {
            assert_eq!(i.contains(p), a.contains(p) && b.contains(p), "case {case} port {p}");
            assert_eq!(d.contains(p), a.contains(p) && !b.contains(p), "case {case} port {p}");
            ni += u32::from(a.contains(p) && b.contains(p));
            nd += u32::from(a.contains(p) && !b.contains(p));
            na += u32::from(a.contains(p));
        }
        assert_eq!((i.len(), d.len(), a.len()), (ni, nd, na), "case {case}");
        assert_eq!(PortSet::from_ranges(i.ranges().to_vec()), i, "case {case}: merged form");
        assert_eq!(PortSet::from_ranges(d.ranges().to_vec()), d, "case {case}: merged form");
    }
}

fn process(name: &str) -> Process {
    Process { name: name.into(), exe: Some(format!("/usr/bin/{name}")), user: Some("root".into()), ..Process::default() }
}

fn ok(name: CollectorName) -> CollectorStatus {
    CollectorStatus { name, success: true, duration: Duration::ZERO }
}

use crate::model::CollectorName;

/// Random sockets on and around a range with random owners: held counts,
/// offenders and their limit against a restatement per port.
#[test]
fn generated_holders_match_a_port_by_port_restatement() {
    let mut rng = Rng::from_env("PORTWATCH_SEED", 0x40_1de5);
    let names = ["kube-proxy", "curl", "nginx", "python3"];
    let states = [SockState::Listen, SockState::Established, SockState::TimeWait, SockState::Close];
    for case in 0..200 {
        let range = PortRange { start: 30000, end: 30000 + rng.below(60) as u16 };
        let address: Option<IpAddr> = (rng.below(3) == 0).then(|| "127.0.0.1".parse().expect("ip"));
        let mut snap = Snapshot { owners_resolvable: true, ..Snapshot::default() };
        snap.collectors = vec![ok(CollectorName::Sockets), ok(CollectorName::Owners)];
        for pid in 1..=names.len() as u32 {
            snap.processes.insert(pid, process(names[pid as usize - 1]));
        }
        for inode in 1..=rng.below(80) {
            let local: IpAddr = ["0.0.0.0", "127.0.0.1", "10.0.0.1", "::"][rng.below(4) as usize].parse().expect("ip");
            let state = states[rng.below(4) as usize];
            let s = Socket {
                protocol: if rng.below(6) == 0 { Protocol::Udp } else { Protocol::Tcp },
                family: if local.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 },
                local,
                port: 29990 + rng.below(80) as u16,
                state,
                inode: if state == SockState::TimeWait { 0 } else { inode },
            };
            if s.inode != 0 {
                for _ in 0..rng.below(3) {
                    snap.owners.add(inode, 1 + rng.below(names.len() as u64) as u32);
                }
            }
            snap.sockets.push(s);
        }
        snap.sockets.sort();
        let expect = Some(Expect { process: Some("kube-proxy".into()), ..Expect::default() });
        let w = RangeWatch { name: "np".into(), range, protocol: Protocol::Tcp, address, expect };
        let limit = rng.below(6) as usize;
        let got = assess_range(&w, &snap, limit);

        let (mut by_expected, mut by_other, mut bound, mut offenders) = (0, 0, 0, Vec::new());
        for p in range.start..=range.end {
            let on: Vec<&Socket> = snap
                .sockets
                .iter()
                .filter(|s| s.protocol == Protocol::Tcp && s.port == p && address.is_none_or(|a| s.local == a || s.local.is_unspecified()))
                .collect();
            let mut pairs = std::collections::BTreeSet::new();
            let (mut e, mut o) = (false, false);
            for s in &on {
                let pids: Vec<u32> = snap.owners.get(&s.inode).map(|p| p.iter().copied().collect()).unwrap_or_default();
                let expected = pids.iter().any(|pid| snap.processes[pid].name == "kube-proxy");
                e |= expected;
                o |= !expected;
                if !expected {
                    if pids.is_empty() {
                        pairs.insert((s.state, None));
                    }
                    for pid in pids {
                        pairs.insert((s.state, Some(pid)));
                    }
                }
            }
            bound += u32::from(!on.is_empty());
            by_expected += u32::from(e);
            by_other += u32::from(o);
            offenders.extend(pairs.into_iter().map(|(st, pid)| (st == SockState::TimeWait, p, st, pid)));
        }
        assert_eq!((got.bound, got.held_by_expected, got.held_by_other), (bound, by_expected, by_other), "case {case}");
        let kept: Vec<_> = got.offenders.iter().map(|o| (o.port, o.state.clone(), o.pid)).collect();
        offenders.sort();
        let want: Vec<_> = offenders.iter().take(limit).map(|(_, p, st, pid)| (*p, st.label(Protocol::Tcp), *pid)).collect();
        assert_eq!(kept, want, "case {case}: lowest port first, TIME_WAIT last");
        assert_eq!(got.offenders_omitted, offenders.len().saturating_sub(limit), "case {case}");
        assert!(got.offenders.iter().all(|o| o.pid.is_none() || o.process.is_some()), "case {case}");
        assert!(!got.unknown(Verdict::Holders) && !got.unknown(Verdict::Owners), "case {case}: {:?}", got.unknown);
    }
}

/// What failed stays unknown, as for a single port: a failed sockets or
/// owners collector, or owners out of sight; the counts are then left to
/// the exposition to omit.
#[test]
fn range_verdicts_stay_unknown_when_their_sources_failed() {
    let w = RangeWatch {
        name: "np".into(),
        range: PortRange { start: 30000, end: 30010 },
        protocol: Protocol::Tcp,
        address: None,
        expect: None,
    };
    let sock = Socket {
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: "0.0.0.0".parse().expect("ip"),
        port: 30005,
        state: SockState::Listen,
        inode: 9,
    };
    let failed = |name| CollectorStatus { name, success: false, duration: Duration::ZERO };
    let base = Snapshot { sockets: vec![sock], owners_resolvable: true, ..Snapshot::default() };
    let cases = [
        (vec![failed(CollectorName::Sockets)], true, Verdict::Holders),
        (vec![ok(CollectorName::Sockets), failed(CollectorName::Owners)], true, Verdict::Owners),
        (vec![ok(CollectorName::Sockets), ok(CollectorName::Owners)], false, Verdict::Owners),
    ];
    for (collectors, resolvable, verdict) in cases {
        let snap = Snapshot { collectors: collectors.clone(), owners_resolvable: resolvable, ..base.clone() };
        let got = assess_range(&w, &snap, 5);
        assert!(got.unknown(verdict), "{collectors:?}: {:?}", got.unknown);
        assert!(got.unknown(Verdict::Active) && got.unknown(Verdict::NextBoot), "no range views: {:?}", got.unknown);
        assert_eq!(collector_ok(&snap.collectors, CollectorName::Sockets), Some(verdict != Verdict::Holders));
    }
    // Through `assess`: the report carries one range report per entry.
    let config = Config { watches: Watches::Listed(vec![]), ranges: vec![w], ..Config::discover() };
    let report = assess(&config, &base);
    assert_eq!(report.watched_ranges.len(), 1);
    assert_eq!(report.watched_ranges[0].bound, 1);
}

/// The NodePort range, per protocol, gets the watched range's counts over the
/// same random views, the unknowns of missing views (with the disabled
/// collector named), and never a holder count or holder verdict: sockets on
/// it, and a failed sockets collector, change nothing.
#[test]
fn generated_nodeport_counts_match_the_restatement_and_ignore_holders() {
    let mut rng = Rng::from_env("PORTWATCH_SEED", 0x00de_90a7);
    for case in 0..300 {
        let r = ranges(&mut rng);
        let range = span(&mut rng, 5000);
        let mut snap = Snapshot { ranges: r.clone(), ..Snapshot::default() };
        snap.collectors = vec![CollectorStatus { name: CollectorName::Sockets, success: false, duration: Duration::ZERO }];
        if rng.below(3) == 0 {
            snap.disabled.insert(CollectorName::Sysctld);
        }
        snap.sockets.push(Socket {
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: "0.0.0.0".parse().expect("ip"),
            port: range.start,
            state: SockState::Listen,
            inode: 0,
        });
        let got = assess_nodeport(range, &snap);
        assert_eq!(got.iter().map(|g| g.protocol).collect::<Vec<_>>(), Protocol::ALL.to_vec(), "case {case}");
        for g in &got {
            let w = RangeWatch { name: NODEPORT.into(), range, protocol: g.protocol, address: None, expect: None };
            let as_watched = assess_range(&w, &snap, 0);
            for store in Store::ALL {
                assert_eq!(g.stores.get(&store).copied(), restated(&r, g.protocol, store, range), "case {case} {store:?}");
            }
            assert_eq!((&g.stores, &g.at_risk_next_boot), (&as_watched.stores, &as_watched.at_risk_next_boot), "case {case}");
            assert_eq!((g.bound, g.held_by_expected, g.held_by_other, g.offenders.len()), (0, 0, 0, 0), "case {case}");
            assert!(!g.unknown(Verdict::Holders) && !g.unknown(Verdict::Owners), "case {case}: {:?}", g.unknown);
            assert_eq!(g.unknown(Verdict::Active), !g.stores.contains_key(&Store::Active), "case {case}");
            assert_eq!(g.unknown(Verdict::NextBoot), !g.stores.contains_key(&Store::Persistent), "case {case}");
            if let Some(u) = g.unknown.iter().find(|u| u.verdict == Verdict::NextBoot) {
                let disabled = snap.disabled.contains(CollectorName::Sysctld);
                assert_eq!(u.reason == "the sysctld collector is disabled", disabled, "case {case}: {}", u.reason);
            }
        }
    }
}
