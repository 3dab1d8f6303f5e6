//! sysctl.d(5) lines as the two tools that apply them at boot read them:
//! systemd-sysctl (systemd 252, `src/sysctl/sysctl.c`) and procps-ng's
//! `sysctl --system` (4.0, `src/sysctl.c`). Bytes in, no I/O.
//!
//! systemd-sysctl: a line ends at `\n`, `\r`, `\r\n` or NUL; a line over
//! 1 MiB stops the file; white space is " \t\n\r"; `#` and `;` start a
//! comment only at the start of a line (a trailing `# …` stays in the value);
//! a leading `-` on an assignment ignores its failure, and on a line without
//! `=` it excludes the key from globs; the key is normalised (if its first
//! separator is `.`, dots and slashes swap; then `//`, `/./` and a trailing
//! `/` go). procps: a line ends at `\n` only and is cut at a NUL; white
//! space is C's `isspace`; the key is not simplified, and `..` is resolved by
//! the file system. Neither strips a UTF-8 BOM: it becomes part of the key.

/// One entry of a file: a key as the tool spells its /proc/sys path, and its
/// value (None: a `-key` line that only keeps the key out of globs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub line: usize,
}

/// A line neither blank, a comment nor an entry. Its text is never kept, so
/// nothing of a file that is not a sysctl file reaches a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: &'static str,
}

/// What a file gives: its entries, its bad lines, and whether the tool
/// stopped reading it early (line number and why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub bad: Vec<BadLine>,
    pub stopped: Option<BadLine>,
}

/// systemd's `LONG_LINE_MAX`.
pub const SYSTEMD_LINE_MAX: usize = 1 << 20;

const SD_WHITESPACE: &[u8] = b" \t\n\r";

fn trim_with(mut s: &[u8], ws: impl Fn(u8) -> bool) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn sd_strip(s: &[u8]) -> &[u8] {
    trim_with(s, |b| SD_WHITESPACE.contains(&b))
}

/// C's `isspace` in the C locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// systemd's `read_line`: splits at one end-of-line marker (`\n`, `\r`,
/// `\r\n`, `\n\r`, or a NUL) per line.
fn systemd_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|b| matches!(b, b'\n' | b'\r' | 0)).unwrap_or(rest.len());
        let line = &rest[..end];
        let mut next = end;
        let mut seen = 0u8;
        while let Some(&c) = rest.get(next) {
            let kind = match c {
                b'\n' => 1,
                b'\r' => 2,
                0 => 4,
                _ => break,
            };
            if seen & 4 != 0 || seen & kind != 0 {
                break;
            }
            seen |= kind;
            next += 1;
        }
        rest = &rest[next..];
        Some(line)
    })
}

/// Both tools' first step: if a key's first separator is `.`, every `.`
/// becomes `/` and every `/` becomes `.`; otherwise it stays as written.
fn swap_separators(k: &mut [u8]) {
    if let Some(first) = k.iter().position(|b| *b == b'.' || *b == b'/') {
        if k[first] == b'.' {
            for b in &mut k[first..] {
                *b = match *b {
                    b'.' => b'/',
                    b'/' => b'.',
                    other => other,
                };
            }
        }
    }
}

/// `sysctl_normalize` and `path_simplify`.
pub fn systemd_normalize(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    swap_separators(&mut k);
    let absolute = k.first() == Some(&b'/');
    let parts: Vec<&[u8]> = k.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let joined = parts.join(&b'/');
    match (joined.is_empty(), absolute) {
        (true, true) => b"/".to_vec(),
        (true, false) if !k.is_empty() => b".".to_vec(),
        _ => joined,
    }
}

/// Reads a file as systemd-sysctl does.
pub fn parse_systemd(text: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    for (i, raw) in systemd_lines(text).enumerate() {
        let line = i + 1;
        if raw.len() >= SYSTEMD_LINE_MAX {
            out.stopped = Some(BadLine { line, reason: "line longer than 1 MiB: systemd-sysctl stops reading the file here" });
            break;
        }
        let p = sd_strip(raw);
        if p.is_empty() || p[0] == b'#' || p[0] == b';' {
            continue;
        }
        let (key, value) = match p.iter().position(|b| *b == b'=') {
            Some(eq) => {
                let key = p[..eq].strip_prefix(b"-").unwrap_or(&p[..eq]);
                (key, Some(sd_strip(&p[eq + 1..]).to_vec()))
            }
            None => match p.strip_prefix(b"-") {
                Some(key) => (key, None),
                None => {
                    out.bad.push(BadLine { line, reason: "not an assignment (systemd-sysctl ignores it)" });
                    continue;
                }
            },
        };
        out.entries.push(Entry { key: systemd_normalize(sd_strip(key)), value, line });
    }
    out
}

/// procps' `slashdot(…, '.', '/')` on the key, which is how it names the
/// file under /proc/sys.
pub fn procps_path(key: &[u8]) -> Vec<u8> {
    let key = key.strip_prefix(b"-").unwrap_or(key);
    let mut k = key.to_vec();
    swap_separators(&mut k);
    k
}

/// Reads a file as procps' `sysctl --system` does (`Preload`, `parse_setting_line`).
pub fn parse_procps(text: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut rest = text;
    let mut line = 0;
    while !rest.is_empty() {
        let end = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |e| e + 1);
        let raw = &rest[..end];
        rest = &rest[end..];
        line += 1;
        if raw.len() < 2 {
            continue;
        }
        // C strings end at the first NUL.
        let raw = &raw[..raw.iter().position(|b| *b == 0).unwrap_or(raw.len())];
        let key_start = raw.iter().position(|b| !c_space(*b)).unwrap_or(raw.len());
        let p = &raw[key_start..];
        if p.len() < 2 || p[0] == b'#' || p[0] == b';' {
            continue;
        }
        let entry = match p.iter().position(|b| *b == b'=') {
            None => match p.strip_prefix(b"-") {
                Some(key) => Entry { key: procps_path(rstrip_c(key)), value: None, line },
                None => {
                    out.bad.push(BadLine { line, reason: "invalid syntax (sysctl --system skips it)" });
                    continue;
                }
            },
            Some(eq) => {
                let key = p[..eq].strip_prefix(b"-").unwrap_or(&p[..eq]);
                let key = rstrip_c(key);
                Entry { key: procps_path(key), value: Some(trim_with(&p[eq + 1..], c_space).to_vec()), line }
            }
        };
        out.entries.push(entry);
    }
    out
}

/// procps' `rstrip`: trailing `isspace`, keeping the first byte.
fn rstrip_c(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 1 && c_space(s[end - 1]) {
        end -= 1;
    }
    &s[..end]
}

/// `*?[` anywhere: the key is a glob.
pub fn is_glob(key: &[u8]) -> bool {
    key.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// Whether glob(3) on `/proc/sys/<pattern>` finds `path` (both relative to
/// /proc/sys, `/`-separated): component by component, `*` and `?` never
/// crossing a `/`. systemd's keys are normalised already; procps' are as
/// spelled, where empty and `.` components are no-ops and a trailing `/`
/// matches directories only (never a sysctl file).
pub fn glob_matches(as_spelled: bool, pattern: &[u8], path: &str) -> bool {
    glob_result(as_spelled, pattern, path).is_some()
}

/// The path glob(3) returns for `path` when `pattern` finds it: the
/// pattern's own spelling (`.` and empty components kept) with each
/// component replaced by the name it matched.
pub fn glob_result(as_spelled: bool, pattern: &[u8], path: &str) -> Option<Vec<u8>> {
    if as_spelled && pattern.last() == Some(&b'/') {
        return None;
    }
    let noop = |c: &[u8]| c.is_empty() || (as_spelled && c == b".");
    let pats: Vec<&[u8]> = pattern.split(|b| *b == b'/').collect();
    let names: Vec<&[u8]> = path.as_bytes().split(|b| *b == b'/').collect();
    let real: Vec<&&[u8]> = pats.iter().filter(|c| !noop(c)).collect();
    if real.len() != names.len() || !real.iter().zip(&names).all(|(p, n)| super::glob::fnmatch(p, n)) {
        return None;
    }
    let mut names = names.into_iter();
    let out: Vec<&[u8]> = pats.iter().map(|c| if noop(c) { *c } else { names.next().unwrap_or(c) }).collect();
    Some(out.join(&b'/'))
}

#[cfg(test)]
#[path = "sysctld_tests.rs"]
mod tests;
