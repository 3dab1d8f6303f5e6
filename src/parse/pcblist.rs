//! FreeBSD's socket tables as sockstat(1) reads them: `net.inet.tcp.pcblist`
//! and `net.inet.udp.pcblist` (an `xinpgen` header, one record per socket,
//! an `xinpgen` trailer), and `kern.file` (one `xfile` per descriptor,
//! whose `xf_data` is the kernel address of the socket, `xso_so`).
//!
//! FreeBSD 12 to 15 kept these export structs the same size, moving
//! fields only into spares (netinet/in_pcb.h, netinet/tcp_var.h,
//! sys/socketvar.h, sys/file.h): `xinpcb` is 400 bytes with `inp_inc` at
//! 248 (after the 240-byte `xsocket`, which is all zero, `xso_len`
//! included, for a socket in TIME_WAIT), and `t_state` lies 160 bytes
//! after the `xinpcb` in `xtcpcb` (xt_stack[32], xt_logid[64], then 64
//! bytes: spare64[8] in 12, xt_cc[16] + spare64[6] since 13). Records are
//! walked by the lengths they carry; an `xinpcb` of another size is an
//! error, not a guess. Pure: the FreeBSD source hands in the buffers.

use super::{be16_at, i32_at, invalid, u64_at, ParseError};
use crate::model::{Family, Pid, Protocol, SockState, Socket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// sizeof(struct xinpcb), and the offset of `inp_inc` in it.
const XINPCB_SIZE: usize = 400;
const INP_INC: usize = 8 + 240;
/// Bytes from the end of `xinpcb` to `t_state` in `struct xtcpcb`.
const T_STATE_AFTER_XINPCB: usize = 160;
/// `inc_flags` bit of an IPv6 connection (netinet/in_pcb.h).
const INC_ISIPV6: u8 = 0x01;
/// `xf_type` of a socket descriptor (sys/file.h DTYPE_SOCKET).
const DTYPE_SOCKET: i32 = 2;

/// The BSD `TCPS_*` numbering (netinet/tcp_fsm.h; xnu's TSI_S_* match it).
pub fn tcp_state(v: i32) -> SockState {
    match v {
        0 => SockState::Close,
        1 => SockState::Listen,
        2 => SockState::SynSent,
        3 => SockState::SynRecv,
        4 => SockState::Established,
        5 => SockState::CloseWait,
        6 => SockState::FinWait1,
        7 => SockState::Closing,
        8 => SockState::LastAck,
        9 => SockState::FinWait2,
        10 => SockState::TimeWait,
        other => SockState::Unknown(u8::try_from(other).unwrap_or(u8::MAX)),
    }
}

fn len_at(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64_at(b, at)?).ok()
}

/// One `struct xinpcb` (at the start of `x`): the socket, its `inode`
/// being the kernel address of the socket (`xso_so`; 0 in TIME_WAIT).
fn xinpcb(x: &[u8], protocol: Protocol) -> Option<Socket> {
    if len_at(x, 0)? != XINPCB_SIZE || x.len() < XINPCB_SIZE {
        return None;
    }
    let so = u64_at(x, 16)?;
    let v6 = *x.get(INP_INC)? & INC_ISIPV6 != 0;
    let (fport, lport) = (be16_at(x, INP_INC + 4)?, be16_at(x, INP_INC + 6)?);
    let laddr: [u8; 16] = x.get(INP_INC + 24..INP_INC + 40)?.try_into().ok()?;
    let (family, local) = if v6 {
        (Family::Ipv6, IpAddr::V6(Ipv6Addr::from(laddr)))
    } else {
        (Family::Ipv4, IpAddr::V4(Ipv4Addr::new(laddr[12], laddr[13], laddr[14], laddr[15])))
    };
    let state = match (protocol, fport) {
        (Protocol::Udp, 0) => SockState::Close,
        (Protocol::Udp, _) => SockState::Established,
        (Protocol::Tcp, _) => SockState::Close, // set by the caller from t_state
    };
    Some(Socket { protocol, family, local, port: lport, state, inode: so })
}

/// Every socket of a pcblist answer with a local port; `inode` is `xso_so`.
pub fn parse_pcblist(buf: &[u8], protocol: Protocol) -> Result<Vec<Socket>, ParseError> {
    let head = len_at(buf, 0)
        .filter(|l| *l >= 24 && *l <= buf.len())
        .ok_or_else(|| invalid("an xinpgen header", &format!("{} bytes", buf.len())))?;
    let mut out = Vec::new();
    let mut at = head;
    loop {
        let len = len_at(buf, at).ok_or_else(|| invalid("a pcblist record or trailer", &format!("offset {at} of {}", buf.len())))?;
        // The trailer is another xinpgen, as long as the header, and ends the answer.
        if len <= head {
            if len == head && at + len == buf.len() {
                return Ok(out);
            }
            return Err(invalid("an xinpgen trailer at the end", &format!("{len} bytes at offset {at} of {}", buf.len())));
        }
        let rec = buf
            .get(at..at.saturating_add(len))
            .ok_or_else(|| invalid("a record inside the buffer", &format!("{len} bytes at {at} of {}", buf.len())))?;
        let bad = || invalid("a FreeBSD 12-15 pcblist record", &format!("{len} bytes at offset {at}"));
        let s = match protocol {
            Protocol::Udp => xinpcb(rec, protocol).ok_or_else(bad)?,
            Protocol::Tcp => {
                let mut s = xinpcb(rec.get(8..).ok_or_else(bad)?, protocol).ok_or_else(bad)?;
                s.state = tcp_state(i32_at(rec, 8 + XINPCB_SIZE + T_STATE_AFTER_XINPCB).ok_or_else(bad)?);
                s
            }
        };
        if s.port != 0 {
            out.push(s);
        }
        at += len;
    }
}

/// (socket kernel address, pid) for every socket descriptor of `kern.file`.
pub fn parse_xfiles(buf: &[u8]) -> Result<Vec<(u64, Pid)>, ParseError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let size = len_at(buf, at).unwrap_or(0);
        if size < 64 || size > buf.len() - at {
            return Err(invalid("an xfile record size", &format!("{size} at offset {at} of {}", buf.len())));
        }
        let rec = &buf[at..at + size];
        let kind = i16::from_ne_bytes([rec[32], rec[33]]);
        if i32::from(kind) == DTYPE_SOCKET {
            let pid = i32_at(rec, 8).and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
            if let (Some(data), true) = (u64_at(rec, 56), pid != 0) {
                out.push((data, pid));
            }
        }
        at += size;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "pcblist_tests.rs"]
mod tests;
