//! FreeBSD system calls, and all `unsafe` of its source: the process list
//! (`kern.proc.proc`), each process's descriptors (`kern.proc.filedesc`,
//! what procstat -f reads), and a process's name, uid and path. Chosen
//! over `net.inet.tcp.pcblist` + `kern.file` (sockstat's way) because
//! `struct kinfo_file` keeps the same layout across releases and names the
//! owner directly, while `struct xtcpcb` changes between releases; the
//! price is no TCP state beyond listening/connected, and no TIME_WAIT.

use super::Walk;
use crate::model::Process;
use crate::parse::kinfo_file::parse_kinfo_files;
use std::io;

/// Reads a sysctl whose size may change between the probe and the read.
fn sysctl(mib: &[libc::c_int]) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let mut len: libc::size_t = 0;
        // SAFETY: a size probe: no buffer, len receives the size.
        let rc = unsafe { libc::sysctl(mib.as_ptr(), mib.len() as libc::c_uint, std::ptr::null_mut(), &mut len, std::ptr::null(), 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let want = len + len / 4 + 4096;
        // u64 storage keeps the records 8-aligned, as the kernel packs them.
        let mut buf = vec![0u64; want.div_ceil(8)];
        let mut got = buf.len() * 8;
        // SAFETY: buf holds `got` writable bytes.
        let rc = unsafe { libc::sysctl(mib.as_ptr(), mib.len() as libc::c_uint, buf.as_mut_ptr().cast(), &mut got, std::ptr::null(), 0) };
        if rc == 0 {
            return Ok(buf.iter().flat_map(|w| w.to_ne_bytes()).take(got).collect());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
    }
    Err(io::Error::other("the table kept growing"))
}

/// sys/user.h KINFO_PROC_SIZE on 64-bit FreeBSD, stable since 7.x.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<libc::kinfo_proc>() == 1088);

/// The `kinfo_proc` records of a `kern.proc` answer. A kernel whose record
/// size differs from libc's is an error, never a silently empty list.
fn procs(buf: &[u8]) -> Result<Vec<libc::kinfo_proc>, String> {
    let size = std::mem::size_of::<libc::kinfo_proc>();
    let kernel = buf.get(..4).and_then(|b| b.try_into().ok()).map(i32::from_ne_bytes).unwrap_or(0);
    if !buf.is_empty() && usize::try_from(kernel).ok() != Some(size) {
        return Err(format!("kinfo_proc records of {kernel} bytes; this build reads {size}"));
    }
    Ok(buf
        .chunks_exact(size)
        // SAFETY: each chunk holds size_of::<kinfo_proc>() bytes; the read is unaligned-safe.
        .map(|c| unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<libc::kinfo_proc>()) })
        .collect())
}

pub(crate) fn walk() -> Result<Walk, String> {
    let all = sysctl(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PROC, 0]).map_err(|e| format!("sysctl kern.proc.proc: {e}"))?;
    let mut walk = Walk { rows: Vec::new(), denied: 0 };
    for p in procs(&all)? {
        let Ok(pid) = u32::try_from(p.ki_pid) else { continue };
        match sysctl(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_FILEDESC, p.ki_pid]) {
            Ok(buf) => match parse_kinfo_files(&buf) {
                Ok(sockets) => walk.rows.extend(sockets.into_iter().map(|s| (s, pid))),
                Err(e) => return Err(format!("kern.proc.filedesc.{pid}: {e}")),
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => walk.denied += 1,
            Err(_) => {} // the process exited meanwhile
        }
    }
    Ok(walk)
}

fn c_string(bytes: &[libc::c_char]) -> String {
    let b: Vec<u8> = bytes.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&b).into_owned()
}

pub(crate) fn process(pid: u32) -> Option<Process> {
    let id = libc::c_int::try_from(pid).ok()?;
    let buf = sysctl(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, id]).ok()?;
    let p = procs(&buf).ok()?.into_iter().next()?;
    let exe = sysctl(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PATHNAME, id])
        .ok()
        .map(|b| String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or_default()).into_owned())
        .filter(|s| !s.is_empty());
    Some(Process { name: c_string(&p.ki_comm), exe, user: Some(super::user_name(p.ki_uid)), units: Vec::new() })
}
