//! The OS seam: the only module that picks an OS with `cfg`. Everything
//! outside `source/` is OS-free.

use crate::model::{CollectorStatus, Protocol, Snapshot};
use std::path::PathBuf;
use std::time::Instant;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
use linux::LinuxSource as Inner;

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
use unsupported::Unsupported as Inner;

/// Where the source reads from; tests and containers point these elsewhere.
#[derive(Debug, Clone)]
pub struct Paths {
    pub procfs: PathBuf,
    pub rootfs: PathBuf,
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

/// Runs one collector, recording its success and duration.
pub(crate) fn timed(status: &mut Vec<CollectorStatus>, name: &'static str, f: impl FnOnce() -> Result<(), String>) {
    let start = Instant::now();
    let result = f();
    if let Err(e) = &result {
        log::debug!("collector {name} failed: {e}");
    }
    status.push(CollectorStatus { name, success: result.is_ok(), duration: start.elapsed() });
}
