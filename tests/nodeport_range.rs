//! The `nodeport` collector on a real kernel (root only): in throwaway
//! network namespaces, seeded cases with a random dynamic range, random
//! reserved ports, a different range and reserved list persisted through
//! sysctl.d for the next boot, and a random NodePort range given by
//! `--collector.nodeport.range`. PORTWATCH_SEED replays one run.
//!
//! The oracles are the kernel's: the active counts come from the
//! namespace's /proc/sys values read back, the persistent ones from the
//! sysctl.d values written into a second, scratch namespace and read back (so
//! the kernel parses them). The test restates the rules port by port over
//! those. Then `check`'s remedy is taken literally: its `sysctl -w` run in the
//! namespace, its drop-in written into the rootfs and its value given to the
//! scratch kernel, after which nothing of the NodePort range is at risk.

mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
#[path = "common/kernel_ports.rs"]
mod kernel_ports;
#[path = "common/netns.rs"]
mod netns;
use kernel_ports::{counts, parse_range, parse_reserved, read_sysctl, reserved_list};

use common::{require_root, value, write_config};
use netns::Netns;

const CASES: u64 = 6;

/// A few random pieces, mostly on and around the NodePort range, as the kernel takes them.
fn pieces(rng: &mut Rng, near: (u16, u16)) -> String {
    let n = rng.between(1, 5);
    reserved_list((0..n).map(|_| {
        let a = if rng.below(4) == 0 { rng.between(2000, 65000) } else { rng.between(near.0.saturating_sub(300), near.1) };
        (a, a.saturating_add(rng.between(0, 1500)))
    }))
}

/// A dynamic range that often overlaps the NodePort range, sometimes not at all.
fn dynamic_range(rng: &mut Rng, near: (u16, u16)) -> (u16, u16) {
    match rng.below(4) {
        0 => {
            let lo = rng.between(2000, 60000);
            (lo, rng.between(lo + 1, 65535))
        }
        1 => (rng.between(2000, near.0), rng.between(near.1.max(2001), 65535)),
        _ => {
            let lo = rng.between(near.0.saturating_sub(2000).max(2000), near.1);
            (lo, rng.between(lo + 1, near.1.saturating_add(3000).max(lo + 1)))
        }
    }
}

fn v(m: &str, series: &str) -> Option<f64> {
    value(m, series)
}

fn series(metric: &str, protocol: &str, store: &str) -> String {
    format!(r#"{metric}{{protocol="{protocol}",store="{store}"}}"#)
}

/// The three counts of one store, for both protocols (Linux has one range for both).
fn assert_store(m: &str, store: &str, want: (u32, u32, u32), case: u64) {
    for proto in ["tcp", "udp"] {
        let got = (
            v(m, &series("portwatch_nodeport_range_ports_in_dynamic_range", proto, store)),
            v(m, &series("portwatch_nodeport_range_ports_excluded", proto, store)),
            v(m, &series("portwatch_nodeport_range_ports_at_risk", proto, store)),
        );
        let want = (Some(f64::from(want.0)), Some(f64::from(want.1)), Some(f64::from(want.2)));
        assert_eq!(got, want, "case {case}, {proto}, store {store}:\n{}", nodeport_lines(m));
    }
}

fn nodeport_lines(m: &str) -> String {
    m.lines().filter(|l| l.contains("nodeport")).collect::<Vec<_>>().join("\n")
}

#[test]
fn nodeport_range_counts_match_the_kernel_and_check_remedy_clears_them_needs_root() {
    if !require_root("nodeport_range_counts_match_the_kernel_and_check_remedy_clears_them_needs_root") {
        return;
    }
    let seed = std::env::var("PORTWATCH_SEED").ok().and_then(|s| s.parse().ok()).filter(|s| *s != 0).unwrap_or(0x0de9_0a7e);
    eprintln!("PORTWATCH_SEED={seed}");
    let mut rng = Rng(seed);
    let (mut risky_now, mut risky_boot, mut clear) = (0, 0, 0);
    for case in 0..CASES {
        let (now, boot) = one_case(&mut rng, case);
        risky_now += u32::from(now);
        risky_boot += u32::from(boot);
        clear += u32::from(!now && !boot);
    }
    // The generator must reach both outcomes, or the remedy half proves nothing.
    assert!(risky_now > 0 && risky_boot > 0, "no case at risk now ({risky_now}) or after the next boot ({risky_boot})");
    eprintln!("cases at risk now: {risky_now}, after the next boot: {risky_boot}, clear: {clear}");
}

/// One seeded case; returns whether the NodePort range was at risk (now, after the next boot).
fn one_case(rng: &mut Rng, case: u64) -> (bool, bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), "ports: []\n");
    let root = tmp.path().display().to_string();
    std::fs::create_dir_all(tmp.path().join("etc/sysctl.d")).expect("mkdir");
    let mut ns = Netns::new(&format!("np{case}"));

    let start = rng.between(2000, 62000);
    let nodeport = (start, start.saturating_add(rng.between(0, 3500)));
    let flag = format!("{}-{}", nodeport.0, nodeport.1);

    // Active: a random dynamic range and reserved pieces.
    let (lo, hi) = dynamic_range(rng, nodeport);
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{lo} {hi}"));
    ns.sysctl("net.ipv4.ip_local_reserved_ports", &pieces(rng, nodeport));
    // Persistent: another range and other pieces, through sysctl.d.
    let (plo, phi) = dynamic_range(rng, nodeport);
    let persisted = pieces(rng, nodeport);
    let dropin = format!("net.ipv4.ip_local_port_range = {plo} {phi}\nnet.ipv4.ip_local_reserved_ports = {persisted}\n");
    std::fs::write(tmp.path().join("etc/sysctl.d/60-ports.conf"), &dropin).expect("sysctl.d");

    // The kernel's own reading of both views.
    let active_range = parse_range(&read_sysctl(&ns, "net.ipv4.ip_local_port_range"));
    let active_reserved = parse_reserved(&read_sysctl(&ns, "net.ipv4.ip_local_reserved_ports"));
    assert_eq!(active_range, (lo, hi), "case {case}: the kernel took the range");
    let scratch = Netns::new(&format!("nps{case}"));
    scratch.sysctl("net.ipv4.ip_local_port_range", &format!("{plo} {phi}"));
    scratch.sysctl("net.ipv4.ip_local_reserved_ports", &persisted);
    let boot_range = parse_range(&read_sysctl(&scratch, "net.ipv4.ip_local_port_range"));
    let boot_reserved = parse_reserved(&read_sysctl(&scratch, "net.ipv4.ip_local_reserved_ports"));

    let args = ["--config.file", &cfg, "--path.rootfs", &root, "--collector.nodeport", "--collector.nodeport.range", &flag];
    ns.exporter(&args);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, r#"portwatch_scrape_collector_success{collector="nodeport"}"#), Some(1.0), "case {case}");
    assert_eq!(v(&m, "portwatch_nodeport_range_first_port"), Some(f64::from(nodeport.0)), "case {case}");
    assert_eq!(v(&m, "portwatch_nodeport_range_last_port"), Some(f64::from(nodeport.1)), "case {case}");
    let now = counts(nodeport, active_range, &active_reserved);
    let boot = counts(nodeport, boot_range, &boot_reserved);
    assert_store(&m, "active", now, case);
    assert_store(&m, "persistent", boot, case);
    assert!(!m.contains("portwatch_nodeport_range_verdict_unknown"), "case {case}: every verdict given:\n{}", nodeport_lines(&m));

    // `check` names the range and says what to do; its exit code follows the risk.
    let out = ns.cmd(env!("CARGO_BIN_EXE_portwatch_exporter")).arg("check").args(args).output().expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(&format!("NodePort range {flag} (--collector.nodeport.range)")), "case {case}: {text}");
    let (at_risk_now, at_risk_boot) = (now.2 > 0, boot.2 > 0);
    assert_eq!(out.status.code(), Some(if at_risk_now || at_risk_boot { 1 } else { 0 }), "case {case}: {text}");
    let now_line = text.lines().map(str::trim).find(|l| l.starts_with("sysctl -w net.ipv4.ip_local_reserved_ports="));
    assert_eq!(now_line.is_some(), at_risk_now, "case {case}: a fix for now exactly when at risk now: {text}");
    let boot_line = text.lines().map(str::trim).find(|l| l.starts_with("echo 'net.ipv4.ip_local_reserved_ports = "));
    assert_eq!(boot_line.is_some(), at_risk_boot, "case {case}: a drop-in exactly when at risk after the next boot: {text}");

    // The remedy, taken literally by the kernel.
    if let Some(line) = now_line {
        let run = ns.cmd("sh").arg("-c").arg(line).output().expect("sysctl -w runs");
        assert!(run.status.success(), "case {case}: `{line}` failed: {}", String::from_utf8_lossy(&run.stderr));
        let fixed = parse_reserved(&read_sysctl(&ns, "net.ipv4.ip_local_reserved_ports"));
        assert!((nodeport.0..=nodeport.1).all(|p| fixed.contains(&p)), "case {case}: `{line}` reserves the whole range");
        assert!(active_reserved.is_subset(&fixed), "case {case}: and keeps what was reserved: {line}");
    }
    if let Some(line) = boot_line {
        let (content, target) = line.strip_prefix("echo '").and_then(|r| r.split_once("' > ")).expect("echo line");
        let value = content.strip_prefix("net.ipv4.ip_local_reserved_ports = ").expect("the key");
        scratch.sysctl("net.ipv4.ip_local_reserved_ports", value);
        let fixed = parse_reserved(&read_sysctl(&scratch, "net.ipv4.ip_local_reserved_ports"));
        assert!((nodeport.0..=nodeport.1).all(|p| fixed.contains(&p)), "case {case}: the drop-in reserves the whole range: {value}");
        assert!(boot_reserved.is_subset(&fixed), "case {case}: and keeps what the boot reserves: {value}");
        std::fs::write(tmp.path().join(target.trim_start_matches('/')), format!("{content}\n")).expect("drop-in");
    }
    let m = ns.get("/metrics");
    let width = u32::from(nodeport.1 - nodeport.0) + 1;
    let after_now = counts(nodeport, active_range, &parse_reserved(&read_sysctl(&ns, "net.ipv4.ip_local_reserved_ports")));
    assert_eq!(after_now.2, 0, "case {case}: the kernel has nothing at risk now");
    assert_store(&m, "active", after_now, case);
    for proto in ["tcp", "udp"] {
        let risk = v(&m, &series("portwatch_nodeport_range_ports_at_risk", proto, "persistent"));
        assert_eq!(risk, Some(0.0), "case {case}: {proto}: nothing at risk after the next boot once fixed");
        if at_risk_boot {
            let excluded = v(&m, &series("portwatch_nodeport_range_ports_excluded", proto, "persistent"));
            assert_eq!(excluded, Some(f64::from(width)), "case {case}: {proto}: the whole range reserved at boot");
        }
    }
    let out = ns.cmd(env!("CARGO_BIN_EXE_portwatch_exporter")).arg("check").args(args).output().expect("check runs");
    assert_eq!(out.status.code(), Some(0), "case {case}: fixed: {}", String::from_utf8_lossy(&out.stdout));
    (at_risk_now, at_risk_boot)
}

/// A store whose view was not read has no NodePort series, never 0, and a
/// verdict_unknown series says why; without the active range the collector fails.
#[test]
fn nodeport_verdicts_are_left_out_when_their_view_is_not_read_needs_root() {
    if !require_root("nodeport_verdicts_are_left_out_when_their_view_is_not_read_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), "ports: []\n");
    let root = tmp.path().display().to_string();
    std::fs::create_dir_all(tmp.path().join("etc/sysctl.d")).expect("mkdir");
    let ns = Netns::new("npu");
    ns.sysctl("net.ipv4.ip_local_port_range", "20000 40000");
    let textfile = |off: &str| {
        let path = tmp.path().join(format!("{off}.prom"));
        let base = ["check", "--config.file", &cfg, "--path.rootfs", &root, "--collector.nodeport", "--output", "textfile"];
        let out = ns
            .cmd(env!("CARGO_BIN_EXE_portwatch_exporter"))
            .args(base)
            .args(["--output.file", &path.display().to_string(), &format!("--no-collector.{off}")])
            .output()
            .expect("check runs");
        assert!(path.exists(), "--no-collector.{off}: no textfile: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(&path).expect("textfile")
    };
    let m = textfile("sysctld");
    assert_eq!(v(&m, r#"portwatch_scrape_collector_success{collector="nodeport"}"#), Some(1.0), "{m}");
    assert_eq!(v(&m, &series("portwatch_nodeport_range_ports_at_risk", "tcp", "active")), Some(2768.0), "{m}");
    assert_eq!(v(&m, &series("portwatch_nodeport_range_ports_at_risk", "tcp", "persistent")), None, "{m}");
    let unknown =
        r#"portwatch_nodeport_range_verdict_unknown{protocol="tcp",verdict="next_boot",reason="the sysctld collector is disabled"}"#;
    assert_eq!(v(&m, unknown), Some(1.0), "{}", nodeport_lines(&m));

    let m = textfile("sysctl");
    assert_eq!(v(&m, r#"portwatch_scrape_collector_success{collector="nodeport"}"#), Some(0.0), "{m}");
    assert!(!nodeport_lines(&m).contains(r#"store="active""#), "no active series without the active range:\n{}", nodeport_lines(&m));
    let unknown =
        r#"portwatch_nodeport_range_verdict_unknown{protocol="udp",verdict="dynamic_range_now",reason="the sysctl collector is disabled"}"#;
    assert_eq!(v(&m, unknown), Some(1.0), "{}", nodeport_lines(&m));
}
