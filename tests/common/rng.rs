//! The seeded generator the generated-case tests share (xorshift64): a
//! failing case replays from the seed the test prints.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn between(&mut self, lo: u16, hi: u16) -> u16 {
        lo + self.below(u64::from(hi - lo) + 1) as u16
    }
    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap_or('0')).collect()
    }
    /// A Kubernetes pod UID (8-4-4-4-12 hex digits).
    pub fn pod_uid(&mut self) -> String {
        format!("{}-{}-{}-{}-{}", self.hex(8), self.hex(4), self.hex(4), self.hex(4), self.hex(12))
    }
    /// Up to `max` bytes drawn from `alphabet`.
    pub fn text(&mut self, alphabet: &[u8], max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize]).collect()
    }
}
