//! Linux sysctl values: `net.ipv4.ip_local_port_range` ("32768\t60999") and
//! `net.ipv4.ip_local_reserved_ports` ("8080,9148" or "1,2-4,10-10").
//! See Documentation/networking/ip-sysctl.rst in the kernel tree.

use super::{invalid, ParseError};
use crate::model::{PortRange, PortSet};

/// The kernel's default `ip_local_port_range` (since Linux 4.x).
pub const DEFAULT_PORT_RANGE: PortRange = PortRange { start: 32768, end: 60999 };

/// Accepts an optional `name = ` prefix, as `sysctl -a` prints.
fn strip_key(text: &str) -> &str {
    match text.split_once('=') {
        Some((_, v)) => v,
        None => text,
    }
}

fn port(text: &str, what: &'static str) -> Result<u16, ParseError> {
    let t = text.trim();
    match t.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(invalid(what, t)),
    }
}

/// Two port numbers separated by white space, the first not above the second.
pub fn parse_port_range(text: &str) -> Result<PortRange, ParseError> {
    let value = strip_key(text).trim_start_matches('\u{feff}');
    let mut it = value.split_whitespace();
    let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
        return Err(invalid("two port numbers", value.trim()));
    };
    let start = port(a, "a port number 1-65535")?;
    let end = port(b, "a port number 1-65535")?;
    if start > end {
        return Err(invalid("a range whose start is not above its end", value.trim()));
    }
    Ok(PortRange { start, end })
}

/// A comma list of ports and inclusive ranges; empty means none reserved.
pub fn parse_reserved_ports(text: &str) -> Result<PortSet, ParseError> {
    let value = strip_key(text).trim().trim_start_matches('\u{feff}');
    let mut ranges = Vec::new();
    if value.is_empty() {
        return Ok(PortSet::default());
    }
    for item in value.split(',') {
        let item = item.trim();
        let range = match item.split_once('-') {
            Some((a, b)) => {
                let (start, end) = (port(a, "a port number")?, port(b, "a port number")?);
                if start > end {
                    return Err(invalid("a range whose start is not above its end", item));
                }
                PortRange { start, end }
            }
            // The kernel may hold port 0 (it is never handed out): skip it.
            None if item == "0" => continue,
            None => {
                let p = port(item, "a port or port range")?;
                PortRange { start: p, end: p }
            }
        };
        ranges.push(range);
    }
    Ok(PortSet::from_ranges(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u16, end: u16) -> PortRange {
        PortRange { start, end }
    }

    #[test]
    fn port_range_table() {
        let ok = [
            ("32768\t60999\n", r(32768, 60999)),
            ("32768    61000", r(32768, 61000)),
            ("1024 65535", r(1024, 65535)),
            ("net.ipv4.ip_local_port_range = 32768    60999    ", r(32768, 60999)),
            ("\u{feff}9000\t65000", r(9000, 65000)),
            ("5000 5000", r(5000, 5000)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_port_range(text), Ok(want), "{text:?}");
        }
        for bad in ["", "32768", "1 2 3", "60999 32768", "0 100", "1 70000", "a b", "-1 5"] {
            assert!(parse_port_range(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn reserved_ports_table() {
        let cases: [(&str, &[(u16, u16)]); 6] = [
            ("", &[]),
            ("\n", &[]),
            ("1,2-4,10-10", &[(1, 4), (10, 10)]),
            ("8080,9148", &[(8080, 8080), (9148, 9148)]),
            ("net.ipv4.ip_local_reserved_ports = 35000-37600,45000-47000", &[(35000, 37600), (45000, 47000)]),
            ("49000,35357,41055,58882", &[(35357, 35357), (41055, 41055), (49000, 49000), (58882, 58882)]),
        ];
        for (text, want) in cases {
            let got = parse_reserved_ports(text).expect(text);
            let got: Vec<(u16, u16)> = got.ranges().iter().map(|r| (r.start, r.end)).collect();
            assert_eq!(got, want, "{text:?}");
        }
        assert_eq!(parse_reserved_ports("0,8080").map(|s| s.ranges().len()), Ok(1), "the kernel may list port 0");
        for bad in ["1,,2", "5-3", "70000", "abc", "1-2-3", "1;2"] {
            assert!(parse_reserved_ports(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn huge_reserved_list_parses_and_merges() {
        let text: Vec<String> = (1..=65535u32).step_by(2).map(|p| p.to_string()).collect();
        let set = parse_reserved_ports(&text.join(",")).expect("parses");
        assert_eq!(set.ranges().len(), 32768);
        assert!(set.contains(65535) && !set.contains(2));
        let all = parse_reserved_ports("1-65535").expect("parses");
        assert_eq!(all.count_within(r(1024, 65535)), 64512);
    }
}
