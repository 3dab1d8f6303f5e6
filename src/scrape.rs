//! One scrape: source -> snapshot -> assess -> report -> exposition. Holds
//! the config in force and reloads it; used by the HTTP server and `check`.

use crate::assess::{assess_with, Report};
use crate::baseline::learner::{Learner, Status};
use crate::baseline::{store, Baseline, Policy};
use crate::config::{Config, ConfigError, Watches};
use crate::metrics::{render, Format, Meta};
use crate::model::CollectorSet;
use crate::source::{Paths, Request, SocketTable, Source};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What each scrape collects and how, from the flags.
#[derive(Debug, Clone, Copy)]
pub struct Collect {
    /// The collectors enabled by `--collector.NAME`, `--no-collector.NAME` and
    /// `--collector.disable-defaults`; a scrape runs these or a subset (`collect[]`).
    pub enabled: CollectorSet,
    /// Where socket tables come from (`--collector.sockets.source`).
    pub table: SocketTable,
    /// The busiest destinations of the ephemeral count to report (`--collector.ephemeral.destinations`); 0: none.
    pub destinations: usize,
    /// The Kubernetes NodePort range the `nodeport` collector assesses (`--collector.nodeport.range`).
    pub nodeport: crate::model::PortRange,
}

impl Collect {
    /// Every collector on by default, sockets listed from `table`.
    pub fn all(table: SocketTable) -> Collect {
        use crate::model::CollectorName;
        let enabled = CollectorName::ALL.into_iter().filter(|c| c.default_enabled()).collect();
        Collect { enabled, table, destinations: crate::cli::DEFAULT_DESTINATIONS, nodeport: crate::cli::DEFAULT_NODEPORT }
    }
}

pub struct Scraper {
    source: Source,
    config: Config,
    config_path: Option<PathBuf>,
    collect: Collect,
    meta: Meta,
    /// Read the exporter's own process stats at each collection (the server does; `check` does not).
    self_metrics: bool,
    /// The learned baseline: off, learning (the server), or read only (`check`, `baseline list`).
    baseline: Learning,
}

/// How a scraper uses the learned baseline.
pub enum Learning {
    Off,
    /// Observes each scrape and saves (the server).
    Learn(Box<Learner>),
    /// Read once, never written (`check`).
    ReadOnly(Baseline, Status),
}

/// One collection, rendered in each format the first time a scrape asks for
/// it: scrapes that share a collection share its renderings too.
#[derive(Debug)]
pub struct Collection {
    report: Report,
    meta: Meta,
    openmetrics: OnceLock<Bytes>,
    text: OnceLock<Bytes>,
}

impl Collection {
    pub fn body(&self, format: Format) -> Bytes {
        let cell = match format {
            Format::OpenMetrics => &self.openmetrics,
            Format::Text => &self.text,
        };
        cell.get_or_init(|| Bytes::from(render(&self.report, &self.meta, format))).clone()
    }
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Loads the config file, or the embedded default when there is none.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, ConfigError> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::discover()),
    }
}

impl Scraper {
    pub fn new(paths: Paths, config_path: Option<PathBuf>, collect: Collect) -> Result<Scraper, ConfigError> {
        let config = load_config(config_path.as_ref())?;
        let meta = Meta {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: env!("PORTWATCH_REVISION").to_string(),
            branch: env!("PORTWATCH_BRANCH").to_string(),
            rust_version: env!("PORTWATCH_RUSTC_VERSION").to_string(),
            reload_successful: true,
            reload_timestamp_seconds: now_seconds(),
            collections: 0,
            process: None,
        };
        Ok(Scraper { source: Source::new(paths), config, config_path, collect, meta, self_metrics: false, baseline: Learning::Off })
    }

    /// Learns from each scrape into the baseline kept in `dir` (loaded now:
    /// a bad file is logged, shown in the status and set aside, never fatal).
    pub fn with_learning(mut self, dir: &std::path::Path, policy: Policy) -> Scraper {
        self.baseline = Learning::Learn(Box::new(Learner::open(dir, policy)));
        self
    }

    /// Uses the baseline kept in `dir` as it is, never writing it (`check`).
    pub fn with_baseline_read_only(mut self, dir: &std::path::Path) -> Scraper {
        let status = Status { changes: crate::baseline::Change::ALL.iter().map(|c| (*c, 0)).collect(), ..Status::default() };
        self.baseline = match store::read(dir) {
            Ok(b) => {
                let mut status = status;
                status.count(&b);
                Learning::ReadOnly(b, status)
            }
            Err(e) => {
                log::warn!("baseline: {e}; no learned expectations");
                Learning::ReadOnly(Baseline::default(), Status { load_problem: Some(e.kind()), ..status })
            }
        };
        self
    }

    fn baseline_in_force(&self) -> Option<&Baseline> {
        match &self.baseline {
            Learning::Off => None,
            Learning::Learn(l) => Some(l.baseline()),
            Learning::ReadOnly(b, _) => Some(b),
        }
    }

    /// Adds the exporter's own `process_*` metrics to each collection, as a
    /// server built on client_golang does.
    pub fn with_self_metrics(mut self) -> Scraper {
        self.self_metrics = true;
        self
    }

    fn request(&self, deadline: Instant, collectors: CollectorSet) -> Request {
        let ports = match &self.config.watches {
            Watches::Listed(w) => Some(w.iter().map(|w| (w.protocol, w.port)).collect()),
            Watches::DiscoverListeners => None,
        };
        // Discovery also watches the learned ports, so whoever holds one now (or nobody) is seen.
        let also = match &self.baseline {
            Learning::Off => Vec::new(),
            Learning::Learn(l) => l.ports(),
            Learning::ReadOnly(b, _) => crate::baseline::learner::learned_ports(b),
        };
        let ranges = self.config.ranges.iter().map(|r| (r.protocol, r.range)).collect();
        Request { ports, also, ranges, collectors, table: self.collect.table, destinations: self.collect.destinations, deadline }
    }

    /// The collectors the flags enable.
    pub fn enabled(&self) -> CollectorSet {
        self.collect.enabled
    }

    /// One scrape of every enabled collector; collectors not done by `deadline` report failure.
    pub fn report(&mut self, deadline: Instant) -> Report {
        self.report_of(deadline, self.collect.enabled)
    }

    /// One scrape of the given collectors (a subset of the enabled ones, see `web::filter`).
    pub fn report_of(&mut self, deadline: Instant, collectors: CollectorSet) -> Report {
        self.meta.collections += 1;
        let snap = self.source.snapshot(&self.request(deadline, collectors));
        if let Learning::Learn(l) = &mut self.baseline {
            l.observe(&snap);
        }
        let mut report = assess_with(&self.config, &snap, self.baseline_in_force());
        // The NodePort range only where this OS ran the collector for this scrape (it then has a status).
        if snap.collectors.iter().any(|c| c.name == crate::model::CollectorName::Nodeport) {
            report.nodeport = crate::assess::ranges::assess_nodeport(self.collect.nodeport, &snap);
        }
        report.baseline = match &self.baseline {
            Learning::Off => None,
            Learning::Learn(l) => Some(l.status()),
            Learning::ReadOnly(_, s) => Some(s.clone()),
        };
        report
    }

    /// The ports held now and their owners, as learning would see them (None:
    /// the scrape was partial). For `baseline accept`.
    pub fn held_now(
        &mut self,
        deadline: Instant,
    ) -> Option<std::collections::BTreeMap<crate::baseline::PortKey, std::collections::BTreeSet<crate::baseline::Owner>>> {
        let snap = self.source.snapshot(&self.request(deadline, self.collect.enabled));
        crate::baseline::learner::held(&snap)
    }

    /// Facts about the exporter itself, for an exposition rendered elsewhere.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// One collection of the collectors the flags enable.
    pub fn collect(&mut self, deadline: Instant) -> Collection {
        self.collect_of(deadline, self.collect.enabled)
    }

    /// One collection of the given collectors, with the exporter's own stats when asked for.
    pub fn collect_of(&mut self, deadline: Instant, collectors: CollectorSet) -> Collection {
        let report = self.report_of(deadline, collectors);
        if self.self_metrics {
            self.meta.process = Some(crate::platform::self_stats::read());
        }
        Collection { report, meta: self.meta.clone(), openmetrics: OnceLock::new(), text: OnceLock::new() }
    }

    /// One collection as OpenMetrics text.
    pub fn render(&mut self, deadline: Instant) -> String {
        self.render_of(deadline, self.collect.enabled)
    }

    pub fn render_of(&mut self, deadline: Instant, collectors: CollectorSet) -> String {
        let report = self.report_of(deadline, collectors);
        render(&report, &self.meta, Format::OpenMetrics)
    }

    /// The config file this scraper reloads from.
    pub fn config_path(&self) -> Option<&PathBuf> {
        self.config_path.as_ref()
    }

    /// Puts a config read by [`load_config`] in force, or records that it
    /// failed (a bad one is kept out and the old one stays). Reading and parsing happen before, so a caller can do them
    /// without holding up scrapes.
    pub fn apply(&mut self, loaded: Result<Config, ConfigError>) -> Result<(), ConfigError> {
        match loaded {
            Ok(c) => {
                if c != self.config {
                    self.source.reset();
                }
                self.config = c;
                self.meta.reload_successful = true;
                self.meta.reload_timestamp_seconds = now_seconds();
                Ok(())
            }
            Err(e) => {
                self.meta.reload_successful = false;
                Err(e)
            }
        }
    }
}
