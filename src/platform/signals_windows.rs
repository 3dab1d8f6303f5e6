//! Windows: Ctrl-C, or a stop from the service control manager, stops the
//! server. There is no reload signal: use `POST /-/reload` with
//! --web.enable-lifecycle.

/// What the OS asked for.
pub enum Event {
    Stop,
    Reload,
}

pub struct Signals;

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    /// The next request from the OS.
    pub async fn next(&mut self) -> Event {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = super::service::stop_requested().notified() => {}
        }
        Event::Stop
    }
}
