//! macOS and FreeBSD: the dynamic range from `net.inet.ip.portrange.first`
//! and `.last` through sysctlbyname(3) (no exec); the persistent value from
//! `/etc/sysctl.conf` under the rootfs, else the kernel default. These
//! systems have no reservation list, so nothing is ever excluded and the
//! only remedy is moving the range. Sockets and owners (libproc on macOS,
//! the pcblist sysctls on FreeBSD) are not implemented yet: the `sockets`
//! collector reports failure rather than an empty answer.

use super::{Collector, Paths, Request};
use crate::model::{Family, PortRange, PortSet, Protocol, RangeView, Snapshot, Store};
use crate::parse::bsd_sysctl::parse_portrange;
use std::path::PathBuf;

/// The kernel's default when /etc/sysctl.conf sets nothing.
#[cfg(target_os = "macos")]
const DEFAULT_RANGE: PortRange = PortRange { start: 49152, end: 65535 };
#[cfg(not(target_os = "macos"))]
const DEFAULT_RANGE: PortRange = PortRange { start: 10000, end: 65535 };

fn sysctl_port(name: &str) -> Result<u16, String> {
    let c = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: v is a c_int and len its size; no new value is set.
    let rc = unsafe { libc::sysctlbyname(c.as_ptr(), (&mut v as *mut libc::c_int).cast(), &mut len, std::ptr::null_mut(), 0) };
    if rc != 0 {
        return Err(format!("sysctl {name}: {}", std::io::Error::last_os_error()));
    }
    u16::try_from(v).map_err(|_| format!("sysctl {name}: {v} is not a port"))
}

pub struct BsdSource {
    rootfs: PathBuf,
    sysctl: Collector<()>,
    sysctl_conf: Collector<()>,
}

fn all(snap: &mut Snapshot, store: Store, range: PortRange) {
    for p in Protocol::ALL {
        for f in Family::ALL {
            snap.ranges.insert((p, f, store), RangeView { range: Some(range), excluded: Some(PortSet::default()), system_excluded: None });
        }
    }
}

impl BsdSource {
    pub fn new(paths: Paths) -> BsdSource {
        BsdSource { rootfs: paths.rootfs, sysctl: Collector::new("sysctl", ()), sysctl_conf: Collector::new("sysctl_conf", ()) }
    }

    pub fn reset(&mut self) {}

    pub fn snapshot(&mut self, req: &Request) -> Snapshot {
        let mut snap = Snapshot::default();
        let conf = self.rootfs.join("etc/sysctl.conf");
        let persistent = self.sysctl_conf.spawn(move |_| match std::fs::read_to_string(&conf) {
            Ok(text) => Ok(parse_portrange(&text).dynamic().unwrap_or(DEFAULT_RANGE)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DEFAULT_RANGE),
            Err(e) => Err(format!("reading {}: {e}", conf.display())),
        });
        let active = self.sysctl.run(&mut snap.collectors, req.deadline, |_| {
            let (a, b) = (sysctl_port("net.inet.ip.portrange.first")?, sysctl_port("net.inet.ip.portrange.last")?);
            Ok(PortRange { start: a.min(b), end: a.max(b) })
        });
        if let Some(r) = active {
            all(&mut snap, Store::Active, r);
        }
        if let Some(r) = persistent.wait(&mut snap.collectors, req.deadline) {
            all(&mut snap, Store::Persistent, r);
        }
        Collector::<()>::record(&mut snap.collectors, "sockets", false, "socket and owner listing is not implemented on this OS yet");
        snap
    }
}
