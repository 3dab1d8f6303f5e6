//! The learned baseline on a real kernel: a reboot in miniature without a
//! config file (the service listens and is learned; exporter and service
//! stop; a client is handed the port as its ephemeral source port; the
//! exporter restarts on the same storage and names the previous owner), and
//! the state file's crash safety.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{has_series, require_root};
use netns::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_portwatch_exporter");

fn v(m: &str, series: &str) -> Option<f64> {
    common::value(m, series)
}

/// `ss -tanp` in the namespace: the established sockets whose local port is `port`.
fn ss_established_from(ns: &Netns, port: u16) -> String {
    let out = ns.cmd("ss").args(["-Htanp", "state", "established", &format!("( sport = :{port} )")]).output().expect("ss runs");
    assert!(out.status.success(), "ss: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn reboot_in_miniature_learned_port_taken_by_a_client_names_the_previous_owner_needs_root() {
    if !require_root("reboot_in_miniature_learned_port_taken_by_a_client_names_the_previous_owner_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = tmp.path().join("state");
    let storage_arg = storage.display().to_string();
    let learn = ["--storage.path", storage_arg.as_str(), "--baseline.learn-after", "0s"];
    let port = 40000u16;
    let series = format!(r#"{{name="tcp-{port}",port="{port}",protocol="tcp"}}"#);
    let mut ns = Netns::new("reboot");

    // Before the reboot: the service listens and the exporter (no config file) learns it.
    let service = ns.peer("sqlservr", "listen-tcp", "0.0.0.0", port);
    ns.exporter(&learn);
    let exporter = ns.last_pid();
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{series}")), Some(1.0), "{m}");
    assert!(has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40000"), ("source", "baseline")]), "{m}");
    assert!(v(&m, r#"portwatch_baseline_ports{state="learned"}"#).is_some_and(|n| n >= 1.0), "{m}");
    assert!(v(&m, r#"portwatch_baseline_changes_total{kind="learned"}"#).is_some_and(|n| n >= 1.0), "{m}");
    assert_eq!(v(&m, "portwatch_baseline_load_success"), Some(1.0), "{m}");
    assert_eq!(v(&m, "portwatch_baseline_last_write_success"), Some(1.0), "{m}");
    let file = std::fs::read_to_string(storage.join("baseline.json")).expect("the baseline was written");
    assert!(file.contains("\"port\": 40000") && file.contains("sqlservr"), "{file}");

    // The reboot: exporter and service gone.
    ns.stop(exporter);
    ns.stop(service.pid);

    // Nobody holds the learned port: `check` says the learned owner is missing, and writes nothing.
    let before = std::fs::read(storage.join("baseline.json")).expect("file");
    let out = ns.cmd(BIN).args(["check", "--storage.path", &storage_arg]).output().expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.lines().any(|l| l.starts_with("tcp-40000") && l.contains("LEARNED OWNER MISSING")), "{text}");
    assert!(text.contains("tcp/40000: learned owner missing, nobody holds it (before: sqlservr"), "{text}");
    assert_eq!(std::fs::read(storage.join("baseline.json")).expect("file"), before, "check never writes the baseline");

    // A client starts before the service and is handed the port as its source port.
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{port} {port}"));
    ns.peer("upstream", "listen-tcp", "127.0.0.1", 5000);
    let client = ns.peer("client", "connect-tcp", "127.0.0.1", 5000);
    assert_eq!(client.port, port, "the kernel hands out the only port in the range");
    let ss = ss_established_from(&ns, port);
    assert!(ss.contains(&format!("127.0.0.1:{port}")) && ss.contains("\"client\"") && ss.contains(&format!("pid={}", client.pid)), "{ss}");

    // The exporter restarts on the same storage: the port is held by another owner, and the previous one is named.
    ns.exporter(&learn);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{series}")), Some(1.0), "{m}");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{series}")), Some(0.0), "{m}");
    assert!(
        has_series(&m, "portwatch_port_socket_info", &[("port", "40000"), ("process", "client"), ("state", "established"), ("expected", "false")]),
        "{m}"
    );
    let owner_line = m
        .lines()
        .find(|l| l.starts_with("portwatch_port_expected_owner_info{") && l.contains(r#"port="40000""#))
        .unwrap_or_else(|| panic!("no expected owner info for 40000: {m}"));
    assert!(owner_line.contains(r#"source="baseline""#) && owner_line.contains(r#"owner="sqlservr (root"#), "{owner_line}");
    assert!(v(&m, r#"portwatch_baseline_changes_total{kind="owner_changed"}"#) == Some(0.0), "a client never becomes the owner: {m}");

    let out = ns.cmd(BIN).args(["check", "--storage.path", &storage_arg]).output().expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("tcp-40000") && l.contains("HELD BY OTHER") && l.contains("client")), "{text}");
    assert!(text.contains("tcp-40000 (tcp/40000) is held by another owner (before: sqlservr (root"), "{text}");
    let after = std::fs::read(storage.join("baseline.json")).expect("file");
    let learned_still = String::from_utf8_lossy(&after);
    assert!(learned_still.contains("sqlservr") && !learned_still.contains("\"client\""), "{learned_still}");
}
