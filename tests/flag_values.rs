//! Every numeric flag refuses NaN, infinities, negatives and absurd sizes
//! with a clear error and exit code 2, before anything starts: run against
//! the real binary, as an operator would.

#[path = "common/exporter.rs"]
mod exporter;

use std::process::{Command, Stdio};
use std::time::Duration;

const SECONDS_FLAGS: [&str; 2] = ["--web.header-read-timeout", "--scrape.timeout-margin"];
const COUNT_FLAGS: [&str; 2] = ["--web.max-connections", "--web.max-requests"];

#[test]
fn absurd_numeric_flags_exit_2_with_a_clear_error() {
    let mut cases: Vec<(&str, String)> = Vec::new();
    for flag in SECONDS_FLAGS {
        for v in ["NaN", "nan", "inf", "-inf", "infinity", "-1", "-0.5", "1e300", "86401", "", "ten"] {
            cases.push((flag, v.to_string()));
        }
    }
    for flag in COUNT_FLAGS {
        for v in ["0", "-1", "NaN", "1e3", "18446744073709551615", "4611686018427387904", "1000001", ""] {
            cases.push((flag, v.to_string()));
        }
    }
    // 0 is allowed here (it turns the view off); past 1000 the series would no longer be few.
    for v in ["-1", "NaN", "1e3", "1001", "18446744073709551616", "", "ten"] {
        cases.push(("--collector.ephemeral.destinations", v.to_string()));
    }
    for (flag, v) in &cases {
        let arg = format!("{flag}={v}");
        let (code, err, _) = exporter::run_to_exit(&[&arg]);
        assert_eq!(code, Some(2), "{arg}: exit {code:?}, stderr: {err}");
        assert!(err.contains(flag), "{arg}: the error names the flag: {err}");
        assert!(!err.contains("panicked"), "{arg}: {err}");
    }
}

#[test]
fn sensible_numeric_flags_are_accepted() {
    for args in
        [["--web.header-read-timeout=0.5", "--scrape.timeout-margin=0"], ["--web.header-read-timeout=600", "--scrape.timeout-margin=60"]]
    {
        let e = exporter::Exporter::start(&args);
        assert_eq!(e.get("/-/healthy", "").0, 200, "{args:?}");
    }
    for k in ["0", "1000"] {
        let e = exporter::Exporter::start(&[&format!("--collector.ephemeral.destinations={k}")]);
        assert_eq!(e.get("/-/healthy", "").0, 200, "destinations {k}");
    }
    let e = exporter::Exporter::start(&["--web.max-connections=1", "--web.max-requests=100000"]);
    assert_eq!(e.get("/-/healthy", "").0, 200);
}

#[test]
fn listen_address_port_0_logs_the_port_the_kernel_picked() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["--web.listen-address", ":0", "--storage.path="])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok).take(50) {
            if line.contains("listening on") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("a 'listening on' line");
    let port: u16 = line
        .rsplit("listening on ")
        .next()
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.trim_matches('"').rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert_ne!(port, 0, "the log names the real port: {line}");
}
