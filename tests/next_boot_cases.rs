//! The cases that gave a false all-clear, each through the real binary's
//! `check` and checked against the real systemd-sysctl and kernel on the
//! same sysctl.d tree (`common/sysctl_oracle.rs`).

mod common;
#[path = "common/sysctl_oracle.rs"]
mod sysctl_oracle;

use portwatch_exporter::boot::Applier;
use std::path::Path;
use std::process::Command;

/// A rootfs booted with systemd, holding `files` (path under the root, text).
fn rootfs(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("run/systemd/system")).expect("mkdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

/// `check` watching tcp/`port` with the rootfs; (stdout, exit code).
fn check(root: &Path, port: u16) -> (String, i32) {
    let config = root.join("portwatch.yml");
    std::fs::write(&config, format!("ports:\n  - name: app\n    port: {port}\n")).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["check", "--config.file"])
        .arg(&config)
        .arg("--path.rootfs")
        .arg(root)
        .output()
        .expect("runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

/// The table row of the watched port: (in range now, excluded now, excluded after reboot).
fn row(text: &str) -> Vec<String> {
    let line = text.lines().find(|l| l.starts_with("app ")).unwrap_or_else(|| panic!("no row: {text}"));
    line.split_whitespace().map(String::from).collect()
}

fn oracle_reserves(root: &Path, port: u32) -> bool {
    sysctl_oracle::oracle(root, Applier::SystemdSysctl).reserved.iter().any(|(a, b)| *a <= port && port <= *b)
}

#[test]
fn a_space_after_the_comma_is_no_exclusion_after_reboot_needs_root() {
    if !common::require_root("a_space_after_the_comma_is_no_exclusion_after_reboot_needs_root") {
        return;
    }
    let root = rootfs(&[("etc/sysctl.d/60-ports.conf", "net.ipv4.ip_local_reserved_ports = 40000, 40001\n")]);
    assert!(!oracle_reserves(root.path(), 40000), "the kernel refuses the list");
    let (text, code) = check(root.path(), 40000);
    // NAME PORT PROTO STATE IN-RANGE EXCLUDED-NOW EXCLUDED-AFTER-REBOOT
    assert_eq!(row(&text)[6], "no", "{text}");
    assert!(text.contains("/etc/sysctl.d/60-ports.conf line 1: the kernel will refuse net.ipv4.ip_local_reserved_ports"), "{text}");
    assert!(text.contains("in force instead: (none)"), "{text}");
    assert_ne!(code, 0, "{text}");
    assert!(!text.contains("All watched ports are fine"), "{text}");
}

#[test]
fn a_trailing_comment_still_widens_the_range_after_reboot_needs_root() {
    if !common::require_root("a_trailing_comment_still_widens_the_range_after_reboot_needs_root") {
        return;
    }
    let root = rootfs(&[("etc/sysctl.d/50-range.conf", "net.ipv4.ip_local_port_range = 10000 65000 # widen for the app\n")]);
    assert_eq!(sysctl_oracle::oracle(root.path(), Applier::SystemdSysctl).range, (10000, 65000));
    let (text, code) = check(root.path(), 20000);
    assert!(text.contains("At risk after the next reboot") && text.contains("tcp/20000"), "{text}");
    assert_eq!(code, 1, "{text}");
}

#[test]
fn an_invalid_last_assignment_leaves_the_kernel_default_needs_root() {
    if !common::require_root("an_invalid_last_assignment_leaves_the_kernel_default_needs_root") {
        return;
    }
    let root = rootfs(&[
        ("usr/lib/sysctl.d/10-a.conf", "net.ipv4.ip_local_port_range = 20000 30000\n"),
        ("etc/sysctl.d/20-b.conf", "net.ipv4.ip_local_port_range = 30000 20000\n"),
    ]);
    assert_eq!(sysctl_oracle::oracle(root.path(), Applier::SystemdSysctl).range, (32768, 60999));
    let (text, _) = check(root.path(), 40000);
    assert!(text.contains("/etc/sysctl.d/20-b.conf line 1") && text.contains("in force instead: 32768 60999"), "{text}");
    assert!(text.contains("At risk after the next reboot") && text.contains("tcp/40000"), "40000 is inside the default range: {text}");
}

#[test]
fn the_small_rules_agree_with_the_kernel_needs_root() {
    if !common::require_root("the_small_rules_agree_with_the_kernel_needs_root") {
        return;
    }
    // (file text, port, whether the port is excluded after the boot, whether it is in the range)
    let cases: [(&str, u16, bool, bool); 7] = [
        ("net.ipv4.ip_local_port_range = 5000\n", 20000, false, true),
        ("net.ipv4.ip_local_reserved_ports = 0x2000\n", 8192, true, false),
        ("net.ipv4.ip_local_reserved_ports = 010000\n", 4096, true, false),
        ("net.ipv4.ip_local_port_range = 800 60000\n", 900, false, false),
        ("net.ipv4.ip_local_port_range = 20000 30000 40000\n", 35000, false, false),
        ("\u{feff}net.ipv4.ip_local_reserved_ports = 40000\n", 40000, false, true),
        ("net.ipv4.ip_local_reserved_ports = 40000,70000\n", 40000, false, true),
    ];
    for (text, port, excluded, in_range) in cases {
        let root = rootfs(&[("etc/sysctl.d/50-x.conf", text)]);
        let held = sysctl_oracle::oracle(root.path(), Applier::SystemdSysctl);
        let p = u32::from(port);
        assert_eq!(held.reserved.iter().any(|(a, b)| *a <= p && p <= *b), excluded, "kernel, {text:?}");
        assert_eq!(held.range.0 <= p && p <= held.range.1, in_range, "kernel, {text:?}");
        let (out, _) = check(root.path(), port);
        let r = row(&out);
        assert_eq!(r[6], if excluded { "yes" } else { "no" }, "{text:?}\n{out}");
        let at_risk = out.contains("At risk after the next reboot");
        assert_eq!(at_risk, in_range && !excluded, "{text:?}\n{out}");
    }
}

#[test]
fn an_unreadable_sysctl_file_gives_no_all_clear() {
    let root = rootfs(&[("etc/sysctl.d/10-ok.conf", "net.ipv4.ip_local_reserved_ports = 40000\n")]);
    // A FIFO: the boot (as root) would block on it; the exporter refuses to read it.
    let fifo = root.path().join("etc/sysctl.d/50-fifo.conf");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("cstring");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (text, code) = check(root.path(), 40000);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("Cannot tell") && text.contains("after the next boot"), "{text}");
    assert!(text.contains("50-fifo.conf"), "names the file: {text}");
    assert!(!text.contains("All watched ports are fine"), "{text}");
}

#[test]
fn the_boot_tool_is_detected_or_chosen_and_each_matches_its_real_tool_needs_root() {
    if !common::require_root("the_boot_tool_is_detected_or_chosen_and_each_matches_its_real_tool_needs_root") {
        return;
    }
    // systemd writes only the last assignment (refused: default stays);
    // procps writes both (the first stays in force).
    let files = [
        ("usr/lib/sysctl.d/10-a.conf", "net.ipv4.ip_local_port_range = 20000 30000\n"),
        ("etc/sysctl.d/20-b.conf", "net.ipv4.ip_local_port_range = 30000 20000\n"),
    ];
    let root = rootfs(&files);
    assert_eq!(sysctl_oracle::oracle(root.path(), Applier::SystemdSysctl).range, (32768, 60999));
    assert_eq!(sysctl_oracle::oracle(root.path(), Applier::ProcpsSystem).range, (20000, 30000));
    let at_risk = |root: &Path, extra: &[&str]| {
        let config = root.join("portwatch.yml");
        std::fs::write(&config, "ports:\n  - name: app\n    port: 25000\n").expect("config");
        let out = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
            .args(["check", "--config.file"])
            .arg(&config)
            .arg("--path.rootfs")
            .arg(root)
            .args(extra)
            .output()
            .expect("runs");
        String::from_utf8_lossy(&out.stdout).contains("At risk after the next reboot")
    };
    assert!(!at_risk(root.path(), &[]), "detected systemd (run/systemd/system)");
    assert!(at_risk(root.path(), &["--sysctl.boot-applier", "sysctl-system"]), "chosen procps");
    // A rootfs whose /sbin/init is not systemd is detected as procps.
    let plain = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = plain.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    std::fs::create_dir_all(plain.path().join("sbin")).expect("mkdir");
    std::fs::write(plain.path().join("sbin/init"), "").expect("init");
    assert!(at_risk(plain.path(), &[]), "detected procps (/sbin/init is not systemd)");
    assert!(!at_risk(plain.path(), &["--sysctl.boot-applier", "systemd-sysctl"]), "chosen systemd");
}

/// The remedy `check` prints, applied as printed, makes the real boot exclude
/// the port, also when a later file would override a drop-in.
#[test]
fn the_printed_remedy_works_under_the_real_boot_needs_root() {
    if !common::require_root("the_printed_remedy_works_under_the_real_boot_needs_root") {
        return;
    }
    for later in [None, Some("etc/sysctl.d/k8s.conf")] {
        let mut files = vec![("usr/lib/sysctl.d/50-base.conf", "net.ipv4.ip_local_reserved_ports = 30000-32767\n")];
        if let Some(f) = later {
            files.push((f, "net.ipv4.ip_local_reserved_ports = 30000-32767\n"));
        }
        let root = rootfs(&files);
        let (text, code) = check(root.path(), 40000);
        assert_eq!(code, 1, "{text}");
        let remedy: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("Remedy:")).skip(1).map(str::trim).collect();
        if let Some(line) = remedy.iter().find_map(|l| l.strip_prefix("echo '")) {
            // echo 'VALUE' > FILE
            let (value, file) = line.split_once("' > ").expect("echo form");
            let path = root.path().join(file.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, format!("{value}\n")).expect("drop-in");
        } else {
            // # FILE line N ... set it there to / the new line
            let head = remedy.first().expect("remedy").trim_start_matches("# ");
            let (file, rest) = head.split_once(" line ").expect("edit form");
            let n: usize = rest.split_whitespace().next().expect("n").parse().expect("line number");
            let path = root.path().join(file.trim_start_matches('/'));
            let mut lines: Vec<String> = std::fs::read_to_string(&path).expect("read").lines().map(String::from).collect();
            lines[n - 1] = remedy[1].to_string();
            std::fs::write(&path, lines.join("\n") + "\n").expect("edit");
            assert!(later.is_some(), "the edit form only when a later file decides: {text}");
        }
        assert!(oracle_reserves(root.path(), 40000), "after the remedy the kernel reserves 40000:\n{text}");
        assert!(oracle_reserves(root.path(), 31000), "and keeps what was reserved:\n{text}");
        let (after, code) = check(root.path(), 40000);
        assert_eq!(code, 0, "{after}");
    }
}

/// A huge sysctl.d tree is modelled without holding up the socket verdicts.
#[test]
fn a_huge_sysctl_d_file_never_holds_up_the_sockets() {
    let lines: String = (0..300_000).map(|i| format!("k{i}.x = 1\n")).collect();
    let root =
        rootfs(&[("etc/sysctl.d/50-huge.conf", &lines), ("etc/sysctl.d/60-ports.conf", "net.ipv4.ip_local_reserved_ports = 40000\n")]);
    let (text, _) = check(root.path(), 40000);
    assert!(!text.contains("collectors failed"), "{text}");
    assert_eq!(row(&text)[6], "yes", "{text}");
}

#[test]
fn hidden_files_are_skipped_by_systemd_needs_root() {
    if !common::require_root("hidden_files_are_skipped_by_systemd_needs_root") {
        return;
    }
    let root = rootfs(&[("etc/sysctl.d/.60-ports.conf", "net.ipv4.ip_local_reserved_ports = 40000\n")]);
    assert!(!oracle_reserves(root.path(), 40000));
    let (text, code) = check(root.path(), 40000);
    assert_eq!(row(&text)[6], "no", "{text}");
    assert_eq!(code, 1, "{text}");
}

/// A sysctl.d link that points outside the rootfs (relative or absolute) is
/// resolved inside it: the host's file is never read, and no line of it
/// reaches the logs, the metrics or `check`.
#[test]
fn a_link_out_of_the_rootfs_is_never_read_or_logged() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("shadow");
    std::fs::write(
        &secret,
        "root:SECRET-HASH:19000:0:99999:7:::\nnet.ipv4.ip_local_reserved_ports = SECRET-VALUE\nnet.ipv4.ip_local_reserved_ports = 40000\n",
    )
    .expect("write");
    let root = rootfs(&[]);
    let dir = root.path().join("etc/sysctl.d");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let up = "../".repeat(20);
    std::os::unix::fs::symlink(format!("{up}{}", secret.display().to_string().trim_start_matches('/')), dir.join("escape.conf"))
        .expect("link");
    std::os::unix::fs::symlink(&secret, dir.join("abs.conf")).expect("link");
    let config = root.path().join("portwatch.yml");
    std::fs::write(&config, "ports:\n  - name: app\n    port: 40000\n").expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["check", "--log.level", "debug", "--config.file"])
        .arg(&config)
        .arg("--path.rootfs")
        .arg(root.path())
        .output()
        .expect("runs");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("SECRET"), "a line of a file outside the rootfs leaked:\n{all}");
    // The links dangle inside the rootfs: nothing is reserved, as on that root's own boot.
    assert_eq!(row(&String::from_utf8_lossy(&out.stdout))[6], "no", "{all}");
}
