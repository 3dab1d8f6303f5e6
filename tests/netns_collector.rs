//! The `netns` collector on a real kernel (root only). The test makes many
//! network namespaces, each with a seeded dynamic range, reserved ports,
//! listeners (some inside the range) and client connections, and one process
//! in a real cgroup named as the kubelet names a pod's. The exporter, started
//! in the host's namespace with `--collector.netns`, must report for each
//! namespace what the kernel reports from inside it: `/proc/sys` read through
//! `ip netns exec`, and `ss` run there. Then, as an unprivileged user without
//! CAP_SYS_ADMIN, it must say per namespace that it could not enter (the
//! reason `permission_denied`, one per namespace), and still succeed as a
//! collector.

#[path = "common/cgroups.rs"]
mod cgroups;
mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
#[path = "common/exporter.rs"]
mod exporter;
#[path = "common/netns.rs"]
mod netns;

use common::{require_root, require_tool, value};
use exporter::Exporter;
use netns::Netns;
use std::collections::BTreeSet;
use std::time::Duration;

fn sh_in(ns: &Netns, script: &str) -> String {
    let out = ns.cmd("sh").arg("-c").arg(script).output().expect("ip netns exec");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inode_of(ns: &Netns) -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", ns.name)).expect("namespace file").ino().to_string()
}

/// What the kernel says from inside the namespace.
struct Kernel {
    start: u16,
    end: u16,
    reserved_in_range: usize,
    in_use: usize,
    listeners_at_risk: BTreeSet<u16>,
}

fn ask_kernel(ns: &Netns) -> Kernel {
    let range = sh_in(ns, "cat /proc/sys/net/ipv4/ip_local_port_range");
    let mut r = range.split_whitespace().map(|v| v.parse::<u16>().expect("port"));
    let (start, end) = (r.next().expect("start"), r.next().expect("end"));
    let reserved_text = sh_in(ns, "cat /proc/sys/net/ipv4/ip_local_reserved_ports");
    let mut reserved = BTreeSet::new();
    for piece in reserved_text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = piece.split_once('-').unwrap_or((piece, piece));
        reserved.extend(a.trim().parse::<u16>().expect("reserved")..=b.trim().parse::<u16>().expect("reserved"));
    }
    let local_port = |line: &str| -> Option<u16> { line.split_whitespace().nth(3)?.rsplit(':').next()?.parse().ok() };
    let sockets = sh_in(ns, "ss -Htan; ss -Huan");
    let in_use = sockets.lines().filter_map(local_port).filter(|p| (start..=end).contains(p)).count();
    let listeners = sh_in(ns, "ss -Htln");
    let listeners_at_risk =
        listeners.lines().filter_map(local_port).filter(|p| (start..=end).contains(p) && !reserved.contains(p)).collect();
    Kernel { start, end, reserved_in_range: reserved.iter().filter(|p| (start..=end).contains(*p)).count(), in_use, listeners_at_risk }
}

fn v(m: &str, metric: &str, inode: &str) -> Option<f64> {
    value(m, &format!("{metric}{{netns=\"{inode}\"}}"))
}

#[test]
fn every_namespace_reports_what_the_kernel_reports_inside_it_needs_root() {
    if !require_root("every_namespace_reports_what_the_kernel_reports_inside_it_needs_root") || !require_tool("ss") {
        return;
    }
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x2b7e_1516_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let mut spaces = Vec::new();
    for i in 0..12 {
        let mut ns = Netns::new(&format!("nc{i}"));
        // A third keep the kernel's default range; the others get a seeded one, some widened.
        if i % 3 != 0 {
            let start = 10_000 + rng.below(20_000) as u16;
            let end = start + 50 + rng.below(30_000) as u16;
            ns.sysctl("net.ipv4.ip_local_port_range", &format!("{start} {end}"));
            let a = start + rng.below(40) as u16;
            ns.sysctl("net.ipv4.ip_local_reserved_ports", &format!("{a}-{},{}", a + rng.below(5) as u16, end));
        }
        let kernel_range = ask_kernel(&ns);
        for _ in 0..rng.below(3) {
            // A listener inside the range (the pod-port risk), or below it.
            let port = if rng.below(2) == 0 { kernel_range.start + 45 + rng.below(5) as u16 } else { 2000 + rng.below(1000) as u16 };
            if ns.cmd("ss").args(["-Htln", &format!("sport = :{port}")]).output().is_ok_and(|o| o.stdout.is_empty()) {
                ns.peer("svc", "listen-tcp", "127.0.0.1", port);
            }
        }
        let server = 1500 + i as u16;
        ns.peer("server", "serve-tcp", "127.0.0.1", server);
        for _ in 0..rng.below(4) {
            ns.peer("client", "connect-tcp", "127.0.0.1", server);
        }
        spaces.push(ns);
    }
    // A pod: its process in a real cgroup named as the kubelet's systemd driver names it.
    let uid = "6d1f0c2a-9b8e-4f7a-8c3d-2e1f0a9b8c7d";
    let mut groups = cgroups::Cgroups::find();
    let pod_pid = spaces[1].peer("pause", "listen-tcp", "127.0.0.1", 1999).pid;
    let path = format!(
        "/pwtest-{}.slice/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{}.scope",
        std::process::id(),
        uid.replace('-', "_"),
        "d".repeat(64)
    );
    groups.enter(pod_pid, &path, false);

    let exp = Exporter::start(&["--collector.netns"]);
    let (status, m) = exp.get("/metrics", "");
    assert_eq!(status, 200);
    assert_eq!(value(&m, "portwatch_scrape_collector_success{collector=\"netns\"}"), Some(1.0), "{m}");
    for ns in &spaces {
        let inode = inode_of(ns);
        let k = ask_kernel(ns);
        let what = format!("namespace {} ({inode})", ns.name);
        assert_eq!(v(&m, "portwatch_netns_read_success", &inode), Some(1.0), "{what}");
        assert_eq!(v(&m, "portwatch_netns_dynamic_port_range_start", &inode), Some(f64::from(k.start)), "{what}");
        assert_eq!(v(&m, "portwatch_netns_dynamic_port_range_end", &inode), Some(f64::from(k.end)), "{what}");
        assert_eq!(v(&m, "portwatch_netns_reserved_ports_in_range", &inode), Some(k.reserved_in_range as f64), "{what}");
        let available = f64::from(k.end - k.start + 1) - k.reserved_in_range as f64;
        assert_eq!(v(&m, "portwatch_netns_dynamic_ports_available", &inode), Some(available), "{what}");
        assert_eq!(v(&m, "portwatch_netns_dynamic_ports_in_use", &inode), Some(k.in_use as f64), "{what}");
        assert_eq!(v(&m, "portwatch_netns_listeners_in_dynamic_range", &inode), Some(k.listeners_at_risk.len() as f64), "{what}");
        for port in &k.listeners_at_risk {
            let series = format!("portwatch_netns_listener_in_dynamic_range_info{{netns=\"{inode}\",port=\"{port}\"}}");
            assert_eq!(value(&m, &series), Some(1.0), "{what}: {series}");
        }
        assert_eq!(v(&m, "portwatch_netns_next_boot_known", &inode), Some(0.0), "{what}: no persistent view for a namespace");
        let info = m.lines().find(|l| l.starts_with(&format!("portwatch_netns_info{{netns=\"{inode}\",netns_name=\"{}\"", ns.name)));
        assert!(info.is_some(), "{what}: no info series");
        assert!(!m.contains(&format!("portwatch_netns_read_failure_info{{netns=\"{inode}\"")), "{what}: read, so no failure");
    }
    // The exporter's own namespace is the row netns="host", as its kernel says.
    let own: Vec<f64> = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("host range")
        .split_whitespace()
        .map(|p| p.parse().expect("port"))
        .collect();
    assert_eq!(v(&m, "portwatch_netns_dynamic_port_range_start", "host"), Some(own[0]), "{m}");
    assert_eq!(v(&m, "portwatch_netns_dynamic_port_range_end", "host"), Some(own[1]));
    assert_eq!(v(&m, "portwatch_netns_read_success", "host"), Some(1.0));
    assert_eq!(v(&m, "portwatch_netns_listeners_in_dynamic_range", "host"), None, "the host's listeners are portwatch_port_*'s");
    let pod_ns = inode_of(&spaces[1]);
    assert!(
        m.lines().any(|l| l.starts_with(&format!(
            "portwatch_netns_info{{netns=\"{pod_ns}\",netns_name=\"{}\",container_runtime=\"containerd\",container_id=\"{}\",pod_uid=\"{uid}\"}}",
            spaces[1].name,
            "d".repeat(64)
        ))),
        "the pod's namespace names its pod:\n{}",
        m.lines().filter(|l| l.contains(&pod_ns)).collect::<Vec<_>>().join("\n")
    );
    drop(exp);

    // Without CAP_SYS_ADMIN (and as another user) no namespace can be entered:
    // each says so, the collector still succeeds, and no range is invented.
    let mut observer = Netns::new("ncobs");
    observer.exporter_as(Some(65534), &["--collector.netns"]);
    std::thread::sleep(Duration::from_millis(100));
    let m = observer.get("/metrics");
    assert_eq!(value(&m, "portwatch_scrape_collector_success{collector=\"netns\"}"), Some(1.0), "{m}");
    for ns in &spaces {
        let inode = inode_of(ns);
        assert_eq!(v(&m, "portwatch_netns_read_success", &inode), Some(0.0), "namespace {}: not entered", ns.name);
        let why = format!("portwatch_netns_read_failure_info{{netns=\"{inode}\",reason=\"permission_denied\"}}");
        assert_eq!(value(&m, &why), Some(1.0), "namespace {}: says it was refused\n{m}", ns.name);
        let reasons = m.lines().filter(|l| l.starts_with(&format!("portwatch_netns_read_failure_info{{netns=\"{inode}\","))).count();
        assert_eq!(reasons, 1, "namespace {}: one reason", ns.name);
        assert_eq!(v(&m, "portwatch_netns_dynamic_port_range_start", &inode), None, "namespace {}: nothing read, nothing said", ns.name);
    }
    drop(observer);
    drop(spaces);
    drop(groups);
}

#[test]
fn without_the_flag_nothing_is_entered_or_reported_needs_root() {
    if !require_root("without_the_flag_nothing_is_entered_or_reported_needs_root") {
        return;
    }
    let _ns = Netns::new("ncoff");
    let exp = Exporter::start(&[]);
    let (_, m) = exp.get("/metrics", "");
    assert!(!m.contains("portwatch_netns_"), "{m}");
    assert!(!m.contains("collector=\"netns\""), "off by default: no status either");
}
