//! Sockets on the watched ports and the count of sockets in the dynamic
//! range, in one pass per protocol: the kernel walks its TCP hash once per
//! dump whatever the filter, so the filter is "watched ports OR the range"
//! and one legacy TCPDIAG_GETSOCK request covers IPv4 and IPv6 together.
//! UDP has no such request: one dump per family.

use super::netlink::{DiagSocket, NetlinkError};
use crate::model::{Family, Inode, PortRange, PortSet, Protocol, SockState, Socket};
use crate::parse::inet_diag::{build_request, build_tcp_compat_request, ranges_filter, DiagError, DiagMsg, ALL_STATES, LISTEN_ONLY};
use crate::parse::procnet::{parse_table, Table};
use crate::platform::files::{self, cap};
use crate::source::destinations::Tally;
use crate::source::SocketTable;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// What one protocol's pass looks for.
#[derive(Debug, Default)]
pub struct Plan {
    /// Sorted, deduplicated.
    pub watched: Vec<u16>,
    /// Count sockets whose local port is in this range.
    pub range: Option<PortRange>,
    /// Also tally the range's sockets by destination (needs `range`).
    pub destinations: bool,
}

#[derive(Debug, Default)]
pub struct Pass {
    pub sockets: Vec<Socket>,
    pub in_range: BTreeMap<Family, u64>,
    /// The range's sockets by destination, when the plan asked for them.
    pub destinations: Option<Tally>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.watched.is_empty() && self.range.is_none()
    }

    fn bytecode(&self) -> Vec<u8> {
        let mut ranges: Vec<PortRange> = self.watched.iter().map(|&p| PortRange { start: p, end: p }).collect();
        ranges.extend(self.range);
        ranges_filter(PortSet::from_ranges(ranges).ranges())
    }

    /// Counts a socket in the range by port and family (and by destination
    /// when asked), and builds the `Socket` only when its port is watched
    /// (most are only counted).
    fn record(
        &self,
        port: u16,
        family: Family,
        peer: impl FnOnce() -> (SockState, IpAddr, u16),
        socket: impl FnOnce() -> Socket,
        pass: &mut Pass,
    ) {
        if self.range.is_some_and(|r| r.contains(port)) {
            *pass.in_range.entry(family).or_default() += 1;
            if let Some(tally) = pass.destinations.as_mut() {
                let (state, address, peer_port) = peer();
                tally.add(state, port, address, peer_port);
            }
        }
        if self.watched.binary_search(&port).is_ok() {
            pass.sockets.push(socket());
        }
    }
}

fn family_of(m: &DiagMsg) -> Family {
    if i32::from(m.family) == libc::AF_INET6 {
        Family::Ipv6
    } else {
        Family::Ipv4
    }
}

fn address(family: Family, bytes: [u8; 16]) -> IpAddr {
    match family {
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(bytes)),
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
    }
}

fn to_socket(protocol: Protocol, m: &DiagMsg) -> Socket {
    let family = family_of(m);
    let local = address(family, m.src);
    Socket { protocol, family, local, port: m.sport, state: SockState::from_kernel(m.state), inode: Inode::from(m.inode) }
}

/// The state and remote end of a dumped socket.
fn peer_of(m: &DiagMsg) -> (SockState, IpAddr, u16) {
    (SockState::from_kernel(m.state), address(family_of(m), m.dst), m.dport)
}

fn af(f: Family) -> u8 {
    match f {
        Family::Ipv4 => libc::AF_INET as u8,
        Family::Ipv6 => libc::AF_INET6 as u8,
    }
}

pub struct SocketReader {
    procfs: PathBuf,
    /// Malformed rows last reported per procfs table, so a lasting one is
    /// logged when its count changes, not on every scrape.
    skipped: BTreeMap<&'static str, usize>,
    diag: Option<DiagSocket>,
    /// False once the kernel refused the legacy TCP request.
    compat: bool,
}

impl SocketReader {
    pub fn new(procfs: PathBuf) -> SocketReader {
        SocketReader { procfs, skipped: BTreeMap::new(), diag: None, compat: true }
    }

    /// One request on the shared socket; a failed dump drops the socket so
    /// no half-read reply is mistaken for the next one.
    fn dump(&mut self, req: &[u8], f: impl FnMut(DiagMsg)) -> Result<(), NetlinkError> {
        let mut sock = match self.diag.take() {
            Some(s) => s,
            None => DiagSocket::open()?,
        };
        let r = sock.dump(req, f);
        if r.is_ok() {
            self.diag = Some(sock);
        }
        r
    }

    /// TCP with one legacy request for both families, or two v2 requests on
    /// kernels that refuse it.
    fn dump_tcp(&mut self, states: u32, bc: &[u8], mut f: impl FnMut(DiagMsg)) -> Result<(), String> {
        if self.compat {
            match self.dump(&build_tcp_compat_request(states, bc, 0), &mut f) {
                Ok(()) => return Ok(()),
                Err(NetlinkError::Diag(DiagError::Errno(e))) => {
                    log::info!("kernel refuses the legacy TCP dump (errno {e}); using one dump per family");
                    self.compat = false;
                }
                Err(e) => return Err(format!("tcp: {e}")),
            }
        }
        for family in Family::ALL {
            self.dump(&build_request(af(family), libc::IPPROTO_TCP as u8, states, bc, 0), &mut f)
                .map_err(|e| format!("tcp/{}: {e}", family.as_str()))?;
        }
        Ok(())
    }

    /// A whole text table from procfs; a missing IPv6 table means no IPv6.
    fn procfs_table(&mut self, protocol: Protocol, family: Family) -> Result<Table, String> {
        let name = match (protocol, family) {
            (Protocol::Tcp, Family::Ipv4) => "tcp",
            (Protocol::Tcp, Family::Ipv6) => "tcp6",
            (Protocol::Udp, Family::Ipv4) => "udp",
            (Protocol::Udp, Family::Ipv6) => "udp6",
        };
        let path = self.procfs.join("net").join(name);
        match files::read_text(&path, cap::PROC_NET) {
            Ok(text) => {
                let table = parse_table(&text, protocol, family).map_err(|e| format!("{}: {e}", path.display()))?;
                if self.skipped.insert(name, table.skipped).unwrap_or(0) != table.skipped {
                    if let Some((line, why)) = table.first_skipped {
                        log::warn!("{}: skipped {} malformed row(s); the first, line {line}: {why}", path.display(), table.skipped);
                    }
                }
                Ok(table)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(Table::default()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// TCP ports with a listening socket (only the listening hash is walked).
    pub fn listening_ports(&mut self, table: SocketTable) -> Result<BTreeSet<u16>, String> {
        let mut ports = BTreeSet::new();
        match table {
            SocketTable::Netlink => self.dump_tcp(LISTEN_ONLY, &[], |m| {
                ports.insert(m.sport);
            })?,
            SocketTable::Procfs => {
                for f in Family::ALL {
                    ports.extend(
                        self.procfs_table(Protocol::Tcp, f)?.sockets.iter().filter(|s| s.state == SockState::Listen).map(|s| s.port),
                    );
                }
            }
        }
        Ok(ports)
    }

    /// One protocol's pass.
    pub fn pass(&mut self, table: SocketTable, protocol: Protocol, plan: &Plan) -> Result<Pass, String> {
        let mut pass = Pass::default();
        if plan.range.is_some() {
            pass.in_range = Family::ALL.iter().map(|f| (*f, 0)).collect();
            pass.destinations = plan.destinations.then(|| Tally::new(protocol));
        }
        if plan.is_empty() {
            return Ok(pass);
        }
        match (table, protocol) {
            (SocketTable::Netlink, Protocol::Tcp) => {
                let bc = plan.bytecode();
                self.dump_tcp(ALL_STATES, &bc, |m| {
                    plan.record(m.sport, family_of(&m), || peer_of(&m), || to_socket(protocol, &m), &mut pass)
                })?;
            }
            (SocketTable::Netlink, Protocol::Udp) => {
                let bc = plan.bytecode();
                for family in Family::ALL {
                    let req = build_request(af(family), libc::IPPROTO_UDP as u8, ALL_STATES, &bc, 0);
                    self.dump(&req, |m| plan.record(m.sport, family_of(&m), || peer_of(&m), || to_socket(protocol, &m), &mut pass))
                        .map_err(|e| format!("udp/{}: {e}", family.as_str()))?;
                }
            }
            (SocketTable::Procfs, _) => {
                for family in Family::ALL {
                    let table = self.procfs_table(protocol, family)?;
                    for (s, (address, peer_port)) in table.sockets.into_iter().zip(table.peers) {
                        let state = s.state;
                        plan.record(s.port, s.family, || (state, address, peer_port), || s, &mut pass);
                    }
                }
            }
        }
        Ok(pass)
    }
}
