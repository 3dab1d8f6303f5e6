//! OS-free: sockets in the dynamic range tallied by destination (remote
//! address and port) while a dump streams by, and the top K kept. Linux
//! picks an ephemeral port per 4-tuple (net/ipv4/inet_hashtables.c,
//! `__inet_hash_connect`), so ports run out per destination, not per host.
//!
//! What counts as a destination:
//! - a socket with a peer (remote port not 0, address not unspecified);
//!   listening, bound and unconnected sockets have none;
//! - not an accepted connection: a socket whose local port is a port
//!   listening in the same dump is a listener's child, whose peer is a client
//!   and whose port was never picked from the range. The kernel dumps the
//!   listening hash before the established one (and /proc/net/tcp lists
//!   listeners first), so the listeners are known before their children;
//! - an IPv4-mapped IPv6 peer is counted as its IPv4 address (see
//!   [`Destination`]).
//!
//! Memory is bounded: at most [`MAX_DESTINATIONS`] distinct destinations
//! are tallied per protocol; sockets to further ones are counted as untracked.

use crate::model::{Destination, DestinationLoad, Destinations, Family, Protocol, SockState};
use std::collections::HashMap;
use std::net::IpAddr;

/// Distinct destinations tallied per protocol and scrape (about 48 bytes each).
pub const MAX_DESTINATIONS: usize = 1 << 16;

/// One protocol's tally over one dump.
#[derive(Debug)]
pub struct Tally {
    protocol: Protocol,
    /// (in use, TIME_WAIT) per (address, port); the family follows from the address.
    by_peer: HashMap<(IpAddr, u16), (u64, u64)>,
    /// Local ports with a listening socket, sorted.
    listening: Vec<u16>,
    untracked: u64,
    cap: usize,
}

/// The destination of a peer address: IPv4-mapped addresses as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl Tally {
    pub fn new(protocol: Protocol) -> Tally {
        Tally::with_cap(protocol, MAX_DESTINATIONS)
    }

    pub fn with_cap(protocol: Protocol, cap: usize) -> Tally {
        Tally { protocol, by_peer: HashMap::new(), listening: Vec::new(), untracked: 0, cap }
    }

    /// One socket whose local port lies in the dynamic range.
    pub fn add(&mut self, state: SockState, local_port: u16, peer: IpAddr, peer_port: u16) {
        if state == SockState::Listen {
            if let Err(at) = self.listening.binary_search(&local_port) {
                self.listening.insert(at, local_port);
            }
            return;
        }
        if peer_port == 0 || peer.is_unspecified() || self.listening.binary_search(&local_port).is_ok() {
            return;
        }
        let key = (canonical(peer), peer_port);
        let full = self.by_peer.len() >= self.cap;
        let slot = match self.by_peer.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(_) if full => {
                self.untracked += 1;
                return;
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert((0, 0)),
        };
        if state == SockState::TimeWait {
            slot.1 += 1;
        } else {
            slot.0 += 1;
        }
    }

    /// Adds this tally's top `k` and counts to `into` (which may hold other protocols').
    pub fn finish(self, k: usize, into: &mut Destinations) {
        let protocol = self.protocol;
        let mut all: Vec<DestinationLoad> = self
            .by_peer
            .into_iter()
            .map(|((address, port), (in_use, time_wait))| {
                let family = if address.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 };
                DestinationLoad { destination: Destination { protocol, family, address, port }, in_use, time_wait }
            })
            .collect();
        *into.distinct.entry(protocol).or_default() += all.len() as u64;
        *into.untracked.entry(protocol).or_default() += self.untracked;
        let order = |a: &DestinationLoad, b: &DestinationLoad| {
            b.taken().cmp(&a.taken()).then(b.in_use.cmp(&a.in_use)).then(a.destination.cmp(&b.destination))
        };
        if k < all.len() {
            // Only the first k need sorting: a partition, then a sort of k.
            all.select_nth_unstable_by(k, order);
            all.truncate(k);
        }
        all.sort_unstable_by(order);
        into.top.extend(all);
        into.top.sort_by(order);
        into.top.truncate(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use std::collections::BTreeMap;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn listeners_their_children_and_sockets_without_peer_are_not_destinations() {
        let mut t = Tally::new(Protocol::Tcp);
        t.add(SockState::Listen, 40000, ip("0.0.0.0"), 0);
        t.add(SockState::Established, 40000, ip("10.0.0.9"), 51000); // accepted on the listener
        t.add(SockState::TimeWait, 40000, ip("10.0.0.9"), 51001);
        t.add(SockState::Close, 40001, ip("0.0.0.0"), 0); // bound, no peer
        t.add(SockState::SynSent, 40002, ip("10.0.0.5"), 443);
        t.add(SockState::TimeWait, 40003, ip("::ffff:10.0.0.5"), 443); // mapped: the same destination
        t.add(SockState::Established, 40004, ip("::1"), 443);
        let mut d = Destinations::default();
        t.finish(10, &mut d);
        let v4 = Destination { protocol: Protocol::Tcp, family: Family::Ipv4, address: ip("10.0.0.5"), port: 443 };
        let v6 = Destination { protocol: Protocol::Tcp, family: Family::Ipv6, address: ip("::1"), port: 443 };
        assert_eq!(
            d.top,
            vec![
                DestinationLoad { destination: v4, in_use: 1, time_wait: 1 },
                DestinationLoad { destination: v6, in_use: 1, time_wait: 0 }
            ]
        );
        assert_eq!(d.distinct[&Protocol::Tcp], 2);
        assert_eq!(d.untracked[&Protocol::Tcp], 0);
    }

    /// Generated dumps against a plain count over the whole list, sorted in full.
    #[test]
    fn generated_dumps_keep_the_exact_top_k() {
        let mut rng = Rng::from_env("PORTWATCH_SEED", 0xde57_1a7e);
        for case in 0..200 {
            let peers: Vec<(IpAddr, u16)> = (0..1 + rng.below(30))
                .map(|_| {
                    let a = match rng.below(3) {
                        0 => IpAddr::V4(Ipv4Addr::new(10, 0, rng.below(3) as u8, rng.below(4) as u8)),
                        1 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, rng.below(4) as u16)),
                        _ => IpAddr::V6(Ipv4Addr::new(10, 0, rng.below(3) as u8, rng.below(4) as u8).to_ipv6_mapped()),
                    };
                    (a, [80, 443, 5432][rng.below(3) as usize])
                })
                .collect();
            let listeners: Vec<u16> = (0..rng.below(3)).map(|_| 40000 + rng.below(50) as u16).collect();
            let k = rng.below(8) as usize;
            let cap = if rng.below(4) == 0 { 1 + rng.below(5) as usize } else { MAX_DESTINATIONS };
            let mut t = Tally::with_cap(Protocol::Tcp, cap);
            for &l in &listeners {
                t.add(SockState::Listen, l, ip("0.0.0.0"), 0);
            }
            // The plain model: every socket kept, then counted.
            let mut model: BTreeMap<(IpAddr, u16), (u64, u64)> = BTreeMap::new();
            let mut first_seen: Vec<(IpAddr, u16)> = Vec::new();
            let mut untracked = 0;
            for _ in 0..rng.below(300) {
                let (peer, port) = peers[rng.below(peers.len() as u64) as usize];
                let local = 40000 + rng.below(100) as u16;
                let state = [SockState::Established, SockState::TimeWait, SockState::SynSent, SockState::FinWait2][rng.below(4) as usize];
                let no_peer = rng.below(10) == 0;
                let port = if no_peer { 0 } else { port };
                t.add(state, local, peer, port);
                if no_peer || listeners.contains(&local) {
                    continue;
                }
                let key = (peer.to_canonical(), port);
                if !first_seen.contains(&key) {
                    if first_seen.len() >= cap {
                        untracked += 1;
                        continue;
                    }
                    first_seen.push(key);
                }
                let e = model.entry(key).or_default();
                if state == SockState::TimeWait {
                    e.1 += 1;
                } else {
                    e.0 += 1;
                }
            }
            let mut want: Vec<(u64, u64, IpAddr, u16)> = model.iter().map(|(&(a, p), &(u, w))| (u, w, a, p)).collect();
            want.sort_by(|a, b| (b.0 + b.1, b.0, a.2.is_ipv6(), a.2, a.3).cmp(&(a.0 + a.1, a.0, b.2.is_ipv6(), b.2, b.3)));
            want.truncate(k);
            let mut d = Destinations::default();
            t.finish(k, &mut d);
            let got: Vec<_> = d.top.iter().map(|l| (l.in_use, l.time_wait, l.destination.address, l.destination.port)).collect();
            assert_eq!(got, want, "case {case}");
            assert_eq!(d.distinct[&Protocol::Tcp], model.len() as u64, "case {case}");
            assert_eq!(d.untracked[&Protocol::Tcp], untracked, "case {case}");
            for l in &d.top {
                assert_eq!(l.destination.family == Family::Ipv4, l.destination.address.is_ipv4(), "case {case}");
            }
        }
    }
}
