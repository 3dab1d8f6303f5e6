//! Serving: `/metrics` (computed on each scrape, no background polling),
//! a landing page at `/`, and `/-/healthy`. Reload on SIGHUP; graceful stop
//! on SIGTERM and Ctrl-C.

use crate::metrics::CONTENT_TYPE;
use crate::scrape::Scraper;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct App {
    pub scraper: Mutex<Scraper>,
    pub telemetry_path: String,
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
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

async fn scrape(app: Arc<App>) -> Response<Full<Bytes>> {
    let result = tokio::task::spawn_blocking(move || match app.scraper.lock() {
        Ok(mut s) => Ok(s.render()),
        Err(_) => Err("scraper state poisoned by an earlier panic"),
    })
    .await;
    match result {
        Ok(Ok(body)) => reply(StatusCode::OK, CONTENT_TYPE, body),
        Ok(Err(e)) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", e),
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("scrape failed: {e}")),
    }
}

pub async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let resp = if path == app.telemetry_path {
        if get {
            scrape(app.clone()).await
        } else {
            reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n")
        }
    } else if path == "/-/healthy" || path == "/-/ready" {
        reply(StatusCode::OK, "text/plain", "OK\n")
    } else if path == "/" {
        reply(StatusCode::OK, "text/html; charset=utf-8", landing(&app.telemetry_path))
    } else {
        reply(StatusCode::NOT_FOUND, "text/plain", "not found\n")
    };
    Ok(resp)
}

fn reload(app: &App) {
    match app.scraper.lock() {
        Ok(mut s) => match s.reload() {
            Ok(()) => log::info!("configuration reloaded"),
            Err(e) => log::error!("reload failed, keeping the last good configuration: {e}"),
        },
        Err(_) => log::error!("reload skipped: scraper state poisoned"),
    }
}

/// Serves until SIGTERM or Ctrl-C; in-flight requests finish first.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let tracker = tokio_util_tracker::Tracker::default();
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
                let guard = tracker.enter();
                tokio::spawn(async move {
                    let _guard = guard;
                    let svc = hyper::service::service_fn(move |req| route(app.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = conn.await {
                        log::debug!("connection from {peer}: {e}");
                    }
                });
            }
            _ = hup.recv() => {
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || reload(&app)).await;
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    log::info!("shutting down; waiting for in-flight requests");
    tracker.wait(Duration::from_secs(10)).await;
    Ok(())
}

/// Counts live connections so shutdown can wait for them.
mod tokio_util_tracker {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Default, Clone)]
    pub struct Tracker(Arc<AtomicUsize>);
    pub struct Guard(Arc<AtomicUsize>);

    impl Tracker {
        pub fn enter(&self) -> Guard {
            self.0.fetch_add(1, Ordering::SeqCst);
            Guard(self.0.clone())
        }
        pub async fn wait(&self, max: Duration) {
            let deadline = tokio::time::Instant::now() + max;
            while self.0.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
