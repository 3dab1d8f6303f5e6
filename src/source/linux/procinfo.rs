//! What a pid is: name, exe, user and systemd unit, from /proc/PID and the
//! rootfs's /etc/passwd. Cached per (pid, starttime, comm), so pid reuse and
//! exec(2) both refresh the entry.

use crate::model::{Pid, Process};
use crate::parse::container::parse_cgroup_container;
use crate::parse::procfs::{parse_cgroup_path, parse_cgroup_unit, parse_passwd, parse_stat, parse_status_uid};
use crate::platform::files::{self, cap};
use std::collections::HashMap;
use std::path::PathBuf;
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

    /// Looks up the given pids; a pid that vanished is simply absent.
    pub fn lookup(&mut self, pids: impl IntoIterator<Item = Pid>) -> HashMap<Pid, Process> {
        self.refresh_passwd();
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
            let user = files::read_text(&dir.join("status"), cap::PROC_SMALL)
                .ok()
                .and_then(|t| parse_status_uid(&t).ok())
                .map(|uid| self.passwd.get(&uid).cloned().unwrap_or_else(|| uid.to_string()));
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
        // Keep the cache to the pids asked about, so it cannot grow without bound.
        self.cache.retain(|pid, _| seen.contains(pid));
        out
    }
}
