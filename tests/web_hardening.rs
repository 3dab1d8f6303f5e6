//! The server stays up and answers in time under hostile or odd clients and
//! a collector stuck in the kernel (a FUSE read that hangs).

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::{fixtures, value};
use exporter::{status_and_body, Exporter};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A FUSE mount (tests/helpers/stall_fs.py) whose reads hang in the kernel,
/// as on a dead NFS server; unmounted on drop.
struct StallFs {
    mountpoint: std::path::PathBuf,
    child: std::process::Child,
}

impl Drop for StallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// host1's fixture tree with /proc/sys/net/ipv4 on a FUSE mount whose
/// `ip_local_port_range` read hangs for `secs`: a read stuck in the kernel,
/// which the non-blocking open cannot avoid (it is a regular file).
fn stuck_tree(dir: &Path, secs: u32) -> (StallFs, String, String, String) {
    let src = fixtures().join("host1");
    let out = std::process::Command::new("cp").arg("-a").arg(&src).arg(dir.join("host")).status().expect("cp");
    assert!(out.success());
    let mountpoint = dir.join("host/proc/sys/net/ipv4");
    let reserved = std::fs::read_to_string(mountpoint.join("ip_local_reserved_ports")).expect("fixture");
    std::fs::remove_dir_all(&mountpoint).expect("rm");
    std::fs::create_dir(&mountpoint).expect("mkdir");
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/stall_fs.py");
    let child = std::process::Command::new("/usr/bin/python3")
        .arg(helper)
        .arg(&mountpoint)
        .arg(secs.to_string())
        .arg("!ip_local_port_range=1024\t65000\n")
        .arg(format!("ip_local_reserved_ports={reserved}"))
        .spawn()
        .expect("stall_fs.py (python3-fusepy)");
    let stall = StallFs { mountpoint: mountpoint.clone(), child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string("/proc/self/mounts").expect("mounts").contains(&*mountpoint.to_string_lossy()) {
        assert!(Instant::now() < deadline, "the FUSE stall file system did not mount");
        std::thread::sleep(Duration::from_millis(50));
    }
    let h = dir.join("host");
    (stall, h.join("proc").display().to_string(), h.join("root").display().to_string(), h.join("portwatch.yml").display().to_string())
}

/// The exporter on the stuck tree, with `extra` flags.
fn stuck_exporter(dir: &Path, secs: u32, extra: &[&str]) -> (StallFs, Exporter) {
    let (stall, procfs, rootfs, cfg) = stuck_tree(dir, secs);
    let mut args = vec!["--config.file", &cfg, "--path.procfs", &procfs, "--path.rootfs", &rootfs, "--collector.sockets.source", "procfs"];
    args.extend_from_slice(extra);
    (stall, Exporter::start(&args))
}

#[test]
fn stuck_collector_cannot_wedge_scrapes_and_parallel_scrapes_share_one_collection_needs_root() {
    if !common::require_root("stuck_collector_cannot_wedge_scrapes_and_parallel_scrapes_share_one_collection_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_stall, e) = stuck_exporter(tmp.path(), 10, &["--web.max-requests", "200", "--web.max-connections", "200"]);
    let port = e.port;
    let started = Instant::now();
    let workers: Vec<_> = (0..100)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
                s.write_all(b"GET /metrics HTTP/1.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 2\r\n\r\n").expect("write");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                (status_and_body(&out), started.elapsed())
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().expect("worker")).collect();
    for ((status, body), took) in &results {
        assert_eq!(*status, 200, "{body}");
        assert!(*took < Duration::from_secs(5), "answered after {took:?}");
        assert_eq!(value(body, r#"portwatch_scrape_collector_success{collector="sysctl"}"#), Some(0.0), "the stuck collector reports 0");
        assert_eq!(value(body, r#"portwatch_scrape_collector_success{collector="sockets"}"#), Some(1.0), "the others still work");
        assert_eq!(value(body, r#"portwatch_port_bound{name="postgres",port="5432",protocol="tcp"}"#), Some(1.0));
    }
    // The next scrape finds the collector still stuck and fails it at once.
    let t = Instant::now();
    let (status, body) = e.get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds: 2\r\n");
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_millis(1500), "a busy collector does not wait for the deadline: {:?}", t.elapsed());
    assert_eq!(value(&body, r#"portwatch_scrape_collector_success{collector="sysctl"}"#), Some(0.0));
    let collections = value(&body, "portwatch_collections_total").expect("counter");
    assert!(collections <= 4.0, "100 simultaneous scrapes ran {collections} collections");
}

/// A keep-alive connection proven served, then left idle.
fn served_idle(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let _ = s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap_or(0);
        if String::from_utf8_lossy(&buf[..n]).contains("200 OK") {
            return s;
        }
        assert!(Instant::now() < deadline, "could not get a served connection");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn at_the_cap_the_longest_idle_connection_makes_room() {
    let e = Exporter::start(&["--web.max-connections", "2", "--web.header-read-timeout", "5"]);
    let mut held: Vec<TcpStream> = (0..2).map(|_| served_idle(e.port)).collect();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(e.get("/-/healthy", "").0, 200, "a new request is served, not refused");
    let mut buf = [0u8; 16];
    assert_eq!(held[0].read(&mut buf).unwrap_or(0), 0, "the longest idle connection was closed for it");
    let _ = held[1].write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
    let n = held[1].read(&mut buf).unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "the younger one still serves");
}

#[test]
fn at_the_cap_with_every_connection_busy_a_request_gets_503_needs_root() {
    if !common::require_root("at_the_cap_with_every_connection_busy_a_request_gets_503_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_stall, e) = stuck_exporter(tmp.path(), 10, &["--web.max-connections", "2"]);
    let port = e.port;
    // Two scrapes held for 3 s by the stuck collector keep both slots busy.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                s.write_all(b"GET /metrics HTTP/1.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 3\r\n\r\n").expect("write");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                status_and_body(&out).0
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = e.get("/-/healthy", "");
    assert_eq!(status, 503, "every slot busy: refused at once, nobody evicted: {body}");
    assert!(body.contains("too many connections"), "{body}");
    for b in busy {
        assert_eq!(b.join().expect("scrape"), 200, "the busy scrapes were not cut");
    }
    assert_eq!(e.get("/-/healthy", "").0, 200, "served again once they finish");
}

#[test]
fn slow_headers_are_cut_off() {
    let e = Exporter::start(&["--web.header-read-timeout", "1"]);
    let mut s = TcpStream::connect(("127.0.0.1", e.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("write");
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(5), "connection held {:?}", t.elapsed());
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
}

#[test]
fn methods_sizes_and_paths() {
    let e = Exporter::start(&[]);
    assert_eq!(status_and_body(&e.raw(b"POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n")).0, 405);
    assert_eq!(status_and_body(&e.raw(b"DELETE /metrics HTTP/1.0\r\n\r\n")).0, 405);
    assert_eq!(status_and_body(&e.raw(b"HEAD /metrics HTTP/1.0\r\n\r\n")).0, 200);
    assert_eq!(e.get("/nope", "").0, 404);
    assert_eq!(e.get("/-/healthy", "").0, 200);
    assert!(e.get("/", "").1.contains("/metrics"));
    let huge = format!("GET /metrics HTTP/1.0\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let answer = e.raw(huge.as_bytes());
    assert!(!answer.starts_with("HTTP/1.1 200"), "a 64 KiB header must not be served");
    assert_eq!(e.raw(b"\x16\x03\x01garbage\r\n\r\n").split(' ').nth(1), Some("400"), "garbage gets 400");
    assert_eq!(e.get("/metrics", "X-Prometheus-Scrape-Timeout-Seconds: nonsense\r\n").0, 200);
    assert_eq!(e.get("/metrics", "").0, 200, "still serving after all that");
}

#[test]
fn lifecycle_reload_keeps_the_last_good_config() {
    let off = Exporter::start(&[]);
    assert_eq!(status_and_body(&off.raw(b"POST /-/reload HTTP/1.0\r\n\r\n")).0, 403);

    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("p.yml");
    std::fs::write(&cfg, "ports:\n  - name: a\n    port: 5432\n").expect("write");
    let cfg_s = cfg.display().to_string();
    let e = Exporter::start(&["--config.file", &cfg_s, "--web.enable-lifecycle"]);
    std::fs::write(&cfg, "ports:\n  - name: a\n    port: 99999\n").expect("write");
    let (status, body) = status_and_body(&e.raw(b"POST /-/reload HTTP/1.0\r\n\r\n"));
    assert_eq!(status, 500);
    assert!(body.contains("line 3"), "{body}");
    let m = e.get("/metrics", "").1;
    assert_eq!(value(&m, "portwatch_config_last_reload_successful"), Some(0.0));
    assert!(m.contains(r#"name="a",port="5432""#), "the last good config stays");
    std::fs::write(&cfg, "ports:\n  - name: b\n    port: 6379\n").expect("write");
    assert_eq!(status_and_body(&e.raw(b"POST /-/reload HTTP/1.0\r\n\r\n")).0, 200);
    let m = e.get("/metrics", "").1;
    assert_eq!(value(&m, "portwatch_config_last_reload_successful"), Some(1.0));
    assert!(m.contains(r#"name="b",port="6379""#));
    // SIGHUP does the same.
    std::fs::write(&cfg, "ports:\n  - name: c\n    port: 6380\n").expect("write");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(e.child.id() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !e.get("/metrics", "").1.contains(r#"name="c""#) {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_lets_the_scrape_in_flight_finish_and_exits_0_needs_root() {
    if !common::require_root("sigterm_lets_the_scrape_in_flight_finish_and_exits_0_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // A read stuck in the kernel cannot be interrupted, not even by exit: the
    // process ends once it returns (here after 5 s), with status 0.
    let (_stall, mut e) = stuck_exporter(tmp.path(), 5, &[]);
    let port = e.port;
    let scrape = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"GET /metrics HTTP/1.0\r\nX-Prometheus-Scrape-Timeout-Seconds: 2\r\n\r\n").expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        status_and_body(&out).0
    });
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(e.child.id() as i32, libc::SIGTERM) };
    assert_eq!(scrape.join().expect("scrape"), 200, "the scrape in flight finishes");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = e.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn reloads_of_a_deeply_nested_config_are_refused_fast_and_never_hold_a_scrape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("p.yml");
    std::fs::write(&cfg, "ports:\n  - name: a\n    port: 5432\n").expect("write");
    let cfg_s = cfg.display().to_string();
    let e = Exporter::start(&["--config.file", &cfg_s, "--web.enable-lifecycle"]);
    // 50 KB of `[[[…]]]`: quadratic in the YAML parser without the depth guard.
    std::fs::write(&cfg, format!("ports: {}{}\n", "[".repeat(25_000), "]".repeat(25_000))).expect("write");
    let port = e.port;
    let reloads = std::thread::spawn(move || {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
                s.write_all(b"POST /-/reload HTTP/1.0\r\n\r\n").expect("write");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                (status_and_body(&out), t.elapsed())
            })
            .collect::<Vec<_>>()
    });
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let (status, body) = e.get("/metrics", "");
        worst = worst.max(t.elapsed());
        assert_eq!(status, 200);
        assert!(body.contains(r#"name="a",port="5432""#), "the last good config stays");
    }
    for ((status, body), took) in reloads.join().expect("reloads") {
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("nested deeper than") && body.contains("line 1"), "{body}");
        assert!(took < Duration::from_secs(1), "a reload took {took:?}");
    }
    assert!(worst < Duration::from_secs(1), "a scrape waited {worst:?} during reloads");
}
