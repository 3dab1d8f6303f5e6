//! The Debian package: built by scripts/build-deb.sh from the binary under
//! test, installed with the real dpkg, started exactly as its unit's
//! ExecStart line starts it (as the unit's user, with the unit's ambient
//! capabilities, in a throwaway network namespace: there is no systemd PID 1
//! here), scraped, its units verified, and purged without a trace; the
//! socket-activated variant likewise, behind systemd-socket-activate
//! listening where the socket unit says.

mod common;

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Purges the package even when the test fails half way.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "portwatch-exporter"]).output();
    }
}

/// What a purge must remove.
const TRACES: [&str; 9] = [
    "/usr/bin/portwatch_exporter",
    "/lib/systemd/system/portwatch_exporter.service",
    "/lib/systemd/system/portwatch_exporter.socket",
    "/lib/systemd/system/portwatch_exporter-activated.service",
    "/etc/systemd/system/sockets.target.wants/portwatch_exporter.socket",
    "/etc/portwatch_exporter",
    "/etc/default/portwatch_exporter",
    "/var/lib/portwatch_exporter",
    "/etc/systemd/system/multi-user.target.wants/portwatch_exporter.service",
];

/// Runs the installed `unit`'s ExecStart, with $ARGS from its EnvironmentFile,
/// as its User= with its AmbientCapabilities=, behind `activator` (a command
/// prefix, or nothing), in a fresh network namespace; returns one scrape of
/// port 9795.
fn started_as_the_unit_starts_it(unit: &str, activator: &str) -> String {
    let text = std::fs::read_to_string(format!("/lib/systemd/system/{unit}")).expect("unit");
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).unwrap_or_else(|| panic!("{k} in {unit}")).to_string();
    let exec = field("ExecStart=");
    let user = field("User=");
    let caps: Vec<String> =
        field("AmbientCapabilities=").split_whitespace().map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase())).collect();
    let defaults = std::fs::read_to_string("/etc/default/portwatch_exporter").expect("defaults");
    let args = defaults.lines().find_map(|l| l.strip_prefix("ARGS=")).expect("ARGS").trim_matches('"').to_string();
    let command = exec.replace("$ARGS", &args);
    // An activator (root, as systemd) binds first, then execs setpriv, which becomes the unit's user.
    let script = format!(
        "set -e; ip link set lo up; \
         timeout 60 {activator} setpriv --reuid={user} --regid={user} --init-groups --inh-caps={c} --ambient-caps={c} {command} >/dev/null 2>&1 & pid=$!; \
         for i in $(seq 100); do curl -sf http://127.0.0.1:9795/metrics > /dev/null && break; sleep 0.1; done; \
         curl -sf http://127.0.0.1:9795/metrics; kill $pid; wait $pid || true",
        c = caps.join(",")
    );
    run(Command::new("unshare").args(["--net", "sh", "-c", &script]))
}

#[test]
fn deb_installs_serves_metrics_as_its_unit_starts_it_and_purges_cleanly_needs_root() {
    if !common::require_root("deb_installs_serves_metrics_as_its_unit_starts_it_and_purges_cleanly_needs_root")
        || !common::require_tool("dpkg-deb")
        || !common::require_tool("systemd-analyze")
        || !common::require_tool("systemd-socket-activate")
        || !common::require_tool("systemctl")
        || !common::require_tool("curl")
    {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deb =
        run(Command::new("bash").arg(root.join("scripts/build-deb.sh")).arg(env!("CARGO_BIN_EXE_portwatch_exporter")).arg(out.path()));
    let deb = deb.trim();
    for t in TRACES {
        assert!(!Path::new(t).exists(), "{t} exists before the install: the test would not prove the purge");
    }
    let _guard = Installed;
    run(Command::new("dpkg").args(["-i", deb]));
    run(Command::new("getent").args(["passwd", "portwatch_exporter"]));
    let state = std::fs::metadata("/var/lib/portwatch_exporter").expect("state directory");
    assert!(state.is_dir());

    // systemd-analyze verify on the installed units prints nothing.
    let units = ["portwatch_exporter.service", "portwatch_exporter.socket", "portwatch_exporter-activated.service"];
    let verify =
        Command::new("systemd-analyze").arg("verify").args(units.map(|u| format!("/lib/systemd/system/{u}"))).output().expect("verify");
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    assert!(Path::new("/etc/systemd/system/multi-user.target.wants/portwatch_exporter.service").exists(), "the unit is enabled");
    assert!(!Path::new(TRACES[4]).exists(), "the socket is not enabled: it would take the unit's port");

    // Each variant as its unit starts it: the plain unit binds :9795 itself,
    // the activated one is handed the socket unit's ListenStream.
    let socket = std::fs::read_to_string("/lib/systemd/system/portwatch_exporter.socket").expect("socket unit");
    let listen = socket.lines().find_map(|l| l.strip_prefix("ListenStream=")).expect("ListenStream");
    let activated = format!("systemd-socket-activate -l {listen}");
    for (unit, activator) in [("portwatch_exporter.service", ""), ("portwatch_exporter-activated.service", activated.as_str())] {
        let metrics = started_as_the_unit_starts_it(unit, activator);
        // The packaged config's entries, and owners resolvable with the unit's capabilities.
        assert!(metrics.contains(r#"portwatch_port_bound{name="postgresql",port="5432",protocol="tcp"} 0"#), "{unit}: {metrics}");
        assert!(metrics.contains("portwatch_owners_resolvable 1"), "{unit}: the unit's capabilities suffice: {metrics}");
        assert!(metrics.contains(r#"portwatch_config_last_reload_successful 1"#), "{unit}: {metrics}");
        // Learning is on, in the package's state directory (purged below).
        assert!(metrics.contains("portwatch_baseline_load_success 1"), "{unit}: {metrics}");
    }
    // An admin who chose the socket: the purge removes that too.
    run(Command::new("systemctl").args(["disable", "portwatch_exporter.service"]));
    run(Command::new("systemctl").args(["enable", "portwatch_exporter.socket"]));
    assert!(Path::new(TRACES[4]).exists(), "the socket is enabled");

    run(Command::new("dpkg").args(["--purge", "portwatch-exporter"]));
    for t in TRACES {
        assert!(!Path::new(t).exists(), "{t} is left behind after dpkg --purge");
    }
    assert!(Command::new("getent").args(["passwd", "portwatch_exporter"]).output().expect("getent").stdout.is_empty(), "user left behind");
    assert!(Command::new("getent").args(["group", "portwatch_exporter"]).output().expect("getent").stdout.is_empty(), "group left behind");
    let status = Command::new("dpkg-query").args(["-W", "-f=${Status}", "portwatch-exporter"]).output().expect("dpkg-query");
    assert!(!status.status.success() || String::from_utf8_lossy(&status.stdout).contains("not-installed"), "dpkg still knows the package");
}
