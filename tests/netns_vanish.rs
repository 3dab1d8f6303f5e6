//! The `netns` collector while namespaces come and go (root only). Stable
//! namespaces (named ones made with `ip netns add`, and unnamed ones held by
//! an `unshare -n` process) each get a dynamic range no other namespace has;
//! meanwhile a churn thread kills and restarts `unshare -n` processes and
//! deletes and re-adds named namespaces, as fast as it can, while the test
//! scrapes two real exporters run with `--collector.netns`, one reading on
//! every scrape, one serving its background reader's reads
//! (`--collector.netns.refresh-interval=1s`). Every scrape must
//! succeed as a whole, read every stable namespace right (what `/proc/sys`
//! and `ss` say inside it), never show a stable namespace's values under
//! another inode, and show any namespace it could not read as vanished, for
//! that namespace alone. The vanished path must be taken at least once by a
//! namespace the churn removed, in each exporter, or the test says it was
//! not exercised.
//!
//! An exporter that may enter no namespace warns once per namespace, not on
//! every scrape.

mod common;
#[path = "common/exporter.rs"]
mod exporter;
#[path = "common/netns.rs"]
mod netns;

use common::{require_root, require_tool, value};
use exporter::Exporter;
use netns::Netns;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The inode of a process's network namespace.
fn ns_of(pid: u32) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    Some(link.to_str()?.strip_prefix("net:[")?.strip_suffix(']')?.to_string())
}

fn named_inode(name: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{name}")).ok().map(|m| m.ino().to_string())
}

/// A process killed and reaped on drop.
struct Held(Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `unshare -n` process, once it is in its new namespace: (it, inode).
fn unshared() -> (Held, String) {
    let host = ns_of(std::process::id()).expect("own namespace");
    let held = Held(
        Command::new("unshare")
            .args(["-n", "sleep", "300"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare -n starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Until it has unshared, it still shows the host's namespace.
        if let Some(inode) = ns_of(held.0.id()).filter(|i| *i != host) {
            return (held, inode);
        }
        assert!(Instant::now() < deadline, "unshare -n did not enter a new namespace");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A shell command run inside a namespace, by `ip netns exec` or `nsenter`.
fn sh(mut cmd: Command, script: &str) -> String {
    let out = cmd.args(["sh", "-c", script]).output().expect("runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip_netns_exec(name: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", name]);
    c
}

fn nsenter(pid: u32) -> Command {
    let mut c = Command::new("nsenter");
    c.args(["-t", &pid.to_string(), "-n"]);
    c
}

/// What the kernel says inside a namespace: range, reserved ports in it, TCP
/// and UDP sockets whose local port lies in it.
#[derive(Debug, Clone, PartialEq)]
struct Truth {
    start: u16,
    end: u16,
    reserved_in_range: usize,
    in_use: usize,
}

fn truth(inside: impl Fn() -> Command) -> Truth {
    let range = sh(inside(), "cat /proc/sys/net/ipv4/ip_local_port_range");
    let mut r = range.split_whitespace().map(|v| v.parse::<u16>().expect("port"));
    let (start, end) = (r.next().expect("start"), r.next().expect("end"));
    let mut reserved = BTreeSet::new();
    for piece in sh(inside(), "cat /proc/sys/net/ipv4/ip_local_reserved_ports").trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = piece.split_once('-').unwrap_or((piece, piece));
        reserved.extend(a.trim().parse::<u16>().expect("reserved")..=b.trim().parse::<u16>().expect("reserved"));
    }
    let local_port = |line: &str| -> Option<u16> { line.split_whitespace().nth(3)?.rsplit(':').next()?.parse().ok() };
    let in_use = sh(inside(), "ss -Htan; ss -Huan").lines().filter_map(local_port).filter(|p| (start..=end).contains(p)).count();
    Truth { start, end, reserved_in_range: reserved.iter().filter(|p| (start..=end).contains(*p)).count(), in_use }
}

/// A namespace's series in one exposition, by inode.
#[derive(Debug, Default)]
struct Seen {
    read: Option<f64>,
    start: Option<f64>,
    end: Option<f64>,
    reasons: Vec<String>,
}

fn seen(m: &str) -> BTreeMap<String, Seen> {
    let mut all: BTreeMap<String, Seen> = BTreeMap::new();
    for line in m.lines().filter(|l| l.starts_with("portwatch_netns_")) {
        let Some((series, v)) = line.rsplit_once(' ') else { continue };
        let Some((name, labels)) = series.split_once("{netns=\"") else { continue };
        let Some((inode, rest)) = labels.split_once('"') else { continue };
        let v: f64 = v.parse().expect("a number");
        let s = all.entry(inode.to_string()).or_default();
        match name {
            "portwatch_netns_read_success" => s.read = Some(v),
            "portwatch_netns_dynamic_port_range_start" => s.start = Some(v),
            "portwatch_netns_dynamic_port_range_end" => s.end = Some(v),
            "portwatch_netns_read_failure_info" => {
                s.reasons.push(rest.trim_start_matches(",reason=\"").trim_end_matches("\"}").to_string())
            }
            _ => {}
        }
    }
    all
}

/// Churned namespaces: `unshare -n` processes and named namespaces, each
/// slot replaced again and again. Records every inode a churned namespace had.
struct Churn {
    procs: Vec<Held>,
    named: Vec<String>,
}

impl Churn {
    /// Round `i` replaces one slot, or (false) leaves it alone: slot k
    /// is replaced every (1 + k % 4)-th turn, so some churned namespaces
    /// live through a whole scrape and others do not.
    fn round(&mut self, i: usize, inodes: &Mutex<BTreeSet<String>>) -> bool {
        let slots = self.procs.len() + self.named.len();
        let slot = i % slots;
        if (i / slots) % (1 + slot % 4) != 0 {
            return false;
        }
        if slot < self.procs.len() {
            // The old holder is killed and reaped as it is replaced: its namespace goes.
            let (held, inode) = unshared();
            self.procs[slot] = held;
            inodes.lock().expect("lock").insert(inode);
        } else {
            let name = &self.named[slot - self.procs.len()];
            let _ = Command::new("ip").args(["netns", "del", name]).output();
            let out = Command::new("ip").args(["netns", "add", name]).output().expect("ip netns add");
            assert!(out.status.success(), "ip netns add {name}: {}", String::from_utf8_lossy(&out.stderr));
            if let Some(inode) = named_inode(name) {
                inodes.lock().expect("lock").insert(inode);
            }
        }
        true
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.procs.clear();
        for name in &self.named {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

#[test]
fn namespaces_that_vanish_mid_scrape_fail_alone_and_are_said_to_have_vanished_needs_root() {
    if !require_root("namespaces_that_vanish_mid_scrape_fail_alone_and_are_said_to_have_vanished_needs_root") || !require_tool("ss") {
        return;
    }
    // Stable namespaces, each with a range no other namespace has (above the
    // kernel's default start 32768, so a new namespace never has one).
    let range_of = |i: usize| (41_000 + i as u16 * 211, 41_000 + i as u16 * 211 + 100 + i as u16);
    let mut named = Vec::new();
    let mut stable: BTreeMap<String, Truth> = BTreeMap::new();
    for i in 0..10 {
        let mut ns = Netns::new(&format!("nv{i}"));
        let (start, end) = range_of(i);
        ns.sysctl("net.ipv4.ip_local_port_range", &format!("{start} {end}"));
        ns.sysctl("net.ipv4.ip_local_reserved_ports", &format!("{}-{}", start + 1, start + 1 + (i as u16 % 3)));
        if i % 2 == 0 {
            // A listener inside the range, so the socket dump has something to find.
            ns.peer("svc", "listen-tcp", "127.0.0.1", start + 10);
        }
        let name = ns.name.clone();
        stable.insert(named_inode(&name).expect("named namespace"), truth(|| ip_netns_exec(&name)));
        named.push(ns);
    }
    let mut holders: Vec<Held> = Vec::new();
    for i in 10..16 {
        let (child, inode) = unshared();
        let (start, end) = range_of(i);
        let pid = child.0.id();
        sh(nsenter(pid), &format!("echo '{start} {end}' > /proc/sys/net/ipv4/ip_local_port_range"));
        stable.insert(inode, truth(|| nsenter(pid)));
        holders.push(child);
    }
    for (i, (inode, t)) in stable.iter().enumerate() {
        assert!(t.start >= 41_000, "stable namespace {inode} (#{i}) has the range the test set: {t:?}");
    }
    let stable_ranges: BTreeMap<(u16, u16), String> = stable.iter().map(|(inode, t)| ((t.start, t.end), inode.clone())).collect();
    assert_eq!(stable_ranges.len(), stable.len(), "every stable range is its own");

    // Churned namespaces, replaced in turn while the scrapes run.
    let churned_inodes = Arc::new(Mutex::new(BTreeSet::new()));
    let mut churn = Churn { procs: Vec::new(), named: (0..4).map(|i| format!("pwtest-{}-nvc{i}", std::process::id())).collect() };
    for _ in 0..20 {
        let (child, inode) = unshared();
        churn.procs.push(child);
        churned_inodes.lock().expect("lock").insert(inode);
    }
    for i in 0..churn.named.len() {
        assert!(churn.round(churn.procs.len() + i, &churned_inodes), "the first turn replaces every slot");
    }

    // One exporter reads on every scrape, the other serves its background reader's reads (every second).
    let exps = [Exporter::start(&["--collector.netns"]), Exporter::start(&["--collector.netns", "--collector.netns.refresh-interval=1s"])];
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (stop, rounds, inodes) = (stop.clone(), rounds.clone(), churned_inodes.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(90);
            // Bounded: 10,000 turns or 90 s, or until the scrapes are done.
            for i in 0..10_000 {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                if churn.round(i, &inodes) {
                    rounds.fetch_add(1, Ordering::SeqCst);
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            drop(churn);
        })
    };

    let started = Instant::now();
    let (mut scrapes, mut vanished, mut read_churned) = (0, [0, 0], 0);
    // At least 25 scrapes of each; more (up to 80, 75 s) until each took the vanished path.
    while scrapes < 50 || (vanished.contains(&0) && scrapes < 160 && started.elapsed() < Duration::from_secs(75)) {
        let which = scrapes % 2;
        let (status, m) = exps[which].get("/metrics", "");
        scrapes += 1;
        let age = value(&m, "portwatch_netns_read_age_seconds").expect("the read's age");
        assert!(if which == 0 { age == 0.0 } else { age < 64.0 }, "scrape {scrapes}: age {age}");
        assert_eq!(status, 200, "scrape {scrapes}: {m}");
        assert_eq!(value(&m, "portwatch_scrape_collector_success{collector=\"netns\"}"), Some(1.0), "scrape {scrapes}: {m}");
        let all = seen(&m);
        let churned = churned_inodes.lock().expect("lock").clone();
        for (inode, t) in &stable {
            let s = all.get(inode).unwrap_or_else(|| panic!("scrape {scrapes}: stable namespace {inode} missing"));
            assert_eq!(s.read, Some(1.0), "scrape {scrapes}: stable namespace {inode} read: {s:?}");
            assert!(s.reasons.is_empty(), "scrape {scrapes}: stable namespace {inode} has no failure: {s:?}");
            assert_eq!((s.start, s.end), (Some(f64::from(t.start)), Some(f64::from(t.end))), "scrape {scrapes}: {inode}");
            let v = |metric: &str| value(&m, &format!("{metric}{{netns=\"{inode}\"}}"));
            assert_eq!(v("portwatch_netns_reserved_ports_in_range"), Some(t.reserved_in_range as f64), "scrape {scrapes}: {inode}");
            assert_eq!(v("portwatch_netns_dynamic_ports_in_use"), Some(t.in_use as f64), "scrape {scrapes}: {inode}");
        }
        for (inode, s) in &all {
            if let (Some(start), Some(end)) = (s.start, s.end) {
                // Never a stable namespace's values under another inode.
                if let Some(owner) = stable_ranges.get(&(start as u16, end as u16)) {
                    assert_eq!(owner, inode, "scrape {scrapes}: namespace {inode} shows the range of {owner}");
                }
            }
            match s.read {
                Some(0.0) => {
                    assert!(s.start.is_none() && s.end.is_none(), "scrape {scrapes}: {inode} unread yet has values: {s:?}");
                    // We are root: a namespace can fail only by going away.
                    assert_eq!(s.reasons, ["vanished"], "scrape {scrapes}: namespace {inode}");
                    assert!(!stable.contains_key(inode), "scrape {scrapes}: a stable namespace never vanishes");
                    if churned.contains(inode) {
                        vanished[which] += 1;
                    }
                }
                Some(1.0) => {
                    assert!(s.reasons.is_empty(), "scrape {scrapes}: {inode} read, yet a failure: {s:?}");
                    read_churned += usize::from(churned.contains(inode));
                }
                other => panic!("scrape {scrapes}: namespace {inode}: read_success {other:?}"),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    churner.join().expect("churn thread");
    let rounds = rounds.load(Ordering::SeqCst);
    eprintln!("{scrapes} scrapes, {rounds} churn rounds, {vanished:?} vanished churned namespaces seen (each read, background), {read_churned} read");
    assert!(rounds >= 50, "the churn ran: {rounds} rounds");
    assert!(read_churned > 0, "churned namespaces were read too while they lived");
    assert!(
        !vanished.contains(&0),
        "the vanished path was not taken by each exporter in {scrapes} scrapes and {rounds} churn rounds: {vanished:?}"
    );

    // The stable namespaces still say what they said: the scrapes saw the truth, not a stale copy.
    for (ns, inode) in named.iter().map(|n| (n, named_inode(&n.name).expect("named namespace"))) {
        assert_eq!(truth(|| ip_netns_exec(&ns.name)), stable[&inode], "namespace {}", ns.name);
    }
    for h in &holders {
        let inode = ns_of(h.0.id()).expect("holder alive");
        assert_eq!(truth(|| nsenter(h.0.id())), stable[&inode], "namespace {inode}");
    }
    drop(exps);
    drop(holders);
    drop(named);
}

#[test]
fn an_exporter_that_may_not_enter_warns_once_per_namespace_not_every_scrape_needs_root() {
    if !require_root("an_exporter_that_may_not_enter_warns_once_per_namespace_not_every_scrape_needs_root") {
        return;
    }
    let spaces: Vec<Netns> = (0..3).map(|i| Netns::new(&format!("nw{i}"))).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr");
    let port = exporter::free_port();
    // As nobody, without capabilities: setns(2) is refused for every namespace.
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", env!("CARGO_BIN_EXE_portwatch_exporter")])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--log.level", "warn", "--storage.path=", "--collector.netns"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("exporter starts");
    exporter::wait_listening(port, "unprivileged exporter");
    let exp = Exporter { port, child };
    // Warnings expected: a namespace failing (not vanished) in a scrape and not in the one before.
    let (mut before, mut episodes) = (BTreeSet::new(), 0);
    for scrape in 1..=4 {
        let (status, m) = exp.get("/metrics", "");
        assert_eq!(status, 200);
        assert_eq!(value(&m, "portwatch_scrape_collector_success{collector=\"netns\"}"), Some(1.0), "scrape {scrape}: {m}");
        let all = seen(&m);
        for ns in &spaces {
            let inode = named_inode(&ns.name).expect("namespace");
            assert_eq!(
                all.get(&inode).map(|s| s.reasons.clone()),
                Some(vec!["permission_denied".to_string()]),
                "scrape {scrape}: {}",
                ns.name
            );
        }
        let failing: BTreeSet<String> =
            all.into_iter().filter(|(_, s)| s.reasons.iter().any(|r| r != "vanished")).map(|(inode, _)| inode).collect();
        episodes += failing.difference(&before).count();
        before = failing;
    }
    assert!(episodes >= spaces.len(), "at least this test's namespaces began failing");
    drop(exp);
    let text = std::fs::read_to_string(&log).expect("log");
    let warned: Vec<usize> = text
        .lines()
        .filter(|l| l.contains("could not be read"))
        .map(|l| {
            let n = l
                .split(" network namespace(s) could not be read")
                .next()
                .and_then(|h| h.rsplit(' ').next())
                .map(|w| w.trim_start_matches("msg=\""));
            n.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("a count in {l:?}"))
        })
        .collect();
    assert!(!warned.is_empty(), "a warning, at level warn: {text}");
    assert_eq!(warned.iter().sum::<usize>(), episodes, "each failing namespace warned of once in 4 scrapes, not each time: {text}");
    assert!(text.contains("permission denied") || text.contains("Operation not permitted"), "the cause is in the warning: {text}");
    drop(spaces);
}
