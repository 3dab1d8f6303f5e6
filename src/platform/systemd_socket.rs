//! systemd socket activation (`--web.systemd-socket`), as sd_listen_fds(3)
//! reads it: `LISTEN_PID` must name this process, `LISTEN_FDS` says how many
//! sockets follow fd 3 (SD_LISTEN_FDS_START); the variables are unset once
//! read so a child never takes them for its own. Each fd must be a listening
//! TCP socket (IPv4 or IPv6): it is marked close-on-exec and non-blocking.
//! No crate: `listenfd` also takes sockets when `LISTEN_PID` is unset and
//! never checks that a socket listens, and this is a few system calls.
//! See <https://www.freedesktop.org/software/systemd/man/sd_listen_fds.html>.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

/// The first passed fd (SD_LISTEN_FDS_START).
const FIRST_FD: RawFd = 3;
/// More than any socket unit passes; a larger count is a corrupt environment.
const MAX_FDS: u32 = 256;
const VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// How many sockets were passed to process `me`, from the two variables.
pub fn passed(listen_pid: Option<&str>, listen_fds: Option<&str>, me: u32) -> Result<u32, String> {
    let Some(pid) = listen_pid else {
        return Err("LISTEN_PID is not set: start the exporter from a systemd socket unit (or systemd-socket-activate)".into());
    };
    let pid: u32 = pid.trim().parse().map_err(|_| format!("LISTEN_PID {pid:?} is not a process id"))?;
    if pid != me {
        return Err(format!("LISTEN_PID is {pid}, not this process ({me}): the sockets were passed to another process"));
    }
    let Some(fds) = listen_fds else { return Err("LISTEN_FDS is not set".into()) };
    match fds.trim().parse::<u32>() {
        Ok(0) => Err("no socket activation file descriptors found (LISTEN_FDS=0)".into()),
        Ok(n) if n <= MAX_FDS => Ok(n),
        _ => Err(format!("LISTEN_FDS {fds:?} is not a number of sockets from 1 to {MAX_FDS}")),
    }
}

/// Takes the listening sockets systemd passed, and unsets the variables.
/// Call it before the process starts a thread: it changes the environment.
pub fn take() -> Result<Vec<TcpListener>, String> {
    let [pid, fds, _] = VARS.map(|v| std::env::var(v).ok());
    for v in VARS {
        std::env::remove_var(v);
    }
    let n = passed(pid.as_deref(), fds.as_deref(), std::process::id())?;
    (0..n).map(|i| listener(FIRST_FD + i as RawFd)).collect()
}

fn sockopt(fd: RawFd, name: libc::c_int) -> std::io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for writes of an int; a bad fd is an error return.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&mut v as *mut libc::c_int).cast(), &mut len) };
    if r == 0 {
        Ok(v)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// fd `fd` as a listener, once checked to be a listening TCP socket.
fn listener(fd: RawFd) -> Result<TcpListener, String> {
    let bad = |why: String| format!("passed fd {fd}: {why}");
    // SAFETY: st is plain data fstat fills; a bad fd is an error return.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is valid for writes of a stat.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(bad(std::io::Error::last_os_error().to_string()));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(bad("not a socket".into()));
    }
    let stream = sockopt(fd, libc::SO_TYPE).map_err(|e| bad(e.to_string()))? == libc::SOCK_STREAM;
    let listening = sockopt(fd, libc::SO_ACCEPTCONN).map_err(|e| bad(e.to_string()))? != 0;
    // SAFETY: ss is plain data getsockname fills up to len bytes.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid for writes; a bad fd is an error return.
    if unsafe { libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return Err(bad(std::io::Error::last_os_error().to_string()));
    }
    let inet = matches!(libc::c_int::from(ss.ss_family), libc::AF_INET | libc::AF_INET6);
    if !(stream && listening && inet) {
        return Err(bad("not a listening TCP socket (use ListenStream=PORT or ADDR:PORT in the socket unit)".into()));
    }
    // SAFETY: plain fcntl on a checked socket.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(bad(std::io::Error::last_os_error().to_string()));
    }
    // SAFETY: the fd is a listening socket systemd handed to this process and
    // nothing else in it owns: the listener becomes its one owner.
    let l = unsafe { TcpListener::from_raw_fd(fd) };
    l.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_taken_only_when_passed_to_this_process() {
        assert_eq!(passed(Some("42"), Some("2"), 42), Ok(2));
        assert!(passed(None, Some("1"), 42).is_err_and(|e| e.contains("LISTEN_PID is not set")));
        assert!(passed(Some("41"), Some("1"), 42).is_err_and(|e| e.contains("not this process")));
        assert!(passed(Some("x"), Some("1"), 42).is_err());
        assert!(passed(Some("42"), None, 42).is_err());
        assert!(passed(Some("42"), Some("0"), 42).is_err_and(|e| e.contains("no socket activation")));
        for n in ["-1", "257", "1e3", ""] {
            assert!(passed(Some("42"), Some(n), 42).is_err(), "{n}");
        }
    }

    #[test]
    fn only_a_listening_tcp_socket_is_taken() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let fd = l.into_raw_fd();
        let taken = listener(fd).expect("a listener");
        assert_eq!(taken.local_addr().expect("addr"), addr);
        let client = std::net::TcpStream::connect(addr).expect("connect");
        assert!(listener(client.as_raw_fd()).is_err_and(|e| e.contains("not a listening TCP socket")));
        let file = std::fs::File::open("/dev/null").expect("open");
        assert!(listener(file.as_raw_fd()).is_err_and(|e| e.contains("not a socket")));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        assert!(listener(udp.as_raw_fd()).is_err());
    }
}
