//! The `netns` collector: every network namespace on the host other than the
//! exporter's own, found through `/proc/PID/ns/net` (deduplicated by inode)
//! and the named ones under `/run/netns`, each read from inside it.
//!
//! Entering: the collector's run has a thread of its own, started for that
//! run and ended with it (`source::collector`), so the setns(2) calls here
//! never move a thread that anything else uses; the thread returns to the
//! exporter's namespace before it ends all the same. Inside a namespace it
//! reads the namespace's own `ip_local_port_range` and
//! `ip_local_reserved_ports` (a net sysctl shows the namespace of the task
//! that opens it) and dumps its sockets through a sock_diag socket opened
//! there (a netlink socket stays in the namespace it was made in). Each
//! namespace's socket reader is kept between scrapes and dropped when the
//! namespace is gone.
//!
//! Sockets always come from sock_diag here: `/proc/net` follows the process's
//! first thread, not the thread that entered the namespace.

use super::sockets::SocketReader;
use super::{sockets_pass, sysctl, Watched};
use crate::model::{NetnsView, Pid, Protocol};
use crate::parse::container::parse_cgroup_container;
use crate::platform::files::{self, cap};
use crate::source::SocketTable;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Most namespaces read per scrape; the rest are counted.
pub const MAX_NAMESPACES: usize = 1024;
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

/// The namespace's inode from a `net:[4026531840]` link.
fn ns_inode(link: &Path) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    let t = target.to_str()?;
    t.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// Every namespace but `own`, by inode, in inode order.
fn discover(procfs: &Path, rootfs: &Path, own: u64) -> Result<BTreeMap<u64, Found>, String> {
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    let entries = std::fs::read_dir(procfs).map_err(|e| format!("listing {}: {e}", procfs.display()))?;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<Pid>().ok()) else { continue };
        let link = entry.path().join("ns/net");
        let Some(inode) = ns_inode(&link) else { continue };
        if inode == own {
            continue;
        }
        found.entry(inode).or_insert_with(|| Found { inode, handle: link.clone(), pids: Vec::new(), name: None }).pids.push(pid);
    }
    // Named namespaces (ip netns add) may have no process at all.
    if let Ok(named) = std::fs::read_dir(rootfs.join("run/netns")) {
        for entry in named.flatten() {
            let (Some(name), Ok(meta)) = (entry.file_name().to_str().map(str::to_string), entry.metadata()) else { continue };
            if meta.ino() == own {
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

/// Joins the namespace behind `handle` (this thread only).
fn enter(handle: &File) -> Result<(), String> {
    super::sys::join_network_namespace(handle.as_raw_fd()).map_err(|e| format!("setns: {e}"))
}

/// The collector's state: a socket reader per namespace, opened inside it.
pub struct NetnsState {
    readers: HashMap<u64, SocketReader>,
}

impl NetnsState {
    pub fn new() -> NetnsState {
        NetnsState { readers: HashMap::new() }
    }
}

/// What one run found: the namespaces read, and how many were left out.
pub struct Namespaces {
    pub views: Vec<NetnsView>,
    pub omitted: usize,
}

/// Reads every other namespace. Fails as a whole only when the namespaces
/// cannot be listed or the thread cannot come back to its own; a namespace
/// that cannot be entered or read carries its own error.
/// `watched` is what the host's pass lists, applied inside each namespace
/// (without a config file: each namespace's own TCP listeners).
pub fn collect(state: &mut NetnsState, procfs: &Path, rootfs: &Path, watched: &Watched) -> Result<Namespaces, String> {
    let own_link = procfs.join("thread-self/ns/net");
    let own_link = if own_link.exists() { own_link } else { procfs.join("self/ns/net") };
    let own = ns_inode(&own_link).ok_or_else(|| format!("reading {}", own_link.display()))?;
    let home = File::open(&own_link).map_err(|e| format!("opening {}: {e}", own_link.display()))?;
    let found = discover(procfs, rootfs, own)?;
    let omitted = found.len().saturating_sub(MAX_NAMESPACES);
    state.readers.retain(|inode, _| found.contains_key(inode));
    let mut views = Vec::new();
    let mut moved = false;
    for f in found.into_values().take(MAX_NAMESPACES) {
        let mut view = NetnsView { inode: f.inode, name: f.name.clone(), processes: f.pids.len(), ..NetnsView::default() };
        view.container = f.pids.iter().take(CONTAINER_PROBES).find_map(|pid| {
            let text = files::read_text(&procfs.join(pid.to_string()).join("cgroup"), cap::PROC_SMALL).ok()?;
            parse_cgroup_container(&text)
        });
        if let Err(e) = read_inside(&f, procfs, state, watched, &mut view, &mut moved) {
            log::debug!(target: "portwatch_exporter::source", "network namespace {}: {e}", f.inode);
            state.readers.remove(&f.inode);
            view.error = Some(e);
        }
        views.push(view);
    }
    if moved {
        enter(&home).map_err(|e| format!("returning to the exporter's own namespace: {e}"))?;
    }
    Ok(Namespaces { views, omitted })
}

/// Enters the namespace (`moved` says this thread left its own) and reads it.
fn read_inside(
    f: &Found,
    procfs: &Path,
    state: &mut NetnsState,
    watched: &Watched,
    view: &mut NetnsView,
    moved: &mut bool,
) -> Result<(), String> {
    let handle = File::open(&f.handle).map_err(|e| format!("opening {}: {e}", f.handle.display()))?;
    // The namespace may have gone since it was listed: its file is then gone too, or names another.
    if handle.metadata().map(|m| m.ino()).ok() != Some(f.inode) {
        return Err("the namespace vanished while it was read".into());
    }
    enter(&handle)?;
    *moved = true;
    let (range, reserved) = sysctl::active(procfs).map_err(|e| e.to_string())?;
    let reader = state.readers.entry(f.inode).or_insert_with(|| SocketReader::new(procfs.to_path_buf()));
    let listeners: Vec<u16> = reader.listening_ports(SocketTable::Netlink)?.into_iter().collect();
    // The watched ports (without a config file: the namespace's own
    // listeners); watched ranges are the host's alone.
    let inside = match watched {
        Watched::Ports { ports, .. } => {
            let ports = ports.clone().unwrap_or_else(|| listeners.iter().map(|p| (Protocol::Tcp, *p)).collect());
            Watched::Ports { ports: Some(ports), also: Vec::new(), ranges: Vec::new() }
        }
        Watched::Nothing => Watched::Nothing,
    };
    let pass = sockets_pass(reader, inside, SocketTable::Netlink, Some(range), 0)?;
    view.sockets = pass.sockets;
    view.listeners = listeners;
    view.range = Some(range);
    view.reserved = Some(reserved);
    view.in_use = Some(pass.in_range.values().sum());
    Ok(())
}
