//! `--web.config.file`: the Prometheus exporter-toolkit web configuration
//! (docs/web-configuration.md of prometheus/exporter-toolkit). Parsing and
//! validation only; `tls.rs` and `auth.rs` turn it into a server.

use crate::parse::yaml::{nesting_error, MAX_DEPTH};
use crate::platform::files;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("reading web config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("web config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// user -> bcrypt hash
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth_type: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; this server speaks HTTP/1.1.
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(with = "humantime_serde_compat")]
    pub interval: Duration,
    pub burst: u32,
}

/// Go-style durations ("1s", "500ms") through humantime.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// The headers the toolkit allows, with the values it accepts (None: any).
const HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Content-Security-Policy", None),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-XSS-Protection", None),
    ("Strict-Transport-Security", None),
];

impl WebConfig {
    /// Reads and validates a file; relative paths inside resolve against its directory.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text =
            files::read_text(path, files::cap::CONFIG).map_err(|source| WebConfigError::Read { path: path.to_path_buf(), source })?;
        let invalid = |message: String| WebConfigError::Invalid { path: path.to_path_buf(), message };
        let mut c = WebConfig::parse(&text).map_err(invalid)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(t) = &mut c.tls_server_config {
            for p in [&mut t.cert_file, &mut t.key_file, &mut t.client_ca_file].into_iter().flatten() {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        Ok(c)
    }

    /// Parses and validates text; file paths inside are left as written.
    pub fn parse(text: &str) -> Result<WebConfig, String> {
        if let Some(e) = nesting_error(text, MAX_DEPTH) {
            return Err(e);
        }
        let c: WebConfig =
            if text.trim().is_empty() { WebConfig::default() } else { serde_yaml_ng::from_str(text).map_err(|e| e.to_string())? };
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.tls_server_config {
            match (t.cert_file.is_some() || t.cert.is_some(), t.key_file.is_some() || t.key.is_some()) {
                (false, _) => return Err("tls_server_config: missing cert_file (or cert)".into()),
                (true, false) => return Err("tls_server_config: missing key_file (or key)".into()),
                _ => {}
            }
            if t.cert.is_some() && t.cert_file.is_some() {
                return Err("tls_server_config: give cert or cert_file, not both".into());
            }
            if t.key.is_some() && t.key_file.is_some() {
                return Err("tls_server_config: give key or key_file, not both".into());
            }
            let has_ca = t.client_ca_file.is_some() || t.client_ca.is_some();
            match t.client_auth_type {
                ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert if !has_ca => {
                    return Err(format!("tls_server_config: client_auth_type {:?} needs client_ca_file", t.client_auth_type));
                }
                ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
                    return Err(format!(
                        "tls_server_config: client_auth_type {:?} (accepting unverified certificates) is not supported: use RequireAndVerifyClientCert",
                        t.client_auth_type
                    ));
                }
                _ => {}
            }
            if !t.client_allowed_sans.is_empty() {
                return Err("tls_server_config: client_allowed_sans is not supported".into());
            }
            if !t.cipher_suites.is_empty() || !t.curve_preferences.is_empty() {
                return Err("tls_server_config: cipher_suites and curve_preferences are not supported (rustls picks safe defaults)".into());
            }
            if let (Some(min), Some(max)) = (t.min_version, t.max_version) {
                if min > max {
                    return Err("tls_server_config: min_version is above max_version".into());
                }
            }
            if t.max_version.is_some_and(|v| v < TlsVersion::TLS12) {
                return Err("tls_server_config: max_version below TLS12 is not supported".into());
            }
        }
        for (name, value) in &self.http_server_config.headers {
            let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| h.eq_ignore_ascii_case(name)) else {
                return Err(format!("http_server_config.headers: {name} is not one of the allowed headers"));
            };
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
                    return Err(format!("http_server_config.headers: invalid value {value:?} for {name}"));
                }
            }
            if value.contains(['\r', '\n']) {
                return Err(format!("http_server_config.headers: {name} has a line break"));
            }
        }
        for (user, hash) in &self.basic_auth_users {
            if user.contains(':') {
                return Err(format!("basic_auth_users: user {user:?} contains ':'"));
            }
            if bcrypt::HashParts::from_str(hash).is_err() {
                return Err(format!("basic_auth_users: the password of {user:?} is not a bcrypt hash"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        let c: WebConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|_| c)
    }

    const HASH: &str = "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze";

    #[test]
    fn toolkit_examples_parse() {
        let c = parse(&format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  alice: {HASH}\nrate_limit:\n  interval: 1s\n  burst: 20\n")).expect("valid");
        assert_eq!(c.tls_server_config.as_ref().map(|t| t.client_auth_type), Some(ClientAuth::RequireAndVerifyClientCert));
        assert_eq!(c.rate_limit.as_ref().map(|r| (r.interval, r.burst)), Some((Duration::from_secs(1), 20)));
        assert!(parse("").is_err() || parse("{}").is_ok());
    }

    #[test]
    fn bad_files_are_rejected_with_the_reason() {
        let cases = [
            ("tls_server_config:\n  key_file: k\n", "missing cert_file"),
            ("tls_server_config:\n  cert_file: c\n", "missing key_file"),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file"),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n", "unknown variant"),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n", "above max_version"),
            ("http_server_config:\n  headers:\n    X-Powered-By: me\n", "not one of the allowed"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "invalid value"),
            ("basic_auth_users:\n  bob: plaintext\n", "not a bcrypt hash"),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  colour: red\n", "unknown field"),
            ("basic_auth_user:\n  bob: x\n", "unknown field"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
