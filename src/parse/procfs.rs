//! Linux procfs text: `/proc/PID/stat`, `/proc/PID/status`, `/proc/PID/cgroup`,
//! `/proc/PID/statm`, `/proc/stat`'s `btime`, fd link targets, and
//! `/etc/passwd`. See proc(5).

use super::{invalid, ParseError};
use crate::model::Inode;
use std::collections::HashMap;

/// `comm` and `starttime` (clock ticks since boot) from `/proc/PID/stat`.
/// `comm` may hold spaces, parentheses, newlines and non-UTF-8 bytes, so the
/// name is taken up to the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Result<(String, u64), ParseError> {
    let lossy = || String::from_utf8_lossy(bytes);
    let open = bytes.iter().position(|&b| b == b'(').ok_or_else(|| invalid("'(' in stat", &lossy()))?;
    let close = bytes.iter().rposition(|&b| b == b')').ok_or_else(|| invalid("')' in stat", &lossy()))?;
    if close < open {
        return Err(invalid("'(comm)' in stat", &lossy()));
    }
    let comm = sanitize(&bytes[open + 1..close]);
    let rest = std::str::from_utf8(&bytes[close + 1..]).map_err(|_| invalid("ASCII stat fields", &lossy()))?;
    // Fields after comm start at field 3 (state); starttime is field 22.
    let start = rest
        .split_ascii_whitespace()
        .nth(19)
        .and_then(|f| f.parse::<u64>().ok())
        .ok_or_else(|| invalid("starttime (field 22) in stat", rest.trim()))?;
    Ok((comm, start))
}

/// (size, resident) in pages from `/proc/PID/statm`: the same counts as
/// stat's vsize (in bytes there) and rss, in a shorter file.
pub fn parse_statm(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
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

/// The cgroup path of a process from `/proc/PID/cgroup`: the unified (`0::`)
/// line's, or the systemd hierarchy's (`name=systemd`) when the unified one
/// is absent or the root (a hybrid host whose controllers stay on v1).
pub fn parse_cgroup_path(text: &str) -> Option<String> {
    let path_of = |line: &str| line.splitn(3, ':').nth(2).map(str::to_string);
    let unified = text.lines().find(|l| l.starts_with("0::")).and_then(path_of).filter(|p| p != "/");
    let named = text.lines().find(|l| l.contains(":name=systemd:")).and_then(path_of);
    unified.or(named)
}

/// The systemd unit of a process from `/proc/PID/cgroup`: the last component
/// of its cgroup path ([`parse_cgroup_path`]) that names a unit.
pub fn parse_cgroup_unit(text: &str) -> Option<String> {
    let path = parse_cgroup_path(text)?;
    path.rsplit('/').find(|c| UNIT_SUFFIXES.iter().any(|s| c.ends_with(s) && c.len() > s.len())).map(str::to_string)
}

/// The inode of a `socket:[12345]` fd link target; None for anything else.
pub fn parse_socket_link(target: &[u8]) -> Option<Inode> {
    parse_bracketed(target, b"socket:[")
}

/// The inode of a namespace link target of the given kind (`/proc/PID/ns/net`
/// reads `net:[4026531840]`, `ns/mnt` reads `mnt:[4026531841]`); None for anything else.
pub fn parse_ns_link(target: &[u8], kind: &str) -> Option<Inode> {
    parse_bracketed(target.strip_prefix(kind.as_bytes())?, b":[")
}

fn parse_bracketed(target: &[u8], prefix: &[u8]) -> Option<Inode> {
    let inner = target.strip_prefix(prefix)?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The first field of /proc/PID/task/TID/schedstat: the thread's time on a
/// CPU in nanoseconds (it grows whenever the thread runs).
pub fn parse_schedstat_runtime(bytes: &[u8]) -> Option<u64> {
    let first = bytes.split(|b| b.is_ascii_whitespace()).next()?;
    std::str::from_utf8(first).ok()?.parse().ok()
}

/// uid -> user name from passwd(5) text; malformed lines are skipped. Of
/// several names for one uid the first is kept, as getpwuid(3) returns it.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    let entries = text.lines().filter_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let uid = f.nth(1)?.parse().ok()?;
        // A user name becomes a label value: no raw control characters.
        (!name.is_empty() && !name.starts_with('#')).then(|| (uid, sanitize(name.as_bytes())))
    });
    for (uid, name) in entries {
        names.entry(uid).or_insert(name);
    }
    names
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
    fn statm_and_btime() {
        assert_eq!(parse_statm("23424 3017 2048 187 0 1233 0\n"), Some((23424, 3017)));
        assert_eq!(parse_statm("23424\n"), None);
        assert_eq!(parse_statm("-1 5 0\n"), None);
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
            ("1:name=systemd:/system.slice/cron.service\n0::/\n", Some("cron.service")),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cgroup_unit(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn cgroup_paths_prefer_the_unified_line_unless_it_is_the_root() {
        let cases = [
            ("0::/system.slice/nginx.service\n", Some("/system.slice/nginx.service")),
            ("9:name=systemd:/docker/abc\n0::/\n", Some("/docker/abc")),
            ("9:name=systemd:/docker/abc\n0::/kubepods.slice/x.scope\n", Some("/kubepods.slice/x.scope")),
            ("0::/\n", None),
            ("4:memory:/x\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cgroup_path(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link(b"pipe:[12345]"), None);
        assert_eq!(parse_socket_link(b"socket:[12x]"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
        assert_eq!(parse_ns_link(b"mnt:[4026531841]", "mnt"), Some(4026531841));
        assert_eq!(parse_ns_link(b"net:[4026531840]", "net"), Some(4026531840));
        assert_eq!(parse_ns_link(b"net:[4026531840]", "mnt"), None);
        assert_eq!(parse_ns_link(b"mnt:[]", "mnt"), None);
        assert_eq!(parse_ns_link(b"mnt:4026531841", "mnt"), None);
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
        // Two names for uid 0 (toor, BSD style): getpwuid(3) gives the first.
        let m = parse_passwd("root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n");
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
    }
}
