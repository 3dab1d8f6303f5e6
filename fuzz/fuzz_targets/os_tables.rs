#![no_main]
//! The binary socket tables of Windows, FreeBSD and macOS, and netsh's text.
//! The first byte picks the parser; the rest is its input.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::model::Protocol;
use portwatch_exporter::parse::{mib, netsh, pcblist, proc_info};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    match pick % 7 {
        0 => drop(mib::parse_tcp4(rest)),
        1 => drop(mib::parse_tcp6(rest)),
        2 => drop(mib::parse_udp4(rest)),
        3 => drop(mib::parse_udp6(rest)),
        4 => {
            for p in [Protocol::Tcp, Protocol::Udp] {
                if let Ok(s) = pcblist::parse_pcblist(rest, p) {
                    // Each socket comes from a record of at least one xinpcb.
                    assert!(s.len() <= rest.len() / 400);
                }
            }
            if let Ok(f) = pcblist::parse_xfiles(rest) {
                assert!(f.len() <= rest.len() / 64);
            }
        }
        5 => {
            if let Ok(Some(s)) = proc_info::parse_socket_fdinfo(rest) {
                assert_ne!(s.port, 0);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let _ = netsh::parse_excluded_table(&text);
            let _ = netsh::parse_dynamic(&text);
        }
    }
});
