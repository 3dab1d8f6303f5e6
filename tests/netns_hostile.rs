//! Hostile and odd input on a real kernel (root) and in fixture trees:
//! process names that break naive parsers, pid reuse, and churn.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{fixtures, has_series, promtool_accepts_text, require_root, soon, value, write_config};
use netns::Netns;
use portwatch_exporter::scrape::{Collect, Scraper};
use portwatch_exporter::source::{Paths, SocketTable};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn process_names_with_parens_newlines_and_bad_utf8_are_safe_labels_needs_root() {
    if !require_root("process_names_with_parens_newlines_and_bad_utf8_are_safe_labels_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        tmp.path(),
        "ports:\n  - {name: parens, port: 7001}\n  - {name: newline, port: 7002}\n  - {name: bytes, port: 7003}\n",
    );
    let mut ns = Netns::new("names");
    ns.peer("a) (b c", "listen-tcp", "127.0.0.1", 7001);
    ns.peer(&format!("hex:{}", "x\ny".bytes().map(|b| format!("{b:02x}")).collect::<String>()), "listen-tcp", "127.0.0.1", 7002);
    ns.peer("hex:626164fffe", "listen-tcp", "127.0.0.1", 7003);
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let m = ns.get("/metrics");
    assert!(has_series(&m, "portwatch_port_socket_info", &[("name", "parens"), ("process", "a) (b c")]), "{m}");
    assert!(has_series(&m, "portwatch_port_socket_info", &[("name", "newline"), ("process", "x?y")]), "{m}");
    assert!(has_series(&m, "portwatch_port_socket_info", &[("name", "bytes"), ("process", "bad\u{fffd}\u{fffd}")]), "{m}");
    promtool_accepts_text(&m);
}

/// Sockets and processes come and go while Prometheus-style scrapes run:
/// no scrape fails, and once the churn is over no dead owner lingers.
#[test]
fn churn_during_scrapes_leaves_no_error_and_no_stale_owner_needs_root() {
    if !require_root("churn_during_scrapes_leaves_no_error_and_no_stale_owner_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), "ports:\n  - name: svc\n    port: 7100\n    expect: {process: svc}\n");
    let mut ns = Netns::new("churn");
    ns.peer("svc", "serve-tcp", "127.0.0.1", 7100);
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let churners: Vec<u32> = (0..3).map(|_| ns.peer("churner", "churn-tcp", "127.0.0.1", 7100).pid).collect();
    let start = Instant::now();
    let mut scrapes = 0;
    // Exited churners stay zombies until the harness reaps them on drop.
    let running = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
    };
    while churners.iter().any(running) {
        assert!(start.elapsed() < Duration::from_secs(40), "churn did not end");
        let m = ns.get("/metrics");
        for c in ["sockets", "owners"] {
            assert_eq!(value(&m, &format!("portwatch_scrape_collector_success{{collector=\"{c}\"}}")), Some(1.0), "{c} during churn");
        }
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(scrapes >= 3, "only {scrapes} scrapes overlapped the churn");
    let m = ns.get("/metrics");
    for pid in &churners {
        assert!(!m.contains(&format!("pid=\"{pid}\"")), "dead churner {pid} still listed as an owner");
    }
    assert_eq!(value(&m, r#"portwatch_port_bound_by_expected{name="svc",port="7100",protocol="tcp"}"#), Some(1.0));
    // Churn leaves TIME_WAITs on the port; socket_info stays capped at the limit.
    let infos = m.lines().filter(|l| l.starts_with("portwatch_port_socket_info{") && l.contains("name=\"svc\"")).count();
    assert!(infos <= 10, "{infos} socket_info series for one port");
    assert!(value(&m, r#"portwatch_port_sockets{name="svc",port="7100",protocol="tcp"}"#).is_some_and(|n| n >= 1.0));
}

/// A pid that now belongs to another program (new start time, new name)
/// must not keep the old program's name.
#[test]
fn pid_reuse_between_scrapes_refreshes_the_owner() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ok = Command::new("cp").arg("-a").arg(fixtures().join("host1")).arg(tmp.path().join("h")).status().expect("cp");
    assert!(ok.success());
    let h = tmp.path().join("h");
    let paths = Paths { procfs: h.join("proc"), rootfs: h.join("root"), boot_applier: None, netns_refresh: Default::default() };
    let mut s = Scraper::new(paths, Some(h.join("portwatch.yml")), Collect::all(SocketTable::Procfs)).expect("config");
    let first = s.render(soon());
    assert!(has_series(&first, "portwatch_port_socket_info", &[("pid", "100"), ("process", "postgres"), ("expected", "true")]));
    let stat = h.join("proc/100/stat");
    let text = std::fs::read_to_string(&stat).expect("stat").replace("(postgres)", "(imposter)").replace(" 1100 ", " 999999 ");
    std::fs::write(&stat, text).expect("rewrite stat");
    let exe = h.join("proc/100/exe");
    std::fs::remove_file(&exe).expect("rm exe");
    std::os::unix::fs::symlink("/usr/bin/imposter", &exe).expect("exe link");
    let second = s.render(soon());
    assert!(
        has_series(&second, "portwatch_port_socket_info", &[("pid", "100"), ("process", "imposter"), ("expected", "false")]),
        "{second}"
    );
    assert_eq!(value(&second, r#"portwatch_port_bound_by_other{name="postgres",port="5432",protocol="tcp"}"#), Some(1.0));
}
