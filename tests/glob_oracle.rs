//! `parse::glob::fnmatch` against the C library's fnmatch(3) without flags,
//! which is what it claims to be: generated patterns and names over an
//! alphabet rich in the characters that matter (`*?[]!^-\/:`), many per run.
//! Malformed patterns (`parse::glob::well_formed`: unterminated brackets,
//! collating elements, a final backslash) are left out: glibc's answers on
//! those depend on the name in ways no config should rely on, and configs refuse them.

#[path = "common/rng.rs"]
mod rng;

use portwatch_exporter::parse::glob::{fnmatch, well_formed};
use rng::Rng;
use std::ffi::CString;

fn libc_fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    let (p, n) = (CString::new(pattern).expect("no NUL"), CString::new(name).expect("no NUL"));
    // SAFETY: two valid NUL-terminated strings; fnmatch only reads them.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) == 0 }
}

#[test]
fn matches_as_the_c_library_does_on_generated_patterns() {
    let seed = std::env::var("PORTWATCH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_u64) | 1;
    eprintln!("PORTWATCH_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let pattern_chars = b"ab-/.*?[]!^\\:x";
    let name_chars = b"ab-/.x[]!\\:";
    let (mut matched, mut total, mut malformed) = (0, 0, 0);
    for _ in 0..50_000 {
        let p = rng.text(pattern_chars, 10);
        let n = rng.text(name_chars, 10);
        if !well_formed(&p) {
            malformed += 1;
            continue;
        }
        let want = libc_fnmatch(&p, &n);
        assert_eq!(fnmatch(&p, &n), want, "pattern {:?} name {:?}", String::from_utf8_lossy(&p), String::from_utf8_lossy(&n));
        matched += usize::from(want);
        total += 1;
    }
    // Cgroup-shaped cases: the pattern is a path with some parts starred.
    for _ in 0..5_000 {
        let parts: Vec<Vec<u8>> = (0..1 + rng.below(4) as usize).map(|_| rng.text(b"abk-_.0123456789", 8)).collect();
        let name = [b"/".as_slice(), &parts.join(&b'/')].concat();
        let mut pattern = name.clone();
        for _ in 0..rng.below(3) {
            let at = rng.below(pattern.len() as u64 + 1) as usize;
            let end = (at + rng.below(6) as usize).min(pattern.len());
            pattern.splice(at..end, *b"*");
        }
        let want = libc_fnmatch(&pattern, &name);
        assert_eq!(
            fnmatch(&pattern, &name),
            want,
            "pattern {:?} name {:?}",
            String::from_utf8_lossy(&pattern),
            String::from_utf8_lossy(&name)
        );
        matched += usize::from(want);
        total += 1;
    }
    // Generated cases that never match (or always do) would prove little;
    // nor would a predicate that calls most patterns malformed.
    eprintln!("{matched} of {total} compared cases matched; {malformed} malformed patterns left out");
    assert!(matched > total / 50 && matched < total, "{matched} of {total} matched");
    assert!(malformed < total / 2, "{malformed} malformed of {total}");
}
