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

/// Parses one table. Bad rows are errors, not skipped silently: the caller
/// reports them through the collector's success.
pub fn parse_table(text: &str, protocol: Protocol, family: Family) -> Result<Vec<Socket>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            return Err(invalid("a socket table row of at least 10 fields", line));
        }
        let (local, port) = endpoint(f[1], family).ok_or_else(|| invalid("a hex address:port", f[1]))?;
        let state = u8::from_str_radix(f[3], 16).map_err(|_| invalid("a hex state", f[3]))?;
        let inode = f[9].parse().map_err(|_| invalid("a decimal inode", f[9]))?;
        out.push(Socket { protocol, family, local, port, state: SockState::from_kernel(state), inode });
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
        let s = parse_table(&text, Protocol::Tcp, Family::Ipv4).expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].local, s[0].port, s[0].state, s[0].inode), ("127.0.0.1".parse().expect("ip"), 5432, SockState::Listen, 4242));
        assert_eq!((s[1].port, s[1].state, s[1].inode), (40000, SockState::Established, 0));
    }

    #[test]
    fn tcp6_wildcard_and_loopback() {
        let lo = Ipv6Addr::LOCALHOST.octets();
        let words: String = lo.chunks(4).map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))).collect();
        let text = format!("{HDR}   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 0 0 0 0 0 77\n   1: {words}:0050 {words}:0000 0A 0 0 0 0 0 78\n");
        let s = parse_table(&text, Protocol::Tcp, Family::Ipv6).expect("parses");
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
        ] {
            assert!(parse_table(bad, Protocol::Tcp, Family::Ipv4).is_err(), "{bad:?}");
        }
        assert_eq!(parse_table("", Protocol::Udp, Family::Ipv4), Ok(vec![]));
    }
}
