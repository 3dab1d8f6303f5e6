//! The TLS gate: the one file where the `tls` cargo feature appears. With
//! it, `tls_server_config` becomes a rustls acceptor and each connection
//! shakes hands under a timeout; without it, such a config is refused with
//! a clear error and there is no acceptor to hold.

use super::config::TlsServerConfig;
use std::net::SocketAddr;
use tokio::net::TcpStream;

#[cfg(feature = "tls")]
mod server_config;

/// Accepts TLS connections with the configured certificate.
#[cfg(feature = "tls")]
pub type Acceptor = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature no acceptor can exist.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub enum Acceptor {}

/// A connection after its handshake.
#[cfg(feature = "tls")]
pub type Stream = tokio_rustls::server::TlsStream<TcpStream>;
#[cfg(not(feature = "tls"))]
pub type Stream = TcpStream;

/// How long a client has to finish its handshake.
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The acceptor for a `tls_server_config`; errors name the file or setting.
pub fn acceptor(t: &TlsServerConfig) -> Result<Acceptor, String> {
    #[cfg(feature = "tls")]
    return server_config::server_config(t).map(Acceptor::from);
    #[cfg(not(feature = "tls"))]
    {
        let _ = t;
        Err("tls_server_config: this build has no TLS support (cargo feature `tls`)".into())
    }
}

/// The handshake, bounded in time; None (logged at debug) when it fails.
pub async fn handshake(acceptor: Acceptor, stream: TcpStream, peer: SocketAddr) -> Option<Stream> {
    #[cfg(feature = "tls")]
    return match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            log::debug!("TLS handshake with {peer}: {e}");
            None
        }
        Err(_) => {
            log::debug!("TLS handshake with {peer} timed out");
            None
        }
    };
    #[cfg(not(feature = "tls"))]
    {
        let _ = (stream, peer);
        match acceptor {}
    }
}
