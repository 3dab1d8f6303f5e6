//! The web config in force (`--web.config.file`): TLS, basic auth, headers
//! and the rate limit, re-read whenever the file changes; a bad file is
//! logged and the last good one stays in force.

use super::auth::BasicAuth;
use super::config::WebConfig;
use super::tls;
use hyper::header::{HeaderName, HeaderValue};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The web configuration in force, ready to serve with.
pub struct Web {
    pub tls: Option<tls::Acceptor>,
    pub auth: Arc<BasicAuth>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate: Option<(Duration, u32)>,
}

fn build_web(c: &WebConfig) -> Result<Web, String> {
    let tls = c.tls_server_config.as_ref().map(tls::acceptor).transpose()?;
    let mut headers = Vec::new();
    for (k, v) in &c.http_server_config.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
        let value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
        headers.push((name, value));
    }
    let rate = c.rate_limit.as_ref().filter(|r| !r.interval.is_zero()).map(|r| (r.interval, r.burst.max(1)));
    Ok(Web { tls, auth: Arc::new(BasicAuth::new(c.basic_auth_users.clone())), headers, rate })
}

/// The file's identity (modification time, length); a change means "read it again".
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// Re-reads the web config when the file changes; a bad file is logged and
/// kept out, and the last good one stays in force.
pub struct WebState {
    path: Option<PathBuf>,
    current: Mutex<(Stamp, Arc<Web>)>,
}

impl WebState {
    /// Fails when the web config given at start is invalid.
    pub fn new(path: Option<PathBuf>) -> Result<WebState, String> {
        let web = WebState::load(path.as_ref())?;
        let stamp = path.as_ref().and_then(stamp);
        Ok(WebState { path, current: Mutex::new((stamp, Arc::new(web))) })
    }

    fn load(path: Option<&PathBuf>) -> Result<Web, String> {
        match path {
            Some(p) => build_web(&WebConfig::load(p).map_err(|e| e.to_string())?).map_err(|e| format!("web config {}: {e}", p.display())),
            None => build_web(&WebConfig::default()),
        }
    }

    pub fn current(&self) -> Option<Arc<Web>> {
        let mut g = self.current.lock().ok()?;
        if let Some(path) = &self.path {
            let now = stamp(path);
            if now != g.0 {
                g.0 = now;
                match WebState::load(Some(path)) {
                    Ok(web) => {
                        log::info!("web config {} reloaded", path.display());
                        g.1 = Arc::new(web);
                    }
                    Err(e) => log::error!("{e}; keeping the previous web config"),
                }
            }
        }
        Some(g.1.clone())
    }
}
