//! SIGTERM and Ctrl-C stop the server; SIGHUP reloads the config.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// What the OS asked for.
pub enum Event {
    Stop,
    Reload,
}

pub struct Signals {
    term: Signal,
    hup: Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals { term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }

    /// The next request from the OS.
    pub async fn next(&mut self) -> Event {
        tokio::select! {
            _ = self.term.recv() => Event::Stop,
            _ = tokio::signal::ctrl_c() => Event::Stop,
            _ = self.hup.recv() => Event::Reload,
        }
    }
}
