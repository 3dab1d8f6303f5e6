//! Windows socket tables as `GetExtendedTcpTable`/`GetExtendedUdpTable`
//! fill them with the *_OWNER_PID classes (iphlpapi, tcpmib.h/udpmib.h):
//! a u32 row count, then fixed rows of u32 fields. Addresses are in network
//! byte order; a port sits in network byte order in the low 16 bits of its
//! u32. Pure: the Windows source hands these functions the buffers.

use super::{be16_at, invalid, u32_at, ParseError};
use crate::model::{Family, Pid, Protocol, SockState, Socket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// MIB_TCP_STATE to the kernel-neutral state.
pub fn tcp_state(v: u32) -> SockState {
    match v {
        1 | 12 => SockState::Close, // CLOSED (bound, idle) and DELETE_TCB
        2 => SockState::Listen,
        3 => SockState::SynSent,
        4 => SockState::SynRecv,
        5 => SockState::Established,
        6 => SockState::FinWait1,
        7 => SockState::FinWait2,
        8 => SockState::CloseWait,
        9 => SockState::Closing,
        10 => SockState::LastAck,
        11 => SockState::TimeWait,
        other => SockState::Unknown(u8::try_from(other).unwrap_or(u8::MAX)),
    }
}

fn v4_at(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(a)))
}

fn v6_at(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

/// Row layout: size, and (state, address, port, pid) offsets; state None for UDP.
struct Layout {
    row: usize,
    state: Option<usize>,
    addr: usize,
    port: usize,
    pid: usize,
    family: Family,
    protocol: Protocol,
}

const TCP4: Layout = Layout { row: 24, state: Some(0), addr: 4, port: 8, pid: 20, family: Family::Ipv4, protocol: Protocol::Tcp };
const TCP6: Layout = Layout { row: 56, state: Some(48), addr: 0, port: 20, pid: 52, family: Family::Ipv6, protocol: Protocol::Tcp };
const UDP4: Layout = Layout { row: 12, state: None, addr: 0, port: 4, pid: 8, family: Family::Ipv4, protocol: Protocol::Udp };
const UDP6: Layout = Layout { row: 28, state: None, addr: 0, port: 20, pid: 24, family: Family::Ipv6, protocol: Protocol::Udp };

fn parse(buf: &[u8], l: &Layout) -> Result<Vec<(Socket, Pid)>, ParseError> {
    let n = u32_at(buf, 0).ok_or_else(|| invalid("a row count", &format!("{} bytes", buf.len())))? as usize;
    if n.checked_mul(l.row).and_then(|b| b.checked_add(4)).is_none_or(|need| need > buf.len()) {
        return Err(invalid("rows that fit the buffer", &format!("{n} rows in {} bytes", buf.len())));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let at = 4 + i * l.row;
        let row = &buf[at..at + l.row];
        let bad = || invalid("a table row", &format!("row {i}"));
        let local = match l.family {
            Family::Ipv4 => v4_at(row, l.addr),
            Family::Ipv6 => v6_at(row, l.addr),
        }
        .ok_or_else(bad)?;
        let state = match l.state {
            Some(off) => tcp_state(u32_at(row, off).ok_or_else(bad)?),
            None => SockState::Close, // a UDP socket in the table is bound: "unconn"
        };
        let port = be16_at(row, l.port).ok_or_else(bad)?;
        let pid = u32_at(row, l.pid).ok_or_else(bad)?;
        out.push((Socket { protocol: l.protocol, family: l.family, local, port, state, inode: 0 }, pid));
    }
    Ok(out)
}

pub fn parse_tcp4(buf: &[u8]) -> Result<Vec<(Socket, Pid)>, ParseError> {
    parse(buf, &TCP4)
}
pub fn parse_tcp6(buf: &[u8]) -> Result<Vec<(Socket, Pid)>, ParseError> {
    parse(buf, &TCP6)
}
pub fn parse_udp4(buf: &[u8]) -> Result<Vec<(Socket, Pid)>, ParseError> {
    parse(buf, &UDP4)
}
pub fn parse_udp6(buf: &[u8]) -> Result<Vec<(Socket, Pid)>, ParseError> {
    parse(buf, &UDP6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_ne_bytes().to_vec();
        for r in rows {
            b.extend(r);
        }
        b
    }

    fn port_field(p: u16) -> [u8; 4] {
        let be = p.to_be_bytes();
        [be[0], be[1], 0, 0]
    }

    #[test]
    fn tcp4_rows() {
        let mut row = Vec::new();
        row.extend(2u32.to_ne_bytes()); // LISTEN
        row.extend([0, 0, 0, 0]);
        row.extend(port_field(1433));
        row.extend([0, 0, 0, 0]);
        row.extend(port_field(0));
        row.extend(4242u32.to_ne_bytes());
        let mut est = Vec::new();
        est.extend(5u32.to_ne_bytes());
        est.extend([127, 0, 0, 1]);
        est.extend(port_field(50001));
        est.extend([127, 0, 0, 1]);
        est.extend(port_field(1433));
        est.extend(77u32.to_ne_bytes());
        let got = parse_tcp4(&table(&[row, est])).expect("parses");
        assert_eq!((got[0].0.port, got[0].0.state, got[0].1), (1433, SockState::Listen, 4242));
        assert_eq!((got[1].0.local, got[1].0.port, got[1].0.state), ("127.0.0.1".parse().expect("ip"), 50001, SockState::Established));
    }

    #[test]
    fn tcp6_and_udp_rows() {
        let mut r6 = Vec::new();
        r6.extend(Ipv6Addr::LOCALHOST.octets());
        r6.extend(0u32.to_ne_bytes());
        r6.extend(port_field(8080));
        r6.extend([0u8; 16]);
        r6.extend(0u32.to_ne_bytes());
        r6.extend(port_field(0));
        r6.extend(11u32.to_ne_bytes()); // TIME_WAIT
        r6.extend(0u32.to_ne_bytes());
        let got = parse_tcp6(&table(&[r6])).expect("parses");
        assert_eq!((got[0].0.local, got[0].0.port, got[0].0.state, got[0].1), ("::1".parse().expect("ip"), 8080, SockState::TimeWait, 0));
        let mut u = Vec::new();
        u.extend([0, 0, 0, 0]);
        u.extend(port_field(53));
        u.extend(900u32.to_ne_bytes());
        let got = parse_udp4(&table(&[u])).expect("parses");
        assert_eq!(
            (got[0].0.protocol, got[0].0.port, got[0].0.state.label(Protocol::Udp), got[0].1),
            (Protocol::Udp, 53, "unconn".to_string(), 900)
        );
        let mut u6 = Vec::new();
        u6.extend([0u8; 16]);
        u6.extend(0u32.to_ne_bytes());
        u6.extend(port_field(5353));
        u6.extend(901u32.to_ne_bytes());
        assert_eq!(parse_udp6(&table(&[u6])).expect("parses")[0].0.port, 5353);
    }

    #[test]
    fn short_or_lying_buffers_are_errors() {
        assert!(parse_tcp4(&[]).is_err());
        assert!(parse_tcp4(&5u32.to_ne_bytes()).is_err(), "5 rows claimed, none there");
        assert!(parse_udp6(&u32::MAX.to_ne_bytes()).is_err(), "no overflow on a huge count");
        assert_eq!(parse_udp4(&0u32.to_ne_bytes()).expect("empty table"), vec![]);
    }
}
