//! Socket inode -> owner pids, from `/proc/PID/fd`, without a full scan on
//! every scrape:
//! - cached (pid, fd) pairs are checked with one readlink each;
//! - processes that appeared since the last scrape are scanned once, in full
//!   (fork and socket activation hand sockets to new processes);
//! - anything still missing (everything, on the first scrape) triggers a scan
//!   that tries likely holders first and stops as soon as every missing inode
//!   is found, so a socket shared by several processes may show only the
//!   first holder found;
//! - inodes nobody holds are cached as ownerless until they vanish.
//!
//! What is missed: an old process that receives an already-resolved socket
//! by SCM_RIGHTS or pidfd_getfd(2) shows up only when a cached pair breaks.

use super::sys::{decimal, readlink_at, Dir};
use crate::model::{Inode, Pid};
use crate::parse::procfs::parse_socket_link;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// A socket the caller wants owners for, with its local port as a hint.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub inode: Inode,
    pub port: u16,
}

#[derive(Debug, Default)]
pub struct Resolution {
    pub owners: BTreeMap<Inode, BTreeSet<Pid>>,
    /// Processes whose fd table could not be read for lack of rights.
    pub denied: usize,
    /// Processes whose fd tables were listed this time.
    pub scanned: usize,
}

pub struct OwnerCache {
    procfs: PathBuf,
    holders: HashMap<Inode, Vec<(Pid, u32)>>,
    ownerless: HashSet<Inode>,
    known_pids: HashSet<Pid>,
    /// Sticky: a denied fd table means owners are incomplete.
    denied: usize,
}

impl OwnerCache {
    pub fn new(procfs: PathBuf) -> OwnerCache {
        OwnerCache { procfs, holders: HashMap::new(), ownerless: HashSet::new(), known_pids: HashSet::new(), denied: 0 }
    }

    /// Forgets everything (config reload).
    pub fn clear(&mut self) {
        *self = OwnerCache::new(std::mem::take(&mut self.procfs));
    }

    fn list_pids(&self) -> std::io::Result<Vec<Pid>> {
        let mut dir = Dir::open(&self.procfs)?;
        let mut pids = Vec::with_capacity(512);
        dir.for_each(|name| pids.extend(decimal(name)));
        Ok(pids)
    }

    /// Does `pid` still hold `inode` at `fd`?
    fn still_holds(&self, pid: Pid, fd: u32, inode: Inode) -> bool {
        let path = self.procfs.join(pid.to_string()).join("fd").join(fd.to_string());
        std::fs::read_link(path).ok().and_then(|t| parse_socket_link(t.as_os_str().as_encoded_bytes())) == Some(inode)
    }

    /// Lists one process's fds; calls `found` for each wanted socket inode.
    /// Returns false when the fd table was unreadable for lack of rights.
    fn scan_pid(&self, pid: Pid, wanted: &HashSet<Inode>, mut found: impl FnMut(Inode, u32)) -> bool {
        let mut dir = match Dir::open(&self.procfs.join(pid.to_string()).join("fd")) {
            Ok(d) => d,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => return false,
            Err(e) => {
                log::debug!("pid {pid} vanished or has no fd table: {e}");
                return true;
            }
        };
        let dirfd = dir.fd();
        let mut buf = [0u8; 256];
        dir.for_each(|name| {
            let Some(fd) = decimal(name) else { return };
            if let Some(inode) = readlink_at(dirfd, name, &mut buf).and_then(parse_socket_link) {
                if wanted.contains(&inode) {
                    found(inode, fd);
                }
            }
        });
        true
    }

    pub fn resolve(&mut self, wanted: &[Wanted]) -> std::io::Result<Resolution> {
        let pids_now = self.list_pids()?;
        let now: HashSet<Pid> = pids_now.iter().copied().collect();
        let wanted_set: HashSet<Inode> = wanted.iter().map(|w| w.inode).filter(|i| *i != 0).collect();
        self.holders.retain(|inode, _| wanted_set.contains(inode));
        self.ownerless.retain(|inode| wanted_set.contains(inode));
        for pairs in self.holders.values_mut() {
            pairs.retain(|(pid, _)| now.contains(pid));
        }

        // 1. Check cached pairs.
        let mut verified: HashMap<Inode, Vec<(Pid, u32)>> = HashMap::new();
        for (inode, pairs) in &self.holders {
            let ok: Vec<_> = pairs.iter().copied().filter(|(pid, fd)| self.still_holds(*pid, *fd, *inode)).collect();
            if !ok.is_empty() {
                verified.insert(*inode, ok);
            }
        }
        let mut res = Resolution::default();

        // 2. Scan processes that appeared since the last scrape, in full. On
        //    the first scrape every process is new: leave them to step 3.
        let cold = self.known_pids.is_empty();
        let mut new_pids: Vec<Pid> =
            if cold { Vec::new() } else { pids_now.iter().copied().filter(|p| !self.known_pids.contains(p)).collect() };
        new_pids.sort_unstable();
        if cold {
            self.denied = 0;
        }
        for pid in new_pids {
            res.scanned += 1;
            let ok = self.scan_pid(pid, &wanted_set, |inode, fd| verified.entry(inode).or_default().push((pid, fd)));
            if !ok {
                self.denied += 1;
            }
        }
        self.known_pids = now;

        // 3. Still missing: scan with likely holders first, stop when all found.
        let mut missing: HashSet<Inode> =
            wanted_set.iter().copied().filter(|i| !verified.contains_key(i) && !self.ownerless.contains(i)).collect();
        if !missing.is_empty() {
            let order = self.search_order(&pids_now, wanted, &missing, &verified);
            for pid in order {
                if missing.is_empty() {
                    break;
                }
                res.scanned += 1;
                let ok = self.scan_pid(pid, &missing, |inode, fd| {
                    let pairs = verified.entry(inode).or_default();
                    if !pairs.contains(&(pid, fd)) {
                        pairs.push((pid, fd));
                    }
                });
                if !ok {
                    self.denied += 1;
                }
                missing.retain(|i| !verified.contains_key(i));
            }
            self.ownerless.extend(missing);
        }
        for inode in verified.keys() {
            self.ownerless.remove(inode);
        }
        res.owners = verified.iter().map(|(i, pairs)| (*i, pairs.iter().map(|(p, _)| *p).collect())).collect();
        self.holders = verified;
        res.denied = self.denied;
        Ok(res)
    }

    /// Holders of other sockets on the same ports first, then oldest pids
    /// (services usually start early).
    fn search_order(
        &self,
        pids: &[Pid],
        wanted: &[Wanted],
        missing: &HashSet<Inode>,
        verified: &HashMap<Inode, Vec<(Pid, u32)>>,
    ) -> Vec<Pid> {
        let missing_ports: HashSet<u16> = wanted.iter().filter(|w| missing.contains(&w.inode)).map(|w| w.port).collect();
        let mut hints: Vec<Pid> = wanted
            .iter()
            .filter(|w| missing_ports.contains(&w.port))
            .filter_map(|w| verified.get(&w.inode))
            .flatten()
            .map(|(pid, _)| *pid)
            .collect();
        hints.sort_unstable();
        hints.dedup();
        let hinted: HashSet<Pid> = hints.iter().copied().collect();
        let mut rest: Vec<Pid> = pids.iter().copied().filter(|p| !hinted.contains(p)).collect();
        rest.sort_unstable();
        hints.extend(rest);
        hints
    }
}
