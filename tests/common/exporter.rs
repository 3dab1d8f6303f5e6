//! The exporter binary on a free loopback port, stopped on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on, never the same twice in one test
/// binary, and below the dynamic range. Found without opening a listening
/// socket: one made here (bind(0), or bind to check) would be copied into
/// any child another test thread forks at that moment and live on until that
/// child's exec, so a test could find "its" exporter listening there before
/// the exporter even started, then have its first request refused or cut.
/// bind(0) also hands a port just given up to the next caller.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // A start per test binary (by pid), so binaries run one after another rarely meet.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(0, 20_000 + (std::process::id() % 500) as u16 * 20, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..2000 {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = if port >= 32_000 { 20_000 + port % 12_000 } else { port };
        let refused = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        if refused {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

pub struct Exporter {
    pub port: u16,
    pub child: Child,
}

impl Exporter {
    /// Starts it on a free loopback port, with `args`; waits until it listens.
    pub fn start(args: &[&str]) -> Exporter {
        let port = free_port();
        Exporter::start_listening(port, &[&["--web.listen-address", &format!("127.0.0.1:{port}")], args].concat())
    }

    /// Starts it with `args` alone (they say where it listens: several
    /// --web.listen-address, say), and waits until `port` on loopback answers.
    pub fn start_listening(port: u16, args: &[&str]) -> Exporter {
        let child = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
            .args(["--log.level", "warn"])
            .args(no_storage(args))
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("exporter starts");
        let e = Exporter { port, child };
        wait_listening(port, "exporter");
        e
    }

    /// The host1 fixture tree's flags (procfs socket tables), then `args`.
    pub fn fixture_args(args: &[&str]) -> Vec<String> {
        let host = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host1");
        let mut all: Vec<String> = vec!["--collector.sockets.source".into(), "procfs".into()];
        for (flag, path) in [("--config.file", "portwatch.yml"), ("--path.procfs", "proc"), ("--path.rootfs", "root")] {
            all.extend([flag.to_string(), host.join(path).display().to_string()]);
        }
        all.extend(args.iter().map(|a| a.to_string()));
        all
    }

    /// Started on the `host1` fixture (a fake procfs and rootfs, procfs socket tables).
    pub fn start_on_host1() -> Exporter {
        let args = Exporter::fixture_args(&[]);
        Exporter::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// Sends raw bytes, returns the whole answer (HTTP/1.0-style close).
    pub fn raw(&self, request: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    }

    pub fn get(&self, path: &str, headers: &str) -> (u16, String) {
        let answer = self.raw(format!("GET {path} HTTP/1.0\r\n{headers}\r\n").as_bytes());
        status_and_body(&answer)
    }
}

/// Runs the binary on a free loopback port until it exits, killing it if it
/// is still up after 5 s (say, a bad value accepted and the daemon started):
/// (exit code, stderr, time taken).
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, String, Duration) {
    run_bare_to_exit(&[&["--web.listen-address", &format!("127.0.0.1:{}", free_port())], args].concat())
}

/// As [`run_to_exit`], with `args` alone (no listen address of its own).
pub fn run_bare_to_exit(args: &[&str]) -> (Option<i32>, String, Duration) {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(no_storage(args))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (code, err, t.elapsed())
}

/// Waits (10 s at most) until something listens on 127.0.0.1:`port`.
pub fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn status_and_body(answer: &str) -> (u16, String) {
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--storage.path=` (learning off) unless `args` name a storage directory:
/// no test writes the host's /var/lib.
pub fn no_storage<S: AsRef<str>>(args: &[S]) -> Option<&'static str> {
    (!args.iter().any(|a| a.as_ref().starts_with("--storage.path"))).then_some("--storage.path=")
}
