//! Pure: what the next boot leaves in the three port sysctls, from the
//! sysctl.d files a rootfs holds, as the tool that applies them at boot
//! would write them and the kernel would take them. No I/O.
//!
//! systemd-sysctl (systemd 252 `src/sysctl/sysctl.c`): every file is read
//! into one ordered table first. A later assignment of a key with another
//! value replaces the earlier one and moves to the end of the table; the same
//! value again keeps its place; a `-key` line without `=` replaces it too and
//! only keeps the key out of globs. Then each entry is written once, in table
//! order; a glob entry writes every key it matches that no entry names.
//!
//! procps `sysctl --system` (procps-ng 4.0 `src/sysctl.c`): every line is
//! written, in file order, then `/etc/sysctl.conf`; a glob skips keys that any
//! line names.
//!
//! Either way the kernel takes or refuses each write on its own
//! (`parse::kernel_sysctl`), so what was in force before a refused write stays.

use crate::parse::kernel_sysctl::{self, PortKey, PortSysctls};
use crate::parse::sysctld::{self, Entry, Parsed};
use std::collections::BTreeMap;

/// The tool that applies sysctl.d at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applier {
    SystemdSysctl,
    ProcpsSystem,
}

impl Applier {
    /// Label value of the model info metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Applier::SystemdSysctl => "systemd-sysctl",
            Applier::ProcpsSystem => "sysctl-system",
        }
    }
    pub fn parse(self, text: &[u8]) -> Parsed {
        match self {
            Applier::SystemdSysctl => sysctld::parse_systemd(text),
            Applier::ProcpsSystem => sysctld::parse_procps(text),
        }
    }
}

/// A file in the order the tool applies it, with its path as shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    pub shown: String,
    pub parsed: Parsed,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// A write the kernel will refuse at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub key: PortKey,
    pub origin: Origin,
    /// The value, escaped and cut to a short length.
    pub value: String,
    pub reason: String,
    /// The value in force after the boot instead.
    pub in_force: String,
}

impl std::fmt::Display for Rejected {
    /// "FILE line N: the kernel will refuse KEY = "VALUE" (REASON); in force instead: X".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line {}: the kernel will refuse {} = \"{}\" ({}); in force instead: {}",
            self.origin.file,
            self.origin.line,
            self.key.dotted(),
            self.value,
            self.reason,
            self.in_force
        )
    }
}

/// The next boot's outcome for the port sysctls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextBoot {
    pub applier: Applier,
    pub state: PortSysctls,
    /// The write that set each key (absent: the kernel default).
    pub set_by: BTreeMap<PortKey, Origin>,
    /// The last write tried on each key, whether the kernel took it or not.
    pub last_tried: BTreeMap<PortKey, Origin>,
    /// Every line that assigns each key (by name or by glob), in the order
    /// the files are read: a fix must come after the last of them.
    pub assigned: BTreeMap<PortKey, Vec<Origin>>,
    pub rejected: Vec<Rejected>,
    /// Lines the tool skips, and files it stops reading early.
    pub skipped: Vec<(Origin, &'static str)>,
    /// What this model cannot tell: the outcome is unknown while any is here.
    pub unknown: Vec<String>,
}

impl NextBoot {
    /// The last line that assigns a key, in the order the files are read.
    pub fn last_assigned(&self, key: PortKey) -> Option<&Origin> {
        self.assigned.get(&key).and_then(|v| v.last())
    }
}

/// Which port key a spelled path names, per tool.
fn key_of(applier: Applier, path: &[u8]) -> Option<PortKey> {
    PortKey::ALL.into_iter().find(|k| match applier {
        // Normalised already; systemd refuses `..`.
        Applier::SystemdSysctl => path == k.path().as_bytes(),
        // procps opens the path as spelled: empty and `.` components are no-ops.
        Applier::ProcpsSystem => {
            let parts: Vec<&[u8]> = path.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
            path.last() != Some(&b'/') && parts.join(&b'/') == k.path().as_bytes()
        }
    })
}

/// Text safe for a label or a log: control characters escaped, at most 64 characters.
pub fn shown_value(v: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(v).chars().flat_map(char::escape_debug).take(64).collect();
    s
}

fn render(state: &PortSysctls, key: PortKey) -> String {
    match key {
        PortKey::Range => format!("{} {}", state.range.start, state.range.end),
        PortKey::UnprivilegedStart => state.unprivileged_port_start.to_string(),
        PortKey::Reserved if state.reserved.ranges().is_empty() => "(none)".into(),
        PortKey::Reserved => state
            .reserved
            .ranges()
            .iter()
            .map(|r| if r.start == r.end { r.start.to_string() } else { format!("{}-{}", r.start, r.end) })
            .collect::<Vec<_>>()
            .join(","),
    }
}

struct Write<'a> {
    key: PortKey,
    value: &'a [u8],
    origin: Origin,
}

/// The writes the tool makes to the port keys, in order.
fn writes<'a>(
    applier: Applier,
    files: &'a [ConfFile],
    unknown: &mut Vec<String>,
    assigned: &mut BTreeMap<PortKey, Vec<Origin>>,
) -> Vec<Write<'a>> {
    let all: Vec<(&Entry, &str)> = files.iter().flat_map(|f| f.parsed.entries.iter().map(move |e| (e, f.shown.as_str()))).collect();
    for (e, file) in all.iter().filter(|(e, _)| e.value.is_some()) {
        for key in PortKey::ALL {
            if key_of(applier, &e.key) == Some(key)
                || (sysctld::is_glob(&e.key) && sysctld::glob_matches(applier == Applier::ProcpsSystem, &e.key, key.path()))
            {
                assigned.entry(key).or_default().push(Origin { file: (*file).to_string(), line: e.line });
            }
        }
    }
    if applier == Applier::ProcpsSystem {
        for (e, file) in &all {
            if e.key.split(|b| *b == b'/').any(|c| c == b"..") {
                unknown.push(format!("{file}:{}: a key with '..' depends on /proc/sys's tree; not modelled", e.line));
            }
        }
    }
    let table: Vec<(&Entry, &str)> = match applier {
        Applier::ProcpsSystem => all,
        Applier::SystemdSysctl => {
            // An ordered hash map, as systemd's: replacing moves an entry to the end.
            let mut slots: Vec<Option<(&Entry, &str)>> = Vec::with_capacity(all.len());
            let mut at: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
            for (e, file) in all {
                match at.get(e.key.as_slice()).copied() {
                    Some(i) if slots[i].is_some_and(|(t, _)| t.value == e.value) => {}
                    Some(i) => {
                        slots[i] = None;
                        at.insert(&e.key, slots.len());
                        slots.push(Some((e, file)));
                    }
                    None => {
                        at.insert(&e.key, slots.len());
                        slots.push(Some((e, file)));
                    }
                }
            }
            slots.into_iter().flatten().collect()
        }
    };
    // Keys a glob must leave alone: systemd compares normalised keys; procps
    // compares path strings as spelled, against the path glob(3) returns.
    let named: Vec<PortKey> = table.iter().filter_map(|(e, _)| key_of(applier, &e.key)).collect();
    let spelled: std::collections::HashSet<&[u8]> = table.iter().map(|(e, _)| e.key.as_slice()).collect();
    let left_alone = |pattern: &[u8], key: PortKey| match applier {
        Applier::SystemdSysctl => named.contains(&key),
        Applier::ProcpsSystem => sysctld::glob_result(true, pattern, key.path()).is_some_and(|r| spelled.contains(r.as_slice())),
    };
    let mut out = Vec::new();
    for (e, file) in &table {
        let Some(value) = &e.value else { continue };
        let origin = Origin { file: (*file).to_string(), line: e.line };
        if sysctld::is_glob(&e.key) {
            for key in PortKey::ALL {
                if sysctld::glob_matches(applier == Applier::ProcpsSystem, &e.key, key.path()) && !left_alone(&e.key, key) {
                    out.push(Write { key, value, origin: origin.clone() });
                }
            }
        } else if let Some(key) = key_of(applier, &e.key) {
            out.push(Write { key, value, origin });
        }
    }
    out
}

/// The outcome of the next boot, from the files in the order the tool applies them.
pub fn next_boot(applier: Applier, files: &[ConfFile]) -> NextBoot {
    let mut unknown = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        for b in f.parsed.bad.iter().chain(&f.parsed.stopped) {
            skipped.push((Origin { file: f.shown.clone(), line: b.line }, b.reason));
        }
    }
    let mut state = PortSysctls::kernel_default();
    let mut set_by = BTreeMap::new();
    let mut last_tried = BTreeMap::new();
    let mut refused: Vec<(Write, String)> = Vec::new();
    let mut assigned = BTreeMap::new();
    for w in writes(applier, files, &mut unknown, &mut assigned) {
        if applier == Applier::ProcpsSystem && w.key == PortKey::Reserved && w.value.len() >= 1023 {
            unknown.push(format!(
                "{}:{}: sysctl --system writes a reserved-ports list over 1 KiB in buffered pieces; not modelled",
                w.origin.file, w.origin.line
            ));
        }
        last_tried.insert(w.key, w.origin.clone());
        let mut data = w.value.to_vec();
        data.push(b'\n');
        match kernel_sysctl::write(&mut state, w.key, &data) {
            Ok(()) => {
                set_by.insert(w.key, w.origin);
            }
            Err(reason) => refused.push((w, reason)),
        }
    }
    let rejected = refused
        .into_iter()
        .map(|(w, reason)| Rejected { key: w.key, value: shown_value(w.value), in_force: render(&state, w.key), origin: w.origin, reason })
        .collect();
    NextBoot { applier, state, set_by, last_tried, assigned, rejected, skipped, unknown }
}

#[cfg(test)]
#[path = "boot_tests.rs"]
mod tests;
