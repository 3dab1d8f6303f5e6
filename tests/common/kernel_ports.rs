//! The kernel's port sysctls read back inside a namespace, parsed as the
//! kernel prints them, and the counts of a span of ports against them: the
//! oracle of the range tests (`port_ranges.rs`, `nodeport_range.rs`).
#![allow(dead_code)]

use super::netns::Netns;
use std::collections::BTreeSet;

/// `sysctl -n KEY` inside a namespace, as the kernel prints it.
pub fn read_sysctl(ns: &Netns, key: &str) -> String {
    let out = ns.cmd("cat").arg(format!("/proc/sys/{}", key.replace('.', "/"))).output().expect("cat");
    assert!(out.status.success(), "reading {key}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The kernel's printed range, "LOW\tHIGH".
pub fn parse_range(text: &str) -> (u16, u16) {
    let v: Vec<u16> = text.split_whitespace().map(|n| n.parse().expect("number")).collect();
    (v[0], v[1])
}

/// The kernel's printed reserved list, "a-b,c" (empty when none).
pub fn parse_reserved(text: &str) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        out.extend(a.parse::<u16>().expect("port")..=b.parse::<u16>().expect("port"));
    }
    out
}

/// (in the dynamic range, excluded, at risk) over the ports of `span`, port by port.
pub fn counts(span: (u16, u16), range: (u16, u16), reserved: &BTreeSet<u16>) -> (u32, u32, u32) {
    let (mut inside, mut excluded, mut risk) = (0, 0, 0);
    for p in span.0..=span.1 {
        let i = range.0 <= p && p <= range.1;
        let e = reserved.contains(&p);
        inside += u32::from(i);
        excluded += u32::from(e);
        risk += u32::from(i && !e);
    }
    (inside, excluded, risk)
}

/// Pieces (first, last) written as `ip_local_reserved_ports` takes them: "a-b,c".
pub fn reserved_list(pieces: impl Iterator<Item = (u16, u16)>) -> String {
    pieces.map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(",")
}
