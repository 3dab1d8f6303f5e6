//! Serving: the telemetry path (computed on each scrape, no background
//! polling), `/`, `/-/healthy`, `/-/ready`, and `POST /-/reload` behind
//! `--web.enable-lifecycle`. TLS, client certificates, basic auth, headers
//! and a rate limit come from an exporter-toolkit `--web.config.file`, re-read
//! whenever it changes. Concurrent scrapes share one collection.

mod auth;
pub mod config;
mod conns;
mod encoding;
#[cfg(feature = "tls")]
mod tls;

use crate::metrics::Format;
use crate::scrape::{Collection, Scraper};
use crate::source::signals::{Event, Signals};
use auth::{BasicAuth, HashGate};
use bytes::Bytes;
use config::WebConfig;
use conns::{Conns, Ticket};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
#[cfg(feature = "tls")]
use tokio_rustls::TlsAcceptor;
/// Without the `tls` feature there is no acceptor to hold.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum TlsAcceptor {}

#[cfg(feature = "tls")]
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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

/// The web configuration in force, ready to serve with.
struct Web {
    tls: Option<TlsAcceptor>,
    auth: Arc<BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
    rate: Option<(Duration, u32)>,
}

fn build_web(c: &WebConfig) -> Result<Web, String> {
    let tls = match &c.tls_server_config {
        #[cfg(feature = "tls")]
        Some(t) => Some(TlsAcceptor::from(tls::server_config(t)?)),
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err("tls_server_config: this build has no TLS support (cargo feature `tls`)".into()),
        None => None,
    };
    let mut headers = Vec::new();
    for (k, v) in &c.http_server_config.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
        let value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
        headers.push((name, value));
    }
    let rate = c.rate_limit.as_ref().filter(|r| !r.interval.is_zero()).map(|r| (r.interval, r.burst.max(1)));
    Ok(Web { tls, auth: Arc::new(BasicAuth::new(c.basic_auth_users.clone())), headers, rate })
}

/// The file's identity (modification time, length); a change means "read it again".
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// Re-reads the web config when the file changes; a bad file is logged and
/// kept out, and the last good one stays in force.
struct WebState {
    path: Option<PathBuf>,
    current: Mutex<(Stamp, Arc<Web>)>,
}

impl WebState {
    fn load(path: Option<&PathBuf>) -> Result<Web, String> {
        match path {
            Some(p) => build_web(&WebConfig::load(p).map_err(|e| e.to_string())?).map_err(|e| format!("web config {}: {e}", p.display())),
            None => build_web(&WebConfig::default()),
        }
    }

    fn current(&self) -> Option<Arc<Web>> {
        let mut g = self.current.lock().ok()?;
        if let Some(path) = &self.path {
            let now = stamp(path);
            if now != g.0 {
                g.0 = now;
                match WebState::load(Some(path)) {
                    Ok(web) => {
                        log::info!("web config {} reloaded", path.display());
                        g.1 = Arc::new(web);
                    }
                    Err(e) => log::error!("{e}; keeping the previous web config"),
                }
            }
        }
        Some(g.1.clone())
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct App {
    scraper: Mutex<Scraper>,
    /// The config file, read by reloads without holding the scraper.
    config_path: Option<PathBuf>,
    opts: Options,
    web: WebState,
    inflight: Mutex<Option<watch::Receiver<Option<Arc<Collection>>>>>,
    requests: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
    hashes: HashGate,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn landing(path: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>portwatch_exporter</title></head><body>\n<h1>portwatch_exporter</h1>\n\
<p>Who holds each watched port, and will it still be free after a reboot.</p>\n\
<ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li></ul>\n\
<p>Version {}</p>\n</body></html>\n",
        crate::cli::LONG_VERSION
    )
}

/// Clears the in-flight marker even if the collection panics.
struct InflightGuard(Arc<App>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.inflight.lock() {
            *g = None;
        }
    }
}

impl App {
    /// Fails when the web config given at start is invalid.
    pub fn new(scraper: Scraper, opts: Options) -> Result<App, String> {
        let web = WebState::load(opts.web_config.as_ref())?;
        let stamp = opts.web_config.as_ref().and_then(stamp);
        Ok(App {
            config_path: scraper.config_path().cloned(),
            scraper: Mutex::new(scraper),
            web: WebState { path: opts.web_config.clone(), current: Mutex::new((stamp, Arc::new(web))) },
            inflight: Mutex::new(None),
            requests: Arc::new(Semaphore::new(opts.max_requests.max(1))),
            bucket: Mutex::new(Bucket { tokens: f64::MAX, last: Instant::now() }),
            hashes: HashGate::default(),
            opts,
        })
    }

    /// One collection shared by every scrape that arrives while it runs;
    /// rendered in `format` before it is shared (another format is rendered
    /// by the first scrape that asks for it).
    async fn collect(self: &Arc<Self>, deadline: Instant, format: Format) -> Option<Arc<Collection>> {
        let mut rx = {
            let mut g = self.inflight.lock().ok()?;
            match g.as_ref() {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *g = Some(rx.clone());
                    let guard = InflightGuard(self.clone());
                    tokio::task::spawn_blocking(move || {
                        let collection = match guard.0.scraper.lock() {
                            Ok(mut s) => s.collect(deadline),
                            Err(p) => p.into_inner().collect(deadline),
                        };
                        drop(guard);
                        collection.body(format);
                        let _ = tx.send(Some(Arc::new(collection)));
                    });
                    rx
                }
            }
        };
        let waited = tokio::time::timeout_at((deadline + Duration::from_secs(1)).into(), rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }

    fn rate_ok(&self, rate: Option<(Duration, u32)>) -> bool {
        let Some((interval, burst)) = rate else { return true };
        let Ok(mut b) = self.bucket.lock() else { return true };
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() / interval.as_secs_f64();
        b.tokens = (b.tokens.min(f64::from(burst)) + refill).min(f64::from(burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn scrape(self: &Arc<Self>, req: &Request<Incoming>) -> Reply {
        let asked = req
            .headers()
            .get("X-Prometheus-Scrape-Timeout-Seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|v| Duration::from_secs_f64(v.min(3600.0)));
        let budget = asked.unwrap_or(DEFAULT_SCRAPE_TIMEOUT).saturating_sub(self.opts.timeout_margin).max(Duration::from_millis(100));
        let Ok(_permit) = self.requests.clone().try_acquire_owned() else {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "too many concurrent scrapes\n");
        };
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let format = crate::metrics::negotiate(header(hyper::header::ACCEPT));
        let gzip = encoding::accepts_gzip(header(hyper::header::ACCEPT_ENCODING));
        match self.collect(Instant::now() + budget, format).await {
            Some(collection) => {
                let body = collection.body(format);
                let zipped = if gzip { encoding::gzip(&body) } else { None };
                let mut r = match zipped {
                    Some(z) => {
                        let mut r = reply(StatusCode::OK, format.content_type(), z);
                        r.headers_mut().insert(hyper::header::CONTENT_ENCODING, hyper::header::HeaderValue::from_static("gzip"));
                        r
                    }
                    None => reply(StatusCode::OK, format.content_type(), body),
                };
                r.headers_mut().insert(hyper::header::VARY, hyper::header::HeaderValue::from_static("Accept, Accept-Encoding"));
                r
            }
            None => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "scrape did not finish in time\n"),
        }
    }

    async fn reload(self: &Arc<Self>) -> Reply {
        let app = self.clone();
        let r = tokio::task::spawn_blocking(move || reload(&app)).await;
        match r {
            Ok(Ok(())) => reply(StatusCode::OK, "text/plain", "OK\n"),
            Ok(Err(e)) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
        }
    }

    /// Is the request authorized? None: too many password checks queued.
    async fn authorized(&self, web: &Web, req: &Request<Incoming>, peer: IpAddr) -> Option<bool> {
        let header = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        self.hashes.authorize(&web.auth, header, peer).await
    }

    async fn route(self: Arc<Self>, web: Arc<Web>, req: Request<Incoming>, peer: IpAddr) -> Result<Reply, Infallible> {
        let allowed = if !self.rate_ok(web.rate) {
            Err("rate limited\n")
        } else if web.auth.enabled() {
            self.authorized(&web, &req, peer).await.ok_or("too many password checks in progress\n")
        } else {
            Ok(true)
        };
        let mut resp = match allowed {
            Err(why) => reply(StatusCode::TOO_MANY_REQUESTS, "text/plain", why),
            Ok(false) => {
                let mut r = reply(StatusCode::UNAUTHORIZED, "text/plain", "Unauthorized\n");
                r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                r
            }
            Ok(true) => self.dispatch(&req).await,
        };
        for (k, v) in &web.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        Ok(resp)
    }

    async fn dispatch(self: &Arc<Self>, req: &Request<Incoming>) -> Reply {
        let path = req.uri().path();
        let method = req.method();
        let read = method == Method::GET || method == Method::HEAD;
        match path {
            p if p == self.opts.telemetry_path && read => self.scrape(req).await,
            p if p == self.opts.telemetry_path => reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n"),
            "/-/reload" if !self.opts.enable_lifecycle => reply(StatusCode::FORBIDDEN, "text/plain", "Lifecycle API is not enabled.\n"),
            "/-/reload" if method == Method::POST || method == Method::PUT => self.reload().await,
            "/-/reload" => reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only POST or PUT\n"),
            "/-/healthy" | "/-/ready" if read => reply(StatusCode::OK, "text/plain", "OK\n"),
            "/" if read => reply(StatusCode::OK, "text/html; charset=utf-8", landing(&self.opts.telemetry_path)),
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        }
    }
}

/// Reads and parses the config first, then takes the scraper only to swap
/// it in: a scrape never waits for a slow or hostile file.
fn reload(app: &App) -> Result<(), String> {
    let loaded = crate::scrape::load_config(app.config_path.as_ref());
    let mut s = match app.scraper.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    match s.apply(loaded) {
        Ok(()) => {
            log::info!("configuration reloaded");
            Ok(())
        }
        Err(e) => {
            log::error!("reload failed, keeping the last good configuration: {e}");
            Err(e.to_string())
        }
    }
}

/// Serves one connection; on shutdown, a request in progress finishes and
/// an idle keep-alive connection closes at once.
async fn serve_io<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    app: Arc<App>,
    web: Arc<Web>,
    io: I,
    ticket: Arc<Ticket>,
    peer: IpAddr,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), hyper::Error> {
    let header_timeout = app.opts.header_timeout;
    let svc = hyper::service::service_fn(move |req| {
        let (app, web, ticket) = (app.clone(), web.clone(), ticket.clone());
        async move {
            if !ticket.busy() {
                let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "too many connections\n");
                r.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
                return Ok(r);
            }
            let r = app.route(web, req, peer).await;
            ticket.idle();
            r
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let stop = async move {
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = conn.as_mut() => r,
        () = stop => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

async fn connection(
    app: Arc<App>,
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    ticket: Arc<Ticket>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(web) = app.web.current() else { return };
    let result = match web.tls.clone() {
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        #[cfg(feature = "tls")]
        Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => serve_io(app, web, tls, ticket, peer.ip(), shutdown).await,
            Ok(Err(e)) => {
                log::debug!("TLS handshake with {peer}: {e}");
                return;
            }
            Err(_) => {
                log::debug!("TLS handshake with {peer} timed out");
                return;
            }
        },
        None => serve_io(app, web, stream, ticket, peer.ip(), shutdown).await,
    };
    if let Err(e) = result {
        log::debug!("connection from {peer}: {e}");
    }
}

/// Serves until SIGTERM or Ctrl-C; in-flight requests finish first.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    let mut signals = Signals::new()?;
    let connections = Conns::new(app.opts.max_connections);
    let (stop, stopped) = watch::channel(false);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        log::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let stopped = stopped.clone();
                let connections = connections.clone();
                tokio::spawn(async move {
                    if connections.unfinished_full() && !conns::head_arrives(&stream, MAX_HEAD_BYTES).await {
                        connections.headless();
                        return;
                    }
                    let Some(ticket) = connections.admit() else { return };
                    let ticket = Arc::new(ticket);
                    tokio::select! {
                        () = connection(app, stream, peer, ticket.clone(), stopped) => {}
                        () = ticket.evicted() => log::debug!("closing {peer} to make room"),
                    }
                });
            }
            event = signals.next() => match event {
                Event::Stop => break,
                Event::Reload => {
                    let app = app.clone();
                    let _ = tokio::task::spawn_blocking(move || reload(&app)).await;
                }
            },
        }
    }
    drop(listener);
    log::info!("shutting down; waiting for in-flight requests");
    let _ = stop.send(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while connections.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
