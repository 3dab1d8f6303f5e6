//! End to end, root only: the exporter in a throwaway namespace where a client
//! holds the watched port as its ephemeral source port; a real Prometheus
//! (Debian package) scrapes it with the shipped rules; a real Alertmanager
//! delivers to a webhook run by this test. Every dashboard query runs against
//! that Prometheus. Then the host is fixed and the alert must resolve.
//!
//! The rules are rendered from the same mixin with `for:` durations of 0s,
//! so the test takes seconds: same expressions, shorter windows.
//!
//! Beside it, the reboot in miniature without a config file: a second
//! exporter learned that `sqlservr` listened on the port before the client
//! took it, and after its restart PortwatchLearnedPortTaken names sqlservr.

#[path = "common/cgroups.rs"]
mod cgroups;
mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{require_root, require_tool};
use netns::Netns;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROM_PORT: u16 = 9090;
const AM_PORT: u16 = 9093;
const HOOK_PORT: u16 = 9799;
/// node_exporter serving kube-state-metrics' kube_pod_info from a textfile.
const KSM_PORT: u16 = 9798;
/// The pod the client runs in (a sidecar taking the app's port, kubernetes issue 111144).
const POD_UID: &str = "3f2a9c1e-7b4d-4e21-9a0c-5d6e7f809a1b";
const INSTANCE: &str = "127.0.0.1:9795";
/// The exporter without a config file, learning (the reboot in miniature).
const LEARNING_PORT: u16 = 9796;

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Collects webhook bodies posted by Alertmanager.
fn webhook(ns: &Netns) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = ns.within(|| TcpListener::bind(("127.0.0.1", HOOK_PORT)).expect("webhook bind"));
    let store = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(1000) {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len.min(1 << 20)];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    store.lock().expect("lock").push(v);
                }
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    seen
}

/// Waits until a notification for `alert` with `status` arrives.
fn await_notification(seen: &Arc<Mutex<Vec<Value>>>, alert: &str, status: &str, timeout: Duration) -> Value {
    await_on_port(seen, alert, status, None, timeout)
}

/// Same, for the alert on one port only (when given).
fn await_on_port(seen: &Arc<Mutex<Vec<Value>>>, alert: &str, status: &str, port: Option<&str>, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let found = seen
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["labels"]["alertname"] == alert && a["status"] == status && port.is_none_or(|p| a["labels"]["port"] == p));
        if let Some(a) = found {
            return a;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no {status} notification for {alert} within {timeout:?}; got {:?}", seen.lock().expect("lock"));
}

fn encode(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn query(ns: &Netns, expr: &str) -> Value {
    let (status, body) = ns.http_get(PROM_PORT, &format!("/api/v1/query?query={}", encode(expr))).expect("prometheus answers");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status} {body}: {e}"));
    assert_eq!(v["status"], "success", "query {expr} failed: {body}");
    v
}

/// Every `expr` in a dashboard, with template variables substituted.
fn dashboard_queries(path: &Path) -> Vec<(String, String)> {
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            let expr = t["expr"]
                .as_str()
                .expect("expr")
                .replace("$job", "portwatch")
                .replace("$instance", INSTANCE)
                .replace("$__rate_interval", "1m");
            out.push((p["title"].as_str().unwrap_or("").to_string(), expr));
        }
    }
    out
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn alert_fires_from_real_collision_and_resolves_after_real_fix_needs_root() {
    let name = "alert_fires_from_real_collision_and_resolves_after_real_fix_needs_root";
    if !require_root(name)
        || !["prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "jsonnet", "python3"].iter().all(|t| require_tool(t))
    {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let rootfs = t.join("root");
    write(&rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    write(&rootfs.join("run/reboot-required"), "*** System restart required ***\n");
    // `exporter` has no expect: its expected owner is learned (the dashboards' baseline panels read it).
    // A watched range around the port too: its counts and offenders feed the range alerts and panels.
    write(
        &t.join("portwatch.yml"),
        "ports:\n  - name: app\n    port: 40000\n    expect: {process: app-server}\n  - name: exporter\n    port: 9795\n  - name: apps\n    port: 40000-40099\n    expect: {process: app-server}\n",
    );

    // Rules: the shipped mixin with every `for:` at 0s.
    let fast = "{ _config+:: { heldByOtherFor: '0s', rebootPendingRiskFor: '0s', reservedBySystemFor: '0s', rebootRiskFor: '0s', exclusionNotPersistentFor: '0s', rangeDriftFor: '0s', exhaustionFor: '0s', expectedMissingFor: '0s', collectorFailingFor: '0s', ownersUnresolvableFor: '0s', exporterDownFor: '0s' } }";
    let rules = Command::new("jsonnet")
        .arg("-S")
        .arg("-J")
        .arg(repo)
        .arg("-e")
        .arg(format!("local m = (import 'grafana/mixin/mixin.libsonnet') + {fast}; std.manifestYamlDoc({{groups: m.prometheusAlerts.groups + m.prometheusRules.groups}}, quote_keys=false)"))
        .output()
        .expect("jsonnet");
    assert!(rules.status.success(), "{}", String::from_utf8_lossy(&rules.stderr));
    write(&t.join("rules.yml"), &String::from_utf8_lossy(&rules.stdout));
    write(
        &t.join("prometheus.yml"),
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{AM_PORT}']}}]\nscrape_configs:\n  - job_name: portwatch\n    static_configs: [{{targets: ['{INSTANCE}', '127.0.0.1:{LEARNING_PORT}']}}]\n  - job_name: kube-state-metrics\n    static_configs: [{{targets: ['127.0.0.1:{KSM_PORT}']}}]\n",
            t.join("rules.yml").display()
        ),
    );
    write(
        &t.join("alertmanager.yml"),
        &format!("route: {{receiver: hook, group_by: [alertname, name], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: 'http://127.0.0.1:{HOOK_PORT}/', send_resolved: true}}]\n"),
    );

    // The collision: a one-port range hands 40000 to the client; then widen it
    // so Prometheus and Alertmanager have ports of their own.
    let mut ns = Netns::new("e2e");
    // Before the "reboot": sqlservr listens on 40000 and the exporter without a config file learns it.
    let bin = env!("CARGO_BIN_EXE_portwatch_exporter");
    let learned = t.join("learned").display().to_string();
    let learning = |ns: &mut Netns| {
        let mut e = ns.cmd(bin);
        e.args(["--web.listen-address", &format!("127.0.0.1:{LEARNING_PORT}"), "--storage.path", &learned, "--baseline.learn-after", "0s"]);
        ns.spawn(e);
        let pid = ns.last_pid();
        wait_for("the learning exporter", Duration::from_secs(10), || {
            ns.http_get(LEARNING_PORT, "/metrics").is_some_and(|(s, body)| s.contains(" 200") && body.contains("portwatch_baseline_ports"))
        });
        pid
    };
    let sqlservr = ns.peer("sqlservr", "listen-tcp", "0.0.0.0", 40000);
    let first = learning(&mut ns);
    let file = std::fs::read_to_string(t.join("learned/baseline.json")).expect("learned");
    assert!(file.contains("\"port\": 40000") && file.contains("sqlservr"), "{file}");
    ns.stop(first);
    ns.stop(sqlservr.pid);
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40000");
    ns.peer("server", "listen-tcp", "127.0.0.1", 5000);
    let client = ns.peer("client", "connect-tcp", "127.0.0.1", 5000);
    assert_eq!(client.port, 40000);
    // The client runs in a pod: a real cgroup named as the kubelet's systemd driver names it.
    let mut groups = cgroups::Cgroups::find();
    let pod_cgroup = format!(
        "/pwtest-{}.slice/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{}.scope",
        std::process::id(),
        POD_UID.replace('-', "_"),
        "c".repeat(64)
    );
    groups.enter(client.pid, &pod_cgroup, false);
    std::fs::create_dir_all(t.join("ksm")).expect("mkdir");
    write(&t.join("ksm/kube.prom"), &format!("kube_pod_info{{namespace=\"shop\",pod=\"cart-7d9\",uid=\"{POD_UID}\",node=\"n1\"}} 1\n"));
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 49999");
    // A pod's namespace where another program holds the watched port 40000.
    let mut pod = Netns::new("e2epod");
    pod.peer("intruder", "listen-tcp", "127.0.0.1", 40000);
    let pod_inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", pod.name)).expect("namespace file").ino().to_string()
    };
    let root = rootfs.display().to_string();
    // --collector.netns: from inside this namespace the host's own is another one, so its panel has data.
    let state = t.join("state").display().to_string();
    ns.exporter(&[
        "--config.file",
        &t.join("portwatch.yml").display().to_string(),
        "--path.rootfs",
        &root,
        "--storage.path",
        &state,
        "--baseline.learn-after",
        "0s",
        "--collector.netns",
        "--collector.nodeport",
    ]);
    // After the "reboot": the learning exporter restarts on its storage.
    learning(&mut ns);
    let hook = webhook(&ns);
    let mut am = ns.cmd("prometheus-alertmanager");
    am.arg(format!("--config.file={}", t.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", t.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{AM_PORT}"))
        .arg("--cluster.listen-address=");
    ns.spawn(am);
    let mut prom = ns.cmd("prometheus");
    prom.arg(format!("--config.file={}", t.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", t.join("prom").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{PROM_PORT}"))
        .arg("--rules.alert.resend-delay=1s");
    ns.spawn(prom);
    let mut ksm = ns.cmd("prometheus-node-exporter");
    ksm.args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!("--collector.textfile.directory={}", t.join("ksm").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{KSM_PORT}"));
    ns.spawn(ksm);

    // Fires: held by another process, and reboot risk escalated (reboot pending).
    let held = await_on_port(&hook, "PortwatchPortHeldByOther", "firing", Some("40000"), Duration::from_secs(90));
    assert_eq!(held["labels"]["port"], "40000");
    assert_eq!(held["labels"]["instance"], INSTANCE, "the learned port is PortwatchLearnedPortTaken's, not this alert's");
    assert_eq!(held["labels"]["severity"], "critical");
    let taken = await_on_port(&hook, "PortwatchLearnedPortTaken", "firing", Some("40000"), Duration::from_secs(60));
    assert_eq!(
        (&taken["labels"]["port"], &taken["labels"]["instance"]),
        (&"40000".into(), &format!("127.0.0.1:{LEARNING_PORT}").into()),
        "{taken}"
    );
    assert!(taken["labels"]["owner"].as_str().unwrap_or("").starts_with("sqlservr (root"), "the previous owner is named: {taken}");
    assert!(taken["annotations"]["summary"].as_str().unwrap_or("").contains("learned as sqlservr (root"), "{taken}");
    let risk = await_notification(&hook, "PortwatchPortRebootRiskRebootPending", "firing", Duration::from_secs(30));
    assert!(risk["annotations"]["description"].as_str().unwrap_or("").contains("ip_local_reserved_ports"));

    // The range: the client on 40000 is an offender, and the next boot's default range holds it all.
    let range_held = await_notification(&hook, "PortwatchRangeHeldByOther", "firing", Duration::from_secs(30));
    assert_eq!(range_held["labels"]["name"], "apps");
    let range_risk = await_notification(&hook, "PortwatchRangeRebootRisk", "firing", Duration::from_secs(30));
    assert!(range_risk["annotations"]["description"].as_str().unwrap_or("").contains("START-END"), "{range_risk}");
    // Inside the pod's namespace, by the same config.
    let in_pod = await_notification(&hook, "PortwatchPodPortHeldByOther", "firing", Duration::from_secs(30));
    assert_eq!((&in_pod["labels"]["netns"], &in_pod["labels"]["port"]), (&pod_inode.as_str().into(), &"40000".into()), "{in_pod}");
    // The pod behind the client is named, through the recording rule.
    wait_for("the pod holder recorded", Duration::from_secs(30), || {
        let v = query(&ns, "pod:portwatch_port_socket_info:kube_pod_info{port=\"40000\"}");
        let r = &v["data"]["result"][0]["metric"];
        r["pod_name"] == "cart-7d9" && r["pod_namespace"] == "shop" && r["pid"] == client.pid.to_string().as_str()
    });

    // Every dashboard query runs and returns data in this scenario.
    wait_for("several scrapes", Duration::from_secs(30), || {
        query(&ns, "count_over_time(up{job=\"portwatch\"}[1m])")["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            >= 3.0
    });
    let mut checked = 0;
    for dash in ["grafana/dashboards/portwatch-host.json", "grafana/dashboards/portwatch-fleet.json"] {
        for (title, expr) in dashboard_queries(&repo.join(dash)) {
            let v = query(&ns, &expr);
            let n = v["data"]["result"].as_array().map_or(0, Vec::len);
            assert!(n > 0, "{dash} panel {title:?}: no data for {expr}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} panel queries");

    // The fix: reserve the port now and persist it, as `check` says.
    ns.sysctl("net.ipv4.ip_local_reserved_ports", "40000");
    write(&rootfs.join("etc/sysctl.d/99-zz-portwatch-reserved-ports.conf"), "net.ipv4.ip_local_reserved_ports = 40000\n");
    let resolved = await_notification(&hook, "PortwatchPortRebootRiskRebootPending", "resolved", Duration::from_secs(60));
    assert_eq!(resolved["labels"]["name"], "app");
    let risk_now = query(&ns, "portwatch_port_reboot_risk{name=\"app\"}");
    assert_eq!(risk_now["data"]["result"][0]["value"][1], "0");
    drop(ns);
    drop(groups);
}
