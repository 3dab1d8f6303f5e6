//! Watched ranges on a real kernel (root only): a NodePort-style range
//! (30000-32767) in throwaway network namespaces, with the dynamic range
//! widened over it, parts of it reserved now, a different set persisted
//! through sysctl.d for the next boot, some of its ports held by the
//! expected listener, some by others, and one taken by a client as its
//! ephemeral source port. Seeded cases (PORTWATCH_SEED replays one).
//!
//! The oracles are the kernel's: the active counts come from the namespace's
//! /proc/sys values read back, the persistent ones from the sysctl.d values
//! written into a second, scratch namespace and read back (so the kernel
//! parses them), and the holders from `ss -tanp`. The test only restates the
//! rules port by port over those.

mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
#[path = "common/kernel_ports.rs"]
mod kernel_ports;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/ss.rs"]
mod ss;
use kernel_ports::{counts, parse_range, parse_reserved, read_sysctl, reserved_list};

use common::{require_root, require_tool, value, write_config};
use netns::Netns;
use std::collections::{BTreeMap, BTreeSet};

const START: u16 = 30000;
const END: u16 = 32767;
const CASES: u64 = 4;

/// A few random pieces around the watched range, written as the kernel takes them.
fn pieces(rng: &mut Rng) -> String {
    let n = rng.between(2, 4);
    reserved_list((0..n).map(|_| {
        let a = rng.between(29500, 33000);
        (a, a.saturating_add(rng.between(0, 400)))
    }))
}

fn v(m: &str, series: &str) -> f64 {
    value(m, series).unwrap_or_else(|| panic!("no series {series} in:\n{m}"))
}

fn series(metric: &str, store: Option<&str>) -> String {
    match store {
        Some(s) => format!(r#"{metric}{{name="nodeports",protocol="tcp",store="{s}"}}"#),
        None => format!(r#"{metric}{{name="nodeports",protocol="tcp"}}"#),
    }
}

fn assert_store(m: &str, store: &str, want: (u32, u32, u32), case: u64) {
    let got = (
        v(m, &series("portwatch_watched_range_ports_in_dynamic_range", Some(store))),
        v(m, &series("portwatch_watched_range_ports_excluded", Some(store))),
        v(m, &series("portwatch_watched_range_ports_at_risk", Some(store))),
    );
    assert_eq!(got, (f64::from(want.0), f64::from(want.1), f64::from(want.2)), "case {case}, store {store}");
}

#[test]
fn nodeport_range_counts_match_the_kernel_and_ss_needs_root() {
    if !require_root("nodeport_range_counts_match_the_kernel_and_ss_needs_root") || !require_tool("ss") {
        return;
    }
    let seed = std::env::var("PORTWATCH_SEED").ok().and_then(|s| s.parse().ok()).filter(|s| *s != 0).unwrap_or(0x4e0d_e907);
    let mut rng = Rng(seed);
    let mut longest = 0;
    for case in 0..CASES {
        longest = longest.max(one_case(&mut rng, case));
    }
    // The kernel prints the reserved list in one read(2) and nothing at a
    // later offset: a list longer than a small first read must still be whole.
    assert!(longest > 32, "no case reserved a list longer than 32 characters ({longest})");
}

/// One seeded case; returns the length of the active reserved list as the kernel prints it.
fn one_case(rng: &mut Rng, case: u64) -> usize {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        tmp.path(),
        &format!("range_offender_limit: 10\nports:\n  - name: nodeports\n    port: {START}-{END}\n    expect: {{process: kube-proxy}}\n"),
    );
    let root = tmp.path().display().to_string();
    std::fs::create_dir_all(tmp.path().join("etc/sysctl.d")).expect("mkdir");
    let mut ns = Netns::new(&format!("r{case}"));

    // Active: a dynamic range widened over part of the watched range, and pieces reserved.
    let lo = rng.between(28000, 31500);
    let hi = rng.between(lo.max(31000) + 1, 40000);
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{lo} {hi}"));
    ns.sysctl("net.ipv4.ip_local_reserved_ports", &pieces(rng));
    // Persistent: another range and other pieces, through sysctl.d.
    let (plo, phi) = (rng.between(20000, 31000), rng.between(31200, 45000));
    let persisted = pieces(rng);
    let dropin = format!("net.ipv4.ip_local_port_range = {plo} {phi}\nnet.ipv4.ip_local_reserved_ports = {persisted}\n");
    std::fs::write(tmp.path().join("etc/sysctl.d/60-ports.conf"), &dropin).expect("sysctl.d");

    // The kernel's own reading of both views.
    let active_range = parse_range(&read_sysctl(&ns, "net.ipv4.ip_local_port_range"));
    let reserved_text = read_sysctl(&ns, "net.ipv4.ip_local_reserved_ports");
    let active_reserved = parse_reserved(&reserved_text);
    assert_eq!(active_range, (lo, hi), "case {case}: the kernel took the widened range");
    let scratch = Netns::new(&format!("s{case}"));
    scratch.sysctl("net.ipv4.ip_local_port_range", &format!("{plo} {phi}"));
    scratch.sysctl("net.ipv4.ip_local_reserved_ports", &persisted);
    let boot_range = parse_range(&read_sysctl(&scratch, "net.ipv4.ip_local_port_range"));
    let boot_reserved = parse_reserved(&read_sysctl(&scratch, "net.ipv4.ip_local_reserved_ports"));

    // Holders: the expected listener on two ports, another listener, a UDP
    // socket (another protocol: never counted), and a client handed a port
    // of the range that is at risk now as its ephemeral source port.
    let mut taken = BTreeSet::new();
    let mut free_port = |rng: &mut Rng, ok: &dyn Fn(u16) -> bool| loop {
        let p = rng.between(START, END);
        if ok(p) && taken.insert(p) {
            return p;
        }
    };
    let at_risk_now = |p: u16| active_range.0 <= p && p <= active_range.1 && !active_reserved.contains(&p);
    let client_port = free_port(rng, &at_risk_now);
    let expected_ports = [free_port(rng, &|_| true), free_port(rng, &|_| true)];
    let other_port = free_port(rng, &|_| true);
    let udp_port = free_port(rng, &|_| true);
    for p in expected_ports {
        ns.peer("kube-proxy", "listen-tcp", "0.0.0.0", p);
    }
    let intruder = ns.peer("intruder", "listen-tcp", "0.0.0.0", other_port);
    ns.peer("media", "bind-udp", "0.0.0.0", udp_port);
    ns.peer("backend", "listen-tcp", "127.0.0.1", 5000);
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{client_port} {client_port}"));
    let client = ns.peer("client", "connect-tcp", "127.0.0.1", 5000);
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{lo} {hi}"));
    assert_eq!(client.port, client_port, "case {case}: the kernel handed out the only port of its range");

    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &root]);
    let m = ns.get("/metrics");
    let rows = ss::rows(&ns, "-tanpH");

    assert_store(&m, "active", counts((START, END), active_range, &active_reserved), case);
    assert_store(&m, "persistent", counts((START, END), boot_range, &boot_reserved), case);
    assert_eq!(v(&m, &series("portwatch_watched_range_first_port", None)), f64::from(START));
    assert_eq!(v(&m, &series("portwatch_watched_range_last_port", None)), f64::from(END));

    // ss, port by port: a socket is expected when one of its owners is kube-proxy.
    let mut per_port: BTreeMap<u16, (bool, bool)> = BTreeMap::new();
    let mut offenders = BTreeSet::new();
    for r in rows.iter().filter(|r| (START..=END).contains(&r.port)) {
        let expected = r.owners.iter().any(|(n, _)| n == "kube-proxy");
        let e = per_port.entry(r.port).or_default();
        e.0 |= expected;
        e.1 |= !expected;
        if !expected {
            offenders.extend(r.owners.iter().map(|(_, pid)| (r.port, pid.to_string())));
            if r.owners.is_empty() {
                offenders.insert((r.port, String::new()));
            }
        }
    }
    let count = |f: fn(&(bool, bool)) -> bool| per_port.values().filter(|x| f(x)).count() as f64;
    assert_eq!(v(&m, &series("portwatch_watched_range_ports_bound", None)), per_port.len() as f64, "case {case}");
    assert_eq!(v(&m, &series("portwatch_watched_range_ports_bound_by_expected", None)), count(|x| x.0), "case {case}");
    assert_eq!(v(&m, &series("portwatch_watched_range_ports_bound_by_other", None)), count(|x| x.1), "case {case}");
    assert!(per_port.len() >= 4, "case {case}: ss sees the range's holders: {per_port:?}");

    // Every offender ss names is an offender series, and nothing else is.
    let shown: BTreeSet<(u16, String)> = m
        .lines()
        .filter(|l| l.starts_with("portwatch_watched_range_offender_info{"))
        .map(|l| {
            let label = |k: &str| l.split(&format!("{k}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
            (label("port").parse().expect("port"), label("pid"))
        })
        .collect();
    assert_eq!(shown, offenders, "case {case}:\n{m}");
    assert!(offenders.contains(&(other_port, intruder.pid.to_string())) && offenders.contains(&(client_port, client.pid.to_string())));
    assert_eq!(v(&m, &series("portwatch_watched_range_offenders_omitted", None)), 0.0);
    let state_of = |port: u16| rows.iter().find(|r| r.port == port).map(|r| r.state.clone()).unwrap_or_default();
    assert_eq!(state_of(client_port), "estab", "case {case}: ss shows the client's source port");

    // The text tables under /proc give the same holders (the other socket source).
    let out = ns
        .cmd(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["check", "--output", "json", "--collector.sockets.source", "procfs", "--config.file", &cfg, "--path.rootfs", &root])
        .output()
        .expect("check runs");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let r = &j["watched_ranges"][0];
    assert_eq!(
        (r["bound"].as_u64(), r["bound_by_expected"].as_u64(), r["bound_by_other"].as_u64()),
        (Some(per_port.len() as u64), Some(count(|x| x.0) as u64), Some(count(|x| x.1) as u64)),
        "case {case}: procfs tables: {r}"
    );
    let now = counts((START, END), active_range, &active_reserved);
    assert_eq!(r["now"]["at_risk"].as_u64(), Some(u64::from(now.2)), "case {case}");

    // `check`'s remedy, taken by a kernel: the whole range plus what the boot reserves.
    let out = ns
        .cmd(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["check", "--config.file", &cfg, "--path.rootfs", &root])
        .output()
        .expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let boot_risk = counts((START, END), boot_range, &boot_reserved).2;
    if boot_risk == 0 {
        assert!(!text.contains("ip_local_reserved_ports ="), "case {case}: nothing at risk, no remedy: {text}");
        return reserved_text.len();
    }
    assert_eq!(out.status.code(), Some(1), "case {case}: {text}");
    let line = text.lines().find(|l| l.contains("ip_local_reserved_ports =")).unwrap_or_else(|| panic!("no remedy in {text}"));
    let (content, target) = line.trim().strip_prefix("echo '").and_then(|r| r.split_once("' > ")).expect("echo line");
    let value = content.strip_prefix("net.ipv4.ip_local_reserved_ports = ").expect("the key");
    scratch.sysctl("net.ipv4.ip_local_reserved_ports", value);
    let fixed = parse_reserved(&read_sysctl(&scratch, "net.ipv4.ip_local_reserved_ports"));
    assert!((START..=END).all(|p| fixed.contains(&p)), "case {case}: the remedy reserves the whole range: {value}");
    assert!(boot_reserved.is_subset(&fixed), "case {case}: and keeps what the boot reserves: {value}");
    std::fs::write(tmp.path().join(target.trim_start_matches('/')), format!("{content}\n")).expect("drop-in");
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &series("portwatch_watched_range_ports_at_risk", Some("persistent"))), 0.0, "case {case}: fixed after the remedy");
    assert_eq!(v(&m, &series("portwatch_watched_range_ports_excluded", Some("persistent"))), f64::from(END - START + 1), "case {case}");
    reserved_text.len()
}

/// Single reserved ports, none adjacent (so the kernel prints each alone),
/// whose printed list ("p,q,...\n") is exactly `len` bytes: 3-, 4- and
/// 5-digit ports take 4, 5 and 6 bytes each with their comma or newline.
fn reserved_list_of_length(len: usize, rng: &mut Rng) -> Option<Vec<u16>> {
    let pools: [Vec<u16>; 3] = [(100..999).step_by(2).collect(), (1000..9999).step_by(2).collect(), (10000..65535).step_by(2).collect()];
    for _ in 0..64 {
        let c = rng.below(5) as usize;
        let b_max = len.saturating_sub(4 * c) / 6;
        let b = if b_max == 0 { 0 } else { rng.below(b_max as u64 + 1) as usize };
        let rest = len.checked_sub(4 * c + 6 * b)?;
        if rest % 5 != 0 {
            continue;
        }
        let a = rest / 5;
        if c > pools[0].len() || a > pools[1].len() || b > pools[2].len() {
            continue;
        }
        let mut ports: Vec<u16> = Vec::new();
        for (pool, k) in pools.iter().zip([c, a, b]) {
            let start = rng.below((pool.len() - k + 1) as u64) as usize;
            ports.extend(&pool[start..start + k]);
        }
        return Some(ports);
    }
    None
}

/// The exporter's bounded read of a size-0 /proc file asks for a small first
/// chunk and asks again, larger, from offset 0 while a read fills it; the
/// kernel prints `ip_local_reserved_ports` in one read(2) and nothing past
/// offset 0. Reserved lists of generated lengths, at and around the read
/// sizes (4 KiB, 32 KiB) and up to every other port (~190 KiB), written into
/// a throwaway namespace and read back there through `platform::files`:
/// the ports read are the ports written, and the text is what one 1 MiB
/// read(2) by `dd` gets.
#[test]
fn reserved_lists_of_any_length_are_read_whole_needs_root() {
    use portwatch_exporter::platform::files;
    use std::os::fd::AsRawFd;
    if !require_root("reserved_lists_of_any_length_are_read_whole_needs_root") {
        return;
    }
    let seed = std::env::var("PORTWATCH_SEED").ok().and_then(|s| s.parse().ok()).filter(|s| *s != 0).unwrap_or(0x04e5_e7ed);
    let mut rng = Rng(seed);
    let ns = Netns::new("rlen");
    let path = "/proc/sys/net/ipv4/ip_local_reserved_ports";
    let mut lengths = vec![10, 4095, 4096, 4097, 32767, 32768, 32769, 8 * 4096, 8 * 32768 / 2];
    lengths.extend((0..6).map(|_| 20 + rng.below(150_000) as usize));
    let mut every_other: Vec<u16> = (10000..65535).step_by(2).collect();
    every_other.extend((1000..9999).step_by(2));
    let mut cases: Vec<Vec<u16>> = lengths.iter().filter_map(|&l| reserved_list_of_length(l, &mut rng)).collect();
    cases.push(every_other);
    assert!(cases.len() >= 12, "too few lengths could be built: {}", cases.len());
    let handle = std::fs::File::open(format!("/run/netns/{}", ns.name)).expect("namespace file");
    for (i, ports) in cases.iter().enumerate() {
        let list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        // Written from a thread inside the namespace (a list this long is over a command line's argument limit).
        let in_ns = |f: &(dyn Fn() -> std::io::Result<String> + Sync)| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    // SAFETY: joins this scoped thread only; the fd is valid.
                    assert_eq!(unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
                    f()
                })
                .join()
                .expect("namespace thread")
            })
        };
        in_ns(&|| std::fs::write(path, format!("{list}\n")).map(|()| String::new())).unwrap_or_else(|e| panic!("case {i}: writing: {e}"));
        let dd = ns.cmd("dd").args([&format!("if={path}"), "bs=1M", "count=1", "status=none"]).output().expect("dd");
        assert!(dd.status.success(), "dd");
        let read =
            in_ns(&|| files::read_text(std::path::Path::new(path), files::cap::PROC_SMALL)).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(read.as_bytes(), dd.stdout.as_slice(), "case {i} ({} bytes): the text one large read(2) gets", dd.stdout.len());
        let got = parse_reserved(read.trim());
        let want: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(got, want, "case {i} ({} bytes): seed {seed}", read.len());
    }
}
