//! The exporter's own `process_*` and build info on a real run of the binary:
//! plausible values, and the same names, types and help as node_exporter 1.5
//! (Debian's `prometheus-node-exporter`, client_golang's process collector)
//! serves beside it. Values are never compared with node_exporter's: they
//! describe two different processes.

mod common;
#[path = "common/exporter.rs"]
mod exporter;
#[path = "common/node_exporter.rs"]
mod node_exporter;

use common::{require_tool, value};
use exporter::{free_port, Exporter};
use node_exporter::NodeExporter;
use std::collections::BTreeMap;

/// family name -> (type, help), from the `# TYPE`/`# HELP` lines of families whose name starts with `prefix`.
fn families(text: &str, prefix: &str) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in text.lines() {
        let (kind, rest) = match (line.strip_prefix("# TYPE "), line.strip_prefix("# HELP ")) {
            (Some(r), _) => ("type", r),
            (_, Some(r)) => ("help", r),
            _ => continue,
        };
        let (name, what) = rest.split_once(' ').unwrap_or((rest, ""));
        if name.starts_with(prefix) {
            let entry = out.entry(name.to_string()).or_default();
            *(if kind == "type" { &mut entry.0 } else { &mut entry.1 }) = what.to_string();
        }
    }
    out
}

/// Label names of the one sample of `metric`.
fn label_names(text: &str, metric: &str) -> Vec<String> {
    let line = text.lines().find(|l| l.starts_with(&format!("{metric}{{"))).unwrap_or_else(|| panic!("no {metric}: {text}"));
    let labels = &line[metric.len() + 1..line.rfind('}').expect("closing brace")];
    let mut names: Vec<String> = labels.split("\",").filter_map(|kv| kv.split_once('=')).map(|(k, _)| k.to_string()).collect();
    names.sort();
    names
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64()
}

#[cfg(target_os = "linux")]
#[test]
fn served_process_metrics_are_plausible_and_cpu_time_never_goes_back() {
    let e = Exporter::start_on_host1();
    let (status, first) = e.get("/metrics", "");
    assert_eq!(status, 200);
    let v = |text: &str, name: &str| value(text, name).unwrap_or_else(|| panic!("no {name}: {text}"));
    let started = v(&first, "process_start_time_seconds");
    assert!(started <= now() + 1.0 && started > now() - 300.0, "started {started}, now {}", now());
    let open = v(&first, "process_open_fds");
    assert!(open > 0.0 && v(&first, "process_max_fds") >= open, "open {open}");
    let rss = v(&first, "process_resident_memory_bytes");
    assert!(rss > 0.0 && v(&first, "process_virtual_memory_bytes") >= rss, "rss {rss}");
    assert!(v(&first, "process_virtual_memory_max_bytes") > 0.0);
    // Some work between the two scrapes: a few collections of the fixture host.
    for _ in 0..5 {
        e.get("/metrics", "");
    }
    let (_, second) = e.get("/metrics", "");
    assert!(v(&second, "process_cpu_seconds_total") >= v(&first, "process_cpu_seconds_total"), "CPU time went back");
    assert_eq!(v(&second, "process_start_time_seconds"), started, "the start time is fixed");
    assert!(v(&second, "portwatch_collections_total") > v(&first, "portwatch_collections_total"));
}

#[cfg(target_os = "linux")]
#[test]
fn process_metrics_are_named_typed_and_helped_as_node_exporter_serves_them() {
    if !require_tool("prometheus-node-exporter") || !require_tool("curl") {
        return;
    }
    let node = NodeExporter::start(free_port(), &["time"]);
    let node_text = {
        let out =
            std::process::Command::new("curl").args(["-s", &format!("http://127.0.0.1:{}/metrics", node.port)]).output().expect("curl");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let e = Exporter::start_on_host1();
    // Both in the text format 0.0.4 (node_exporter 1.5 serves no OpenMetrics).
    let (_, ours) = e.get("/metrics", "");
    let (want, got) = (families(&node_text, "process_"), families(&ours, "process_"));
    assert!(want.len() >= 7, "node_exporter serves its process_* metrics: {node_text}");
    assert_eq!(got, want, "process_* names, types and help, ours vs node_exporter's");
    // Build info: the same help and labels, with Rust where client_golang says Go.
    let ours_build = families(&ours, "portwatch_build_info");
    let node_build = families(&node_text, "node_exporter_build_info");
    assert_eq!(ours_build["portwatch_build_info"].0, node_build["node_exporter_build_info"].0, "type");
    let help = node_build["node_exporter_build_info"].1.replace("goversion", "rustversion").replace("node_exporter", "portwatch_exporter");
    assert_eq!(ours_build["portwatch_build_info"].1, help.replace("goos and goarch", "os and arch"));
    let as_rust = |n: &String| n.replace("goversion", "rustversion").replace("goos", "os").replace("goarch", "arch");
    let mut node_labels: Vec<String> = label_names(&node_text, "node_exporter_build_info").iter().map(as_rust).collect();
    node_labels.sort();
    assert_eq!(label_names(&ours, "portwatch_build_info"), node_labels);
}
