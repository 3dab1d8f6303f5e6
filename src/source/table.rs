//! Sockets from a full table of (socket, pid) rows, as Windows, macOS and
//! FreeBSD list them (Linux filters in the kernel instead). OS-free, so it
//! is tested on every OS.

use super::{Request, Run};
use crate::model::{CollectorName, Pid, Protocol, Ranges, SockState, Socket, Store};
use std::collections::{BTreeMap, BTreeSet};

/// Fills the snapshot's sockets, owners and range counts from `rows` and
/// returns the pids that hold a watched socket. A row's `inode` is the
/// socket's identity: rows with the same non-zero identity are one socket
/// held by several processes; a row with identity 0 is a socket of its own.
/// Pid 0 means "no owner given". The ephemeral count is taken against the
/// active views of `ranges` (read even when their own collector was not asked
/// for). `None` (the table could not be read) leaves the range count failed,
/// not 0. Sockets and owners are filled only when the request wants sockets.
pub(crate) fn fill(run: &mut Run, req: &Request, rows: Option<Vec<(Socket, Pid)>>, ranges: &Ranges) -> BTreeSet<Pid> {
    let Some(rows) = rows else {
        if req.wants(CollectorName::Ephemeral) {
            run.record(CollectorName::Ephemeral, false, "no socket table");
        }
        return BTreeSet::new();
    };
    let real: BTreeSet<u64> = rows.iter().map(|(s, _)| s.inode).filter(|i| *i != 0).collect();
    let mut next_free = 0u64;
    let mut sockets: BTreeMap<u64, Socket> = BTreeMap::new();
    let mut owners: BTreeMap<u64, BTreeSet<Pid>> = BTreeMap::new();
    for (mut s, pid) in rows {
        if s.inode == 0 {
            next_free += 1;
            while real.contains(&next_free) {
                next_free += 1;
            }
            s.inode = next_free;
        }
        if pid != 0 {
            owners.entry(s.inode).or_default().insert(pid);
        }
        sockets.entry(s.inode).or_insert(s);
    }
    let watched: BTreeSet<(Protocol, u16)> = match &req.ports {
        Some(p) => p.iter().copied().collect(),
        None => sockets
            .values()
            .filter(|s| s.protocol == Protocol::Tcp && s.state == SockState::Listen)
            .map(|s| (Protocol::Tcp, s.port))
            .chain(req.also.iter().copied())
            .collect(),
    };
    if req.wants(CollectorName::Ephemeral) {
        for ((proto, fam, store), view) in ranges {
            if let (Store::Active, Some(r)) = (store, view.range) {
                let n = sockets.values().filter(|s| s.protocol == *proto && s.family == *fam && r.contains(s.port)).count();
                run.snap.dynamic_in_use.insert((*proto, *fam), n as u64);
            }
        }
        let counted = !run.snap.dynamic_in_use.is_empty();
        run.record(CollectorName::Ephemeral, counted, "no active range or no socket table");
    }
    let mut pids = BTreeSet::new();
    if !req.wants(CollectorName::Sockets) {
        return pids;
    }
    let in_ranges = |s: &Socket| req.ranges.iter().any(|(p, r)| *p == s.protocol && r.contains(s.port));
    for (id, s) in sockets {
        if !watched.contains(&(s.protocol, s.port)) && !in_ranges(&s) {
            continue;
        }
        if let Some(o) = owners.remove(&id) {
            pids.extend(o.iter().copied());
            run.snap.owners.insert(id, o);
        }
        run.snap.sockets.push(s);
    }
    run.snap.sockets.sort();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{collector_ok, CollectorSet, Family, PortRange, RangeView, Snapshot};
    use std::time::Instant;

    fn sock(protocol: Protocol, port: u16, state: SockState, inode: u64) -> Socket {
        Socket { protocol, family: Family::Ipv4, local: "0.0.0.0".parse().expect("ip"), port, state, inode }
    }

    fn all() -> CollectorSet {
        CollectorName::ALL.into_iter().collect()
    }

    fn req(ports: Option<Vec<(Protocol, u16)>>) -> Request {
        Request {
            ports,
            also: vec![],
            ranges: vec![],
            collectors: all(),
            table: super::super::SocketTable::Netlink,
            destinations: 0,
            deadline: Instant::now(),
        }
    }

    fn run() -> Run {
        Run::new(Instant::now(), all())
    }

    fn range() -> Ranges {
        let view = RangeView { range: Some(PortRange { start: 49152, end: 65535 }), excluded: None, system_excluded: None, high: None };
        Ranges::from([((Protocol::Tcp, Family::Ipv4, Store::Active), view)])
    }

    fn ephemeral_ok(snap: &Snapshot) -> Option<bool> {
        collector_ok(&snap.collectors, CollectorName::Ephemeral)
    }

    #[test]
    fn shared_sockets_merge_and_unwatched_ones_only_count() {
        let rows = vec![
            (sock(Protocol::Tcp, 1433, SockState::Listen, 0xa1), 100),
            (sock(Protocol::Tcp, 1433, SockState::Listen, 0xa1), 101), // the same socket, inherited by a child
            (sock(Protocol::Tcp, 50000, SockState::Established, 0xa2), 200),
            (sock(Protocol::Tcp, 50001, SockState::Established, 0xa3), 0),
            (sock(Protocol::Tcp, 8080, SockState::Listen, 0xa4), 300),
        ];
        let mut run = run();
        let pids = fill(&mut run, &req(Some(vec![(Protocol::Tcp, 1433), (Protocol::Tcp, 50001)])), Some(rows), &range());
        assert_eq!(pids, BTreeSet::from([100, 101]));
        assert_eq!(run.snap.sockets.iter().map(|s| s.port).collect::<Vec<_>>(), vec![1433, 50001]);
        assert_eq!(run.snap.owners.get(&0xa1), Some(&BTreeSet::from([100, 101])));
        assert_eq!(run.snap.owners.get(&0xa3), None, "pid 0 is no owner");
        assert_eq!(run.snap.dynamic_in_use.get(&(Protocol::Tcp, Family::Ipv4)), Some(&2), "two distinct sockets in the range");
    }

    #[test]
    fn sockets_on_a_watched_range_are_listed_for_its_protocol_only() {
        let rows = vec![
            (sock(Protocol::Tcp, 29999, SockState::Listen, 1), 10),
            (sock(Protocol::Tcp, 30000, SockState::Listen, 2), 11),
            (sock(Protocol::Tcp, 32767, SockState::Established, 3), 12),
            (sock(Protocol::Udp, 31000, SockState::Close, 4), 13),
            (sock(Protocol::Tcp, 32768, SockState::Listen, 5), 14),
        ];
        let mut run = run();
        let r = Request { ranges: vec![(Protocol::Tcp, PortRange { start: 30000, end: 32767 })], ..req(Some(vec![])) };
        assert_eq!(fill(&mut run, &r, Some(rows), &range()), BTreeSet::from([11, 12]));
        assert_eq!(
            run.snap.sockets.iter().map(|s| (s.protocol, s.port)).collect::<Vec<_>>(),
            vec![(Protocol::Tcp, 30000), (Protocol::Tcp, 32767)]
        );
    }

    #[test]
    fn rows_without_identity_stay_apart_and_never_take_a_real_one() {
        let rows = vec![
            (sock(Protocol::Tcp, 80, SockState::Listen, 0), 7),
            (sock(Protocol::Tcp, 80, SockState::Established, 0), 8),
            (sock(Protocol::Tcp, 80, SockState::Listen, 1), 9),
        ];
        let mut run = run();
        let pids = fill(&mut run, &req(None), Some(rows), &range());
        assert_eq!(pids, BTreeSet::from([7, 8, 9]));
        assert_eq!(run.snap.sockets.len(), 3);
        let ids: BTreeSet<u64> = run.snap.sockets.iter().map(|s| s.inode).collect();
        assert_eq!(ids.len(), 3, "three distinct identities: {ids:?}");
        assert_eq!(run.snap.owners.get(&1), Some(&BTreeSet::from([9])));
    }

    #[test]
    fn discovery_watches_tcp_listeners_only() {
        let rows = vec![(sock(Protocol::Udp, 53, SockState::Close, 1), 5), (sock(Protocol::Tcp, 22, SockState::Listen, 2), 6)];
        let mut run = run();
        fill(&mut run, &req(None), Some(rows), &Ranges::new());
        assert_eq!(run.snap.sockets.iter().map(|s| (s.protocol, s.port)).collect::<Vec<_>>(), vec![(Protocol::Tcp, 22)]);
        assert_eq!(ephemeral_ok(&run.snap), Some(false), "no range: count fails");
    }

    #[test]
    fn an_unreadable_table_is_a_failed_count_not_zero() {
        let mut run = run();
        assert!(fill(&mut run, &req(None), None, &range()).is_empty());
        assert!(run.snap.dynamic_in_use.is_empty());
        assert_eq!(ephemeral_ok(&run.snap), Some(false));
    }

    #[test]
    fn the_count_alone_fills_no_sockets_and_sockets_alone_no_count() {
        let rows =
            vec![(sock(Protocol::Tcp, 1433, SockState::Listen, 1), 100), (sock(Protocol::Tcp, 50000, SockState::Established, 2), 200)];
        let only = |c: CollectorName| Request { collectors: [c].into_iter().collect(), ..req(Some(vec![(Protocol::Tcp, 1433)])) };
        let mut count = Run::new(Instant::now(), [CollectorName::Ephemeral].into_iter().collect());
        assert!(fill(&mut count, &only(CollectorName::Ephemeral), Some(rows.clone()), &range()).is_empty(), "no owners to look up");
        assert!(count.snap.sockets.is_empty() && count.snap.owners.is_empty());
        assert_eq!(count.snap.dynamic_in_use.get(&(Protocol::Tcp, Family::Ipv4)), Some(&1));
        let mut socks = Run::new(Instant::now(), [CollectorName::Sockets].into_iter().collect());
        assert_eq!(fill(&mut socks, &only(CollectorName::Sockets), Some(rows), &range()), BTreeSet::from([100]));
        assert!(socks.snap.dynamic_in_use.is_empty() && ephemeral_ok(&socks.snap).is_none(), "no count, and no status for it");
    }
}
