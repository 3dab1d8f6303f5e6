#![no_main]
//! /proc/PID/{stat,status,cgroup} (the unit and the container), fd links, passwd and /proc/net/tcp tables.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::model::{Family, Protocol};
use portwatch_exporter::parse::{container, procfs, procnet};

fuzz_target!(|data: &[u8]| {
    if let Ok((comm, _)) = procfs::parse_stat(data) {
        assert!(!comm.chars().any(char::is_control), "label values stay one printable line");
    }
    let _ = procfs::parse_socket_link(data);
    let text = String::from_utf8_lossy(data);
    let _ = procfs::parse_status_uid(&text);
    let _ = procfs::parse_cgroup_unit(&text);
    if let Some(c) = container::parse_cgroup_container(&text) {
        // What becomes a label is one printable token taken from a path component.
        assert!(!c.id.is_empty() && c.id.bytes().all(|b| b.is_ascii_graphic() && b != b'/'), "{c:?}");
    }
    let _ = procfs::parse_passwd(&text);
    for (p, f) in [(Protocol::Tcp, Family::Ipv4), (Protocol::Udp, Family::Ipv6)] {
        if let Ok(t) = procnet::parse_table(&text, p, f) {
            assert!(t.skipped == 0 || t.first_skipped.is_some(), "a skipped row is reported");
            assert_eq!(t.sockets.len(), t.peers.len(), "every socket has its remote end");
        }
    }
});
