//! macOS and FreeBSD: the dynamic range from `net.inet.ip.portrange.first`
//! and `.last`, and the IP_PORTRANGE_HIGH range from `.hifirst` and
//! `.hilast`, through sysctlbyname(3) (no exec); the persistent values from
//! `/etc/sysctl.conf` under the rootfs, each key it does not set taking the
//! kernel default. These
//! systems have no reservation list, so nothing is ever excluded and the
//! only remedy is moving the range.
//!
//! Sockets and owners (`sys`): on macOS each process's socket descriptors
//! through libproc (`parse::proc_info`), so a socket no process holds
//! (TIME_WAIT) is not seen; on FreeBSD the kernel's socket tables and its
//! descriptor table, as sockstat reads them (`parse::pcblist`).

#[cfg(target_os = "freebsd")]
#[path = "freebsd.rs"]
mod sys;
#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod sys;

use super::{Collector, OsSource, Paths, Request, Run};
use crate::model::{CollectorName, Os, Pid, PortSet, RangeView, Snapshot, Socket, Store};
use crate::parse::bsd_sysctl::{parse_portrange, PortRangeKeys};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every TCP/UDP socket the exporter could see, once per holding process
/// (pid 0: no holder seen), with the socket's kernel address as `inode`.
pub(crate) struct Walk {
    pub rows: Vec<(Socket, Pid)>,
    /// Processes (or, on FreeBSD, users) whose descriptors are hidden from
    /// the exporter for lack of rights; owners are then not fully resolvable.
    pub denied: usize,
}

/// The user name of a uid, or the number when none is known.
pub(crate) fn user_name(uid: libc::uid_t) -> String {
    // SAFETY: passwd is plain data (integers and pointers); all-zero is a
    // valid value that getpwuid_r overwrites.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: pw, buf and out are valid for the call; buf's length is passed.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() || pw.pw_name.is_null() {
        return uid.to_string();
    }
    // SAFETY: on success pw_name points at a NUL-terminated string in buf.
    unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned()
}

/// The kernel's defaults for what /etc/sysctl.conf does not set.
#[cfg(target_os = "macos")]
const DEFAULTS: PortRangeKeys = PortRangeKeys { first: Some(49152), last: Some(65535), hifirst: Some(49152), hilast: Some(65535) };
#[cfg(not(target_os = "macos"))]
const DEFAULTS: PortRangeKeys = PortRangeKeys { first: Some(10000), last: Some(65535), hifirst: Some(49152), hilast: Some(65535) };

/// An integer sysctl, by name.
pub(crate) fn sysctl_int(name: &str) -> Result<libc::c_int, String> {
    let c = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: v is a c_int and len its size; no new value is set.
    let rc = unsafe { libc::sysctlbyname(c.as_ptr(), (&mut v as *mut libc::c_int).cast(), &mut len, std::ptr::null_mut(), 0) };
    if rc != 0 {
        return Err(format!("sysctl {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(v)
}

fn sysctl_port(name: &str) -> Result<u16, String> {
    let v = sysctl_int(name)?;
    u16::try_from(v).map_err(|_| format!("sysctl {name}: {v} is not a port"))
}

pub struct BsdSource {
    rootfs: PathBuf,
    sysctl: Collector<()>,
    sysctl_conf: Collector<()>,
    sockets: Collector<()>,
    owners: Collector<()>,
}

/// One view for every (protocol, family): BSD has one range for all, and no exclusions.
fn all(snap: &mut Snapshot, store: Store, keys: PortRangeKeys) {
    let view = RangeView { range: keys.dynamic(), excluded: Some(PortSet::default()), system_excluded: None, high: keys.high() };
    snap.set_range_everywhere(store, view);
}

impl OsSource for BsdSource {
    #[cfg(target_os = "macos")]
    const OS: Os = Os::Macos;
    #[cfg(not(target_os = "macos"))]
    const OS: Os = Os::Freebsd;

    fn new(paths: Paths) -> BsdSource {
        BsdSource {
            rootfs: paths.rootfs,
            sysctl: Collector::new(CollectorName::Sysctl, ()),
            sysctl_conf: Collector::new(CollectorName::SysctlConf, ()),
            sockets: Collector::new(CollectorName::Sockets, ()),
            owners: Collector::new(CollectorName::Owners, ()),
        }
    }

    fn collect(&mut self, run: &mut Run, req: &Request) {
        let conf = self.rootfs.join("etc/sysctl.conf");
        let persistent = self.sysctl_conf.spawn(move |_| match std::fs::read_to_string(&conf) {
            Ok(text) => Ok(parse_portrange(&text).or(DEFAULTS)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DEFAULTS),
            Err(e) => Err(format!("reading {}: {e}", conf.display())),
        });
        let walk = self.sockets.spawn(|_| sys::walk());
        let active = run.run(&self.sysctl, |_| {
            let key = |k: &str| sysctl_port(&format!("net.inet.ip.portrange.{k}")).map(Some);
            Ok(PortRangeKeys { first: key("first")?, last: key("last")?, hifirst: key("hifirst")?, hilast: key("hilast")? })
        });
        if let Some(r) = active {
            all(&mut run.snap, Store::Active, r);
        }
        if let Some(r) = run.wait(persistent) {
            all(&mut run.snap, Store::Persistent, r);
        }
        let walk = run.wait(walk);
        let denied = walk.as_ref().map(|w| w.denied);
        if let Some(d) = denied.filter(|d| *d > 0) {
            log::debug!("owners hidden from the exporter ({d} processes, or other users' on FreeBSD): run as root to see every owner");
        }
        let pids = super::table::fill(run, req, walk.map(|w| w.rows));
        let processes = run.run(&self.owners, move |_| {
            Ok(pids.into_iter().filter_map(|pid| sys::process(pid).map(|p| (pid, p))).collect::<BTreeMap<_, _>>())
        });
        run.snap.owners_resolvable = denied == Some(0) && processes.is_some();
        run.snap.processes = processes.unwrap_or_default();
    }
}
