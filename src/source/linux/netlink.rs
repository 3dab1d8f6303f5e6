//! A NETLINK_SOCK_DIAG socket that dumps inet sockets with kernel-side
//! filtering by state and local port. Wire format: crate::parse::inet_diag.

use crate::parse::inet_diag::{for_each_msg, DiagError, DiagMsg, Progress};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const RECV_BUF: usize = 256 * 1024;
/// A dump that has not finished by then (seconds) is abandoned, so a scrape never hangs.
const RECV_TIMEOUT_SECS: i32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("sock_diag socket: {0}")]
    Io(#[from] io::Error),
    #[error("sock_diag dump: {0}")]
    Diag(#[from] DiagError),
}

pub struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl DiagSocket {
    pub fn open() -> Result<DiagSocket, NetlinkError> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_SOCK_DIAG) };
        if fd < 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: fd is fresh and owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval { tv_sec: RECV_TIMEOUT_SECS.into(), tv_usec: 0 };
        let size = RECV_BUF as libc::c_int;
        // SAFETY: valid fd and option buffers of the declared sizes.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            );
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        Ok(DiagSocket { fd, buf: vec![0; RECV_BUF] })
    }

    /// Sends a dump request (see crate::parse::inet_diag) and calls `f` for each socket.
    pub fn dump(&mut self, req: &[u8], mut f: impl FnMut(DiagMsg)) -> Result<(), NetlinkError> {
        // SAFETY: req is a valid buffer of req.len() bytes.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error().into());
        }
        loop {
            // SAFETY: self.buf is writable for its full length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed").into());
            }
            if for_each_msg(&self.buf[..n as usize], &mut f)? == Progress::Done {
                return Ok(());
            }
        }
    }
}
