//! Process-level OS glue, apart from what reads the host (`source`): bounded
//! file reads, stop and reload requests, sockets from systemd, the Windows
//! service, the event log and the exporter's own process stats. With
//! `source`, the only module that picks an OS with `cfg`.

/// Bounded, non-blocking reads of regular files (config, certificates, sysctl, /proc).
pub mod files;

/// Stop and reload requests from the OS: SIGTERM/SIGHUP on Unix, Ctrl-C
/// and the service control manager (no reload signal) on Windows.
#[cfg(unix)]
#[path = "platform/signals_unix.rs"]
pub mod signals;
#[cfg(windows)]
#[path = "platform/signals_windows.rs"]
pub mod signals;

/// The exporter's own process (`process_*`): /proc/self on Linux, the
/// process APIs on Windows, getrusage/getrlimit on macOS and FreeBSD.
pub mod self_stats;

/// Running under the Windows service control manager; elsewhere a clear refusal.
#[cfg(windows)]
#[path = "platform/service_windows.rs"]
pub mod service;
#[cfg(not(windows))]
#[path = "platform/service_none.rs"]
pub mod service;

/// systemd socket activation (`--web.systemd-socket`): the listening sockets
/// passed from fd 3 on; elsewhere a clear refusal.
#[cfg(unix)]
#[path = "platform/systemd_socket.rs"]
pub mod systemd_socket;
#[cfg(not(unix))]
#[path = "platform/systemd_socket_none.rs"]
pub mod systemd_socket;

/// The Windows event log as a log sink (`--log.file eventlog`); elsewhere
/// opening it is a clear error.
#[cfg(windows)]
#[path = "platform/eventlog_windows.rs"]
pub mod eventlog;
#[cfg(not(windows))]
#[path = "platform/eventlog_none.rs"]
pub mod eventlog;

/// A NUL-terminated UTF-16 string for Windows APIs; an inner NUL becomes a space.
#[cfg(windows)]
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().map(|c| if c == 0 { u16::from(b' ') } else { c }).chain(std::iter::once(0)).collect()
}
