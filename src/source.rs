//! The OS seam: the only module that picks an OS with `cfg`. Everything
//! outside `source/` is OS-free.

use crate::model::{CollectorStatus, Protocol, Snapshot};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
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

/// Where the source reads from; tests and containers point these elsewhere.
#[derive(Debug, Clone)]
pub struct Paths {
    pub procfs: PathBuf,
    pub rootfs: PathBuf,
    /// The tool that applies sysctl.d at the next boot; None: detect it from the rootfs.
    pub boot_applier: Option<crate::boot::Applier>,
}

/// What one scrape asks of the source.
#[derive(Debug, Clone)]
pub struct Request {
    /// The watched (protocol, port) pairs; None: discover TCP listeners.
    pub ports: Option<Vec<(Protocol, u16)>>,
    /// Count sockets in the dynamic range (a full dump: the costly part).
    pub ephemeral: bool,
    /// Where socket tables come from.
    pub table: SocketTable,
    /// Collectors not done by then report failure; the scrape answers anyway.
    pub deadline: Instant,
}

/// How sockets are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SocketTable {
    /// NETLINK_SOCK_DIAG with kernel-side filters (Linux): the fast path.
    Netlink,
    /// Text tables under --path.procfs (`net/tcp`, ...): reads every socket
    /// on each scrape; for hosts without sock_diag, and for fixture trees.
    Procfs,
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
        self.inner.snapshot(req)
    }
    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

/// One collector: a name and its state behind a lock of its own. Each run
/// happens on a helper thread, waited for until the scrape's deadline; a run
/// that overstays is reported as failed and keeps its lock until it returns,
/// so the next scrape finds the collector busy instead of piling up threads.
pub(crate) struct Collector<S> {
    name: &'static str,
    state: Arc<Mutex<S>>,
}

/// What a collector produced, and whether it fully succeeded.
type Partial<T> = (Option<T>, Result<(), String>);

impl<S: Send + 'static> Collector<S> {
    pub(crate) fn new(name: &'static str, state: S) -> Collector<S> {
        Collector { name, state: Arc::new(Mutex::new(state)) }
    }

    /// Changes the state unless a run holds it.
    #[allow(dead_code)]
    pub(crate) fn with_state(&self, f: impl FnOnce(&mut S)) {
        match self.state.try_lock() {
            Ok(mut s) => f(&mut s),
            Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
            Err(TryLockError::WouldBlock) => log::warn!("collector {} is busy; its state was not reset", self.name),
        }
    }

    pub(crate) fn record(status: &mut Vec<CollectorStatus>, name: &'static str, success: bool, why: &str) {
        if !success {
            log::warn!("collector {name} failed: {why}");
        }
        status.push(CollectorStatus { name, success, duration: std::time::Duration::ZERO });
    }

    /// Starts a collector that may produce data and still report failure.
    pub(crate) fn spawn_partial<T: Send + 'static>(&self, f: impl FnOnce(&mut S) -> Partial<T> + Send + 'static) -> Pending<T> {
        let state = self.state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name(format!("collector-{}", self.name)).spawn(move || {
            let out = match state.try_lock() {
                Ok(mut s) => f(&mut s),
                Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
                Err(TryLockError::WouldBlock) => (None, Err("still busy with an earlier scrape (a read stuck in the kernel?)".to_string())),
            };
            let _ = tx.send(out);
        });
        Pending { name: self.name, start: Instant::now(), rx: spawned.map(|_| rx).map_err(|e| format!("starting a thread: {e}")) }
    }

    /// Starts a collector that either produces its data or fails.
    pub(crate) fn spawn<T: Send + 'static>(&self, f: impl FnOnce(&mut S) -> Result<T, String> + Send + 'static) -> Pending<T> {
        self.spawn_partial(move |s| match f(s) {
            Ok(v) => (Some(v), Ok(())),
            Err(e) => (None, Err(e)),
        })
    }

    /// Runs a collector that either produces its data or fails.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        status: &mut Vec<CollectorStatus>,
        deadline: Instant,
        f: impl FnOnce(&mut S) -> Result<T, String> + Send + 'static,
    ) -> Option<T> {
        self.spawn(f).wait(status, deadline)
    }
}

/// A collector run in progress.
pub(crate) struct Pending<T> {
    name: &'static str,
    start: Instant,
    rx: Result<std::sync::mpsc::Receiver<Partial<T>>, String>,
}

impl<T> Pending<T> {
    /// Waits until `until` at the latest and records how the collector fared.
    pub(crate) fn wait(self, status: &mut Vec<CollectorStatus>, until: Instant) -> Option<T> {
        let (value, result) = match self.rx {
            Err(e) => (None, Err(e)),
            Ok(rx) => {
                rx.recv_timeout(until.saturating_duration_since(Instant::now())).unwrap_or_else(|_| (None, Err("timed out".to_string())))
            }
        };
        if let Err(e) = &result {
            log::warn!("collector {} failed: {e}", self.name);
        }
        status.push(CollectorStatus { name: self.name, success: result.is_ok(), duration: self.start.elapsed() });
        value
    }
}
