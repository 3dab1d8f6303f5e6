use super::*;

fn keys_values(p: &Parsed) -> Vec<(String, Option<String>, usize)> {
    p.entries
        .iter()
        .map(|e| (String::from_utf8_lossy(&e.key).into_owned(), e.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()), e.line))
        .collect()
}

#[test]
fn systemd_reads_lines_keys_and_values_as_sysctl_c_does() {
    let text = b"# c\n; c\n\nnet.ipv4.ip_local_port_range = 10000 65000 # widen\r\n-net/ipv4/ip_local_reserved_ports=8080\rgarbage\0-net.ipv4.ip_local_*\n";
    let p = parse_systemd(text);
    assert_eq!(
        keys_values(&p),
        vec![
            ("net/ipv4/ip_local_port_range".into(), Some("10000 65000 # widen".into()), 4),
            ("net/ipv4/ip_local_reserved_ports".into(), Some("8080".into()), 5),
            ("net/ipv4/ip_local_*".into(), None, 7),
        ]
    );
    assert_eq!(p.bad, vec![BadLine { line: 6, reason: "not an assignment (systemd-sysctl ignores it)" }]);
}

#[test]
fn systemd_normalises_keys() {
    for (key, want) in [
        ("net.ipv4.ip_local_port_range", "net/ipv4/ip_local_port_range"),
        ("net/ipv4/ip_local_port_range", "net/ipv4/ip_local_port_range"),
        ("/net//ipv4/./ip_local_port_range/", "net/ipv4/ip_local_port_range"),
        ("net.ipv4.ip_local_port_range.", "net/ipv4/ip_local_port_range"),
        ("net.ipv4/ip_local_port_range", "net/ipv4.ip_local_port_range"),
        ("\u{feff}net.ipv4.ip_local_port_range", "\u{feff}net/ipv4/ip_local_port_range"),
    ] {
        assert_eq!(String::from_utf8_lossy(&systemd_normalize(key.as_bytes())), want, "{key:?}");
    }
}

#[test]
fn procps_reads_lines_as_sysctl_system_does() {
    let p = parse_procps(b"  net.ipv4.ip_local_port_range\t=  1 2 \x0b\nx\n-net.ipv4.ip_local_reserved_ports\nk=v\0rest\n");
    assert_eq!(
        keys_values(&p),
        vec![
            ("net/ipv4/ip_local_port_range".into(), Some("1 2".into()), 1),
            ("net/ipv4/ip_local_reserved_ports".into(), None, 3),
            ("k".into(), Some("v".into()), 4),
        ]
    );
    // "x\n" is two bytes, so it is read, and it has no "=".
    assert_eq!(p.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn globs_match_per_component() {
    assert!(glob_matches(false, b"net/ipv4/ip_local_*", "net/ipv4/ip_local_port_range"));
    assert!(glob_matches(false, b"net/*/ip_local_port_rang?", "net/ipv4/ip_local_port_range"));
    assert!(glob_matches(false, b"net/ipv[0-4]/ip_local_[!x]*", "net/ipv4/ip_local_reserved_ports"));
    assert!(!glob_matches(false, b"net/*", "net/ipv4/ip_local_port_range"), "* never crosses a slash");
    assert!(!glob_matches(false, b"net/ipv4/ip_local_[p]*", "net/ipv4/ip_local_reserved_ports"));
    assert!(glob_matches(false, b"net/ipv4/ip_[local_port_range", "net/ipv4/ip_[local_port_range"), "unclosed [ is literal");
    assert!(glob_matches(false, b"net/ipv4/ip_local_reserved_port[[:lower:]]", "net/ipv4/ip_local_reserved_ports"));
    assert!(!glob_matches(false, b"net/ipv4/ip_local_reserved_port[[:digit:]]", "net/ipv4/ip_local_reserved_ports"));
    // Many stars never take exponential time.
    let many = format!("net/ipv4/{}x", "*a".repeat(200));
    assert!(!glob_matches(false, many.as_bytes(), "net/ipv4/ip_local_port_range"));
    assert!(glob_matches(false, b"net/ipv4/*_*_*_*", "net/ipv4/ip_local_port_range"));
    assert!(glob_matches(false, b"net/ipv4/ip\\_local_*", "net/ipv4/ip_local_port_range"));
    // procps spells paths as written: a trailing '/' wants a directory, '.' is a no-op.
    assert!(!glob_matches(true, b"net/ipv4/ip_local_reserved_port?/", "net/ipv4/ip_local_reserved_ports"));
    assert!(glob_matches(true, b"net/ipv4/./ip_local_reserved_port?", "net/ipv4/ip_local_reserved_ports"));
}
