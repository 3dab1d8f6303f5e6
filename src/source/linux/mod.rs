//! Linux: sockets by NETLINK_SOCK_DIAG (sock_diag(7)), owners from
//! /proc/PID/fd, the range from /proc/sys/net/ipv4 and sysctl.d(5), a
//! pending reboot from /run/reboot-required.

mod netlink;
mod owners;
mod procinfo;
mod sys;
pub mod sysctl;

use super::{timed, Paths, Request, SocketTable};
use crate::model::{CollectorStatus, Family, Inode, Protocol, RangeView, Snapshot, SockState, Socket, Store};
use crate::parse::inet_diag::{port_filter, range_filter, DiagMsg, ALL_STATES, LISTEN_ONLY};
use crate::parse::procnet::parse_table;
use netlink::DiagSocket;
use owners::{OwnerCache, Wanted};
use procinfo::ProcInfo;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

fn af(f: Family) -> u8 {
    match f {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

fn ipproto(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => libc::IPPROTO_TCP as u8,
        Protocol::Udp => libc::IPPROTO_UDP as u8,
    }
}

fn to_socket(protocol: Protocol, m: &DiagMsg) -> Socket {
    let (family, local) = if m.family == AF_INET6 {
        (Family::Ipv6, IpAddr::V6(Ipv6Addr::from(m.src)))
    } else {
        (Family::Ipv4, IpAddr::V4(Ipv4Addr::new(m.src[0], m.src[1], m.src[2], m.src[3])))
    };
    Socket { protocol, family, local, port: m.sport, state: SockState::from_kernel(m.state), inode: Inode::from(m.inode) }
}

pub struct LinuxSource {
    paths: Paths,
    diag: Option<DiagSocket>,
    owners: OwnerCache,
    procinfo: ProcInfo,
    last_problems: Vec<String>,
}

impl LinuxSource {
    pub fn new(paths: Paths) -> LinuxSource {
        LinuxSource {
            owners: OwnerCache::new(paths.procfs.clone()),
            procinfo: ProcInfo::new(paths.procfs.clone(), paths.rootfs.clone()),
            paths,
            diag: None,
            last_problems: Vec::new(),
        }
    }

    /// Forget cached owners (after a config reload).
    pub fn reset(&mut self) {
        self.owners.clear();
    }

    /// Runs one dump on the shared socket; a failed dump drops the socket so
    /// no half-read reply is mistaken for the next one.
    fn dump(&mut self, family: Family, protocol: Protocol, states: u32, bc: &[u8], f: impl FnMut(DiagMsg)) -> Result<(), String> {
        let sock = match self.diag.take() {
            Some(s) => s,
            None => DiagSocket::open().map_err(|e| e.to_string())?,
        };
        let mut sock = sock;
        let r = sock.dump(af(family), ipproto(protocol), states, bc, f);
        if r.is_ok() {
            self.diag = Some(sock);
        }
        r.map_err(|e| format!("{protocol}/{}: {e}", family.as_str()))
    }

    /// A whole text table from procfs; a missing IPv6 table means no IPv6.
    fn procfs_table(&self, protocol: Protocol, family: Family) -> Result<Vec<Socket>, String> {
        let name = match (protocol, family) {
            (Protocol::Tcp, Family::Ipv4) => "tcp",
            (Protocol::Tcp, Family::Ipv6) => "tcp6",
            (Protocol::Udp, Family::Ipv4) => "udp",
            (Protocol::Udp, Family::Ipv6) => "udp6",
        };
        let path = self.paths.procfs.join("net").join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_table(&text, protocol, family).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::Ipv6 => Ok(Vec::new()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    fn listening_ports(&mut self, table: SocketTable) -> Result<BTreeSet<u16>, String> {
        let mut ports = BTreeSet::new();
        for f in Family::ALL {
            match table {
                SocketTable::Netlink => self.dump(f, Protocol::Tcp, LISTEN_ONLY, &[], |m| {
                    ports.insert(m.sport);
                })?,
                SocketTable::Procfs => {
                    ports.extend(self.procfs_table(Protocol::Tcp, f)?.iter().filter(|s| s.state == SockState::Listen).map(|s| s.port))
                }
            }
        }
        Ok(ports)
    }

    fn sockets(&mut self, req: &Request) -> Result<Vec<Socket>, String> {
        let mut by_proto: Vec<(Protocol, Vec<u16>)> = Vec::new();
        match &req.ports {
            Some(ports) => {
                for p in Protocol::ALL {
                    let mut list: Vec<u16> = ports.iter().filter(|(proto, _)| *proto == p).map(|(_, port)| *port).collect();
                    list.sort_unstable();
                    list.dedup();
                    by_proto.push((p, list));
                }
            }
            None => by_proto.push((Protocol::Tcp, self.listening_ports(req.table)?.into_iter().collect())),
        }
        let mut out = Vec::new();
        for (proto, ports) in by_proto.iter().filter(|(_, p)| !p.is_empty()) {
            let bc = port_filter(ports);
            for f in Family::ALL {
                match req.table {
                    SocketTable::Netlink => self.dump(f, *proto, ALL_STATES, &bc, |m| out.push(to_socket(*proto, &m)))?,
                    SocketTable::Procfs => {
                        out.extend(self.procfs_table(*proto, f)?.into_iter().filter(|s| ports.binary_search(&s.port).is_ok()))
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn ephemeral(&mut self, snap: &mut Snapshot, table: SocketTable) -> Result<(), String> {
        let Some(range) = snap.ranges.get(&(Protocol::Tcp, Family::Ipv4, Store::Active)).and_then(|v| v.range) else {
            return Err("active range unknown".into());
        };
        let bc = range_filter(range);
        for p in Protocol::ALL {
            for f in Family::ALL {
                let mut n = 0u64;
                match table {
                    SocketTable::Netlink => self.dump(f, p, ALL_STATES, &bc, |_| n += 1)?,
                    SocketTable::Procfs => n = self.procfs_table(p, f)?.iter().filter(|s| range.contains(s.port)).count() as u64,
                }
                snap.dynamic_in_use.insert((p, f), n);
            }
        }
        Ok(())
    }

    fn owners(&mut self, snap: &mut Snapshot) -> Result<(), String> {
        let wanted: Vec<Wanted> = snap.sockets.iter().filter(|s| s.inode != 0).map(|s| Wanted { inode: s.inode, port: s.port }).collect();
        let res = self.owners.resolve(&wanted).map_err(|e| format!("listing {}: {e}", self.paths.procfs.display()))?;
        let init_fds = sys::Dir::open(&self.paths.procfs.join("1/fd")).is_ok();
        snap.owners_resolvable = init_fds && res.denied == 0;
        let pids: BTreeSet<u32> = res.owners.values().flatten().copied().collect();
        snap.processes = self.procinfo.lookup(pids).into_iter().collect();
        snap.owners = res.owners;
        Ok(())
    }

    fn persistent(&mut self, snap: &mut Snapshot) -> Result<(), String> {
        let p = sysctl::persistent(&self.paths.rootfs);
        insert_all(snap, Store::Persistent, RangeView { range: Some(p.range), excluded: Some(p.reserved) });
        if p.problems != self.last_problems {
            for problem in &p.problems {
                log::warn!("sysctl.d: {problem}");
            }
            self.last_problems = p.problems.clone();
        }
        match p.problems.first() {
            None => Ok(()),
            Some(first) => Err(format!("{first} ({} problem(s))", p.problems.len())),
        }
    }

    pub fn snapshot(&mut self, req: &Request) -> Snapshot {
        let mut snap = Snapshot::default();
        let mut status: Vec<CollectorStatus> = Vec::new();
        let procfs = self.paths.procfs.clone();
        timed(&mut status, "sysctl", || {
            let (range, reserved) = sysctl::active(&procfs).map_err(|e| e.to_string())?;
            insert_all(&mut snap, Store::Active, RangeView { range: Some(range), excluded: Some(reserved) });
            Ok(())
        });
        timed(&mut status, "sysctld", || self.persistent(&mut snap));
        timed(&mut status, "sockets", || {
            snap.sockets = self.sockets(req)?;
            Ok(())
        });
        timed(&mut status, "owners", || self.owners(&mut snap));
        if req.ephemeral {
            timed(&mut status, "ephemeral", || self.ephemeral(&mut snap, req.table));
        }
        let rootfs = self.paths.rootfs.clone();
        timed(&mut status, "reboot", || {
            snap.reboot_required = Some(["run/reboot-required", "var/run/reboot-required"].iter().any(|p| rootfs.join(p).exists()));
            Ok(())
        });
        snap.collectors = status;
        snap
    }
}

/// Linux has one range and one reserved list for TCP and UDP, IPv4 and IPv6.
fn insert_all(snap: &mut Snapshot, store: Store, view: RangeView) {
    for p in Protocol::ALL {
        for f in Family::ALL {
            snap.ranges.insert((p, f, store), view.clone());
        }
    }
}
