//! The OS seam for reading the host: picks the OS source with `cfg` (as
//! `platform` does for process-level glue). Everything outside `source/` and
//! `platform/` is OS-free.

mod collector;

use crate::model::{CollectorName, CollectorSet, Os, PortRange, Protocol, Snapshot, Store};
pub(crate) use collector::{Collector, Run};
use std::path::PathBuf;
use std::time::Instant;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
use linux::LinuxSource as Inner;

#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
use windows::WindowsSource as Inner;

#[cfg(any(target_os = "macos", target_os = "freebsd"))]
mod bsd;
#[cfg(any(target_os = "macos", target_os = "freebsd"))]
use bsd::BsdSource as Inner;

#[cfg(not(any(target_os = "linux", windows, target_os = "macos", target_os = "freebsd")))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows, target_os = "macos", target_os = "freebsd")))]
use unsupported::Unsupported as Inner;

/// Sockets from full (socket, pid) tables: every OS but Linux lists them so.
#[cfg_attr(target_os = "linux", allow(dead_code))]
mod table;

/// Sockets in the dynamic range by destination: Linux's dumps carry the peer.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod destinations;

/// Where the source reads from; tests and containers point these elsewhere.
#[derive(Debug, Clone)]
pub struct Paths {
    pub procfs: PathBuf,
    pub rootfs: PathBuf,
    /// The tool that applies sysctl.d at the next boot; None: detect it from the rootfs.
    pub boot_applier: Option<crate::boot::Applier>,
    /// Linux, `netns` collector: read the other namespaces in the background
    /// this often, and serve the latest read; zero: every scrape reads them.
    pub netns_refresh: std::time::Duration,
}

/// What one scrape asks of the source.
#[derive(Debug, Clone)]
pub struct Request {
    /// The watched (protocol, port) pairs; None: discover TCP listeners.
    pub ports: Option<Vec<(Protocol, u16)>>,
    /// Discovery only (`ports` None): ports watched besides the TCP
    /// listeners, whoever holds them (the learned baseline's ports, so a
    /// client's socket on a learned port is seen after a reboot).
    pub also: Vec<(Protocol, u16)>,
    /// Watched ranges: every socket on one of their ports is listed too (the
    /// kernel filter takes each range as one comparison, never port by port).
    pub ranges: Vec<(Protocol, PortRange)>,
    /// The collectors this scrape runs (the flags' set, or a `collect[]`
    /// subset of it). A source skips the others, or, when one it runs needs
    /// their data (the ephemeral count needs the active range), reads it
    /// without reporting it: a collector not asked for has no status and no
    /// series.
    pub collectors: CollectorSet,
    /// Where socket tables come from.
    pub table: SocketTable,
    /// The busiest destinations of the ephemeral count to keep (`--collector.ephemeral.destinations`); 0: none.
    pub destinations: usize,
    /// Collectors not done by then report failure; the scrape answers anyway.
    pub deadline: Instant,
}

/// How sockets are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketTable {
    /// NETLINK_SOCK_DIAG with kernel-side filters (Linux): the fast path.
    Netlink,
    /// Text tables under --path.procfs (`net/tcp`, ...): reads every socket
    /// on each scrape; for hosts without sock_diag, and for fixture trees.
    Procfs,
}

impl SocketTable {
    pub const ALL: [SocketTable; 2] = [SocketTable::Netlink, SocketTable::Procfs];
    pub fn as_str(self) -> &'static str {
        match self {
            SocketTable::Netlink => "netlink",
            SocketTable::Procfs => "procfs",
        }
    }

    /// One line for --help.
    pub fn help(self) -> &'static str {
        match self {
            SocketTable::Netlink => "NETLINK_SOCK_DIAG with kernel-side filters (Linux): the fast path",
            SocketTable::Procfs => {
                "Text tables under --path.procfs (`net/tcp`, ...): reads every socket on each scrape; for hosts without sock_diag, and for fixture trees"
            }
        }
    }
}

impl Request {
    /// Whether this scrape runs the named collector.
    pub fn wants(&self, name: CollectorName) -> bool {
        self.collectors.contains(name)
    }
}

/// The contract every OS source fulfils. Its collectors run through
/// [`Run`], which gives each its own thread, lock and the scrape's deadline,
/// and records how each fared; what a collector could not read stays out of
/// the snapshot.
pub trait OsSource: Send + Sized {
    /// The OS: it names the collectors the source runs
    /// ([`CollectorName::for_os`], each reported once per scrape but those
    /// the request does not want, see [`Request::wants`]), and the remedies
    /// and hints that `check` prints.
    const OS: Os;
    fn new(paths: Paths) -> Self;
    /// Fills `run`'s snapshot for one scrape.
    fn collect(&mut self, run: &mut Run, req: &Request);
    /// Forgets cached state (after a config reload).
    fn reset(&mut self) {}
}

/// The OS this build reads.
pub const OS: Os = <Inner as OsSource>::OS;

/// The collectors this build runs.
pub fn collectors() -> &'static [CollectorName] {
    CollectorName::for_os(OS)
}

/// The host's source of sockets, owners and ranges.
pub struct Source {
    inner: Inner,
}

impl Source {
    pub fn new(paths: Paths) -> Source {
        Source { inner: Inner::new(paths) }
    }

    pub fn snapshot(&mut self, req: &Request) -> Snapshot {
        let wanted: CollectorSet = collectors().iter().copied().filter(|c| req.wants(*c)).collect();
        let mut run = Run::new(req.deadline, wanted);
        self.inner.collect(&mut run, req);
        if wanted.contains(CollectorName::Nodeport) {
            // It reads nothing itself: it succeeds when the active range it assesses the NodePort range against was read.
            let known =
                run.snap.ranges.iter().any(|((_, _, store), v)| *store == Store::Active && v.range.is_some() && v.excluded.is_some());
            let why = "no active dynamic range and reserved ports to assess it against (the sysctl or netsh collector is off or failed)";
            run.record(CollectorName::Nodeport, known, why);
        }
        run.snap.disabled = collectors().iter().copied().filter(|c| !wanted.contains(*c)).collect();
        run.finish(collectors().iter().copied().filter(|c| wanted.contains(*c)))
    }

    pub fn reset(&mut self) {
        self.inner.reset();
    }
}
