//! The accept loop: connections admitted under the cap (`conns`), TLS
//! through the gate (`tls`), HTTP/1.1 with a header timeout; SIGHUP reloads,
//! SIGTERM or Ctrl-C stops, and requests in flight finish first.

use super::conns::{self, Conns, Ticket};
use super::live::Web;
use super::routes::{reload, reply};
use super::{tls, App, MAX_HEAD_BYTES};
use crate::platform::signals::{Event, Signals};
use hyper::header::HeaderValue;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        Some(acceptor) => match tls::handshake(acceptor, stream, peer).await {
            Some(tls) => serve_io(app, web, tls, ticket, peer.ip(), shutdown).await,
            None => return,
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
