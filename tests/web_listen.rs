//! Where the real binary listens: every repeated --web.listen-address (each
//! bound before serving, a failure to bind any an error), and the sockets
//! systemd passes with --web.systemd-socket, through the real
//! `systemd-socket-activate` (Debian's systemd package), with nothing bound by
//! the exporter itself. Loopback only.

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::require_tool;
use exporter::{free_port, run_bare_to_exit, Exporter};
use std::collections::BTreeSet;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let _ = std::io::Write::write_all(&mut s, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut out);
    exporter::status_and_body(&String::from_utf8_lossy(&out))
}

#[test]
fn every_repeated_listen_address_is_served() {
    let (a, b) = (free_port(), free_port());
    let mut addrs = vec![format!("127.0.0.1:{a}"), format!("127.0.0.2:{b}")];
    // IPv6 loopback too, where the host has it.
    let v6 = std::net::TcpListener::bind("[::1]:0").and_then(|l| l.local_addr()).ok().map(|x| format!("[::1]:{}", x.port()));
    addrs.extend(v6);
    let mut args: Vec<&str> = Vec::new();
    for addr in &addrs {
        args.extend(["--web.listen-address", addr]);
    }
    let e = Exporter::start_listening(a, &args);
    for addr in &addrs {
        let (status, body) = get(addr, "/metrics");
        assert_eq!(status, 200, "{addr}");
        assert!(body.contains("portwatch_build_info"), "{addr}: {body}");
    }
    drop(e);
}

#[test]
fn an_address_that_cannot_be_bound_stops_the_exporter_before_it_serves() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").to_string();
    let free = format!("127.0.0.1:{}", free_port());
    let (code, err, took) = run_bare_to_exit(&["--web.listen-address", &free, "--web.listen-address", &taken]);
    assert_eq!(code, Some(1), "exits non-zero at once: {err}");
    assert!(err.contains(&format!("listening on {taken}")) && err.contains("in use"), "names the address and why: {err}");
    assert!(took < Duration::from_secs(5));
    assert!(TcpStream::connect(&free).is_err(), "the address that was bound is closed again");
    let (code, err, _) = run_bare_to_exit(&["--web.listen-address", "nonsense"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("listening on nonsense"), "{err}");
}

/// `systemd-socket-activate` listening on `port`, exec'ing the exporter with `args` on the first connection.
struct Activator(Child);

impl Drop for Activator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Inodes of the listening TCP sockets in `pid`'s network namespace, per local port.
fn listening_inodes(pid: u32) -> Vec<(u16, u64)> {
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).expect("net table");
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            if f.get(3) == Some(&"0A") {
                let port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()).expect("port");
                out.push((port, f[9].parse().expect("inode")));
            }
        }
    }
    out
}

/// (fd, socket inode) of every socket `pid` holds.
fn socket_fds(pid: u32) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").flatten() {
        let link = std::fs::read_link(e.path()).map(|l| l.display().to_string()).unwrap_or_default();
        if let Some(inode) = link.strip_prefix("socket:[").and_then(|l| l.strip_suffix(']')) {
            out.push((e.file_name().to_string_lossy().parse().expect("fd"), inode.parse().expect("inode")));
        }
    }
    out
}

#[test]
fn systemd_socket_activation_serves_the_passed_socket_and_binds_nothing_itself() {
    if !require_tool("systemd-socket-activate") {
        return;
    }
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_portwatch_exporter");
    let args = Exporter::fixture_args(&["--web.systemd-socket", "--log.level", "warn", "--storage.path="]);
    let child = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}"), bin])
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    let activator = Activator(child);
    let pid = activator.0.id();
    // The activator listens first, then on the first connection execs the exporter in its place with LISTEN_FDS=1.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "systemd-socket-activate did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = get(&format!("127.0.0.1:{port}"), "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"portwatch_port_bound{name="postgres",port="5432",protocol="tcp"} 1"#), "{body}");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    assert_eq!(exe, std::path::Path::new(bin), "the activator became the exporter");

    // Its only listening socket is the one passed as fd 3: nothing bound by itself.
    let held = socket_fds(pid);
    let inodes: BTreeSet<u64> = held.iter().map(|(_, i)| *i).collect();
    let listening: Vec<(u16, u64)> = listening_inodes(pid).into_iter().filter(|(_, i)| inodes.contains(i)).collect();
    assert_eq!(listening.len(), 1, "one listening socket: {listening:?}");
    assert_eq!(listening[0].0, port);
    let fd3 = held.iter().find(|(fd, _)| *fd == 3).map(|(_, i)| *i);
    assert_eq!(fd3, Some(listening[0].1), "the listener is fd 3, the one systemd-socket-activate passed");
    // Keep-alive and further connections go to the same socket.
    for _ in 0..3 {
        assert_eq!(get(&format!("127.0.0.1:{port}"), "/-/healthy").0, 200);
    }
}

#[test]
fn systemd_socket_without_sockets_passed_is_a_clear_error() {
    let (code, err, _) = run_bare_to_exit(&["--web.systemd-socket"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--web.systemd-socket") && err.contains("LISTEN_PID is not set"), "{err}");
    // Sockets passed to another process are not taken.
    let out = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .arg("--web.systemd-socket")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("LISTEN_PID is 1, not this process"), "{err}");
    // As exporter-toolkit, one or the other: an explicit address with it is a usage error.
    let (code, err, _) = run_bare_to_exit(&["--web.systemd-socket", "--web.listen-address", "127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}
