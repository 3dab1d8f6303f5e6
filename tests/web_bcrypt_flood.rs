//! A crowd guessing passwords must not starve a valid user: 60 connections
//! sending fresh wrong passwords (each costs a bcrypt hash) while Prometheus
//! scrapes with the right, cached one. Real clients on loopback; bounded in
//! count and time.

#[path = "common/exporter.rs"]
mod exporter;

use base64::Engine;
use exporter::Exporter;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GUESSERS: usize = 60;

fn basic(user: &str, pass: &str) -> String {
    format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

/// One request on a fresh connection: (status, time taken).
fn get(port: u16, auth: &str) -> (u16, Duration) {
    let t = Instant::now();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (0, t.elapsed()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let status = String::from_utf8_lossy(&out).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, t.elapsed())
}

#[test]
fn wrong_password_flood_does_not_starve_a_cached_valid_scrape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = tmp.path().join("web.yml");
    let hash = bcrypt::hash("right", 10).expect("hash");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: {hash}\n")).expect("write");
    let web_s = web.display().to_string();
    let e = Exporter::start(&["--web.config.file", &web_s]);
    let port = e.port;
    let good = basic("prometheus", "right");
    assert_eq!(get(port, &good).0, 200, "the valid user is served (and now cached)");

    let stop = Arc::new(AtomicBool::new(false));
    let guesses = Arc::new(AtomicU64::new(0));
    let crowd: Vec<_> = (0..GUESSERS)
        .map(|i| {
            let (stop, guesses) = (stop.clone(), guesses.clone());
            std::thread::spawn(move || {
                let end = Instant::now() + Duration::from_secs(30);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                    n += 1;
                    let (status, _) = get(port, &basic("prometheus", &format!("guess-{i}-{n}")));
                    assert_ne!(status, 200, "a wrong password is never let in");
                    guesses.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut took = Vec::new();
    for _ in 0..16 {
        let (status, t) = get(port, &good);
        assert_eq!(status, 200, "the valid user is served during the flood");
        took.push(t);
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for t in crowd {
        t.join().expect("guesser");
    }
    took.sort();
    let worst = took[took.len() - 1];
    eprintln!(
        "{GUESSERS} guessers sent {} wrong passwords; valid cached scrapes: median {:?}, worst {worst:?}",
        guesses.load(Ordering::Relaxed),
        took[took.len() / 2]
    );
    assert!(worst < Duration::from_secs(1), "a cached valid scrape waited {worst:?} behind the guessers' hashes");
}
