//! Real-kernel scenarios in throwaway network namespaces (root only; CI
//! runs them as root and fails if it cannot). They reproduce both causes
//! of "port already in use" and the fix, through the real binary.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{has_series, promtool_accepts_text, require_root, require_tool, value, write_config};
use netns::Netns;

fn v(m: &str, series: &str) -> f64 {
    value(m, series).unwrap_or_else(|| panic!("no series {series} in:\n{m}"))
}

const PG: &str = r#"{name="pg",port="5432",protocol="tcp"}"#;
const PG_CONFIG: &str = "ports:\n  - name: pg\n    port: 5432\n    expect: {process: postgres}\n";

/// (a) another program listens on the watched port.
#[test]
fn other_process_listens_on_watched_port_needs_root() {
    if !require_root("other_process_listens_on_watched_port_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), PG_CONFIG);
    let mut ns = Netns::new("a");
    let intruder = ns.peer("intruder", "listen-tcp", "0.0.0.0", 5432);
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{PG}")), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{PG}")), 0.0);
    assert!(
        has_series(
            &m,
            "portwatch_port_socket_info",
            &[("name", "pg"), ("state", "listen"), ("pid", &intruder.pid.to_string()), ("process", "intruder"), ("expected", "false")]
        ),
        "{m}"
    );
    assert_eq!(v(&m, "portwatch_owners_resolvable"), 1.0);
}

/// (c) the expected owner holds the port.
#[test]
fn expected_owner_holds_watched_port_needs_root() {
    if !require_root("expected_owner_holds_watched_port_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), PG_CONFIG);
    let mut ns = Netns::new("c");
    let pg = ns.peer("postgres", "listen-tcp", "::", 5432);
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{PG}")), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{PG}")), 0.0);
    assert_eq!(v(&m, &format!("portwatch_port_sockets{PG}")), 1.0);
    assert!(has_series(
        &m,
        "portwatch_port_socket_info",
        &[("family", "ipv6"), ("address", "::"), ("pid", &pg.pid.to_string()), ("user", "root"), ("expected", "true")]
    ));
}

/// (b) a client is handed the watched port as its ephemeral source port;
/// then the port is reserved now (risk remains), then persistently (risk gone).
#[test]
fn client_socket_holds_watched_port_as_ephemeral_source_needs_root() {
    if !require_root("client_socket_holds_watched_port_as_ephemeral_source_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = tmp.path().join("root");
    std::fs::create_dir_all(rootfs.join("etc/sysctl.d")).expect("mkdir");
    let cfg = write_config(tmp.path(), "ports:\n  - name: app\n    port: 40000\n    expect: {process: app-server}\n");
    let mut ns = Netns::new("b");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40000");
    ns.peer("server", "listen-tcp", "127.0.0.1", 5000);
    let client = ns.peer("client", "connect-tcp", "127.0.0.1", 5000);
    assert_eq!(client.port, 40000, "the kernel must hand out the only port in the range");
    let root = rootfs.display().to_string();
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &root]);

    let app = r#"{name="app",port="40000",protocol="tcp"}"#;
    let st = |store: &str| format!(r#"{{name="app",port="40000",protocol="tcp",store="{store}"}}"#);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{app}")), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{app}")), 0.0);
    assert!(
        has_series(&m, "portwatch_port_socket_info", &[("state", "established"), ("process", "client"), ("pid", &client.pid.to_string())]),
        "{m}"
    );
    assert_eq!(v(&m, &format!("portwatch_port_in_dynamic_range{}", st("active"))), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_excluded_from_dynamic_range{}", st("active"))), 0.0);
    assert_eq!(v(&m, &format!("portwatch_port_reboot_risk{app}")), 1.0);
    assert_eq!(v(&m, r#"portwatch_dynamic_port_range_start{protocol="tcp",family="ipv4",store="active"}"#), 40000.0);
    assert_eq!(v(&m, r#"portwatch_dynamic_ports_in_use{protocol="tcp",family="ipv4"}"#), 1.0);

    // Reserved now: excluded, but the next boot forgets it.
    ns.sysctl("net.ipv4.ip_local_reserved_ports", "40000");
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_excluded_from_dynamic_range{}", st("active"))), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_excluded_from_dynamic_range{}", st("persistent"))), 0.0);
    assert_eq!(v(&m, &format!("portwatch_port_reboot_risk{app}")), 1.0);
    assert_eq!(v(&m, r#"portwatch_dynamic_ports_available{protocol="tcp",family="ipv4"}"#), 0.0);

    // Apply the remedy `check` prints, under the temporary rootfs.
    let out = ns
        .cmd(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["check", "--config.file", &cfg, "--path.rootfs", &root])
        .output()
        .expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text.lines().find(|l| l.contains("ip_local_reserved_ports")).unwrap_or_else(|| panic!("no remedy in {text}"));
    let (content, target) = line.trim().strip_prefix("echo '").and_then(|r| r.split_once("' > ")).expect("echo line");
    assert_eq!(content, "net.ipv4.ip_local_reserved_ports = 40000");
    std::fs::write(rootfs.join(target.trim_start_matches('/')), format!("{content}\n")).expect("drop-in");

    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_excluded_from_dynamic_range{}", st("persistent"))), 1.0);
    assert_eq!(v(&m, &format!("portwatch_port_reboot_risk{app}")), 0.0);
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{app}")), 1.0, "the client still holds it until it closes");
}

/// UDP sockets and TCP sockets that are bound but neither listening nor
/// connected both hold a port.
#[test]
fn udp_and_bound_inactive_tcp_sockets_hold_ports_needs_root() {
    if !require_root("udp_and_bound_inactive_tcp_sockets_hold_ports_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), "ports:\n  - name: dns\n    port: 5353\n    protocol: udp\n  - name: bound\n    port: 7000\n");
    let mut ns = Netns::new("u");
    ns.peer("dnsd", "bind-udp", "127.0.0.1", 5353);
    ns.peer("binder", "bind-tcp", "::1", 7000);
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let m = ns.get("/metrics");
    assert!(
        has_series(&m, "portwatch_port_socket_info", &[("name", "dns"), ("protocol", "udp"), ("state", "unconn"), ("process", "dnsd")]),
        "{m}"
    );
    assert!(
        has_series(
            &m,
            "portwatch_port_socket_info",
            &[("name", "bound"), ("state", "bound_inactive"), ("process", "binder"), ("family", "ipv6")]
        ),
        "{m}"
    );
    assert_eq!(v(&m, r#"portwatch_port_bound_by_expected{name="bound",port="7000",protocol="tcp"}"#), 1.0);
}

/// Default mode on a real kernel: listeners are found, the exposition
/// passes promtool, and the ranges are this namespace's.
#[test]
fn default_mode_exposition_passes_promtool_needs_root() {
    if !require_root("default_mode_exposition_passes_promtool_needs_root") {
        return;
    }
    let mut ns = Netns::new("d");
    ns.sysctl("net.ipv4.ip_local_port_range", "20000 20999");
    ns.peer("redis-server", "listen-tcp", "127.0.0.1", 6379);
    ns.exporter(&[]);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, r#"portwatch_port_bound_by_expected{name="tcp-6379",port="6379",protocol="tcp"}"#), 1.0);
    assert_eq!(v(&m, r#"portwatch_dynamic_port_range_end{protocol="udp",family="ipv6",store="active"}"#), 20999.0);
    promtool_accepts_text(&m);
}

/// Without rights to other processes' fds it serves everything else and
/// says owners are not resolvable.
#[test]
fn unprivileged_exporter_reports_owners_unresolvable_needs_root() {
    if !require_root("unprivileged_exporter_reports_owners_unresolvable_needs_root") || !require_tool("setpriv") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), PG_CONFIG);
    let mut perms = std::fs::metadata(tmp.path()).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(tmp.path(), perms).expect("chmod");
    let mut ns = Netns::new("p");
    ns.peer("postgres", "listen-tcp", "0.0.0.0", 5432);
    ns.exporter_as(Some(65534), &["--config.file", &cfg]);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, "portwatch_owners_resolvable"), 0.0);
    assert_eq!(v(&m, &format!("portwatch_port_bound{PG}")), 1.0);
    assert_eq!(v(&m, r#"portwatch_scrape_collector_success{collector="sockets"}"#), 1.0);
    // Who holds it is hidden: no all-clear and no false alarm, but "cannot tell".
    assert_eq!(value(&m, &format!("portwatch_port_bound_by_expected{PG}")), None, "{m}");
    assert_eq!(value(&m, &format!("portwatch_port_bound_by_other{PG}")), None, "{m}");
    assert!(has_series(&m, "portwatch_port_verdict_unknown", &[("name", "pg"), ("verdict", "owners")]), "{m}");
    let out = ns
        .cmd("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", env!("CARGO_BIN_EXE_portwatch_exporter")])
        .args(["check", "--config.file", &cfg])
        .output()
        .expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("HELD, OWNER HIDDEN") && text.contains("Cannot tell"), "{text}");
    assert!(!text.contains("All watched ports are fine") && !text.contains("held by another owner"), "{text}");
}
