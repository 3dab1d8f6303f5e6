//! `collect[]` and `exclude[]` on the telemetry path of the real binary, and
//! the same kinds of request sent to node_exporter 1.5 (Debian's
//! `prometheus-node-exporter`) side by side: the same status codes, and the
//! same 400 bodies. Scrapes asking for different collectors at the same time
//! each get their own. Loopback only.

mod common;
#[path = "common/exporter.rs"]
mod exporter;
#[path = "common/node_exporter.rs"]
mod node_exporter;

use common::{assert_unique_series, collector_statuses, require_tool};
use exporter::{free_port, status_and_body, Exporter};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn fixture(flags: &[&str]) -> Exporter {
    let args = Exporter::fixture_args(flags);
    Exporter::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// GET `path` on a loopback port: (status, content type, body).
fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let ctype = text
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let (status, body) = status_and_body(&text);
    (status, ctype, body)
}

#[test]
fn collect_and_exclude_pick_the_collectors_of_one_scrape() {
    let e = fixture(&["--no-collector.reboot"]);
    let (status, _, body) = get(e.port, "/metrics?collect[]=sockets&collect[]=owners");
    assert_eq!(status, 200, "{body}");
    assert_eq!(collector_statuses(&body), ["sockets", "owners"]);
    assert!(body.contains(r#"portwatch_port_bound{name="postgres",port="5432",protocol="tcp"} 1"#), "{body}");
    assert!(!body.contains("portwatch_dynamic_port_range_start"), "the sysctl collector did not run: {body}");
    assert!(body.contains(r#"reason="the sysctl collector is disabled""#), "its verdicts are unknown: {body}");
    assert_unique_series(&body);
    let (_, _, body) = get(e.port, "/metrics?exclude[]=ephemeral&exclude[]=sysctld");
    assert_eq!(collector_statuses(&body), ["sysctl", "sockets", "owners"], "the enabled ones less the excluded");
    let (_, _, body) = get(e.port, "/metrics");
    assert_eq!(collector_statuses(&body), ["sysctl", "sockets", "ephemeral", "owners", "sysctld"], "no parameter: every enabled one");
    let (status, ctype, body) = get(e.port, "/metrics?collect[]=reboot");
    assert_eq!((status, ctype.as_str()), (400, "text/plain; charset=utf-8"));
    assert_eq!(body, "Couldn't create filtered metrics handler: couldn't create collector: disabled collector: reboot");
    // The landing page and health ignore the parameters.
    assert_eq!(get(e.port, "/-/healthy?collect[]=nope").0, 200);
}

#[test]
fn simultaneous_scrapes_of_different_collectors_each_get_their_own() {
    let e = fixture(&[]);
    let port = e.port;
    let asks = ["collect[]=sockets", "collect[]=reboot", "collect[]=sysctl&collect[]=owners", "exclude[]=owners"];
    let wants: [&[&str]; 4] = [&["sockets"], &["reboot"], &["sysctl", "owners"], &["sysctl", "sockets", "ephemeral", "sysctld", "reboot"]];
    for _round in 0..5 {
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let ask = asks[i % asks.len()];
                std::thread::spawn(move || (i, get(port, &format!("/metrics?{ask}"))))
            })
            .collect();
        for t in threads {
            let (i, (status, _, body)) = t.join().expect("thread");
            assert_eq!(status, 200);
            assert_eq!(collector_statuses(&body), wants[i % asks.len()], "{} got another scrape's body", asks[i % asks.len()]);
        }
    }
}

#[test]
fn collect_param_answers_as_node_exporter_1_5_does() {
    if !require_tool("prometheus-node-exporter") {
        return;
    }
    let node_port = free_port();
    // time and loadavg enabled, every other collector (cpu among them) disabled.
    let _node = node_exporter::NodeExporter::start(node_port, &["time", "loadavg"]);
    // portwatch with `reboot` off, node_exporter with `cpu` off: each has an enabled and a disabled collector.
    let pw = fixture(&["--no-collector.reboot"]);
    // kind | node_exporter's query | portwatch's query: the same kind of request to each.
    let cases = "
        one enabled collector | collect[]=time | collect[]=sockets
        two enabled collectors | collect[]=time&collect[]=loadavg | collect[]=sockets&collect[]=owners
        a repeated name | collect[]=time&collect[]=time | collect[]=sockets&collect[]=sockets
        an unknown name | collect[]=nope | collect[]=nope
        an unknown name after a good one | collect[]=time&collect[]=nope | collect[]=sockets&collect[]=nope
        an empty value | collect[]= | collect[]=
        a name with no value at all | collect[] | collect[]
        a disabled collector | collect[]=cpu | collect[]=reboot
        an escaped key | collect%5B%5D=nope | collect%5B%5D=nope
        an escaped value | collect[]=a+b%21 | collect[]=a+b%21
        a bad escape (the pair is dropped) | collect[]=%zz | collect[]=%zz
        a semicolon (the pair is dropped) | collect[]=nope;x | collect[]=nope;x
        another system's collector | collect[]=devstat | collect[]=netsh
        exclude[] of an unknown name | exclude[]=nope | exclude[]=nope
        exclude[] with no value | exclude[]= | exclude[]=
        exclude[] of an enabled collector | exclude[]=time | exclude[]=sockets
        an unrelated parameter | x=1 | x=1";
    let mut report = Vec::new();
    for row in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let [kind, node_q, pw_q]: [&str; 3] = row.split(" | ").collect::<Vec<_>>().try_into().expect("three columns");
        let (ns, nt, nb) = get(node_port, &format!("/metrics?{node_q}"));
        let (ps, pt, pb) = get(pw.port, &format!("/metrics?{pw_q}"));
        report.push(format!("{kind}: node_exporter {ns}, portwatch {ps}"));
        assert_eq!(ps, ns, "{kind}: node_exporter answers {ns} ({nb:.200}), portwatch {ps} ({pb:.200})");
        if ns == 400 {
            assert_eq!(pt, nt, "{kind}: content type");
            // The same words; the collector named last is each side's own (the same where both asked for the same name).
            let words = |b: &str| b.rsplit_once(": ").map(|(w, _)| w.to_string()).unwrap_or_default();
            assert_eq!(words(&pb), words(&nb), "{kind}: the 400's body");
            if node_q == pw_q {
                assert_eq!(pb, nb, "{kind}: the 400's body");
            }
        }
    }
    // Where they differ, on purpose: node_exporter 1.5 has no exclude[] and
    // ignores it next to collect[]; node_exporter 1.10, which has it, refuses the
    // pair as ambiguous, and so does portwatch, in 1.10's words.
    let (ns, _, _) = get(node_port, "/metrics?collect[]=time&exclude[]=loadavg");
    let (ps, _, pb) = get(pw.port, "/metrics?collect[]=sockets&exclude[]=owners");
    assert_eq!((ns, ps), (200, 400), "both parameters");
    assert_eq!(pb, "Combined collect and exclude queries are not allowed.");
    eprintln!("{}", report.join("\n"));
}
