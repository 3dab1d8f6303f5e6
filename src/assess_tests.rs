//! Table tests: each row is config + snapshot -> expected port status.

use super::*;
use crate::model::RangeView;

const V4_ANY: &str = "0.0.0.0";

fn sock(port: u16, state: SockState, inode: u64, local: &str) -> Socket {
    let local: IpAddr = local.parse().expect("ip");
    let family = if local.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 };
    Socket { protocol: Protocol::Tcp, family, local, port, state, inode }
}

fn proc_named(name: &str, user: &str, unit: &str) -> Process {
    Process {
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        user: Some(user.into()),
        units: vec![unit.into()],
        ..Process::default()
    }
}

fn watch(port: u16, expect: Option<Expect>) -> Config {
    let w = Watch { name: "svc".into(), port, protocol: Protocol::Tcp, address: None, expect };
    Config { watches: Watches::Listed(vec![w]), ..Config::discover() }
}

fn expect_process(name: &str) -> Option<Expect> {
    Some(Expect { process: Some(name.into()), ..Expect::default() })
}

fn ranges(active: (u16, u16, &str), persistent: (u16, u16, &str)) -> Ranges {
    let mut r = Ranges::new();
    for (store, (s, e, excl)) in [(Store::Active, active), (Store::Persistent, persistent)] {
        let excluded = crate::parse::sysctl::parse_reserved_ports(excl).expect("reserved");
        for p in Protocol::ALL {
            for f in Family::ALL {
                r.insert(
                    (p, f, store),
                    RangeView {
                        range: Some(PortRange { start: s, end: e }),
                        excluded: Some(excluded.clone()),
                        system_excluded: None,
                        high: None,
                    },
                );
            }
        }
    }
    r
}

/// A snapshot with owners: (inode, pid, process).
fn snap(sockets: Vec<Socket>, owners: &[(u64, Pid, Process)]) -> Snapshot {
    let mut s = Snapshot { sockets, owners_resolvable: true, ..Snapshot::default() };
    for (inode, pid, p) in owners {
        s.owners.add(*inode, *pid);
        s.processes.insert(*pid, p.clone());
    }
    s.ranges = ranges((32768, 60999, ""), (32768, 60999, ""));
    s
}

struct Row {
    scenario: &'static str,
    config: Config,
    snapshot: Snapshot,
    /// (sockets, bound_by_expected, bound_by_other)
    want: (usize, bool, bool),
}

#[test]
fn port_status_table() {
    let pg = proc_named("postgres", "postgres", "postgresql.service");
    let nc = proc_named("nc", "root", "session-1.scope");
    let systemd = proc_named("systemd", "root", "init.scope");
    let rows = vec![
        Row {
            scenario: "expected_owner_listens",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, V4_ANY)], &[(10, 100, pg.clone())]),
            want: (1, true, false),
        },
        Row {
            scenario: "another_program_listens",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, V4_ANY)], &[(10, 200, nc.clone())]),
            want: (1, false, true),
        },
        Row {
            scenario: "client_socket_holds_watched_port_as_ephemeral_source",
            config: watch(40000, expect_process("postgres")),
            snapshot: snap(vec![sock(40000, SockState::Established, 11, "127.0.0.1")], &[(11, 200, nc.clone())]),
            want: (1, false, true),
        },
        Row {
            scenario: "time_wait_without_owner_counts_as_other",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(vec![sock(5432, SockState::TimeWait, 0, "127.0.0.1")], &[]),
            want: (1, false, true),
        },
        Row {
            scenario: "owner_not_identified_counts_as_other",
            config: watch(5432, None),
            snapshot: snap(vec![sock(5432, SockState::Listen, 12, V4_ANY)], &[]),
            want: (1, false, true),
        },
        Row {
            scenario: "socket_activation_shared_with_systemd_is_expected",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, "::")], &[(10, 1, systemd), (10, 100, pg.clone())]),
            want: (1, true, false),
        },
        Row {
            scenario: "every_expect_field_must_match",
            config: watch(5432, Some(Expect { process: Some("postgres".into()), user: Some("root".into()), ..Expect::default() })),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, V4_ANY)], &[(10, 100, pg.clone())]),
            want: (1, false, true),
        },
        Row {
            scenario: "unit_and_exe_match",
            config: watch(
                5432,
                Some(Expect { unit: Some("postgresql.service".into()), exe: Some("/usr/bin/postgres".into()), ..Expect::default() }),
            ),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, V4_ANY)], &[(10, 100, pg.clone())]),
            want: (1, true, false),
        },
        Row {
            scenario: "cgroup_pattern_matches_the_cgroup_path",
            config: watch(5432, Some(Expect { cgroup: Some("/kubepods.slice/*/cri-containerd-*.scope".into()), ..Expect::default() })),
            snapshot: snap(
                vec![sock(5432, SockState::Listen, 10, V4_ANY), sock(5432, SockState::Listen, 13, "::")],
                &[
                    (10, 100, Process { cgroup: Some("/kubepods.slice/kubepods-pod1.slice/cri-containerd-ab.scope".into()), ..pg.clone() }),
                    (13, 200, Process { cgroup: Some("/system.slice/docker-ab.scope".into()), ..pg.clone() }),
                ],
            ),
            want: (2, true, true),
        },
        Row {
            scenario: "cgroup_pattern_never_matches_an_unknown_cgroup",
            config: watch(5432, Some(Expect { cgroup: Some("*".into()), ..Expect::default() })),
            snapshot: snap(vec![sock(5432, SockState::Listen, 10, V4_ANY)], &[(10, 100, pg.clone())]),
            want: (1, false, true),
        },
        Row {
            scenario: "free_port",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(vec![sock(5433, SockState::Listen, 10, V4_ANY)], &[(10, 100, pg.clone())]),
            want: (0, false, false),
        },
        Row {
            scenario: "expected_and_other_at_once",
            config: watch(5432, expect_process("postgres")),
            snapshot: snap(
                vec![sock(5432, SockState::Listen, 10, "127.0.0.1"), sock(5432, SockState::Listen, 13, "::1")],
                &[(10, 100, pg.clone()), (13, 200, nc.clone())],
            ),
            want: (2, true, true),
        },
    ];
    for row in rows {
        let report = assess(&row.config, &row.snapshot);
        let p = &report.ports[0];
        assert_eq!((p.sockets, p.bound_by_expected, p.bound_by_other), row.want, "{}", row.scenario);
        assert_eq!(p.bound(), row.want.0 > 0, "{}", row.scenario);
    }
}

#[test]
fn address_filter_counts_exact_and_wildcard_only() {
    let mut config = watch(8080, None);
    if let Watches::Listed(w) = &mut config.watches {
        w[0].address = Some("127.0.0.1".parse().expect("ip"));
    }
    let p = proc_named("app", "app", "app.service");
    let s = snap(
        vec![
            sock(8080, SockState::Listen, 1, "127.0.0.1"),
            sock(8080, SockState::Listen, 2, "::"),
            sock(8080, SockState::Listen, 3, "10.0.0.1"),
        ],
        &[(1, 10, p.clone()), (2, 11, p.clone()), (3, 12, p)],
    );
    assert_eq!(assess(&config, &s).ports[0].sockets, 2);
}

/// (active range, active reserved, persistent range, persistent reserved)
/// -> (in active, excluded active, in persistent, excluded persistent, risk)
#[test]
fn range_and_reboot_risk_table() {
    type RangeRow = ((u16, u16, &'static str), (u16, u16, &'static str), [bool; 5]);
    let rows: [RangeRow; 5] = [
        ((32768, 60999, ""), (32768, 60999, ""), [false, false, false, false, false]),
        ((1024, 65535, ""), (1024, 65535, ""), [true, false, true, false, true]),
        ((1024, 65535, "5432"), (1024, 65535, ""), [true, true, true, false, true]),
        ((1024, 65535, "5432"), (1024, 65535, "5000-6000"), [true, true, true, true, false]),
        ((1024, 65535, ""), (32768, 60999, ""), [true, false, false, false, false]),
    ];
    for (active, persistent, want) in rows {
        let mut s = snap(vec![], &[]);
        s.ranges = ranges(active, persistent);
        let p = &assess(&watch(5432, None), &s).ports[0];
        let got = [
            p.in_range[&Store::Active],
            p.excluded[&Store::Active],
            p.in_range[&Store::Persistent],
            p.excluded[&Store::Persistent],
            p.reboot_risk().expect("known"),
        ];
        assert_eq!(got, want, "{active:?} {persistent:?}");
    }
}

#[test]
fn unknown_persistent_view_gives_no_risk_value() {
    let mut s = snap(vec![], &[]);
    s.ranges.retain(|(_, _, store), _| *store == Store::Active);
    let p = &assess(&watch(5432, None), &s).ports[0];
    assert_eq!(p.reboot_risk(), None);
    assert!(p.in_range.contains_key(&Store::Active));
}

#[test]
fn dynamic_available_subtracts_reserved_ports_inside_the_range() {
    let mut s = snap(vec![], &[]);
    s.ranges = ranges((40000, 40009, "40000-40001,50000"), (40000, 40009, ""));
    let r = assess(&watch(1, None), &s);
    assert_eq!(r.dynamic_available[&(Protocol::Tcp, Family::Ipv4)], 8);
}

#[test]
fn discovery_watches_listeners_and_expects_their_processes() {
    let pg = proc_named("postgres", "postgres", "postgresql.service");
    let nc = proc_named("nc", "root", "x.scope");
    let s = snap(
        vec![
            sock(5432, SockState::Listen, 10, V4_ANY),
            sock(5432, SockState::Established, 11, "127.0.0.1"),
            sock(40000, SockState::Established, 12, "127.0.0.1"),
        ],
        &[(10, 100, pg), (11, 200, nc)],
    );
    let r = assess(&Config::discover(), &s);
    assert_eq!(r.ports.len(), 1, "only the listening port is watched");
    let p = &r.ports[0];
    assert_eq!((p.name.as_str(), p.port), ("tcp-5432", 5432));
    assert_eq!((p.sockets, p.bound_by_expected, p.bound_by_other), (2, true, true));
    assert!(!p.holders[0].expected, "unexpected holders sort first");
}

#[test]
fn a_port_in_the_bsd_high_range_is_in_range() {
    let mut s = snap(vec![], &[]);
    // FreeBSD after moving `first` above 50000 but leaving hifirst..hilast as they were.
    s.ranges = ranges((50001, 65535, ""), (50001, 65535, ""));
    let rep = assess(&watch(50000, None), &s);
    assert_eq!(rep.ports[0].reboot_risk(), Some(false), "outside first..last and no high range");
    for view in s.ranges.values_mut() {
        view.high = Some(PortRange { start: 49152, end: 65535 });
    }
    let rep = assess(&watch(50000, None), &s);
    assert_eq!(rep.ports[0].in_range.get(&Store::Persistent), Some(&true));
    assert_eq!(rep.ports[0].reboot_risk(), Some(true), "programs asking for IP_PORTRANGE_HIGH can still take it");
}

// The learned baseline as the expectation.

fn learned(port: u16, name: &str, user: &str, unit: Option<&str>) -> crate::baseline::Baseline {
    use crate::baseline::{Baseline, Owner, Policy};
    let o = Owner {
        process: name.into(),
        exe: Some(format!("/opt/{name}-1.0/bin/{name}")),
        user: Some(user.into()),
        unit: unit.map(Into::into),
    };
    let mut b = Baseline::default();
    let held = BTreeMap::from([(("tcp".to_string(), port), BTreeSet::from([o]))]);
    b.observe(&held, 1, &Policy { learn_after: 0, forget_after: 100, max_ports: 10 });
    b
}

#[test]
fn learned_owners_are_the_expectation_without_a_config_or_an_expect() {
    let b = learned(1433, "sqlservr", "mssql", Some("mssql-server.service"));
    let listen = |inode| sock(1433, SockState::Listen, inode, V4_ANY);
    // (who listens now, expected?): name, user and unit compared; the exe path (an upgrade moves it) is not.
    let cases = [
        (Process { exe: Some("/opt/sqlservr-2.0/bin/sqlservr".into()), ..proc_named("sqlservr", "mssql", "mssql-server.service") }, true),
        (proc_named("sqlservr", "root", "mssql-server.service"), false),
        (proc_named("sqlservr", "mssql", "other.service"), false),
        (proc_named("nc", "mssql", "mssql-server.service"), false),
    ];
    for (p, want) in cases {
        let s = snap(vec![listen(7)], &[(7, 70, p.clone())]);
        let r = assess_with(&Config::discover(), &s, Some(&b));
        let port = r.ports.iter().find(|x| x.port == 1433).expect("watched");
        assert_eq!((port.bound_by_expected, port.bound_by_other), (want, !want), "{p:?}");
        assert_eq!(port.learned.as_ref().map(|o| o.len()), Some(1));
        // A config watch without expect takes the baseline too; one with expect keeps its own rule.
        let r = assess_with(&watch(1433, None), &s, Some(&b));
        assert_eq!(r.ports[0].bound_by_expected, want, "{p:?}");
        let r = assess_with(&watch(1433, expect_process("nc")), &s, Some(&b));
        assert_eq!(r.ports[0].bound_by_expected, p.name == "nc", "{p:?}");
        assert!(r.ports[0].learned.is_none());
    }
}

#[test]
fn discovery_watches_a_learned_port_whoever_holds_it_or_nobody() {
    let b = learned(40000, "sqlservr", "mssql", None);
    // A client's connection from the learned port: held by other.
    let client = sock(40000, SockState::Established, 9, "127.0.0.1");
    let s = snap(vec![client], &[(9, 90, proc_named("curl", "alice", "session.scope"))]);
    let r = assess_with(&Config::discover(), &s, Some(&b));
    let p = r.ports.iter().find(|p| p.port == 40000).expect("the learned port is watched without a listener");
    assert_eq!((p.name.as_str(), p.bound_by_other, p.bound_by_expected), ("tcp-40000", true, false));
    // Nobody: watched, unbound, expected owner missing.
    let r = assess_with(&Config::discover(), &snap(vec![], &[]), Some(&b));
    assert_eq!(r.ports.len(), 1);
    assert!(!r.ports[0].bound() && !r.ports[0].bound_by_expected && r.ports[0].learned.is_some());
    // Without a baseline, nothing is watched there.
    assert!(assess(&Config::discover(), &s).ports.is_empty());
}

#[test]
fn a_listening_port_shared_by_different_processes_is_counted() {
    let l = |inode| sock(8080, SockState::Listen, inode, V4_ANY);
    let s = snap(
        vec![l(1), l(2), l(3)],
        &[
            (1, 10, proc_named("nginx", "www", "nginx.service")),
            (2, 11, proc_named("nginx", "www", "nginx.service")),
            (3, 12, proc_named("evil", "www", "x.service")),
        ],
    );
    assert_eq!(assess(&Config::discover(), &s).shared_listeners, BTreeMap::from([((Protocol::Tcp, 8080), 2)]));
    let workers = snap(
        vec![l(1), l(2)],
        &[(1, 10, proc_named("nginx", "www", "nginx.service")), (2, 11, proc_named("nginx", "www", "nginx.service"))],
    );
    assert!(assess(&Config::discover(), &workers).shared_listeners.is_empty(), "one program's workers are one owner");
}

#[test]
fn a_namespace_is_assessed_by_its_own_range_and_its_owners_only_when_they_were_looked_at() {
    let owners_ok = CollectorStatus { name: CollectorName::Owners, success: true, duration: Default::default() };
    let app = sock(8080, SockState::Listen, 77, V4_ANY);
    let view = crate::model::NetnsView {
        inode: 4026532999,
        range: Some(PortRange { start: 8000, end: 9000 }),
        reserved: Some(crate::parse::sysctl::parse_reserved_ports("").expect("empty")),
        sockets: vec![app],
        ..Default::default()
    };
    let sockets_ok = CollectorStatus { name: CollectorName::Sockets, success: true, duration: Default::default() };
    let mut snap = Snapshot { netns: vec![view], collectors: vec![owners_ok, sockets_ok], owners_resolvable: true, ..Snapshot::default() };
    snap.owners.insert(77, [5].into_iter().collect());
    snap.processes.insert(5, proc_named("app", "root", "app.service"));
    // The host's ranges say nothing of the namespace's.
    snap.ranges = ranges((30000, 40000, ""), (30000, 40000, ""));
    let config = watch(8080, expect_process("app"));

    snap.netns_owners = crate::model::NetnsOwners::Resolved;
    let report = assess(&config, &snap);
    let p = &report.netns_ports[0].ports[0];
    assert_eq!((p.bound_by_expected, p.bound_by_other), (true, false));
    assert_eq!((p.in_range.get(&Store::Active), p.excluded.get(&Store::Active)), (Some(&true), Some(&false)));
    assert!(!p.in_range.contains_key(&Store::Persistent) && p.unknown.is_empty(), "no next boot, and none pretended: {p:?}");

    snap.netns_owners = crate::model::NetnsOwners::ReadLate;
    let report = assess(&config, &snap);
    let p = &report.netns_ports[0].ports[0];
    assert_eq!(
        p.unknown.iter().map(|u| (u.verdict, u.reason.as_str())).collect::<Vec<_>>(),
        vec![(Verdict::Owners, "the namespace was read after the owners collector looked")]
    );
    snap.netns_owners = crate::model::NetnsOwners::LookFailed;
    let report = assess(&config, &snap);
    let p = &report.netns_ports[0].ports[0];
    assert_eq!(
        p.unknown.iter().map(|u| (u.verdict, u.reason.as_str())).collect::<Vec<_>>(),
        vec![(Verdict::Owners, "the namespace read's own look at the processes failed")]
    );
    // The host's own port (nobody holds it there) keeps its owners verdict.
    assert!(report.ports[0].unknown.iter().all(|u| u.verdict != Verdict::Owners));
}

#[test]
fn a_namespace_without_the_sockets_collector_tells_no_holders() {
    let view = crate::model::NetnsView {
        inode: 4026532998,
        range: Some(PortRange { start: 8000, end: 9000 }),
        reserved: Some(crate::parse::sysctl::parse_reserved_ports("").expect("empty")),
        ..Default::default()
    };
    let owners_ok = CollectorStatus { name: CollectorName::Owners, success: true, duration: Default::default() };
    let mut snap = Snapshot {
        netns: vec![view],
        collectors: vec![owners_ok],
        netns_owners: crate::model::NetnsOwners::Resolved,
        ..Snapshot::default()
    };
    snap.disabled = [CollectorName::Sockets].into_iter().collect();
    let report = assess(&watch(8080, expect_process("app")), &snap);
    let p = &report.netns_ports[0].ports[0];
    assert_eq!(
        p.unknown.iter().map(|u| (u.verdict, u.reason.as_str())).collect::<Vec<_>>(),
        vec![(Verdict::Holders, "the sockets collector is disabled")]
    );
    // Asked for: the namespace's own listing stands.
    snap.collectors.push(CollectorStatus { name: CollectorName::Sockets, success: false, duration: Default::default() });
    snap.disabled = crate::model::CollectorSet::default();
    let report = assess(&watch(8080, expect_process("app")), &snap);
    assert!(report.netns_ports[0].ports[0].unknown.is_empty(), "{:?}", report.netns_ports[0].ports[0].unknown);
}
