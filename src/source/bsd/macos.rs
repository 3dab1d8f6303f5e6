//! macOS system calls, and all `unsafe` of its source: libproc, as lsof
//! uses it. Every pid (`proc_listallpids`), its descriptors
//! (`PROC_PIDLISTFDS`), and each socket's `socket_fdinfo`
//! (`PROC_PIDFDSOCKETINFO`, parsed by `parse::proc_info`); a process's
//! name, path and uid.

use super::Walk;
use crate::model::Process;
use crate::parse::proc_info::{parse_socket_fdinfo, SOCKET_FDINFO_SIZE};
use std::io;

/// proc_pidfdinfo flavor for a socket (bsd/sys/proc_info.h).
const PROC_PIDFDSOCKETINFO: libc::c_int = 3;

/// Clears errno, so that a call that fails without setting it is not
/// taken for the failure before it.
fn clear_errno() {
    // SAFETY: __error returns this thread's errno slot.
    unsafe { *libc::__error() = 0 };
}

fn denied() -> bool {
    matches!(io::Error::last_os_error().raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

fn pids() -> Result<Vec<libc::c_int>, String> {
    // SAFETY: a count probe with no buffer.
    let n = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
    if n <= 0 {
        return Err(format!("proc_listallpids: {}", io::Error::last_os_error()));
    }
    let mut pids = vec![0 as libc::c_int; n as usize + 64];
    let bytes = libc::c_int::try_from(pids.len() * std::mem::size_of::<libc::c_int>()).map_err(|e| e.to_string())?;
    // SAFETY: pids holds `bytes` writable bytes.
    let got = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
    if got <= 0 {
        return Err(format!("proc_listallpids: {}", io::Error::last_os_error()));
    }
    pids.truncate((got as usize).min(pids.len()));
    Ok(pids)
}

/// The socket descriptors of one process; Err(()) when it may not be read.
fn socket_fds(pid: libc::c_int) -> Result<Vec<libc::c_int>, ()> {
    clear_errno();
    // SAFETY: a size probe with no buffer.
    let need = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return if denied() { Err(()) } else { Ok(Vec::new()) };
    }
    let each = std::mem::size_of::<libc::proc_fdinfo>();
    let mut fds = vec![libc::proc_fdinfo { proc_fd: 0, proc_fdtype: 0 }; need as usize / each + 16];
    let bytes = libc::c_int::try_from(fds.len() * each).map_err(|_| ())?;
    clear_errno();
    // SAFETY: fds holds `bytes` writable bytes.
    let got = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, fds.as_mut_ptr().cast(), bytes) };
    if got <= 0 {
        return if denied() { Err(()) } else { Ok(Vec::new()) };
    }
    fds.truncate((got as usize / each).min(fds.len()));
    Ok(fds.iter().filter(|f| f.proc_fdtype == libc::PROX_FDTYPE_SOCKET as u32).map(|f| f.proc_fd).collect())
}

/// Room for a socket_fdinfo: the kernel refuses a smaller buffer, and a
/// later macOS may grow the struct.
const FDINFO_BUF: usize = 2048;
const _: () = assert!(FDINFO_BUF >= SOCKET_FDINFO_SIZE);

pub(crate) fn walk() -> Result<Walk, String> {
    let mut walk = Walk { rows: Vec::new(), denied: 0 };
    let (mut tried, mut failed) = (0usize, 0usize);
    let mut last_error: Option<io::Error> = None;
    for pid in pids()? {
        let Ok(owner) = u32::try_from(pid) else { continue };
        if owner == 0 {
            continue; // the kernel
        }
        let Ok(fds) = socket_fds(pid) else {
            walk.denied += 1;
            continue;
        };
        for fd in fds {
            let mut buf = [0u64; FDINFO_BUF / 8];
            tried += 1;
            // SAFETY: buf holds FDINFO_BUF writable bytes, 8-aligned.
            let got = unsafe { libc::proc_pidfdinfo(pid, fd, PROC_PIDFDSOCKETINFO, buf.as_mut_ptr().cast(), FDINFO_BUF as libc::c_int) };
            if got <= 0 {
                failed += 1; // closed meanwhile, or refused
                last_error = Some(io::Error::last_os_error());
                continue;
            }
            let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).take(got as usize).collect();
            match parse_socket_fdinfo(&bytes) {
                Ok(Some(s)) => walk.rows.push((s, owner)),
                Ok(None) => {}
                Err(e) => return Err(format!("pid {pid} fd {fd}: {e}")),
            }
        }
    }
    // A few descriptors close between the listing and the query; all of
    // them failing means the call itself does not work here.
    if tried > 0 && failed == tried {
        return Err(format!(
            "proc_pidfdinfo failed for all {tried} socket descriptors: {}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        ));
    }
    Ok(walk)
}

pub(crate) fn process(pid: u32) -> Option<Process> {
    let id = libc::c_int::try_from(pid).ok()?;
    let mut name = [0u8; 256];
    // SAFETY: name holds 256 writable bytes.
    let n = unsafe { libc::proc_name(id, name.as_mut_ptr().cast(), name.len() as u32) };
    if n <= 0 {
        return None; // gone, or not ours to read
    }
    let name = String::from_utf8_lossy(name.get(..n as usize)?).into_owned();
    let mut path = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: path holds PROC_PIDPATHINFO_MAXSIZE writable bytes.
    let n = unsafe { libc::proc_pidpath(id, path.as_mut_ptr().cast(), path.len() as u32) };
    let exe = (n > 0).then(|| String::from_utf8_lossy(&path[..(n as usize).min(path.len())]).into_owned());
    // SAFETY: proc_bsdinfo is plain data; all-zero is valid and overwritten.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: info is a proc_bsdinfo of `size` bytes.
    let got = unsafe { libc::proc_pidinfo(id, libc::PROC_PIDTBSDINFO, 0, (&mut info as *mut libc::proc_bsdinfo).cast(), size) };
    let user = (got == size).then(|| super::user_name(info.pbi_uid));
    Some(Process { name, exe, user, units: Vec::new(), ..Process::default() })
}
