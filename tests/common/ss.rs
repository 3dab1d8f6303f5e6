//! `ss` as the oracle of who holds a socket, run inside a test's namespace.
#![allow(dead_code)] // each test file uses what it needs

use super::netns::Netns;

/// One socket from `ss -[tu]anpH`: local port, state, and (process, pid) owners.
pub struct SsRow {
    pub port: u16,
    pub state: String,
    pub owners: Vec<(String, u32)>,
}

/// `ss FLAGS` run inside the namespace (`-tanpH`, `-uanpH`, ...).
pub fn rows(ns: &Netns, flags: &str) -> Vec<SsRow> {
    let out = ns.cmd("ss").arg(flags).output().expect("ss runs");
    assert!(out.status.success(), "ss failed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut rows = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let port: u16 = f[3].rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("local port in {line}"));
        let mut owners = Vec::new();
        // users:(("name",pid=N,fd=M),("name2",pid=K,fd=L))
        for part in line.split("((").skip(1).chain(line.split("),(").skip(1)) {
            let Some(name) = part.strip_prefix('"').and_then(|r| r.split('"').next()) else { continue };
            let Some(pid) = part.split("pid=").nth(1).and_then(|r| r.split([',', ')']).next()).and_then(|p| p.parse().ok()) else {
                continue;
            };
            owners.push((name.to_string(), pid));
        }
        owners.sort();
        owners.dedup();
        rows.push(SsRow { port, state: f[0].to_ascii_lowercase(), owners });
    }
    rows
}

/// The pid `ss -tlnp` names as the listener on `port` in the namespace.
pub fn listener_pid(ns: &Netns, port: u16) -> u32 {
    let rows = rows(ns, "-tlnpH");
    let pid = rows.iter().find(|r| r.port == port).and_then(|r| r.owners.first()).map(|(_, pid)| *pid);
    pid.unwrap_or_else(|| panic!("ss shows no listener on {port}"))
}
