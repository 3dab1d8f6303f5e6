//! The wire: the exposition format negotiated from `Accept` as client_golang
//! does, gzip when accepted, checked with curl, promtool and a real Prometheus.
//! Each check names the format it reads: `promtool check metrics` reads the
//! text format 0.0.4 only; OpenMetrics goes through Prometheus's OpenMetrics
//! parser (`promtool tsdb create-blocks-from openmetrics`, and a real scrape).

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::require_tool;
use exporter::Exporter;
use std::process::Command;

const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// (headers, body) of a GET with extra curl arguments.
fn curl(e: &Exporter, args: &[&str]) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let headers = dir.path().join("h");
    let out = Command::new("curl").args(["-s", "-D"]).arg(&headers).args(args).arg(e.url("http", "/metrics")).output().expect("curl");
    assert!(out.status.success());
    (std::fs::read_to_string(headers).expect("headers").to_ascii_lowercase(), out.stdout)
}

#[test]
fn accept_picks_the_format_and_gzip_is_used_when_accepted() {
    if !require_tool("curl") {
        return;
    }
    let e = Exporter::start_on_host1();
    // No Accept header: the text format 0.0.4, as client_golang answers.
    let (h, plain) = curl(&e, &[]);
    assert!(h.contains("content-type: text/plain; version=0.0.4"), "{h}");
    let plain = String::from_utf8(plain).expect("utf8");
    assert!(!plain.contains("# EOF") && plain.contains("portwatch_port_bound{"), "{plain}");
    // Text 0.0.4: a counter is `_total` on HELP, TYPE and sample alike, as client_golang writes it.
    assert!(plain.contains("\n# TYPE portwatch_collections_total counter\nportwatch_collections_total "), "{plain}");
    assert!(plain.contains("\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "), "{plain}");
    common::promtool_accepts_text(&plain);
    let (h, _) = curl(&e, &["-H", "Accept: text/plain;version=0.0.4"]);
    assert!(h.contains("content-type: text/plain; version=0.0.4"), "{h}");
    // Prometheus's own Accept header: OpenMetrics.
    let (h, om) = curl(&e, &["-H", &format!("Accept: {PROMETHEUS_ACCEPT}")]);
    assert!(h.contains("content-type: application/openmetrics-text; version=1.0.0"), "{h}");
    let om = String::from_utf8(om).expect("utf8");
    assert!(om.ends_with("# EOF\n"), "{om}");
    // OpenMetrics: the family drops `_total`, its sample keeps it. Prometheus's
    // parser does not check this pairing, so it is asserted here.
    assert!(om.contains("\n# TYPE portwatch_collections counter\nportwatch_collections_total "), "{om}");
    assert!(om.contains("\n# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total "), "{om}");
    assert!(!om.contains("# TYPE portwatch_collections_total") && !om.contains("# HELP process_cpu_seconds_total"), "{om}");
    common::promtool_accepts_openmetrics(&om);
    // gzip when accepted; decoded, the same series.
    let (h, raw) = curl(&e, &["-H", "Accept-Encoding: gzip"]);
    assert!(h.contains("content-encoding: gzip") && raw.starts_with(&[0x1f, 0x8b]), "{h}");
    let (_, decoded) = curl(&e, &["--compressed"]);
    let series = |t: &str| t.lines().filter(|l| l.starts_with("portwatch_port_")).count();
    assert_eq!(series(&String::from_utf8(decoded).expect("utf8")), series(&plain));
    let (h, _) = curl(&e, &["-H", "Accept-Encoding: gzip;q=0"]);
    assert!(!h.contains("content-encoding"), "q=0 refuses gzip: {h}");
}

/// A real Prometheus (Debian's) scrapes it as it always does: OpenMetrics,
/// gzipped; it stores the series and reads the counters as counters.
#[test]
fn prometheus_scrapes_openmetrics_gzipped() {
    if !require_tool("prometheus") || !require_tool("curl") {
        return;
    }
    let e = Exporter::start_on_host1();
    let d = tempfile::tempdir().expect("tempdir");
    let prom = common::Prometheus::start(
        d.path(),
        &format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: portwatch\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n", e.port),
    );
    let (ok, last) = prom.query_until("portwatch_port_bound_by_other%7Bname%3D%22mssql%22%7D", |a| a.contains(r#","1"]"#));
    assert!(ok, "Prometheus never stored the scraped series: {last}");
    for family in ["portwatch_collections", "process_cpu_seconds"] {
        let (ok, last) = prom.api_until(&format!("targets/metadata?metric={family}"), |a| a.contains(r#""type":"counter""#));
        assert!(ok, "Prometheus did not read {family} as a counter from OpenMetrics: {last}");
    }
}
