//! Routing: the telemetry path, `/`, `/-/healthy`, `/-/ready` and the
//! lifecycle reload; rate limit and basic auth before any of them, the web
//! config's headers on every answer.

use super::live::Web;
use super::{encoding, filter, App, DEFAULT_SCRAPE_TIMEOUT};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) type Reply = Response<Full<Bytes>>;

pub(super) fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
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

impl App {
    async fn scrape(self: &Arc<Self>, req: &Request<Incoming>) -> Reply {
        let asked = req
            .headers()
            .get("X-Prometheus-Scrape-Timeout-Seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|v| Duration::from_secs_f64(v.min(3600.0)));
        let budget = asked.unwrap_or(DEFAULT_SCRAPE_TIMEOUT).saturating_sub(self.opts.timeout_margin).max(Duration::from_millis(100));
        // collect[]/exclude[] are checked first, as node_exporter does before its request cap;
        // the 400's body is node_exporter's, to the byte.
        let collectors = match filter::collectors(req.uri().query(), self.enabled, crate::source::collectors()) {
            Ok(c) => c,
            Err(why) => {
                log::debug!(target: "portwatch_exporter::web", "refused a filtered scrape: {why}");
                return reply(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", why);
            }
        };
        let Ok(_permit) = self.requests.clone().try_acquire_owned() else {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "too many concurrent scrapes\n");
        };
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let format = crate::metrics::negotiate(header(hyper::header::ACCEPT));
        let gzip = encoding::accepts_gzip(header(hyper::header::ACCEPT_ENCODING));
        let deadline = Instant::now() + budget;
        let app = self.clone();
        // Rendered in this scrape's format before it is shared; a scrape that
        // shares it in the other format renders that once, for all who ask.
        let collect = move || {
            let collection = match app.scraper.lock() {
                Ok(mut s) => s.collect_of(deadline, collectors),
                Err(p) => p.into_inner().collect_of(deadline, collectors),
            };
            collection.body(format);
            Arc::new(collection)
        };
        // Scrapes asking for different collectors never share a collection.
        match self.scrapes.share(collectors, deadline, collect).await {
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

    pub(super) async fn route(self: Arc<Self>, web: Arc<Web>, req: Request<Incoming>, peer: IpAddr) -> Result<Reply, Infallible> {
        let allowed = if !self.rate.allow(web.rate) {
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
pub(super) fn reload(app: &App) -> Result<(), String> {
    let loaded = crate::scrape::load_config(app.config_path.as_ref());
    let mut s = match app.scraper.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    match s.apply(loaded) {
        Ok(()) => {
            log::info!(target: "portwatch_exporter::web", "configuration reloaded");
            Ok(())
        }
        Err(e) => {
            log::error!(target: "portwatch_exporter::web", "reload failed, keeping the last good configuration: {e}");
            Err(e.to_string())
        }
    }
}
