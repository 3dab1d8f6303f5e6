//! The dynamic range and reserved ports, active (`/proc/sys/net/ipv4/…`,
//! per network namespace) and persistent (sysctl.d under the rootfs,
//! resolved as systemd-sysctl does; see sysctl.d(5)).

use crate::model::{PortRange, PortSet};
use crate::parse::sysctl::{parse_port_range, parse_reserved_ports, DEFAULT_PORT_RANGE};
use crate::parse::sysctld::{application_order, parse_conf, resolve, Assignment, Candidate, Setting};
use std::io;
use std::path::{Path, PathBuf};

pub const KEY_RANGE: &str = "net.ipv4.ip_local_port_range";
pub const KEY_RESERVED: &str = "net.ipv4.ip_local_reserved_ports";

/// Highest precedence first.
pub const SYSCTL_DIRS: [&str; 5] = ["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"];

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: crate::parse::ParseError },
}

fn read(path: PathBuf) -> Result<String, SysctlError> {
    std::fs::read_to_string(&path).map_err(|source| SysctlError::Read { path, source })
}

pub fn active(procfs: &Path) -> Result<(PortRange, PortSet), SysctlError> {
    let dir = procfs.join("sys/net/ipv4");
    let parse_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| SysctlError::Parse { path, source }
    };
    let rp = dir.join("ip_local_port_range");
    let range = parse_port_range(&read(rp.clone())?).map_err(parse_err(&rp))?;
    let xp = dir.join("ip_local_reserved_ports");
    let reserved = parse_reserved_ports(&read(xp.clone())?).map_err(parse_err(&xp))?;
    Ok((range, reserved))
}

/// Reads a file under `root`, following symlinks inside the root; a link to
/// /dev/null masks the file (empty).
fn read_rooted(root: &Path, rel: &Path) -> io::Result<String> {
    let mut path = root.join(rel);
    for _ in 0..8 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                if target == Path::new("/dev/null") {
                    return Ok(String::new());
                }
                path = match target.strip_prefix("/") {
                    Ok(abs) => root.join(abs),
                    Err(_) => path.parent().unwrap_or(root).join(target),
                };
            }
            _ => return std::fs::read_to_string(&path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Persistent values, with the problems found on the way (bad lines, bad
/// values, unreadable files). A bad value is skipped, as the kernel would
/// reject it at boot.
#[derive(Debug)]
pub struct Persistent {
    pub range: PortRange,
    pub reserved: PortSet,
    pub range_from: Option<Setting>,
    pub reserved_from: Option<Setting>,
    pub problems: Vec<String>,
}

pub fn persistent(rootfs: &Path) -> Persistent {
    let mut out =
        Persistent { range: DEFAULT_PORT_RANGE, reserved: PortSet::default(), range_from: None, reserved_from: None, problems: Vec::new() };
    let mut candidates = Vec::new();
    for (rank, dir) in SYSCTL_DIRS.iter().enumerate() {
        match std::fs::read_dir(rootfs.join(dir)) {
            Ok(entries) => candidates
                .extend(entries.flatten().map(|e| Candidate { dir_rank: rank, name: e.file_name().to_string_lossy().into_owned() })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => out.problems.push(format!("listing {}: {e}", rootfs.join(dir).display())),
        }
    }
    if rootfs.join("etc/sysctl.conf").exists() {
        candidates.push(Candidate { dir_rank: SYSCTL_DIRS.len(), name: "99-sysctl.conf".into() });
    }
    let mut files: Vec<(String, Vec<Assignment>)> = Vec::new();
    for c in application_order(&candidates) {
        let rel = match SYSCTL_DIRS.get(c.dir_rank) {
            Some(dir) => Path::new(dir).join(&c.name),
            None => PathBuf::from("etc/sysctl.conf"),
        };
        let shown = format!("/{}", rel.display());
        match read_rooted(rootfs, &rel) {
            Ok(text) => {
                let (assignments, bad) = parse_conf(&text);
                out.problems.extend(bad.iter().map(|b| format!("{shown}:{}: not a 'key = value' line: {:?}", b.line, b.text)));
                files.push((shown, assignments));
            }
            Err(e) => out.problems.push(format!("reading {shown}: {e}")),
        }
    }
    // Apply valid assignments only: an invalid one leaves the previous value.
    let valid = |key: &str, ok: &dyn Fn(&str) -> bool, problems: &mut Vec<String>| -> Vec<(String, Vec<Assignment>)> {
        files
            .iter()
            .map(|(name, a)| {
                let kept = a
                    .iter()
                    .filter(|a| a.key == key)
                    .filter(|a| {
                        let good = ok(&a.value);
                        if !good {
                            problems.push(format!("{name}:{}: invalid value for {key}: {:?}", a.line, a.value));
                        }
                        good
                    })
                    .cloned()
                    .collect();
                (name.clone(), kept)
            })
            .collect()
    };
    let range_files = valid(KEY_RANGE, &|v| parse_port_range(v).is_ok(), &mut out.problems);
    let reserved_files = valid(KEY_RESERVED, &|v| parse_reserved_ports(v).is_ok(), &mut out.problems);
    out.range_from = resolve(range_files.iter().map(|(n, a)| (n.as_str(), a.as_slice())), KEY_RANGE);
    out.reserved_from = resolve(reserved_files.iter().map(|(n, a)| (n.as_str(), a.as_slice())), KEY_RESERVED);
    if let Some(r) = out.range_from.as_ref().and_then(|s| parse_port_range(&s.value).ok()) {
        out.range = r;
    }
    if let Some(r) = out.reserved_from.as_ref().and_then(|s| parse_reserved_ports(&s.value).ok()) {
        out.reserved = r;
    }
    out
}
