//! Socket inode -> every pid that holds it, from `/proc/PID/fd`, as
//! `ss -p` finds them, without reading every fd link on every scrape.
//!
//! A process's fd table changes only while one of its threads runs (socket,
//! accept, fork's copy, an SCM_RIGHTS receipt, pidfd_getfd, close). So each
//! process keeps a fingerprint: its fd count (`st_size` of `/proc/PID/fd`,
//! Linux 6.2+) and, per thread, its CPU time (`/proc/PID/task/TID/schedstat`,
//! in nanoseconds). A process whose fingerprint is unchanged holds the same
//! sockets as when its fd table was last read; any other process (new, or
//! one that ran) has its fd table read again in full, and every socket inode
//! in it is kept, wanted or not, so a socket that becomes wanted later (a
//! later `bind`, a config reload) is known already. Holders are then every
//! process whose inode list has the socket: all of them, not the first found.
//!
//! Limits (see README, Owners): a process that shares its fd table with
//! another (clone(2) with CLONE_FILES but not CLONE_THREAD) and an fd a
//! seccomp supervisor adds (SECCOMP_IOCTL_NOTIF_ADDFD) while the target has
//! not yet run again are seen at the next change of that process.

use super::sys::{decimal, read_at, readlink_at, size_at, Dir};
use crate::model::{Inode, Owners, Pid};
use crate::parse::procfs::{parse_schedstat_runtime, parse_socket_link};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Resolution {
    pub owners: Owners,
    /// Processes whose fd table could not be read for lack of rights.
    pub denied: usize,
}

/// What changes whenever a process's fd table can have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    fds: u64,
    threads: u32,
    /// Sums over the threads: their ids and their CPU time.
    tids: u64,
    runtime: u64,
}

struct Seen {
    print: Fingerprint,
    /// Every socket inode in the fd table, sorted, deduplicated.
    sockets: Vec<Inode>,
}

pub struct OwnerCache {
    procfs: PathBuf,
    procs: HashMap<Pid, Seen>,
}

impl OwnerCache {
    pub fn new(procfs: PathBuf) -> OwnerCache {
        OwnerCache { procfs, procs: HashMap::new() }
    }

    /// Forgets everything (config reload): the next scrape reads every fd table.
    pub fn clear(&mut self) {
        self.procs = HashMap::new();
    }

    fn list_pids(&self) -> std::io::Result<Vec<Pid>> {
        let mut dir = Dir::open(&self.procfs)?;
        let mut pids = Vec::with_capacity(512);
        dir.for_each(|name| pids.extend(decimal(name)));
        Ok(pids)
    }

    /// The process's fingerprint; None when it vanished or cannot be read
    /// (then its fd table is read again, which is always right).
    fn fingerprint(&self, pid_dir: &Dir) -> Option<Fingerprint> {
        let dirfd = pid_dir.fd();
        let fds = size_at(dirfd, b"fd")?;
        let mut tasks = Dir::open_at(dirfd, b"task").ok()?;
        let taskfd = tasks.fd();
        let mut print = Fingerprint { fds, threads: 0, tids: 0, runtime: 0 };
        let mut ok = true;
        let mut name = [0u8; 32];
        let mut buf = [0u8; 256];
        tasks.for_each(|tid| {
            let Some(id) = decimal(tid) else { return };
            let path = &mut name[..tid.len() + 10];
            path[..tid.len()].copy_from_slice(tid);
            path[tid.len()..].copy_from_slice(b"/schedstat");
            match read_at(taskfd, path, &mut buf).and_then(parse_schedstat_runtime) {
                Some(ns) => {
                    print.threads += 1;
                    print.tids = print.tids.wrapping_add(u64::from(id));
                    print.runtime = print.runtime.wrapping_add(ns);
                }
                None => ok = false,
            }
        });
        ok.then_some(print)
    }

    /// Every socket inode in one process's fd table. Err(true) when the
    /// table is unreadable for lack of rights, Err(false) when it vanished.
    fn scan(pid_dir: &Dir) -> Result<Vec<Inode>, bool> {
        let mut dir = match Dir::open_at(pid_dir.fd(), b"fd") {
            Ok(d) => d,
            Err(e) => return Err(matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))),
        };
        let dirfd = dir.fd();
        let mut buf = [0u8; 256];
        let mut sockets = Vec::new();
        dir.for_each(|name| {
            if decimal(name).is_some() {
                sockets.extend(readlink_at(dirfd, name, &mut buf).and_then(parse_socket_link));
            }
        });
        sockets.sort_unstable();
        sockets.dedup();
        sockets.shrink_to_fit();
        Ok(sockets)
    }

    /// The holders of each wanted inode (inode 0 is never held).
    pub fn resolve(&mut self, wanted: &HashSet<Inode>) -> std::io::Result<Resolution> {
        let pids = self.list_pids()?;
        let now: HashSet<Pid> = pids.iter().copied().collect();
        self.procs.retain(|pid, _| now.contains(pid));
        let mut res = Resolution::default();
        for pid in pids {
            let Ok(pid_dir) = Dir::open(&self.procfs.join(pid.to_string())) else {
                self.procs.remove(&pid);
                continue;
            };
            // Read before the fd table: a change during the read shows next time.
            let print = self.fingerprint(&pid_dir);
            if print.is_some() && self.procs.get(&pid).map(|s| s.print) == print {
                continue;
            }
            match (Self::scan(&pid_dir), print) {
                (Ok(sockets), Some(print)) => {
                    self.procs.insert(pid, Seen { print, sockets });
                }
                (Ok(sockets), None) => {
                    // Unfingerprinted: used now, read again next time.
                    let print = Fingerprint { fds: u64::MAX, threads: 0, tids: 0, runtime: 0 };
                    self.procs.insert(pid, Seen { print, sockets });
                }
                (Err(denied), _) => {
                    res.denied += usize::from(denied);
                    self.procs.remove(&pid);
                }
            }
        }
        let mut pairs: Vec<(Inode, Pid)> = Vec::new();
        for (pid, seen) in &self.procs {
            pairs.extend(seen.sockets.iter().filter(|i| wanted.contains(i)).map(|i| (*i, *pid)));
        }
        pairs.sort_unstable();
        for held in pairs.chunk_by(|a, b| a.0 == b.0) {
            res.owners.insert(held[0].0, held.iter().map(|(_, pid)| *pid).collect());
        }
        Ok(res)
    }
}
