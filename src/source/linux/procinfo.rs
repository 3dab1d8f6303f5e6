//! What a pid is: name, exe, user and systemd unit, from /proc/PID and
//! /etc/passwd: the rootfs's for a process in the exporter's own mount
//! namespace, else the one the process itself sees through its own root (a
//! container's users are its image's, not the host's). Cached per (pid,
//! starttime, comm), so pid reuse and exec(2) both refresh the entry.

use crate::model::{Pid, Process};
use crate::parse::container::parse_cgroup_container;
use crate::parse::procfs::{parse_cgroup_path, parse_cgroup_unit, parse_passwd, parse_stat, parse_status_uid};
use crate::platform::files::{self, cap};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct ProcInfo {
    procfs: PathBuf,
    passwd_path: PathBuf,
    passwd: HashMap<u32, String>,
    passwd_mtime: Option<SystemTime>,
    cache: HashMap<Pid, (u64, Process)>,
}

impl ProcInfo {
    pub fn new(procfs: PathBuf, rootfs: PathBuf) -> ProcInfo {
        ProcInfo { procfs, passwd_path: rootfs.join("etc/passwd"), passwd: HashMap::new(), passwd_mtime: None, cache: HashMap::new() }
    }

    fn refresh_passwd(&mut self) {
        let mtime = std::fs::metadata(&self.passwd_path).and_then(|m| m.modified()).ok();
        if mtime.is_some() && mtime == self.passwd_mtime {
            return;
        }
        self.passwd_mtime = mtime;
        self.passwd = match files::read_text(&self.passwd_path, cap::PASSWD) {
            Ok(t) => parse_passwd(&t),
            Err(e) => {
                log::debug!("{e}: users show as uids");
                HashMap::new()
            }
        };
    }

    /// The mount namespace a process (a pid, or `self`) sees files through.
    fn mount_ns(&self, who: &str) -> Option<u64> {
        super::sys::ns_inode(&self.procfs.join(who).join("ns/mnt"), "mnt")
    }

    /// Looks up the given pids; a pid that vanished is simply absent.
    pub fn lookup(&mut self, pids: impl IntoIterator<Item = Pid>) -> HashMap<Pid, Process> {
        self.refresh_passwd();
        // A process in another mount namespace than the exporter's sees a
        // passwd of its own: such processes are named after the walk, one
        // namespace's passwd at a time (a container's file is its own, of
        // any size up to the cap). Where that cannot be told or read (no
        // rights; a procfs without namespaces) the rootfs's stands.
        let own_mnt = self.mount_ns("self");
        let mut elsewhere: BTreeMap<u64, (PathBuf, Vec<(Pid, u32)>)> = BTreeMap::new();
        let mut out = HashMap::new();
        let mut seen = Vec::new();
        for pid in pids {
            seen.push(pid);
            let dir = self.procfs.join(pid.to_string());
            let stat = match files::read_bytes(&dir.join("stat"), cap::PROC_SMALL)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_stat(&b).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(e) => {
                    log::debug!("pid {pid}: {e}");
                    continue;
                }
            };
            let (comm, start) = stat;
            if let Some((cached_start, p)) = self.cache.get(&pid) {
                if *cached_start == start && p.name == comm {
                    out.insert(pid, p.clone());
                    continue;
                }
            }
            let exe = std::fs::read_link(dir.join("exe")).ok().map(|p| p.to_string_lossy().trim_end_matches(" (deleted)").to_string());
            let uid = files::read_text(&dir.join("status"), cap::PROC_SMALL).ok().and_then(|t| parse_status_uid(&t).ok());
            let user = match (own_mnt, uid, uid.and_then(|_| self.mount_ns(&pid.to_string()))) {
                (Some(own), Some(uid), Some(mnt)) if own != mnt => {
                    elsewhere.entry(mnt).or_insert_with(|| (dir.join("root"), Vec::new())).1.push((pid, uid));
                    None
                }
                _ => uid.map(|uid| name_of(&self.passwd, uid)),
            };
            let cgroup_text = files::read_text(&dir.join("cgroup"), cap::PROC_SMALL).ok();
            let cgroup_text = cgroup_text.as_deref().unwrap_or("");
            let p = Process {
                name: comm,
                exe,
                user,
                units: parse_cgroup_unit(cgroup_text).into_iter().collect(),
                cgroup: parse_cgroup_path(cgroup_text),
                container: parse_cgroup_container(cgroup_text),
            };
            self.cache.insert(pid, (start, p.clone()));
            out.insert(pid, p);
        }
        for (root, waiting) in elsewhere.into_values() {
            let theirs = passwd_in_root(&root);
            for (pid, uid) in waiting {
                let user = Some(name_of(theirs.as_ref().unwrap_or(&self.passwd), uid));
                out.entry(pid).and_modify(|p| p.user.clone_from(&user));
                self.cache.entry(pid).and_modify(|(_, p)| p.user = user);
            }
        }
        // Keep the cache to the pids asked about, so it cannot grow without bound.
        self.cache.retain(|pid, _| seen.contains(pid));
        out
    }
}

/// A uid's name, or the uid itself.
fn name_of(passwd: &HashMap<u32, String>, uid: u32) -> String {
    passwd.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
}

/// The passwd of a process's own root (`/proc/PID/root`), opened inside that
/// root so a link in the image cannot lead out of it; empty (users shown as
/// uids) when the root has none; None when the root may not be entered (the
/// rootfs's passwd then stands).
fn passwd_in_root(root: &Path) -> Option<HashMap<u32, String>> {
    match files::read_in_root(root, Path::new("etc/passwd"), cap::PASSWD) {
        Ok(bytes) => Some(parse_passwd(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            log::debug!("{}: {e}: the rootfs's passwd names its users", root.display());
            None
        }
        Err(e) => {
            log::debug!("{}/etc/passwd: {e}: its users show as uids", root.display());
            Some(HashMap::new())
        }
    }
}
