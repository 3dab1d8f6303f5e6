//! The real boot-time sysctl tools as an oracle: apply a rootfs's sysctl.d
//! tree with `/lib/systemd/systemd-sysctl` (limited by `--prefix` to the port
//! keys) or procps `sysctl --system`, in a fresh network namespace and a
//! private mount namespace with the tree bound over the system directories,
//! and read the kernel's values back. The host's values are never touched.
#![allow(dead_code)]

use portwatch_exporter::boot::Applier;
use std::path::Path;
use std::process::Command;

/// What the kernel holds: (low, high, reserved ports 1–65535, unprivileged start).
#[derive(Debug, PartialEq)]
pub struct Held {
    pub range: (u32, u32),
    pub reserved: Vec<(u32, u32)>,
    pub unprivileged: u32,
}

fn parse_held(out: &str) -> Held {
    let mut it = out.split('|');
    let mut range = it.next().unwrap_or_default().split_whitespace().map(|n| n.parse::<u32>().expect("range number"));
    let range = (range.next().expect("low"), range.next().expect("high"));
    let reserved_text = it.next().unwrap_or_default().trim();
    let mut reserved = Vec::new();
    for item in reserved_text.split(',').filter(|s| !s.is_empty()) {
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let (a, b) = (a.parse::<u32>().expect("port").max(1), b.parse::<u32>().expect("port"));
        if a <= b {
            reserved.push((a, b));
        }
    }
    let unprivileged = it.next().unwrap_or_default().trim().parse().expect("unprivileged start");
    Held { range, reserved, unprivileged }
}

/// Applies the tree with the real tool in fresh namespaces; returns what the kernel holds.
pub fn oracle(root: &Path, applier: Applier) -> Held {
    for d in ["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let r = root.display();
    let binds = format!(
        "mount --make-rprivate / && \
         mount -t tmpfs none /run && mkdir -p /run/sysctl.d && \
         mount -t tmpfs none /usr/local/lib && mkdir -p /usr/local/lib/sysctl.d && \
         mount --bind {r}/etc/sysctl.d /etc/sysctl.d && mount --bind {r}/run/sysctl.d /run/sysctl.d && \
         mount --bind {r}/usr/local/lib/sysctl.d /usr/local/lib/sysctl.d && mount --bind {r}/usr/lib/sysctl.d /usr/lib/sysctl.d && \
         touch {r}/etc/sysctl.conf && mount --bind {r}/etc/sysctl.conf /etc/sysctl.conf"
    );
    let apply = match applier {
        Applier::SystemdSysctl => "/lib/systemd/systemd-sysctl --prefix=net.ipv4.ip_local_port_range \
             --prefix=net.ipv4.ip_local_reserved_ports --prefix=net.ipv4.ip_unprivileged_port_start"
            .to_string(),
        Applier::ProcpsSystem => "sysctl -q --system".to_string(),
    };
    let script = format!(
        "set -e; {binds}; ({apply}) >/dev/null 2>&1 || true; d=/proc/sys/net/ipv4; \
         printf '%s|%s|%s' \"$(cat $d/ip_local_port_range)\" \"$(cat $d/ip_local_reserved_ports)\" \"$(cat $d/ip_unprivileged_port_start)\""
    );
    let out = Command::new("unshare").args(["--net", "--mount", "sh", "-c", &script]).output().expect("unshare");
    assert!(out.status.success(), "oracle run failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_held(&String::from_utf8_lossy(&out.stdout))
}
