//! FreeBSD system calls, and all `unsafe` of its source, as sockstat(1)
//! reads them: the socket tables `net.inet.tcp.pcblist` and
//! `net.inet.udp.pcblist` (every socket, TIME_WAIT included, with its TCP
//! state), the descriptor table `kern.file` (which process holds which
//! socket), and a process's name, uid and path (`kern.proc.pid`,
//! `kern.proc.pathname`). Parsed by `parse::pcblist`.

use super::Walk;
use crate::model::{Pid, Process, Protocol};
use crate::parse::pcblist::{parse_pcblist, parse_xfiles};
use std::collections::HashMap;
use std::io;

/// Reads a sysctl whose size may change between the probe and the read.
fn read(call: impl Fn(*mut libc::c_void, &mut libc::size_t) -> libc::c_int) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let mut len: libc::size_t = 0;
        if call(std::ptr::null_mut(), &mut len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let want = len + len / 4 + 4096;
        // u64 storage keeps the records 8-aligned, as the kernel packs them.
        let mut buf = vec![0u64; want.div_ceil(8)];
        let mut got = buf.len() * 8;
        if call(buf.as_mut_ptr().cast(), &mut got) == 0 {
            return Ok(buf.iter().flat_map(|w| w.to_ne_bytes()).take(got).collect());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
    }
    Err(io::Error::other("the table kept growing"))
}

fn by_name(name: &str) -> Result<Vec<u8>, String> {
    let c = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: `out` has `len` writable bytes (or is null for the size probe); no new value is set.
    read(|out, len| unsafe { libc::sysctlbyname(c.as_ptr(), out, len, std::ptr::null(), 0) }).map_err(|e| format!("sysctl {name}: {e}"))
}

fn by_mib(mib: &[libc::c_int]) -> io::Result<Vec<u8>> {
    // SAFETY: as in by_name.
    read(|out, len| unsafe { libc::sysctl(mib.as_ptr(), mib.len() as libc::c_uint, out, len, std::ptr::null(), 0) })
}

/// Whether other users' descriptors are visible: always to root, else
/// unless `security.bsd.see_other_uids` is 0.
fn sees_everyone() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    super::sysctl_int("security.bsd.see_other_uids").ok() != Some(0)
}

pub(crate) fn walk() -> Result<Walk, String> {
    let mut owners: HashMap<u64, Vec<Pid>> = HashMap::new();
    for (so, pid) in parse_xfiles(&by_name("kern.file")?).map_err(|e| format!("kern.file: {e}"))? {
        owners.entry(so).or_default().push(pid);
    }
    let mut walk = Walk { rows: Vec::new(), denied: usize::from(!sees_everyone()) };
    for (protocol, name) in [(Protocol::Tcp, "net.inet.tcp.pcblist"), (Protocol::Udp, "net.inet.udp.pcblist")] {
        for s in parse_pcblist(&by_name(name)?, protocol).map_err(|e| format!("{name}: {e}"))? {
            match owners.get(&s.inode).filter(|_| s.inode != 0) {
                Some(pids) => walk.rows.extend(pids.iter().map(|p| (s.clone(), *p))),
                None => walk.rows.push((s, 0)),
            }
        }
    }
    Ok(walk)
}

/// sys/user.h KINFO_PROC_SIZE on 64-bit FreeBSD, stable since 7.x.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<libc::kinfo_proc>() == 1088);

fn c_string(bytes: &[libc::c_char]) -> String {
    let b: Vec<u8> = bytes.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&b).into_owned()
}

pub(crate) fn process(pid: u32) -> Option<Process> {
    let id = libc::c_int::try_from(pid).ok()?;
    let buf = by_mib(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, id]).ok()?;
    let size = std::mem::size_of::<libc::kinfo_proc>();
    let rec = buf.get(..size)?;
    // SAFETY: rec holds size_of::<kinfo_proc>() bytes; the read is unaligned-safe.
    let p = unsafe { std::ptr::read_unaligned(rec.as_ptr().cast::<libc::kinfo_proc>()) };
    if usize::try_from(p.ki_structsize).ok() != Some(size) {
        return None;
    }
    let exe = by_mib(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PATHNAME, id])
        .ok()
        .map(|b| String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or_default()).into_owned())
        .filter(|s| !s.is_empty());
    Some(Process { name: c_string(&p.ki_comm), exe, user: Some(super::user_name(p.ki_uid)), units: Vec::new(), ..Process::default() })
}
