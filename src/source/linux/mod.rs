//! Linux: sockets by NETLINK_SOCK_DIAG (sock_diag(7)), owners from
//! /proc/PID/fd, the range from /proc/sys/net/ipv4 and sysctl.d(5), a
//! pending reboot from /run/reboot-required.
//!
//! Each collector runs on a helper thread against the scrape's deadline
//! (see `super::Collector`); its state sits behind its own lock, so a read
//! stuck in the kernel (a process in D state) fails that collector only.

mod netlink;
mod owners;
mod procinfo;
mod sockets;
mod sys;
pub mod sysctl;

use super::{Collector, Paths, Request};
use crate::model::{Family, PortRange, Process, Protocol, RangeView, Snapshot, Socket, Store};
use owners::{OwnerCache, Resolution};
use procinfo::ProcInfo;
use sockets::{Plan, SocketReader};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

pub struct LinuxSource {
    paths: Paths,
    sysctl: Collector<()>,
    sysctld: Collector<Vec<String>>,
    boot_applier: Option<crate::boot::Applier>,
    sockets: Collector<SocketReader>,
    owners: Collector<(OwnerCache, ProcInfo)>,
    reboot: Collector<()>,
}

/// What the owners collector hands back.
type Owners = (Resolution, bool, BTreeMap<u32, Process>);

impl LinuxSource {
    pub fn new(paths: Paths) -> LinuxSource {
        sys::return_large_blocks_to_the_kernel();
        LinuxSource {
            sysctl: Collector::new("sysctl", ()),
            sysctld: Collector::new("sysctld", Vec::new()),
            sockets: Collector::new("sockets", SocketReader::new(paths.procfs.clone())),
            owners: Collector::new(
                "owners",
                (OwnerCache::new(paths.procfs.clone()), ProcInfo::new(paths.procfs.clone(), paths.rootfs.clone())),
            ),
            reboot: Collector::new("reboot", ()),
            boot_applier: paths.boot_applier,
            paths,
        }
    }

    /// Forget cached owners (after a config reload).
    pub fn reset(&mut self) {
        self.owners.with_state(|(cache, _)| cache.clear());
    }

    pub fn snapshot(&mut self, req: &Request) -> Snapshot {
        let mut snap = Snapshot::default();
        let start = Instant::now();
        // The sockets pass waits this long for the active range, then goes on without it.
        let range_wait = start + req.deadline.saturating_duration_since(start) / 4;
        let procfs = self.paths.procfs.clone();
        let rootfs = self.paths.rootfs.clone();

        // Independent collectors start together.
        let sysctl = self.sysctl.spawn(move |_| sysctl::active(&procfs).map_err(|e| e.to_string()));
        let root = rootfs.clone();
        let applier = self.boot_applier;
        let sysctld = self.sysctld.spawn_partial(move |last| persistent(&root, applier, last));
        let root = rootfs.clone();
        let reboot =
            self.reboot.spawn(move |_| Ok(["run/reboot-required", "var/run/reboot-required"].iter().any(|p| root.join(p).exists())));

        let active = sysctl.wait(&mut snap.collectors, range_wait.min(req.deadline));
        if let Some((range, reserved)) = &active {
            insert_all(
                &mut snap,
                Store::Active,
                RangeView { range: Some(*range), excluded: Some(reserved.clone()), system_excluded: None, high: None },
            );
        }
        let range = if req.ephemeral { active.as_ref().map(|(r, _)| *r) } else { None };
        let (ports, table) = (req.ports.clone(), req.table);
        let pass = self.sockets.run(&mut snap.collectors, req.deadline, move |reader| sockets_pass(reader, ports, table, range));
        if req.ephemeral {
            // The count comes from the sockets pass; its time is counted there.
            let counted = pass.as_ref().is_some_and(|_| range.is_some());
            Collector::<()>::record(&mut snap.collectors, "ephemeral", counted, "no active range or no socket dump");
        }
        if let Some((sockets, in_range)) = pass {
            snap.sockets = sockets;
            if req.ephemeral {
                snap.dynamic_in_use = in_range;
            }
        }

        let wanted: HashSet<_> = snap.sockets.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
        let init_fds = self.paths.procfs.join("1/fd");
        let resolved: Option<Owners> = self.owners.run(&mut snap.collectors, req.deadline, move |(cache, procinfo)| {
            let res = cache.resolve(&wanted).map_err(|e| format!("listing processes: {e}"))?;
            let rights = sys::Dir::open(&init_fds).is_ok() && res.denied == 0;
            let pids = res.owners.pids();
            let processes = procinfo.lookup(pids).into_iter().collect();
            Ok((res, rights, processes))
        });
        if let Some((res, rights, processes)) = resolved {
            snap.owners = res.owners;
            snap.owners_resolvable = rights;
            snap.processes = processes;
        }
        // The next boot is read meanwhile; a slow sysctl.d never holds up the sockets.
        if let Some((boot, why)) = sysctld.wait(&mut snap.collectors, req.deadline) {
            if boot.unknown.is_empty() {
                let view = RangeView {
                    range: Some(boot.state.range),
                    excluded: Some(boot.state.reserved.clone()),
                    system_excluded: None,
                    high: None,
                };
                insert_all(&mut snap, Store::Persistent, view);
            }
            snap.next_boot = Some((boot, why));
        }

        snap.reboot_required = reboot.wait(&mut snap.collectors, req.deadline);
        snap
    }
}

/// Sockets on watched ports, and the dynamic-range count per (protocol, family).
type Sockets = (Vec<Socket>, BTreeMap<(Protocol, Family), u64>);

/// Sockets on watched ports, and the dynamic-range count, in one pass per protocol.
fn sockets_pass(
    reader: &mut SocketReader,
    ports: Option<Vec<(Protocol, u16)>>,
    table: super::SocketTable,
    range: Option<PortRange>,
) -> Result<Sockets, String> {
    let mut watched: BTreeMap<Protocol, Vec<u16>> = BTreeMap::new();
    match ports {
        Some(ports) => {
            for (proto, port) in ports {
                watched.entry(proto).or_default().push(port);
            }
        }
        None => {
            watched.insert(Protocol::Tcp, reader.listening_ports(table)?.into_iter().collect());
        }
    }
    let (mut sockets, mut in_range) = (Vec::new(), BTreeMap::new());
    for proto in Protocol::ALL {
        let mut ports = watched.remove(&proto).unwrap_or_default();
        ports.sort_unstable();
        ports.dedup();
        let pass = reader.pass(table, proto, &Plan { watched: ports, range })?;
        if sockets.is_empty() {
            sockets = pass.sockets; // no copy of the (possibly large) TCP list
        } else {
            sockets.extend(pass.sockets);
        }
        in_range.extend(pass.in_range.into_iter().map(|(f, n)| ((proto, f), n)));
    }
    sockets.sort_unstable();
    Ok((sockets, in_range))
}

/// The next boot, as far as it can be told. Lines that the boot skips or
/// the kernel refuses are findings, logged when they change; only what
/// cannot be read (the boot, as root, might) fails the collector, and then
/// the persistent view is unknown.
fn persistent(
    rootfs: &Path,
    applier: Option<crate::boot::Applier>,
    last: &mut Vec<String>,
) -> (Option<(crate::boot::NextBoot, &'static str)>, Result<(), String>) {
    let (boot, why) = sysctl::next_boot(rootfs, applier);
    let mut lines: Vec<String> = boot.skipped.iter().map(|(o, why)| format!("{}:{}: {why}", o.file, o.line)).collect();
    lines.extend(boot.rejected.iter().map(|r| format!("at boot, {r}")));
    if lines != *last {
        for line in &lines {
            log::warn!("sysctl.d ({}): {line}", boot.applier.as_str());
        }
        last.clone_from(&lines);
    }
    let status = match boot.unknown.first() {
        None => Ok(()),
        Some(first) => Err(format!("next boot unknown: {first} ({} problem(s))", boot.unknown.len())),
    };
    (Some((boot, why)), status)
}

/// Linux has one range and one reserved list for TCP and UDP, IPv4 and IPv6.
fn insert_all(snap: &mut Snapshot, store: Store, view: RangeView) {
    for p in Protocol::ALL {
        for f in Family::ALL {
            snap.ranges.insert((p, f, store), view.clone());
        }
    }
}
