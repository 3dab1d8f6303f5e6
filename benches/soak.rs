//! Load and soak: C concurrent keep-alive scrapers against a release
//! exporter on loopback for S seconds. Prints errors, latency percentiles,
//! and the exporter's RSS and fd count in the first and last windows.
//! Bounded in count (clients) and time (seconds); not a timed test.
//!
//!   cargo bench --bench soak                                  # 100 clients, 60 s
//!   cargo bench --bench soak -- --clients 100 --seconds 10    # CI's short form

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One keep-alive request; Err on anything but a complete 200.
fn scrape(conn: &mut BufReader<TcpStream>) -> Result<(), String> {
    conn.get_mut().write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\n\r\n").map_err(|e| e.to_string())?;
    let mut status = String::new();
    conn.read_line(&mut status).map_err(|e| e.to_string())?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("status {status:?}"));
    }
    let mut len = None;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len.ok_or("no content-length")?];
    conn.read_exact(&mut body).map_err(|e| e.to_string())?;
    if !body.ends_with(b"# EOF\n") {
        return Err("truncated body".into());
    }
    Ok(())
}

fn usage(pid: u32) -> (u64, usize) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse().ok())))
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

fn main() {
    let clients = arg("--clients", 100) as usize;
    let seconds = arg("--seconds", 60);
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut exporter = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--log.level",
            "error",
            "--web.max-connections",
            "256",
            "--web.max-requests",
            "256",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("exporter");
    let pid = exporter.id();
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "exporter did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, latencies, errors) = (stop.clone(), latencies.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut conn = None;
                while !stop.load(Ordering::Relaxed) {
                    if conn.is_none() {
                        conn = TcpStream::connect(("127.0.0.1", port)).ok().map(BufReader::new);
                    }
                    let Some(c) = conn.as_mut() else {
                        errors.lock().expect("lock").push("connect failed".into());
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let t = Instant::now();
                    match scrape(c) {
                        Ok(()) => mine.push(t.elapsed()),
                        Err(e) => {
                            errors.lock().expect("lock").push(e);
                            conn = None;
                        }
                    }
                }
                latencies.lock().expect("lock").extend(mine);
            })
        })
        .collect();
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(usage(pid));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed();
    let _ = exporter.kill();
    let _ = exporter.wait();

    let mut l = latencies.lock().expect("lock").clone();
    l.sort();
    let pct = |p: f64| l.get(((l.len().max(1) - 1) as f64 * p) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let errs = errors.lock().expect("lock").clone();
    let window = (samples.len() / 6).max(1);
    let avg = |s: &[(u64, usize)]| -> (f64, f64) {
        let n = s.len().max(1) as f64;
        (s.iter().map(|x| x.0 as f64).sum::<f64>() / n / 1024.0, s.iter().map(|x| x.1 as f64).sum::<f64>() / n)
    };
    let (rss0, fd0) = avg(&samples[..window.min(samples.len())]);
    let (rss1, fd1) = avg(&samples[samples.len().saturating_sub(window)..]);
    println!("\nportwatch_exporter soak: {clients} keep-alive clients for {:.0} s on loopback\n", elapsed.as_secs_f64());
    println!("| requests | errors | req/s | p50 ms | p99 ms | max ms | RSS first MiB | RSS last MiB | fds first | fds last |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.0} |",
        l.len(),
        errs.len(),
        l.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        rss0,
        rss1,
        fd0,
        fd1
    );
    if let Some(e) = errs.first() {
        println!("first error: {e}");
    }
    let flat = rss1 <= rss0 * 1.25 + 2.0 && fd1 <= fd0 + 5.0;
    println!("\nzero errors: {}; RSS and fds flat: {}", if errs.is_empty() { "yes" } else { "NO" }, if flat { "yes" } else { "NO" });
    if !errs.is_empty() || !flat {
        std::process::exit(1);
    }
}
