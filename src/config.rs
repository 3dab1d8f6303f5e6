//! The YAML configuration: which ports to watch and who should hold them.
//! Validation errors name the file, the field and the line.

use crate::model::{PortRange, Protocol};
use crate::parse::yaml::{nesting_error, MAX_DEPTH};
use crate::platform::files;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Socket info series kept per port when the config does not say.
pub const DEFAULT_SOCKET_INFO_LIMIT: usize = 10;
/// Most entries under `ports`: far above any real host, far below what would
/// make every scrape and `check` absurd (each entry is a set of series).
pub const MAX_WATCHES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub watches: Watches,
    pub socket_info_limit: usize,
    /// Entries written as a range (`port: 30000-32767`): counted, never one series per port.
    pub ranges: Vec<RangeWatch>,
    /// Offending (port, holder) series kept per range.
    pub range_offender_limit: usize,
}

/// Offender series kept per watched range when the config does not say.
pub const DEFAULT_RANGE_OFFENDER_LIMIT: usize = 5;
/// The most offender series a range may ask for.
pub const MAX_RANGE_OFFENDER_LIMIT: usize = 100;

/// A watched range of ports: the same fields as [`Watch`], with a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeWatch {
    pub name: String,
    pub range: PortRange,
    pub protocol: Protocol,
    pub address: Option<IpAddr>,
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Watches {
    /// Ports named in a config file.
    Listed(Vec<Watch>),
    /// No config file: every TCP port with a listening socket, whose
    /// listener's process is taken as the expected owner.
    DiscoverListeners,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    pub name: String,
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    #[serde(default = "default_protocol", with = "ProtocolDef")]
    pub protocol: Protocol,
    #[serde(default)]
    pub address: Option<IpAddr>,
    #[serde(default, deserialize_with = "de_expect")]
    pub expect: Option<Expect>,
}

/// Every field given must match the process holding the socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub process: Option<String>,
    pub exe: Option<String>,
    pub user: Option<String>,
    pub unit: Option<String>,
    /// A shell-style pattern (fnmatch(3), `*` crossing `/`) over the
    /// process's cgroup path, e.g. `/kubepods.slice/*` or `*/docker-*.scope`.
    pub cgroup: Option<String>,
}

/// `expect` as written, then checked: its errors carry the entry's line.
fn de_expect<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Expect>, D::Error> {
    let Some(e) = Option::<Expect>::deserialize(d)? else { return Ok(None) };
    e.checked().map(Some).map_err(de::Error::custom)
}

impl Expect {
    fn checked(self) -> Result<Expect, String> {
        let r = &self;
        if r.process.is_none() && r.exe.is_none() && r.user.is_none() && r.unit.is_none() && r.cgroup.is_none() {
            return Err("expect: give at least one of process, exe, user, unit, cgroup".into());
        }
        if let Some(cg) = &r.cgroup {
            if !cg.starts_with(['/', '*']) {
                return Err(format!("expect.cgroup: {cg:?} must start with / or * (cgroup paths are absolute)"));
            }
            if !crate::parse::glob::well_formed(cg.as_bytes()) {
                return Err(format!(
                    "expect.cgroup: {cg:?} is not a well-formed pattern (an unclosed [, a [. or [= inside brackets, or a final backslash)"
                ));
            }
        }
        if let Some(exe) = &r.exe {
            if !exe.starts_with('/') && !exe.contains(":\\") {
                return Err(format!("expect.exe: {exe:?} is not an absolute path"));
            }
        }
        for (field, v) in [("process", &r.process), ("user", &r.user), ("unit", &r.unit), ("exe", &r.exe), ("cgroup", &r.cgroup)] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(format!("expect.{field}: must not be empty"));
            }
        }
        Ok(self)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ports: WatchList,
    #[serde(default = "default_limit")]
    socket_info_limit: usize,
    #[serde(default = "default_offender_limit")]
    range_offender_limit: usize,
}

fn default_offender_limit() -> usize {
    DEFAULT_RANGE_OFFENDER_LIMIT
}

/// One entry under `ports` as written: a port or a range.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    #[serde(deserialize_with = "de_port_spec")]
    port: PortSpec,
    #[serde(default = "default_protocol", with = "ProtocolDef")]
    protocol: Protocol,
    #[serde(default)]
    address: Option<IpAddr>,
    #[serde(default, deserialize_with = "de_expect")]
    expect: Option<Expect>,
}

/// What `port:` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortSpec {
    One(u16),
    Range(PortRange),
}

/// One entry, as the rest of the program sees it.
enum Entry {
    Port(Watch),
    Range(RangeWatch),
}

impl From<RawEntry> for Entry {
    fn from(r: RawEntry) -> Entry {
        match r.port {
            PortSpec::One(port) => Entry::Port(Watch { name: r.name, port, protocol: r.protocol, address: r.address, expect: r.expect }),
            PortSpec::Range(range) => {
                Entry::Range(RangeWatch { name: r.name, range, protocol: r.protocol, address: r.address, expect: r.expect })
            }
        }
    }
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Port(w) => &w.name,
            Entry::Range(r) => &r.name,
        }
    }
}

fn default_limit() -> usize {
    DEFAULT_SOCKET_INFO_LIMIT
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

/// A port as written: decimal digits only, 1 to 65535, plain or quoted. YAML
/// would read `0x50` as 80 and `0o120` as 80 too, and YAML 1.1 tools read
/// `080` as octal; a port number is refused in those forms rather than
/// silently meaning something other than it looks. Errors carry the value's
/// line, as the YAML parser reports them.
fn de_port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    struct Port;
    impl Visitor<'_> for Port {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a port number from 1 to 65535, in decimal")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u16, E> {
            decimal_port(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_str(Port)
}

/// 1 to 65535 in plain decimal digits, no sign, no leading zero.
fn decimal_port(v: &str) -> Option<u16> {
    let decimal = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0');
    v.parse::<u16>().ok().filter(|p| decimal && *p > 0)
}

/// `START-END`: two ports as [`decimal_port`] takes them, START <= END, no
/// spaces (config ranges, `--collector.nodeport.range`).
pub(crate) fn decimal_range(v: &str) -> Option<PortRange> {
    let (a, b) = v.split_once('-')?;
    match (decimal_port(a), decimal_port(b)) {
        (Some(start), Some(end)) if start <= end => Some(PortRange { start, end }),
        _ => None,
    }
}

/// A port as [`de_port`] takes it, or a range `START-END` of two such ports
/// with START <= END (no spaces, no other separator): `30000-32767`.
fn de_port_spec<'de, D: Deserializer<'de>>(d: D) -> Result<PortSpec, D::Error> {
    struct Spec;
    impl Visitor<'_> for Spec {
        type Value = PortSpec;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a port number from 1 to 65535, or a range START-END of such numbers with START <= END, in decimal")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
            let bad = || E::invalid_value(de::Unexpected::Str(v), &self);
            match v.split_once('-') {
                None => decimal_port(v).map(PortSpec::One).ok_or_else(bad),
                Some(_) => decimal_range(v).map(PortSpec::Range).ok_or_else(bad),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSpec, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_str(Spec)
}

#[derive(Deserialize)]
#[serde(remote = "Protocol", rename_all = "lowercase")]
enum ProtocolDef {
    #[serde(alias = "TCP")]
    Tcp,
    #[serde(alias = "UDP")]
    Udp,
}

/// The list as written; rules across entries are checked in [`Config::parse`].
struct WatchList(Vec<Entry>);

impl<'de> Deserialize<'de> for WatchList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<RawEntry>::deserialize(d).map(|v| WatchList(v.into_iter().map(Entry::from).collect()))
    }
}

/// The first rule broken across entries: (entry index, message). Names are
/// unique over ports and ranges; two ranges of one protocol and address may
/// not overlap (a port would be counted twice); a single port inside a
/// range is allowed: it gets its own series besides the range's counts.
fn cross_entry_error(entries: &[Entry]) -> Option<(usize, String)> {
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut ranges: Vec<&RangeWatch> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.name().trim().is_empty() {
            return Some((i, "name must not be empty".into()));
        }
        if !names.insert(e.name()) {
            return Some((i, format!("duplicate name {:?}", e.name())));
        }
        match e {
            Entry::Port(w) => {
                if !keys.insert((w.port, w.protocol, w.address)) {
                    return Some((i, format!("duplicate port {}/{} in entry {:?}", w.port, w.protocol, w.name)));
                }
            }
            Entry::Range(r) => {
                let clash = ranges.iter().find(|o| {
                    o.protocol == r.protocol && o.address == r.address && o.range.start <= r.range.end && r.range.start <= o.range.end
                });
                if let Some(o) = clash {
                    return Some((
                        i,
                        format!(
                            "range {}-{}/{} in entry {:?} overlaps range {}-{} of entry {:?}",
                            r.range.start, r.range.end, r.protocol, r.name, o.range.start, o.range.end, o.name
                        ),
                    ));
                }
                ranges.push(r);
            }
        }
    }
    None
}

/// Where entry `index` of `ports` starts, found by asking the YAML parser
/// for a type it cannot give there: its type errors carry exact positions.
fn entry_location(text: &str, index: usize) -> Option<serde_yaml_ng::Location> {
    struct Top(usize);
    struct Seq(usize);
    impl<'de> de::DeserializeSeed<'de> for Seq {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Seq {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            for _ in 0..self.0 {
                seq.next_element::<de::IgnoredAny>()?;
            }
            seq.next_element::<u8>().map(|_| ())
        }
    }
    impl<'de> Visitor<'de> for Top {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "ports" {
                    return map.next_value_seed(Seq(self.0));
                }
                map.next_value::<de::IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let d = serde_yaml_ng::Deserializer::from_str(text);
    d.deserialize_map(Top(index)).err().and_then(|e| e.location())
}

/// The parser gives no position for an unknown or duplicate top-level key;
/// find its line (for a duplicate, the second time it appears).
fn with_top_level_line(text: &str, e: &serde_yaml_ng::Error) -> String {
    let msg = e.to_string();
    // The parser may place such an error at the start of the mapping; the
    // top-level key's own line is the useful one.
    let bare = msg.split(" at line ").next().unwrap_or(&msg);
    let (key, nth) = match (bare.strip_prefix("unknown field `"), bare.strip_prefix("duplicate field `")) {
        (Some(r), _) => (r.split('`').next(), 0),
        (_, Some(r)) => (r.split('`').next(), 1),
        _ => (None, 0),
    };
    let line = key.and_then(|k| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.strip_prefix(k).is_some_and(|r| r.trim_start().starts_with(':')))
            .nth(nth)
            .map(|(n, _)| n)
    });
    match line {
        Some(n) => format!("{bare} at line {} column 1", n + 1),
        None => msg,
    }
}

impl Config {
    /// The embedded default, used when no config file is given.
    pub fn discover() -> Config {
        Config {
            watches: Watches::DiscoverListeners,
            socket_info_limit: DEFAULT_SOCKET_INFO_LIMIT,
            ranges: Vec::new(),
            range_offender_limit: DEFAULT_RANGE_OFFENDER_LIMIT,
        }
    }

    /// Parses YAML text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        if let Some(e) = nesting_error(text, MAX_DEPTH) {
            return Err(invalid(e));
        }
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| invalid(with_top_level_line(text, &e)))?;
        if raw.ports.0.len() > MAX_WATCHES {
            let at =
                entry_location(text, MAX_WATCHES).map(|l| format!(" (entry {} at line {})", MAX_WATCHES + 1, l.line())).unwrap_or_default();
            return Err(invalid(format!("ports: {} entries, more than the {MAX_WATCHES} allowed{at}", raw.ports.0.len())));
        }
        if let Some((i, msg)) = cross_entry_error(&raw.ports.0) {
            let at = entry_location(text, i).map(|l| format!(" at line {} column {}", l.line(), l.column())).unwrap_or_default();
            return Err(invalid(format!("ports[{i}]: {msg}{at}")));
        }
        if raw.range_offender_limit > MAX_RANGE_OFFENDER_LIMIT {
            let line = text.lines().position(|l| l.starts_with("range_offender_limit")).map(|n| format!(" at line {}", n + 1));
            return Err(invalid(format!(
                "range_offender_limit: {} is more than the {MAX_RANGE_OFFENDER_LIMIT} allowed{}",
                raw.range_offender_limit,
                line.unwrap_or_default()
            )));
        }
        let (mut watches, mut ranges) = (Vec::new(), Vec::new());
        for e in raw.ports.0 {
            match e {
                Entry::Port(w) => watches.push(w),
                Entry::Range(r) => ranges.push(r),
            }
        }
        Ok(Config {
            watches: Watches::Listed(watches),
            socket_info_limit: raw.socket_info_limit,
            ranges,
            range_offender_limit: raw.range_offender_limit,
        })
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = files::read_text(path, files::cap::CONFIG).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("ports.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn full_entry_and_defaults() {
        let c = parse("ports:\n  - name: pg\n    port: 5432\n    address: 127.0.0.1\n    expect: {process: postgres, user: postgres, unit: postgresql.service, exe: /usr/bin/postgres}\n  - name: dns\n    port: 53\n    protocol: UDP\n").expect("valid");
        let Watches::Listed(w) = c.watches else { panic!("listed") };
        assert_eq!(w[0].protocol, Protocol::Tcp);
        assert_eq!(w[0].address, Some("127.0.0.1".parse().expect("ip")));
        assert_eq!(w[0].expect.as_ref().and_then(|e| e.unit.as_deref()), Some("postgresql.service"));
        assert_eq!(w[1].protocol, Protocol::Udp);
        assert_eq!(c.socket_info_limit, DEFAULT_SOCKET_INFO_LIMIT);
        let c = parse("ports:\n  - name: app\n    port: 80\n    expect: {cgroup: \"/kubepods.slice/*/cri-containerd-[0-9a-f]*.scope\"}\n")
            .expect("valid");
        let Watches::Listed(w) = c.watches else { panic!("listed") };
        assert_eq!(w[0].expect.as_ref().and_then(|e| e.cgroup.as_deref()), Some("/kubepods.slice/*/cri-containerd-[0-9a-f]*.scope"));
    }

    /// Each bad config must fail with the file, the field and the line.
    /// Type errors point at the value; rule errors (duplicates, `expect`)
    /// point at the start of the offending entry.
    #[test]
    fn errors_name_file_field_and_line() {
        let cases = [
            ("ports:\n  - name: a\n    port: 70000\n", "port", "line 3"),
            ("ports:\n  - name: a\n    port: 0\n", "port", "line 3"),
            ("ports:\n  - name: a\n    port: 1\n    colour: red\n", "colour", "line 4"),
            ("ports:\n  - name: a\n    port: 1\n  - name: a\n    port: 2\n", "ports[1]: duplicate name", "line 4"),
            ("ports:\n  - name: a\n    port: 1\n  - name: b\n    port: 1\n", "ports[1]: duplicate port 1/tcp", "line 4"),
            ("ports:\n  - name: a\n    port: 1\n    protocol: sctp\n", "protocol", "line 4"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {proc: x}\n", "proc", "line 4"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {exe: bin/x}\n", "expect.exe", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {}\n", "at least one", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {cgroup: kubepods/x}\n", "expect.cgroup", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {cgroup: \"/kubepods/[abc\"}\n", "expect.cgroup", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {cgroup: \"*/x\\\\\"}\n", "expect.cgroup", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    expect: {cgroup: \"\"}\n", "expect.cgroup", "line 2"),
            ("ports:\n  - name: a\n    port: 1\n    port: 2\n", "duplicate field `port`", "line 2"),
            ("prots: []\n", "prots", "line 1"),
            ("ports:\n  - name: a\n    port: 1\n    address: 300.1.1.1\n", "address", "line 4"),
            ("ports:\n  - name: a\n    port: 1\nports:\n  - name: b\n    port: 2\n", "duplicate field `ports`", "line 4"),
            ("# ports: here\nports: []\nsocket_info_limit: 1\nports: []\n", "duplicate field `ports`", "line 4"),
            ("ports:\n  - name: a\n    port: 0x50\n", "port", "line 3"),
            ("ports:\n  - name: a\n    port: [80]\n", "port", "line 3"),
            ("ports: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "nested deeper", "line 1"),
        ];
        for (text, field, line) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains("ports.yml"), "{err}");
            assert!(err.contains(field), "{text:?}: {err} should name {field}");
            assert!(err.contains(line), "{text:?}: {err} should name {line}");
        }
    }

    /// Ports are decimal: every other way YAML has of writing an integer is refused.
    #[test]
    fn ports_are_written_in_decimal() {
        let port = |v: &str| {
            parse(&format!("ports:\n  - name: a\n    port: {v}\n")).map(|c| match c.watches {
                Watches::Listed(w) => w[0].port,
                Watches::DiscoverListeners => 0,
            })
        };
        for (v, want) in [("80", 80), ("\"80\"", 80), ("'443'", 443), ("65535", 65535), ("1", 1)] {
            assert_eq!(port(v), Ok(want), "{v}");
        }
        for v in ["0x50", "0o120", "0b1010000", "080", "+80", "8_0", "8e1", "80.0", "-80", "0", "65536", "\"\"", "~", "true"] {
            let err = port(v).expect_err(v);
            assert!(err.contains("in decimal") || err.contains("invalid type"), "{v}: {err}");
        }
    }

    #[test]
    fn entries_are_capped_with_the_line_of_the_first_too_many() {
        let entries = |n: usize| {
            (1..=n)
                .map(|i| format!("  - {{name: p{i}, port: {}, protocol: {}}}\n", i % 65535 + 1, if i > 65535 { "udp" } else { "tcp" }))
                .collect::<String>()
        };
        assert!(parse(&format!("ports:\n{}", entries(MAX_WATCHES))).is_ok());
        let err = parse(&format!("ports:\n{}", entries(MAX_WATCHES + 1))).expect_err("over the cap");
        assert!(
            err.contains(&format!("more than the {MAX_WATCHES} allowed")) && err.contains(&format!("line {}", MAX_WATCHES + 2)),
            "{err}"
        );
    }

    #[test]
    fn garbage_and_deep_nesting_are_errors_not_panics() {
        let deep = format!("ports: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        for text in ["", ":", "\u{0}", "ports: 5", "- a\n- b", deep.as_str(), "ports: [{name: a, port: x}]"] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    fn ranges_of(text: &str) -> Result<(Vec<Watch>, Vec<RangeWatch>), String> {
        parse(text).map(|c| match c.watches {
            Watches::Listed(w) => (w, c.ranges),
            Watches::DiscoverListeners => (vec![], c.ranges),
        })
    }

    #[test]
    fn a_range_entry_is_its_own_kind_of_watch() {
        let text = "ports:\n  - name: pg\n    port: 5432\n  - name: nodeports\n    port: 30000-32767\n    address: 0.0.0.0\n    expect: {process: kube-proxy}\n  - name: rtp\n    port: \"10000-20000\"\n    protocol: udp\nrange_offender_limit: 3\n";
        let c = parse(text).expect("valid");
        let Watches::Listed(w) = &c.watches else { panic!("listed") };
        assert_eq!(w.len(), 1, "only the single port is a per-port watch");
        assert_eq!(w[0].port, 5432);
        assert_eq!(c.range_offender_limit, 3);
        assert_eq!(c.ranges.len(), 2);
        assert_eq!(c.ranges[0].range, PortRange { start: 30000, end: 32767 });
        assert_eq!(c.ranges[0].address, Some("0.0.0.0".parse().expect("ip")));
        assert_eq!(c.ranges[0].expect.as_ref().and_then(|e| e.process.as_deref()), Some("kube-proxy"));
        assert_eq!((c.ranges[1].range, c.ranges[1].protocol), (PortRange { start: 10000, end: 20000 }, Protocol::Udp));
        assert_eq!(parse("ports: []\n").expect("valid").range_offender_limit, DEFAULT_RANGE_OFFENDER_LIMIT);
    }

    /// Ranges are strict as ports are: two decimal ports, START <= END, nothing else.
    #[test]
    fn ranges_are_two_decimal_ports_in_order() {
        let range = |v: &str| {
            ranges_of(&format!("ports:\n  - name: a\n    port: {v}\n")).map(|(_, r)| r.first().map(|r| (r.range.start, r.range.end)))
        };
        for (v, want) in [("1-65535", (1, 65535)), ("80-80", (80, 80)), ("'30000-32767'", (30000, 32767))] {
            assert_eq!(range(v), Ok(Some(want)), "{v}");
        }
        for v in [
            "0-10",
            "10-0",
            "5-4",
            "1-65536",
            "0x10-0x20",
            "010-20",
            "10 - 20",
            "10--20",
            "-10",
            "10-",
            "10-20-30",
            "+1-2",
            "1_0-20",
            "10..20",
            "10:20",
        ] {
            let err = range(v).expect_err(v);
            assert!(err.contains("in decimal") && err.contains("line 3"), "{v}: {err}");
        }
    }

    #[test]
    fn overlapping_ranges_and_shared_names_are_refused_with_the_entry_line() {
        let cases = [
            (
                "ports:\n  - name: a\n    port: 100-200\n  - name: b\n    port: 200-300\n",
                "ports[1]: range 200-300/tcp in entry \"b\" overlaps range 100-200",
                "line 4",
            ),
            ("ports:\n  - name: a\n    port: 100-200\n  - name: a\n    port: 300-400\n", "ports[1]: duplicate name", "line 4"),
            ("ports:\n  - name: a\n    port: 100\n  - name: a\n    port: 300-400\n", "ports[1]: duplicate name", "line 4"),
            ("ports: []\nrange_offender_limit: 1000\n", "range_offender_limit: 1000", "line 2"),
        ];
        for (text, want, line) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains("ports.yml") && err.contains(want) && err.contains(line), "{text:?}: {err}");
        }
        // Other protocol, other address, or a single port inside: allowed.
        for text in [
            "ports:\n  - name: a\n    port: 100-200\n  - name: b\n    port: 150-300\n    protocol: udp\n",
            "ports:\n  - name: a\n    port: 100-200\n  - name: b\n    port: 150-300\n    address: 127.0.0.1\n",
            "ports:\n  - name: a\n    port: 100-200\n  - name: b\n    port: 150\n",
        ] {
            assert!(parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/portwatch.yml")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/portwatch.yml"), "{err}");
    }
}
