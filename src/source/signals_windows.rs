//! Ctrl-C (and Ctrl-Break) stop the server; Windows has no reload signal:
//! use `POST /-/reload` with --web.enable-lifecycle.

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
        let _ = tokio::signal::ctrl_c().await;
        Event::Stop
    }
}
