//! Helpers for the unit tests only.

/// A small seeded generator (xorshift) for generated test cases. The seed
/// comes from the environment variable when set, so a failing case replays.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_env(var: &str, default: u64) -> Rng {
        Rng(std::env::var(var).ok().and_then(|s| s.parse().ok()).filter(|s| *s != 0).unwrap_or(default))
    }

    /// A number below `n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
