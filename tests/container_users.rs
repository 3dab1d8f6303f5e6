//! A holder's user as its own container names it (root only): each holder
//! runs in a mount namespace of its own whose `/etc/passwd` is the test's
//! (seeded users and uids the host does not have, uid 0 under another name,
//! and named twice where the holder runs as uid 0: the first name counts),
//! or has no passwd at all, or is the host's. `portwatch_port_socket_info`
//! must carry the name that `getent passwd`, run inside the holder's mount
//! namespace, gives (the uid itself when it gives none), and `expect.user`
//! must match that name, not the host's.

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/ss.rs"]
mod ss;

use common::{has_series, require_root, require_tool, value, write_config};
use netns::Netns;
use rng::Rng;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A holder's passwd: the test's own file, none (a tmpfs over /etc), or the host's.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Passwd {
    Own,
    None,
    Host,
}

struct Holder {
    child: Child,
    port: u16,
    uid: u32,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LISTEN: &str = "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',int(sys.argv[1])))\ns.listen()\nprint('ready',flush=True)\ntime.sleep(600)";

/// Starts a listener on `port` as `uid`, in a mount namespace of its own inside `ns`
/// (Debian's python: one under root's home is not for other users).
fn hold(ns: &Netns, passwd: Passwd, file: &str, uid: u32, port: u16) -> Holder {
    let setup = match passwd {
        Passwd::Own => format!("mount --bind {file} /etc/passwd"),
        Passwd::None => "mount -t tmpfs none /etc".to_string(),
        Passwd::Host => "true".to_string(),
    };
    let script = format!("{setup} && exec setpriv --reuid={uid} --regid={uid} --clear-groups /usr/bin/python3 -c \"$0\" {port}");
    let mut child = ns
        .cmd("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, LISTEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("holder output");
    assert_eq!(line.trim(), "ready", "holder {passwd:?} uid {uid} port {port}");
    Holder { child, port, uid }
}

/// The user name of `uid` as the process's own mount namespace resolves it (the uid when it has none).
fn name_inside(pid: u32, uid: u32) -> String {
    let out = Command::new("nsenter").args(["-t", &pid.to_string(), "-m", "getent", "passwd", &uid.to_string()]).output().expect("nsenter");
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split(':').next().filter(|n| !n.trim().is_empty()) {
        Some(name) => name.trim().to_string(),
        None => uid.to_string(),
    }
}

#[test]
fn holders_users_are_named_by_their_own_containers_passwd_needs_root() {
    if !require_root("holders_users_are_named_by_their_own_containers_passwd_needs_root")
        || !require_tool("ss")
        || !require_tool("nsenter")
        || !require_tool("setpriv")
    {
        return;
    }
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_05e5_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let host_uids: Vec<u32> =
        std::fs::read_to_string("/etc/passwd").expect("host passwd").lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ns = Netns::new("cu");

    // Each case: a passwd kind, a uid, and the port it holds.
    let mut cases = vec![(Passwd::Own, 0), (Passwd::None, 0), (Passwd::Host, 65534)];
    for _ in 0..3 {
        let kind = [Passwd::Own, Passwd::Own, Passwd::None][rng.below(3) as usize];
        let uid = loop {
            let u = 20_000 + rng.below(40_000) as u32;
            if !host_uids.contains(&u) {
                break u;
            }
        };
        cases.push((kind, uid));
    }
    let mut holders = Vec::new();
    for (i, (kind, uid)) in cases.iter().enumerate() {
        // Each container's passwd: its holder's uid and uid 0 under names of its own.
        let file = tmp.path().join(format!("passwd{i}"));
        let me = format!("u{i}x{}", rng.below(100_000));
        std::fs::write(&file, format!("toor{i}:x:0:0:root:/root:/bin/sh\n{me}:x:{uid}:{uid}::/:/bin/false\n")).expect("passwd");
        holders.push(hold(&ns, *kind, &file.to_string_lossy(), *uid, 18_100 + i as u16));
    }

    // The oracle: each holder's pid from ss, its user from its own mount namespace.
    let named: Vec<(u16, u32, String)> = holders
        .iter()
        .map(|h| {
            let pid = ss::listener_pid(&ns, h.port);
            (h.port, pid, name_inside(pid, h.uid))
        })
        .collect();
    eprintln!("{named:?}");
    assert!(named.iter().any(|(_, _, n)| n.starts_with("toor")), "a container calls uid 0 something else: {named:?}");
    assert!(named.iter().any(|(_, _, n)| n == "0"), "a container without passwd: the uid itself: {named:?}");
    assert!(named.iter().any(|(_, _, n)| n == "nobody"), "the host's passwd where the holder sees it: {named:?}");

    // Watches expecting each oracle name, and one expecting the host's name for uid 0 on the renamed holder.
    let mut yaml = String::from("ports:\n");
    for (port, _, name) in &named {
        yaml += &format!("  - {{name: p{port}, port: {port}, expect: {{user: \"{name}\"}}}}\n");
    }
    let renamed = named.iter().find(|(_, _, n)| n.starts_with("toor")).map(|(p, _, _)| *p).expect("renamed root");
    let cfg = write_config(tmp.path(), &yaml);
    let cfg_host = write_config(&tmp.path().join("host"), &format!("ports:\n  - {{name: r, port: {renamed}, expect: {{user: root}}}}\n"));

    ns.exporter(&["--config.file", &cfg]);
    let m = ns.get("/metrics");
    for (port, pid, name) in &named {
        let (p, pid) = (port.to_string(), pid.to_string());
        assert!(
            has_series(&m, "portwatch_port_socket_info", &[("port", &p), ("pid", &pid), ("user", name)]),
            "port {port}: pid {pid} as user {name}:\n{}",
            m.lines().filter(|l| l.contains(&format!("port=\"{port}\""))).collect::<Vec<_>>().join("\n")
        );
        let series = format!(r#"portwatch_port_bound_by_expected{{name="p{port}",port="{port}",protocol="tcp"}}"#);
        assert_eq!(value(&m, &series), Some(1.0), "expect.user {name} matches on {port}");
    }
    drop(holders);
    drop(ns);

    // The host's name for uid 0 is not the container's: that holder is another owner.
    let mut ns2 = Netns::new("cu2");
    let file = tmp.path().join("passwd-r");
    std::fs::write(&file, "toor:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    let _h = hold(&ns2, Passwd::Own, &file.to_string_lossy(), 0, renamed);
    assert_eq!(name_inside(ss::listener_pid(&ns2, renamed), 0), "toor");
    ns2.exporter(&["--config.file", &cfg_host]);
    let m = ns2.get("/metrics");
    let other = format!(r#"portwatch_port_bound_by_other{{name="r",port="{renamed}",protocol="tcp"}}"#);
    assert_eq!(value(&m, &other), Some(1.0), "uid 0 is toor in its container, not the host's root:\n{m}");
}
