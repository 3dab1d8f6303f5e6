//! A rustls server configuration from the toolkit's `tls_server_config` (built only with the `tls` feature).

use crate::platform::files;
use crate::web::config::{ClientAuth, TlsServerConfig, TlsVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// A PEM file, read with the cap for its kind: a device or FIFO named as a
/// certificate is refused, never read without end.
fn pem_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    files::read_bytes(path, files::cap::PEM).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn certs(inline: Option<&String>, file: Option<&Path>, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let parsed: Result<Vec<_>, _> = match (inline, file) {
        (Some(pem), _) => CertificateDer::pem_slice_iter(pem.as_bytes()).collect(),
        (None, Some(path)) => CertificateDer::pem_slice_iter(&pem_file(path, what)?).collect(),
        (None, None) => return Ok(Vec::new()),
    };
    let certs = parsed.map_err(|e| format!("{what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate found"));
    }
    Ok(certs)
}

fn key(inline: Option<&String>, file: Option<&Path>) -> Result<PrivateKeyDer<'static>, String> {
    match (inline, file) {
        (Some(pem), _) => PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("key: {e}")),
        (None, Some(path)) => {
            PrivateKeyDer::from_pem_slice(&pem_file(path, "key_file")?).map_err(|e| format!("key_file {}: {e}", path.display()))
        }
        (None, None) => Err("missing key".into()),
    }
}

fn versions(t: &TlsServerConfig) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let min = t.min_version.unwrap_or(TlsVersion::TLS12);
    let max = t.max_version.unwrap_or(TlsVersion::TLS13);
    let mut v = Vec::new();
    if min <= TlsVersion::TLS12 && max >= TlsVersion::TLS12 {
        v.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::TLS13 {
        v.push(&rustls::version::TLS13);
    }
    v
}

/// Builds the server side of TLS; errors name the file or setting.
pub fn server_config(t: &TlsServerConfig) -> Result<Arc<ServerConfig>, String> {
    if t.min_version.is_some_and(|v| v < TlsVersion::TLS12) {
        log::warn!("TLS below 1.2 is not offered; min_version is raised to TLS12");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(t))
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match t.client_auth_type {
        ClientAuth::NoClientCert => builder.with_no_client_auth(),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = RootCertStore::empty();
            for c in certs(t.client_ca.as_ref(), t.client_ca_file.as_deref(), "client_ca_file")? {
                roots.add(c).map_err(|e| format!("client_ca_file: {e}"))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if t.client_auth_type == ClientAuth::VerifyClientCertIfGiven { v.allow_unauthenticated() } else { v };
            builder.with_client_cert_verifier(v.build().map_err(|e| format!("client verifier: {e}"))?)
        }
        other => return Err(format!("client_auth_type {other:?} is not supported")),
    };
    let chain = certs(t.cert.as_ref(), t.cert_file.as_deref(), "cert_file")?;
    let mut config =
        builder.with_single_cert(chain, key(t.key.as_ref(), t.key_file.as_deref())?).map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
