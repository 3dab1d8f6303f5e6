#![no_main]
//! ip_local_port_range and ip_local_reserved_ports values: as /proc prints
//! them, and as the kernel's write handlers take them.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::parse::kernel_sysctl::{write, PortKey, PortSysctls};
use portwatch_exporter::parse::sysctl::{parse_port_range, parse_reserved_ports};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = parse_port_range(text) {
            assert!(r.start <= r.end && r.start >= 1);
        }
        if let Ok(set) = parse_reserved_ports(text) {
            // Merged, sorted, non-overlapping.
            assert!(set.ranges().windows(2).all(|w| u32::from(w[0].end) + 1 < u32::from(w[1].start)));
        }
    }
    for key in PortKey::ALL {
        let mut s = PortSysctls::kernel_default();
        let before = s.clone();
        match write(&mut s, key, data) {
            Ok(()) => assert!(s.range.start <= s.range.end && s.range.start >= s.unprivileged_port_start),
            // A refused write of at most one page leaves everything as it was.
            Err(_) if data.len() < 4095 => assert_eq!(s, before),
            Err(_) => {}
        }
    }
});
