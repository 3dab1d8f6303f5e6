//! `--web.systemd-socket` off Unix: a clear refusal.

use std::net::TcpListener;

/// There is no systemd here; it explains itself.
pub fn take() -> Result<Vec<TcpListener>, String> {
    Err("--web.systemd-socket takes sockets from systemd socket activation, which this system does not have; use --web.listen-address"
        .into())
}
