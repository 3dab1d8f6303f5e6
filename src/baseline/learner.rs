//! The baseline inside a running exporter: loaded at start (a problem is one
//! log line and the load status metric, never a crash), fed each scrape's
//! held ports, saved when it changed.
//!
//! - Only a scrape whose sockets and owners collectors both succeeded, with
//!   the rights to see every owner, is observed: a failed or partial scrape
//!   never teaches anything (a port would look unheld, an owner unknown).
//! - Held means a TCP listener or an unconnected bound UDP socket; a
//!   client's connected socket on a port never becomes its owner.
//! - What is seen depends on the mode: without a config file, every TCP
//!   listener plus the ports already in the baseline; with one, only the
//!   watched ports (the sockets collector reads nothing else).
//! - Writes: at once (at most one a second) when a port was learned,
//!   changed owner, appeared or was forgotten; otherwise (last-seen times)
//!   at most every five minutes. A failed write is logged and counted and
//!   retried later; serving goes on.
//! - Another writer (`portwatch_exporter baseline forget|accept`): before
//!   each observation the file's identity (modification time, length) is
//!   compared with the one this process last read or wrote; when it differs
//!   the file is read again, so the operator's edit wins over the memory.

use super::{store, Baseline, Change, Owner, Policy, PortKey};
use crate::model::{collector_ok, CollectorName, Process, Protocol, Snapshot, SockState};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most recent changes kept for the detail info series.
pub const RECENT: usize = 10;
const SOON: Duration = Duration::from_secs(1);
const HOUSEKEEPING: Duration = Duration::from_secs(300);

/// One recent change, for the info series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    pub kind: Change,
    pub protocol: String,
    pub port: u16,
    /// The owners before (owner changed) or learned now, as text.
    pub previous: String,
    pub current: String,
    pub at: u64,
}

/// What the metrics show of the baseline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The last load: None ok (or no file), Some(kind) why it was not used.
    pub load_problem: Option<&'static str>,
    pub last_write_ok: Option<bool>,
    pub last_write_seconds: Option<u64>,
    pub write_failures: u64,
    pub learned: usize,
    pub candidates: usize,
    /// Changes since start, by kind (every kind present, 0 included).
    pub changes: BTreeMap<Change, u64>,
    /// New ports not stored because the baseline is full, since start.
    pub dropped: u64,
    pub recent: Vec<Recent>,
    /// Observations skipped because the scrape's sockets or owners were incomplete.
    pub skipped: u64,
    /// Each learned port's (protocol, port, last seen held): at most --baseline.max-ports.
    pub last_seen: Vec<(String, u16, u64)>,
}

impl Status {
    /// Counts and per-port times from the baseline in force.
    pub fn count(&mut self, b: &Baseline) {
        self.learned = b.ports.iter().filter(|e| e.learned()).count();
        self.candidates = b.ports.len() - self.learned;
        self.last_seen = b.ports.iter().filter(|e| e.learned()).map(|e| (e.protocol.clone(), e.port, e.last_seen)).collect();
    }
}

impl Change {
    pub const ALL: [Change; 4] = [Change::Learned, Change::OwnerChanged, Change::Appeared, Change::Forgotten];
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Learned => "learned",
            Change::OwnerChanged => "owner_changed",
            Change::Appeared => "appeared",
            Change::Forgotten => "forgotten",
        }
    }
}

pub struct Learner {
    dir: PathBuf,
    policy: Policy,
    baseline: Baseline,
    identity: Option<store::Identity>,
    dirty: bool,
    urgent: bool,
    last_write: Option<Instant>,
    recent: VecDeque<Recent>,
    status: Status,
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The baseline's view of a process.
pub fn owner_of(p: &Process) -> Owner {
    Owner { process: p.name.clone(), exe: p.exe.clone(), user: p.user.clone(), unit: p.units.first().cloned() }
}

/// Owners as one bounded line: `name (user, unit)` joined by `|`.
pub fn describe(owners: &BTreeSet<Owner>) -> String {
    let mut parts: Vec<String> = owners
        .iter()
        .take(3)
        .map(|o| {
            let extra: Vec<&str> = [o.user.as_deref(), o.unit.as_deref()].into_iter().flatten().collect();
            if extra.is_empty() {
                o.process.clone()
            } else {
                format!("{} ({})", o.process, extra.join(", "))
            }
        })
        .collect();
    if owners.len() > 3 {
        parts.push(format!("+{}", owners.len() - 3));
    }
    let s = parts.join("|");
    s.chars().take(200).collect()
}

pub fn protocol_key(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The ports held in this snapshot and their owners, or None when the
/// snapshot cannot be trusted for learning (sockets or owners failed or
/// were not collected, or owners are not all visible). A socket without an
/// identified owner is left out.
pub fn held(snap: &Snapshot) -> Option<BTreeMap<PortKey, BTreeSet<Owner>>> {
    let ok = |c| collector_ok(&snap.collectors, c) == Some(true);
    if !ok(CollectorName::Sockets) || !ok(CollectorName::Owners) || !snap.owners_resolvable {
        return None;
    }
    let mut out: BTreeMap<PortKey, BTreeSet<Owner>> = BTreeMap::new();
    for s in &snap.sockets {
        let holds = matches!((s.protocol, s.state), (Protocol::Tcp, SockState::Listen) | (Protocol::Udp, SockState::Close));
        if !holds || s.inode == 0 {
            continue;
        }
        let owners: BTreeSet<Owner> =
            snap.owners.get(&s.inode).into_iter().flatten().filter_map(|pid| snap.processes.get(pid)).map(owner_of).collect();
        if !owners.is_empty() {
            out.entry((protocol_key(s.protocol).to_string(), s.port)).or_default().extend(owners);
        }
    }
    Some(out)
}

/// The learned ports of a baseline.
pub fn learned_ports(b: &Baseline) -> Vec<(Protocol, u16)> {
    let proto = |p: &str| if p == "udp" { Protocol::Udp } else { Protocol::Tcp };
    b.ports.iter().filter(|e| e.learned()).map(|e| (proto(&e.protocol), e.port)).collect()
}

impl Learner {
    /// Loads the baseline from `dir`; never fails (a problem is logged and shown in the status).
    pub fn open(dir: &Path, policy: Policy) -> Learner {
        let mut l = Learner {
            dir: dir.to_path_buf(),
            policy,
            baseline: Baseline::default(),
            identity: None,
            dirty: false,
            urgent: false,
            last_write: None,
            recent: VecDeque::new(),
            status: Status { changes: Change::ALL.iter().map(|c| (*c, 0)).collect(), ..Status::default() },
        };
        l.load();
        l
    }

    fn load(&mut self) {
        let loaded = store::load(&self.dir, unix_now());
        self.identity = store::identity(&self.dir);
        self.status.load_problem = loaded.problem.as_ref().map(store::LoadError::kind);
        if let Some(p) = &loaded.problem {
            log::error!("baseline: {p}; starting from an empty baseline");
        }
        self.baseline = loaded.baseline;
        self.count();
    }

    fn count(&mut self) {
        self.status.count(&self.baseline);
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    pub fn status(&self) -> Status {
        let mut s = self.status.clone();
        s.recent = self.recent.iter().cloned().collect();
        s
    }

    /// The learned ports, for discovery to watch whoever holds them.
    pub fn ports(&self) -> Vec<(Protocol, u16)> {
        learned_ports(&self.baseline)
    }

    /// Feeds one scrape's snapshot; saves when due.
    pub fn observe(&mut self, snap: &Snapshot) {
        let Some(held) = held(snap) else {
            self.status.skipped += 1;
            return;
        };
        if store::identity(&self.dir) != self.identity {
            log::info!("baseline: {} changed on disk; read again", store::path_in(&self.dir).display());
            self.load();
            self.dirty = false;
        }
        let now = unix_now();
        let before = self.baseline.clone();
        let changes = self.baseline.observe(&held, now, &self.policy);
        self.status.dropped += changes.dropped as u64;
        let stored: BTreeSet<PortKey> = self.baseline.ports.iter().map(|e| (e.protocol.clone(), e.port)).collect();
        for kind in Change::ALL {
            for key in changes.of(kind) {
                if kind == Change::Appeared && !stored.contains(key) {
                    continue; // dropped: counted as such, not as a new port each scrape
                }
                self.urgent = true;
                *self.status.changes.entry(kind).or_default() += 1;
                let was = before.ports.iter().find(|e| (&e.protocol, e.port) == (&key.0, key.1));
                let previous = was.map(|e| describe(&e.owners)).unwrap_or_default();
                let current = held.get(key).map(describe).unwrap_or_default();
                if kind != Change::Appeared || self.recent.iter().all(|r| (&r.protocol, r.port, r.kind) != (&key.0, key.1, kind)) {
                    self.recent.push_back(Recent { kind, protocol: key.0.clone(), port: key.1, previous, current, at: now });
                }
                while self.recent.len() > RECENT {
                    self.recent.pop_front();
                }
            }
        }
        self.dirty |= self.baseline != before;
        self.count();
        let since = self.last_write.map(|t| t.elapsed());
        let due = match since {
            None => true,
            Some(d) => d >= if self.urgent { SOON } else { HOUSEKEEPING },
        };
        if self.dirty && due {
            self.save(now);
        }
    }

    fn save(&mut self, now: u64) {
        self.last_write = Some(Instant::now());
        if store::identity(&self.dir) != self.identity {
            // Written by someone else since the check above: theirs wins; the next observation applies.
            self.load();
            self.dirty = false;
            return;
        }
        match store::save(&self.dir, &self.baseline) {
            Ok(()) => {
                if self.status.last_write_ok == Some(false) {
                    log::info!("baseline: writing {} works again", store::path_in(&self.dir).display());
                }
                self.identity = store::identity(&self.dir);
                self.dirty = false;
                self.urgent = false;
                self.status.last_write_ok = Some(true);
                self.status.last_write_seconds = Some(now);
            }
            Err(e) => {
                if self.status.last_write_ok != Some(false) {
                    log::error!("baseline: writing {}: {e}; serving goes on, retrying later", store::path_in(&self.dir).display());
                }
                self.status.write_failures += 1;
                self.status.last_write_ok = Some(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CollectorStatus, Family, Socket};

    fn snapshot(sockets_ok: bool, owners_ok: bool, resolvable: bool) -> Snapshot {
        let mut s = Snapshot { owners_resolvable: resolvable, ..Snapshot::default() };
        let sock = |port, protocol, state, inode| Socket {
            protocol,
            family: Family::Ipv4,
            local: "0.0.0.0".parse().expect("ip"),
            port,
            state,
            inode,
        };
        s.sockets = vec![
            sock(1433, Protocol::Tcp, SockState::Listen, 1),
            sock(40000, Protocol::Tcp, SockState::Established, 2), // a client: never an owner
            sock(53, Protocol::Udp, SockState::Close, 3),
            sock(5353, Protocol::Udp, SockState::Established, 4), // a connected UDP client
            sock(8080, Protocol::Tcp, SockState::Listen, 5),      // no visible owner: left out
        ];
        for (inode, pid, name) in [(1, 10, "sqlservr"), (2, 20, "curl"), (3, 30, "named"), (4, 40, "dig")] {
            s.owners.add(inode, pid);
            s.processes.insert(pid, Process { name: name.into(), ..Process::default() });
        }
        let status = |name, success| CollectorStatus { name, success, duration: Duration::ZERO };
        s.collectors = vec![status(CollectorName::Sockets, sockets_ok), status(CollectorName::Owners, owners_ok)];
        s
    }

    #[test]
    fn only_complete_scrapes_are_learned_from_and_only_listeners_and_bound_udp_hold() {
        let h = held(&snapshot(true, true, true)).expect("complete");
        let keys: Vec<_> = h.keys().cloned().collect();
        assert_eq!(keys, vec![("tcp".to_string(), 1433), ("udp".to_string(), 53)]);
        assert_eq!(h[&("tcp".to_string(), 1433)].iter().next().map(|o| o.process.as_str()), Some("sqlservr"));
        for (s, o, r) in [(false, true, true), (true, false, true), (true, true, false)] {
            assert!(held(&snapshot(s, o, r)).is_none(), "sockets {s} owners {o} resolvable {r}");
        }
        let mut none = snapshot(true, true, true);
        none.collectors.clear();
        assert!(held(&none).is_none(), "collectors not run: nothing learned");
    }

    #[test]
    fn a_partial_scrape_forgets_nothing_and_a_change_is_written_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut l = Learner::open(dir.path(), Policy { learn_after: 0, forget_after: 0, max_ports: 10 });
        l.observe(&snapshot(true, true, true));
        assert_eq!(l.status().learned, 2);
        assert_eq!(store::read(dir.path()).expect("written").ports.len(), 2);
        // forget_after 0: a complete scrape without the ports would forget them; a failed one must not.
        l.observe(&snapshot(false, true, true));
        assert_eq!((l.status().learned, l.status().skipped), (2, 1));
    }
}
