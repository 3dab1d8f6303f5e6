//! Bounded reads of files the exporter does not control: a size cap that fits
//! each kind of file, a non-blocking open (a FIFO or a device never blocks),
//! and a refusal of anything that is not a regular file. Every file read goes
//! through here: config, web config, certificates, keys, sysctl files,
//! passwd and `/proc` files.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Caps by kind of file, in bytes.
pub mod cap {
    /// The YAML config and the web config.
    pub const CONFIG: u64 = 1 << 20;
    /// A certificate, key or CA bundle.
    pub const PEM: u64 = 1 << 20;
    /// One sysctl.d file or sysctl.conf (systemd reads lines up to 1 MiB).
    pub const SYSCTL: u64 = 1 << 20;
    /// /etc/passwd.
    pub const PASSWD: u64 = 8 << 20;
    /// A small `/proc` file (stat, status, cgroup, a sysctl value).
    pub const PROC_SMALL: u64 = 256 << 10;
    /// A `/proc/net/{tcp,udp}[6]` table: 150 bytes a socket, so about 850k sockets.
    pub const PROC_NET: u64 = 128 << 20;
}

fn too_big(path: &Path, cap: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{} is larger than {cap} bytes", path.display()))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Reads at most `cap` bytes of a regular file; anything else, or more, is an error.
pub fn read_bytes(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    if meta.len() > cap {
        return Err(too_big(path, cap));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    // /proc files report a size of 0: the cap holds on what is read, too.
    file.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(too_big(path, cap));
    }
    Ok(buf)
}

/// As [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_bytes(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{} is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_and_oversized_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small");
        std::fs::write(&small, "abc").expect("write");
        assert_eq!(read_text(&small, 3).expect("fits"), "abc");
        assert!(read_text(&small, 2).is_err(), "over the cap");
        assert!(read_text(dir.path(), 10).is_err(), "a directory");
        #[cfg(unix)]
        {
            assert!(read_bytes(Path::new("/dev/zero"), 10).is_err(), "a device");
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("cstring");
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            assert!(read_bytes(&fifo, 10).is_err(), "a FIFO, refused at once rather than blocking");
            // /proc files say size 0 and are read up to the cap.
            assert!(!read_text(Path::new("/proc/self/status"), cap::PROC_SMALL).expect("status").is_empty());
        }
    }
}
