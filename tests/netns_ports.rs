//! The watched ports inside other network namespaces (`--collector.netns`),
//! by the host's rules, on a real kernel (root only).
//!
//! Each seeded namespace gets its own dynamic range (some widened over the
//! watched ports), and on the watched TCP and UDP ports: the expected
//! program, another program, nobody, or a sidecar-style client whose
//! outgoing connection was handed the app's port as its source port (the
//! namespace's range narrowed to that one port while it connects, then
//! widened). Each app-port holder runs in a real cgroup named as the kubelet
//! (both drivers, with containerd), CRI-O, docker or podman name theirs.
//! The exporter runs in the host's namespace; for every namespace
//! its `portwatch_netns_port_*` series must say what `ss -tanp`/`ss -uanp`
//! and `/proc/sys`, run inside that namespace, say. A second exporter
//! without a config file must watch each namespace's own TCP listeners.

#[path = "common/cgroups.rs"]
mod cgroups;
mod common;
#[path = "common/exporter.rs"]
mod exporter;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/ss.rs"]
mod ss;

use common::{require_root, require_tool, value, write_config};
use exporter::Exporter;
use netns::Netns;
use rng::Rng;
use std::collections::{BTreeMap, BTreeSet};

const APP: u16 = 8080;
const DNS: u16 = 5353;
const IDLE: u16 = 9999;

fn inode_of(ns: &Netns) -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", ns.name)).expect("namespace file").ino().to_string()
}

fn read_in(ns: &Netns, key: &str) -> String {
    let out = ns.cmd("cat").arg(format!("/proc/sys/net/ipv4/{key}")).output().expect("cat");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The namespace's range and reserved ports, as its kernel prints them.
fn range_in(ns: &Netns) -> (u16, u16, BTreeSet<u16>) {
    let r: Vec<u16> = read_in(ns, "ip_local_port_range").split_whitespace().map(|v| v.parse().expect("port")).collect();
    let mut reserved = BTreeSet::new();
    for piece in read_in(ns, "ip_local_reserved_ports").split(',').filter(|p| !p.is_empty()) {
        let (a, b) = piece.split_once('-').unwrap_or((piece, piece));
        reserved.extend(a.parse::<u16>().expect("reserved")..=b.parse::<u16>().expect("reserved"));
    }
    (r[0], r[1], reserved)
}

/// What `ss` says of one port in the namespace: (held by `expected`, held by anyone else or nobody).
fn holders(rows: &[ss::SsRow], port: u16, expected: &str) -> Option<(bool, bool)> {
    let on: Vec<_> = rows.iter().filter(|r| r.port == port).collect();
    if on.is_empty() {
        return None;
    }
    let by_expected = on.iter().any(|r| r.owners.iter().any(|(n, _)| n == expected));
    let by_other = on.iter().any(|r| !r.owners.iter().any(|(n, _)| n == expected));
    Some((by_expected, by_other))
}

fn series(metric: &str, inode: &str, name: &str, port: u16, proto: &str) -> String {
    format!(r#"{metric}{{netns="{inode}",name="{name}",port="{port}",protocol="{proto}"}}"#)
}

/// Processes moved into a container's cgroup, by pid.
type Containers = BTreeMap<u32, rng::Container>;

/// One namespace's watched port against the kernel.
fn check_port(m: &str, ns: &Netns, rows: &[ss::SsRow], containers: &Containers, (name, port, proto, expected): (&str, u16, &str, &str)) {
    let inode = inode_of(ns);
    let what = format!("namespace {} ({inode}) {proto}/{port}", ns.name);
    let (start, end, reserved) = range_in(ns);
    let (by_expected, by_other) = holders(rows, port, expected).unwrap_or((false, false));
    let get = |metric: &str| value(m, &series(metric, &inode, name, port, proto));
    assert_eq!(get("portwatch_netns_port_bound_by_expected"), Some(f64::from(u8::from(by_expected))), "{what}");
    assert_eq!(get("portwatch_netns_port_bound_by_other"), Some(f64::from(u8::from(by_other))), "{what}");
    let in_range = (start..=end).contains(&port);
    assert_eq!(get("portwatch_netns_port_in_dynamic_range"), Some(f64::from(u8::from(in_range))), "{what}: range {start}-{end}");
    let excluded = reserved.contains(&port);
    assert_eq!(get("portwatch_netns_port_excluded_from_dynamic_range"), Some(f64::from(u8::from(excluded))), "{what}");
    // Each holder's owner as ss names it, on the socket_info series.
    for r in rows.iter().filter(|r| r.port == port) {
        for (process, pid) in &r.owners {
            let needle = format!(r#"netns="{inode}",name="{name}",port="{port}",protocol="{proto}","#);
            // The holder's container, as the test named its cgroup.
            let container = containers.get(pid).map_or(String::new(), |c| {
                let uid = c.pod_uid.as_ref().map_or(String::new(), |u| format!(r#",pod_uid="{u}""#));
                format!(r#"container_runtime="{}",container_id="{}"{uid}}}"#, c.runtime, c.id)
            });
            let found = m.lines().any(|l| {
                l.starts_with("portwatch_netns_port_socket_info{")
                    && l.contains(&needle)
                    && l.contains(&format!(r#"pid="{pid}""#))
                    && l.contains(&format!(r#"process="{process}""#))
                    && (container.is_empty() && !l.contains("container_runtime=") || l.contains(&container))
            });
            assert!(found, "{what}: no socket_info for {process} ({pid}) {container}");
        }
    }
    // A namespace has no next boot of its own: no verdict is pretended.
    assert!(!m.contains(&format!(r#"netns="{inode}",name="{name}",port="{port}",protocol="{proto}",store="#)), "{what}");
}

/// A scrape whose namespaces were read before the owners collector looked.
/// A cold first scrape of many namespaces may not be: then their ports' owner
/// verdicts must be unknown, saying why (never a guess), and a later scrape
/// (warm readers) has them.
fn settled(exp: &Exporter) -> String {
    for _ in 0..5 {
        let (status, m) = exp.get("/metrics", "");
        assert_eq!(status, 200);
        let unknown: Vec<&str> = m.lines().filter(|l| l.starts_with("portwatch_netns_port_verdict_unknown{")).collect();
        common::assert_unique_series(&m);
        if unknown.is_empty() {
            return m;
        }
        let late = r#"verdict="owners",reason="the namespace was read after the owners collector looked""#;
        assert!(unknown.iter().all(|l| l.contains(late)), "{unknown:?}");
    }
    panic!("five scrapes and the namespaces' owners are still unknown");
}

#[test]
fn watched_ports_in_every_namespace_match_ss_inside_it_needs_root() {
    if !require_root("watched_ports_in_every_namespace_match_ss_inside_it_needs_root") || !require_tool("ss") {
        return;
    }
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0f15_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        tmp.path(),
        &format!(
            "ports:\n  - {{name: app, port: {APP}, expect: {{process: app}}}}\n  - {{name: dns, port: {DNS}, protocol: udp, expect: {{process: dns}}}}\n  - {{name: idle, port: {IDLE}}}\n"
        ),
    );
    let mut spaces = Vec::new();
    let mut sidecars = 0;
    let mut groups = cgroups::Cgroups::find();
    let mut containers = Containers::new();
    let top = format!("/pwtest-{}-np.slice", std::process::id());
    for i in 0..10 {
        let mut ns = Netns::new(&format!("np{i}"));
        let server = ns.peer("upstream", "serve-tcp", "127.0.0.1", 1500).port;
        // The app's port: its program, another, nobody, or a sidecar's source port.
        let holder = match if i == 0 { 3 } else { rng.below(4) } {
            0 => Some(ns.peer("app", "listen-tcp", "0.0.0.0", APP)),
            1 => Some(ns.peer("intruder", "listen-tcp", "127.0.0.1", APP)),
            2 => None,
            _ => {
                ns.sysctl("net.ipv4.ip_local_port_range", &format!("{APP} {APP}"));
                let sidecar = ns.peer("sidecar", "connect-tcp", "127.0.0.1", server);
                assert_eq!(sidecar.port, APP, "the kernel handed the sidecar the app's port");
                sidecars += 1;
                Some(sidecar)
            }
        };
        if let Some(h) = holder.filter(|_| i % 3 != 2) {
            let c = rng.container_cgroup(&top, i);
            groups.enter(h.pid, &c.path, false);
            containers.insert(h.pid, c);
        }
        // The namespace's range afterwards: the default, or seeded (some widened over the app's port).
        if i == 0 || rng.below(3) > 0 {
            let start = if rng.below(2) == 0 { 1024 + rng.below(7000) as u16 } else { 10_000 + rng.below(20_000) as u16 };
            ns.sysctl("net.ipv4.ip_local_port_range", &format!("{start} {}", start + 2000 + rng.below(30_000) as u16));
        }
        if rng.below(2) == 0 {
            ns.sysctl("net.ipv4.ip_local_reserved_ports", &format!("{APP},{}", 20_000 + rng.below(100)));
        }
        match rng.below(3) {
            0 => drop(ns.peer("dns", "bind-udp", "0.0.0.0", DNS)),
            1 => drop(ns.peer("other", "bind-udp", "127.0.0.1", DNS)),
            _ => {}
        }
        spaces.push(ns);
    }
    assert!(sidecars > 0 && !containers.is_empty());

    let exp = Exporter::start(&["--collector.netns", "--config.file", &cfg]);
    let m = settled(&exp);
    assert_eq!(value(&m, r#"portwatch_scrape_collector_success{collector="netns"}"#), Some(1.0), "{m}");
    for ns in &spaces {
        let tcp = ss::rows(ns, "-tanpH");
        let udp = ss::rows(ns, "-uanpH");
        check_port(&m, ns, &tcp, &containers, ("app", APP, "tcp", "app"));
        check_port(&m, ns, &udp, &containers, ("dns", DNS, "udp", "dns"));
        check_port(&m, ns, &tcp, &containers, ("idle", IDLE, "tcp", "-"));
    }
    // The sidecar's namespace: the app's port taken by another, inside the widened range.
    let inode = inode_of(&spaces[0]);
    assert_eq!(value(&m, &series("portwatch_netns_port_bound_by_other", &inode, "app", APP, "tcp")), Some(1.0));
    assert_eq!(value(&m, r#"portwatch_netns_ports_omitted"#), Some(0.0));
    // The host's own series stay the host's: nothing of the namespaces leaks into them.
    assert!(value(&m, r#"portwatch_port_bound{name="app",port="8080",protocol="tcp"}"#).is_some());
    drop(exp);

    // Without a config file each namespace's own TCP listeners are watched, expecting their programs.
    let exp = Exporter::start(&["--collector.netns"]);
    let m = settled(&exp);
    for ns in &spaces {
        let inode = inode_of(ns);
        let rows = ss::rows(ns, "-tanpH");
        let listening: BTreeSet<u16> = rows.iter().filter(|r| r.state == "listen").map(|r| r.port).collect();
        let watched: BTreeSet<u16> = m
            .lines()
            .filter(|l| l.starts_with(&format!(r#"portwatch_netns_port_bound_by_expected{{netns="{inode}","#)))
            .filter_map(|l| l.split("port=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(watched, listening, "namespace {}: watched ports are its listeners", ns.name);
        for port in listening {
            let name = format!("tcp-{port}");
            assert_eq!(value(&m, &series("portwatch_netns_port_bound_by_expected", &inode, &name, port, "tcp")), Some(1.0));
        }
    }
    drop(exp);
    drop(spaces);
    drop(groups);
}

/// With `--collector.netns.refresh-interval`, scrapes serve the background
/// reader's latest read: one moment's picture, sockets and their owners as
/// the read found them (a holder that left since is still that read's
/// holder, never an unknown or another program). Its age is said, and is no
/// younger than the time since that read was first served; a later read has
/// what `ss` says.
#[test]
fn background_reads_are_served_as_one_moment_with_their_age_needs_root() {
    if !require_root("background_reads_are_served_as_one_moment_with_their_age_needs_root") || !require_tool("ss") {
        return;
    }
    const INTERVAL: f64 = 10.0;
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), &format!("ports:\n  - {{name: app, port: {APP}, expect: {{process: app}}}}\n"));
    let mut ns = Netns::new("bg");
    let app = ns.peer("app", "listen-tcp", "0.0.0.0", APP);
    let inode = inode_of(&ns);
    let exp = Exporter::start(&["--collector.netns", "--collector.netns.refresh-interval=10s", "--config.file", &cfg]);
    let age_of = |m: &str| value(m, "portwatch_netns_read_age_seconds").expect("the age is always said");
    let get = |m: &str, metric: &str| value(m, &series(metric, &inode, "app", APP, "tcp"));
    let unknown = format!(r#"portwatch_netns_port_verdict_unknown{{netns="{inode}","#);
    let held_by = |m: &str, pid: u32| {
        m.lines().any(|l| {
            l.starts_with(&format!(r#"portwatch_netns_port_socket_info{{netns="{inode}","#)) && l.contains(&format!(r#"pid="{pid}""#))
        })
    };

    // The first scrape reads (nothing to serve yet).
    let m = settled(&exp);
    let first_done = std::time::Instant::now();
    assert_eq!(age_of(&m), 0.0, "read by this scrape");
    check_port(&m, &ns, &ss::rows(&ns, "-tanpH"), &Containers::new(), ("app", APP, "tcp", "app"));

    // The app goes and an intruder takes its port, between two background reads.
    ns.stop(app.pid);
    let stopped = std::time::Instant::now();
    let intruder = ns.peer("intruder", "listen-tcp", "127.0.0.1", APP);
    let (mut saw_old, mut saw_intruder) = (false, false);
    for _ in 0..300 {
        let since_first = first_done.elapsed().as_secs_f64();
        let (status, m) = exp.get("/metrics", "");
        assert_eq!(status, 200);
        common::assert_unique_series(&m);
        let age = age_of(&m);
        assert!(age < INTERVAL + 20.0, "the background reader keeps up: age {age}");
        assert!(!m.contains(&unknown), "every owner known:\n{m}");
        let (expected, other) = (get(&m, "portwatch_netns_port_bound_by_expected"), get(&m, "portwatch_netns_port_bound_by_other"));
        if age >= stopped.elapsed().as_secs_f64() {
            // Read while the app held the port: that moment, the app its holder.
            assert!(age >= since_first - 0.001 || saw_old, "the first read, served: its age {age} counts from before {since_first}");
            assert_eq!((expected, other), (Some(1.0), Some(0.0)), "age {age}");
            assert!(held_by(&m, app.pid) && !held_by(&m, intruder.pid), "the read's own holders");
            saw_old = true;
        } else if other == Some(1.0) {
            assert_eq!(expected, Some(0.0));
            assert!(held_by(&m, intruder.pid) && !held_by(&m, app.pid));
            check_port(&m, &ns, &ss::rows(&ns, "-tanpH"), &Containers::new(), ("app", APP, "tcp", "app"));
            saw_intruder = true;
            break;
        } else {
            // Read between the app's exit and the intruder's bind: nobody.
            assert_eq!((expected, other), (Some(0.0), Some(0.0)), "age {age}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(saw_old, "the read made before the app left was never served");
    assert!(saw_intruder, "no background read within 30 s showed the intruder");
}

/// A holder that exits while the background reader reads: the read's own
/// look finds no owner for its socket. Served as it was, that socket would
/// show the port held by an unknown program for a whole interval; the
/// namespace is read again after the look and the closed socket dropped.
/// Reads are slowed by many namespaces and thousands of sockets in the
/// shared hash table, and the holder is killed at seeded random times: no
/// scrape may show a listener without an owner.
#[test]
fn a_holder_exiting_mid_read_never_leaves_an_ownerless_listener_served_needs_root() {
    if !require_root("a_holder_exiting_mid_read_never_leaves_an_ownerless_listener_served_needs_root") {
        return;
    }
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f00d_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), &format!("ports:\n  - {{name: app, port: {APP}, expect: {{process: app}}}}\n"));
    // Made first: the lowest inode, read first, so the look comes long after its dump.
    let mut target = Netns::new("mr");
    let inode = inode_of(&target);
    let mut others: Vec<Netns> = (0..30).map(|i| Netns::new(&format!("mr{i}"))).collect();
    // Thousands of TIME_WAIT sockets in the shared table: every namespace's walk crosses them.
    for ns in others.iter_mut().take(3) {
        let server = ns.peer("upstream", "serve-tcp", "127.0.0.1", 1600).port;
        for _ in 0..3 {
            ns.peer("client", "churn-tcp", "127.0.0.1", server);
        }
    }
    let exp = Exporter::start(&["--collector.netns", "--collector.netns.refresh-interval=1s", "--config.file", &cfg]);
    let ownerless = format!(
        r#"portwatch_netns_port_socket_info{{netns="{inode}",name="app",port="{APP}",protocol="tcp",family="ipv4",address="0.0.0.0",state="listen",pid="""#
    );
    let (mut scrapes, mut served) = (0, 0);
    let started = std::time::Instant::now();
    for round in 0..12 {
        let app = target.peer("app", "listen-tcp", "0.0.0.0", APP);
        let kill_at = std::time::Instant::now() + std::time::Duration::from_millis(rng.below(1500));
        let mut killed = None;
        while killed.is_none_or(|k: std::time::Instant| k.elapsed() < std::time::Duration::from_millis(1500)) {
            if killed.is_none() && std::time::Instant::now() >= kill_at {
                target.stop(app.pid);
                killed = Some(std::time::Instant::now());
            }
            let (status, m) = exp.get("/metrics", "");
            assert_eq!(status, 200);
            scrapes += 1;
            served += usize::from(value(&m, "portwatch_netns_read_age_seconds").is_some_and(|a| a > 0.0));
            assert!(
                !m.contains(&ownerless),
                "round {round}: a listener without an owner is served:\n{}",
                m.lines().filter(|l| l.contains(&inode)).collect::<Vec<_>>().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "bounded");
    }
    eprintln!("{scrapes} scrapes, {served} served from a background read");
    assert!(served * 2 > scrapes, "most scrapes were served from the background reader: {served} of {scrapes}");
    drop(exp);
    drop(others);
}
