//! `portwatch_exporter check` and bad input, through the real binary.

mod common;

use common::{fixture_scraper, fixtures, soon, value};
use std::process::Command;

fn exporter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
}

/// `check` on the host1 fixture (procfs socket tables), with `extra` flags.
fn check_host1(extra: &[&str]) -> std::process::Output {
    let host = fixtures().join("host1");
    exporter()
        .args(["check", "--collector.sockets.source", "procfs"])
        .args(extra)
        .arg("--config.file")
        .arg(host.join("portwatch.yml"))
        .arg("--path.procfs")
        .arg(host.join("proc"))
        .arg("--path.rootfs")
        .arg(host.join("root"))
        .output()
        .expect("runs")
}

#[test]
fn check_prints_table_and_exact_remedy_and_exits_1_on_problems() {
    let out = check_host1(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("mssql (tcp/1433) is held by another owner"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("mssql") && l.contains("300/curl (root) established 10.0.0.7 [other]")), "{text}");
    // Keeps the persistent reservations of /run/sysctl.d/40-weka.conf and adds the ports at risk.
    assert!(
        text.contains("echo 'net.ipv4.ip_local_reserved_ports = 1433,5432,6379,8080,35000-37600,45000-47000' > /etc/sysctl.d/99-zz-portwatch-reserved-ports.conf"),
        "{text}"
    );
    assert!(text.contains("  sysctl --system"), "{text}");
}

#[test]
fn broken_config_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.yml");
    std::fs::write(&cfg, "ports:\n  - name: a\n    port: 99999\n").expect("write");
    let out = exporter().arg("check").arg("--config.file").arg(&cfg).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yml") && err.contains("line 3") && err.contains("port"), "{err}");
    let missing = exporter().arg("--config.file").arg(dir.path().join("nope.yml")).output().expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.yml"));
}

/// Garbage in every file: failed collectors say 0, nothing panics, the
/// scrape still renders everything else.
#[test]
fn garbage_procfs_and_sysctl_d_give_collector_success_0_not_a_panic() {
    let mut s = fixture_scraper("broken");
    let m = s.render(soon());
    let ok = |c: &str| value(&m, &format!("portwatch_scrape_collector_success{{collector=\"{c}\"}}"));
    assert_eq!(ok("sysctl"), Some(0.0), "{m}");
    assert_eq!(ok("sockets"), Some(0.0));
    // Garbage lines in sysctl.d are what the boot skips or the kernel refuses:
    // a known outcome (the defaults remain), not a failure to read.
    assert_eq!(ok("sysctld"), Some(1.0));
    assert_eq!(ok("ephemeral"), Some(0.0), "no active range, no count");
    assert_eq!(ok("reboot"), Some(1.0));
    assert_eq!(value(&m, r#"portwatch_dynamic_port_range_start{protocol="tcp",family="ipv4",store="persistent"}"#), Some(32768.0));
    // No sockets were read: the holder series are absent and say why, never a 0.
    assert_eq!(value(&m, r#"portwatch_port_bound{name="p",port="5432",protocol="tcp"}"#), None, "{m}");
    assert!(m.contains(r#"portwatch_port_verdict_unknown{name="p",port="5432",protocol="tcp",verdict="holders",reason="the sockets collector failed"} 1"#), "{m}");
    assert!(m.contains("portwatch_build_info{"));
    assert!(m.ends_with("# EOF\n"));
}

#[test]
fn help_and_version_explain_themselves() {
    let help = exporter().arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--config.file",
        "--web.listen-address",
        "--web.telemetry-path",
        "--path.procfs",
        "--path.rootfs",
        "--log.level",
        "--log.format",
        "check",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let v = exporter().arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn service_subcommand_outside_windows_points_to_systemd_and_log_file_is_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("exporter.log");
    let out = exporter().arg("service").arg("--log.file").arg(&log).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("systemd") && text.contains("level=error"), "{text}");
    assert!(out.stderr.is_empty(), "with --log.file nothing goes to stderr");
    let bad = exporter().arg("check").arg("--log.file").arg("/nonexistent/dir/x.log").output().expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/dir/x.log"));
}

#[test]
fn event_log_outside_windows_is_a_clear_refusal() {
    let out = exporter().args(["check", "--log.file", "eventlog"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("event log exists only on Windows"), "{err}");
    // The daemon's flags are accepted after `service`, as a Windows service's command line needs.
    let svc = exporter().args(["service", "--web.listen-address", "127.0.0.1:0", "--log.level", "error"]).output().expect("runs");
    assert_eq!(svc.status.code(), Some(1), "{}", String::from_utf8_lossy(&svc.stderr));
}

/// `check --output json`: the same verdicts and exit code as the table, as JSON.
#[test]
fn check_json_has_the_tables_verdicts_and_exit_code() {
    let run = |output: &str| check_host1(&["--output", output]);
    let (table, json) = (run("table"), run("json"));
    assert_eq!(json.status.code(), table.status.code());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(v["exit_code"], 1);
    let mssql = v["ports"].as_array().expect("ports").iter().find(|p| p["name"] == "mssql").expect("mssql");
    assert_eq!(mssql["held_by_other"], true);
    assert_eq!(mssql["reboot_risk"], true);
    assert_eq!(v["next_boot"]["applier"], "systemd-sysctl");
    assert_eq!(v["next_boot"]["rejected"][0]["key"], "net.ipv4.ip_unprivileged_port_start");
    // The fixture's watched UDP range 50-60: the table's counts, as numbers.
    let apps = &v["watched_ranges"][0];
    assert_eq!((apps["name"].as_str(), apps["first_port"].as_u64(), apps["last_port"].as_u64()), (Some("apps"), Some(50), Some(60)));
    assert_eq!((apps["now"]["in_dynamic_range"].as_u64(), apps["after_reboot"]["at_risk"].as_u64()), (Some(0), Some(0)));
    assert_eq!((apps["bound"].as_u64(), apps["bound_by_expected"].as_u64(), apps["bound_by_other"].as_u64()), (Some(1), Some(0), Some(1)));
    assert_eq!(
        (&apps["offenders"][0]["port"], &apps["offenders"][0]["process"]),
        (&serde_json::json!(53), &serde_json::json!("systemd-resolve"))
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.lines().any(|l| l.starts_with("apps") && l.contains("50-60") && l.contains("udp")), "{table}");
}

/// `check --output textfile` writes a file node_exporter's real textfile
/// collector (Debian's prometheus-node-exporter) serves, whole.
#[test]
fn check_textfile_is_served_by_node_exporters_textfile_collector() {
    if !common::require_tool("prometheus-node-exporter") || !common::require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("portwatch.prom");
    let out = check_host1(&["--output", "textfile", "--output.file", &prom.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "the exit code is check's: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&prom).expect("written");
    assert!(!text.contains("# EOF"), "the text format, not OpenMetrics");
    assert!(text.contains("# TYPE portwatch_collections_total counter\nportwatch_collections_total 1\n"), "{text}");
    // node_exporter serves its own process_*: a second set from this short run would clash with it.
    assert!(!text.contains("process_"), "{text}");
    common::promtool_accepts_text(&text);
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "no temporary file left");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let mut node = std::process::Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--collector.textfile.directory={}", dir.path().display()))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node_exporter");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut body = String::new();
    for _ in 0..100 {
        let o = std::process::Command::new("curl").args(["-sf", &url]).output().expect("curl");
        if o.status.success() {
            body = String::from_utf8_lossy(&o.stdout).into_owned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = node.kill();
    let _ = node.wait();
    assert!(body.contains(r#"node_textfile_scrape_error 0"#), "node_exporter read the file without error:\n{body}");
    assert!(body.contains(r#"portwatch_port_bound_by_other{name="mssql",port="1433",protocol="tcp"} 1"#), "{body}");
}
