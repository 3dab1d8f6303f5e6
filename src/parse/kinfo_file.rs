//! FreeBSD descriptor records as `sysctl kern.proc.filedesc.<pid>` returns
//! them (sys/user.h, `struct kinfo_file`, FreeBSD 12 and later; procstat -f
//! reads the same): packed records, each starting with its own size. A
//! socket record carries domain, type, protocol, the local and peer
//! `sockaddr`s and `kf_sock_pcb`, the kernel address of the socket's PCB,
//! which identifies a socket shared by several processes. Pure: the FreeBSD
//! source hands the buffer in.
//!
//! FreeBSD gives no TCP state per descriptor. A TCP socket without a peer is
//! reported as listening (a socket that is bound but neither listening nor
//! connected looks the same and is rare); one with a peer as `connected`.

use super::{i32_at, invalid, u64_at, ParseError};
use crate::model::{Family, Protocol, SockState, Socket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// Offsets in struct kinfo_file (all fields before kf_path are fixed size).
const STRUCTSIZE: usize = 0;
const TYPE: usize = 4;
const SOCK_DOMAIN: usize = 36;
const SOCK_PROTOCOL: usize = 44;
const SA_LOCAL: usize = 48;
const SA_PEER: usize = 48 + 128;
const SOCK_PCB: usize = 48 + 256;
/// Offset of kf_path: a record shorter than this lacks fixed fields (the
/// kernel packs each record as the fixed part plus the path's bytes).
const MIN_RECORD: usize = 368;

const KF_TYPE_SOCKET: i32 = 2;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 28;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_UDP: i32 = 17;

/// A BSD `sockaddr_in`/`sockaddr_in6` (length byte, family byte, port in
/// network order, then the address): (address, port).
pub(crate) fn bsd_sockaddr(b: &[u8], af_inet6: u8) -> Option<(IpAddr, u16)> {
    let family = *b.get(1)?;
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    if family == 2 {
        let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        Some((IpAddr::V4(Ipv4Addr::from(a)), port))
    } else if family == af_inet6 {
        let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
        Some((IpAddr::V6(Ipv6Addr::from(a)), port))
    } else {
        None
    }
}

/// One record's socket, if it is a TCP or UDP socket over IPv4 or IPv6.
fn socket(rec: &[u8]) -> Option<Socket> {
    if i32_at(rec, TYPE)? != KF_TYPE_SOCKET {
        return None;
    }
    let family = match i32_at(rec, SOCK_DOMAIN)? {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let protocol = match i32_at(rec, SOCK_PROTOCOL)? {
        IPPROTO_TCP => Protocol::Tcp,
        IPPROTO_UDP => Protocol::Udp,
        _ => return None,
    };
    let (local, port) = bsd_sockaddr(rec.get(SA_LOCAL..SA_PEER)?, AF_INET6 as u8)?;
    let connected = bsd_sockaddr(rec.get(SA_PEER..SOCK_PCB)?, AF_INET6 as u8).is_some_and(|(_, p)| p != 0);
    let state = match (protocol, connected) {
        (Protocol::Tcp, false) => SockState::Listen,
        (Protocol::Tcp, true) => SockState::Connected,
        (Protocol::Udp, false) => SockState::Close,
        (Protocol::Udp, true) => SockState::Established,
    };
    let inode = u64_at(rec, SOCK_PCB)?;
    // A socket not yet bound (socket(2) only) holds no port.
    (port != 0).then_some(Socket { protocol, family, local, port, state, inode })
}

/// Every TCP/UDP socket with a local port in one process's records. The
/// socket's `inode` is its kernel PCB address (0 if the kernel gave none).
pub fn parse_kinfo_files(buf: &[u8]) -> Result<Vec<Socket>, ParseError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let size =
            i32_at(buf, at + STRUCTSIZE).ok_or_else(|| invalid("a record size", &format!("{} bytes left at {at}", buf.len() - at)))?;
        let size = usize::try_from(size).unwrap_or(0);
        if size < MIN_RECORD || size > buf.len() - at {
            return Err(invalid("a kinfo_file record size", &format!("{size} at offset {at} of {}", buf.len())));
        }
        out.extend(socket(&buf[at..at + size]));
        at += size;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "kinfo_file_tests.rs"]
mod tests;
