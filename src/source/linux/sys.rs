//! The few raw syscalls the hot path needs without allocating per entry:
//! directory listing by fd and readlinkat(2). All `unsafe` lives here.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// An open directory (O_DIRECTORY), iterated with readdir(3).
pub struct Dir {
    dir: *mut libc::DIR,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
        // SAFETY: c is a valid NUL-terminated string; the result is checked.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, owned, open descriptor.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Dir::from_fd(owned)
    }

    /// Opens the directory `name` under `dirfd`.
    pub fn open_at(dirfd: libc::c_int, name: &[u8]) -> io::Result<Dir> {
        let c = c_name(name).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad name"))?;
        // SAFETY: c is NUL-terminated; the result is checked.
        let fd = unsafe { libc::openat(dirfd, c.as_ptr().cast(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, owned, open descriptor.
        Dir::from_fd(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Dir> {
        let raw = fd.as_raw_fd();
        // SAFETY: fdopendir takes ownership of a valid directory fd on success.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd);
        Ok(Dir { dir })
    }

    /// The directory's own fd, for *at() calls.
    pub fn fd(&self) -> libc::c_int {
        // SAFETY: self.dir is open until drop.
        unsafe { libc::dirfd(self.dir) }
    }

    /// Calls `f` with each entry name except "." and "..". Errors while
    /// reading (a process that exited) end the listing early.
    pub fn for_each(&mut self, mut f: impl FnMut(&[u8])) {
        loop {
            // SAFETY: self.dir is open; the entry is valid until the next readdir.
            let ent = unsafe { libc::readdir(self.dir) };
            if ent.is_null() {
                return;
            }
            // SAFETY: d_name is NUL-terminated within the entry.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
            if name != b"." && name != b".." {
                f(name);
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.dir came from fdopendir and is closed once.
        unsafe { libc::closedir(self.dir) };
    }
}

// SAFETY: a DIR stream is used by one thread at a time through &mut self.
unsafe impl Send for Dir {}

/// readlinkat(dirfd, name) into `buf`; None when the link is gone or unreadable.
pub fn readlink_at<'b>(dirfd: libc::c_int, name: &[u8], buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    let mut cname = [0u8; 32];
    if name.len() >= cname.len() {
        return None;
    }
    cname[..name.len()].copy_from_slice(name);
    // SAFETY: cname is NUL-terminated; buf is writable for its length.
    let n = unsafe { libc::readlinkat(dirfd, cname.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.get(..n as usize)
}

/// The inode of the namespace a `/proc/PID/ns/KIND` link names (`net`,
/// `mnt`); None when it is gone or may not be read.
pub fn ns_inode(link: &Path, kind: &str) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    crate::parse::procfs::parse_ns_link(target.as_os_str().as_encoded_bytes(), kind)
}

/// Parses a decimal name such as a pid or fd number.
pub fn decimal(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// `dir/name` as a NUL-terminated name on the stack; None when too long.
fn c_name(name: &[u8]) -> Option<[u8; 64]> {
    let mut c = [0u8; 64];
    if name.len() >= c.len() || name.contains(&0) {
        return None;
    }
    c[..name.len()].copy_from_slice(name);
    Some(c)
}

/// st_size of `name` under `dirfd` (for /proc/PID/fd: its number of open fds, Linux 6.2+).
pub fn size_at(dirfd: libc::c_int, name: &[u8]) -> Option<u64> {
    let c = c_name(name)?;
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated; st is writable.
    let r = unsafe { libc::fstatat(dirfd, c.as_ptr().cast(), &mut st, 0) };
    (r == 0).then_some(st.st_size as u64)
}

/// Reads a small file `name` under `dirfd` into `buf`; None when it is gone or unreadable.
pub fn read_at<'b>(dirfd: libc::c_int, name: &[u8], buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    let c = c_name(name)?;
    // SAFETY: c is NUL-terminated; the result is checked.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is fresh and owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.get(..n as usize)
}

/// glibc: allocations of 128 KiB and more (a scrape's socket list, owner
/// pairs, inode set) come from mmap and go back to the kernel when freed,
/// and collector threads share two malloc arenas: otherwise glibc raises its
/// mmap threshold after the first large free and each collector thread's
/// arena keeps its largest scrape resident. musl returns large blocks anyway.
pub fn return_large_blocks_to_the_kernel() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tunables; called before collectors start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// setns(2) into the network namespace behind `fd`: the calling thread only.
pub fn join_network_namespace(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: setns on a caller-owned fd; on failure nothing changes, on success only this thread's namespace.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
