//! Binding, and the accept loop: connections from every listener admitted
//! under one cap (`conns`), TLS through the gate (`tls`), HTTP/1.1 with a
//! header timeout; SIGHUP reloads, SIGTERM or Ctrl-C stops every listener,
//! and requests in flight finish first.

use super::conns::{self, Conns, Ticket};
use super::live::Web;
use super::routes::{reload, reply};
use super::{tls, App, MAX_HEAD_BYTES};
use crate::platform::signals::{Event, Signals};
use hyper::header::HeaderValue;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
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

async fn connection(app: Arc<App>, stream: TcpStream, peer: SocketAddr, ticket: Arc<Ticket>, shutdown: watch::Receiver<bool>) {
    let Some(web) = app.web.current() else { return };
    let result = match web.tls.clone() {
        Some(acceptor) => match tls::handshake(acceptor, stream, peer).await {
            Some(tls) => serve_io(app, web, tls, ticket, peer.ip(), shutdown).await,
            None => return,
        },
        None => serve_io(app, web, stream, ticket, peer.ip(), shutdown).await,
    };
    if let Err(e) = result {
        log::debug!(target: "portwatch_exporter::web", "connection from {peer}: {e}");
    }
}

/// Binds every address (in `host:port` form) before any is served; one that
/// cannot be bound is an error naming it.
pub async fn bind(addrs: &[String]) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        listeners.push(TcpListener::bind(addr).await.map_err(|e| format!("listening on {addr}: {e}"))?);
    }
    Ok(listeners)
}

/// The next connection on any listener. Each look starts one listener past
/// the last that gave one, so a busy listener starves none.
async fn accept_any(listeners: &[TcpListener], next: &mut usize) -> std::io::Result<(TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        let n = listeners.len();
        for (i, l) in listeners.iter().enumerate().cycle().skip(*next % n.max(1)).take(n) {
            if let Poll::Ready(r) = l.poll_accept(cx) {
                *next = i + 1;
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    })
    .await
}

/// Serves every listener until SIGTERM or Ctrl-C; in-flight requests finish
/// first. The connection cap and the shutdown cover all listeners together.
pub async fn serve(app: Arc<App>, listeners: Vec<TcpListener>) -> std::io::Result<()> {
    if listeners.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on"));
    }
    let mut signals = Signals::new()?;
    let connections = Conns::new(app.opts.max_connections);
    let (stop, stopped) = watch::channel(false);
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = accept_any(&listeners, &mut next) => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        log::warn!(target: "portwatch_exporter::web", "accept: {e}");
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
                        () = ticket.evicted() => log::debug!(target: "portwatch_exporter::web", "closing {peer} to make room"),
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
    drop(listeners);
    log::info!(target: "portwatch_exporter::web", "shutting down; waiting for in-flight requests");
    let _ = stop.send(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while connections.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
