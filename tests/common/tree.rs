//! Process trees that share sockets (tests/helpers/tree.py), the holders
//! `ss -tanp`/`ss -uanp` list, and the same facts read from an exposition,
//! in one shape so the two can be compared.
#![allow(dead_code)]

use crate::netns::Netns;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

/// The tree's master; every node dies when it does.
pub struct Tree {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

impl Tree {
    pub fn start(ns: &Netns) -> Tree {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/tree.py");
        let mut child = ns
            .cmd("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 tree starts");
        let stdin = child.stdin.take().expect("stdin");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Tree { child, stdin, out }
    }

    /// One command; Ok(fields after "ok") or Err(the error line).
    pub fn run(&mut self, cmd: &str) -> Result<Vec<String>, String> {
        writeln!(self.stdin, "{cmd}").expect("tree stdin");
        let mut line = String::new();
        self.out.read_line(&mut line).expect("tree answers");
        let f: Vec<String> = line.split_whitespace().map(String::from).collect();
        match f.first().map(String::as_str) {
            Some("ok") => Ok(f[1..].to_vec()),
            _ => Err(format!("{cmd}: {}", line.trim())),
        }
    }

    /// A command that must succeed.
    pub fn must(&mut self, cmd: &str) -> Vec<String> {
        self.run(cmd).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An exporter in the namespace on its own port, stopped on drop.
pub struct Exporter {
    pub child: Child,
    pub port: u16,
}

impl Exporter {
    pub fn start(ns: &Netns, port: u16, args: &[&str]) -> Exporter {
        let child = ns
            .cmd(env!("CARGO_BIN_EXE_portwatch_exporter"))
            .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--log.level", "warn"])
            .args((!args.iter().any(|a| a.starts_with("--storage.path"))).then_some("--storage.path=")) // learning off unless asked: never the host's /var/lib
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("exporter starts");
        let e = Exporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while ns.http_get(port, "/-/healthy").is_none_or(|(s, _)| !s.contains(" 200")) {
            assert!(Instant::now() < deadline, "exporter did not answer on {port}");
            std::thread::sleep(Duration::from_millis(30));
        }
        e
    }

    pub fn metrics(&self, ns: &Netns) -> String {
        let (status, body) = ns.http_get(self.port, "/metrics").expect("scrape");
        assert!(status.contains(" 200"), "{status}");
        crate::common::assert_unique_series(&body);
        body
    }

    /// SIGHUP: reload the config (the owner cache is cleared).
    pub fn reload(&self) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) }, 0);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (protocol, port, address, state, pid or "", expected) -> sockets.
pub type Key = (String, u16, String, String, String, bool);

/// What one side says about the watched ports.
#[derive(Debug, Default, PartialEq)]
pub struct Holders {
    /// One entry per (socket, holder); an unheld socket counts once with pid "".
    pub pairs: BTreeMap<Key, u64>,
    /// (protocol, port) -> sockets.
    pub sockets: BTreeMap<(String, u16), u64>,
}

impl Holders {
    pub fn pairs_on(&self, proto: &str, port: u16) -> u64 {
        self.pairs.iter().filter(|(k, _)| k.0 == proto && k.1 == port).map(|(_, v)| v).sum()
    }
}

/// ss's state names as the exporter labels them.
pub fn state_label(ss: &str) -> String {
    match ss {
        "ESTAB" => "established".into(),
        "UNCONN" => "unconn".into(),
        other => other.to_lowercase().replace('-', "_").replace("wait_1", "wait1").replace("wait_2", "wait2"),
    }
}

/// Holders per socket from `ss -Htanp` and `ss -Huanp` in the namespace, on
/// the watched ports; a socket is expected when any holder is named `expect`.
pub fn from_ss(ns: &Netns, watched: &[(&str, u16)], expect: &str) -> Holders {
    let mut h = Holders::default();
    for (proto, flag) in [("tcp", "-Htanp"), ("udp", "-Huanp")] {
        let out = ns.cmd("ss").arg(flag).output().expect("ss");
        assert!(out.status.success(), "ss {flag}");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some((addr, port)) = f.get(3).and_then(|l| l.rsplit_once(':')) else { continue };
            let Ok(port) = port.parse::<u16>() else { continue };
            if !watched.contains(&(proto, port)) {
                continue;
            }
            let addr = addr.trim_start_matches('[').trim_end_matches(']').to_string();
            let users = f.get(5..).map(|u| u.join(" ")).unwrap_or_default();
            let mut holders: Vec<(String, String)> = users
                .match_indices("pid=")
                .map(|(at, _)| {
                    let pid: String = users[at + 4..].chars().take_while(char::is_ascii_digit).collect();
                    let before = &users[..at];
                    let name = before.rfind("(\"").map(|s| before[s + 2..].trim_end_matches("\",").to_string()).unwrap_or_default();
                    (pid, name)
                })
                .collect();
            holders.sort();
            holders.dedup();
            let expected = holders.iter().any(|(_, n)| n == expect);
            let state = state_label(f[0]);
            *h.sockets.entry((proto.to_string(), port)).or_default() += 1;
            if holders.is_empty() {
                holders.push((String::new(), String::new()));
            }
            for (pid, _) in holders {
                *h.pairs.entry((proto.to_string(), port, addr.clone(), state.clone(), pid, expected)).or_default() += 1;
            }
        }
    }
    h
}

/// Labels of one series line, and its value.
pub fn parse_series(line: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let (_, rest) = line.split_once('{')?;
    let (labels, value) = rest.rsplit_once("} ")?;
    let mut map = BTreeMap::new();
    let mut chars = labels.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => val.extend(chars.next()),
                '"' => break,
                c => val.push(c),
            }
        }
        map.insert(key.trim_start_matches(',').to_string(), val);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((map, value.trim().parse().ok()?))
}

/// The same facts from an exposition: socket_info series, sockets per port,
/// and the omitted count per (protocol, port).
pub fn from_exposition(m: &str) -> (Holders, BTreeMap<(String, u16), u64>) {
    let mut h = Holders::default();
    let mut omitted = BTreeMap::new();
    for line in m.lines() {
        let Some(name) = line.split('{').next() else { continue };
        if !matches!(name, "portwatch_port_socket_info" | "portwatch_port_sockets" | "portwatch_port_socket_info_omitted") {
            continue;
        }
        let Some((l, v)) = parse_series(line) else { panic!("unparsable series {line}") };
        let port: u16 = l["port"].parse().expect("port label");
        let pp = (l["protocol"].clone(), port);
        match name {
            "portwatch_port_sockets" => {
                h.sockets.insert(pp, v as u64);
            }
            "portwatch_port_socket_info_omitted" => {
                omitted.insert(pp, v as u64);
            }
            _ => {
                let key = (pp.0, port, l["address"].clone(), l["state"].clone(), l["pid"].clone(), l["expected"] == "true");
                let prev = h.pairs.insert(key, v as u64);
                assert!(prev.is_none(), "two socket_info series with one label set: {line}");
            }
        }
    }
    h.sockets.retain(|_, n| *n > 0);
    (h, omitted)
}
