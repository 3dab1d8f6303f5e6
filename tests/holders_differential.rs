//! Every holder `ss -tanp`/`ss -uanp` lists is reported, and no other:
//! randomly generated process trees that share (fork, exec), pass
//! (SCM_RIGHTS), accept and close sockets on watched ports, compared with
//! `ss` after every step, with one exporter started before the sharing
//! (warm, then reloaded) and one after it (cold). Root only.
//!
//! PW_DIFF_SEED=N replays one run; PW_DIFF_CASES and PW_DIFF_SECONDS bound it
//! (defaults 40 cases, 60 s; whichever comes first).

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/tree.rs"]
mod tree;

use common::{require_root, require_tool, value, write_config};
use netns::Netns;
use std::time::{Duration, Instant};
use tree::{from_exposition, from_ss, Exporter, Holders, Tree};

const WATCHED: [(&str, u16); 5] = [("tcp", 7001), ("tcp", 7002), ("tcp", 7003), ("udp", 7001), ("udp", 7002)];
const NAMES: [&str; 4] = ["svc", "worker", "intruder", "cli"];
const EXPECT: &str = "svc";

fn config(limit: usize) -> String {
    let mut y = format!("socket_info_limit: {limit}\nports:\n");
    for (proto, port) in WATCHED {
        y.push_str(&format!(
            "  - name: {}{port}\n    port: {port}\n    protocol: {proto}\n    expect: {{process: {EXPECT}}}\n",
            &proto[..1]
        ));
    }
    y
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Listen(u16),
    Other,
}

struct Node {
    alive: bool,
    slots: Vec<Option<Kind>>,
}

/// The generator's view of the tree, so every command it sends is valid.
struct Model {
    nodes: Vec<Node>,
}

impl Model {
    fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].alive).collect()
    }
    fn held(&self) -> Vec<(usize, usize, Kind)> {
        let mut v = Vec::new();
        for i in self.alive() {
            for (s, k) in self.nodes[i].slots.iter().enumerate() {
                if let Some(k) = k {
                    v.push((i, s, *k));
                }
            }
        }
        v
    }
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, v: &[T]) -> Option<T> {
    (!v.is_empty()).then(|| v[rng.usize(..v.len())])
}

/// One random step; returns the command line it ran (for the failure message).
fn step(rng: &mut fastrand::Rng, t: &mut Tree, m: &mut Model) -> String {
    let alive = m.alive();
    let name = NAMES[rng.usize(..NAMES.len())];
    let addr = ["0.0.0.0", "127.0.0.1"][rng.usize(..2)];
    let node = pick(rng, &alive).unwrap_or(0);
    let held = m.held();
    let cmd = match rng.u8(..10) {
        0 if m.nodes.len() < 8 => format!("spawn {name}"),
        1 | 2 => format!("listen {node} {addr} {}", WATCHED[rng.usize(..3)].1),
        3 => format!("udp {node} {addr} {}", WATCHED[3 + rng.usize(..2)].1),
        4 if m.nodes.len() < 12 => format!("fork {node} {name}"),
        5 => format!("exec {node} {name}"),
        6 => match (pick(rng, &held), pick(rng, &alive)) {
            (Some((from, slot, _)), Some(to)) if from != to => format!("send {from} {slot} {to}"),
            _ => format!("spawn {name}"),
        },
        7 => match pick(rng, &held) {
            Some((n, slot, _)) => format!("close {n} {slot}"),
            None => format!("listen {node} {addr} 7001"),
        },
        8 => {
            let listeners: Vec<_> = held.iter().filter_map(|(n, s, k)| matches!(k, Kind::Listen(_)).then_some((*n, *s, *k))).collect();
            match pick(rng, &listeners) {
                Some((n, s, Kind::Listen(port))) => format!("connect {node} 127.0.0.1 {port} {n} {s}"),
                _ => format!("listen {node} 0.0.0.0 7002"),
            }
        }
        9 if alive.len() > 1 => format!("quit {node}"),
        _ => format!("udp {node} 127.0.0.1 7002"),
    };
    let f: Vec<&str> = cmd.split(' ').collect();
    let n = |i: usize| f[i].parse::<usize>().unwrap_or(0);
    match f[0] {
        "spawn" => {
            t.must(&cmd);
            m.nodes.push(Node { alive: true, slots: vec![] });
        }
        "fork" => {
            t.must(&cmd);
            let slots = m.nodes[n(1)].slots.clone();
            m.nodes.push(Node { alive: true, slots });
        }
        "listen" | "udp" => {
            // A bind the kernel refuses (a port held by a socket without
            // SO_REUSEPORT) is fine: nothing changed.
            if t.run(&cmd).is_ok() {
                let k = if f[0] == "listen" { Kind::Listen(f[3].parse().unwrap_or(0)) } else { Kind::Other };
                m.nodes[n(1)].slots.push(Some(k));
            }
        }
        "connect" => {
            let c = f[..4].join(" ");
            t.must(&c);
            m.nodes[n(1)].slots.push(Some(Kind::Other));
            // SO_REUSEPORT may queue it on another listener: then it stays unaccepted.
            if t.run(&format!("accept {} {}", f[4], f[5])).is_ok() {
                m.nodes[n(4)].slots.push(Some(Kind::Other));
            }
        }
        "exec" => {
            t.must(&cmd);
        }
        "send" => {
            let k = m.nodes[n(1)].slots[n(2)];
            t.must(&cmd);
            m.nodes[n(3)].slots.push(k);
        }
        "close" => {
            t.must(&cmd);
            m.nodes[n(1)].slots[n(2)] = None;
        }
        "quit" => {
            t.must(&cmd);
            m.nodes[n(1)].alive = false;
        }
        _ => unreachable!("{cmd}"),
    }
    cmd
}

/// `ss` twice around a scrape, until both agree (nothing moved meanwhile).
fn settled(ns: &Netns, e: &Exporter) -> (Holders, String) {
    let mut last = None;
    for _ in 0..5 {
        let before = from_ss(ns, &WATCHED, EXPECT);
        let m = e.metrics(ns);
        let after = from_ss(ns, &WATCHED, EXPECT);
        if before == after {
            return (after, m);
        }
        last = Some((after, m));
        std::thread::sleep(Duration::from_millis(50));
    }
    last.expect("five tries")
}

/// The exporter says what ss says: every holder, and no other (within the
/// cap; beyond it, the counts agree).
fn compare(ns: &Netns, e: &Exporter, limit: usize, ctx: &str) {
    let (ss, m) = settled(ns, e);
    let (got, omitted) = from_exposition(&m);
    assert_eq!(got.sockets, ss.sockets, "{ctx}: sockets per port");
    for (proto, port) in WATCHED {
        let want: Vec<_> = ss.pairs.iter().filter(|(k, _)| k.0 == proto && k.1 == port).collect();
        let have: Vec<_> = got.pairs.iter().filter(|(k, _)| k.0 == proto && k.1 == port).collect();
        let left_out = omitted.get(&(proto.to_string(), port)).copied().unwrap_or(0);
        if want.len() <= limit {
            assert_eq!(have, want, "{ctx}: holders of {proto}/{port}");
            assert_eq!(left_out, 0, "{ctx}: nothing omitted on {proto}/{port}");
        } else {
            assert_eq!(have.len(), limit, "{ctx}: {proto}/{port} keeps socket_info_limit series");
            for (k, v) in &have {
                assert_eq!(ss.pairs.get(k), Some(*v), "{ctx}: series {k:?} is one ss lists, with its count");
            }
            assert_eq!(got.pairs_on(proto, port) + left_out, ss.pairs_on(proto, port), "{ctx}: counts agree on {proto}/{port}");
        }
        let name = format!(r#"{{name="{}{port}",port="{port}",protocol="{proto}"}}"#, &proto[..1]);
        let flag = |metric: &str| value(&m, &format!("{metric}{name}")).unwrap_or(-1.0);
        let any = |expected: bool| f64::from(u8::from(want.iter().any(|(k, _)| k.5 == expected)));
        assert_eq!(flag("portwatch_port_bound_by_expected"), any(true), "{ctx}: bound_by_expected {proto}/{port}\n{m}");
        assert_eq!(flag("portwatch_port_bound_by_other"), any(false), "{ctx}: bound_by_other {proto}/{port}\n{m}");
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn every_holder_ss_lists_is_reported_and_no_other_needs_root() {
    if !require_root("every_holder_ss_lists_is_reported_and_no_other_needs_root") || !require_tool("ss") || !require_tool("python3") {
        return;
    }
    let seed = env_or("PW_DIFF_SEED", fastrand::u64(..));
    let (max_cases, budget) = (env_or("PW_DIFF_CASES", 40), Duration::from_secs(env_or("PW_DIFF_SECONDS", 60)));
    eprintln!("holders differential: PW_DIFF_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = Netns::new("diff");
    ns.sysctl("net.ipv4.ip_local_port_range", "20000 29999");
    let start = Instant::now();
    let (mut cases, mut compared) = (0, 0);
    while cases < max_cases && start.elapsed() < budget {
        cases += 1;
        let limit = if rng.bool() { 1000 } else { rng.usize(1..4) };
        let dir = tmp.path().join(cases.to_string());
        let cfg = write_config(&dir, &config(limit));
        let args = ["--config.file", cfg.as_str(), "--path.rootfs", dir.to_str().expect("utf-8")];
        let port = 9000 + 2 * cases as u16;
        let mut t = Tree::start(&ns);
        let mut m = Model { nodes: vec![] };
        // The exporter starts before any sharing and follows every step.
        let before = Exporter::start(&ns, port, &args);
        t.must(&format!("spawn {}", NAMES[rng.usize(..NAMES.len())]));
        m.nodes.push(Node { alive: true, slots: vec![] });
        let mut log = Vec::new();
        for _ in 0..rng.usize(4..16) {
            if start.elapsed() > budget && compared >= 4 {
                break;
            }
            log.push(step(&mut rng, &mut t, &mut m));
            compared += 1;
            let ctx = format!("seed {seed} case {cases} limit {limit} after [{}]", log.join("; "));
            compare(&ns, &before, limit, &ctx);
        }
        let ctx = format!("seed {seed} case {cases} limit {limit}, steps [{}]", log.join("; "));
        // Started after the sharing: its first scrape is the cold one.
        let after = Exporter::start(&ns, port + 1, &args);
        compare(&ns, &after, limit, &format!("{ctx}; exporter started after"));
        before.reload();
        std::thread::sleep(Duration::from_millis(200));
        compare(&ns, &before, limit, &format!("{ctx}; after a reload"));
        drop(t);
    }
    eprintln!("holders differential: {cases} cases, {compared} steps compared with ss, in {:.1}s", start.elapsed().as_secs_f64());
    // ss -p reads every fd of every process: on a loaded host few steps fit the budget, but never none.
    assert!(compared >= 4, "only {compared} steps compared with ss");
}

/// systemd-style socket activation: the manager binds and listens, its child
/// inherits the fd and execs the service. With `expect` naming the service
/// the port is expected and not other, whenever the exporter started.
#[test]
fn socket_activated_service_is_expected_not_other_needs_root() {
    if !require_root("socket_activated_service_is_expected_not_other_needs_root") || !require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), "ports:\n  - name: ssh\n    port: 7022\n    expect: {process: sshd}\n");
    let args = ["--config.file", cfg.as_str(), "--path.rootfs", tmp.path().to_str().expect("utf-8")];
    let ns = Netns::new("act");
    let mut t = Tree::start(&ns);
    let early = Exporter::start(&ns, 9101, &args);
    let manager = t.must("spawn systemd")[1].clone();
    t.must("listen 0 0.0.0.0 7022");
    let _ = early.metrics(&ns); // the exporter has seen the manager alone
    let service = t.must("fork 0 sshd")[1].clone();
    t.must("exec 1 sshd");
    let late = Exporter::start(&ns, 9102, &args);
    let ssh = r#"{name="ssh",port="7022",protocol="tcp"}"#;
    let check = |m: &str, when: &str| {
        assert_eq!(value(m, &format!("portwatch_port_bound_by_expected{ssh}")), Some(1.0), "{when}:\n{m}");
        assert_eq!(value(m, &format!("portwatch_port_bound_by_other{ssh}")), Some(0.0), "{when}:\n{m}");
        assert_eq!(value(m, &format!("portwatch_port_sockets{ssh}")), Some(1.0), "{when}:\n{m}");
        for (pid, process) in [(&manager, "systemd"), (&service, "sshd")] {
            assert!(
                common::has_series(m, "portwatch_port_socket_info", &[("pid", pid), ("process", process), ("expected", "true")]),
                "{when}: holder {pid}/{process} missing:\n{m}"
            );
        }
    };
    check(&late.metrics(&ns), "exporter started after the activation (first scrape)");
    check(&early.metrics(&ns), "exporter started before the activation");
    early.reload();
    std::thread::sleep(Duration::from_millis(200));
    check(&early.metrics(&ns), "after a config reload");
}
