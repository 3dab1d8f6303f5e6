//! Systems without a source yet: range metrics are absent, not faked, and
//! the `platform` collector reports failure.

use super::{OsSource, Paths, Request, Run};
use crate::model::{CollectorName, Os};

pub struct Unsupported;

impl OsSource for Unsupported {
    const OS: Os = Os::Other;

    fn new(_paths: Paths) -> Unsupported {
        Unsupported
    }

    fn collect(&mut self, run: &mut Run, _req: &Request) {
        run.record(CollectorName::Platform, false, &format!("no source for {} yet", std::env::consts::OS));
    }
}
