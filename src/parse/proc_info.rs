//! macOS socket descriptors as `proc_pidfdinfo(pid, fd,
//! PROC_PIDFDSOCKETINFO)` fills them (xnu bsd/sys/proc_info.h, `struct
//! socket_fdinfo`; lsof reads the same). `soi_so`, the kernel's opaque
//! handle of the socket, identifies a socket shared by several processes.
//! TCP sockets carry their state; ports are kept in network byte order in
//! the low 16 bits of an int. Pure: the macOS source hands the buffer in.

use super::pcblist::tcp_state;
use super::{i32_at, invalid, u64_at, ParseError};
use crate::model::{Family, Protocol, SockState, Socket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// sizeof(struct socket_fdinfo): what the kernel writes and returns.
pub const SOCKET_FDINFO_SIZE: usize = 792;

// Offsets in struct socket_fdinfo: proc_fileinfo (24 bytes), then socket_info.
const SOI_SO: usize = 24 + 136;
const SOI_PROTOCOL: usize = SOI_SO + 20;
const SOI_FAMILY: usize = SOI_SO + 24;
const SOI_KIND: usize = SOI_SO + 96;
const SOI_PROTO: usize = SOI_SO + 104;
// In struct in_sockinfo, at the start of soi_proto (tcp_sockinfo begins with one).
const INSI_FPORT: usize = SOI_PROTO;
const INSI_LPORT: usize = SOI_PROTO + 4;
const INSI_VFLAG: usize = SOI_PROTO + 24;
const INSI_LADDR: usize = SOI_PROTO + 48;
const TCPSI_STATE: usize = SOI_PROTO + 80;

const SOCKINFO_IN: i32 = 1;
const SOCKINFO_TCP: i32 = 2;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 30;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_UDP: i32 = 17;
const INI_IPV6: u8 = 0x2;

/// A port kept in network order in the low 16 bits of an int.
fn port_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be(i32_at(b, at)? as u16))
}

/// The socket of one descriptor, if it is a bound TCP or UDP socket over
/// IPv4 or IPv6. Its `inode` is the kernel's socket handle.
pub fn parse_socket_fdinfo(buf: &[u8]) -> Result<Option<Socket>, ParseError> {
    if buf.len() < TCPSI_STATE + 4 {
        return Err(invalid("a socket_fdinfo", &format!("{} bytes", buf.len())));
    }
    let bad = || invalid("a socket_fdinfo field", &format!("{} bytes", buf.len()));
    let kind = i32_at(buf, SOI_KIND).ok_or_else(bad)?;
    if kind != SOCKINFO_IN && kind != SOCKINFO_TCP {
        return Ok(None);
    }
    let protocol = match i32_at(buf, SOI_PROTOCOL).ok_or_else(bad)? {
        IPPROTO_TCP => Protocol::Tcp,
        IPPROTO_UDP => Protocol::Udp,
        _ => return Ok(None),
    };
    let family = match i32_at(buf, SOI_FAMILY).ok_or_else(bad)? {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return Ok(None),
    };
    let port = port_at(buf, INSI_LPORT).ok_or_else(bad)?;
    if port == 0 {
        return Ok(None);
    }
    let laddr: [u8; 16] = buf.get(INSI_LADDR..INSI_LADDR + 16).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
    // An IPv4 address (also on an AF_INET6 socket the kernel marks IPv4
    // only) sits in the last 4 bytes of the 16.
    let vflag = *buf.get(INSI_VFLAG).ok_or_else(bad)?;
    let local = if family == Family::Ipv4 || vflag & INI_IPV6 == 0 {
        IpAddr::V4(Ipv4Addr::new(laddr[12], laddr[13], laddr[14], laddr[15]))
    } else {
        IpAddr::V6(Ipv6Addr::from(laddr))
    };
    let state = if kind == SOCKINFO_TCP {
        tcp_state(i32_at(buf, TCPSI_STATE).ok_or_else(bad)?)
    } else if port_at(buf, INSI_FPORT).ok_or_else(bad)? != 0 {
        SockState::Established // a connected UDP socket, as Linux names it
    } else {
        SockState::Close // a bound UDP socket: "unconn"
    };
    let inode = u64_at(buf, SOI_SO).ok_or_else(bad)?;
    Ok(Some(Socket { protocol, family, local, port, state, inode }))
}

#[cfg(test)]
#[path = "proc_info_tests.rs"]
mod tests;
