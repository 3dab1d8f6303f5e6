#![no_main]
//! sysctl.d(5) files.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::parse::sysctld::parse_conf;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (assignments, bad) = parse_conf(&text);
    let lines = text.lines().count();
    assert!(assignments.iter().all(|a| a.line >= 1 && a.line <= lines && !a.key.is_empty()));
    assert!(bad.iter().all(|b| b.line >= 1 && b.line <= lines));
});
