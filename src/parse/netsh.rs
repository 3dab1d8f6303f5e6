//! `netsh int ipv4|ipv6 show excludedportrange|dynamicportrange protocol=tcp|udp`.
//! Headers, labels and footers are localised, so only what every language
//! shares is read: numbers, the `*` that marks an administered exclusion,
//! the `:` before a value, and the `tcp`/`udp` token of a block's title.

use crate::model::{PortRange, Protocol};

/// One excluded range; `administered` when an operator made it (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exclusion {
    pub range: PortRange,
    pub administered: bool,
}

fn port(token: &str) -> Option<u16> {
    token.parse::<u32>().ok().filter(|p| (1..=65535).contains(p)).map(|p| p as u16)
}

/// Rows are lines of exactly "start end" or "start end *" (any indentation
/// and trailing space). Anything else is header, footer or noise.
pub fn parse_excluded(text: &str) -> Vec<Exclusion> {
    text.lines()
        .filter_map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            let administered = match t.as_slice() {
                [_, _] => false,
                [_, _, "*"] => true,
                _ => return None,
            };
            let (start, end) = (port(t[0])?, port(t[1])?);
            (start <= end).then_some(Exclusion { range: PortRange { start, end }, administered })
        })
        .collect()
}

/// Like [`parse_excluded`], but None when the text is not an exclusion
/// table at all (no rows and no dashed separator line): an unknown command's
/// output must not read as "nothing excluded".
pub fn parse_excluded_table(text: &str) -> Option<Vec<Exclusion>> {
    let rows = parse_excluded(text);
    let separator = text.lines().any(|l| {
        let groups: Vec<&str> = l.split_whitespace().collect();
        !groups.is_empty() && groups.iter().all(|g| g.len() >= 4 && g.chars().all(|c| c == '-'))
    });
    (!rows.is_empty() || separator).then_some(rows)
}

/// One block of `show dynamicportrange`: its protocol (None when no title
/// was captured) and the range from "start" and "number of ports".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicRange {
    pub protocol: Option<Protocol>,
    pub range: PortRange,
}

fn protocol_token(token: &str) -> Option<Protocol> {
    match token.to_ascii_lowercase().as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// Reads `Label : N` values in order: a `tcp`/`udp` token opens a block, and
/// a block's first two values are the start port and the number of ports.
/// Works on one line per value, and on output collapsed into one line.
pub fn parse_dynamic(text: &str) -> Vec<DynamicRange> {
    let mut out = Vec::new();
    let mut protocol = None;
    let mut values: Vec<u32> = Vec::new();
    let mut after_colon = false;
    let mut flush = |protocol: Option<Protocol>, values: &mut Vec<u32>| {
        if let [start, count, ..] = values[..] {
            let end = start + count.saturating_sub(1);
            if (1..=65535).contains(&start) && count >= 1 && end <= 65535 {
                out.push(DynamicRange { protocol, range: PortRange { start: start as u16, end: end as u16 } });
            }
        }
        values.clear();
    };
    let normalized = text.replace('\u{FF1A}', ":");
    for raw in normalized.split_whitespace() {
        if let Some(p) = protocol_token(raw) {
            flush(protocol, &mut values);
            protocol = Some(p);
            after_colon = false;
            continue;
        }
        // "Port:49152", "Port:", ":", ":49152", "49152".
        let (head, tail) = match raw.rsplit_once(':') {
            Some((h, t)) => (Some(h), t),
            None => (None, raw),
        };
        if head.is_some() {
            after_colon = true;
        }
        if after_colon && !tail.is_empty() {
            if let Ok(n) = tail.parse::<u32>() {
                values.push(n);
            }
            after_colon = false;
        }
    }
    flush(protocol, &mut values);
    out
}

#[cfg(test)]
#[path = "netsh_tests.rs"]
mod tests;
