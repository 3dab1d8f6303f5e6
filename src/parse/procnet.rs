//! `/proc/net/{tcp,tcp6,udp,udp6}`: the text socket tables, see proc(5).
//! Addresses are hex words in host byte order; ports are hex, already in
//! host order. Used when sock_diag is unavailable, and for fixture trees.

use super::{invalid, ParseError};
use crate::model::{Family, Protocol, SockState, Socket};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn hex_words(hex: &str) -> Option<Vec<u32>> {
    if hex.len() % 8 != 0 || hex.is_empty() {
        return None;
    }
    (0..hex.len()).step_by(8).map(|i| hex.get(i..i + 8).and_then(|w| u32::from_str_radix(w, 16).ok())).collect()
}

/// "0100007F:1F90" -> (127.0.0.1, 8080), reading words as this host stores them.
fn endpoint(text: &str, family: Family) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = hex_words(addr)?;
    let ip = match (family, words.as_slice()) {
        (Family::Ipv4, [w]) => IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())),
        (Family::Ipv6, [a, b, c, d]) => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// One parsed table: its sockets, and the rows skipped as malformed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub sockets: Vec<Socket>,
    /// The remote end (`rem_address`) of each socket, in the order of
    /// `sockets`; port 0 when it has no peer.
    pub peers: Vec<(IpAddr, u16)>,
    pub skipped: usize,
    /// The first skipped row: its line number (1-based) and what was wrong.
    pub first_skipped: Option<(usize, &'static str)>,
}

fn row(line: &str, protocol: Protocol, family: Family) -> Result<(Socket, (IpAddr, u16)), &'static str> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return Err("fewer than 10 fields");
    }
    let (local, port) = endpoint(f[1], family).ok_or("not a hex address:port")?;
    let peer = endpoint(f[2], family).ok_or("not a hex remote address:port")?;
    let state = u8::from_str_radix(f[3], 16).map_err(|_| "not a hex state")?;
    let inode = f[9].parse().map_err(|_| "not a decimal inode")?;
    Ok((Socket { protocol, family, local, port, state: SockState::from_kernel(state), inode }, peer))
}

/// Parses one table. A malformed row is skipped and counted, so one junk
/// line does not hide every other socket; a table with rows but none valid
/// is not a socket table at all, and an error.
pub fn parse_table(text: &str, protocol: Protocol, family: Family) -> Result<Table, ParseError> {
    let mut out = Table::default();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        match row(line, protocol, family) {
            Ok((s, peer)) => {
                out.sockets.push(s);
                out.peers.push(peer);
            }
            Err(why) => {
                out.skipped += 1;
                out.first_skipped.get_or_insert((n + 1, why));
            }
        }
    }
    if out.sockets.is_empty() && out.skipped > 0 {
        return Err(invalid("at least one valid socket table row", text.lines().nth(1).unwrap_or("")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn v4(a: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(a))
    }

    #[test]
    fn tcp4_rows() {
        let text = format!(
            "{HDR}   0: {}:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 4242 1 0000000000000000 100 0 0 10 0\n   1: {}:9C40 {}:1388 01 00000000:00000000 00:00000000 00000000     0        0 0 2\n",
            v4([127, 0, 0, 1]),
            v4([127, 0, 0, 1]),
            v4([127, 0, 0, 1])
        );
        let s = parse_table(&text, Protocol::Tcp, Family::Ipv4).expect("parses").sockets;
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].local, s[0].port, s[0].state, s[0].inode), ("127.0.0.1".parse().expect("ip"), 5432, SockState::Listen, 4242));
        assert_eq!((s[1].port, s[1].state, s[1].inode), (40000, SockState::Established, 0));
    }

    #[test]
    fn tcp6_wildcard_and_loopback() {
        let lo = Ipv6Addr::LOCALHOST.octets();
        let words: String = lo.chunks(4).map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))).collect();
        let text = format!("{HDR}   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 77\n   1: {words}:0050 {words}:0000 0A 0 0 0 0 0 78\n");
        let s = parse_table(&text, Protocol::Tcp, Family::Ipv6).expect("parses").sockets;
        assert_eq!((s[0].local, s[0].port), ("::".parse().expect("ip"), 22));
        assert_eq!((s[1].local, s[1].port, s[1].inode), ("::1".parse().expect("ip"), 80, 78));
    }

    #[test]
    fn garbage_rows_are_errors() {
        for bad in [
            "x\n0: zz:1 0 0A 0 0 0 0 0 1\n",
            "x\n0: 0100007F:1F90 0 0A\n",
            "x\n0: 0100007F:XYZ 0 0A 0 0 0 0 0 1\n",
            "x\n0: 0100007F:1F90 0 ZZ 0 0 0 0 0 1\n",
            "x\n0: 0100007F:1F90 0100007F 01 0 0 0 0 0 1\n",
        ] {
            assert!(parse_table(bad, Protocol::Tcp, Family::Ipv4).is_err(), "{bad:?}");
        }
        assert_eq!(parse_table("", Protocol::Udp, Family::Ipv4), Ok(Table::default()));
    }

    /// An address as the kernel prints it: each 32-bit word of the network-order
    /// address read as a host integer, `%08X` (net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c).
    fn kernel_hex(ip: IpAddr) -> String {
        let bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        bytes.chunks(4).map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))).collect()
    }

    #[test]
    fn generated_rows_give_back_both_ends() {
        let mut rng = crate::testing::Rng::from_env("PORTWATCH_SEED", 0x9e7_0e7);
        for case in 0..200 {
            let family = if rng.below(2) == 0 { Family::Ipv4 } else { Family::Ipv6 };
            let ip = |rng: &mut crate::testing::Rng| -> IpAddr {
                match family {
                    Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(rng.below(1 << 32) as u32)),
                    Family::Ipv6 => {
                        let mut b = [0u8; 16];
                        for x in b.iter_mut() {
                            *x = rng.below(256) as u8;
                        }
                        IpAddr::V6(Ipv6Addr::from(b))
                    }
                }
            };
            let mut want = Vec::new();
            let mut text = HDR.to_string();
            for i in 0..1 + rng.below(20) {
                let (local, peer) = (ip(&mut rng), ip(&mut rng));
                let (lport, pport, state) = (rng.below(65536) as u16, rng.below(65536) as u16, 1 + rng.below(12) as u8);
                text += &format!(
                    "{i:4}: {}:{lport:04X} {}:{pport:04X} {state:02X} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 20 4 30 10 -1\n",
                    kernel_hex(local),
                    kernel_hex(peer),
                    i + 7
                );
                want.push(((local, lport, SockState::from_kernel(state)), (peer, pport)));
            }
            let t = parse_table(&text, Protocol::Tcp, family).expect("parses");
            let got: Vec<_> = t.sockets.iter().zip(&t.peers).map(|(s, p)| ((s.local, s.port, s.state), *p)).collect();
            assert_eq!(got, want, "case {case}");
        }
    }

    #[test]
    fn a_junk_row_is_skipped_and_counted_not_fatal() {
        let good = |i: u32| format!("   {i}: {}:1538 00000000:0000 0A 0 0 0 0 0 {}\n", v4([127, 0, 0, 1]), 100 + i);
        for junk in ["0: zz:1 0 0A 0 0 0 0 0 1", "garbage", "0: 0100007F:1F90 0 ZZ 0 0 0 0 0 1", "\u{1b}[31m"] {
            let text = format!("{HDR}{}{junk}\n{}", good(0), good(1));
            let t = parse_table(&text, Protocol::Tcp, Family::Ipv4).expect("the good rows survive");
            assert_eq!(t.sockets.iter().map(|s| s.inode).collect::<Vec<_>>(), vec![100, 101], "{junk:?}");
            assert_eq!(t.skipped, 1);
            assert_eq!(t.first_skipped.map(|f| f.0), Some(3), "line 3");
        }
    }
}
