//! Serving: the telemetry path (computed on each scrape, no background
//! polling), `/`, `/-/healthy`, `/-/ready`, and `POST /-/reload` behind
//! `--web.enable-lifecycle`. TLS, client certificates, basic auth, headers
//! and a rate limit come from an exporter-toolkit `--web.config.file`, re-read
//! whenever it changes. Concurrent scrapes share one collection.
//!
//! One file per job: `live` (the web config in force), `ratelimit`,
//! `coalesce` (shared collections), `filter` (`collect[]`/`exclude[]`),
//! `routes`, `tls` (the only file with the `tls` feature gate), `server`
//! (binding, the accept loop over every listener, signals, shutdown),
//! `conns` (the connection cap), `auth`, `encoding`, `config` (parsing).

mod auth;
mod coalesce;
pub mod config;
mod conns;
mod encoding;
mod filter;
mod live;
mod ratelimit;
mod routes;
mod server;
mod tls;

use crate::model::CollectorSet;
use crate::scrape::{Collection, Scraper};
use auth::HashGate;
use coalesce::Coalescer;
use live::WebState;
use ratelimit::RateLimit;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

pub use server::{bind, serve};

/// Largest request head accepted (hyper's buffer; its minimum is 8 KiB).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Without X-Prometheus-Scrape-Timeout-Seconds, a scrape may take this long.
const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    pub telemetry_path: String,
    pub web_config: Option<PathBuf>,
    pub enable_lifecycle: bool,
    pub max_connections: usize,
    pub max_requests: usize,
    /// Subtracted from Prometheus's scrape timeout to leave time for the reply.
    pub timeout_margin: Duration,
    /// Slowloris guard: a client has this long to send its request headers.
    pub header_timeout: Duration,
}

pub struct App {
    scraper: Mutex<Scraper>,
    /// The config file, read by reloads without holding the scraper.
    config_path: Option<PathBuf>,
    opts: Options,
    web: WebState,
    /// The collectors the flags enable; `collect[]` picks among them.
    enabled: CollectorSet,
    scrapes: Coalescer<CollectorSet, Arc<Collection>>,
    requests: Arc<Semaphore>,
    rate: RateLimit,
    hashes: HashGate,
}

impl App {
    /// Fails when the web config given at start is invalid.
    pub fn new(scraper: Scraper, opts: Options) -> Result<App, String> {
        Ok(App {
            config_path: scraper.config_path().cloned(),
            enabled: scraper.enabled(),
            scraper: Mutex::new(scraper),
            web: WebState::new(opts.web_config.clone())?,
            scrapes: Coalescer::default(),
            requests: Arc::new(Semaphore::new(opts.max_requests.max(1))),
            rate: RateLimit::default(),
            hashes: HashGate::default(),
            opts,
        })
    }
}
