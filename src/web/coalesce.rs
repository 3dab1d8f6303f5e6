//! One collection at a time: scrapes that arrive while one runs wait for,
//! and share, its result.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

type Inflight<T> = Arc<Mutex<Option<watch::Receiver<Option<T>>>>>;

pub struct Coalescer<T> {
    inflight: Inflight<T>,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Coalescer { inflight: Arc::new(Mutex::new(None)) }
    }
}

/// Clears the in-flight marker even if the collection panics.
struct InflightGuard<T>(Inflight<T>);

impl<T> Drop for InflightGuard<T> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Coalescer<T> {
    /// Runs `collect` on a blocking thread unless a run is in flight, then
    /// waits for that run's result until a second past `deadline`.
    pub async fn share(&self, deadline: Instant, collect: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let mut rx = {
            let mut g = self.inflight.lock().ok()?;
            match g.as_ref() {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *g = Some(rx.clone());
                    let guard = InflightGuard(self.inflight.clone());
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
