//! What listened before: the learned baseline of ports and their owners
//! (issue #14, step one: the model, its learning rules and its file format;
//! not yet wired into the scrape). Pure: the clock and the observations come
//! in as arguments; reading and writing the file is `baseline/store.rs`.
//!
//! Learning rules:
//! - a port held by a listener (TCP) or a bound socket (UDP) becomes a
//!   candidate; it is learned once it has been held without a break for
//!   `learn_after`, so short-lived ports never become expectations;
//! - a learned port keeps its owners while others hold it (after a reboot, a
//!   client's ephemeral socket on it is the outage, not a new normal); a new
//!   owner replaces them only after holding the port for `learn_after` itself;
//! - a learned port nobody holds stays expected until `forget_after` has passed
//!   since it was last seen;
//! - the baseline holds at most `max_ports` ports; candidates beyond that are
//!   counted, not stored.

pub mod command;
pub mod learner;
pub mod store;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The file format this build writes; a newer one is set aside, never guessed at.
pub const FORMAT: u32 = 1;

/// One owner of a port, as the baseline remembers it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub process: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A port's key: protocol ("tcp" or "udp") and number.
pub type PortKey = (String, u16);

/// What the baseline knows of one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub protocol: String,
    pub port: u16,
    /// The learned owners; empty while the port is only a candidate.
    pub owners: BTreeSet<Owner>,
    /// Unix seconds: first seen held, and last seen held by anyone.
    pub first_seen: u64,
    pub last_seen: u64,
    /// Owners holding the port now that differ from the learned ones, and
    /// since when they have held it without a break (a candidate's first owners too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub owners: BTreeSet<Owner>,
    pub since: u64,
}

impl Entry {
    pub fn learned(&self) -> bool {
        !self.owners.is_empty()
    }
}

/// The whole baseline, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub format: u32,
    pub ports: Vec<Entry>,
}

impl Default for Baseline {
    fn default() -> Baseline {
        Baseline { format: FORMAT, ports: Vec::new() }
    }
}

/// How learning behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Seconds a port must be held without a break before it is learned (0: at once).
    pub learn_after: u64,
    /// Seconds after which a learned port nobody holds is forgotten.
    pub forget_after: u64,
    /// Most ports the baseline stores.
    pub max_ports: usize,
}

/// A change one observation made, for the change signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Learned this time.
    Learned,
    /// A learned port whose owners a new owner replaced after holding it for `learn_after`.
    OwnerChanged,
    /// Held, and not in the baseline at all (a new listener).
    Appeared,
    /// A learned port forgotten after `forget_after` without a holder.
    Forgotten,
}

/// What one observation changed, by kind, and how many candidates were not
/// stored because the baseline is full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub ports: BTreeMap<Change, Vec<PortKey>>,
    pub dropped: usize,
}

impl Changes {
    pub fn of(&self, change: Change) -> &[PortKey] {
        self.ports.get(&change).map_or(&[], Vec::as_slice)
    }

    fn add(&mut self, change: Change, key: PortKey) {
        self.ports.entry(change).or_default().push(key);
    }
}

impl Baseline {
    fn index(&self) -> BTreeMap<PortKey, usize> {
        self.ports.iter().enumerate().map(|(i, e)| ((e.protocol.clone(), e.port), i)).collect()
    }

    /// The learned owners of a port, if it is learned.
    pub fn expected(&self, protocol: &str, port: u16) -> Option<&BTreeSet<Owner>> {
        self.ports.iter().find(|e| e.protocol == protocol && e.port == port && e.learned()).map(|e| &e.owners)
    }

    /// Applies one observation: `held` maps each port held now by a listener
    /// (TCP) or a bound socket (UDP) to its owners. `now` is unix seconds; a
    /// clock that went back counts as no time passed.
    pub fn observe(&mut self, held: &BTreeMap<PortKey, BTreeSet<Owner>>, now: u64, policy: &Policy) -> Changes {
        let mut changes = Changes::default();
        let index = self.index();
        let mut keep = vec![true; self.ports.len()];
        for (i, e) in self.ports.iter_mut().enumerate() {
            let key = (e.protocol.clone(), e.port);
            match held.get(&key) {
                Some(owners) => {
                    e.last_seen = e.last_seen.max(now);
                    if e.learned() && *owners == e.owners {
                        e.pending = None;
                        continue;
                    }
                    let since = match &e.pending {
                        Some(p) if p.owners == *owners => p.since,
                        _ => now,
                    };
                    if now.saturating_sub(since) >= policy.learn_after && !owners.is_empty() {
                        if e.learned() {
                            changes.add(Change::OwnerChanged, key);
                        } else {
                            changes.add(Change::Learned, key);
                        }
                        e.owners = owners.clone();
                        e.pending = None;
                    } else {
                        e.pending = Some(Pending { owners: owners.clone(), since });
                    }
                }
                None if !e.learned() => keep[i] = false, // a break: the candidate starts over
                None => {
                    e.pending = None;
                    if now.saturating_sub(e.last_seen) >= policy.forget_after {
                        changes.add(Change::Forgotten, key);
                        keep[i] = false;
                    }
                }
            }
        }
        let mut kept = keep.iter();
        self.ports.retain(|_| kept.next().copied().unwrap_or(true));
        for (key, owners) in held {
            if index.contains_key(key) {
                continue;
            }
            changes.add(Change::Appeared, key.clone());
            if self.ports.len() >= policy.max_ports {
                changes.dropped += 1;
                continue;
            }
            let mut e = Entry {
                protocol: key.0.clone(),
                port: key.1,
                owners: BTreeSet::new(),
                first_seen: now,
                last_seen: now,
                pending: Some(Pending { owners: owners.clone(), since: now }),
            };
            if policy.learn_after == 0 && !owners.is_empty() {
                e.owners = owners.clone();
                e.pending = None;
                changes.add(Change::Learned, key.clone());
            }
            self.ports.push(e);
        }
        self.ports.sort_by(|a, b| (&a.protocol, a.port).cmp(&(&b.protocol, b.port)));
        changes
    }

    /// Forgets a port (the `baseline forget` command); false when it was not there.
    pub fn forget(&mut self, protocol: &str, port: u16) -> bool {
        let before = self.ports.len();
        self.ports.retain(|e| !(e.protocol == protocol && e.port == port));
        self.ports.len() != before
    }

    /// Accepts the current holders as the owners of every port held now (the `baseline accept` command).
    pub fn accept(&mut self, held: &BTreeMap<PortKey, BTreeSet<Owner>>, now: u64) {
        let policy = Policy { learn_after: 0, forget_after: u64::MAX, max_ports: usize::MAX };
        for e in &mut self.ports {
            if let Some(owners) = held.get(&(e.protocol.clone(), e.port)).filter(|o| !o.is_empty()) {
                e.owners = owners.clone();
                e.pending = None;
            }
        }
        self.observe(held, now, &policy);
    }
}

#[cfg(test)]
#[path = "baseline_tests.rs"]
mod tests;
