//! Systems without a source yet: range metrics are absent, not faked, and
//! the `platform` collector reports failure.

use super::{Collector, Paths, Request};
use crate::model::Snapshot;

pub struct Unsupported;

impl Unsupported {
    pub fn new(_paths: Paths) -> Unsupported {
        Unsupported
    }
    pub fn reset(&mut self) {}
    pub fn snapshot(&mut self, _req: &Request) -> Snapshot {
        let mut snap = Snapshot::default();
        Collector::<()>::record(&mut snap.collectors, "platform", false, &format!("no source for {} yet", std::env::consts::OS));
        snap
    }
}
