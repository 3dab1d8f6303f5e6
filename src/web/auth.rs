//! Basic authentication against bcrypt hashes, with results cached the way
//! the exporter-toolkit does, and the same work for unknown users. A cached
//! answer is given at once, without a thread; bcrypt itself runs through a
//! [`HashGate`]: one hash at a time, a few waiting per peer and overall, so
//! a crowd guessing passwords gets 429 instead of queueing a valid user's
//! scrape behind its hashes.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{watch, Semaphore};

/// Failed guesses remembered at most; the set is emptied when full, so
/// guessing passwords cannot grow memory.
const FAILED_MAX: usize = 1024;
/// Successful logins remembered at most. Only a right password adds one,
/// so a flood of guesses never pushes a valid user's entry out.
const GOOD_MAX: usize = 64;
/// bcrypt hashes computed at once (the rest of the blocking pool stays free for scrapes).
const HASHING: usize = 1;
/// Hashes waiting or running, per peer address and overall.
const WAITING_PER_PEER: usize = 4;
const WAITING_MAX: usize = 32;

type Key = [u8; 32];

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    good: Mutex<HashSet<Key>>,
    failed: Mutex<HashSet<Key>>,
}

/// What a header needs: an answer now, or a bcrypt hash.
pub enum Check {
    Decided(bool),
    Hash(Job),
}

pub struct Job {
    key: Key,
    password: String,
    hash: String,
    known: bool,
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

fn remember(set: &Mutex<HashSet<Key>>, key: Key, max: usize) {
    if let Ok(mut c) = set.lock() {
        if c.len() >= max {
            c.clear();
        }
        c.insert(key);
    }
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth { users, good: Mutex::new(HashSet::new()), failed: Mutex::new(HashSet::new()) }
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Answers from the header and the caches alone, or says a hash is needed.
    pub fn check(&self, header: Option<&str>) -> Check {
        let Some((user, password)) = header.and_then(parse_header) else {
            return Check::Decided(false);
        };
        let known = self.users.get(&user);
        let hash: &str = match known {
            Some(h) => h,
            None => decoy(),
        };
        let key: Key = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(hash)
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self.good.lock().is_ok_and(|c| c.contains(&key)) {
            return Check::Decided(true);
        }
        if self.failed.lock().is_ok_and(|c| c.contains(&key)) {
            return Check::Decided(false);
        }
        Check::Hash(Job { key, password, hash: hash.to_string(), known: known.is_some() })
    }

    /// Blocking (bcrypt is slow by design): call from a blocking thread.
    pub fn finish(&self, job: &Job) -> bool {
        let ok = bcrypt::verify(&job.password, &job.hash).unwrap_or(false) && job.known;
        if ok {
            remember(&self.good, job.key, GOOD_MAX);
        } else {
            remember(&self.failed, job.key, FAILED_MAX);
        }
        ok
    }

    /// [`check`](Self::check) then, if need be, [`finish`](Self::finish): blocking.
    #[cfg(test)]
    pub fn verify(&self, header: Option<&str>) -> bool {
        match self.check(header) {
            Check::Decided(ok) => ok,
            Check::Hash(job) => self.finish(&job),
        }
    }
}

/// Bounds bcrypt work: [`HASHING`] hashes at once, FIFO, at most
/// [`WAITING_PER_PEER`] queued per peer address and [`WAITING_MAX`] overall.
/// Identical credentials arriving together (100 scrapers starting with one
/// password) share one hash instead of queueing one each.
pub struct HashGate {
    run: Arc<Semaphore>,
    waiting: Mutex<HashMap<IpAddr, usize>>,
    inflight: Mutex<HashMap<Key, watch::Receiver<Option<bool>>>>,
}

/// Clears a hash's in-flight entry, however its task ends.
struct Inflight<'a>(&'a HashGate, Key);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.0.inflight.lock() {
            m.remove(&self.1);
        }
    }
}

/// Frees a peer's place in the queue on drop.
struct Place<'a>(&'a HashGate, IpAddr);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.0.waiting.lock() {
            if let Some(n) = w.get_mut(&self.1) {
                *n -= 1;
                if *n == 0 {
                    w.remove(&self.1);
                }
            }
        }
    }
}

impl Default for HashGate {
    fn default() -> Self {
        HashGate { run: Arc::new(Semaphore::new(HASHING)), waiting: Mutex::new(HashMap::new()), inflight: Mutex::new(HashMap::new()) }
    }
}

impl HashGate {
    fn place(&self, peer: IpAddr) -> Option<Place<'_>> {
        let mut w = self.waiting.lock().ok()?;
        let total: usize = w.values().sum();
        let mine = w.entry(peer).or_insert(0);
        if *mine >= WAITING_PER_PEER || total >= WAITING_MAX {
            return None;
        }
        *mine += 1;
        Some(Place(self, peer))
    }

    /// Is this header authorized? None: too many hashes queued, refuse (429).
    pub async fn authorize(&self, auth: &Arc<BasicAuth>, header: Option<String>, peer: IpAddr) -> Option<bool> {
        let job = match auth.check(header.as_deref()) {
            Check::Decided(ok) => return Some(ok),
            Check::Hash(job) => job,
        };
        let (tx, rx) = watch::channel(None);
        let shared = {
            let mut m = self.inflight.lock().ok()?;
            match m.get(&job.key) {
                Some(rx) => Some(rx.clone()),
                None => {
                    m.insert(job.key, rx);
                    None
                }
            }
        };
        if let Some(mut rx) = shared {
            return rx.wait_for(Option::is_some).await.ok().and_then(|v| *v);
        }
        let _inflight = Inflight(self, job.key);
        let _place = self.place(peer)?;
        let _permit = self.run.clone().acquire_owned().await.ok()?;
        let auth = auth.clone();
        let ok = tokio::task::spawn_blocking(move || auth.finish(&job)).await.ok()?;
        let _ = tx.send(Some(ok));
        Some(ok)
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

    #[test]
    fn a_flood_of_guesses_never_evicts_a_valid_login() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let auth = BasicAuth::new([("alice".to_string(), hash)].into());
        assert!(auth.verify(Some(&header("alice", "s3cret"))));
        for i in 0..FAILED_MAX + 10 {
            let Check::Hash(job) = auth.check(Some(&header("alice", &format!("guess{i}")))) else { panic!("a new guess needs a hash") };
            // Recorded as failed without paying for each hash here.
            remember(&auth.failed, job.key, FAILED_MAX);
        }
        assert!(matches!(auth.check(Some(&header("alice", "s3cret"))), Check::Decided(true)), "still cached");
    }

    #[tokio::test]
    async fn the_gate_refuses_a_peer_over_its_share_and_serves_others() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let auth = Arc::new(BasicAuth::new([("alice".to_string(), hash)].into()));
        let gate = HashGate::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let places: Vec<_> = (0..WAITING_PER_PEER).map(|_| gate.place(a).expect("a place")).collect();
        assert!(gate.authorize(&auth, Some(header("alice", "guess")), a).await.is_none(), "over its share: refused");
        assert_eq!(gate.authorize(&auth, Some(header("alice", "s3cret")), b).await, Some(true), "another peer is served");
        drop(places);
        assert_eq!(gate.authorize(&auth, Some(header("alice", "nope")), a).await, Some(false), "its places freed");
        // Many at once with one password: one hash, all answered, none refused.
        let auth2 = Arc::new(BasicAuth::new([("bob".to_string(), bcrypt::hash("pw", 4).expect("hash"))].into()));
        let gate = Arc::new(gate);
        let all: Vec<_> = (0..4 * WAITING_MAX)
            .map(|_| {
                let (gate, auth2) = (gate.clone(), auth2.clone());
                tokio::spawn(async move { gate.authorize(&auth2, Some(header("bob", "pw")), a).await })
            })
            .collect();
        for t in all {
            assert_eq!(t.await.expect("task"), Some(true));
        }
    }
}
