//! The next boot, differentially: generated sysctl.d trees are applied by
//! the real `/lib/systemd/systemd-sysctl` (limited by `--prefix` to the port
//! keys) and by the real procps `sysctl --system`, each in a fresh network
//! namespace and a private mount namespace with the generated directories
//! bound over the system ones; the kernel's `/proc/sys` is read back and must
//! equal what the exporter's model says. The host's values are never touched.
//!
//! Cases are generated from a seed (printed; `ORACLE_SEED=N` replays one
//! run, `ORACLE_CASES=N` sets how many per tool).

mod common;
#[path = "common/sysctl_oracle.rs"]
mod sysctl_oracle;

use sysctl_oracle::{oracle, Held};

use portwatch_exporter::boot::Applier;
use portwatch_exporter::source::linux::sysctl::next_boot;
use std::fmt::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;

/// xorshift64*: small, seedable, enough for case generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn port(&mut self) -> u32 {
        match self.below(6) {
            0 => *self.pick(&[0, 1, 1023, 1024, 32767, 32768, 60999, 61000, 65535, 65536, 70000]),
            1 => 1 + self.below(2000) as u32,
            _ => 1024 + self.below(64000) as u32,
        }
    }
}

/// A number as a person (or a template) might write it.
fn number(r: &mut Rng, n: u32) -> String {
    match r.below(12) {
        0 => format!("0x{n:x}"),
        1 => format!("0{n:o}"),
        2 => format!("0{n}"),
        3 => format!("-{n}"),
        _ => n.to_string(),
    }
}

fn range_value(r: &mut Rng) -> String {
    let (a, b) = (r.port(), r.port());
    let (lo, hi) = if r.chance(80) { (a.min(b), a.max(b)) } else { (a, b) };
    let sep = *r.pick(&[" ", "\t", "  ", " \t ", ","]);
    let mut v = match r.below(10) {
        0 => number(r, lo),
        1 => format!("{}{sep}{}{sep}{}", number(r, lo), number(r, hi), r.port()),
        _ => format!("{}{sep}{}", number(r, lo), number(r, hi)),
    };
    match r.below(12) {
        0 => v.push_str(" # widen for the app"),
        1 => v.push('x'),
        2 => v.push('\u{b}'),
        3 => v.clear(),
        4 => v = format!("{v} ; note"),
        _ => {}
    }
    v
}

fn reserved_value(r: &mut Rng) -> String {
    if r.chance(3) {
        // Longer than a page: the kernel reads it in pieces.
        let start = 2000 + r.below(20000);
        return (0..1200).map(|i| (start + 3 * i).to_string()).collect::<Vec<_>>().join(",");
    }
    let n = r.below(5);
    let mut items = Vec::new();
    for _ in 0..n {
        let a = r.port();
        items.push(if r.chance(30) {
            let b = if r.chance(85) { a + r.below(500) as u32 } else { a.saturating_sub(5) };
            format!("{}-{}", number(r, a), number(r, b))
        } else {
            number(r, a)
        });
    }
    let sep = *r.pick(&[",", ",", ",", ", ", ";", " "]);
    let mut v = items.join(sep);
    match r.below(14) {
        0 => v.push(','),
        1 => v.insert(0, ','),
        2 => v.push_str(" # ports"),
        3 => v = v.replacen(',', ",,", 1),
        _ => {}
    }
    v
}

fn unprivileged_value(r: &mut Rng) -> String {
    let n = *r.pick(&[0, 80, 500, 1024, 2000, 30000, 40000, 65535, 65536]);
    number(r, n)
}

const KEYS: [&str; 3] = ["net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.ip_unprivileged_port_start"];

/// A spelling of a key (never leaving net/, so only per-namespace values can change).
fn spelled(r: &mut Rng, key: &str) -> String {
    match r.below(14) {
        0 => key.replace('.', "/"),
        1 => format!("/{}", key.replace('.', "/")),
        2 => format!("{key}."),
        3 => key.replacen("ipv4.", "ipv4..", 1),
        4 => format!("\u{feff}{key}"),
        5 => format!("-{key}"),
        6 => key.to_uppercase(),
        7 => key.replacen("ip_local_", "ip_local_*", 1).replacen("ip_unprivileged_", "ip_unprivileged_?", 1),
        8 => format!("{}.", key.replacen("ports", "port?", 1).replacen("range", "rang?", 1)),
        9 => key.replace('.', "/").replacen("ipv4/", "ipv4/./", 1).replacen("_ports", "_port?", 1),
        _ => key.to_string(),
    }
}

fn line(r: &mut Rng) -> String {
    let k = *r.pick(&KEYS);
    let key = spelled(r, k);
    let value = match k {
        "net.ipv4.ip_local_port_range" => range_value(r),
        "net.ipv4.ip_local_reserved_ports" => reserved_value(r),
        _ => unprivileged_value(r),
    };
    match r.below(20) {
        0 => "# a comment".into(),
        1 => "; another".into(),
        2 => String::new(),
        3 => "not an assignment".into(),
        4 => format!("-{k}"),
        5 => format!(
            "{} = {value}",
            *r.pick(&[
                "net.ipv4.ip_local_*",
                "net/ipv4/ip_local_*_ports",
                "net.ipv4.ip_local_[pr]*",
                "net.ipv4.ip_local_reserved_port[[:lower:]]"
            ])
        ),
        _ => {
            let eq = *r.pick(&[" = ", "=", "\t=\t", "  =  "]);
            let lead = *r.pick(&["", "", "  ", "\t"]);
            format!("{lead}{key}{eq}{value}")
        }
    }
}

const DIRS: [&str; 4] = ["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d"];
const NAMES: [&str; 8] = ["10-a.conf", "50-b.conf", "60-ports.conf", "99-z.conf", "README", "x.conf.bak", ".60-hidden.conf", "k8s.conf"];

/// Writes a random tree under `root`; returns a description for failure messages.
fn tree(r: &mut Rng, root: &Path) -> String {
    let mut shown = String::new();
    for d in DIRS {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let files = 1 + r.below(4);
    for _ in 0..files {
        let dir = *r.pick(&DIRS);
        // A name with glob characters: literal for systemd, expanded by procps (reported as not modelled).
        let name = if r.chance(3) { "[5]0-b.conf" } else { *r.pick(&NAMES) };
        let path = root.join(dir).join(name);
        if path.exists() || std::fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        match r.below(12) {
            0 => {
                symlink("/dev/null", &path).expect("mask");
                let _ = writeln!(shown, "{dir}/{name} -> /dev/null");
                continue;
            }
            1 => {
                symlink("../nowhere.conf", &path).expect("dangling");
                let _ = writeln!(shown, "{dir}/{name} -> (dangling)");
                continue;
            }
            _ => {}
        }
        let eol = *r.pick(&["\n", "\n", "\n", "\r\n"]);
        let lines: Vec<String> = (0..1 + r.below(4)).map(|_| line(r)).collect();
        let text = lines.join(eol) + if r.chance(85) { eol } else { "" };
        std::fs::write(&path, &text).expect("write");
        let _ = writeln!(shown, "{dir}/{name}:\n{text:?}");
    }
    if r.chance(40) {
        let text = format!("{}\n", line(r));
        std::fs::write(root.join("etc/sysctl.conf"), &text).expect("write");
        let _ = writeln!(shown, "etc/sysctl.conf:\n{text:?}");
        if r.chance(50) && std::fs::symlink_metadata(root.join("etc/sysctl.d/99-sysctl.conf")).is_err() {
            symlink("../sysctl.conf", root.join("etc/sysctl.d/99-sysctl.conf")).expect("link");
            let _ = writeln!(shown, "etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf");
        }
    }
    shown
}

fn modelled(root: &Path, applier: Applier) -> Option<Held> {
    let (boot, _) = next_boot(root, Some(applier));
    if !boot.unknown.is_empty() {
        return None;
    }
    let s = boot.state;
    Some(Held {
        range: (u32::from(s.range.start), u32::from(s.range.end)),
        reserved: s.reserved.ranges().iter().map(|r| (u32::from(r.start), u32::from(r.end))).collect(),
        unprivileged: u32::from(s.unprivileged_port_start),
    })
}

fn differential(applier: Applier, default_cases: usize) {
    if !common::require_root("next_boot_matches_the_real_tools_needs_root") {
        return;
    }
    let seed: u64 = std::env::var("ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1);
    let cases: usize = std::env::var("ORACLE_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    eprintln!("{}: seed {seed}, {cases} cases (ORACLE_SEED={seed} replays)", applier.as_str());
    let mut r = Rng(seed);
    let (mut compared, mut unknown, mut refused_somewhere) = (0, 0, 0);
    let started = std::time::Instant::now();
    for case in 0..cases {
        // Bounded in time as well as in count.
        if started.elapsed() > std::time::Duration::from_secs(240) {
            break;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let shown = tree(&mut r, dir.path());
        let want = oracle(dir.path(), applier);
        let Some(got) = modelled(dir.path(), applier) else {
            unknown += 1;
            continue;
        };
        assert_eq!(got, want, "case {case} (seed {seed}), {}: the model disagrees with the kernel on:\n{shown}", applier.as_str());
        compared += 1;
        let (boot, _) = next_boot(dir.path(), Some(applier));
        refused_somewhere += usize::from(!boot.rejected.is_empty());
    }
    eprintln!(
        "{}: {compared} cases agreed with the kernel ({refused_somewhere} with a refused write), {unknown} not modelled",
        applier.as_str()
    );
    assert!(compared >= cases * 4 / 5 || started.elapsed().as_secs() > 200, "too few cases compared: {compared} of {cases}");
    assert!(refused_somewhere > 0, "the generator never produced a value the kernel refuses");
}

#[test]
fn next_boot_matches_systemd_sysctl_and_the_kernel_needs_root() {
    differential(Applier::SystemdSysctl, 300);
}

#[test]
fn next_boot_matches_procps_sysctl_system_and_the_kernel_needs_root() {
    if !common::require_tool("sysctl") {
        return;
    }
    differential(Applier::ProcpsSystem, 300);
}
