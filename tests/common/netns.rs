//! Throwaway network namespaces (`ip netns`), peers that hold sockets in
//! them, the exporter run inside them, and HTTP from a thread that joined
//! the namespace with setns(2). Everything is torn down on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const EXPORTER_PORT: u16 = 9795;

pub struct Netns {
    pub name: String,
    children: Vec<Child>,
}

pub struct Peer {
    pub port: u16,
    pub pid: u32,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("pwtest-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, children: Vec::new() };
        run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
        ns
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Writes a sysctl of this namespace (net.* only).
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        run(self.cmd("sh").arg("-c").arg(format!("echo '{value}' > {path}")));
    }

    /// Starts a peer and waits for it to hold its socket.
    pub fn peer(&mut self, name: &str, mode: &str, addr: &str, port: u16) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/peer.py");
        let mut child = self
            .cmd("python3")
            .arg(script)
            .args([name, mode, addr, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 peer starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("peer output");
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 || f[0] != "ready" {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("peer {name} {mode} {addr} {port} failed: {line:?} {err}");
        }
        let peer = Peer { port: f[1].parse().expect("port"), pid: f[2].parse().expect("pid") };
        self.children.push(child);
        peer
    }

    /// Starts the exporter in the namespace and waits until it answers.
    pub fn exporter(&mut self, args: &[&str]) {
        self.exporter_as(None, args)
    }

    /// Same, as another uid (and gid) with no capabilities, through setpriv(1).
    pub fn exporter_as(&mut self, uid: Option<u32>, args: &[&str]) {
        let bin = env!("CARGO_BIN_EXE_portwatch_exporter");
        let listen = format!("127.0.0.1:{EXPORTER_PORT}");
        let mut cmd = match uid {
            None => self.cmd(bin),
            Some(uid) => {
                let mut c = self.cmd("setpriv");
                c.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "--inh-caps=-all", bin]);
                c
            }
        };
        let child = cmd
            .args(["--web.listen-address", &listen, "--log.level", "warn"])
            .args((!args.iter().any(|a| a.starts_with("--storage.path"))).then_some("--storage.path=")) // learning off unless asked: never the host's /var/lib
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("exporter starts");
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.try_get("/-/healthy").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("exporter did not answer in namespace {}", self.name);
    }

    /// The pid of the process started last (peer, exporter or command).
    pub fn last_pid(&self) -> u32 {
        self.children.last().expect("a child was started").id()
    }

    /// Stops one process this namespace started (SIGKILL, then reaped), by pid.
    pub fn stop(&mut self, pid: u32) {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap_or_else(|| panic!("no child {pid}"));
        let mut c = self.children.remove(i);
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Starts any command (built with [`Netns::cmd`]) and stops it on drop.
    pub fn spawn(&mut self, mut cmd: Command) {
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        self.children.push(child);
    }

    /// Runs `f` on a thread that joined this namespace.
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns_file = std::fs::File::open(format!("/run/netns/{}", self.name)).expect("namespace file");
        std::thread::spawn(move || {
            // SAFETY: joins this thread (only) to the namespace; the fd is valid.
            assert_eq!(unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            f()
        })
        .join()
        .expect("namespace thread")
    }

    /// GET http://127.0.0.1:PORT/PATH inside the namespace: (status line, body).
    /// HTTP/1.0, so no server answers with chunked encoding.
    pub fn http_get(&self, port: u16, path: &str) -> Option<(String, String)> {
        let path = path.to_string();
        self.within(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
            let mut body = String::new();
            s.read_to_string(&mut body).ok()?;
            let (head, rest) = body.split_once("\r\n\r\n")?;
            Some((head.lines().next().unwrap_or("").to_string(), rest.to_string()))
        })
    }

    fn try_get(&self, path: &str) -> Option<String> {
        let ns_file = std::fs::File::open(format!("/run/netns/{}", self.name)).ok()?;
        let path = path.to_string();
        std::thread::spawn(move || {
            // SAFETY: joins this thread (only) to the namespace; the fd is valid.
            if unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return None;
            }
            let mut s = connect_from_fixed_port()?;
            s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
            write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
            let mut body = String::new();
            s.read_to_string(&mut body).ok()?;
            let (head, rest) = body.split_once("\r\n\r\n")?;
            head.starts_with("HTTP/1.1 200").then(|| rest.to_string())
        })
        .join()
        .ok()
        .flatten()
    }

    /// GET over loopback inside the namespace; panics unless 200.
    pub fn get(&self, path: &str) -> String {
        self.try_get(path).unwrap_or_else(|| panic!("GET {path} in {} failed", self.name))
    }
}

/// Source ports for test scrapes: below every dynamic range the tests set,
/// so a scrape neither takes a port from the range nor shows up in counts.
static NEXT_SOURCE_PORT: AtomicU16 = AtomicU16::new(1100);

fn connect_from_fixed_port() -> Option<TcpStream> {
    let port = NEXT_SOURCE_PORT.fetch_add(1, Ordering::SeqCst);
    assert!(port < 2000, "too many test scrapes");
    // SAFETY: plain socket calls on a fresh fd, checked; the fd moves into the TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let stream = TcpStream::from_raw_fd(fd);
        let addr = |p: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: p.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let src = addr(port);
        if libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), len) != 0 {
            return None;
        }
        let dst = addr(EXPORTER_PORT);
        if libc::connect(fd, (&dst as *const libc::sockaddr_in).cast(), len) != 0 {
            return None;
        }
        Some(stream)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
