//! Linux: sockets by NETLINK_SOCK_DIAG (sock_diag(7)), owners from
//! /proc/PID/fd, the range from /proc/sys/net/ipv4 and sysctl.d(5), a
//! pending reboot from /run/reboot-required.
//!
//! Each collector runs on a helper thread against the scrape's deadline
//! (see `super::Collector`); its state sits behind its own lock, so a read
//! stuck in the kernel (a process in D state) fails that collector only.

mod netlink;
mod netns;
mod owners;
mod procinfo;
mod sockets;
mod sys;
pub mod sysctl;

use super::collector::Partial;
use super::{Collector, OsSource, Paths, Request, Run};
use crate::model::{CollectorName, Destinations, Family, NetnsOwners, Os, PortRange, PortSet, Process, Protocol, RangeView, Socket, Store};
use owners::{OwnerCache, Resolution};
use procinfo::ProcInfo;
use sockets::{Plan, SocketReader};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// The owners collector's caches: socket inodes per process, and process identities.
struct OwnerState {
    cache: OwnerCache,
    info: ProcInfo,
}

impl OwnerState {
    fn new(procfs: &Path, rootfs: &Path) -> OwnerState {
        OwnerState { cache: OwnerCache::new(procfs.to_path_buf()), info: ProcInfo::new(procfs.to_path_buf(), rootfs.to_path_buf()) }
    }

    /// One look at every process: the holders of the wanted sockets, and who each holder is.
    fn look(&mut self, wanted: &HashSet<crate::model::Inode>) -> Result<(Resolution, BTreeMap<u32, Process>), String> {
        let resolution = self.cache.resolve(wanted).map_err(|e| format!("listing processes: {e}"))?;
        let processes = self.info.lookup(resolution.owners.pids()).into_iter().collect();
        Ok((resolution, processes))
    }
}

pub struct LinuxSource {
    paths: Paths,
    sysctl: Collector<()>,
    sysctld: Collector<Vec<String>>,
    boot_applier: Option<crate::boot::Applier>,
    sockets: Collector<SocketReader>,
    owners: Collector<OwnerState>,
    reboot: Collector<()>,
    netns: Collector<netns::NetnsState>,
}

/// What the owners collector hands back.
struct Owned {
    resolution: Resolution,
    /// The exporter may read every process's fd table.
    rights: bool,
    processes: BTreeMap<u32, Process>,
}

impl OsSource for LinuxSource {
    const OS: Os = Os::Linux;

    fn new(paths: Paths) -> LinuxSource {
        sys::return_large_blocks_to_the_kernel();
        LinuxSource {
            sysctl: Collector::new(CollectorName::Sysctl, ()),
            sysctld: Collector::new(CollectorName::Sysctld, Vec::new()),
            sockets: Collector::new(CollectorName::Sockets, SocketReader::new(paths.procfs.clone())),
            owners: Collector::new(CollectorName::Owners, OwnerState::new(&paths.procfs, &paths.rootfs)),
            reboot: Collector::new(CollectorName::Reboot, ()),
            netns: Collector::new(
                CollectorName::Netns,
                netns::NetnsState::new(paths.netns_refresh, OwnerState::new(&paths.procfs, &paths.rootfs)),
            ),
            boot_applier: paths.boot_applier,
            paths,
        }
    }

    /// Forget cached owners (after a config reload).
    fn reset(&mut self) {
        self.owners.with_state(|o| o.cache.clear());
        self.netns.with_state(|n| n.forget_owners());
    }

    /// Runs the collectors the request wants. The ephemeral count needs the
    /// active range and the sockets dump: they run for it even when `sysctl`
    /// or `sockets` was not asked for, and then report nothing of their own.
    fn collect(&mut self, run: &mut Run, req: &Request) {
        let start = Instant::now();
        // The sockets pass waits this long for the active range, then goes on without it.
        let range_wait = start + req.deadline.saturating_duration_since(start) / 4;
        let procfs = self.paths.procfs.clone();
        let rootfs = self.paths.rootfs.clone();
        let (want_sockets, want_count) = (req.wants(CollectorName::Sockets), req.wants(CollectorName::Ephemeral));

        // Independent collectors start together.
        let sysctl = (req.wants(CollectorName::Sysctl) || want_count)
            .then(|| self.sysctl.spawn(move |_| sysctl::active(&procfs).map_err(|e| e.to_string())));
        let root = rootfs.clone();
        let applier = self.boot_applier;
        let sysctld = req.wants(CollectorName::Sysctld).then(|| self.sysctld.spawn_partial(move |last| persistent(&root, applier, last)));
        let root = rootfs.clone();
        let reboot = req.wants(CollectorName::Reboot).then(|| {
            self.reboot.spawn(move |_| Ok(["run/reboot-required", "var/run/reboot-required"].iter().any(|p| root.join(p).exists())))
        });

        let active = sysctl.and_then(|s| run.wait_until(s, range_wait));
        if let (Some((range, reserved)), true) = (&active, req.wants(CollectorName::Sysctl)) {
            let view = RangeView { range: Some(*range), excluded: Some(reserved.clone()), system_excluded: None, high: None };
            run.snap.set_range_everywhere(Store::Active, view);
        }
        let range = if want_count { active.as_ref().map(|(r, _)| *r) } else { None };
        let ports = if want_sockets {
            Watched::Ports { ports: req.ports.clone(), also: req.also.clone(), ranges: req.ranges.clone() }
        } else {
            Watched::Nothing
        };
        // Other namespaces are read meanwhile, each with the host's watched ports.
        let (proc_, root, inside) = (self.paths.procfs.clone(), rootfs.clone(), ports.clone());
        let want_owners = req.wants(CollectorName::Owners);
        let namespaces = req
            .wants(CollectorName::Netns)
            .then(|| self.netns.spawn(move |state| netns::collect(state, &proc_, &root, &inside, want_owners)));
        let table = req.table;
        let k = if want_count { req.destinations } else { 0 };
        let pass = (want_sockets || want_count).then(|| run.run(&self.sockets, move |reader| sockets_pass(reader, ports, table, range, k)));
        let pass = pass.flatten();
        if want_count {
            // The count comes from the sockets pass; its time is counted there.
            let counted = pass.as_ref().is_some() && range.is_some();
            run.record(CollectorName::Ephemeral, counted, "no active range or no socket dump");
        }
        if let Some(pass) = pass {
            run.snap.sockets = pass.sockets;
            run.snap.dynamic_in_use = pass.in_range;
            run.snap.destinations = pass.destinations;
        }

        // Their sockets' owners are found with the host's, in one look at
        // every process, when the namespaces are read by then; the host's
        // owners never wait longer for them.
        // A read served from the background brings its own owners.
        let mut read_owners = None;
        let namespaces = match namespaces.map(|n| run.ready_by(n, range_wait)) {
            Some(Ok(found)) => {
                if want_owners {
                    run.snap.netns_owners = NetnsOwners::Resolved;
                }
                if let Some(mut found) = found {
                    read_owners = found.owners.take();
                    run.snap.set_netns(found.views, found.omitted, found.age);
                }
                None
            }
            Some(Err(pending)) => Some(pending),
            None => None,
        };
        if want_owners {
            let inside = run.snap.netns.iter().filter(|_| read_owners.is_none()).flat_map(|v| &v.sockets);
            let wanted: HashSet<_> = run.snap.sockets.iter().chain(inside).map(|s| s.inode).filter(|i| *i != 0).collect();
            let init_fds = self.paths.procfs.join("1/fd");
            let owned = run.run(&self.owners, move |o| {
                let (resolution, processes) = o.look(&wanted)?;
                let rights = sys::Dir::open(&init_fds).is_ok() && resolution.denied == 0;
                Ok(Owned { resolution, rights, processes })
            });
            if let Some(o) = owned {
                run.snap.owners = o.resolution.owners;
                run.snap.owners_resolvable = o.rights;
                run.snap.processes = o.processes;
            }
        }
        // The next boot is read meanwhile; a slow sysctl.d never holds up the sockets.
        if let Some((boot, why)) = sysctld.and_then(|s| run.wait(s)) {
            if boot.unknown.is_empty() {
                let view = RangeView {
                    range: Some(boot.state.range),
                    excluded: Some(boot.state.reserved.clone()),
                    system_excluded: None,
                    high: None,
                };
                run.snap.set_range_everywhere(Store::Persistent, view);
            }
            run.snap.next_boot = Some((boot, why));
        }

        run.snap.reboot_required = reboot.and_then(|r| run.wait(r));
        // Read after the owners looked: their sockets' owners stay unknown this scrape.
        if let Some(mut found) = namespaces.and_then(|n| run.wait(n)) {
            read_owners = found.owners.take();
            run.snap.set_netns(found.views, found.omitted, found.age);
        }
        // After the owners collector, whose look replaces the snapshot's owners.
        if let Some(owners) = read_owners {
            take_read_owners(&mut run.snap, owners);
        }
    }
}

/// The owners a namespace read resolved itself, beside the host's (socket
/// inodes are unique across namespaces; a process both looked at is the
/// host's entry). When that look failed, the namespaces' owners are unknown.
fn take_read_owners(snap: &mut crate::model::Snapshot, read: Result<netns::ReadOwners, String>) {
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            log::warn!(target: "portwatch_exporter::source", "the owners of the network namespaces' sockets: {e}");
            snap.netns_owners = NetnsOwners::LookFailed;
            return;
        }
    };
    for inode in snap.netns.iter().flat_map(|v| &v.sockets).map(|s| s.inode) {
        if let Some(pids) = read.owners.get(&inode) {
            snap.owners.insert(inode, pids.clone());
        }
    }
    for (pid, p) in read.processes {
        snap.processes.entry(pid).or_insert(p);
    }
    snap.netns_owners = NetnsOwners::Resolved;
}

/// Which sockets the pass lists.
#[derive(Clone)]
enum Watched {
    /// The watched (protocol, port) pairs (None: the TCP listeners, and
    /// `also`: the learned baseline's ports), and the watched ranges.
    Ports { ports: Option<Vec<(Protocol, u16)>>, also: Vec<(Protocol, u16)>, ranges: Vec<(Protocol, PortRange)> },
    /// None: the pass only counts the range (the sockets collector is off).
    Nothing,
}

/// What the sockets pass hands back.
struct SocketsPass {
    /// Sockets on the watched ports, sorted.
    sockets: Vec<Socket>,
    /// Sockets whose local port lies in the dynamic range, per (protocol, family).
    in_range: BTreeMap<(Protocol, Family), u64>,
    /// The busiest destinations of those sockets (TCP), when asked for.
    destinations: Option<Destinations>,
}

/// Sockets on watched ports, the dynamic-range count and its `k` busiest
/// destinations (TCP: UDP's autobind takes a port for the socket whatever
/// its peer, so its ports run out per host), in one pass per protocol.
fn sockets_pass(
    reader: &mut SocketReader,
    ports: Watched,
    table: super::SocketTable,
    range: Option<PortRange>,
    k: usize,
) -> Result<SocketsPass, String> {
    let mut watched: BTreeMap<Protocol, Vec<u16>> = BTreeMap::new();
    let mut spans: BTreeMap<Protocol, Vec<PortRange>> = BTreeMap::new();
    if let Watched::Ports { ports, also, ranges } = ports {
        match ports {
            Some(ports) => {
                for (proto, port) in ports {
                    watched.entry(proto).or_default().push(port);
                }
            }
            None => {
                watched.insert(Protocol::Tcp, reader.listening_ports(table)?.into_iter().collect());
                for (proto, port) in also {
                    watched.entry(proto).or_default().push(port);
                }
            }
        }
        for (proto, r) in ranges {
            spans.entry(proto).or_default().push(r);
        }
    }
    let (mut sockets, mut in_range) = (Vec::new(), BTreeMap::new());
    let mut destinations = (k > 0 && range.is_some()).then(Destinations::default);
    for proto in Protocol::ALL {
        let mut ports = watched.remove(&proto).unwrap_or_default();
        ports.sort_unstable();
        ports.dedup();
        let watched_ranges = PortSet::from_ranges(spans.remove(&proto).unwrap_or_default());
        let plan = Plan { watched: ports, watched_ranges, range, destinations: destinations.is_some() && proto == Protocol::Tcp };
        let mut pass = reader.pass(table, proto, &plan)?;
        if let (Some(tally), Some(into)) = (pass.destinations.take(), destinations.as_mut()) {
            tally.finish(k, into);
        }
        if sockets.is_empty() {
            sockets = pass.sockets; // no copy of the (possibly large) TCP list
        } else {
            sockets.extend(pass.sockets);
        }
        in_range.extend(pass.in_range.into_iter().map(|(f, n)| ((proto, f), n)));
    }
    sockets.sort_unstable();
    Ok(SocketsPass { sockets, in_range, destinations })
}

/// The next boot, as far as it can be told. Lines that the boot skips or
/// the kernel refuses are findings, logged when they change; only what
/// cannot be read (the boot, as root, might) fails the collector, and then
/// the persistent view is unknown.
fn persistent(
    rootfs: &Path,
    applier: Option<crate::boot::Applier>,
    last: &mut Vec<String>,
) -> Partial<(crate::boot::NextBoot, &'static str)> {
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
    Partial { value: Some((boot, why)), status }
}
