//! The dynamic range and reserved ports, active (`/proc/sys/net/ipv4/…`,
//! per network namespace) and after the next boot (the sysctl.d files under
//! the rootfs, listed and read as the boot's sysctl tool lists and reads
//! them; the outcome is modelled by `crate::boot`).
//!
//! Every path under the rootfs is resolved inside it (`files::resolve_in_root`),
//! and every file is read with a cap and a non-blocking open.

use crate::boot::{Applier, ConfFile, NextBoot};
use crate::model::{PortRange, PortSet};
use crate::parse::sysctl::{parse_port_range, parse_reserved_ports};
use crate::platform::files::{self, cap};
use std::io;
use std::path::{Path, PathBuf};

/// Directories in precedence order, as systemd 252 lists them (`/lib` only
/// where `/usr` is not merged) and as procps lists them.
const SYSTEMD_DIRS: [&str; 4] = ["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d"];
const PROCPS_DIRS: [&str; 5] = ["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"];

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: crate::parse::ParseError },
}

fn read(path: PathBuf) -> Result<String, SysctlError> {
    files::read_text(&path, cap::PROC_SMALL).map_err(|source| SysctlError::Read { path, source })
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

/// How the boot path was chosen.
pub type Detected = (Applier, &'static str);

/// Which tool applies sysctl.d when this rootfs boots.
pub fn detect(rootfs: &Path) -> Detected {
    let inside = |rel: &str| files::resolve_in_root(rootfs, Path::new(rel)).ok();
    if inside("run/systemd/system").is_some_and(|(p, _)| p.is_dir()) {
        return (Applier::SystemdSysctl, "run/systemd/system exists (booted with systemd)");
    }
    match inside("sbin/init") {
        Some((host, inner)) if host.exists() => {
            if inner.file_name().is_some_and(|n| n == "systemd") {
                (Applier::SystemdSysctl, "/sbin/init is systemd")
            } else {
                (Applier::ProcpsSystem, "/sbin/init is not systemd")
            }
        }
        _ if ["lib/systemd/systemd-sysctl", "usr/lib/systemd/systemd-sysctl"]
            .iter()
            .any(|p| inside(p).is_some_and(|(h, _)| h.exists())) =>
        {
            (Applier::SystemdSysctl, "no /sbin/init; systemd-sysctl is installed")
        }
        _ => (Applier::ProcpsSystem, "no /sbin/init and no systemd-sysctl"),
    }
}

/// A file's content as the tool would see it; Err when the exporter cannot
/// tell (the boot, as root, might read what we cannot).
fn read_conf(rootfs: &Path, rel: &Path) -> Result<Vec<u8>, String> {
    let shown = format!("/{}", rel.display());
    let (host, inside) = files::resolve_in_root(rootfs, rel).map_err(|e| format!("{shown}: {e}"))?;
    if inside == Path::new("dev/null") {
        return Ok(Vec::new());
    }
    match std::fs::metadata(&host) {
        // A dangling link is skipped by both tools; a directory reads as nothing.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Ok(m) if m.is_dir() => return Ok(Vec::new()),
        _ => {}
    }
    files::read_in_root(rootfs, rel, cap::SYSCTL).map_err(|e| format!("{shown}: {}", why(&e)))
}

/// An error without the host path (the shown path inside the rootfs names the file).
fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            e.to_string().rsplit_once(" is ").map_or_else(|| e.to_string(), |(_, rest)| format!("is {rest}"))
        }
        _ => e.to_string(),
    }
}

/// All sysctl.d files together, read at most (the tools read any amount; past
/// this the next boot is reported unknown rather than modelled slowly).
const TOTAL_CAP: u64 = 64 << 20;

/// The files the tool applies, in order, with what could not be read.
fn conf_files(rootfs: &Path, applier: Applier, unknown: &mut Vec<String>) -> Vec<(PathBuf, Vec<u8>)> {
    let lib_merged = std::fs::symlink_metadata(rootfs.join("lib")).map(|m| m.file_type().is_symlink()).unwrap_or(true);
    let dirs: Vec<&str> = match applier {
        Applier::SystemdSysctl => SYSTEMD_DIRS.iter().copied().chain((!lib_merged).then_some("lib/sysctl.d")).collect(),
        Applier::ProcpsSystem => PROCPS_DIRS.to_vec(),
    };
    let mut by_name: std::collections::BTreeMap<Vec<u8>, PathBuf> = std::collections::BTreeMap::new();
    for dir in dirs {
        let listed = files::resolve_in_root(rootfs, Path::new(dir)).and_then(|(host, _)| std::fs::read_dir(host));
        let entries = match listed {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                unknown.push(format!("listing /{dir}: {e}"));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let bytes = name.as_encoded_bytes().to_vec();
            // systemd skips hidden files; procps reads them.
            if !bytes.ends_with(b".conf") || (applier == Applier::SystemdSysctl && bytes.starts_with(b".")) {
                continue;
            }
            if applier == Applier::ProcpsSystem && bytes.iter().any(|b| matches!(b, b'*' | b'?' | b'[' | b'{')) {
                unknown.push(format!(
                    "/{dir}/{}: sysctl --system expands glob characters in file names; not modelled",
                    name.to_string_lossy()
                ));
            }
            by_name.entry(bytes).or_insert_with(|| Path::new(dir).join(&name));
        }
    }
    let mut out: Vec<PathBuf> = by_name.into_values().collect();
    if applier == Applier::ProcpsSystem {
        // `sysctl --system` applies /etc/sysctl.conf last when it is a regular file.
        if files::resolve_in_root(rootfs, Path::new("etc/sysctl.conf")).is_ok_and(|(h, _)| h.is_file()) {
            out.push(PathBuf::from("etc/sysctl.conf"));
        }
    }
    let mut total = 0u64;
    out.into_iter()
        .filter_map(|rel| match read_conf(rootfs, &rel) {
            Ok(text) => {
                total += text.len() as u64;
                if total > TOTAL_CAP {
                    unknown.push(format!("/{}: the sysctl.d files hold more than {TOTAL_CAP} bytes together", rel.display()));
                    return None;
                }
                Some((rel, text))
            }
            Err(e) => {
                unknown.push(format!("cannot read {e}"));
                None
            }
        })
        .collect()
}

/// The next boot's port sysctls for this rootfs; `applier` overrides detection.
pub fn next_boot(rootfs: &Path, applier: Option<Applier>) -> (NextBoot, &'static str) {
    let (applier, why) = match applier {
        Some(a) => (a, "set by --sysctl.boot-applier"),
        None => detect(rootfs),
    };
    let mut unknown = Vec::new();
    let confs: Vec<ConfFile> = conf_files(rootfs, applier, &mut unknown)
        .into_iter()
        .map(|(rel, text)| ConfFile { shown: format!("/{}", rel.display()), parsed: applier.parse(&text) })
        .collect();
    let mut boot = crate::boot::next_boot(applier, &confs);
    unknown.append(&mut boot.unknown);
    boot.unknown = unknown;
    (boot, why)
}
