//! A slowloris crowd against portwatch and node_exporter 1.5 (Debian's
//! `prometheus-node-exporter`) side by side: 200 connections each that
//! trickle request headers and reconnect as soon as they are closed, while a
//! normal client scrapes each once a second on a fresh connection. Loopback
//! only; every loop is bounded in count and time.

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::require_tool;
use exporter::{Exporter, NodeExporter};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CROWD: usize = 200;
const SCRAPES: usize = 15;

/// One attacker: opens a connection, sends a request line and then one
/// header line a second, never the blank line; reconnects when closed.
/// Counts its connections. Ends at `stop` or after 60 s at the latest.
fn slowloris(port: u16, stop: Arc<AtomicBool>, connects: Arc<AtomicU64>) {
    let end = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        connects.fetch_add(1, Ordering::Relaxed);
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").is_err() {
            continue;
        }
        let mut buf = [0u8; 512];
        for i in 0..120 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => break,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if s.write_all(format!("X-Slow-{i}: a\r\n").as_bytes()).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // Closed: back at once, as a real attacker would (a short pause
        // keeps this test's own CPU use sane).
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One normal scrape on a fresh connection: did a complete 200 come back within 5 s?
fn scrape(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.starts_with("HTTP/1.1 200") && text.contains("# TYPE")
}

#[test]
fn slowloris_crowd_does_not_lock_out_scrapes_compared_with_node_exporter() {
    if !require_tool("prometheus-node-exporter") {
        return;
    }
    // Defaults: 64 served connections, 256 unfinished, 10 s to send a request head.
    let pw = Exporter::start(&[]);
    let node = NodeExporter::start();
    let targets = [("portwatch", pw.port), ("node_exporter", node.port)];

    let stop = Arc::new(AtomicBool::new(false));
    let connects: Vec<Arc<AtomicU64>> = targets.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
    let crowd: Vec<_> = targets
        .iter()
        .zip(&connects)
        .flat_map(|(&(_, port), n)| (0..CROWD).map(move |_| (port, n.clone())))
        .map(|(port, n)| {
            let stop = stop.clone();
            std::thread::spawn(move || slowloris(port, stop, n))
        })
        .collect();
    // Let the crowd fill every slot before the first scrape.
    std::thread::sleep(Duration::from_secs(3));
    let mut answered = [0usize; 2];
    for _ in 0..SCRAPES {
        let t = Instant::now();
        for (i, &(_, port)) in targets.iter().enumerate() {
            answered[i] += usize::from(scrape(port));
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    for t in crowd {
        let _ = t.join();
    }
    let report: Vec<String> = targets
        .iter()
        .zip(answered)
        .zip(&connects)
        .map(|((&(name, _), ok), n)| format!("{name}: {ok}/{SCRAPES} scrapes answered, {} attacker connections", n.load(Ordering::Relaxed)))
        .collect();
    eprintln!("slowloris, {CROWD} connections per target:\n  {}", report.join("\n  "));
    assert_eq!(answered[1], SCRAPES, "the reference answers every scrape: {report:?}");
    assert_eq!(answered[0], SCRAPES, "portwatch answers every scrape, as node_exporter does: {report:?}");
}

/// A crowd larger than even the unfinished pool (16 served slots, 64
/// unfinished): the longest-unfinished are shed, that is logged once per
/// interval with counts, and scrapes still get through.
#[test]
fn crowd_beyond_the_unfinished_pool_is_shed_logged_and_scrapes_still_answer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("exporter.log");
    let log_s = log.display().to_string();
    let pw = Exporter::start(&["--log.file", &log_s, "--web.max-connections", "16"]);
    let stop = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let crowd: Vec<_> = (0..CROWD)
        .map(|_| {
            let (stop, n, port) = (stop.clone(), n.clone(), pw.port);
            std::thread::spawn(move || slowloris(port, stop, n))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let mut answered = 0;
    let t0 = Instant::now();
    for _ in 0..SCRAPES {
        let t = Instant::now();
        answered += usize::from(scrape(pw.port));
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in crowd {
        let _ = t.join();
    }
    let connects = n.load(Ordering::Relaxed);
    eprintln!("slowloris beyond the pool: {answered}/{SCRAPES} scrapes answered, {connects} attacker connections in {took:?}");
    assert!(connects > 2 * CROWD as u64, "attackers were shed and came back: {connects}");
    assert_eq!(answered, SCRAPES, "every scrape answered");
    let text = std::fs::read_to_string(&log).expect("log");
    let shed: Vec<&str> = text.lines().filter(|l| l.contains("connection limit")).collect();
    assert!(!shed.is_empty(), "shedding is logged: {text}");
    assert!(shed.len() <= 3, "logged at most once per 10 s interval, not per connection: {shed:?}");
    assert!(shed.iter().all(|l| l.chars().any(|c| c.is_ascii_digit())), "with counts: {shed:?}");
}
