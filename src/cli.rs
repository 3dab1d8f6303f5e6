//! Command-line flags, in the Prometheus exporter convention. Defaults such
//! as `/proc` appear here and nowhere else.

mod collectors;

pub use collectors::CollectorFlags;

use crate::model::PortRange;
use crate::source::SocketTable;
use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Default listen port; picked from the unassigned part of the exporter
/// range of the Prometheus default port allocations list.
pub const DEFAULT_LISTEN: &str = ":9795";

pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (revision: ", env!("PORTWATCH_REVISION"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "portwatch_exporter",
    version = LONG_VERSION,
    about = "Prometheus exporter: who holds each watched port, and will it still be free after a reboot.",
    long_about = "Prometheus exporter: who holds each watched TCP/UDP port, whether that is the expected owner, \
whether the port lies in the OS dynamic (ephemeral) port range, and whether it is excluded from that range now \
and after the next reboot.\n\nWithout --config.file it watches every TCP port that has a listening socket \
(the listener's process counts as expected) and exports the dynamic range metrics.\n\n\
Run `portwatch_exporter check` for a one-shot report with remedies."
)]
pub struct Cli {
    /// YAML file listing the watched ports. Without it, every TCP listener is watched.
    #[arg(long = "config.file", value_name = "PATH", global = true)]
    pub config_file: Option<PathBuf>,

    /// Address to listen on for HTTP: ":PORT" (all interfaces), "HOST:PORT" or "[IPv6]:PORT". Repeatable:
    /// every address is bound before serving, and one that cannot be is an error.
    #[arg(long = "web.listen-address", value_name = "ADDR", default_value = DEFAULT_LISTEN, action = ArgAction::Append, global = true)]
    pub listen_addresses: Vec<String>,

    /// Serve on the listening sockets systemd passes (socket activation: LISTEN_FDS, LISTEN_PID) instead of
    /// binding --web.listen-address (see deploy/systemd/portwatch_exporter.socket).
    #[arg(long = "web.systemd-socket", conflicts_with = "listen_addresses", global = true)]
    pub systemd_socket: bool,

    /// Exporter-toolkit web configuration (TLS, client certificates, basic auth, headers, rate limit),
    /// re-read whenever it changes.
    #[arg(long = "web.config.file", value_name = "PATH", global = true)]
    pub web_config: Option<PathBuf>,

    /// Enable POST /-/reload (reloads --config.file, like SIGHUP).
    #[arg(long = "web.enable-lifecycle", global = true)]
    pub enable_lifecycle: bool,

    /// Most simultaneous connections (1 to 1000000). When all are taken, the connection idle or unfinished
    /// the longest is closed to make room; only when every one is busy with a request is the new one closed.
    #[arg(long = "web.max-connections", value_name = "N", default_value = "64", value_parser = count, global = true)]
    pub max_connections: usize,

    /// Most simultaneous scrape requests (1 to 1000000); further ones get 503. Simultaneous scrapes share one
    /// collection.
    #[arg(long = "web.max-requests", value_name = "N", default_value = "40", value_parser = count, global = true)]
    pub max_requests: usize,

    /// Seconds a client has to send its request headers (slowloris guard), 0.1 to 600.
    #[arg(long = "web.header-read-timeout", value_name = "SECONDS", default_value = "10", value_parser = header_timeout, global = true)]
    pub header_timeout: Duration,

    /// Seconds (0 to 60) subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds, to leave time for
    /// the reply; collectors still running then report failure and the scrape answers with the rest.
    #[arg(long = "scrape.timeout-margin", value_name = "SECONDS", default_value = "0.5", value_parser = timeout_margin, global = true)]
    pub timeout_margin: Duration,

    /// Path under which metrics are exposed.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", global = true)]
    pub telemetry_path: String,

    /// procfs mount point: sockets' owners, processes and the active sysctl values are read here.
    #[arg(long = "path.procfs", value_name = "PATH", default_value = "/proc", global = true)]
    pub procfs: PathBuf,

    /// Root of the host filesystem: sysctl.d files, /etc/passwd and /run/reboot-required are read under it.
    #[arg(long = "path.rootfs", value_name = "PATH", default_value = "/", global = true)]
    pub rootfs: PathBuf,

    /// Which tool applies sysctl.d at the next boot, for the after-reboot verdicts: `auto` detects it
    /// from the rootfs (/run/systemd/system, /sbin/init), `systemd-sysctl` (systemd hosts) or
    /// `sysctl-system` (procps `sysctl --system`: OpenRC, sysvinit, plain containers).
    #[arg(long = "sysctl.boot-applier", value_enum, default_value_t = BootApplier::Auto, global = true)]
    pub boot_applier: BootApplier,

    /// Where socket tables come from: `netlink` (NETLINK_SOCK_DIAG, kernel-side filtering) or
    /// `procfs` (the text tables under --path.procfs; reads every socket, for hosts without sock_diag).
    #[arg(long = "collector.sockets.source", value_parser = socket_table_parser(), default_value = "netlink", global = true)]
    pub socket_table: SocketTable,

    /// Linux: report the K destinations (remote address and port) that take the most ephemeral
    /// ports, counted from the ephemeral collector's own dump: sockets whose local port is in the
    /// dynamic range, in use and in TIME_WAIT, against the ports the range leaves them. 0 to 1000
    /// (two series per destination); 0 turns it off.
    #[arg(long = "collector.ephemeral.destinations", value_name = "K", default_value_t = DEFAULT_DESTINATIONS,
          value_parser = destinations, global = true)]
    pub destinations: usize,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,

    /// Write logs to this file (appending) instead of standard error; for services without a console.
    /// `eventlog` (Windows) sends them to the Application event log, source portwatch_exporter.
    #[arg(long = "log.file", value_name = "PATH", global = true)]
    pub log_file: Option<PathBuf>,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    pub log_format: LogFormat,

    /// Directory where the exporter keeps its state: the learned baseline of ports and their owners
    /// (baseline.json). An empty value turns learning off (no file is read or written).
    #[arg(long = "storage.path", value_name = "DIR", default_value = DEFAULT_STORAGE, value_parser = storage_dir, global = true)]
    pub storage_path: PathBuf,

    /// How long a port must be held (TCP listener, UDP bound socket) without a break before its owners
    /// become its expected owners, as Prometheus writes durations (10m, 1h30m, 7d; 0s learns at once).
    #[arg(long = "baseline.learn-after", value_name = "DURATION", default_value = "10m", value_parser = prom_duration, global = true)]
    pub learn_after: Duration,

    /// How long a learned port may go unheld before it is forgotten (Prometheus duration, e.g. 7d).
    #[arg(long = "baseline.forget-after", value_name = "DURATION", default_value = "7d", value_parser = prom_duration, global = true)]
    pub forget_after: Duration,

    /// Most ports the baseline stores (learned and candidates, 1 to 1000000); further new ports are
    /// counted, not stored.
    #[arg(long = "baseline.max-ports", value_name = "N", default_value = "4096", value_parser = count, global = true)]
    pub baseline_max_ports: usize,

    /// The Kubernetes NodePort range (kube-apiserver's --service-node-port-range), START-END
    /// inclusive, for the nodeport collector: its ports inside the dynamic range, reserved and at
    /// risk (the OS may hand them to a client as its source port, and kube-proxy's NodePort then
    /// misses that connection's replies or collides with it), now and after the next boot.
    #[arg(long = "collector.nodeport.range", value_name = "START-END", default_value = DEFAULT_NODEPORT_RANGE,
          value_parser = nodeport_range, global = true)]
    pub nodeport_range: PortRange,

    /// How often the netns collector reads the other network namespaces in the background (Prometheus
    /// duration, 1s to 1h); scrapes then serve the latest read, its age in
    /// portwatch_netns_read_age_seconds. 0s: every scrape reads them (the cost grows with the namespaces
    /// and with the host's TCP sockets; see README). Ignored by `check`.
    #[arg(long = "collector.netns.refresh-interval", value_name = "DURATION", default_value = "0s", value_parser = netns_refresh,
          global = true)]
    pub netns_refresh: Duration,

    #[command(flatten)]
    pub collectors: CollectorFlags,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--sysctl.boot-applier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootApplier {
    Auto,
    SystemdSysctl,
    SysctlSystem,
}

impl BootApplier {
    /// None: detect from the rootfs.
    pub fn applier(self) -> Option<crate::boot::Applier> {
        match self {
            BootApplier::Auto => None,
            BootApplier::SystemdSysctl => Some(crate::boot::Applier::SystemdSysctl),
            BootApplier::SysctlSystem => Some(crate::boot::Applier::ProcpsSystem),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the watched ports once, print a table and the remedies, and exit:
    /// 0 all is well, 1 a port is held by another owner or at risk after a reboot, 2 could not run
    /// or some verdict cannot be given.
    Check(CheckArgs),
    /// Windows: run as a service under the service control manager (see README, "Windows service").
    Service,
    /// Show or edit the learned baseline in --storage.path (a running exporter re-reads the file
    /// when it changes).
    #[command(subcommand)]
    Baseline(BaselineCommand),
}

/// `baseline`'s actions.
#[derive(Debug, Clone, Subcommand)]
pub enum BaselineCommand {
    /// Print every port in the baseline: learned owners, candidates, first and last seen.
    List,
    /// Forget a port, e.g. `1433` (TCP), `1433/tcp` or `53/udp`. If it is still held, it is learned
    /// again after --baseline.learn-after.
    Forget {
        #[arg(value_name = "PORT[/tcp|udp]")]
        port: String,
    },
    /// Take the current owners of every held port (as one scrape sees them) as its expected owners.
    Accept,
}

/// `check`'s own flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// `table` for people; `json` for scripts (same verdicts and exit code); `textfile`: the
    /// metrics in the text format for node_exporter's textfile collector, written atomically
    /// to --output.file (for hosts that run node_exporter and no other daemon).
    #[arg(long = "output", value_enum, default_value_t = CheckOutput::Table)]
    pub output: CheckOutput,
    /// Where `--output textfile` writes (e.g. /var/lib/prometheus/node-exporter/portwatch.prom);
    /// `table` and `json` print to standard output.
    #[arg(long = "output.file", value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckOutput {
    Table,
    Json,
    Textfile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Largest value of a count flag: far above any host's needs, far below what
/// would overflow a semaphore.
pub const MAX_COUNT: usize = 1_000_000;
/// `--collector.ephemeral.destinations`: the busiest destinations reported by default.
pub const DEFAULT_DESTINATIONS: usize = 10;

/// `netlink` or `procfs`, each with its help line in --help; the names and
/// their help live with `SocketTable` in the OS layer.
fn socket_table_parser() -> impl clap::builder::TypedValueParser<Value = SocketTable> {
    use clap::builder::{PossibleValue, TypedValueParser};
    clap::builder::PossibleValuesParser::new(SocketTable::ALL.map(|t| PossibleValue::new(t.as_str()).help(t.help())))
        .try_map(|s| SocketTable::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| format!("unknown socket table {s}")))
}

/// `--collector.nodeport.range`: kube-apiserver's default --service-node-port-range.
pub const DEFAULT_NODEPORT_RANGE: &str = "30000-32767";
/// [`DEFAULT_NODEPORT_RANGE`] parsed, for callers without flags.
pub const DEFAULT_NODEPORT: PortRange = PortRange { start: 30000, end: 32767 };

/// `--collector.nodeport.range`: two decimal ports 1-65535, START-END with START <= END.
fn nodeport_range(s: &str) -> Result<PortRange, String> {
    crate::config::decimal_range(s)
        .ok_or_else(|| format!("{s:?} is not a port range START-END: two decimal ports from 1 to 65535, the first not above the second, no spaces (kube-apiserver's default is {DEFAULT_NODEPORT_RANGE})"))
}

/// Most destinations `--collector.ephemeral.destinations` may ask for.
pub const MAX_DESTINATIONS: usize = 1000;

/// `--collector.ephemeral.destinations`: a decimal integer from 0 to [`MAX_DESTINATIONS`].
fn destinations(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_DESTINATIONS => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 0 to {MAX_DESTINATIONS}")),
    }
}

/// A count flag: a decimal integer from 1 to [`MAX_COUNT`].
fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 1 to {MAX_COUNT}")),
    }
}

/// A number of seconds within `min..=max`: NaN, infinities, negatives and
/// anything out of range are refused, never clamped.
fn seconds_within(s: &str, min: f64, max: f64) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("{s:?} is not a number of seconds from {min} to {max}")),
    }
}

fn header_timeout(s: &str) -> Result<Duration, String> {
    seconds_within(s, 0.1, 600.0)
}

fn timeout_margin(s: &str) -> Result<Duration, String> {
    seconds_within(s, 0.0, 60.0)
}

/// `--storage.path`: any path, the empty one included (learning off).
fn storage_dir(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// Default of `--storage.path`.
pub const DEFAULT_STORAGE: &str = "/var/lib/portwatch_exporter";

/// A duration as Prometheus writes it (`model.ParseDuration`): one or more
/// number-unit pairs, units `y` (365d), `w`, `d`, `h`, `m`, `s`, `ms` in that
/// order, each at most once; `0` alone is zero. At most 100 years.
pub fn prom_duration(s: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] =
        [("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];
    let bad = || format!("{s:?} is not a duration such as 10m, 1h30m, 7d or 0s");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 || digits > 12 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let after = &rest[digits..];
        let unit_len = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let unit = &after[..unit_len];
        let i = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if i < next_unit {
            return Err(bad());
        }
        next_unit = i + 1;
        total = n.checked_mul(UNITS[i].1).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        rest = &after[unit_len..];
    }
    if s.is_empty() || total > 100 * 365 * 86_400_000 {
        return Err(bad());
    }
    Ok(Duration::from_millis(total))
}

/// `--collector.netns.refresh-interval`: 0s, or 1s to 1h.
fn netns_refresh(s: &str) -> Result<Duration, String> {
    let d = prom_duration(s)?;
    if d.is_zero() || (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{s:?}: the refresh interval is 0s (every scrape reads) or from 1s to 1h"))
    }
}

/// ":9795" -> "[::]:9795"; anything else is passed through.
pub fn bind_address(listen: &str) -> String {
    match listen.strip_prefix(':') {
        Some(port) => format!("[::]:{port}"),
        None => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_in_exporter_convention() {
        let c = Cli::try_parse_from([
            "x",
            "--config.file",
            "/etc/p.yml",
            "--web.listen-address",
            "127.0.0.1:1",
            "--path.procfs",
            "/p",
            "--log.format",
            "json",
        ])
        .expect("parses");
        assert_eq!(c.config_file, Some(PathBuf::from("/etc/p.yml")));
        assert_eq!(c.procfs, PathBuf::from("/p"));
        assert_eq!(c.log_format, LogFormat::Json);
        let d = Cli::try_parse_from(["x"]).expect("defaults");
        assert_eq!((d.listen_addresses, d.telemetry_path.as_str()), (vec![DEFAULT_LISTEN.to_string()], "/metrics"));
        assert_eq!(d.procfs, PathBuf::from("/proc"));
        let chk = Cli::try_parse_from(["x", "check", "--config.file", "a.yml"]).expect("check");
        assert!(matches!(chk.command, Some(Command::Check(CheckArgs { output: CheckOutput::Table, .. }))));
        let json = Cli::try_parse_from(["x", "check", "--output", "json"]).expect("json");
        assert!(matches!(json.command, Some(Command::Check(CheckArgs { output: CheckOutput::Json, .. }))));
        // A Windows service's command line carries every daemon flag after `service`.
        let svc = Cli::try_parse_from([
            "x",
            "service",
            "--web.listen-address",
            "127.0.0.1:2",
            "--web.config.file",
            "w.yml",
            "--log.file",
            "eventlog",
        ])
        .expect("service takes the daemon's flags");
        assert!(matches!(svc.command, Some(Command::Service)));
        assert_eq!((svc.listen_addresses, svc.web_config), (vec!["127.0.0.1:2".to_string()], Some(PathBuf::from("w.yml"))));
        assert!(Cli::try_parse_from(["x", "--log.level", "loud"]).is_err());
    }

    #[test]
    fn numeric_flags_are_checked_not_clamped() {
        let d = Cli::try_parse_from(["x"]).expect("defaults");
        assert_eq!((d.header_timeout, d.timeout_margin), (Duration::from_secs(10), Duration::from_millis(500)));
        assert_eq!((d.max_connections, d.max_requests), (64, 40));
        for v in ["NaN", "inf", "-inf", "-1", "1e20", "601", "0.01", "x", ""] {
            assert!(Cli::try_parse_from(["x", &format!("--web.header-read-timeout={v}")]).is_err(), "{v}");
        }
        for v in ["NaN", "inf", "-0.1", "61"] {
            assert!(Cli::try_parse_from(["x", &format!("--scrape.timeout-margin={v}")]).is_err(), "{v}");
        }
        for v in ["0", "-3", "1000001", "99999999999999999999999"] {
            assert!(Cli::try_parse_from(["x", &format!("--web.max-connections={v}")]).is_err(), "{v}");
        }
    }

    #[test]
    fn listen_addresses_repeat_and_exclude_the_systemd_socket() {
        let c = Cli::try_parse_from(["x", "--web.listen-address", "127.0.0.1:1", "--web.listen-address=[::1]:1"]).expect("parses");
        assert_eq!(c.listen_addresses, ["127.0.0.1:1", "[::1]:1"]);
        assert!(!c.systemd_socket);
        let s = Cli::try_parse_from(["x", "--web.systemd-socket"]).expect("the default address does not conflict");
        assert!(s.systemd_socket);
        let both = Cli::try_parse_from(["x", "--web.systemd-socket", "--web.listen-address", ":1"]);
        assert_eq!(both.map(|_| ()).map_err(|e| e.kind()), Err(clap::error::ErrorKind::ArgumentConflict));
    }

    #[test]
    fn netns_refresh_interval_is_zero_by_default_and_refuses_what_would_spin_or_go_stale() {
        assert_eq!(Cli::try_parse_from(["x"]).expect("defaults").netns_refresh, Duration::ZERO);
        for (text, secs) in [("0s", 0), ("0", 0), ("1s", 1), ("30s", 30), ("1h", 3600)] {
            let c = Cli::try_parse_from(["x", "--collector.netns.refresh-interval", text]).expect(text);
            assert_eq!(c.netns_refresh, Duration::from_secs(secs), "{text}");
        }
        for text in ["500ms", "1h1s", "1d", "-1s", "", "fast"] {
            assert!(Cli::try_parse_from(["x", "--collector.netns.refresh-interval", text]).is_err(), "{text}");
        }
    }

    #[test]
    fn baseline_flags_take_prometheus_durations() {
        let d = Cli::try_parse_from(["x"]).expect("defaults");
        assert_eq!(d.storage_path, PathBuf::from(DEFAULT_STORAGE));
        assert_eq!((d.learn_after, d.forget_after), (Duration::from_secs(600), Duration::from_secs(7 * 86400)));
        assert_eq!(d.baseline_max_ports, 4096);
        let off = Cli::try_parse_from(["x", "--storage.path=", "--baseline.learn-after=0s"]).expect("empty turns learning off");
        assert_eq!((off.storage_path, off.learn_after), (PathBuf::new(), Duration::ZERO));
        for (text, ms) in [
            ("0", 0),
            ("0s", 0),
            ("1h30m", 5_400_000),
            ("1w2d", 9 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("500ms", 500),
            ("1m1s1ms", 61_001),
        ] {
            assert_eq!(prom_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for text in ["", "10", "m", "-1s", "1.5h", "1s1m", "1m1m", "1h 2m", "1x", "99999999999999y", "101y", "s1"] {
            assert!(prom_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(bind_address(":9795"), "[::]:9795");
        assert_eq!(bind_address("127.0.0.1:9795"), "127.0.0.1:9795");
    }

    #[test]
    fn nodeport_range_defaults_to_kubernetes_and_refuses_anything_but_start_end() {
        let d = Cli::try_parse_from(["x"]).expect("defaults");
        assert_eq!((d.nodeport_range, DEFAULT_NODEPORT), (PortRange { start: 30000, end: 32767 }, PortRange { start: 30000, end: 32767 }));
        let c = Cli::try_parse_from(["x", "--collector.nodeport.range", "20000-22767"]).expect("a range");
        assert_eq!(c.nodeport_range, PortRange { start: 20000, end: 22767 });
        assert_eq!(nodeport_range("80-80"), Ok(PortRange { start: 80, end: 80 }));
        for bad in ["", "30000", "32767-30000", "0-10", "1-65536", "30000 - 32767", "30000:32767", "-1-5", "0x10-0x20", "010-20", "1-2-3"] {
            let err = nodeport_range(bad).expect_err(bad);
            assert!(err.contains("START-END") && err.contains("30000-32767"), "{bad}: {err}");
            assert!(Cli::try_parse_from(["x", "--collector.nodeport.range", bad]).is_err(), "{bad}");
        }
    }
}
