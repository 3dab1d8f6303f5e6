#![no_main]
//! ip_local_port_range and ip_local_reserved_ports values.
use libfuzzer_sys::fuzz_target;
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
});
