//! The container a process runs in, from its `/proc/PID/cgroup` (issue #15,
//! step one: not yet wired into the owners). Pure. Recognises the cgroup
//! paths the runtimes and the kubelet create, with either cgroup driver:
//!
//! | runtime | systemd driver | cgroupfs driver |
//! |---|---|---|
//! | docker | `docker-ID.scope` | `/docker/ID` |
//! | containerd (CRI) | `cri-containerd-ID.scope` | `/kubepods/QOS/podUID/ID` (runtime `cri`) |
//! | CRI-O | `crio-ID.scope` | `/kubepods/QOS/podUID/crio-ID` |
//! | podman | `libpod-ID.scope` (rootless: `.../libpod-ID.scope/container`) | `/libpod_parent/libpod-ID` |
//! | systemd-nspawn | `machine-NAME.scope`, `systemd-nspawn@NAME.service` | |
//!
//! Under Kubernetes the pod UID comes from `kubepods-…-podUID.slice`
//! (underscores for dashes) or `/kubepods/…/podUID`. The monitor processes
//! (`crio-conmon-ID`, `libpod-conmon-ID`) are not the container.

/// Who runs the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Runtime {
    Docker,
    Containerd,
    Crio,
    Podman,
    Nspawn,
    /// A kubelet cgroupfs path gives the id but not which CRI runtime.
    Cri,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Nspawn => "systemd-nspawn",
            Runtime::Cri => "cri",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub runtime: Runtime,
    /// The runtime's container id (64 hex digits), or the nspawn machine name.
    pub id: String,
    /// The Kubernetes pod UID, with dashes, when the path is a kubelet's.
    pub pod_uid: Option<String>,
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pod UID as the kubelet writes it in a path: 36 characters, dashes or
/// (systemd driver) underscores between hex groups 8-4-4-4-12.
fn pod_uid(s: &str) -> Option<String> {
    let uid = s.replace('_', "-");
    let groups: Vec<&str> = uid.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5 && groups.iter().zip(lens).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then_some(uid)
}

/// The container of one cgroup path, if it names one.
fn from_path(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut pod = None;
    let mut found = None;
    for (i, part) in parts.iter().enumerate() {
        if let Some(rest) = part.strip_prefix("kubepods-").and_then(|r| r.strip_suffix(".slice")) {
            // kubepods-pod<uid>.slice or kubepods-<qos>-pod<uid>.slice
            if let Some(uid) = rest.rsplit_once("pod").map(|(_, u)| u).and_then(pod_uid) {
                pod = Some(uid);
            }
        } else if let Some(uid) = part.strip_prefix("pod").and_then(pod_uid) {
            if parts[..i].contains(&"kubepods") {
                pod = Some(uid);
            }
        }
        let scoped = |prefix: &str| part.strip_prefix(prefix).and_then(|r| r.strip_suffix(".scope")).filter(|id| is_container_id(id));
        let bare = |prefix: &str| part.strip_prefix(prefix).filter(|id| is_container_id(id));
        let this = if let Some(id) = scoped("cri-containerd-") {
            Some((Runtime::Containerd, id.to_string()))
        } else if let Some(id) = scoped("crio-").or_else(|| bare("crio-")) {
            Some((Runtime::Crio, id.to_string()))
        } else if let Some(id) = scoped("docker-") {
            Some((Runtime::Docker, id.to_string()))
        } else if let Some(id) = scoped("libpod-").or_else(|| bare("libpod-")) {
            Some((Runtime::Podman, id.to_string()))
        } else if is_container_id(part) && i > 0 && parts[i - 1] == "docker" {
            Some((Runtime::Docker, part.to_string()))
        } else if is_container_id(part) && pod.is_some() {
            Some((Runtime::Cri, part.to_string()))
        } else {
            nspawn_machine(part).map(|name| (Runtime::Nspawn, unescape_unit(name)))
        };
        if this.is_some() {
            found = this;
        }
    }
    let (runtime, id) = found?;
    Some(Container { runtime, id, pod_uid: pod })
}

/// The machine name of an nspawn container's unit (`machine-NAME.scope`, `systemd-nspawn@NAME.service`).
fn nspawn_machine(part: &str) -> Option<&str> {
    let scope = part.strip_prefix("machine-").and_then(|r| r.strip_suffix(".scope"));
    let service = part.strip_prefix("systemd-nspawn@").and_then(|r| r.strip_suffix(".service"));
    // Machine names are host-name-like; anything else is not taken for one.
    scope.or(service).filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
}

/// systemd's unit-name escaping (`\x2d` for `-`), undone for machine names.
fn unescape_unit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()).filter(|b| b.is_ascii_graphic() && *b != b'/') {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The container of a process from its `/proc/PID/cgroup` text (cgroup v2's
/// `0::PATH` line first, then the v1 lines in order); None on the host.
pub fn parse_cgroup_container(text: &str) -> Option<Container> {
    fn path_of(line: &str) -> Option<&str> {
        line.splitn(3, ':').nth(2)
    }
    let unified = text.lines().filter(|l| l.starts_with("0::")).filter_map(path_of);
    let v1 = text.lines().filter(|l| !l.starts_with("0::")).filter_map(path_of);
    unified.chain(v1).find_map(from_path)
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;
