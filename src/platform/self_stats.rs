//! The exporter's own process, as client_golang's process collector reports
//! it (the `process_*` metrics). The OS seam for this one question:
//! - Linux: `getrusage` (CPU time) and `getrlimit` (the fd and address space
//!   limits) as on every Unix, `/proc/self/statm` (virtual and resident size),
//!   the entries of `/proc/self/fd`, and once the start time from
//!   `/proc/self/stat` and `/proc/stat`'s `btime` (proc(5)), read through
//!   `platform::files` and parsed by `parse::procfs`. client_golang reads stat
//!   and limits at every scrape for the same numbers; those two files cost the
//!   kernel twice what the calls do (CPU time comes in microseconds, not ticks).
//! - Windows: `GetProcessTimes`, `GetProcessMemoryInfo`, `GetProcessHandleCount`
//!   and the kernel's fixed handle limit, as client_golang reports them.
//! - macOS, FreeBSD: `getrusage` and `getrlimit` (CPU time, the fd and address
//!   space limits). The rest costs a libproc or sysctl walk and is left out.
//! - Elsewhere: nothing. A value the OS does not give is absent, never 0.
//!
//! This reads the procfs this process sees, not `--path.procfs`: that may be
//! another host's tree or a test fixture, and these metrics describe the
//! exporter itself.

use crate::model::SelfStats;

/// The exporter process now; costs a few microseconds (`benches/scrape.rs` prints it).
pub fn read() -> SelfStats {
    imp::read()
}

/// What every Unix gives by a system call: CPU time and the two limits.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
mod unix {
    use crate::model::SelfStats;

    /// The soft limit; RLIM_INFINITY is `u64::MAX`, as client_golang reports it.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn soft_limit(resource: u32) -> Option<u64> {
        // SAFETY: a zeroed rlimit for getrlimit to fill.
        let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid resource number and a pointer to the struct above.
        if unsafe { libc::getrlimit(resource as _, &mut lim) } != 0 {
            return None;
        }
        if lim.rlim_cur == libc::RLIM_INFINITY {
            Some(u64::MAX)
        } else {
            u64::try_from(lim.rlim_cur).ok()
        }
    }

    /// CPU time, max fds and the address space limit.
    #[allow(clippy::unnecessary_cast)]
    pub fn read() -> SelfStats {
        // SAFETY: a zeroed rusage for getrusage to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF and a pointer to the struct above.
        let cpu = (unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0).then(|| {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            secs(ru.ru_utime) + secs(ru.ru_stime)
        });
        SelfStats {
            cpu_seconds: cpu,
            max_fds: soft_limit(libc::RLIMIT_NOFILE as u32),
            virtual_memory_max_bytes: soft_limit(libc::RLIMIT_AS as u32),
            ..SelfStats::default()
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use crate::model::SelfStats;
    use crate::parse::procfs::{parse_btime, parse_stat, parse_statm};
    use crate::platform::files::{self, cap};
    use std::path::Path;
    use std::sync::OnceLock;

    fn sysconf(name: libc::c_int) -> Option<u64> {
        // SAFETY: sysconf reads a constant of the C library; no memory is passed.
        let v = unsafe { libc::sysconf(name) };
        u64::try_from(v).ok().filter(|v| *v > 0)
    }

    /// Boot time plus stat's starttime, read once: it is fixed for the life of the process.
    fn start_time() -> Option<f64> {
        static START: OnceLock<Option<f64>> = OnceLock::new();
        *START.get_or_init(|| {
            let btime = files::read_text(Path::new("/proc/stat"), cap::PROC_SMALL).ok().as_deref().and_then(parse_btime)?;
            let stat = files::read_bytes(Path::new("/proc/self/stat"), cap::PROC_SMALL).ok()?;
            let (_, ticks) = parse_stat(&stat).ok()?;
            Some(btime as f64 + ticks as f64 / sysconf(libc::_SC_CLK_TCK)? as f64)
        })
    }

    pub fn read() -> SelfStats {
        let mut s = super::unix::read();
        s.start_time_seconds = start_time();
        let statm = files::read_text(Path::new("/proc/self/statm"), cap::PROC_SMALL).ok();
        if let (Some((size, resident)), Some(page)) = (statm.as_deref().and_then(parse_statm), sysconf(libc::_SC_PAGESIZE)) {
            s.virtual_memory_bytes = Some(size.saturating_mul(page));
            s.resident_memory_bytes = Some(resident.saturating_mul(page));
        }
        // Counts the descriptor that lists the directory too, as client_golang does.
        s.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
        s
    }
}

#[cfg(windows)]
mod imp {
    use crate::model::SelfStats;
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::ProcessStatus::{GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS, PROCESS_MEMORY_COUNTERS_EX};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessHandleCount, GetProcessTimes};

    /// Handles one process may hold: a kernel constant, which client_golang reports as process_max_fds.
    const MAX_HANDLES: u64 = 16 * 1024 * 1024;
    /// 100 ns intervals from 1601-01-01 to 1970-01-01.
    const EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;

    fn ticks(t: FILETIME) -> u64 {
        (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
    }

    pub fn read() -> SelfStats {
        let mut s = SelfStats { max_fds: Some(MAX_HANDLES), ..SelfStats::default() };
        let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: the pseudo-handle of this process and four FILETIMEs to fill.
        if unsafe { GetProcessTimes(GetCurrentProcess(), &mut created, &mut exited, &mut kernel, &mut user) } != 0 {
            s.cpu_seconds = Some((ticks(kernel) + ticks(user)) as f64 / 1e7);
            s.start_time_seconds = ticks(created).checked_sub(EPOCH_AS_FILETIME).map(|t| t as f64 / 1e7);
        }
        // SAFETY: a zeroed plain-data struct, its size passed with it.
        let mut mem: PROCESS_MEMORY_COUNTERS_EX = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS_EX>() as u32;
        let ptr = (&mut mem as *mut PROCESS_MEMORY_COUNTERS_EX).cast::<PROCESS_MEMORY_COUNTERS>();
        // SAFETY: the EX struct starts with the plain one; cb says which the kernel may fill.
        if unsafe { GetProcessMemoryInfo(GetCurrentProcess(), ptr, size) } != 0 {
            s.virtual_memory_bytes = Some(mem.PrivateUsage as u64);
            s.resident_memory_bytes = Some(mem.WorkingSetSize as u64);
        }
        let mut handles = 0u32;
        // SAFETY: the pseudo-handle of this process and a u32 to fill.
        if unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut handles) } != 0 {
            s.open_fds = Some(u64::from(handles));
        }
        s
    }
}

#[cfg(any(target_os = "macos", target_os = "freebsd"))]
mod imp {
    pub use super::unix::read;
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos", target_os = "freebsd")))]
mod imp {
    pub fn read() -> crate::model::SelfStats {
        crate::model::SelfStats::default()
    }
}

#[cfg(test)]
mod tests {
    /// This process's stats, after checking that its start time lies in the last day.
    #[cfg(any(target_os = "linux", windows))]
    fn read_started_today() -> crate::model::SelfStats {
        let s = super::read();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let started = s.start_time_seconds.expect("start time");
        assert!(started <= now + 1.0 && started > now - 24.0 * 3600.0, "started {started}, now {now}");
        s
    }

    /// Windows gives what client_golang reports there (no address space limit).
    #[cfg(windows)]
    #[test]
    fn windows_reads_times_memory_and_handles_of_this_process() {
        let s = read_started_today();
        // Wine (where this runs in CI) reports 0 handles and 0 private bytes; Windows does not.
        assert!(s.cpu_seconds.is_some() && s.open_fds.is_some() && s.virtual_memory_bytes.is_some(), "{s:?}");
        assert!(s.resident_memory_bytes.expect("working set") > 0, "{s:?}");
        assert_eq!(s.max_fds, Some(16 * 1024 * 1024));
        assert_eq!(s.virtual_memory_max_bytes, None, "absent, not 0");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reads_every_process_metric_of_this_process() {
        let s = read_started_today();
        assert!(s.open_fds.expect("open fds") >= 3, "stdin, stdout, stderr at least");
        assert!(s.max_fds.expect("max fds") >= s.open_fds.unwrap_or(0));
        assert!(s.resident_memory_bytes.expect("rss") > 0);
        assert!(s.virtual_memory_bytes.expect("vsize") >= s.resident_memory_bytes.unwrap_or(0));
        assert!(s.virtual_memory_max_bytes.is_some());
        let before = s.cpu_seconds.expect("cpu");
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(super::read().cpu_seconds.expect("cpu") >= before, "CPU time never goes back");
    }
}
