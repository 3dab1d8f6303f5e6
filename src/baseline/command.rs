//! `portwatch_exporter baseline list|forget|accept`: the operator's view of
//! the learned baseline and its edits. Edits are written atomically like the
//! daemon's own writes; a running daemon notices the file changed (its
//! modification time and length differ from what it last read or wrote) and
//! reads it again before its next observation, so the edit wins. A bad file
//! is refused, never overwritten: the daemon sets it aside itself.

use super::learner::describe;
use super::{store, Baseline, Owner, PortKey};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

/// Exit codes, as `check`'s.
pub const OK: i32 = 0;
pub const NOT_FOUND: i32 = 1;
pub const CANNOT_RUN: i32 = 2;

/// `1433`, `1433/tcp`, `53/udp` -> ("tcp", 1433) ...
pub fn parse_port(spec: &str) -> Result<PortKey, String> {
    let (num, proto) = match spec.split_once('/') {
        Some((n, p)) => (n, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    let port: u16 = num.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("{spec:?}: not a port from 1 to 65535"))?;
    if proto != "tcp" && proto != "udp" {
        return Err(format!("{spec:?}: protocol must be tcp or udp"));
    }
    Ok((proto, port))
}

fn read(dir: &Path) -> Result<Baseline, (String, i32)> {
    store::read(dir).map_err(|e| (format!("{e}\n"), CANNOT_RUN))
}

/// The baseline as a table.
pub fn list(dir: &Path) -> (String, i32) {
    let b = match read(dir) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}: {} ports", store::path_in(dir).display(), b.ports.len());
    for e in &b.ports {
        let state = if e.learned() { "learned" } else { "candidate" };
        let owners = if e.learned() { describe(&e.owners) } else { e.pending.as_ref().map(|p| describe(&p.owners)).unwrap_or_default() };
        let pending = match (&e.pending, e.learned()) {
            (Some(p), true) => format!(" (now held by {} since {})", describe(&p.owners), p.since),
            _ => String::new(),
        };
        let owners: String = owners.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        let _ =
            writeln!(out, "{}/{}  {state}  {owners}{pending}  first_seen={} last_seen={}", e.port, e.protocol, e.first_seen, e.last_seen);
    }
    (out, OK)
}

/// Forgets one port.
pub fn forget(dir: &Path, spec: &str) -> (String, i32) {
    let (proto, port) = match parse_port(spec) {
        Ok(k) => k,
        Err(e) => return (format!("{e}\n"), CANNOT_RUN),
    };
    let mut b = match read(dir) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if !b.forget(&proto, port) {
        return (format!("{port}/{proto} is not in the baseline\n"), NOT_FOUND);
    }
    match store::save(dir, &b) {
        Ok(()) => (format!("forgot {port}/{proto}\n"), OK),
        Err(e) => (format!("writing {}: {e}\n", store::path_in(dir).display()), CANNOT_RUN),
    }
}

/// Accepts the current owners of every held port (`held`: None when the
/// scrape could not see sockets and every owner).
pub fn accept(dir: &Path, held: Option<BTreeMap<PortKey, BTreeSet<Owner>>>, now: u64) -> (String, i32) {
    let Some(held) = held else {
        return (
            "cannot accept: the scrape did not see every socket and owner (run as root, or with the exporter's capabilities)\n".into(),
            CANNOT_RUN,
        );
    };
    let mut b = match read(dir) {
        Ok(b) => b,
        Err(e) => return e,
    };
    b.accept(&held, now);
    match store::save(dir, &b) {
        Ok(()) => (format!("accepted the owners of {} held ports\n", held.len()), OK),
        Err(e) => (format!("writing {}: {e}\n", store::path_in(dir).display()), CANNOT_RUN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(parse_port("1433"), Ok(("tcp".into(), 1433)));
        assert_eq!(parse_port("53/UDP"), Ok(("udp".into(), 53)));
        for bad in ["0", "65536", "x", "1433/sctp", "", "/tcp"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forget_and_accept_edit_the_file_and_refuse_a_bad_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let owner = |n: &str| Owner { process: n.into(), exe: None, user: Some("u".into()), unit: None };
        let held = BTreeMap::from([(("tcp".to_string(), 1433), BTreeSet::from([owner("sqlservr")]))]);
        assert_eq!(accept(dir.path(), Some(held), 10).1, OK);
        let (text, code) = list(dir.path());
        assert_eq!(code, OK);
        assert!(text.contains("1433/tcp  learned  sqlservr (u)"), "{text}");
        assert_eq!(forget(dir.path(), "1433/udp").1, NOT_FOUND);
        assert_eq!(forget(dir.path(), "1433").1, OK);
        assert!(store::read(dir.path()).expect("reads").ports.is_empty());
        assert_eq!(accept(dir.path(), None, 11).1, CANNOT_RUN, "a partial scrape is never accepted");
        std::fs::write(store::path_in(dir.path()), b"{garbage").expect("write");
        assert_eq!(forget(dir.path(), "1433").1, CANNOT_RUN);
        assert_eq!(std::fs::read(store::path_in(dir.path())).expect("kept"), b"{garbage", "a bad file is not overwritten");
    }
}
