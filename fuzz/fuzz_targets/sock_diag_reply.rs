#![no_main]
//! NETLINK_SOCK_DIAG reply buffers.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::parse::inet_diag::for_each_msg;

fuzz_target!(|data: &[u8]| {
    let mut n = 0usize;
    let _ = for_each_msg(data, |_| n += 1);
    // Each socket message takes at least a header and the fixed body.
    assert!(n <= data.len() / 88);
});
