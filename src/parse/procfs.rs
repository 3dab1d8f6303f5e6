//! Linux procfs text: `/proc/PID/stat`, `/proc/PID/status`, `/proc/PID/cgroup`,
//! `/proc/PID/limits`, `/proc/stat`'s `btime`, fd link targets, and
//! `/etc/passwd`. See proc(5).

use super::{invalid, ParseError};
use crate::model::Inode;
use std::collections::HashMap;

/// `comm` and `starttime` (clock ticks since boot) from `/proc/PID/stat`.
/// `comm` may hold spaces, parentheses, newlines and non-UTF-8 bytes, so the
/// name is taken up to the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Result<(String, u64), ParseError> {
    let (comm, fields) = split_stat(bytes)?;
    Ok((sanitize(comm), stat_field(&fields, 22, "starttime (field 22) in stat")?))
}

/// `comm` and the fields after it (the first is field 3, state).
fn split_stat(bytes: &[u8]) -> Result<(&[u8], Vec<&str>), ParseError> {
    let lossy = || String::from_utf8_lossy(bytes);
    let open = bytes.iter().position(|&b| b == b'(').ok_or_else(|| invalid("'(' in stat", &lossy()))?;
    let close = bytes.iter().rposition(|&b| b == b')').ok_or_else(|| invalid("')' in stat", &lossy()))?;
    if close < open {
        return Err(invalid("'(comm)' in stat", &lossy()));
    }
    let rest = std::str::from_utf8(&bytes[close + 1..]).map_err(|_| invalid("ASCII stat fields", &lossy()))?;
    Ok((&bytes[open + 1..close], rest.split_ascii_whitespace().collect()))
}

/// Field `n` of stat, numbered as proc(5) numbers them.
fn stat_field(fields_from_3: &[&str], n: usize, what: &'static str) -> Result<u64, ParseError> {
    let found = || fields_from_3.join(" ");
    fields_from_3.get(n - 3).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| invalid(what, &found()))
}

/// What client_golang's process collector takes from `/proc/self/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfStat {
    /// User and system time, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// Clock ticks after boot.
    pub starttime: u64,
    /// Virtual memory, in bytes.
    pub vsize: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
}

pub fn parse_self_stat(bytes: &[u8]) -> Result<SelfStat, ParseError> {
    let (_, f) = split_stat(bytes)?;
    Ok(SelfStat {
        utime: stat_field(&f, 14, "utime (field 14) in stat")?,
        stime: stat_field(&f, 15, "stime (field 15) in stat")?,
        starttime: stat_field(&f, 22, "starttime (field 22) in stat")?,
        vsize: stat_field(&f, 23, "vsize (field 23) in stat")?,
        rss_pages: stat_field(&f, 24, "rss (field 24) in stat")?,
    })
}

/// The soft limit of the `/proc/PID/limits` row named `name` (such as
/// `Max open files`); `unlimited` is `u64::MAX`, as client_golang reports it.
pub fn parse_limit_soft(text: &str, name: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(name).filter(|r| r.starts_with(' ')))?;
    match rest.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// Boot time, in seconds since the epoch, from the `btime` line of `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

/// Names become label values: keep them printable and one line.
pub fn sanitize(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The real uid from the `Uid:` line of `/proc/PID/status`.
pub fn parse_status_uid(text: &str) -> Result<u32, ParseError> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .ok_or_else(|| invalid("a 'Uid:' line", text.lines().next().unwrap_or("")))
}

const UNIT_SUFFIXES: [&str; 5] = [".service", ".scope", ".socket", ".mount", ".swap"];

/// The systemd unit of a process from `/proc/PID/cgroup`: the last component
/// of the cgroup path that names a unit. Prefers the unified (`0::`) line.
pub fn parse_cgroup_unit(text: &str) -> Option<String> {
    let path_of = |line: &str| line.splitn(3, ':').nth(2).map(str::to_string);
    let unified = text.lines().find(|l| l.starts_with("0::")).and_then(path_of);
    let named = text.lines().find(|l| l.contains(":name=systemd:")).and_then(path_of);
    let path = unified.or(named)?;
    path.rsplit('/').find(|c| UNIT_SUFFIXES.iter().any(|s| c.ends_with(s) && c.len() > s.len())).map(str::to_string)
}

/// The inode of a `socket:[12345]` fd link target; None for anything else.
pub fn parse_socket_link(target: &[u8]) -> Option<Inode> {
    let inner = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The first field of /proc/PID/task/TID/schedstat: the thread's time on a
/// CPU in nanoseconds (it grows whenever the thread runs).
pub fn parse_schedstat_runtime(bytes: &[u8]) -> Option<u64> {
    let first = bytes.split(|b| b.is_ascii_whitespace()).next()?;
    std::str::from_utf8(first).ok()?.parse().ok()
}

/// uid -> user name from passwd(5) text; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            // A user name becomes a label value: no raw control characters.
            (!name.is_empty() && !name.starts_with('#')).then(|| (uid, sanitize(name.as_bytes())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(comm: &[u8]) -> Vec<u8> {
        let mut v = b"4242 (".to_vec();
        v.extend_from_slice(comm);
        v.extend_from_slice(b") S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
        v
    }

    #[test]
    fn stat_names_with_spaces_parens_newlines_and_bad_utf8() {
        let cases: [(&[u8], &str); 5] = [
            (b"postgres", "postgres"),
            (b"my proc", "my proc"),
            (b"a) (b", "a) (b"),
            (b"new\nline", "new?line"),
            (b"bad\xffutf", "bad\u{fffd}utf"),
        ];
        for (comm, want) in cases {
            assert_eq!(parse_stat(&stat_line(comm)), Ok((want.to_string(), 987654)), "{comm:?}");
        }
    }

    #[test]
    fn stat_garbage_is_an_error() {
        for bad in [&b""[..], b"12 postgres S", b"12 (x) S 1 2", b"12 )x( S", b"\xff\xfe"] {
            assert!(parse_stat(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn self_stat_fields_as_client_golang_reads_them() {
        // utime 1, stime 2, starttime 987654, vsize 1000, rss 10 pages (proc(5) fields 14, 15, 22, 23, 24).
        let want = SelfStat { utime: 1, stime: 2, starttime: 987654, vsize: 1000, rss_pages: 10 };
        assert_eq!(parse_self_stat(&stat_line(b"portwatch (exporter)")), Ok(want));
        assert!(parse_self_stat(b"1 (x) S 1 2 3").is_err(), "short");
        let negative = String::from_utf8(stat_line(b"x")).expect("ASCII").replace(" 1 2 0 0 20", " 1 -2 0 0 20");
        assert!(parse_self_stat(negative.as_bytes()).is_err(), "negative stime");
    }

    #[test]
    fn limits_soft_values() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n\
Max address space         unlimited            unlimited            bytes     \n\
Max open filesx           7                    7                    files     \n";
        assert_eq!(parse_limit_soft(text, "Max open files"), Some(1024));
        assert_eq!(parse_limit_soft(text, "Max address space"), Some(u64::MAX));
        assert_eq!(parse_limit_soft(text, "Max locked memory"), None);
        assert_eq!(parse_limit_soft("Max open files  lots  lots files\n", "Max open files"), None);
        assert_eq!(parse_btime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
        assert_eq!(parse_btime("cpu  1 2 3\n"), None);
    }

    #[test]
    fn status_uid() {
        assert_eq!(parse_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"), Ok(1000));
        assert!(parse_status_uid("Name:\tx\n").is_err());
        assert!(parse_status_uid("Uid:\tabc\n").is_err());
    }

    #[test]
    fn cgroup_units() {
        let cases = [
            ("0::/system.slice/postgresql@15-main.service\n", Some("postgresql@15-main.service")),
            ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope\n", Some("app-foo.scope")),
            ("0::/\n", None),
            ("12:pids:/\n1:name=systemd:/system.slice/ssh.service\n", Some("ssh.service")),
            ("0::/system.slice/docker-abc.scope/init\n", Some("docker-abc.scope")),
            ("garbage", None),
            ("0::/.service\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cgroup_unit(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link(b"pipe:[12345]"), None);
        assert_eq!(parse_socket_link(b"socket:[12x]"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
        assert_eq!(parse_schedstat_runtime(b"164970 1867041 2\n"), Some(164970));
        assert_eq!(parse_schedstat_runtime(b""), None);
        assert_eq!(parse_schedstat_runtime(b"x 1 2"), None);
    }

    #[test]
    fn passwd_names_with_control_characters_become_safe_labels() {
        let m = parse_passwd("ev\u{1b}[31mil:x:1000:1000::/:/bin/sh\nnl\u{7f}:x:1001:1::/:/bin/sh\n");
        assert_eq!(m.get(&1000).map(String::as_str), Some("ev?[31mil"));
        assert_eq!(m.get(&1001).map(String::as_str), Some("nl?"));
        assert!(m.values().all(|n| !n.chars().any(char::is_control)));
    }

    #[test]
    fn passwd_lines() {
        let m = parse_passwd("root:x:0:0:root:/root:/bin/bash\n#c\nbroken\npostgres:x:105:110::/var/lib/postgresql:/bin/bash\n");
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&105).map(String::as_str), Some("postgres"));
        assert_eq!(m.len(), 2);
    }
}
