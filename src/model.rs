//! Plain data that flows from a source to the assessment: no I/O, no logic
//! beyond small helpers on the types themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Process id as the OS reports it.
pub type Pid = u32;
/// Socket inode (Linux) or any OS socket identity; 0 means "no identity".
pub type Inode = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// Socket state, named as the kernel names it (lower case in labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SockState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    /// UDP: bound but not connected ("unconn" in ss). TCP: a socket in a
    /// dump in this state is bound but neither listening nor connected.
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    /// TCP socket bound with bind() but neither listening nor connected.
    BoundInactive,
    Unknown(u8),
}

impl SockState {
    /// Kernel numbering from include/net/tcp_states.h.
    pub fn from_kernel(v: u8) -> SockState {
        match v {
            1 => SockState::Established,
            2 => SockState::SynSent,
            3 => SockState::SynRecv,
            4 => SockState::FinWait1,
            5 => SockState::FinWait2,
            6 => SockState::TimeWait,
            7 => SockState::Close,
            8 => SockState::CloseWait,
            9 => SockState::LastAck,
            10 => SockState::Listen,
            11 => SockState::Closing,
            12 => SockState::NewSynRecv,
            13 => SockState::BoundInactive,
            other => SockState::Unknown(other),
        }
    }

    /// Label value. Sockets in the kernel's CLOSE state that a dump still
    /// lists are bound: UDP ones are `unconn` (as in ss), TCP ones
    /// `bound_inactive` (bind(2) without listen or connect; Linux 6.8+ dumps them).
    pub fn label(self, protocol: Protocol) -> String {
        let s = match self {
            SockState::Established => "established",
            SockState::SynSent => "syn_sent",
            SockState::SynRecv => "syn_recv",
            SockState::FinWait1 => "fin_wait1",
            SockState::FinWait2 => "fin_wait2",
            SockState::TimeWait => "time_wait",
            SockState::Close if protocol == Protocol::Udp => "unconn",
            SockState::Close => "bound_inactive",
            SockState::CloseWait => "close_wait",
            SockState::LastAck => "last_ack",
            SockState::Listen => "listen",
            SockState::Closing => "closing",
            SockState::NewSynRecv => "new_syn_recv",
            SockState::BoundInactive => "bound_inactive",
            SockState::Unknown(v) => return format!("unknown_{v}"),
        };
        s.to_string()
    }
}

/// One socket that holds a local port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Socket {
    pub protocol: Protocol,
    pub family: Family,
    pub local: IpAddr,
    pub port: u16,
    pub state: SockState,
    /// 0 when the socket has no inode (TIME_WAIT, request sockets).
    pub inode: Inode,
}

/// What is known of one process that holds a socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Short name (Linux: `comm`).
    pub name: String,
    /// Absolute path of the executable, when readable.
    pub exe: Option<String>,
    /// User name, or the numeric uid when no name is known.
    pub user: Option<String>,
    /// Service units (systemd unit from the cgroup; Windows service names).
    pub units: Vec<String>,
    /// Linux: the cgroup path (the unified hierarchy's, else the systemd one's).
    pub cgroup: Option<String>,
    /// Linux: the container the process runs in, from its cgroup.
    pub container: Option<crate::parse::container::Container>,
}

/// An inclusive port range, as the dynamic (ephemeral) range is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }
    /// Number of ports in the range (never 0: a range holds at least one port).
    pub fn count(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }
}

/// A set of ports kept as sorted, merged, inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    ranges: Vec<PortRange>,
}

impl PortSet {
    /// Builds a set from ranges in any order, merging overlaps and neighbours.
    pub fn from_ranges(mut ranges: Vec<PortRange>) -> PortSet {
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<PortRange> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(r.start) <= u32::from(last.end) + 1 => {
                    last.end = last.end.max(r.end);
                }
                _ => merged.push(r),
            }
        }
        PortSet { ranges: merged }
    }

    pub fn ranges(&self) -> &[PortRange] {
        &self.ranges
    }

    pub fn contains(&self, port: u16) -> bool {
        let idx = self.ranges.partition_point(|r| r.end < port);
        self.ranges.get(idx).is_some_and(|r| r.contains(port))
    }

    /// The ports in both sets.
    pub fn intersection(&self, other: &PortSet) -> PortSet {
        let (mut out, mut i, mut j) = (Vec::new(), 0, 0);
        while let (Some(a), Some(b)) = (self.ranges.get(i), other.ranges.get(j)) {
            let (lo, hi) = (a.start.max(b.start), a.end.min(b.end));
            if lo <= hi {
                out.push(PortRange { start: lo, end: hi });
            }
            if a.end < b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet { ranges: out }
    }

    /// The ports of this set that are not in `other`.
    pub fn difference(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        for r in &self.ranges {
            let mut from = u32::from(r.start);
            for o in other.ranges.iter().filter(|o| o.end >= r.start && o.start <= r.end) {
                if u32::from(o.start) > from {
                    out.push(PortRange { start: from as u16, end: o.start - 1 });
                }
                from = u32::from(o.end) + 1;
            }
            if from <= u32::from(r.end) {
                out.push(PortRange { start: from as u16, end: r.end });
            }
        }
        PortSet { ranges: out }
    }

    /// Ports in the set.
    pub fn len(&self) -> u32 {
        self.ranges.iter().map(PortRange::count).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many ports of `range` are in the set.
    pub fn count_within(&self, range: PortRange) -> u32 {
        self.ranges
            .iter()
            .filter_map(|r| {
                let lo = r.start.max(range.start);
                let hi = r.end.min(range.end);
                (lo <= hi).then(|| u32::from(hi) - u32::from(lo) + 1)
            })
            .sum()
    }
}

/// The dynamic range and its exclusions, as they are now or after a reboot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeView {
    pub range: Option<PortRange>,
    pub excluded: Option<PortSet>,
    /// Windows: exclusions no administrator made (WinNAT/Hyper-V blocks);
    /// a port inside one cannot be bound at all. None elsewhere.
    pub system_excluded: Option<PortSet>,
    /// macOS/FreeBSD: the IP_PORTRANGE_HIGH range (`hifirst`..`hilast`),
    /// handed out to programs that ask for it; a port inside it can be
    /// taken as well. None elsewhere.
    pub high: Option<PortRange>,
}

/// Which view of the range: in force now, or what the next boot applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    Active,
    Persistent,
}

impl Store {
    pub const ALL: [Store; 2] = [Store::Active, Store::Persistent];
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Active => "active",
            Store::Persistent => "persistent",
        }
    }
}

/// Range views keyed by (protocol, family, store). Linux has one range for all
/// four (protocol, family) pairs; Windows has one each.
pub type Ranges = BTreeMap<(Protocol, Family, Store), RangeView>;

/// The operating systems the exporter knows how to read and fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Os {
    Linux,
    Windows,
    Macos,
    Freebsd,
    /// A system with no source yet.
    Other,
}

impl Os {
    pub const KNOWN: [Os; 4] = [Os::Linux, Os::Windows, Os::Macos, Os::Freebsd];
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Freebsd => "freebsd",
            Os::Other => "other",
        }
    }

    /// The name people write.
    pub fn display_name(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Windows => "Windows",
            Os::Macos => "macOS",
            Os::Freebsd => "FreeBSD",
            Os::Other => "other systems",
        }
    }
}

/// Every collector of every OS, by the name its `collector` label carries;
/// [`CollectorName::for_os`] says which of them each OS runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CollectorName {
    /// The active dynamic range and reserved ports (Linux /proc/sys; macOS/FreeBSD sysctlbyname).
    Sysctl,
    /// Linux: the next boot, from the sysctl.d files as the boot tool applies them.
    Sysctld,
    /// macOS/FreeBSD: the next boot, from /etc/sysctl.conf.
    SysctlConf,
    /// Windows: dynamic ranges and exclusions, active and persistent, from netsh.
    Netsh,
    /// Sockets on the watched ports (or the listeners, with no config).
    Sockets,
    /// Sockets whose local port lies in the active dynamic range.
    Ephemeral,
    /// The processes that hold each socket, with name, exe, user and unit.
    Owners,
    /// Whether a reboot is pending.
    Reboot,
    /// A system with no source: always fails, so nothing is reported as fine.
    Platform,
    /// Linux: every other network namespace on the host (containers, pods), each read from inside it.
    Netns,
    /// The Kubernetes NodePort range (`--collector.nodeport.range`) against the dynamic range, now and
    /// after the next boot; reads nothing itself, only the range views `sysctl`/`sysctld` (or `netsh`) give.
    Nodeport,
}

impl CollectorName {
    /// The collectors each OS runs, in the order their statuses appear.
    pub fn for_os(os: Os) -> &'static [CollectorName] {
        use CollectorName::*;
        match os {
            Os::Linux => &[Sysctl, Sockets, Ephemeral, Owners, Sysctld, Reboot, Netns, Nodeport],
            Os::Windows => &[Sockets, Netsh, Ephemeral, Owners, Reboot, Nodeport],
            Os::Macos | Os::Freebsd => &[Sysctl, SysctlConf, Sockets, Ephemeral, Owners],
            Os::Other => &[Platform],
        }
    }

    pub const ALL: [CollectorName; 11] = [
        CollectorName::Sysctl,
        CollectorName::Sysctld,
        CollectorName::SysctlConf,
        CollectorName::Netsh,
        CollectorName::Sockets,
        CollectorName::Ephemeral,
        CollectorName::Owners,
        CollectorName::Reboot,
        CollectorName::Platform,
        CollectorName::Netns,
        CollectorName::Nodeport,
    ];

    /// Whether it runs without `--collector.NAME`: all but `netns`, which
    /// enters other namespaces and so needs rights and intent (node_exporter
    /// keeps such collectors off by default too), and `nodeport`, which
    /// matters only on a Kubernetes node.
    pub fn default_enabled(self) -> bool {
        !matches!(self, CollectorName::Netns | CollectorName::Nodeport)
    }

    /// Looks a collector up by its label (`--collector.NAME`, `collect[]=NAME`).
    pub fn from_name(name: &str) -> Option<CollectorName> {
        CollectorName::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether flags and `collect[]` may turn it on or off: every collector
    /// but `platform`, which stands for a system with no source at all.
    pub fn selectable(self) -> bool {
        self != CollectorName::Platform
    }

    /// What it reads, in one line: `--help` and the README's collector table say this.
    pub fn help(self) -> &'static str {
        match self {
            CollectorName::Sysctl => "The active dynamic range and reserved ports",
            CollectorName::Sysctld => "The next boot, from sysctl.d as the boot tool applies it",
            CollectorName::SysctlConf => "The next boot, from /etc/sysctl.conf",
            CollectorName::Netsh => "Dynamic ranges and exclusions, active and persistent, from netsh",
            CollectorName::Sockets => "Sockets on the watched ports (or the listeners, with no config)",
            CollectorName::Ephemeral => "Sockets in the dynamic range (a full dump: the costliest part)",
            CollectorName::Owners => "The processes holding each socket: name, exe, user, unit",
            CollectorName::Reboot => "Whether a reboot is pending",
            CollectorName::Platform => "A system with no source: always fails",
            CollectorName::Netns => "Every other network namespace: its range, reserved ports, listeners, ephemeral count (off by default)",
            CollectorName::Nodeport => {
                "The Kubernetes NodePort range (--collector.nodeport.range) against the dynamic range, now and after the next boot (off by default)"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CollectorName::Sysctl => "sysctl",
            CollectorName::Sysctld => "sysctld",
            CollectorName::SysctlConf => "sysctl_conf",
            CollectorName::Netsh => "netsh",
            CollectorName::Sockets => "sockets",
            CollectorName::Ephemeral => "ephemeral",
            CollectorName::Owners => "owners",
            CollectorName::Reboot => "reboot",
            CollectorName::Platform => "platform",
            CollectorName::Netns => "netns",
            CollectorName::Nodeport => "nodeport",
        }
    }
}

impl fmt::Display for CollectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of collectors: those the flags enable, or those one scrape asks
/// for (`collect[]`, `exclude[]`). Small and `Copy`, so it keys the
/// coalescing of simultaneous scrapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectorSet(u16);

impl CollectorSet {
    fn bit(name: CollectorName) -> u16 {
        1 << (name as u16)
    }
    pub fn contains(self, name: CollectorName) -> bool {
        self.0 & CollectorSet::bit(name) != 0
    }
    pub fn insert(&mut self, name: CollectorName) {
        self.0 |= CollectorSet::bit(name);
    }
    pub fn remove(&mut self, name: CollectorName) {
        self.0 &= !CollectorSet::bit(name);
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The members, in [`CollectorName::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = CollectorName> {
        CollectorName::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<CollectorName> for CollectorSet {
    fn from_iter<I: IntoIterator<Item = CollectorName>>(names: I) -> CollectorSet {
        let mut set = CollectorSet::default();
        for n in names {
            set.insert(n);
        }
        set
    }
}

/// Whether the named collector ran and succeeded (None: it did not run).
pub fn collector_ok(statuses: &[CollectorStatus], name: CollectorName) -> Option<bool> {
    statuses.iter().find(|c| c.name == name).map(|c| c.success)
}

/// How one collector fared during a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorStatus {
    pub name: CollectorName,
    pub success: bool,
    pub duration: Duration,
}

/// Socket identity -> the processes holding it. Sockets held by the same
/// processes share one set, so the 40,000 connections of one worker cost a
/// map entry each, not a set each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    by_socket: BTreeMap<Inode, u32>,
    sets: Vec<BTreeSet<Pid>>,
    index: BTreeMap<BTreeSet<Pid>, u32>,
}

impl Owners {
    /// Sets the holders of a socket (an empty set removes it).
    pub fn insert(&mut self, socket: Inode, pids: BTreeSet<Pid>) {
        if pids.is_empty() {
            self.by_socket.remove(&socket);
            return;
        }
        let id = match self.index.get(&pids) {
            Some(id) => *id,
            None => {
                let id = self.sets.len() as u32;
                self.sets.push(pids.clone());
                self.index.insert(pids, id);
                id
            }
        };
        self.by_socket.insert(socket, id);
    }

    /// Adds one holder to a socket.
    pub fn add(&mut self, socket: Inode, pid: Pid) {
        let mut pids = self.get(&socket).cloned().unwrap_or_default();
        pids.insert(pid);
        self.insert(socket, pids);
    }

    pub fn get(&self, socket: &Inode) -> Option<&BTreeSet<Pid>> {
        self.sets.get(*self.by_socket.get(socket)? as usize)
    }

    pub fn contains_key(&self, socket: &Inode) -> bool {
        self.by_socket.contains_key(socket)
    }

    pub fn len(&self) -> usize {
        self.by_socket.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_socket.is_empty()
    }

    /// Every pid that holds some socket, once.
    pub fn pids(&self) -> BTreeSet<Pid> {
        self.sets.iter().flatten().copied().collect()
    }
}

/// Everything a source saw during one scrape. Parsing never fails as a whole:
/// what could not be read is missing here and its collector says so.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Sockets holding a watched port (or, in discovery mode, the listeners).
    pub sockets: Vec<Socket>,
    /// Socket inode -> the processes holding it.
    pub owners: Owners,
    pub processes: BTreeMap<Pid, Process>,
    /// False when the exporter lacks the rights to map sockets to processes.
    pub owners_resolvable: bool,
    pub ranges: Ranges,
    /// Sockets whose local port lies in the active range, per (protocol, family).
    pub dynamic_in_use: BTreeMap<(Protocol, Family), u64>,
    /// The busiest destinations of those sockets, where the source can tell
    /// (Linux); None when not asked for (K = 0) or not read.
    pub destinations: Option<Destinations>,
    /// 1 when a reboot is pending, when the source can tell.
    pub reboot_required: Option<bool>,
    /// Linux: the modelled next boot of the port sysctls, and how its boot
    /// path was chosen. Its `unknown` lists what could not be read; then the
    /// persistent range views are absent.
    pub next_boot: Option<(crate::boot::NextBoot, &'static str)>,
    pub collectors: Vec<CollectorStatus>,
    /// Collectors of this OS that the scrape did not ask for (flags,
    /// `collect[]`): what they feed is unknown because it was not read, not
    /// because it failed.
    pub disabled: CollectorSet,
    /// Linux, `netns` collector: the other network namespaces, and how many
    /// were found beyond the limit (not read).
    pub netns: Vec<NetnsView>,
    pub netns_omitted: usize,
    /// Whether the namespaces' sockets have their owners: in the owners
    /// collector's look (their read was done by then), or their read's own.
    pub netns_owners: NetnsOwners,
    /// How long before this scrape the namespaces were read (the background
    /// reader's latest read); None: this scrape read them.
    pub netns_age: Option<std::time::Duration>,
}

/// One network namespace other than the exporter's own, read from inside it.
/// A namespace that could not be entered or read has `error` and nothing else
/// but its identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetnsView {
    /// Its inode (what `ip netns identify`, `lsns` and `/proc/PID/ns/net` show).
    pub inode: u64,
    /// Its name under `/run/netns`, when it has one.
    pub name: Option<String>,
    /// Processes inside it.
    pub processes: usize,
    /// The container (and pod) of a process inside it, when one runs in a container.
    pub container: Option<crate::parse::container::Container>,
    pub range: Option<PortRange>,
    pub reserved: Option<PortSet>,
    /// TCP and UDP sockets whose local port lies in its range.
    pub in_use: Option<u64>,
    /// Its TCP listening ports.
    pub listeners: Vec<u16>,
    /// Its sockets on the watched ports and ranges (without a config file:
    /// on its TCP listeners' ports), sorted; their owners are resolved with
    /// the host's (socket inodes are unique across namespaces).
    pub sockets: Vec<Socket>,
    pub error: Option<String>,
    /// Why it could not be read, when `error` is set (a small fixed set; the
    /// text with its detail is in `error`).
    pub failure: Option<NetnsFailure>,
}

/// Whether the other namespaces' sockets have their owners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetnsOwners {
    /// They were read after the owners collector looked (or owners were not asked for).
    #[default]
    ReadLate,
    Resolved,
    /// A read served later (`--collector.netns.refresh-interval`) looks up
    /// its own owners, and that look failed.
    LookFailed,
}

/// Why a namespace could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetnsFailure {
    /// Gone between listing and entering: its last process exited, its
    /// `/run/netns` file was removed, or every file found for it names
    /// another namespace now. Expected now and then where pods come and go.
    Vanished,
    /// Opening or joining it was refused: no CAP_SYS_ADMIN for setns(2), or
    /// no ptrace access to the process whose `/proc/PID/ns/net` names it.
    PermissionDenied,
    /// Opening or joining it failed for another reason (out of file
    /// descriptors, say).
    EnterFailed,
    /// Entered, but its sysctls or its sockets could not be read.
    ReadFailed,
}

impl Snapshot {
    /// The `netns` collector's namespaces, and how old their read is.
    pub fn set_netns(&mut self, views: Vec<NetnsView>, omitted: usize, age: Option<std::time::Duration>) {
        self.netns = views;
        self.netns_omitted = omitted;
        self.netns_age = age;
    }

    /// One view for every (protocol, family): Linux, macOS and FreeBSD have
    /// one range and one reserved list for TCP and UDP, IPv4 and IPv6.
    pub fn set_range_everywhere(&mut self, store: Store, view: RangeView) {
        for p in Protocol::ALL {
            for f in Family::ALL {
                self.ranges.insert((p, f, store), view.clone());
            }
        }
    }
}

/// The exporter's own process, as client_golang's process collector reports
/// it (`process_*`). A field the OS cannot give cheaply is None, and its
/// series is left out rather than faked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelfStats {
    /// User and system CPU time.
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    /// The soft limit on open files; `u64::MAX` when unlimited (as client_golang reports it).
    pub max_fds: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    /// The soft limit on the address space; `u64::MAX` when unlimited.
    pub virtual_memory_max_bytes: Option<u64>,
    pub resident_memory_bytes: Option<u64>,
    /// Seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// A remote end (address and port) that local sockets are connected to.
/// An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) is the IPv4 destination: the
/// kernel connects such a socket through IPv4 and its port competes with
/// IPv4 sockets to the same peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    pub protocol: Protocol,
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
}

/// The ephemeral ports one destination takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationLoad {
    pub destination: Destination,
    /// Sockets in any state but TIME_WAIT.
    pub in_use: u64,
    pub time_wait: u64,
}

impl DestinationLoad {
    /// Ports this destination cannot be given again now: in use and in TIME_WAIT.
    pub fn taken(&self) -> u64 {
        self.in_use + self.time_wait
    }
}

/// The busiest destinations of sockets whose local port lies in the active
/// dynamic range, from the ephemeral count's own dump (`--collector.ephemeral.destinations`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    /// At most K, busiest first: by ports taken (in use + TIME_WAIT), then in use, then destination.
    pub top: Vec<DestinationLoad>,
    /// Distinct destinations seen, per protocol (every protocol looked at has an entry).
    pub distinct: BTreeMap<Protocol, u64>,
    /// Sockets left uncounted because the table of destinations was full
    /// (a bound on memory): then `distinct` and the top are a lower bound.
    pub untracked: BTreeMap<Protocol, u64>,
}

#[cfg(test)]
mod collector_name_tests {
    use super::*;

    /// A new variant fails to compile here until it has a place in `ALL`.
    fn place(c: CollectorName) -> usize {
        match c {
            CollectorName::Sysctl => 0,
            CollectorName::Sysctld => 1,
            CollectorName::SysctlConf => 2,
            CollectorName::Netsh => 3,
            CollectorName::Sockets => 4,
            CollectorName::Ephemeral => 5,
            CollectorName::Owners => 6,
            CollectorName::Reboot => 7,
            CollectorName::Platform => 8,
            CollectorName::Netns => 9,
            CollectorName::Nodeport => 10,
        }
    }

    #[test]
    fn all_lists_every_collector_once_and_each_os_runs_known_ones() {
        for (i, c) in CollectorName::ALL.iter().enumerate() {
            assert_eq!(place(*c), i, "{c} out of place in ALL");
        }
        let names: std::collections::BTreeSet<&str> = CollectorName::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), CollectorName::ALL.len(), "labels are distinct");
        for os in Os::KNOWN {
            let runs = CollectorName::for_os(os);
            assert!(runs.contains(&CollectorName::Sockets) && !runs.contains(&CollectorName::Platform), "{}", os.as_str());
        }
    }
}

#[cfg(test)]
mod collector_tests {
    use super::*;

    #[test]
    fn every_collector_has_its_own_bit_and_its_name_back() {
        let mut set = CollectorSet::default();
        for (i, c) in CollectorName::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i, "ALL is in declaration order");
            assert_eq!(CollectorName::from_name(c.as_str()), Some(c));
            assert!(!set.contains(c));
            set.insert(c);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), CollectorName::ALL.to_vec());
        set.remove(CollectorName::Owners);
        assert!(!set.contains(CollectorName::Owners) && set.contains(CollectorName::Reboot));
        assert_eq!(CollectorName::from_name("Sockets"), None, "names are exact");
        assert!(CollectorSet::default().is_empty());
    }
}

#[cfg(test)]
mod owners_tests {
    use super::*;

    #[test]
    fn sockets_with_the_same_holders_share_one_set() {
        let mut o = Owners::default();
        for inode in 1..=1000 {
            o.insert(inode, BTreeSet::from([7, 8]));
        }
        o.add(5, 9);
        o.insert(6, BTreeSet::new());
        assert_eq!(o.len(), 999, "an empty set removes the socket");
        assert_eq!(o.sets.len(), 2, "one set for 998 sockets, one for the socket with a third holder");
        assert_eq!(o.get(&5), Some(&BTreeSet::from([7, 8, 9])));
        assert_eq!(o.get(&4), Some(&BTreeSet::from([7, 8])));
        assert_eq!(o.get(&6), None);
        assert!(o.contains_key(&1000) && !o.contains_key(&1001));
        assert_eq!(o.pids(), BTreeSet::from([7, 8, 9]));
    }
}
