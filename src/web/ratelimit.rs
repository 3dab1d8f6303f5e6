//! The web config's `rate_limit`: a token bucket shared by every request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimit {
    bucket: Mutex<Bucket>,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit { bucket: Mutex::new(Bucket { tokens: f64::MAX, last: Instant::now() }) }
    }
}

impl RateLimit {
    /// Takes a token if one is left; `rate` is (one token per interval, burst).
    pub fn allow(&self, rate: Option<(Duration, u32)>) -> bool {
        let Some((interval, burst)) = rate else { return true };
        let Ok(mut b) = self.bucket.lock() else { return true };
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() / interval.as_secs_f64();
        b.tokens = (b.tokens.min(f64::from(burst)) + refill).min(f64::from(burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
