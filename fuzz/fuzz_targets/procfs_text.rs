#![no_main]
//! /proc/PID/{stat,status,cgroup}, fd links, passwd and /proc/net/tcp tables.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::model::{Family, Protocol};
use portwatch_exporter::parse::{procfs, procnet};

fuzz_target!(|data: &[u8]| {
    if let Ok((comm, _)) = procfs::parse_stat(data) {
        assert!(!comm.chars().any(char::is_control), "label values stay one printable line");
    }
    let _ = procfs::parse_socket_link(data);
    let text = String::from_utf8_lossy(data);
    let _ = procfs::parse_status_uid(&text);
    let _ = procfs::parse_cgroup_unit(&text);
    let _ = procfs::parse_passwd(&text);
    for (p, f) in [(Protocol::Tcp, Family::Ipv4), (Protocol::Udp, Family::Ipv6)] {
        if let Ok(t) = procnet::parse_table(&text, p, f) {
            assert!(t.skipped == 0 || t.first_skipped.is_some(), "a skipped row is reported");
        }
    }
});
