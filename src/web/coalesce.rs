//! One collection at a time per key: scrapes that arrive while one runs
//! wait for, and share, its result. The key is what the scrape asks for
//! (its set of collectors), so scrapes asking for different sets never share
//! a body.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

type Inflight<K, T> = Arc<Mutex<HashMap<K, watch::Receiver<Option<T>>>>>;

pub struct Coalescer<K, T> {
    inflight: Inflight<K, T>,
}

impl<K, T> Default for Coalescer<K, T> {
    fn default() -> Self {
        Coalescer { inflight: Arc::new(Mutex::new(HashMap::new())) }
    }
}

/// Clears the in-flight marker even if the collection panics.
struct InflightGuard<K: Eq + Hash, T>(Inflight<K, T>, K);

impl<K: Eq + Hash, T> Drop for InflightGuard<K, T> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.lock() {
            g.remove(&self.1);
        }
    }
}

impl<K: Eq + Hash + Clone + Send + 'static, T: Clone + Send + Sync + 'static> Coalescer<K, T> {
    /// Runs `collect` on a blocking thread unless a run for the same key is
    /// in flight, then waits for that run's result until a second past `deadline`.
    pub async fn share(&self, key: K, deadline: Instant, collect: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let mut rx = {
            let mut g = self.inflight.lock().ok()?;
            match g.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    g.insert(key.clone(), rx.clone());
                    let guard = InflightGuard(self.inflight.clone(), key);
                    tokio::task::spawn_blocking(move || {
                        let body = collect();
                        drop(guard);
                        let _ = tx.send(Some(body));
                    });
                    rx
                }
            }
        };
        let waited = tokio::time::timeout_at((deadline + Duration::from_secs(1)).into(), rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simultaneous_scrapes_share_only_with_the_same_key() {
        let c = Arc::new(Coalescer::<u8, String>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(10);
        let scrape = |key: u8| {
            let (c, runs) = (c.clone(), runs.clone());
            tokio::spawn(async move {
                c.share(key, deadline, move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    format!("body {key}")
                })
                .await
            })
        };
        let tasks = [scrape(1), scrape(1), scrape(2)];
        let mut bodies = Vec::new();
        for t in tasks {
            bodies.push(t.await.expect("task").expect("body"));
        }
        assert_eq!(bodies, ["body 1", "body 1", "body 2"]);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one run per key");
        assert!(c.inflight.lock().expect("lock").is_empty(), "markers cleared");
    }
}
