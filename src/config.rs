//! The YAML configuration: which ports to watch and who should hold them.
//! Validation errors name the file, the field and the line.

use crate::model::Protocol;
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
            let decimal = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0');
            match v.parse::<u16>() {
                Ok(p) if decimal && p > 0 => Ok(p),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_str(Port)
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
struct WatchList(Vec<Watch>);

impl<'de> Deserialize<'de> for WatchList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Watch>::deserialize(d).map(WatchList)
    }
}

/// The first rule broken across entries: (entry index, message).
fn cross_entry_error(watches: &[Watch]) -> Option<(usize, String)> {
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, w) in watches.iter().enumerate() {
        if w.name.trim().is_empty() {
            return Some((i, "name must not be empty".into()));
        }
        if !names.insert(w.name.as_str()) {
            return Some((i, format!("duplicate name {:?}", w.name)));
        }
        if !keys.insert((w.port, w.protocol, w.address)) {
            return Some((i, format!("duplicate port {}/{} in entry {:?}", w.port, w.protocol, w.name)));
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
        Config { watches: Watches::DiscoverListeners, socket_info_limit: DEFAULT_SOCKET_INFO_LIMIT }
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
        Ok(Config { watches: Watches::Listed(raw.ports.0), socket_info_limit: raw.socket_info_limit })
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

    #[test]
    fn unreadable_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/portwatch.yml")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/portwatch.yml"), "{err}");
    }
}
