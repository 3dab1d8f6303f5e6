//! Ephemeral ports per destination against the real kernel: in a fresh
//! network namespace with a narrowed `ip_local_port_range` and reserved
//! ports, client connections (a seeded random number per destination, some
//! closed to leave TIME_WAIT, some through IPv4-mapped IPv6 sockets) to
//! listeners on several loopback addresses and ports; the exporter's top-K
//! destinations are compared with `ss -tan` taken around the scrape, and the
//! ports available with the namespace's /proc/sys values, through both
//! socket tables (sock_diag and /proc/net/tcp). Root only.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::require_root;
use netns::Netns;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::Stdio;

const RANGE: (u16, u16) = (20000, 20999);
const RESERVED: &str = "20100-20149,20500";

/// (in use, TIME_WAIT) per destination.
type Counts = BTreeMap<(IpAddr, u16), (u64, u64)>;

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// "127.0.0.1:20001", "[::ffff:127.0.0.3]:20005", "*:*" -> address and port.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.rsplit_once(':')?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = addr.split('%').next()?;
    Some((addr.parse().ok()?, port.parse().ok()?))
}

/// The oracle: `ss -tan` rows whose local port is in the range, minus
/// listeners and their accepted children (local port = a listening port),
/// grouped by peer.
fn ss_counts(ns: &Netns, range: (u16, u16)) -> Counts {
    let out = ns.cmd("ss").arg("-tan").output().expect("ss runs");
    assert!(out.status.success(), "ss: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split_whitespace().collect()).filter(|f: &Vec<&str>| f.len() >= 5).collect();
    let listening: Vec<u16> = rows.iter().filter(|f| f[0] == "LISTEN").filter_map(|f| endpoint(f[3]).map(|e| e.1)).collect();
    let mut counts = Counts::new();
    for f in rows.iter().filter(|f| f[0] != "LISTEN") {
        let Some((_, lport)) = endpoint(f[3]) else { continue };
        if !(range.0..=range.1).contains(&lport) || listening.contains(&lport) {
            continue;
        }
        let Some((peer, pport)) = endpoint(f[4]) else { continue };
        if pport == 0 {
            continue;
        }
        let e = counts.entry((canonical(peer), pport)).or_default();
        if f[0] == "TIME-WAIT" {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    counts
}

/// The value of a labelled series of `name`, keyed by destination.
fn exporter_counts(m: &str, name: &str) -> Vec<((IpAddr, u16), u64, String)> {
    let label = |l: &str, k: &str| -> String {
        let at = l.find(&format!("{k}=\"")).unwrap_or_else(|| panic!("no {k} in {l}")) + k.len() + 2;
        l[at..].split('"').next().unwrap_or("").to_string()
    };
    m.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| {
            let addr: IpAddr = label(l, "destination_address").parse().expect("address label");
            let port: u16 = label(l, "destination_port").parse().expect("port label");
            let v: f64 = l.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value");
            ((addr, port), v as u64, label(l, "family"))
        })
        .collect()
}

fn value(m: &str, series: &str) -> f64 {
    common::value(m, series).unwrap_or_else(|| panic!("no {series} in\n{m}"))
}

struct Dest {
    addr: String,
    port: u16,
    open: u64,
    closed: u64,
    mapped: u64,
}

fn plan(rng: &mut fastrand::Rng) -> Vec<Dest> {
    let mut d: Vec<Dest> = Vec::new();
    let n = rng.usize(5..=8);
    for i in 0..n {
        let (addr, port) = match i {
            0 => ("::1".to_string(), 5100),              // an IPv6 destination
            1 => ("127.0.0.9".to_string(), RANGE.1 - 9), // a listener inside the range: its children are not destinations
            2 => ("127.0.0.2".to_string(), 6002),        // same address as i = 3, another port
            _ => (format!("127.0.0.{}", i - 1), 5000 + i as u16),
        };
        let (open, closed) = (rng.u64(0..=25), rng.u64(0..=15));
        d.push(Dest { addr, port, open: open.max(u64::from(open + closed == 0)), closed, mapped: rng.u64(0..=3) });
    }
    d
}

fn ordered(counts: &Counts) -> Vec<((IpAddr, u16), u64, u64)> {
    let mut v: Vec<_> = counts.iter().map(|(k, (u, w))| (*k, *u, *w)).collect();
    v.sort_by(|a, b| (b.1 + b.2, b.1, a.0 .0.is_ipv6(), a.0).cmp(&(a.1 + a.2, a.1, b.0 .0.is_ipv6(), b.0)));
    v
}

fn one_seed(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut ns = Netns::new(&format!("dest{seed}"));
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{} {}", RANGE.0, RANGE.1));
    ns.sysctl("net.ipv4.ip_local_reserved_ports", RESERVED);
    let dests = plan(&mut rng);
    let k = rng.usize(1..dests.len());

    let json = format!(
        "[{}]",
        dests
            .iter()
            .map(|d| format!(r#"{{"addr":"{}","port":{},"open":{},"closed":{},"mapped":{}}}"#, d.addr, d.port, d.open, d.closed, d.mapped))
            .collect::<Vec<_>>()
            .join(",")
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/destinations.py");
    let mut clients =
        ns.cmd("python3").arg(script).arg(&json).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("python3 starts");
    let mut line = String::new();
    BufReader::new(clients.stdout.take().expect("stdout")).read_line(&mut line).expect("helper output");
    assert_eq!(line.trim(), "ready", "seed {seed}: helper failed");

    // Both socket tables: sock_diag (odd seeds) and /proc/net/tcp{,6} (even seeds).
    let source = if seed % 2 == 1 { "netlink" } else { "procfs" };
    ns.exporter(&["--collector.ephemeral.destinations", &k.to_string(), "--collector.sockets.source", source]);
    // The namespace's range as the kernel holds it: the oracle filters on it.
    let read = |key: &str| {
        let out = ns.cmd("cat").arg(format!("/proc/sys/net/ipv4/{key}")).output().expect("cat");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let range: Vec<u32> = read("ip_local_port_range").split_whitespace().map(|v| v.parse().expect("number")).collect();
    assert_eq!(range, vec![u32::from(RANGE.0), u32::from(RANGE.1)], "seed {seed}: the narrowed range is in force");
    let in_ns = (u16::try_from(range[0]).expect("port"), u16::try_from(range[1]).expect("port"));
    // The oracle taken right before and after the scrape must agree (nothing moved meanwhile).
    let mut attempt = 0;
    let (m, counts) = loop {
        let before = ss_counts(&ns, in_ns);
        let m = ns.get("/metrics");
        let after = ss_counts(&ns, in_ns);
        attempt += 1;
        if before == after || attempt == 3 {
            assert_eq!(before, after, "seed {seed}: sockets kept changing");
            break (m, after);
        }
    };

    // The plan as the oracle sees it: one destination each, all its connections.
    assert_eq!(counts.len(), dests.len(), "seed {seed}: {counts:?}");
    for d in &dests {
        let key = (canonical(d.addr.parse().expect("ip")), d.port);
        assert_eq!(counts.get(&key), Some(&(d.open, d.closed)), "seed {seed}: {}:{} in ss", d.addr, d.port);
    }

    let want: Vec<_> = ordered(&counts).into_iter().take(k).collect();
    let in_use = exporter_counts(&m, "portwatch_ephemeral_destination_ports_in_use");
    let time_wait = exporter_counts(&m, "portwatch_ephemeral_destination_ports_time_wait");
    assert_eq!(in_use.len(), k, "seed {seed}: the top K, no more\n{m}");
    let got: Vec<_> = in_use
        .iter()
        .map(|(dest, u, _)| {
            let w =
                time_wait.iter().find(|t| t.0 == *dest).map(|t| t.1).unwrap_or_else(|| panic!("seed {seed}: no time_wait for {dest:?}"));
            (*dest, *u, w)
        })
        .collect();
    // The exposition lists series in label order; the ranking is compared as a set plus the cut.
    let mut got_sorted = got.clone();
    got_sorted.sort_by(|a, b| (b.1 + b.2, b.1, a.0 .0.is_ipv6(), a.0).cmp(&(a.1 + a.2, a.1, b.0 .0.is_ipv6(), b.0)));
    assert_eq!(got_sorted, want, "seed {seed} ({source}): top {k} of {counts:?}");
    for (dest, _, family) in &in_use {
        assert_eq!(family == "ipv4", dest.0.is_ipv4(), "seed {seed}: family of {dest:?}");
    }
    assert_eq!(value(&m, r#"portwatch_ephemeral_destinations{protocol="tcp"}"#), counts.len() as f64, "seed {seed}");
    assert_eq!(value(&m, r#"portwatch_ephemeral_destinations_untracked_sockets{protocol="tcp"}"#), 0.0, "seed {seed}");

    // Available: the range minus the reserved ports inside it, as /proc/sys says.
    let reserved: u32 = read("ip_local_reserved_ports")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let (lo, hi): (u32, u32) = (lo.parse().expect("lo"), hi.parse().expect("hi"));
            (hi.min(range[1]) + 1).saturating_sub(lo.max(range[0]))
        })
        .sum();
    let available = f64::from(range[1] - range[0] + 1 - reserved);
    assert_eq!(available, 949.0, "the test's own arithmetic");
    for fam in ["ipv4", "ipv6"] {
        assert_eq!(value(&m, &format!(r#"portwatch_dynamic_ports_available{{protocol="tcp",family="{fam}"}}"#)), available, "seed {seed}");
    }
    // No port the clients took is reserved: the kernel skipped them, and so no destination can exceed available.
    assert!(got.iter().all(|g| (g.1 + g.2) as f64 <= available));

    let _ = clients.stdin.take().map(|mut s| s.write_all(b""));
    let _ = clients.kill();
    let _ = clients.wait();
}

#[test]
fn top_destinations_match_ss_and_available_matches_proc_sys_needs_root() {
    if !require_root("top_destinations_match_ss_and_available_matches_proc_sys_needs_root") {
        return;
    }
    let seeds: Vec<u64> = match std::env::var("PORTWATCH_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => vec![s],
        None => vec![1, 2, 3, 4],
    };
    for seed in seeds {
        one_seed(seed);
    }
}

#[test]
fn zero_destinations_turns_the_view_off_needs_root() {
    if !require_root("zero_destinations_turns_the_view_off_needs_root") {
        return;
    }
    let mut ns = Netns::new("dest-off");
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{} {}", RANGE.0, RANGE.1));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/destinations.py");
    let mut clients = ns
        .cmd("python3")
        .arg(script)
        .arg(r#"[{"addr":"127.0.0.2","port":5002,"open":3,"closed":1,"mapped":0}]"#)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let mut line = String::new();
    BufReader::new(clients.stdout.take().expect("stdout")).read_line(&mut line).expect("helper output");
    assert_eq!(line.trim(), "ready");
    ns.exporter(&["--collector.ephemeral.destinations", "0"]);
    let m = ns.get("/metrics");
    assert!(!m.contains("portwatch_ephemeral_destination"), "{m}");
    assert!(value(&m, r#"portwatch_dynamic_ports_in_use{protocol="tcp",family="ipv4"}"#) >= 4.0, "the count itself stays");
    let _ = clients.kill();
    let _ = clients.wait();
}
