//! The learned baseline on a real kernel: a reboot in miniature without a
//! config file (the service listens and is learned; exporter and service
//! stop; a client is handed the port as its ephemeral source port; the
//! exporter restarts on the same storage and names the previous owner), and
//! the state file's crash safety.

mod common;
#[path = "common/netns.rs"]
mod netns;

use common::{has_series, require_root};
use netns::Netns;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_portwatch_exporter");

fn v(m: &str, series: &str) -> Option<f64> {
    common::value(m, series)
}

/// `ss -tanp` in the namespace: the established sockets whose local port is `port`.
fn ss_established_from(ns: &Netns, port: u16) -> String {
    let out = ns.cmd("ss").args(["-Htanp", "state", "established", &format!("( sport = :{port} )")]).output().expect("ss runs");
    assert!(out.status.success(), "ss: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn reboot_in_miniature_learned_port_taken_by_a_client_names_the_previous_owner_needs_root() {
    if !require_root("reboot_in_miniature_learned_port_taken_by_a_client_names_the_previous_owner_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let storage = tmp.path().join("state");
    let storage_arg = storage.display().to_string();
    let learn = ["--storage.path", storage_arg.as_str(), "--baseline.learn-after", "0s"];
    let port = 40000u16;
    let series = format!(r#"{{name="tcp-{port}",port="{port}",protocol="tcp"}}"#);
    let mut ns = Netns::new("reboot");

    // Before the reboot: the service listens and the exporter (no config file) learns it.
    let service = ns.peer("sqlservr", "listen-tcp", "0.0.0.0", port);
    ns.exporter(&learn);
    let exporter = ns.last_pid();
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{series}")), Some(1.0), "{m}");
    assert!(has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40000"), ("source", "baseline")]), "{m}");
    assert!(v(&m, r#"portwatch_baseline_ports{state="learned"}"#).is_some_and(|n| n >= 1.0), "{m}");
    assert!(v(&m, r#"portwatch_baseline_changes_total{kind="learned"}"#).is_some_and(|n| n >= 1.0), "{m}");
    assert_eq!(v(&m, "portwatch_baseline_load_success"), Some(1.0), "{m}");
    assert_eq!(v(&m, "portwatch_baseline_last_write_success"), Some(1.0), "{m}");
    let file = std::fs::read_to_string(storage.join("baseline.json")).expect("the baseline was written");
    assert!(file.contains("\"port\": 40000") && file.contains("sqlservr"), "{file}");

    // The reboot: exporter and service gone.
    ns.stop(exporter);
    ns.stop(service.pid);

    // Nobody holds the learned port: `check` says the learned owner is missing, and writes nothing.
    let before = std::fs::read(storage.join("baseline.json")).expect("file");
    let out = ns.cmd(BIN).args(["check", "--storage.path", &storage_arg]).output().expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.lines().any(|l| l.starts_with("tcp-40000") && l.contains("LEARNED OWNER MISSING")), "{text}");
    assert!(text.contains("tcp/40000: learned owner missing, nobody holds it (before: sqlservr"), "{text}");
    assert_eq!(std::fs::read(storage.join("baseline.json")).expect("file"), before, "check never writes the baseline");

    // A client starts before the service and is handed the port as its source port.
    ns.sysctl("net.ipv4.ip_local_port_range", &format!("{port} {port}"));
    ns.peer("upstream", "listen-tcp", "127.0.0.1", 5000);
    let client = ns.peer("client", "connect-tcp", "127.0.0.1", 5000);
    assert_eq!(client.port, port, "the kernel hands out the only port in the range");
    let ss = ss_established_from(&ns, port);
    assert!(ss.contains(&format!("127.0.0.1:{port}")) && ss.contains("\"client\"") && ss.contains(&format!("pid={}", client.pid)), "{ss}");

    // The exporter restarts on the same storage: the port is held by another owner, and the previous one is named.
    ns.exporter(&learn);
    let m = ns.get("/metrics");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_other{series}")), Some(1.0), "{m}");
    assert_eq!(v(&m, &format!("portwatch_port_bound_by_expected{series}")), Some(0.0), "{m}");
    assert!(
        has_series(
            &m,
            "portwatch_port_socket_info",
            &[("port", "40000"), ("process", "client"), ("state", "established"), ("expected", "false")]
        ),
        "{m}"
    );
    let owner_line = m
        .lines()
        .find(|l| l.starts_with("portwatch_port_expected_owner_info{") && l.contains(r#"port="40000""#))
        .unwrap_or_else(|| panic!("no expected owner info for 40000: {m}"));
    assert!(owner_line.contains(r#"source="baseline""#) && owner_line.contains(r#"owner="sqlservr (root"#), "{owner_line}");
    assert!(v(&m, r#"portwatch_baseline_changes_total{kind="owner_changed"}"#) == Some(0.0), "a client never becomes the owner: {m}");
    // Last held before the reboot: the learned time stays, a client does not refresh it.
    let seen = v(&m, r#"portwatch_baseline_port_last_seen_timestamp_seconds{protocol="tcp",port="40000"}"#).expect("last seen");
    let file: serde_json::Value = serde_json::from_slice(&before).expect("json"); // as written before the reboot
    let entry = file["ports"].as_array().expect("ports").iter().find(|e| e["port"] == 40000).expect("entry").clone();
    assert_eq!(Some(seen), entry["last_seen"].as_f64(), "{entry}");
    // The exposition with the baseline's series stays valid and unique.
    common::assert_unique_series(&m);
    common::promtool_accepts_text(&m);

    let out = ns.cmd(BIN).args(["check", "--storage.path", &storage_arg]).output().expect("check runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("tcp-40000") && l.contains("HELD BY OTHER") && l.contains("client")), "{text}");
    assert!(text.contains("tcp-40000 (tcp/40000) is held by another owner (before: sqlservr (root"), "{text}");
    let after = std::fs::read(storage.join("baseline.json")).expect("file");
    let learned_still = String::from_utf8_lossy(&after);
    assert!(learned_still.contains("sqlservr") && !learned_still.contains("\"client\""), "{learned_still}");
}

fn store_file(dir: &std::path::Path) -> std::path::PathBuf {
    portwatch_exporter::baseline::store::path_in(dir)
}

/// A baseline with `n` learned TCP ports, written as the exporter writes it.
fn seeded_baseline(dir: &std::path::Path, n: u16) -> portwatch_exporter::baseline::Baseline {
    use portwatch_exporter::baseline::{store, Baseline, Owner, Policy};
    use std::collections::{BTreeMap, BTreeSet};
    let mut b = Baseline::default();
    let held: BTreeMap<_, _> = (0..n)
        .map(|i| {
            let o = Owner { process: format!("svc{i}"), exe: Some(format!("/usr/bin/svc{i}")), user: Some("root".into()), unit: None };
            (("tcp".to_string(), 20000 + i), BTreeSet::from([o]))
        })
        .collect();
    b.observe(&held, 1_700_000_000, &Policy { learn_after: 0, forget_after: 86400, max_ports: 4096 });
    store::save(dir, &b).expect("seed");
    b
}

/// kill -9 of `baseline forget` at random moments, many rounds: the file
/// always reads back as the baseline before the command or the one after it,
/// never a mix, a truncation or nothing; nothing is lost beyond the last write.
#[test]
fn kill_9_during_baseline_writes_leaves_the_old_or_the_new_file_needs_root() {
    if !require_root("kill_9_during_baseline_writes_leaves_the_old_or_the_new_file_needs_root") {
        return;
    }
    use portwatch_exporter::baseline::store;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // Large enough that a write takes a while (about 300 kB).
    let mut current = seeded_baseline(dir, 1500);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // How long one uncut run takes here: the kills land anywhere from its start to a bit past its end.
    let spare = tempfile::tempdir().expect("tmp");
    seeded_baseline(spare.path(), 1500);
    let t = Instant::now();
    let ok = Command::new(BIN)
        .args(["baseline", "forget", "20000/tcp", "--storage.path", &spare.path().display().to_string()])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{ok:?}");
    let window = (t.elapsed().as_micros() as u64 * 3 / 2).max(1000);
    let (mut old_kept, mut new_written, mut rounds) = (0, 0, 0);
    let end = Instant::now() + Duration::from_secs(60);
    let mut port = 20000u16;
    while rounds < 150 && Instant::now() < end {
        rounds += 1;
        let before = std::fs::read(store_file(dir)).expect("file");
        let mut after = current.clone();
        assert!(after.forget("tcp", port));
        let after_bytes = serde_json::to_vec_pretty(&after).expect("json");
        let mut child = Command::new(BIN)
            .args(["baseline", "forget", &format!("{port}/tcp"), "--storage.path", &dir.display().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_micros(next() % window));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = std::fs::read(store_file(dir)).expect("the file is never missing");
        let read = store::read(dir).unwrap_or_else(|e| panic!("round {rounds}: the file does not load: {e}"));
        if now == before {
            old_kept += 1;
        } else {
            assert_eq!(now, after_bytes, "round {rounds}: neither the old nor the new baseline");
            assert_eq!(read, after);
            new_written += 1;
            current = after;
            port += 1;
        }
    }
    assert!(
        old_kept > 0 && new_written > 0,
        "the kills must land before and after the write: {old_kept} old, {new_written} new in {rounds}"
    );
}

/// A truncated file, garbage, and a file from a newer format at start: the
/// exporter serves, says so (load status, problem, one log line), sets the
/// file aside for the operator, and learns afresh.
#[test]
fn truncated_corrupt_and_newer_baselines_are_reported_and_set_aside_needs_root() {
    if !require_root("truncated_corrupt_and_newer_baselines_are_reported_and_set_aside_needs_root") {
        return;
    }
    let good = {
        let t = tempfile::tempdir().expect("tmp");
        seeded_baseline(t.path(), 3);
        std::fs::read(store_file(t.path())).expect("file")
    };
    let newer = String::from_utf8(good.clone()).expect("utf8").replacen("\"format\": 1", "\"format\": 99", 1).into_bytes();
    assert_ne!(newer, good);
    for (what, bytes, problem) in [
        ("truncated", good[..good.len() / 2].to_vec(), "corrupt"),
        ("garbage", b"\x00\xff{".to_vec(), "corrupt"),
        ("newer", newer, "newer_format"),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(store_file(tmp.path()), &bytes).expect("write");
        let storage = tmp.path().display().to_string();
        let mut ns = Netns::new("bad");
        ns.peer("svc", "listen-tcp", "127.0.0.1", 40001);
        ns.exporter(&["--storage.path", &storage, "--baseline.learn-after", "0s"]);
        let m = ns.get("/metrics");
        assert_eq!(v(&m, "portwatch_baseline_load_success"), Some(0.0), "{what}: {m}");
        assert!(has_series(&m, "portwatch_baseline_load_problem_info", &[("problem", problem)]), "{what}: {m}");
        let aside: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("baseline.json.bad-"))
            .collect();
        assert_eq!(aside.len(), 1, "{what}: set aside once");
        assert_eq!(std::fs::read(aside[0].path()).expect("kept"), bytes, "{what}: kept as it was for the operator");
        // Learning starts over, and the new file loads.
        assert!(has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40001"), ("source", "baseline")]), "{what}: {m}");
        let fresh = portwatch_exporter::baseline::store::read(tmp.path()).expect("the new file loads");
        assert!(fresh.expected("tcp", 40001).is_some(), "{what}");
    }
}

/// A storage directory the exporter cannot write: it serves, learns in
/// memory, reports the failed writes, and does not crash.
#[test]
fn read_only_storage_directory_is_reported_and_serving_goes_on_needs_root() {
    if !require_root("read_only_storage_directory_is_reported_and_serving_goes_on_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = tmp.path().join("state");
    std::fs::create_dir(&storage).expect("mkdir");
    let mut ns = Netns::new("ro");
    ns.peer("svc", "listen-tcp", "127.0.0.1", 40002);
    // Read-only by a bind mount in a private mount namespace: root ignores mode bits, not a read-only mount.
    let mut cmd = ns.cmd("unshare");
    let s = storage.display();
    cmd.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &format!(
            "mount --bind {s} {s} && mount -o remount,bind,ro {s} && exec {BIN} --web.listen-address 127.0.0.1:{} --storage.path {s} --baseline.learn-after 0s",
            netns::EXPORTER_PORT
        ),
    ]);
    ns.spawn(cmd);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut m = String::new();
    while std::time::Instant::now() < deadline {
        if let Some((status, body)) = ns.http_get(netns::EXPORTER_PORT, "/metrics") {
            if status.contains(" 200") {
                m = body;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!m.is_empty(), "the exporter serves");
    assert_eq!(v(&m, "portwatch_baseline_last_write_success"), Some(0.0), "{m}");
    assert!(v(&m, "portwatch_baseline_write_failures_total").is_some_and(|n| n >= 1.0), "{m}");
    assert!(has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40002")]), "learned in memory: {m}");
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let (status, _) = ns.http_get(netns::EXPORTER_PORT, "/metrics").expect("still serving");
        assert!(status.contains(" 200"), "{status}");
    }
    assert!(!store_file(&storage).exists(), "nothing was written");
}

/// The daemon and `baseline accept|forget` on one file: the daemon reads the
/// file again when it changed, so the operator's edit wins and is not
/// overwritten by the daemon's memory.
#[test]
fn baseline_command_edits_reach_a_running_exporter_needs_root() {
    if !require_root("baseline_command_edits_reach_a_running_exporter_needs_root") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = tmp.path().display().to_string();
    let mut ns = Netns::new("cmd");
    ns.peer("sqlservr", "listen-tcp", "127.0.0.1", 40003);
    // A long learn-after: only `accept` can make the port learned.
    ns.exporter(&["--storage.path", &storage, "--baseline.learn-after", "1h"]);
    let m = ns.get("/metrics");
    assert!(!has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40003")]), "a candidate only: {m}");
    let run = |args: &[&str]| {
        let out = ns.cmd(BIN).args(args).args(["--storage.path", &storage]).output().expect("runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = run(&["baseline", "accept"]);
    assert_eq!(code, Some(0), "{text}");
    let m = ns.get("/metrics");
    assert!(has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40003"), ("source", "baseline")]), "accepted: {m}");
    let (_, list) = run(&["baseline", "list"]);
    assert!(list.lines().any(|l| l.starts_with("40003/tcp  learned  sqlservr")), "{list}");
    // Let the daemon write again (a last-seen update), then check the acceptance survived it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ns.get("/metrics");
    assert!(portwatch_exporter::baseline::store::read(tmp.path()).expect("reads").expected("tcp", 40003).is_some());

    let (code, text) = run(&["baseline", "forget", "40003/tcp"]);
    assert_eq!(code, Some(0), "{text}");
    let m = ns.get("/metrics");
    assert!(!has_series(&m, "portwatch_port_expected_owner_info", &[("port", "40003")]), "forgotten: {m}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ns.get("/metrics");
    let b = portwatch_exporter::baseline::store::read(tmp.path()).expect("reads");
    assert!(b.expected("tcp", 40003).is_none(), "the daemon did not write the forgotten owner back: {b:?}");
    let (code, _) = run(&["baseline", "forget", "40003/udp"]);
    assert_eq!(code, Some(1), "not in the baseline");
}

/// SO_REUSEPORT: processes of different programs listening on one port are
/// counted as `ss -ltnp` lists them; one program's several sockets count once.
#[test]
fn listening_port_shared_through_so_reuseport_counts_distinct_owners_needs_root() {
    if !require_root("listening_port_shared_through_so_reuseport_counts_distinct_owners_needs_root") {
        return;
    }
    let mut ns = Netns::new("reuse");
    ns.peer("webapp", "reuseport-tcp", "0.0.0.0", 40010);
    ns.peer("webapp", "reuseport-tcp", "0.0.0.0", 40010);
    ns.peer("webapp", "reuseport-tcp", "0.0.0.0", 40011);
    ns.exporter(&[]);
    let owners = |ns: &Netns, port: u16| {
        let out = ns.cmd("ss").args(["-Hltnp", &format!("( sport = :{port} )")]).output().expect("ss");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let names: std::collections::BTreeSet<String> =
            text.split("((\"").skip(1).filter_map(|s| s.split('"').next()).map(String::from).collect();
        (text.lines().count(), names)
    };
    let m = ns.get("/metrics");
    assert_eq!(owners(&ns, 40010).0, 2, "ss sees two listeners");
    assert!(v(&m, r#"portwatch_listener_distinct_owners{protocol="tcp",port="40010"}"#).is_none(), "one program: not a split: {m}");
    ns.peer("intruder", "reuseport-tcp", "0.0.0.0", 40010);
    let (sockets, names) = owners(&ns, 40010);
    assert_eq!((sockets, names.len()), (3, 2), "{names:?}");
    let m = ns.get("/metrics");
    assert_eq!(v(&m, r#"portwatch_listener_distinct_owners{protocol="tcp",port="40010"}"#), Some(names.len() as f64), "{m}");
    assert!(v(&m, r#"portwatch_listener_distinct_owners{protocol="tcp",port="40011"}"#).is_none(), "{m}");
}

/// kill -9 of the exporter itself at random moments around the scrape that
/// saves a new port: the file always loads, and every port an earlier
/// (finished) write stored is still there: nothing lost beyond the last write.
#[test]
fn kill_9_of_the_exporter_while_it_saves_loses_nothing_before_the_last_write_needs_root() {
    if !require_root("kill_9_of_the_exporter_while_it_saves_loses_nothing_before_the_last_write_needs_root") {
        return;
    }
    use portwatch_exporter::baseline::store;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = tmp.path().display().to_string();
    let mut ns = Netns::new("kill");
    let mut rng = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut must_have: Vec<u16> = Vec::new();
    let (mut rounds, mut saved_rounds) = (0, 0);
    let end = Instant::now() + Duration::from_secs(90);
    for i in 0..20u16 {
        if Instant::now() > end {
            break;
        }
        rounds += 1;
        let port = 41000 + i;
        ns.peer("svc", "listen-tcp", "127.0.0.1", port);
        ns.exporter(&["--storage.path", &storage, "--baseline.learn-after", "0s"]);
        let exporter = ns.last_pid();
        // A scrape (it learns `port` and saves), cut by kill -9 at a random moment.
        let mut scrape = ns
            .cmd("curl")
            .args(["-s", "-o", "/dev/null", "--local-port", "1500-1600", "http://127.0.0.1:9795/metrics"])
            .spawn()
            .expect("curl");
        std::thread::sleep(Duration::from_micros(next() % 400_000));
        ns.stop(exporter);
        let _ = scrape.kill();
        let _ = scrape.wait();
        let b = store::read(tmp.path()).unwrap_or_else(|e| panic!("round {rounds}: the file does not load: {e}"));
        for p in &must_have {
            assert!(b.expected("tcp", *p).is_some(), "round {rounds}: port {p}, written before, is lost");
        }
        if b.expected("tcp", port).is_some() {
            saved_rounds += 1;
        }
        // What is on disk now must survive every later kill.
        must_have = b.ports.iter().filter(|e| e.learned() && e.protocol == "tcp").map(|e| e.port).collect();
    }
    assert!(rounds >= 5, "only {rounds} rounds");
    assert!(saved_rounds > 0 && saved_rounds < rounds, "kills must land before and after some saves: {saved_rounds} of {rounds}");
}
