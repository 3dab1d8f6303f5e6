//! Linux: sockets by NETLINK_SOCK_DIAG (sock_diag(7)), owners from
//! /proc/PID/fd, the range from /proc/sys/net/ipv4 and sysctl.d(5), a
//! pending reboot from /run/reboot-required.

mod netlink;
mod owners;
mod procinfo;
mod sockets;
mod sys;
pub mod sysctl;

use super::{timed, Paths, Request};
use crate::model::{CollectorStatus, Family, Protocol, RangeView, Snapshot, Store};
use owners::{OwnerCache, Wanted};
use procinfo::ProcInfo;
use sockets::{Plan, SocketReader};
use std::collections::{BTreeMap, BTreeSet};

pub struct LinuxSource {
    paths: Paths,
    sockets: SocketReader,
    owners: OwnerCache,
    procinfo: ProcInfo,
    last_problems: Vec<String>,
}

impl LinuxSource {
    pub fn new(paths: Paths) -> LinuxSource {
        LinuxSource {
            owners: OwnerCache::new(paths.procfs.clone()),
            procinfo: ProcInfo::new(paths.procfs.clone(), paths.rootfs.clone()),
            sockets: SocketReader::new(paths.procfs.clone()),
            paths,
            last_problems: Vec::new(),
        }
    }

    /// Forget cached owners (after a config reload).
    pub fn reset(&mut self) {
        self.owners.clear();
    }

    /// Sockets on watched ports, and the dynamic-range count, in one pass per protocol.
    fn sockets(&mut self, req: &Request, snap: &mut Snapshot) -> Result<(), String> {
        let mut watched: BTreeMap<Protocol, Vec<u16>> = BTreeMap::new();
        match &req.ports {
            Some(ports) => {
                for (proto, port) in ports {
                    watched.entry(*proto).or_default().push(*port);
                }
            }
            None => {
                watched.insert(Protocol::Tcp, self.sockets.listening_ports(req.table)?.into_iter().collect());
            }
        }
        let range = if req.ephemeral { snap.ranges.get(&(Protocol::Tcp, Family::Ipv4, Store::Active)).and_then(|v| v.range) } else { None };
        for proto in Protocol::ALL {
            let mut ports = watched.remove(&proto).unwrap_or_default();
            ports.sort_unstable();
            ports.dedup();
            let pass = self.sockets.pass(req.table, proto, &Plan { watched: ports, range })?;
            snap.sockets.extend(pass.sockets);
            for (family, n) in pass.in_range {
                snap.dynamic_in_use.insert((proto, family), n);
            }
        }
        snap.sockets.sort();
        Ok(())
    }

    fn owners(&mut self, snap: &mut Snapshot) -> Result<(), String> {
        let wanted: Vec<Wanted> = snap.sockets.iter().filter(|s| s.inode != 0).map(|s| Wanted { inode: s.inode, port: s.port }).collect();
        let res = self.owners.resolve(&wanted).map_err(|e| format!("listing {}: {e}", self.paths.procfs.display()))?;
        let init_fds = sys::Dir::open(&self.paths.procfs.join("1/fd")).is_ok();
        snap.owners_resolvable = init_fds && res.denied == 0;
        let pids: BTreeSet<u32> = res.owners.values().flatten().copied().collect();
        snap.processes = self.procinfo.lookup(pids).into_iter().collect();
        snap.owners = res.owners;
        Ok(())
    }

    fn persistent(&mut self, snap: &mut Snapshot) -> Result<(), String> {
        let p = sysctl::persistent(&self.paths.rootfs);
        insert_all(snap, Store::Persistent, RangeView { range: Some(p.range), excluded: Some(p.reserved) });
        if p.problems != self.last_problems {
            for problem in &p.problems {
                log::warn!("sysctl.d: {problem}");
            }
            self.last_problems = p.problems.clone();
        }
        match p.problems.first() {
            None => Ok(()),
            Some(first) => Err(format!("{first} ({} problem(s))", p.problems.len())),
        }
    }

    pub fn snapshot(&mut self, req: &Request) -> Snapshot {
        let mut snap = Snapshot::default();
        let mut status: Vec<CollectorStatus> = Vec::new();
        let procfs = self.paths.procfs.clone();
        timed(&mut status, "sysctl", || {
            let (range, reserved) = sysctl::active(&procfs).map_err(|e| e.to_string())?;
            insert_all(&mut snap, Store::Active, RangeView { range: Some(range), excluded: Some(reserved) });
            Ok(())
        });
        timed(&mut status, "sysctld", || self.persistent(&mut snap));
        timed(&mut status, "sockets", || self.sockets(req, &mut snap));
        if req.ephemeral {
            // The count comes from the sockets pass; its time is counted there.
            let sockets_ok = status.last().is_some_and(|s| s.success);
            let range_known = snap.ranges.get(&(Protocol::Tcp, Family::Ipv4, Store::Active)).is_some_and(|v| v.range.is_some());
            if !(sockets_ok && range_known) {
                snap.dynamic_in_use.clear();
            }
            timed(&mut status, "ephemeral", || {
                if sockets_ok && range_known {
                    Ok(())
                } else {
                    Err("no active range or no socket dump".into())
                }
            });
        }
        timed(&mut status, "owners", || self.owners(&mut snap));
        let rootfs = self.paths.rootfs.clone();
        timed(&mut status, "reboot", || {
            snap.reboot_required = Some(["run/reboot-required", "var/run/reboot-required"].iter().any(|p| rootfs.join(p).exists()));
            Ok(())
        });
        snap.collectors = status;
        snap
    }
}

/// Linux has one range and one reserved list for TCP and UDP, IPv4 and IPv6.
fn insert_all(snap: &mut Snapshot, store: Store, view: RangeView) {
    for p in Protocol::ALL {
        for f in Family::ALL {
            snap.ranges.insert((p, f, store), view.clone());
        }
    }
}
