//! Bounded reads of files the exporter does not control: a size cap that fits
//! each kind of file, a non-blocking open (a FIFO or a device never blocks),
//! and a refusal of anything that is not a regular file. Every file read goes
//! through here: config, web config, certificates, keys, sysctl files,
//! passwd and `/proc` files.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

/// Caps by kind of file, in bytes.
pub mod cap {
    /// The YAML config and the web config.
    pub const CONFIG: u64 = 1 << 20;
    /// A certificate, key or CA bundle.
    pub const PEM: u64 = 1 << 20;
    /// One sysctl.d file or sysctl.conf (larger than systemd's 1 MiB line limit, so that limit is modelled).
    pub const SYSCTL: u64 = 4 << 20;
    /// /etc/passwd.
    pub const PASSWD: u64 = 8 << 20;
    /// A small `/proc` file (stat, status, cgroup, a sysctl value).
    pub const PROC_SMALL: u64 = 256 << 10;
    /// A `/proc/net/{tcp,udp}[6]` table: 150 bytes a socket, so about 850k sockets.
    pub const PROC_NET: u64 = 128 << 20;
    /// The baseline state file: a few hundred bytes a port, at most a few thousand ports.
    pub const BASELINE: u64 = 8 << 20;
}

fn too_big(path: &Path, cap: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{} is larger than {cap} bytes", path.display()))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens `rel` under `root` as if `root` were `/`, with no window between
/// resolving and opening (openat2 RESOLVE_IN_ROOT, Linux 5.6+): a link swapped
/// in meanwhile still cannot lead outside the root.
#[cfg(target_os = "linux")]
fn open_in_root(root: &Path, rel: &Path) -> io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let dir = File::open(root)?;
    let rel = std::ffi::CString::new(rel.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // struct open_how { u64 flags; u64 mode; u64 resolve; } (linux/openat2.h).
    let how: [u64; 3] = [
        (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64,
        0,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    ];
    use std::os::fd::AsRawFd;
    // SAFETY: valid fd, NUL-terminated path and an open_how of the size passed.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, dir.as_raw_fd(), rel.as_ptr(), how.as_ptr(), std::mem::size_of_val(&how)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us alone.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

/// Elsewhere, or on kernels without openat2: resolve, then open.
fn open_in_root_fallback(root: &Path, rel: &Path) -> io::Result<File> {
    open_nonblocking(&resolve_in_root(root, rel)?.0)
}

/// As [`read_bytes`], for `rel` under `root` (symlinks resolved inside it).
pub fn read_in_root(root: &Path, rel: &Path, cap: u64) -> io::Result<Vec<u8>> {
    #[cfg(target_os = "linux")]
    let file = match open_in_root(root, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => open_in_root_fallback(root, rel),
        other => other,
    }?;
    #[cfg(not(target_os = "linux"))]
    let file = open_in_root_fallback(root, rel)?;
    read_open(file, &root.join(rel), cap)
}

/// The most the first read of a file that reports no size may take: above
/// the longest `ip_local_reserved_ports` the kernel prints (every other port
/// listed, about 190 KiB).
const FIRST_READ: u64 = 512 << 10;

/// The first read(2) of a file that reports no size asks for this much, and
/// asks again from offset 0 for eight times more while a read fills what it
/// asked for. Most `/proc` files (stat, status, cgroup, a sysctl value) fit
/// in it: asking for 256 KiB at once cost a 256 KiB zero-filled buffer here
/// and, for a sysctl file, a zeroed kernel buffer of that size, at every read.
const FIRST_ASK: usize = 4 << 10;

/// Reads at most `cap` bytes of a regular file; anything else, or more, is an error.
pub fn read_bytes(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_open(open_nonblocking(path)?, path, cap)
}

fn read_open(file: File, path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    if meta.len() > cap {
        return Err(too_big(path, cap));
    }
    let mut buf = Vec::new();
    let mut file = if meta.len() == 0 {
        // /proc files report a size of 0, and sysctl handlers print their
        // whole value in the first read(2) and nothing at a later offset
        // (ip_local_reserved_ports, a large bitmap, does, and so does every
        // integer sysctl): the first chunk must hold the whole value.
        buf = first_chunk(&file, cap)?;
        let mut file = file;
        file.seek(io::SeekFrom::Start(buf.len() as u64))?;
        file.take(cap.saturating_add(1).saturating_sub(buf.len() as u64))
    } else {
        buf.reserve_exact(usize::try_from(meta.len().min(cap)).unwrap_or(0));
        file.take(cap.saturating_add(1))
    };
    // The cap holds on what is read, too.
    file.read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(too_big(path, cap));
    }
    Ok(buf)
}

/// The first chunk of a file that reports no size, read from offset 0 in
/// one read(2): [`FIRST_ASK`] bytes, and while a read fills what it asked
/// for (the value may go on), again from offset 0 with eight times more, up
/// to the smaller of `cap + 1` and [`FIRST_READ`]. A sysctl handler cut short prints
/// the start of its value and fills the buffer, so a value that fits is
/// never cut; a file that continues at later offsets (a seq_file such as
/// `/proc/PID/status`) is read on from where the chunk ends.
fn first_chunk(file: &File, cap: u64) -> io::Result<Vec<u8>> {
    let most = usize::try_from(cap.saturating_add(1).min(FIRST_READ)).unwrap_or(FIRST_ASK);
    let mut ask = FIRST_ASK.min(most);
    loop {
        let mut buf = vec![0u8; ask];
        let n = read_at_start(file, &mut buf)?;
        if n < ask || ask >= most {
            buf.truncate(n);
            return Ok(buf);
        }
        ask = ask.saturating_mul(8).min(most);
    }
}

#[cfg(unix)]
fn read_at_start(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(not(unix))]
fn read_at_start(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut file = file;
    file.seek(io::SeekFrom::Start(0))?;
    file.read(buf)
}

/// As [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_bytes(path, cap)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{} is not UTF-8 text", path.display())))
}

/// Pushes a path's names and `..`s so that the first pops first.
fn push_components(todo: &mut Vec<std::ffi::OsString>, path: &Path) {
    use std::path::Component;
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => todo.push(n.to_os_string()),
            Component::ParentDir => todo.push("..".into()),
            _ => {}
        }
    }
}

/// Follows `rel` under `root` as if `root` were `/`: `..` never climbs above
/// it and an absolute link target is re-rooted. Returns the host path and
/// the path inside the root (for spotting `/dev/null`). A missing component
/// ends the walk: opening the result then fails with NotFound.
pub fn resolve_in_root(root: &Path, rel: &Path) -> io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let mut inside: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut todo, rel);
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            inside.pop();
            continue;
        }
        inside.push(name);
        let here: std::path::PathBuf = inside.iter().collect();
        match std::fs::symlink_metadata(root.join(&here)) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(root.join(&here))?;
                inside.pop();
                if target.is_absolute() {
                    inside.clear();
                }
                push_components(&mut todo, &target);
            }
            Ok(_) => {}
            Err(_) => {
                inside.extend(todo.drain(..).rev());
                break;
            }
        }
    }
    let in_root: std::path::PathBuf = inside.iter().collect();
    Ok((root.join(&in_root), in_root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_and_oversized_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = dir.path().join("small");
        std::fs::write(&small, "abc").expect("write");
        assert_eq!(read_text(&small, 3).expect("fits"), "abc");
        assert!(read_text(&small, 2).is_err(), "over the cap");
        assert!(read_text(dir.path(), 10).is_err(), "a directory");
        #[cfg(unix)]
        {
            assert!(read_bytes(Path::new("/dev/zero"), 10).is_err(), "a device");
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("cstring");
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            assert!(read_bytes(&fifo, 10).is_err(), "a FIFO, refused at once rather than blocking");
            // /proc files say size 0 and are read up to the cap.
            assert!(!read_text(Path::new("/proc/self/status"), cap::PROC_SMALL).expect("status").is_empty());
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_resolve_inside_the_root_and_never_above_it() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/sysctl.d")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        std::fs::write(root.join("etc/shadow"), "inside").expect("write");
        symlink("../../../../../../etc/shadow", root.join("etc/sysctl.d/escape.conf")).expect("link");
        symlink("/etc/shadow", root.join("etc/sysctl.d/abs.conf")).expect("link");
        symlink("/dev/null", root.join("etc/sysctl.d/mask.conf")).expect("link");
        symlink("usr/lib", root.join("lib")).expect("link");
        symlink("loop", root.join("loop")).expect("link");
        for name in ["escape.conf", "abs.conf"] {
            let (host, inside) = resolve_in_root(root, Path::new("etc/sysctl.d").join(name).as_path()).expect("resolves");
            assert_eq!(inside, Path::new("etc/shadow"), "{name}");
            assert_eq!(std::fs::read_to_string(host).expect("read"), "inside", "{name}: the root's file, never the host's");
        }
        assert_eq!(resolve_in_root(root, Path::new("etc/sysctl.d/mask.conf")).expect("ok").1, Path::new("dev/null"));
        assert_eq!(resolve_in_root(root, Path::new("lib/sysctl.d/x.conf")).expect("ok").1, Path::new("usr/lib/sysctl.d/x.conf"));
        assert_eq!(resolve_in_root(root, Path::new("../../etc/shadow")).expect("ok").1, Path::new("etc/shadow"));
        assert!(resolve_in_root(root, Path::new("loop")).is_err());
    }

    /// A link swapped in between resolving and opening never leads outside
    /// the root: a bounded race against a thread that flips the file.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_link_swapped_in_during_the_read_stays_inside_the_root() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "HOST SECRET").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("etc/sysctl.d")).expect("mkdir");
        let file = root.join("etc/sysctl.d/a.conf");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (stop, file, secret) = (stop.clone(), file.clone(), secret.clone());
            std::thread::spawn(move || {
                for i in 0..200_000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let tmp = file.with_extension(format!("tmp{}", i % 2));
                    let _ = std::fs::remove_file(&tmp);
                    if i % 2 == 0 {
                        let _ = std::fs::write(&tmp, "inside");
                    } else {
                        let _ = symlink(&secret, &tmp);
                    }
                    let _ = std::fs::rename(&tmp, &file);
                }
            })
        };
        let started = std::time::Instant::now();
        let mut reads = 0;
        while reads < 3000 && started.elapsed() < std::time::Duration::from_secs(10) {
            if let Ok(bytes) = read_in_root(&root, Path::new("etc/sysctl.d/a.conf"), cap::SYSCTL) {
                assert!(!String::from_utf8_lossy(&bytes).contains("SECRET"), "read a file outside the root");
            }
            reads += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        flipper.join().expect("flipper");
        assert!(reads > 100, "only {reads} reads raced");
    }
}
