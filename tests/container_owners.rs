//! Owners in container terms on a real kernel (root only): peers that hold
//! watched ports are moved into real cgroups, created under the mounted
//! hierarchies and named as the kubelet (both cgroup drivers), containerd,
//! CRI-O, docker and podman name theirs. The exporter must put each holder's
//! runtime, container id and pod UID on `portwatch_port_socket_info`, and
//! `expect.cgroup` must match the path the kernel reports.
//!
//! Names are generated from a seed (`PORTWATCH_TEST_SEED`, printed), the
//! holders' pids come from `ss -tlnp`, and the paths from the kernel's own
//! `/proc/PID/cgroup`, not from what the test meant to write.

#[path = "common/cgroups.rs"]
mod cgroups;
mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/ss.rs"]
mod ss;

use cgroups::Cgroups;
use common::{has_series, require_root, require_tool, write_config};
use netns::Netns;
use std::path::Path;

fn kernel_cgroup(pid: u32) -> String {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("cgroup")).expect("cgroup file")
}

struct Case {
    /// The peer's name (its `comm`) and watched port.
    name: &'static str,
    port: u16,
    path: String,
    v1_only: bool,
    /// (runtime, id, pod UID) the exporter must report; None for a host process.
    want: Option<(&'static str, String, Option<String>)>,
}

fn cases(rng: &mut Rng, top: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for (kind, (name, port)) in
        [("app-containerd", 8081), ("app-cgroupfs", 8082), ("app-crio", 8083), ("app-docker", 8084)].into_iter().enumerate()
    {
        let c = rng.container_cgroup(top, kind);
        out.push(Case { name, port, path: c.path, v1_only: false, want: Some((c.runtime, c.id, c.pod_uid)) });
    }
    let id = rng.hex(64);
    let path = format!("{top}/docker/{id}");
    out.push(Case { name: "app-docker-v1", port: 8085, path, v1_only: true, want: Some(("docker", id, None)) });
    let c = rng.container_cgroup(top, 4);
    out.push(Case { name: "app-podman", port: 8086, path: c.path, v1_only: false, want: Some((c.runtime, c.id, c.pod_uid)) });
    let path = format!("{top}/system.slice/pwtest-host.service");
    out.push(Case { name: "app-host", port: 8087, path, v1_only: false, want: None });
    out
}

#[test]
fn container_and_pod_owners_from_real_cgroups_needs_root() {
    if !require_root("container_and_pod_owners_from_real_cgroups_needs_root") || !require_tool("ss") {
        return;
    }
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c0de_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let top = format!("/pwtest-{}.slice", std::process::id());
    let cases = cases(&mut rng, &top);

    // Each port expects a cgroup pattern; the podman port expects docker, so its holder is another owner.
    let mut yaml = String::from("ports:\n");
    for c in &cases {
        let pattern = match c.name {
            "app-podman" => "*/docker-*.scope".to_string(),
            "app-host" => "/pwtest-*.slice/system.slice/*.service".to_string(),
            _ => format!("*{}*", c.want.as_ref().map(|w| w.1.clone()).unwrap_or_default()),
        };
        yaml.push_str(&format!("  - name: {}\n    port: {}\n    expect: {{cgroup: \"{pattern}\"}}\n", c.name, c.port));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(tmp.path(), &yaml);

    let mut groups = Cgroups::find();
    let mut ns = Netns::new("cg");
    for c in &cases {
        let peer = ns.peer(c.name, "listen-tcp", "0.0.0.0", c.port);
        groups.enter(peer.pid, &c.path, c.v1_only);
        let seen = kernel_cgroup(peer.pid);
        assert!(seen.contains(&c.path), "the kernel puts {} in {}, not {seen}", c.name, c.path);
    }
    ns.exporter(&["--config.file", &cfg, "--path.rootfs", &tmp.path().display().to_string()]);
    let m = ns.get("/metrics");

    for c in &cases {
        let pid = ss::listener_pid(&ns, c.port).to_string();
        let expected = if c.name == "app-podman" { "false" } else { "true" };
        let mut labels = vec![("name", c.name), ("pid", pid.as_str()), ("process", c.name), ("expected", expected)];
        let series: Vec<&str> =
            m.lines().filter(|l| l.starts_with("portwatch_port_socket_info{") && l.contains(&format!("name=\"{}\"", c.name))).collect();
        match &c.want {
            Some((runtime, id, uid)) => {
                labels.extend([("container_runtime", *runtime), ("container_id", id.as_str())]);
                if let Some(uid) = uid {
                    labels.push(("pod_uid", uid.as_str()));
                } else {
                    assert!(series.iter().all(|l| !l.contains("pod_uid=")), "{}: no pod outside Kubernetes: {series:?}", c.name);
                }
            }
            None => {
                assert!(series.iter().all(|l| !l.contains("container_")), "{}: a host process has no container labels: {series:?}", c.name)
            }
        }
        assert!(has_series(&m, "portwatch_port_socket_info", &labels), "{}: want {labels:?} in\n{}", c.name, series.join("\n"));
        let other = if expected == "true" { 0 } else { 1 };
        assert!(
            m.lines()
                .any(|l| l == format!("portwatch_port_bound_by_other{{name=\"{}\",port=\"{}\",protocol=\"tcp\"}} {other}", c.name, c.port)),
            "{}: bound_by_other should be {other}",
            c.name
        );
    }
    drop(ns);
    drop(groups);
}
