//! Ops files are code: rendered mixin files are fresh, rules pass promtool's
//! checks and unit tests, and every metric that dashboards and rules use is
//! one the exporter emits.

mod common;

use common::require_tool;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn rendered_mixin_files_are_not_stale() {
    if !require_tool("jsonnet") {
        return;
    }
    run_ok(Command::new("bash").arg(root().join("scripts/render-mixin.sh")).arg("--check"));
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    if !require_tool("promtool") || !require_tool("jsonnet") {
        return;
    }
    let rules = root().join("deploy/prometheus/portwatch.rules.yml");
    run_ok(Command::new("promtool").arg("check").arg("rules").arg(&rules));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&rules, dir.path().join("portwatch.rules.yml")).expect("copy rules");
    let yaml = run_ok(
        Command::new("jsonnet")
            .arg("-S")
            .arg("-J")
            .arg(root())
            .arg("-e")
            .arg("std.manifestYamlDoc(import 'tests/rules/portwatch.test.jsonnet', quote_keys=false)"),
    );
    std::fs::write(dir.path().join("test.yml"), yaml).expect("write test");
    let text = run_ok(Command::new("promtool").arg("test").arg("rules").arg(dir.path().join("test.yml")));
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Metric names (portwatch_*) mentioned in a file.
fn metric_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("portwatch_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_metric_in_dashboards_and_rules_is_exported() {
    let golden = std::fs::read_to_string(root().join("tests/golden/host1.prom")).expect("golden");
    let files = [
        "deploy/prometheus/portwatch.rules.yml",
        "grafana/dashboards/portwatch-host.json",
        "grafana/dashboards/portwatch-fleet.json",
        "grafana/provisioning/alerting/portwatch.yaml",
    ];
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(root().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        for name in metric_names(&text) {
            // Skip names that are not metrics: the exporter's own binary name in texts.
            if name == "portwatch_exporter" {
                continue;
            }
            assert!(portwatch_exporter::metrics::is_defined(&name), "{f} uses {name}, which the exporter does not define");
            let os_specific = portwatch_exporter::metrics::OS_SPECIFIC.contains(&name.as_str())
                || portwatch_exporter::metrics::LEARNING.contains(&name.as_str()); // checked by tests/baseline_reboot.rs and e2e_alerting.rs
            assert!(os_specific || golden.contains(&format!("\n{name}")), "{f} uses {name}, absent from the golden exposition");
            checked += 1;
        }
    }
    assert!(checked > 30, "expected many metric references, found {checked}");
}

/// The shipped units `names` (deploy/systemd), with ExecStart pointed at the
/// binary under test, verified together: `systemd-analyze verify` must print
/// nothing. Returns the first unit's text as verified.
fn verify_units(names: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut texts = Vec::new();
    for name in names {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(name)).expect("unit");
        assert!(
            !text.contains("ExecStart=") || text.contains("ExecStart=/usr/local/bin/portwatch_exporter "),
            "{name} starts the installed binary"
        );
        let text = text.replace("/usr/local/bin/portwatch_exporter", env!("CARGO_BIN_EXE_portwatch_exporter"));
        std::fs::write(dir.path().join(name), &text).expect("write");
        texts.push(text);
    }
    let out =
        Command::new("systemd-analyze").arg("verify").args(names.iter().map(|n| dir.path().join(n))).output().expect("systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify {names:?} printed:\n{said}");
    texts.swap_remove(0)
}

#[test]
fn textfile_service_and_timer_pass_systemd_analyze_verify() {
    if !require_tool("systemd-analyze") {
        return;
    }
    let service = verify_units(&["portwatch-textfile.service", "portwatch-textfile.timer"]);
    assert!(service.contains(" check ") && service.contains("--output=textfile") && service.contains("--output.file="));
}

/// The socket-activated service: the hardened unit with the socket instead of
/// an address, started by portwatch_exporter.socket (enabling it enables the socket).
fn activated_unit(unit: &str) -> String {
    let mut out = String::from(
        "# Generated from portwatch_exporter.service (UPDATE_GOLDEN=1 cargo test --test ops_files):\n\
         # the same unit, started by portwatch_exporter.socket with the socket it holds.\n",
    );
    let mut section = "";
    for line in unit.lines() {
        if line.starts_with('[') {
            section = line;
        }
        match (section, line) {
            ("[Unit]", l) if l.starts_with("Description=") => out.push_str(&format!("{l} (socket-activated)\n")),
            ("[Unit]", l) if l.starts_with("After=") => {
                out.push_str(&format!("{l}\nRequires=portwatch_exporter.socket\nAfter=portwatch_exporter.socket\n"))
            }
            ("[Service]", l) if l.starts_with("ExecStart=") => {
                out.push_str(&format!("{}\n", l.replace(" --web.listen-address=:9795", " --web.systemd-socket")))
            }
            ("[Install]", "[Install]") => out.push_str("[Install]\nAlso=portwatch_exporter.socket\n"),
            ("[Install]", _) => {}
            (_, l) => out.push_str(&format!("{l}\n")),
        }
    }
    out
}

#[test]
fn socket_activated_unit_is_the_hardened_unit_with_the_socket() {
    let unit = std::fs::read_to_string(root().join("deploy/systemd/portwatch_exporter.service")).expect("unit");
    let want = activated_unit(&unit);
    assert!(want.contains("--web.systemd-socket") && !want.contains("--web.listen-address"), "{want}");
    let path = root().join("deploy/systemd/portwatch_exporter-activated.service");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &want).expect("write");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "{} is stale: UPDATE_GOLDEN=1 cargo test --test ops_files", path.display());
    let socket = std::fs::read_to_string(root().join("deploy/systemd/portwatch_exporter.socket")).expect("socket");
    assert!(socket.contains("\nService=portwatch_exporter-activated.service\n") && socket.contains("\nListenStream=9795\n"));
    assert!(socket.contains("\nConflicts=portwatch_exporter.service\n"), "never beside the unit that binds the port itself");
}

/// The socket and the service it starts pass `systemd-analyze verify` together.
#[test]
fn socket_and_activated_unit_pass_systemd_analyze_verify() {
    if !require_tool("systemd-analyze") {
        return;
    }
    verify_units(&["portwatch_exporter.socket", "portwatch_exporter-activated.service"]);
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    if !require_tool("systemd-analyze") {
        return;
    }
    let unit = verify_units(&["portwatch_exporter.service"]);
    assert!(unit.contains("ExecStart="), "unit must start the installed binary");
    for needed in [
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
    ] {
        assert!(unit.contains(needed), "unit lacks {needed}");
    }
}
