//! Basic authentication against bcrypt hashes, with results cached the way
//! the exporter-toolkit does, and the same work for unknown users.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// Cached outcomes kept at most; the cache is emptied when full, so guessing
/// passwords cannot grow memory.
const CACHE_MAX: usize = 1024;

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
}

/// A hash to verify unknown users against, so they cost what known ones do.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| bcrypt::hash("portwatch-decoy-password", 10).unwrap_or_default())
}

/// (user, password) from an `Authorization: Basic ...` value.
pub fn parse_header(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth { users, cache: Mutex::new(HashMap::new()) }
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Blocking (bcrypt is slow by design): call from a blocking thread.
    pub fn verify(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(parse_header) else {
            return false;
        };
        let known = self.users.get(&user);
        let hash: &str = match known {
            Some(h) => h,
            None => decoy(),
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(hash)
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if let Some(ok) = self.cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return ok;
        }
        let ok = bcrypt::verify(&password, hash).unwrap_or(false) && known.is_some();
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(key, ok);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
    }

    #[test]
    fn right_wrong_and_unknown() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let auth = BasicAuth::new([("alice".to_string(), hash)].into());
        assert!(auth.verify(Some(&header("alice", "s3cret"))));
        assert!(auth.verify(Some(&header("alice", "s3cret"))), "cached result");
        assert!(!auth.verify(Some(&header("alice", "wrong"))));
        assert!(!auth.verify(Some(&header("mallory", "s3cret"))));
        assert!(!auth.verify(None));
        assert!(!auth.verify(Some("Bearer abc")));
        assert!(!auth.verify(Some("Basic !!!not-base64")));
        assert_eq!(parse_header(&header("a", "b:c")), Some(("a".into(), "b:c".into())));
    }
}
