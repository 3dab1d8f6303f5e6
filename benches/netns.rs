//! The `netns` collector's cost (root only), side by side with what an
//! operator runs today: `ss -tanp` inside every namespace through
//! `ip netns exec`, in one run.
//!
//!   cargo bench --bench netns                                  # 200 namespaces, 4 sockets each
//!   cargo bench --bench netns -- --namespaces 20 --scrapes 5   # CI smoke size
//!   cargo bench --bench netns -- --namespaces 50 --host-sockets 80000  # with a busy host
//!
//! It makes the namespaces itself (`ip netns add`, named so the exporter finds
//! them under /run/netns), opens the sockets in each from a thread that joined
//! it (a listener and connected pairs on loopback, held by this process), then
//! times warm scrapes with and without `--collector.netns`. Figures are printed,
//! not asserted: the machines are shared. Everything is deleted at the end.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXPORTER: &str = env!("CARGO_BIN_EXE_portwatch_exporter");

struct Args {
    namespaces: usize,
    sockets: usize,
    scrapes: usize,
    /// Sockets held in the host's own namespace besides (issue 15's target: 80k).
    host_sockets: usize,
    /// Another exporter binary (an earlier build) to time instead of this one.
    exporter: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args { namespaces: 200, sockets: 4, scrapes: 10, host_sockets: 0, exporter: None };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).and_then(|v| v.parse().ok());
        match (argv[i].as_str(), val) {
            ("--namespaces", Some(v)) => a.namespaces = v,
            ("--sockets", Some(v)) => a.sockets = v,
            ("--scrapes", Some(v)) => a.scrapes = v,
            ("--host-sockets", Some(v)) => a.host_sockets = v,
            ("--exporter", _) if i + 1 < argv.len() => a.exporter = Some(argv[i + 1].clone()),
            ("--help", _) => {
                println!("options: --namespaces 200 --sockets 4 --scrapes 10 [--host-sockets 80000] [--exporter OTHER_BINARY (an earlier build, timed instead of this one)]");
                std::process::exit(0);
            }
            _ => {
                i += 1;
                continue; // cargo passes --bench; ignore what is not ours
            }
        }
        i += 2;
    }
    assert!(a.namespaces > 0 && a.namespaces <= 2000 && a.sockets >= 2 && a.scrapes > 0 && a.host_sockets <= 120_000, "bad arguments");
    a
}

/// A listener and connected pairs opened inside `ns`, kept open by the returned values.
fn sockets_in(ns: &str, count: usize) -> Vec<TcpStream> {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("namespace file");
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: joins this scoped thread (only) to the namespace; the fd is valid.
            assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            let listener = TcpListener::bind("127.0.0.1:8080").expect("listen");
            let mut held = Vec::new();
            for _ in 0..count / 2 {
                held.push(TcpStream::connect("127.0.0.1:8080").expect("connect"));
                held.push(listener.accept().expect("accept").0);
            }
            // The listener's socket stays open too, through a connected copy of its fd.
            held.push(TcpStream::from(std::os::fd::OwnedFd::from(listener)));
            held
        })
        .join()
        .expect("namespace thread")
    })
}

/// Python that holds both ends of N/2 loopback connections over 4 listeners
/// (each destination has its own ephemeral ports) until stdin closes.
const HOLDER: &str = "import socket,sys\nn=int(sys.argv[1]);ls=[]\nfor _ in range(4):\n l=socket.socket();l.bind(('127.0.0.1',0));l.listen(4096);ls.append(l)\nh=[]\nfor i in range(n//2):\n l=ls[i%4];c=socket.create_connection(l.getsockname());s,_=l.accept();h+=[c,s]\nprint('ready',flush=True);sys.stdin.read()\n";

/// `n` sockets in the host's namespace, held by child processes of at most
/// 16,000 each (a process's fd limit here is 20,000 and cannot be raised).
/// Each namespace's TCP dump walks the hash table these live in, unless the
/// namespace has one of its own.
fn host_sockets(n: usize) -> Vec<Running> {
    let mut left = n;
    let mut held = Vec::new();
    while left > 0 {
        let part = left.min(16_000);
        let mut child = Command::new("python3")
            .args(["-c", HOLDER, &part.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line).expect("holder");
        assert_eq!(line.trim(), "ready", "a socket holder failed");
        held.push(Running(child));
        left -= part;
    }
    held
}

/// A child process killed when dropped, even when the benchmark panics.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The benchmark's namespaces, deleted when dropped, even when it panics.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn start_exporter(exporter: &str, port: u16, extra: &[&str]) -> Running {
    let child = Command::new(exporter)
        .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--log.level", "error", "--storage.path="])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("exporter");
    let child = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "exporter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn scrape(port: u16) -> (Duration, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("exporter");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    assert!(body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200"), "{}", body.lines().next().unwrap_or(""));
    (t.elapsed(), body)
}

/// The process's user and system CPU time, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    // After the name comes field 3 (the state): utime and stime, fields 14 and 15, are the 12th and 13th.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (field(11) + field(12)) / hz
}

/// One warm scrape at most this often.
const PACE: Duration = Duration::from_millis(300);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("netns benchmark NOT RUN: it needs root to make network namespaces");
        std::process::exit(if std::env::var("CI").is_ok_and(|v| v == "true") { 1 } else { 0 });
    }
    let names = Namespaces((0..args.namespaces).map(|i| format!("pwbench-{}-{i}", std::process::id())).collect());
    let mut held = Vec::new();
    for n in &names.0 {
        let ok = Command::new("ip").args(["netns", "add", n]).status().is_ok_and(|s| s.success())
            && Command::new("ip").args(["-n", n, "link", "set", "lo", "up"]).status().is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {n}");
        held.push(sockets_in(n, args.sockets));
    }
    let host = host_sockets(args.host_sockets);
    println!(
        "{} namespaces, {} sockets each (held by this process), {} in the host's namespace, {} warm scrapes each, exporter {}",
        args.namespaces,
        args.sockets + 1,
        args.host_sockets,
        args.scrapes,
        args.exporter.as_deref().unwrap_or(EXPORTER)
    );

    let mut rows = Vec::new();
    let mut cases =
        vec![("exporter, host namespace only", 19801u16, &[][..]), ("exporter --collector.netns", 19802, &["--collector.netns"][..])];
    // An earlier build may not have the flag.
    if args.exporter.is_none() {
        cases.push((
            "  same, --collector.netns.refresh-interval=1s",
            19803,
            &["--collector.netns", "--collector.netns.refresh-interval=1s"][..],
        ));
    }
    for (label, port, extra) in cases {
        let c = start_exporter(args.exporter.as_deref().unwrap_or(EXPORTER), port, extra);
        let (_, body) = scrape(port); // the first (cold) scrape reads every namespace
        let found = body.lines().find_map(|l| l.strip_prefix("portwatch_netns_namespaces ")).unwrap_or("-").to_string();
        let cpu = cpu_seconds(c.0.id());
        let t = Instant::now();
        // Paced alike in every row, so the CPU shares compare at one scrape rate.
        let times: Vec<Duration> = (0..args.scrapes)
            .map(|_| {
                let took = scrape(port).0;
                std::thread::sleep(PACE.saturating_sub(took));
                took
            })
            .collect();
        let cpu_share = (cpu_seconds(c.0.id()) - cpu) / t.elapsed().as_secs_f64();
        drop(c);
        rows.push((label.to_string(), median(times), found, cpu_share));
    }
    let t = Instant::now();
    for n in &names.0 {
        let out = Command::new("ip").args(["netns", "exec", n, "ss", "-tanp"]).output().expect("ss");
        assert!(out.status.success());
    }
    let loop_time = t.elapsed();

    let base = rows[0].1;
    println!("{:<48} {:>12} {:>10} {:>12} {:>14}", "what", "median", "vs host", "namespaces", "exporter CPU");
    for (label, d, found, cpu) in &rows {
        println!(
            "{label:<48} {:>9.1} ms {:>9.2}x {found:>12} {:>12.0} %",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / base.as_secs_f64(),
            cpu * 100.0
        );
    }
    println!(
        "{:<48} {:>9.1} ms {:>9.2}x {:>12}",
        "ip netns exec NS ss -tanp, every namespace",
        loop_time.as_secs_f64() * 1e3,
        loop_time.as_secs_f64() / base.as_secs_f64(),
        names.0.len()
    );
    println!(
        "--collector.netns costs {:.1} ms over the host-only scrape; the ss loop takes {:.1}x the whole netns scrape",
        (rows[1].1.as_secs_f64() - base.as_secs_f64()) * 1e3,
        loop_time.as_secs_f64() / rows[1].1.as_secs_f64()
    );
    if let Some(bg) = rows.get(2) {
        println!(
            "with a refresh interval of 1s (a background read every second, beside the scrapes) a warm scrape takes {:.2}x the host-only one; \
             exporter CPU is its share of one core over the timed scrapes, one every 300 ms at most (the background reads included)",
            bg.1.as_secs_f64() / base.as_secs_f64()
        );
    }
    drop(held);
    drop(host);
    drop(names);
}
