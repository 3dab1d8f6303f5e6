#![no_main]
//! Paths under --path.rootfs: whatever links a rootfs holds, resolving and
//! reading stay inside it. Input lines: `l NAME TARGET` (a link), `d NAME`
//! (a directory), `f NAME` (a file), and a last line: the path to read.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::platform::files::{read_in_root, resolve_in_root};
use std::path::Path;

/// Entries are created only directly under the root or under root/sub, never
/// through a link, so the fuzzer cannot write outside its directory.
fn name(b: &[u8]) -> Option<String> {
    let n: String = b.iter().map(|&c| c as char).filter(|c| c.is_ascii_lowercase() || *c == '.' || *c == '-').take(12).collect();
    (!n.is_empty() && n != "." && n != "..").then_some(n)
}

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("pw-fuzz-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (root, outside) = (base.join("root"), base.join("outside"));
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret"), "SECRET").expect("write");
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').take(17).collect();
    let Some((query, ops)) = lines.split_last() else { return };
    for op in ops {
        let parts: Vec<&[u8]> = op.splitn(3, |b| *b == b' ').collect();
        let (Some(kind), Some(n)) = (parts.first(), parts.get(1).and_then(|n| name(n))) else { continue };
        let dir = if n.starts_with('-') { root.join("sub") } else { root.clone() };
        let at = dir.join(&n);
        if std::fs::symlink_metadata(&at).is_ok() {
            continue;
        }
        match *kind {
            b"l" => {
                let target: Vec<u8> = parts.get(2).map_or(b"".to_vec(), |t| t.iter().copied().filter(|b| *b != 0).collect());
                let target = String::from_utf8_lossy(&target).replace("OUTSIDE", &outside.display().to_string());
                let _ = std::os::unix::fs::symlink(target, &at);
            }
            b"d" => {
                let _ = std::fs::create_dir(&at);
            }
            b"f" => {
                let _ = std::fs::write(&at, "inside");
            }
            _ => {}
        }
    }
    let rel = String::from_utf8_lossy(query).replace('\0', "");
    if let Ok((host, inside)) = resolve_in_root(&root, Path::new(&rel)) {
        assert!(host.starts_with(&root), "{host:?} is outside the root");
        assert!(!inside.is_absolute());
    }
    if let Ok(bytes) = read_in_root(&root, Path::new(&rel), 1 << 20) {
        assert!(bytes != b"SECRET", "read a file outside the root");
    }
    let _ = std::fs::remove_dir_all(&base);
});
