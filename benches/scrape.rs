//! Scrape cost at up to 80k sockets, side by side with `ss` and the kernel's
//! own floor (a raw NETLINK_SOCK_DIAG dump of every TCP socket), in one run.
//! Not a timed test: it prints figures and ratios; nothing is asserted.
//! It also prints what the exporter's own `process_*` cost a scrape: one
//! read of them (`platform::self_stats::read`), timed in this process.
//!
//!   cargo bench --bench scrape                           # as root; sweep 1k,10k,40k,80k sockets, 400 processes
//!   cargo bench --bench scrape -- --sockets 2000 --procs 20 --scrapes 20   # CI smoke size
//!   cargo bench --bench scrape -- --scenario busy --sockets 80000 --procs 200
//!
//! Two scenarios, side by side in one run (`--scenario spread,busy`, the default):
//! - spread: N sockets are both ends of N/2 connections among the holder
//!   processes, on ports nobody watches; 10 listeners and a client hold watched ports;
//! - busy: a pre-fork service named `svc` (a master and workers sharing the
//!   listener on watched port 7000) holds N/2 accepted connections, whose
//!   client ends the holder processes hold: the port people watch carries the load.
//!
//! It re-executes itself under `unshare --net`: the namespace is anonymous and
//! vanishes with its last process, and every process it starts dies with it
//! (PR_SET_PDEATHSIG), so an interrupted run leaves nothing behind.

use portwatch_exporter::parse::inet_diag::{build_request, for_each_msg, Progress, ALL_STATES};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXPORTER: &str = env!("CARGO_BIN_EXE_portwatch_exporter");
const WATCHED_FIRST: u16 = 6000;
const WATCHED: u16 = 20;
/// The busy scenario's service port (watched, with 19 of the spread ports).
const BUSY_PORT: u16 = 7000;

struct Args {
    scenarios: Vec<String>,
    sockets: Vec<usize>,
    procs: usize,
    scrapes: usize,
    rounds: usize,
    /// Other exporter binaries (earlier builds) measured beside this one,
    /// warm, on the same sockets, their scrapes interleaved with ours.
    baselines: Vec<String>,
    /// Features turned on in this build's exporter (`--with learning,range`):
    /// `learning` (a storage directory, learning at once), `range` (a watched
    /// NodePort-style range in the config). Earlier builds run without them.
    with: Vec<String>,
}

/// `--with`, for the helpers that start the exporter and write its config.
static WITH: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn with(feature: &str) -> bool {
    WITH.get().is_some_and(|w| w.iter().any(|f| f == feature))
}

fn parse_args() -> Args {
    let mut a = Args {
        scenarios: vec!["spread".into(), "busy".into()],
        sockets: vec![1_000, 10_000, 40_000, 80_000],
        procs: 400,
        scrapes: 40,
        rounds: 3,
        baselines: Vec::new(),
        with: Vec::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--scenario" => a.scenarios = val.split(',').map(String::from).collect(),
            "--help" => {
                println!("options: --scenario spread,busy --sockets 1000,10000,40000,80000 --procs 400 --scrapes 40 --rounds 3 [--baseline OTHER_BINARY,...] [--with learning,range]");
                std::process::exit(0);
            }
            "--sockets" => a.sockets = val.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--procs" => a.procs = val.parse().unwrap_or(a.procs),
            "--scrapes" => a.scrapes = val.parse().unwrap_or(a.scrapes),
            "--rounds" => a.rounds = val.parse().unwrap_or(a.rounds),
            "--baseline" => a.baselines = val.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
            "--with" => a.with = val.split(',').filter(|s| !s.is_empty()).map(String::from).collect(),
            _ => {
                i += 1;
                continue; // cargo passes --bench; ignore what is not ours
            }
        }
        i += 2;
    }
    assert!(a.scenarios.iter().all(|s| s == "spread" || s == "busy"), "--scenario takes spread and/or busy");
    assert!(a.with.iter().all(|w| w == "learning" || w == "range"), "--with takes learning and/or range");
    let _ = WITH.set(a.with.clone());
    assert!(!a.scenarios.is_empty() && !a.sockets.is_empty() && a.procs > 0 && a.scrapes > 0 && a.rounds > 0, "bad arguments");
    a
}

/// Children die with us, even on SIGKILL.
fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; called between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

/// Holder mode: K/2 loopback connections to our own listener, both ends held.
fn holder(k: usize) -> ! {
    let l = TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = l.local_addr().expect("addr");
    let mut held = Vec::with_capacity(k);
    for _ in 0..k / 2 {
        held.push(TcpStream::connect(addr).expect("connect"));
        held.push(l.accept().expect("accept").0);
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    std::process::exit(0);
}

/// Client mode: K connections to the busy service, client ends held.
fn client(k: usize) -> ! {
    let mut held = Vec::with_capacity(k);
    for _ in 0..k {
        held.push(TcpStream::connect(("127.0.0.1", BUSY_PORT)).expect("connect to the service"));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    std::process::exit(0);
}

/// Connections one service process holds: below this machine's fd limit.
const PER_WORKER: usize = 15_000;

/// Service mode: a pre-fork server named `svc`. The master listens on
/// BUSY_PORT and forks workers that share the listener; together they accept
/// and hold K connections (at most PER_WORKER each, so no fd limit is hit).
/// Each worker prints `accepted N`.
fn service(k: usize) -> ! {
    // SAFETY: PR_SET_NAME with a NUL-terminated name.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"svc".as_ptr()) };
    let l = TcpListener::bind(("0.0.0.0", BUSY_PORT)).expect("service listener");
    println!("ready");
    let _ = std::io::stdout().flush();
    let workers = k.div_ceil(PER_WORKER).max(1);
    for w in 0..workers {
        let quota = k / workers + usize::from(w < k % workers);
        // SAFETY: this process is single-threaded; the child only accepts and blocks.
        if unsafe { libc::fork() } == 0 {
            // SAFETY: prctl has no memory preconditions; workers die with the master.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let held: Vec<TcpStream> = (0..quota).map(|_| l.accept().expect("accept").0).collect();
            println!("accepted {}", held.len());
            let _ = std::io::stdout().flush();
            loop {
                // SAFETY: pause(2) has no preconditions.
                unsafe { libc::pause() };
            }
        }
    }
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    std::process::exit(0);
}

/// Starts this benchmark in a mode (env var = count) and waits for its first line.
fn spawn_mode(var: &str, count: usize) -> (Child, BufReader<std::process::ChildStdout>) {
    let me = std::env::current_exe().expect("exe");
    let mut c = dies_with_parent(Command::new(me).env(var, count.to_string()).stdin(Stdio::piped()).stdout(Stdio::piped()))
        .spawn()
        .expect("helper process");
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("helper ready");
    assert_eq!(line.trim(), "ready", "{var}");
    (c, out)
}

fn sh(cmd: &str) {
    let ok = Command::new("sh").arg("-c").arg(cmd).status().is_ok_and(|s| s.success());
    assert!(ok, "{cmd} failed");
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn run_quiet(cmd: &str) -> Duration {
    timed(|| {
        let out = Command::new("sh").arg("-c").arg(format!("{cmd} > /dev/null")).status().expect("sh");
        assert!(out.success(), "{cmd}");
    })
}

/// The kernel's floor: one dump of every TCP socket (IPv4 and IPv6), counted.
fn raw_dump() -> (Duration, usize) {
    let mut n = 0;
    let d = timed(|| {
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            // SAFETY: plain netlink socket calls with checked results.
            unsafe {
                let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 4);
                assert!(fd >= 0);
                let req = build_request(family, libc::IPPROTO_TCP as u8, ALL_STATES, &[], 1);
                assert!(libc::send(fd, req.as_ptr().cast(), req.len(), 0) > 0);
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let r = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                    assert!(r > 0, "recv");
                    if for_each_msg(&buf[..r as usize], |_| n += 1).expect("dump") == Progress::Done {
                        break;
                    }
                }
                libc::close(fd);
            }
        }
    });
    (d, n)
}

fn scrape() -> Duration {
    scrape_at(9795)
}

fn scrape_at(port: u16) -> Duration {
    timed(|| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("exporter");
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("write");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read");
        assert!(body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200"), "{body}");
    })
}

fn start_exporter(config: &str, extra: &[&str]) -> Child {
    // Learning off unless asked for: the bench never writes the host's /var/lib
    // (and the previous binaries have no such flag).
    let state = std::env::temp_dir().join(format!("pwbench-state-{}", std::process::id()));
    let storage = if with("learning") {
        let _ = std::fs::create_dir_all(&state);
        format!("--storage.path={}", state.display())
    } else {
        "--storage.path=".to_string()
    };
    let extra: Vec<&str> =
        extra.iter().copied().chain([storage.as_str()]).chain(with("learning").then_some("--baseline.learn-after=0s")).collect();
    let own = format!("{config}.range.yml");
    start_binary(EXPORTER, 9795, if with("range") { &own } else { config }, &extra)
}

fn start_binary(bin: &str, port: u16, config: &str, extra: &[&str]) -> Child {
    let listen = format!("127.0.0.1:{port}");
    let child = dies_with_parent(
        Command::new(bin).args(["--config.file", config, "--web.listen-address", &listen, "--log.level", "error"]).args(extra),
    )
    .spawn()
    .expect("exporter");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "exporter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// (peak RSS KiB, CPU seconds used so far) of a process.
fn proc_usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // utime and stime are fields 14 and 15; after ')' the first field is 3.
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (hwm, ticks as f64 / hz)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[derive(Debug)]
struct Row {
    scenario: String,
    sockets: usize,
    cold: Duration,
    p50: Duration,
    p95: Duration,
    noeph_cold: Duration,
    noeph_p50: Duration,
    ss_p: Duration,
    ss: Duration,
    ss_sport: Duration,
    raw: Duration,
    raw_count: usize,
    rss_kib: u64,
    cpu_per_scrape: f64,
    /// Each baseline binary's warm p50.
    base_p50: Vec<Duration>,
}

fn run_case(scenario: &str, sockets: usize, a: &Args, config: &str) -> Row {
    let procs = a.procs.min(sockets / 2).max(1);
    let mut holders = Vec::new();
    let port = if scenario == "busy" {
        // N/2 accepted connections on the watched port, client ends spread over the holders.
        let conns = sockets / 2;
        let (svc, mut svc_out) = spawn_mode("PWBENCH_SERVICE", conns);
        let per = conns / procs;
        for i in 0..procs {
            let k = if i + 1 == procs { conns - per * (procs - 1) } else { per };
            holders.push(spawn_mode("PWBENCH_CLIENT", k).0);
        }
        let mut accepted = 0;
        while accepted < conns {
            let mut line = String::new();
            svc_out.read_line(&mut line).expect("service accepted");
            accepted += line.trim().strip_prefix("accepted ").and_then(|n| n.parse::<usize>().ok()).expect("accepted N");
        }
        holders.push(svc);
        BUSY_PORT
    } else {
        let per = (sockets / procs).max(2);
        for _ in 0..procs {
            holders.push(spawn_mode("PWBENCH_HOLDER", per).0);
        }
        WATCHED_FIRST
    };
    let ss_sport = format!("ss -tanp 'sport = :{port}'");
    let mut warm = Vec::new();
    let (mut ss_p, mut ss_t, mut ss_s, mut raw) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut raw_count = 0;

    let exp = start_exporter(config, &[]);
    let cold = scrape();
    let bases: Vec<(u16, Child)> =
        a.baselines.iter().zip(9796u16..).map(|(bin, port)| (port, start_binary(bin, port, config, &[]))).collect();
    let mut base_warm: Vec<Vec<Duration>> = bases.iter().map(|_| Vec::new()).collect();
    for (port, _) in &bases {
        scrape_at(*port);
    }
    let (_, cpu0) = proc_usage(exp.id());
    for _ in 0..a.rounds {
        for _ in 0..a.scrapes / a.rounds {
            warm.push(scrape());
            for ((port, _), w) in bases.iter().zip(&mut base_warm) {
                w.push(scrape_at(*port));
            }
        }
        ss_p.push(run_quiet("ss -tanp"));
        ss_t.push(run_quiet("ss -tan"));
        ss_s.push(run_quiet(&ss_sport));
        let (d, n) = raw_dump();
        raw.push(d);
        raw_count = n;
    }
    let (rss_kib, cpu1) = proc_usage(exp.id());
    let cpu_per_scrape = (cpu1 - cpu0) / warm.len() as f64;
    stop(exp);
    for (_, b) in bases {
        stop(b);
    }
    let base_p50: Vec<Duration> = base_warm.iter_mut().map(|w| pct(w, 0.5)).collect();

    let exp = start_exporter(config, &["--no-collector.ephemeral"]);
    let noeph_cold = scrape();
    let mut noeph: Vec<Duration> = (0..a.scrapes).map(|_| scrape()).collect();
    stop(exp);
    for h in holders {
        stop(h);
    }
    Row {
        scenario: scenario.to_string(),
        sockets,
        cold,
        p50: pct(&mut warm.clone(), 0.5),
        p95: pct(&mut warm, 0.95),
        noeph_cold,
        noeph_p50: pct(&mut noeph, 0.5),
        ss_p: pct(&mut ss_p, 0.5),
        ss: pct(&mut ss_t, 0.5),
        ss_sport: pct(&mut ss_s, 0.5),
        raw: pct(&mut raw, 0.5),
        raw_count,
        rss_kib,
        cpu_per_scrape,
        base_p50,
    }
}

impl Row {
    fn to_line(&self) -> String {
        let d = |d: Duration| d.as_nanos().to_string();
        format!(
            "ROW {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.scenario,
            self.sockets,
            d(self.cold),
            d(self.p50),
            d(self.p95),
            d(self.noeph_cold),
            d(self.noeph_p50),
            d(self.ss_p),
            d(self.ss),
            d(self.ss_sport),
            d(self.raw),
            self.raw_count,
            self.rss_kib,
            self.cpu_per_scrape,
            self.base_p50.iter().map(|b| d(*b)).collect::<Vec<_>>().join(",")
        )
    }

    fn from_line(line: &str) -> Option<Row> {
        let (scenario, rest) = line.strip_prefix("ROW ")?.split_once(' ')?;
        let f: Vec<&str> = rest.split(' ').collect();
        let d = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).map(Duration::from_nanos);
        Some(Row {
            scenario: scenario.to_string(),
            sockets: f.first()?.parse().ok()?,
            cold: d(1)?,
            p50: d(2)?,
            p95: d(3)?,
            noeph_cold: d(4)?,
            noeph_p50: d(5)?,
            ss_p: d(6)?,
            ss: d(7)?,
            ss_sport: d(8)?,
            raw: d(9)?,
            raw_count: f.get(10)?.parse().ok()?,
            rss_kib: f.get(11)?.parse().ok()?,
            cpu_per_scrape: f.get(12)?.parse().ok()?,
            base_p50: f
                .get(13)?
                .split(',')
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<u64>().ok().map(Duration::from_nanos))
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

/// One sweep size in a fresh namespace of its own, so no TIME_WAIT of a
/// previous size is counted.
fn run_isolated(scenario: &str, sockets: usize) -> Row {
    let out = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().expect("exe"))
        .args(std::env::args().skip(1))
        .env("PWBENCH_CASE", format!("{scenario}:{sockets}"))
        .stderr(Stdio::inherit())
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "case {scenario} {sockets} failed: {text}");
    text.lines().find_map(Row::from_line).unwrap_or_else(|| panic!("case {scenario} {sockets} printed no row: {text}"))
}

fn main() {
    let count = |var: &str| std::env::var(var).ok().and_then(|k| k.parse::<usize>().ok());
    if let Some(k) = count("PWBENCH_HOLDER") {
        holder(k);
    }
    if let Some(k) = count("PWBENCH_CLIENT") {
        client(k);
    }
    if let Some(k) = count("PWBENCH_SERVICE") {
        service(k);
    }
    let args = parse_args();
    let case = std::env::var("PWBENCH_CASE").ok();
    let Some((scenario, case)) = case.as_deref().and_then(|c| c.split_once(':')).and_then(|(s, n)| Some((s, n.parse::<usize>().ok()?)))
    else {
        // SAFETY: geteuid has no preconditions.
        assert!(unsafe { libc::geteuid() } == 0, "the benchmark needs root: it creates network namespaces");
        let self_cost = self_stats_cost();
        let mut rows = Vec::new();
        for &n in &args.sockets {
            for s in &args.scenarios {
                rows.push(run_isolated(s, n));
            }
        }
        report(&args, &rows);
        println!("\n{self_cost}");
        return;
    };
    sh("ip link set lo up");
    sh("echo '1024 65535' > /proc/sys/net/ipv4/ip_local_port_range");
    // The exporter's own port: never handed to a holder as its source port.
    sh("echo 9795-9799 > /proc/sys/net/ipv4/ip_local_reserved_ports");
    // Raise the fd limit for the holders and the listeners below.
    // SAFETY: setrlimit with a valid struct.
    unsafe {
        let lim = libc::rlimit { rlim_cur: 65536, rlim_max: 65536 };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    // Watched ports: 10 listeners, one client holding a watched port as its source, 9 free.
    let listeners: Vec<TcpListener> = (0..10).map(|i| TcpListener::bind(("0.0.0.0", WATCHED_FIRST + i)).expect("listener")).collect();
    let client = {
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("peer");
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        let addr = |p: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: p.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        // SAFETY: fd is fresh; addresses are valid sockaddr_in.
        unsafe {
            let src = addr(WATCHED_FIRST + 10);
            assert_eq!(libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), len), 0);
            let dst = addr(s.local_addr().expect("addr").port());
            assert_eq!(libc::connect(fd, (&dst as *const libc::sockaddr_in).cast(), len), 0);
        }
        (s, fd)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bench.yml");
    let mut yaml = String::from("ports:\n");
    if scenario == "busy" {
        yaml.push_str(&format!("  - name: busy\n    port: {BUSY_PORT}\n    expect: {{process: svc}}\n"));
    }
    let spread = if scenario == "busy" { WATCHED - 1 } else { WATCHED };
    for i in 0..spread {
        yaml.push_str(&format!("  - name: p{i}\n    port: {}\n    expect: {{process: svc}}\n", WATCHED_FIRST + i));
    }
    std::fs::write(&config, &yaml).expect("config");
    // This build's own config: the same, plus a watched range (earlier builds cannot read one).
    yaml.push_str("  - name: nodeports\n    port: 30000-32767\n    expect: {process: svc}\n");
    std::fs::write(format!("{}.range.yml", config.display()), yaml).expect("config");
    let config = config.display().to_string();

    let row = run_case(scenario, case, &args, &config);
    drop(listeners);
    drop(client);
    println!("{}", row.to_line());
}

/// This thread's CPU time so far (user and system).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What each collection adds for the process_* metrics: one read of the
/// exporter's own process stats, over 2000 reads: the CPU time per read (the
/// figure that holds on a busy machine), and wall-clock median and p95.
fn self_stats_cost() -> String {
    let cpu0 = thread_cpu();
    let mut t: Vec<Duration> = (0..2000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(portwatch_exporter::platform::self_stats::read());
            start.elapsed()
        })
        .collect();
    let cpu = (thread_cpu() - cpu0) / 2000;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    format!(
        "process_* self metrics: one read costs {:.1} us CPU; wall clock {:.1} us median, {:.1} us p95 (2000 reads)",
        us(cpu),
        us(pct(&mut t, 0.5)),
        us(pct(&mut t, 0.95))
    )
}

fn report(args: &Args, rows: &[Row]) {
    println!(
        "\nportwatch_exporter scrape cost, {} processes, {} watched ports, {} warm scrapes, medians over {} rounds (times in ms)\n",
        args.procs, WATCHED, args.scrapes, args.rounds
    );
    println!("| scenario | sockets | dump count | scrape cold | warm p50 | warm p95 | p50 no-ephemeral | cold no-ephemeral | ss -tanp | ss -tan | ss -tanp sport | raw dump | p50/ss -tanp | p50/ss -tan | p50/raw | cold/ss -tanp | peak RSS MiB | CPU ms/scrape |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.2} |",
            r.scenario,
            r.sockets,
            r.raw_count,
            ms(r.cold),
            ms(r.p50),
            ms(r.p95),
            ms(r.noeph_p50),
            ms(r.noeph_cold),
            ms(r.ss_p),
            ms(r.ss),
            ms(r.ss_sport),
            ms(r.raw),
            ratio(r.p50, r.ss_p),
            ratio(r.p50, r.ss),
            ratio(r.p50, r.raw),
            ratio(r.cold, r.ss_p),
            r.rss_kib as f64 / 1024.0,
            r.cpu_per_scrape * 1e3
        );
    }
    for scenario in &args.scenarios {
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.scenario == scenario).collect();
        let (Some(first), Some(last)) = (mine.first(), mine.last()) else { continue };
        if mine.len() > 1 {
            println!(
                "\n{scenario}: growth {} -> {} sockets: warm p50 x{:.1}, no-ephemeral p50 x{:.1}, raw dump x{:.1}",
                first.sockets,
                last.sockets,
                ratio(last.p50, first.p50),
                ratio(last.noeph_p50, first.noeph_p50),
                ratio(last.raw, first.raw)
            );
        }
        println!("\n{scenario}: targets at {} sockets (not asserted; the figure, then the target):", last.sockets);
        let check = |name: &str, got: f64, limit: f64| {
            let verdict = if got <= limit { "MET   ".to_string() } else { format!("MISSED by x{:.2}", got / limit) };
            println!("  {verdict} {name}: {got:.3} (target <= {limit:.3})");
        };
        check("warm p50 / ss -tanp", ratio(last.p50, last.ss_p), 1.0 / 50.0);
        check("warm p50 / raw dump", ratio(last.p50, last.raw), 1.3);
        check("cold / ss -tanp", ratio(last.cold, last.ss_p), 1.0 / 5.0);
        check("peak RSS MiB", last.rss_kib as f64 / 1024.0, 16.0);
    }
    for (i, bin) in args.baselines.iter().enumerate() {
        println!("\nwarm p50 of this build beside {bin} (same sockets, scrapes interleaved; this/that):");
        for r in rows {
            let Some(b) = r.base_p50.get(i) else { continue };
            let x = ratio(r.p50, *b);
            let verdict = if x <= 1.10 { "within 10%" } else { "SLOWER by more than 10%" };
            println!("  {} {} sockets: {} ms vs {} ms = x{x:.3} {verdict}", r.scenario, r.sockets, ms(r.p50), ms(*b));
        }
    }
}
