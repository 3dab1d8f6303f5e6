//! The `netns` collector: every network namespace on the host other than the
//! exporter's own, found through `/proc/PID/ns/net` (deduplicated by inode)
//! and the named ones under `/run/netns`, each read from inside it.
//!
//! Entering: the namespaces are shared out among a few reader threads
//! (one per core, at most [`MAX_READERS`], one per 16 namespaces), started
//! by the collector's run and ended with it, so the setns(2) calls here never
//! move a thread that anything else uses, the collector's own included. Each
//! namespace's TCP dump walks the kernel's hash table, shared with the host
//! unless the namespace has its own, so the walks run side by side on as many
//! cores as there are readers. Inside a namespace a reader
//! reads the namespace's own `ip_local_port_range` and
//! `ip_local_reserved_ports` (a net sysctl shows the namespace of the task
//! that opens it) and dumps its sockets through a sock_diag socket opened
//! there (a netlink socket stays in the namespace it was made in), for that
//! scrape only: a socket kept would hold the namespace alive after its last
//! process (a dead pod's interfaces with it) and cost an fd per namespace.
//!
//! Sockets always come from sock_diag here: `/proc/net` follows the process's
//! first thread, not the thread that entered the namespace.
//!
//! Refreshing: by default every scrape reads every namespace. With
//! `--collector.netns.refresh-interval` a background thread reads them
//! instead, waiting the interval between reads, and a scrape serves the
//! latest read (its age is said). A scrape that asks for other ports than the
//! latest read listed, or finds no read younger than [`max_age`], reads them
//! itself. Each namespace's TCP walk crosses every socket of the host's hash
//! table (shared unless the namespace has its own), which no filter avoids:
//! reading in the background is what keeps that walk off the scrape.
//! Such a read resolves its sockets' owners itself, right after listing them,
//! so what a scrape serves is one moment's picture: a socket closed since
//! is never taken for one whose owner is hidden or another program.

use super::sockets::{Plan, SocketReader};
use super::sys::ns_inode;
use super::{sysctl, OwnerState, Watched};
use crate::model::{NetnsFailure, NetnsView, Owners, Pid, Process, Protocol};
use crate::parse::container::parse_cgroup_container;
use crate::platform::files::{self, cap};
use crate::source::SocketTable;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Most namespaces read per scrape; the rest are counted.
pub const MAX_NAMESPACES: usize = 1024;
/// Reader threads at most, and namespaces per reader at least.
const MAX_READERS: usize = 4;
const NAMESPACES_PER_READER: usize = 16;
/// Processes looked at for a namespace's container.
const CONTAINER_PROBES: usize = 8;

/// A namespace found on the host.
#[derive(Debug)]
struct Found {
    inode: u64,
    /// A file that setns(2) accepts for it.
    handle: PathBuf,
    pids: Vec<Pid>,
    name: Option<String>,
}

/// Every namespace but `own`, by inode, in inode order.
fn discover(procfs: &Path, rootfs: &Path, own: u64) -> Result<BTreeMap<u64, Found>, String> {
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    let entries = std::fs::read_dir(procfs).map_err(|e| format!("listing {}: {e}", procfs.display()))?;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<Pid>().ok()) else { continue };
        let link = entry.path().join("ns/net");
        let Some(inode) = ns_inode(&link, "net") else { continue };
        if inode == own {
            continue;
        }
        found.entry(inode).or_insert_with(|| Found { inode, handle: link.clone(), pids: Vec::new(), name: None }).pids.push(pid);
    }
    // Named namespaces (ip netns add) may have no process at all.
    // Every namespace file lives on nsfs: a file under /run/netns on another
    // device is no namespace (yet, or any more: `ip netns add` makes the file
    // before it mounts the namespace on it, `ip netns del` unmounts first).
    let nsfs = std::fs::metadata(procfs.join("self/ns/net")).map(|m| m.dev()).ok();
    if let Ok(named) = std::fs::read_dir(rootfs.join("run/netns")) {
        for entry in named.flatten() {
            let (Some(name), Ok(meta)) = (entry.file_name().to_str().map(str::to_string), entry.metadata()) else { continue };
            if meta.ino() == own || nsfs.is_some_and(|dev| dev != meta.dev()) {
                continue;
            }
            let f =
                found.entry(meta.ino()).or_insert_with(|| Found { inode: meta.ino(), handle: entry.path(), pids: Vec::new(), name: None });
            f.name = Some(name);
            // A bind-mounted namespace file outlives its processes: prefer it.
            f.handle = entry.path();
        }
    }
    Ok(found)
}

/// What a read lists inside each namespace: the watched TCP ports (None:
/// the namespace's own listeners) and UDP ports. Watched ranges and the
/// learned baseline's ports are the host's alone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inside {
    tcp: Option<Vec<u16>>,
    udp: Vec<u16>,
    /// The scrape wants owners: a read served later resolves its own.
    owners: bool,
}

impl Inside {
    /// What the host's pass lists, applied inside each namespace.
    fn of(watched: &Watched, owners: bool) -> Inside {
        let sorted = |mut v: Vec<u16>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        match watched {
            Watched::Ports { ports: Some(ports), .. } => {
                let of = |p: Protocol| sorted(ports.iter().filter(|(q, _)| *q == p).map(|(_, port)| *port).collect());
                Inside { tcp: Some(of(Protocol::Tcp)), udp: of(Protocol::Udp), owners }
            }
            Watched::Ports { ports: None, .. } => Inside { tcp: None, udp: Vec::new(), owners },
            Watched::Nothing => Inside { tcp: Some(Vec::new()), udp: Vec::new(), owners },
        }
    }
}

/// The collector's state: the refresh interval, and what the scrapes and the
/// background reader share.
pub struct NetnsState {
    /// `--collector.netns.refresh-interval`; zero: every scrape reads.
    interval: Duration,
    shared: Arc<Mutex<Shared>>,
    /// The owners of a read served later: its own look at every process,
    /// apart from the owners collector's (each keeps its own cache).
    resolver: Arc<Mutex<OwnerState>>,
}

#[derive(Default)]
struct Shared {
    /// Namespaces failing since a warning said so: warned once, not every scrape.
    warned: HashSet<u64>,
    /// What the last scrape asked for: the background reads list it.
    asked: Option<Inside>,
    latest: Option<Latest>,
    /// The background reader runs.
    refreshing: bool,
}

/// One read of every namespace, what it listed inside them, and when it began.
struct Latest {
    inside: Inside,
    began: Instant,
    result: Result<Namespaces, String>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The oldest read a scrape serves: past it the background reader is taken
/// to be stuck or gone, and the scrape reads (and fails, if the read does).
pub fn max_age(interval: Duration) -> Duration {
    interval.saturating_mul(4).saturating_add(Duration::from_secs(60))
}

impl NetnsState {
    pub fn new(interval: Duration, resolver: OwnerState) -> NetnsState {
        NetnsState { interval, shared: Arc::default(), resolver: Arc::new(Mutex::new(resolver)) }
    }

    /// Forgets the background reads' cached owners, as the owners collector
    /// does after a config reload (unless a read is using them now).
    pub fn forget_owners(&self) {
        if let Ok(mut o) = self.resolver.try_lock() {
            o.cache.clear();
        }
    }
}

/// What one run found: the namespaces read, and how many were left out.
#[derive(Debug, Clone)]
pub struct Namespaces {
    pub views: Vec<NetnsView>,
    pub omitted: usize,
    /// How long before this scrape they were read: None when this scrape read them.
    pub age: Option<Duration>,
    /// Their sockets' owners, resolved by the read itself (with a refresh
    /// interval); None: the owners collector resolves them with the host's.
    pub owners: Option<Result<ReadOwners, String>>,
}

/// The owners of the namespaces' sockets as a read found them.
#[derive(Debug, Clone, Default)]
pub struct ReadOwners {
    pub owners: Owners,
    pub processes: BTreeMap<Pid, Process>,
}

/// Every other namespace, read by this scrape or (with a refresh interval)
/// by the background reader. Fails as a whole only when the namespaces
/// cannot be listed; a namespace that cannot be entered or read (or whose
/// reader thread failed) carries its own error.
/// `watched` is what the host's pass lists, applied inside each namespace
/// (without a config file: each namespace's own TCP listeners).
/// `owners`: the scrape wants the sockets' owners.
pub fn collect(state: &mut NetnsState, procfs: &Path, rootfs: &Path, watched: &Watched, owners: bool) -> Result<Namespaces, String> {
    let inside = Inside::of(watched, owners);
    if state.interval.is_zero() {
        return read_all(&state.shared, procfs, rootfs, &inside);
    }
    let began = {
        let mut s = lock(&state.shared);
        s.asked = Some(inside.clone());
        if let Some(l) = s.latest.as_ref().filter(|l| s.refreshing && l.inside == inside) {
            let age = l.began.elapsed();
            if age < max_age(state.interval) {
                return l.result.clone().map(|n| Namespaces { age: Some(age), ..n });
            }
            log::warn!(
                target: "portwatch_exporter::source",
                "the netns background reader has not finished a read for {}s (stuck in the kernel?); this scrape reads the namespaces itself",
                age.as_secs()
            );
        }
        Instant::now()
    };
    let result = read_all(&state.shared, procfs, rootfs, &inside).map(|n| with_owners(n, &state.resolver, &inside, procfs, rootfs));
    keep(&state.shared, Latest { inside, began, result: result.clone() });
    if !lock(&state.shared).refreshing {
        start_refreshing(state, procfs, rootfs);
    }
    result
}

/// Keeps a read unless a later one is kept already.
fn keep(shared: &Mutex<Shared>, read: Latest) {
    let mut s = lock(shared);
    if s.latest.as_ref().is_none_or(|l| l.began <= read.began) {
        s.latest = Some(read);
    }
}

/// Starts the background reader: every interval, a read of what the last
/// scrape asked for. It lives as long as the process; if it cannot start,
/// every scrape reads.
fn start_refreshing(state: &NetnsState, procfs: &Path, rootfs: &Path) {
    let (shared, resolver, interval) = (state.shared.clone(), state.resolver.clone(), state.interval);
    let (procfs, rootfs) = (procfs.to_path_buf(), rootfs.to_path_buf());
    let started = std::thread::Builder::new().name("netns-refresh".into()).spawn(move || loop {
        std::thread::sleep(interval);
        // Taken together under the lock: a read never begins after a scrape
        // asked for other ports yet lists the old ones.
        let (asked, began) = {
            let s = lock(&shared);
            (s.asked.clone(), Instant::now())
        };
        let Some(inside) = asked else { continue };
        let result = read_all(&shared, &procfs, &rootfs, &inside).map(|n| with_owners(n, &resolver, &inside, &procfs, &rootfs));
        if let Err(e) = &result {
            log::debug!(target: "portwatch_exporter::source", "background read of the network namespaces: {e}");
        }
        keep(&shared, Latest { inside, began, result });
    });
    match started {
        Ok(_) => lock(&state.shared).refreshing = true,
        Err(e) => {
            log::warn!(target: "portwatch_exporter::source", "starting the netns background reader: {e}; every scrape reads the namespaces")
        }
    }
}

/// The read's sockets' owners, when the scrape wants them, looked up now.
/// A socket the look finds no owner for may have closed while the
/// namespaces were read (its holder exited after the dump): each namespace
/// with such a socket is read again, and [`drop_closed`] keeps only those the
/// kernel still lists.
fn with_owners(read: Namespaces, resolver: &Mutex<OwnerState>, inside: &Inside, procfs: &Path, rootfs: &Path) -> Namespaces {
    if !inside.owners {
        return read;
    }
    let mut read = read;
    let wanted: HashSet<_> = read.views.iter().flat_map(|v| &v.sockets).map(|s| s.inode).filter(|i| *i != 0).collect();
    let looked = resolver.lock().unwrap_or_else(PoisonError::into_inner).look(&wanted);
    let (owners, processes) = match looked {
        Ok((resolution, processes)) => (resolution.owners, processes),
        Err(e) => return Namespaces { owners: Some(Err(e)), ..read },
    };
    let owned = |inode: u64| owners.get(&inode).is_some();
    let doubted: HashSet<u64> =
        read.views.iter().filter(|v| v.sockets.iter().any(|s| s.inode != 0 && !owned(s.inode))).map(|v| v.inode).collect();
    if !doubted.is_empty() {
        // Read after the look: a socket listed here was open when the look ran.
        if let Ok(again) = read_namespaces(procfs, rootfs, inside, Some(&doubted)) {
            drop_closed(&mut read.views, &owned, &again.views);
        }
    }
    Namespaces { owners: Some(Ok(ReadOwners { owners, processes })), ..read }
}

/// Drops the sockets that had no owner when the read looked and that a read
/// of their namespace made after the look (`again`) no longer lists: they
/// closed during the read, and kept they would show the port held by an
/// unknown program for as long as the read is served. A socket still listed
/// keeps no owner, as one that nobody holds (an orphan, a hidden owner) does
/// when read by a scrape; so does every socket of a namespace not read again.
fn drop_closed(views: &mut [NetnsView], owned: &dyn Fn(u64) -> bool, again: &[NetnsView]) {
    for v in views.iter_mut() {
        let Some(later) = again.iter().find(|a| a.inode == v.inode && a.error.is_none()) else { continue };
        let open: HashSet<u64> = later.sockets.iter().map(|s| s.inode).collect();
        v.sockets.retain(|s| s.inode == 0 || owned(s.inode) || open.contains(&s.inode));
    }
}

/// Reads every other namespace now, and warns of those that began failing.
fn read_all(shared: &Mutex<Shared>, procfs: &Path, rootfs: &Path, inside: &Inside) -> Result<Namespaces, String> {
    let read = read_namespaces(procfs, rootfs, inside, None)?;
    warn_new_failures(&mut lock(shared).warned, &read.views);
    Ok(read)
}

/// Reads every other namespace (`only`: those of these inodes) now.
fn read_namespaces(procfs: &Path, rootfs: &Path, inside: &Inside, only: Option<&HashSet<u64>>) -> Result<Namespaces, String> {
    let own_link = procfs.join("thread-self/ns/net");
    let own_link = if own_link.exists() { own_link } else { procfs.join("self/ns/net") };
    let own = ns_inode(&own_link, "net").ok_or_else(|| format!("reading {}", own_link.display()))?;
    let found = discover(procfs, rootfs, own)?;
    let omitted = found.len().saturating_sub(MAX_NAMESPACES);
    let list: Vec<Found> = found.into_values().take(MAX_NAMESPACES).filter(|f| only.is_none_or(|only| only.contains(&f.inode))).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let k = cores.min(MAX_READERS).min(list.len().div_ceil(NAMESPACES_PER_READER)).max(1);
    // Every k-th namespace to each reader.
    let shares: Vec<Vec<&Found>> = (0..k).map(|i| list.iter().skip(i).step_by(k).collect()).collect();
    let mut views: Vec<NetnsView> = std::thread::scope(|scope| {
        let started: Vec<_> = shares
            .iter()
            .map(|share| {
                let reader = std::thread::Builder::new().name("netns-reader".into());
                (share, reader.spawn_scoped(scope, move || share.iter().map(|f| read_one(f, procfs, inside)).collect::<Vec<_>>()))
            })
            .collect();
        // A reader that could not start or failed fails its own namespaces, not the others'.
        let failed = |share: &Vec<&Found>, why: String| -> Vec<NetnsView> {
            share.iter().map(|f| NetnsView { error: Some(why.clone()), failure: Some(NetnsFailure::ReadFailed), ..listed(f) }).collect()
        };
        started
            .into_iter()
            .flat_map(|(share, t)| match t {
                Ok(h) => h.join().unwrap_or_else(|_| failed(share, "its namespace reader failed".into())),
                Err(e) => failed(share, format!("starting a namespace reader: {e}")),
            })
            .collect()
    });
    views.sort_by_key(|v| v.inode);
    Ok(Namespaces { views, omitted, age: None, owners: None })
}

/// A namespace as listed, before it is read.
fn listed(f: &Found) -> NetnsView {
    NetnsView { inode: f.inode, name: f.name.clone(), processes: f.pids.len(), ..NetnsView::default() }
}

/// Reads one namespace on a reader thread, which is left inside it: the
/// thread ends with its share, and nothing else ever runs on it.
fn read_one(f: &Found, procfs: &Path, inside: &Inside) -> NetnsView {
    let mut view = listed(f);
    view.container = f.pids.iter().take(CONTAINER_PROBES).find_map(|pid| {
        let text = files::read_text(&procfs.join(pid.to_string()).join("cgroup"), cap::PROC_SMALL).ok()?;
        parse_cgroup_container(&text)
    });
    if let Err(Failed { reason, text }) = read_inside(f, procfs, inside, &mut view) {
        log::debug!(target: "portwatch_exporter::source", "network namespace {}: {text}", f.inode);
        view.error = Some(text);
        view.failure = Some(reason);
    }
    view
}

/// Why a namespace could not be read, and the detail. Any `String` error
/// (a read inside the namespace) is a [`NetnsFailure::ReadFailed`].
struct Failed {
    reason: NetnsFailure,
    text: String,
}

impl From<String> for Failed {
    fn from(text: String) -> Failed {
        Failed { reason: NetnsFailure::ReadFailed, text }
    }
}

/// Opening a namespace file: gone (the process exited, the file was
/// removed), refused, or another failure.
fn open_failure(e: &std::io::Error) -> NetnsFailure {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => NetnsFailure::Vanished,
        Some(libc::EACCES | libc::EPERM) => NetnsFailure::PermissionDenied,
        _ => NetnsFailure::EnterFailed,
    }
}

/// A file for the namespace as listed: its handle, or else the
/// `/proc/PID/ns/net` of another process found in it (the first may have
/// exited while others live on). The namespace may have gone since it was
/// listed: its files are then gone too, or name another namespace (an inode
/// taken again, a `/run/netns` name made anew).
fn open_listed(f: &Found, procfs: &Path) -> Result<File, Failed> {
    let others = f.pids.iter().take(CONTAINER_PROBES).map(|pid| procfs.join(pid.to_string()).join("ns/net"));
    let mut failures = Vec::new();
    for path in std::iter::once(f.handle.clone()).chain(others.filter(|p| *p != f.handle)) {
        match File::open(&path) {
            Ok(file) if file.metadata().map(|m| m.ino()).ok() == Some(f.inode) => return Ok(file),
            Ok(_) => failures.push((NetnsFailure::Vanished, format!("{} names another namespace now", path.display()))),
            Err(e) => failures.push((open_failure(&e), format!("opening {}: {e}", path.display()))),
        }
    }
    // A refusal says more than a file that is gone.
    let weight = |r: &NetnsFailure| match r {
        NetnsFailure::PermissionDenied => 2,
        NetnsFailure::EnterFailed => 1,
        _ => 0,
    };
    let reason = failures.iter().map(|(r, _)| *r).max_by_key(weight).unwrap_or(NetnsFailure::Vanished);
    let text = failures.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join("; ");
    Err(Failed { reason, text: if reason == NetnsFailure::Vanished { format!("the namespace vanished: {text}") } else { text } })
}

/// Joins the namespace (this thread only); classifies a failure.
fn enter_listed(handle: &File) -> Result<(), Failed> {
    super::sys::join_network_namespace(handle.as_raw_fd()).map_err(|e| {
        let reason = match e.raw_os_error() {
            Some(libc::EPERM) => NetnsFailure::PermissionDenied,
            // Not a namespace file any more: a /run/netns file unmounted after it was listed.
            Some(libc::EINVAL) => NetnsFailure::Vanished,
            _ => NetnsFailure::EnterFailed,
        };
        Failed { reason, text: format!("setns: {e}") }
    })
}

/// One warning for the namespaces that began failing in this run (not those
/// that vanished: that is churn, and the metrics say it), then none while
/// they keep failing; a namespace that recovers and fails again is warned of
/// again. Returns how many were warned of.
fn warn_new_failures(warned: &mut HashSet<u64>, views: &[NetnsView]) -> usize {
    let failing: Vec<&NetnsView> = views.iter().filter(|v| v.failure.is_some_and(|r| r != NetnsFailure::Vanished)).collect();
    warned.retain(|inode| failing.iter().any(|v| v.inode == *inode));
    let new: Vec<&&NetnsView> = failing.iter().filter(|v| !warned.contains(&v.inode)).collect();
    if let Some(first) = new.first() {
        log::warn!(
            target: "portwatch_exporter::source",
            "{} network namespace(s) could not be read (portwatch_netns_read_success 0, the reason on portwatch_netns_read_failure_info), e.g. {}: {}",
            new.len(),
            first.inode,
            first.error.as_deref().unwrap_or("")
        );
    }
    warned.extend(new.iter().map(|v| v.inode));
    new.len()
}

/// Enters the namespace (this reader thread only) and reads it.
fn read_inside(f: &Found, procfs: &Path, inside: &Inside, view: &mut NetnsView) -> Result<(), Failed> {
    let handle = open_listed(f, procfs)?;
    enter_listed(&handle)?;
    let (range, reserved) = sysctl::active(procfs).map_err(|e| e.to_string())?;
    // A sock_diag socket for this read only: kept, it would hold the
    // namespace (and a dead pod's interfaces) alive, and an fd per namespace.
    let reader = &mut SocketReader::new(procfs.to_path_buf());
    // TCP in one walk: the range count, the listeners and the watched ports' sockets.
    let census = reader.tcp_census(range, inside.tcp.as_deref())?;
    let plan = Plan { watched: inside.udp.clone(), range: Some(range), ..Plan::default() };
    let udp = reader.pass(SocketTable::Netlink, Protocol::Udp, &plan)?;
    view.in_use = Some(census.in_range.values().sum::<u64>() + udp.in_range.values().sum::<u64>());
    view.sockets = census.sockets;
    view.sockets.extend(udp.sockets);
    view.sockets.sort_unstable();
    view.listeners = census.listening.into_iter().collect();
    view.range = Some(range);
    view.reserved = Some(reserved);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn state(interval: Duration, procfs: &Path, rootfs: &Path) -> NetnsState {
        NetnsState::new(interval, OwnerState::new(procfs, rootfs))
    }

    /// A procfs whose `thread-self` is the real one, with processes whose
    /// `ns/net` links name namespaces that are gone by the time they are
    /// opened: the link reads `net:[N]` (as the kernel's does), but opening
    /// it finds nothing, or a file that is not namespace N.
    #[test]
    fn a_namespace_gone_between_listing_and_entering_is_vanished_and_the_run_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let procfs = dir.path().join("proc");
        std::fs::create_dir_all(&procfs).expect("procfs");
        symlink("/proc/thread-self", procfs.join("thread-self")).expect("thread-self");
        // 4242: its process exited (the link target resolves to nothing).
        std::fs::create_dir_all(procfs.join("4242/ns")).expect("ns");
        symlink("net:[4294967290]", procfs.join("4242/ns/net")).expect("link");
        // 4243: the file now names another namespace (another inode).
        std::fs::create_dir_all(procfs.join("4243/ns")).expect("ns");
        symlink("net:[4294967291]", procfs.join("4243/ns/net")).expect("link");
        std::fs::write(procfs.join("4243/ns/net:[4294967291]"), "").expect("file");
        // 4244 and 4245 share namespace 4294967292: 4244 is gone, 4245 names another too.
        for pid in ["4244", "4245"] {
            std::fs::create_dir_all(procfs.join(pid).join("ns")).expect("ns");
            symlink("net:[4294967292]", procfs.join(pid).join("ns/net")).expect("link");
        }
        std::fs::write(procfs.join("4245/ns/net:[4294967292]"), "").expect("file");

        let mut state = state(Duration::ZERO, &procfs, dir.path());
        let found = collect(&mut state, &procfs, dir.path(), &Watched::Nothing, true).expect("listing works; no namespace fails the run");
        let got: Vec<(u64, Option<NetnsFailure>)> = found.views.iter().map(|v| (v.inode, v.failure)).collect();
        let vanished = Some(NetnsFailure::Vanished);
        assert_eq!(got, [(4294967290, vanished), (4294967291, vanished), (4294967292, vanished)]);
        for v in &found.views {
            let text = v.error.as_deref().unwrap_or("");
            assert!(text.starts_with("the namespace vanished: "), "{text}");
            assert!(v.range.is_none() && v.in_use.is_none() && v.listeners.is_empty(), "nothing read, nothing said: {v:?}");
        }
        assert!(
            found.views[2].error.as_deref().is_some_and(|t| t.contains("4245/ns/net names another namespace")),
            "the second process was tried"
        );
        assert!(lock(&state.shared).warned.is_empty(), "a vanished namespace is not warned of");
    }

    /// `ip netns add` makes the file under /run/netns before it mounts the
    /// namespace there, `ip netns del` unmounts before it removes it: such a
    /// plain file is no namespace, and is not listed as one.
    #[test]
    fn a_plain_file_under_run_netns_is_no_namespace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let procfs = dir.path().join("proc");
        std::fs::create_dir_all(&procfs).expect("procfs");
        symlink("/proc/thread-self", procfs.join("thread-self")).expect("thread-self");
        symlink("/proc/self", procfs.join("self")).expect("self");
        std::fs::create_dir_all(dir.path().join("run/netns")).expect("run/netns");
        std::fs::write(dir.path().join("run/netns/half-made"), "").expect("file");
        let found =
            collect(&mut state(Duration::ZERO, &procfs, dir.path()), &procfs, dir.path(), &Watched::Nothing, false).expect("listing works");
        assert!(found.views.is_empty(), "{:?}", found.views);
        // Without a way to tell nsfs (no procfs self), the file is listed, and found to be no namespace.
        std::fs::remove_file(procfs.join("self")).expect("rm");
        let found =
            collect(&mut state(Duration::ZERO, &procfs, dir.path()), &procfs, dir.path(), &Watched::Nothing, false).expect("listing works");
        let got: Vec<_> = found.views.iter().map(|v| (v.name.as_deref(), v.failure)).collect();
        assert_eq!(got, [(Some("half-made"), Some(NetnsFailure::Vanished))], "{:?}", found.views);
    }

    /// With a refresh interval, a scrape serves the background reader's
    /// latest read (and says its age), unless it asks for other ports than
    /// that read listed: then it reads itself. Namespaces made meanwhile
    /// appear with the next background read.
    #[test]
    fn with_a_refresh_interval_scrapes_serve_the_background_read_of_the_same_ports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let procfs = dir.path().join("proc");
        std::fs::create_dir_all(&procfs).expect("procfs");
        symlink("/proc/thread-self", procfs.join("thread-self")).expect("thread-self");
        let add = |pid: u32, inode: u64| {
            std::fs::create_dir_all(procfs.join(pid.to_string()).join("ns")).expect("ns");
            symlink(format!("net:[{inode}]"), procfs.join(pid.to_string()).join("ns/net")).expect("link");
        };
        let inodes = |n: &Namespaces| n.views.iter().map(|v| v.inode).collect::<Vec<_>>();
        let port80 = Watched::Ports { ports: Some(vec![(Protocol::Tcp, 80)]), also: Vec::new(), ranges: Vec::new() };
        add(4242, 4294967280);

        let mut every = state(Duration::ZERO, &procfs, dir.path());
        let first = collect(&mut every, &procfs, dir.path(), &Watched::Nothing, true).expect("listing works");
        assert_eq!((inodes(&first), first.age), (vec![4294967280], None));
        assert!(first.owners.is_none(), "no interval: the owners collector resolves them");
        assert!(!lock(&every.shared).refreshing, "no interval: no background reader");

        let mut state = state(Duration::from_secs(1), &procfs, dir.path());
        let first = collect(&mut state, &procfs, dir.path(), &Watched::Nothing, true).expect("listing works");
        assert_eq!((inodes(&first), first.age), (vec![4294967280], None), "nothing read yet: this scrape reads");
        assert!(matches!(first.owners, Some(Ok(_))), "a read served later resolves its own owners: {:?}", first.owners);
        assert!(lock(&state.shared).refreshing);
        let added = Instant::now();
        add(4243, 4294967281);
        let served = collect(&mut state, &procfs, dir.path(), &Watched::Nothing, true).expect("served");
        let age = served.age.expect("the same ports: the latest read is served");
        if age > added.elapsed() {
            assert_eq!(inodes(&served), vec![4294967280], "read before the namespace was made");
        }
        let other = collect(&mut state, &procfs, dir.path(), &port80, true).expect("read");
        assert_eq!((inodes(&other), other.age), (vec![4294967280, 4294967281], None), "other ports: read at once");
        let back = collect(&mut state, &procfs, dir.path(), &Watched::Nothing, true).expect("read");
        assert_eq!(back.age, None, "the latest read listed port 80, not the listeners");

        add(4244, 4294967282);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = collect(&mut state, &procfs, dir.path(), &Watched::Nothing, true).expect("served");
            if n.age.is_some() && inodes(&n).contains(&4294967282) {
                assert!(n.age < Some(max_age(Duration::from_secs(1))), "{:?}", n.age);
                break;
            }
            assert!(Instant::now() < deadline, "the background reader never read the new namespace");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Generated views: sockets with and without owners, some still listed
    /// by a later read of their namespace, some namespaces not read again or
    /// failing then. Each socket is kept exactly when it had an owner, has no
    /// inode (TIME_WAIT, orphans: never doubted), the later read lists it,
    /// or its namespace has no successful later read; nothing new is added.
    #[test]
    fn sockets_without_owner_are_dropped_only_when_a_later_read_no_longer_lists_them() {
        use crate::model::{Family, SockState, Socket};
        let mut rng = crate::testing::Rng::from_env("PORTWATCH_TEST_SEED", 0x15_d0c1);
        for case in 0..300 {
            let sock = |inode: u64| Socket {
                protocol: Protocol::Tcp,
                family: Family::Ipv4,
                local: std::net::Ipv4Addr::LOCALHOST.into(),
                port: 8080,
                state: if inode == 0 { SockState::TimeWait } else { SockState::Listen },
                inode,
            };
            let mut views = Vec::new();
            let mut again = Vec::new();
            let mut owned_set = HashSet::new();
            let mut expect = Vec::new();
            for ns in 0..1 + rng.below(4) {
                let (mut sockets, mut later) = (Vec::new(), Vec::new());
                let reread = rng.below(3); // 0: not read again, 1: failed, 2: read
                let mut kept = Vec::new();
                for i in 0..rng.below(6) {
                    let inode = if rng.below(5) == 0 { 0 } else { 1000 * (ns + 1) + i };
                    let owned = inode != 0 && rng.below(2) == 0;
                    let listed = rng.below(2) == 0;
                    if owned {
                        owned_set.insert(inode);
                    }
                    if listed && inode != 0 {
                        later.push(sock(inode));
                    }
                    sockets.push(sock(inode));
                    if inode == 0 || owned || listed || reread != 2 {
                        kept.push(inode);
                    }
                }
                later.push(sock(999_000 + ns)); // opened after the look: never added
                views.push(NetnsView { inode: ns, sockets, ..NetnsView::default() });
                match reread {
                    1 => again.push(NetnsView { inode: ns, error: Some("gone".into()), ..NetnsView::default() }),
                    2 => again.push(NetnsView { inode: ns, sockets: later, ..NetnsView::default() }),
                    _ => {}
                }
                expect.push(kept);
            }
            drop_closed(&mut views, &|i| owned_set.contains(&i), &again);
            let got: Vec<Vec<u64>> = views.iter().map(|v| v.sockets.iter().map(|s| s.inode).collect()).collect();
            assert_eq!(got, expect, "case {case}");
        }
    }

    #[test]
    fn a_failing_namespace_is_warned_of_once_while_it_keeps_failing() {
        let failing = |inode: u64, failure: NetnsFailure| NetnsView {
            inode,
            error: Some("e".into()),
            failure: Some(failure),
            ..NetnsView::default()
        };
        let ok = |inode: u64| NetnsView { inode, ..NetnsView::default() };
        let mut warned = HashSet::new();
        let run = vec![
            failing(1, NetnsFailure::PermissionDenied),
            failing(2, NetnsFailure::ReadFailed),
            failing(3, NetnsFailure::Vanished),
            ok(4),
        ];
        assert_eq!(warn_new_failures(&mut warned, &run), 2, "the denied and the unreadable one; not the vanished one");
        assert_eq!(warn_new_failures(&mut warned, &run), 0, "still failing: no new warning");
        let run = vec![ok(1), failing(2, NetnsFailure::ReadFailed), failing(4, NetnsFailure::EnterFailed)];
        assert_eq!(warn_new_failures(&mut warned, &run), 1, "only 4 is new");
        let run = vec![failing(1, NetnsFailure::PermissionDenied)];
        assert_eq!(warn_new_failures(&mut warned, &run), 1, "1 recovered in between, so failing again is news");
    }
}
