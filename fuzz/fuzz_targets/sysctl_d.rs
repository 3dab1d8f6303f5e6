#![no_main]
//! sysctl.d(5) files, read as systemd-sysctl and procps read them, and the
//! next boot they lead to.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::boot::{next_boot, Applier, ConfFile};

fuzz_target!(|data: &[u8]| {
    for applier in [Applier::SystemdSysctl, Applier::ProcpsSystem] {
        let parsed = applier.parse(data);
        let lines = data.len() + 1;
        assert!(parsed.entries.iter().all(|e| e.line >= 1 && e.line <= lines));
        assert!(parsed.bad.iter().all(|b| b.line >= 1 && b.line <= lines));
        let files = [ConfFile { shown: "/etc/sysctl.d/fuzz.conf".into(), parsed }];
        let b = next_boot(applier, &files);
        let s = &b.state;
        assert!(s.range.start >= 1 && s.range.start <= s.range.end);
        assert!(s.range.start >= s.unprivileged_port_start, "the kernel keeps the low bound at or above the unprivileged start");
        assert!(b.rejected.iter().all(|r| r.value.chars().count() <= 64 && !r.value.chars().any(char::is_control)));
    }
});
