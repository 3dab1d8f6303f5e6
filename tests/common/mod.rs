//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A scraper over a fixture tree (its `proc`, `root` and `portwatch.yml`),
/// sockets from the procfs text tables, the ephemeral count on.
pub fn fixture_scraper(name: &str) -> portwatch_exporter::scrape::Scraper {
    use portwatch_exporter::scrape::{Collect, Scraper};
    use portwatch_exporter::source::{Paths, SocketTable};
    let host = fixtures().join(name);
    let paths = Paths { procfs: host.join("proc"), rootfs: host.join("root"), boot_applier: None, netns_refresh: Default::default() };
    Scraper::new(paths, Some(host.join("portwatch.yml")), Collect::all(SocketTable::Procfs))
        .unwrap_or_else(|e| panic!("fixture {name}: config loads: {e}"))
}

/// Values that change from run to run become fixed, so the rest can be diffed.
pub fn normalize(exposition: &str) -> String {
    exposition
        .lines()
        .map(|l| {
            if l.starts_with("portwatch_scrape_collector_duration_seconds{")
                || l.starts_with("portwatch_config_last_reload_success_timestamp_seconds ")
                || l.starts_with("portwatch_collections_total ")
            {
                match l.rsplit_once(' ') {
                    Some((series, _)) => format!("{series} 0"),
                    None => l.to_string(),
                }
            } else if let Some(labels) = l.strip_prefix("portwatch_build_info{").and_then(|r| r.strip_suffix("} 1")) {
                // Label names stay; each value becomes its name in capitals.
                let names: Vec<String> =
                    labels.split("\",").filter_map(|kv| kv.split_once('=')).map(|(k, _)| format!("{k}=\"{}\"", k.to_uppercase())).collect();
                format!("portwatch_build_info{{{}}} 1", names.join(","))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// No two samples of an exposition share a name and label set (Prometheus
/// would keep one; promtool 2.42 does not catch it).
pub fn assert_unique_series(exposition: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
        assert!(seen.insert(series), "duplicate series {series}");
    }
}

/// Compares with a golden file; UPDATE_GOLDEN=1 rewrites it instead.
pub fn assert_golden(name: &str, actual: &str) {
    assert_unique_series(actual);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    if want != actual {
        let diff: Vec<String> =
            want.lines().zip(actual.lines()).filter(|(a, b)| a != b).take(10).map(|(a, b)| format!("- {a}\n+ {b}")).collect();
        panic!(
            "{} differs (UPDATE_GOLDEN=1 to accept):\n{}\n(lines: want {}, got {})",
            path.display(),
            diff.join("\n"),
            want.lines().count(),
            actual.lines().count()
        );
    }
}

/// Value of the one series whose line starts with `series` (name{labels...}).
pub fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The collectors with a `portwatch_scrape_collector_success` series, in order.
pub fn collector_statuses(exposition: &str) -> Vec<String> {
    let prefix = "portwatch_scrape_collector_success{collector=\"";
    exposition.lines().filter_map(|l| l.strip_prefix(prefix)?.split('"').next().map(str::to_string)).collect()
}

/// Is some line of the exposition a series of `name` carrying every label pair?
pub fn has_series(exposition: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .any(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
}

/// Is this run required to do everything (CI), so skipping is failure?
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Root tests run in CI; elsewhere without root they say loudly that they
/// did not run. Returns false when the caller should return early.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(!in_ci(), "{test} needs root and CI=true: run the suite as root");
    eprintln!("\n*** {test}: NOT RUN: needs root (CI runs it as root) ***\n");
    false
}

/// A tool the suite needs; in CI its absence is a failure.
pub fn require_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(!in_ci(), "{tool} is not installed: the README's test command installs it");
        eprintln!("\n*** {tool} not installed: test NOT RUN ***\n");
    }
    found
}

/// A scrape deadline far enough away for any fixture.
pub fn soon() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(30)
}

/// Writes a config, and an /etc/passwd naming root, into a temporary rootfs
/// directory; returns the config's path.
pub fn write_config(dir: &Path, yaml: &str) -> String {
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let p = dir.join("portwatch.yml");
    std::fs::write(&p, yaml).expect("write config");
    p.display().to_string()
}

/// Runs promtool with `args` and `input` on stdin; fails the test unless it succeeds.
fn promtool(args: &[&str], input: &[u8]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c =
        Command::new("promtool").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("promtool");
    c.stdin.take().expect("stdin").write_all(input).expect("write");
    let out = c.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text format 0.0.4 passes `promtool check metrics`, which reads that
/// format only (it lints names, types and help; skipped loudly, or failed in
/// CI, when promtool is missing).
pub fn promtool_accepts_text(exposition: &str) {
    assert_unique_series(exposition);
    assert!(!exposition.contains("# EOF"), "this check reads the text format 0.0.4; OpenMetrics goes to promtool_accepts_openmetrics");
    if require_tool("promtool") {
        promtool(&["check", "metrics"], exposition.as_bytes());
    }
}

/// OpenMetrics passes Prometheus's own OpenMetrics parser, through
/// `promtool tsdb create-blocks-from openmetrics` (`promtool check metrics`
/// reads only the text format). The importer wants a timestamp on every
/// sample, so each gets one; nothing else changes.
pub fn promtool_accepts_openmetrics(exposition: &str) {
    assert_unique_series(exposition);
    assert!(exposition.ends_with("# EOF\n"), "this check reads OpenMetrics; the text format goes to promtool_accepts_text");
    if !require_tool("promtool") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let stamped: String =
        exposition.lines().map(|l| if l.starts_with('#') { format!("{l}\n") } else { format!("{l} 1700000000\n") }).collect();
    let input = dir.path().join("exposition.om");
    std::fs::write(&input, stamped).expect("write");
    let (input, blocks) = (input.display().to_string(), dir.path().join("blocks").display().to_string());
    promtool(&["tsdb", "create-blocks-from", "openmetrics", &input, &blocks], b"");
}

/// A real Prometheus (Debian's `prometheus`) scraping with `config` (YAML),
/// its data under `dir`; stopped on drop.
pub struct Prometheus {
    port: u16,
    child: std::process::Child,
}

impl Prometheus {
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus");
        Prometheus { port, child }
    }

    /// Polls the instant query (URL-encoded) for at most 60 s until `done`
    /// holds for its JSON answer; returns whether it did, and the last answer.
    pub fn query_until(&self, query: &str, done: impl Fn(&str) -> bool) -> (bool, String) {
        self.api_until(&format!("query?query={query}"), done)
    }

    /// As [`Prometheus::query_until`], for any API path under `/api/v1/` (with its query string).
    pub fn api_until(&self, path: &str, done: impl Fn(&str) -> bool) -> (bool, String) {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut last = String::new();
        loop {
            let out = std::process::Command::new("curl").args(["-s", &url]).output();
            last = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or(last);
            if done(&last) {
                return (true, last);
            }
            if std::time::Instant::now() > deadline {
                return (false, last);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
