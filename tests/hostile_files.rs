//! Files that are not what they claim: devices, FIFOs and oversized files in
//! place of the config, the web config, certificates, passwd and /proc
//! files. Each is refused at once with an error naming it; none may block,
//! exhaust memory or stop the daemon. Real files, the real binary.

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::{fixtures, value};
use exporter::Exporter;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[test]
fn config_that_is_a_device_a_fifo_or_huge_is_refused_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fifo = tmp.path().join("ports.fifo");
    mkfifo(&fifo);
    let huge = tmp.path().join("huge.yml");
    // A valid start, then 2 MiB of comment: over the 1 MiB cap for configs.
    std::fs::write(&huge, format!("ports:\n  - name: a\n    port: 80\n#{}\n", "x".repeat(2 << 20))).expect("write");
    let dir = tmp.path().display().to_string();
    for (path, why) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().expect("utf-8"), "not a regular file"),
        (huge.to_str().expect("utf-8"), "larger than"),
        (dir.as_str(), "not a regular file"),
    ] {
        for mode in [&[][..], &["check"][..]] {
            let mut args = vec!["--config.file", path];
            args.extend_from_slice(mode);
            let (code, err, took) = exporter::run_to_exit(&args);
            assert_eq!(code, Some(2), "{args:?}: exit {code:?} after {took:?}: {err}");
            assert!(err.contains(path) && err.contains(why), "{args:?}: {err}");
        }
    }
}

#[test]
fn web_config_that_is_a_fifo_or_device_is_refused_at_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fifo = tmp.path().join("web.fifo");
    mkfifo(&fifo);
    let certs = tmp.path().join("web.yml");
    std::fs::write(&certs, "tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n").expect("write");
    for path in [fifo.to_str().expect("utf-8"), "/dev/zero", certs.to_str().expect("utf-8")] {
        let (code, err, took) = exporter::run_to_exit(&["--web.config.file", path]);
        assert!(code.is_some_and(|c| c != 0), "{path}: exit {code:?} after {took:?}: {err}");
        assert!(err.contains("not a regular file"), "{path}: {err}");
    }
}

#[test]
fn web_config_changed_to_a_device_certificate_is_logged_and_kept_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = tmp.path().join("web.yml");
    let log = tmp.path().join("exporter.log");
    std::fs::write(&web, "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n").expect("write");
    let (web_s, log_s) = (web.display().to_string(), log.display().to_string());
    let mut e = Exporter::start(&["--web.config.file", &web_s, "--log.file", &log_s]);
    assert_eq!(e.get("/-/healthy", "").0, 200);
    let big = tmp.path().join("big.pem");
    std::fs::write(&big, "-----BEGIN CERTIFICATE-----\n".repeat(100_000)).expect("write");
    for cert in ["/dev/zero", "/dev/urandom", big.to_str().expect("utf-8")] {
        // A different length each time, so the change is seen.
        std::fs::write(&web, format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {cert}\n# {cert}\n")).expect("write");
        let (status, _) = e.get("/metrics", "");
        assert_eq!(status, 200, "{cert}: the plain-HTTP config stays in force");
        assert!(e.child.try_wait().expect("wait").is_none(), "{cert}: the daemon is still running");
    }
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("/dev/zero") && text.contains("not a regular file"), "{text}");
    assert!(text.contains("larger than"), "{text}");
    assert!(text.matches("keeping the previous web config").count() >= 3, "{text}");
}

/// host1's fixture tree copied, with `f` applied to it.
fn host1_with(dir: &Path, f: impl FnOnce(&Path)) -> (String, String, String) {
    assert!(Command::new("cp").arg("-a").arg(fixtures().join("host1")).arg(dir.join("host")).status().expect("cp").success());
    let h = dir.join("host");
    f(&h);
    (h.join("proc").display().to_string(), h.join("root").display().to_string(), h.join("portwatch.yml").display().to_string())
}

/// The exporter on a copied tree (procfs, rootfs, config), sockets from procfs.
fn tree_exporter(tree: &(String, String, String), extra: &[&str]) -> Exporter {
    let (procfs, rootfs, cfg) = tree;
    let mut args = vec!["--config.file", cfg, "--path.procfs", procfs, "--path.rootfs", rootfs, "--collector.sockets.source", "procfs"];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

#[test]
fn proc_and_passwd_files_that_are_fifos_are_skipped_without_blocking() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (procfs, rootfs, cfg) = host1_with(tmp.path(), |h| {
        for f in ["proc/101/status", "proc/101/cgroup", "proc/net/udp", "root/etc/passwd"] {
            std::fs::remove_file(h.join(f)).expect("rm");
            mkfifo(&h.join(f));
        }
    });
    let e = tree_exporter(&(procfs, rootfs, cfg), &[]);
    let t = Instant::now();
    let (status, body) = e.get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds: 3\r\n");
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "a FIFO was waited for: {:?}", t.elapsed());
    assert_eq!(value(&body, r#"portwatch_scrape_collector_success{collector="sockets"}"#), Some(0.0), "udp is a FIFO");
    assert_eq!(value(&body, r#"portwatch_scrape_collector_success{collector="owners"}"#), Some(1.0), "{body}");
}

#[test]
fn junk_row_in_net_tcp_and_escape_in_passwd_keep_the_rest_and_stay_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (procfs, rootfs, cfg) = host1_with(tmp.path(), |h| {
        let tcp = h.join("proc/net/tcp");
        let mut text = std::fs::read_to_string(&tcp).expect("tcp");
        text.insert_str(text.find('\n').expect("header") + 1, "   9: junk \u{1b}[2J not a row\n");
        std::fs::write(&tcp, text).expect("write");
        let pw = h.join("root/etc/passwd");
        let text = std::fs::read_to_string(&pw).expect("passwd").replace("postgres:x:105", "post\u{1b}[31mgres:x:105");
        std::fs::write(&pw, text).expect("write");
    });
    let paths = portwatch_exporter::source::Paths {
        procfs: procfs.into(),
        rootfs: rootfs.into(),
        boot_applier: None,
        netns_refresh: Default::default(),
    };
    let mut s = portwatch_exporter::scrape::Scraper::new(
        paths,
        Some(cfg.into()),
        portwatch_exporter::scrape::Collect::all(portwatch_exporter::source::SocketTable::Procfs),
    )
    .expect("config");
    let m = s.render(common::soon());
    assert_eq!(value(&m, r#"portwatch_scrape_collector_success{collector="sockets"}"#), Some(1.0), "one junk row does not fail the table");
    assert_eq!(value(&m, r#"portwatch_port_sockets{name="postgres",port="5432",protocol="tcp"}"#), Some(3.0), "every good row is kept");
    assert!(!m.contains('\u{1b}'), "no raw ESC in the exposition");
    assert!(m.contains(r#"user="post?[31mgres""#), "the user label is escaped as process names are");
    common::promtool_accepts_openmetrics(&m);
}

#[test]
fn a_junk_row_is_logged_with_its_line_once_not_on_every_scrape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (procfs, rootfs, cfg) = host1_with(tmp.path(), |h| {
        let tcp = h.join("proc/net/tcp");
        let text = std::fs::read_to_string(&tcp).expect("tcp") + "   9: junk row\n";
        std::fs::write(&tcp, text).expect("write");
    });
    let log = tmp.path().join("exporter.log");
    let log_s = log.display().to_string();
    let e = tree_exporter(&(procfs, rootfs, cfg), &["--log.file", &log_s]);
    for _ in 0..3 {
        let (status, body) = e.get("/metrics", "");
        assert_eq!(status, 200);
        assert_eq!(value(&body, r#"portwatch_scrape_collector_success{collector="sockets"}"#), Some(1.0));
    }
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("malformed row")).collect();
    assert_eq!(lines.len(), 1, "once while the count stays the same: {text}");
    assert!(lines[0].contains("net/tcp") && lines[0].contains("skipped 1") && lines[0].contains("line "), "{}", lines[0]);
    assert!(!lines[0].contains("junk"), "the row's content is not logged: {}", lines[0]);
}
