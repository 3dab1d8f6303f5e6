//! The one collector runner every OS uses. A collector is a name and its
//! state behind a lock of its own; each run happens on a helper thread,
//! waited for until the scrape's deadline. A run that overstays is reported
//! as failed and keeps its lock until it returns, so the next scrape finds
//! the collector busy instead of piling up threads. [`Run`] holds the
//! snapshot being filled, the deadline and every collector's status.

use crate::model::{CollectorName, CollectorSet, CollectorStatus, Snapshot};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

pub(crate) struct Collector<S> {
    name: CollectorName,
    state: Arc<Mutex<S>>,
}

/// What a collector produced, and whether it fully succeeded: a collector
/// may hand back data and still report what it could not read.
pub(crate) struct Partial<T> {
    pub value: Option<T>,
    pub status: Result<(), String>,
}

impl<T> Partial<T> {
    pub(crate) fn failed(why: String) -> Partial<T> {
        Partial { value: None, status: Err(why) }
    }
}

impl<S: Send + 'static> Collector<S> {
    pub(crate) fn new(name: CollectorName, state: S) -> Collector<S> {
        Collector { name, state: Arc::new(Mutex::new(state)) }
    }

    /// Changes the state unless a run holds it.
    #[allow(dead_code)]
    pub(crate) fn with_state(&self, f: impl FnOnce(&mut S)) {
        match self.state.try_lock() {
            Ok(mut s) => f(&mut s),
            Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
            Err(TryLockError::WouldBlock) => {
                log::warn!(target: "portwatch_exporter::source", "collector {} is busy; its state was not reset", self.name)
            }
        }
    }

    /// Starts a collector that may produce data and still report failure.
    pub(crate) fn spawn_partial<T: Send + 'static>(&self, f: impl FnOnce(&mut S) -> Partial<T> + Send + 'static) -> Pending<T> {
        let state = self.state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name(format!("collector-{}", self.name)).spawn(move || {
            let out = match state.try_lock() {
                Ok(mut s) => f(&mut s),
                Err(TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
                Err(TryLockError::WouldBlock) => Partial::failed("still busy with an earlier scrape (a read stuck in the kernel?)".into()),
            };
            let _ = tx.send(out);
        });
        Pending { name: self.name, start: Instant::now(), rx: spawned.map(|_| rx).map_err(|e| format!("starting a thread: {e}")) }
    }

    /// Starts a collector that either produces its data or fails.
    pub(crate) fn spawn<T: Send + 'static>(&self, f: impl FnOnce(&mut S) -> Result<T, String> + Send + 'static) -> Pending<T> {
        self.spawn_partial(move |s| match f(s) {
            Ok(v) => Partial { value: Some(v), status: Ok(()) },
            Err(e) => Partial::failed(e),
        })
    }
}

/// A collector run in progress.
pub(crate) struct Pending<T> {
    name: CollectorName,
    start: Instant,
    rx: Result<std::sync::mpsc::Receiver<Partial<T>>, String>,
}

/// One scrape of one source: the snapshot being filled, the deadline and
/// the collectors asked for.
pub struct Run {
    pub(crate) snap: Snapshot,
    pub(crate) deadline: Instant,
    wanted: CollectorSet,
}

impl Run {
    /// Statuses are kept for the `wanted` collectors only: a source may run a
    /// collector that was not asked for when another needs its data, and
    /// that run leaves no trace in the snapshot.
    pub(crate) fn new(deadline: Instant, wanted: CollectorSet) -> Run {
        Run { snap: Snapshot::default(), deadline, wanted }
    }

    /// Waits for a collector until the deadline and records how it fared.
    pub(crate) fn wait<T>(&mut self, pending: Pending<T>) -> Option<T> {
        let until = self.deadline;
        self.wait_until(pending, until)
    }

    /// Waits until `until` at the latest (never past the deadline).
    pub(crate) fn wait_until<T>(&mut self, pending: Pending<T>, until: Instant) -> Option<T> {
        let until = until.min(self.deadline);
        let out = match pending.rx {
            Err(e) => Partial::failed(e),
            Ok(rx) => {
                rx.recv_timeout(until.saturating_duration_since(Instant::now())).unwrap_or_else(|_| Partial::failed("timed out".into()))
            }
        };
        self.push(pending.name, out.status, pending.start.elapsed());
        out.value
    }

    /// Like [`Run::wait_until`], but a collector still running at `until`
    /// is handed back, neither failed nor recorded, to be waited for later.
    // Only Linux has a collector (netns) whose data another may go without.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn ready_by<T>(&mut self, pending: Pending<T>, until: Instant) -> Result<Option<T>, Pending<T>> {
        if let Ok(rx) = &pending.rx {
            match rx.recv_timeout(until.min(self.deadline).saturating_duration_since(Instant::now())) {
                Ok(out) => {
                    self.push(pending.name, out.status, pending.start.elapsed());
                    return Ok(out.value);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(pending),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            }
        }
        Ok(self.wait(pending))
    }

    /// Runs a collector that either produces its data or fails, until the deadline.
    pub(crate) fn run<S: Send + 'static, T: Send + 'static>(
        &mut self,
        collector: &Collector<S>,
        f: impl FnOnce(&mut S) -> Result<T, String> + Send + 'static,
    ) -> Option<T> {
        let pending = collector.spawn(f);
        self.wait(pending)
    }

    /// Records a collector whose work was done by another (no time of its own).
    pub(crate) fn record(&mut self, name: CollectorName, success: bool, why: &str) {
        self.push(name, if success { Ok(()) } else { Err(why.to_string()) }, Duration::ZERO);
    }

    fn push(&mut self, name: CollectorName, status: Result<(), String>, duration: Duration) {
        if !self.wanted.contains(name) {
            if let Err(e) = &status {
                log::debug!(target: "portwatch_exporter::source", "collector {name} (not asked for, run for another's sake) failed: {e}");
            }
            return;
        }
        if let Err(e) = &status {
            log::warn!(target: "portwatch_exporter::source", "collector {name} failed: {e}");
        }
        self.snap.collectors.push(CollectorStatus { name, success: status.is_ok(), duration });
    }

    /// The snapshot, with every expected collector reported (one the source
    /// never reported counts as failed, never as fine), in the order given:
    /// the order of `CollectorName::for_os`, whatever order the waits took.
    pub(crate) fn finish(mut self, expected: impl Iterator<Item = CollectorName>) -> Snapshot {
        let expected: Vec<CollectorName> = expected.collect();
        for name in &expected {
            if !self.snap.collectors.iter().any(|c| c.name == *name) {
                self.record(*name, false, "the source did not report it");
            }
        }
        let position = |n: CollectorName| expected.iter().position(|e| *e == n).unwrap_or(expected.len());
        self.snap.collectors.sort_by_key(|c| position(c.name));
        self.snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_that_overstays_fails_alone_and_is_busy_next_time() {
        let slow = Collector::new(CollectorName::Sockets, ());
        let all: CollectorSet = CollectorName::ALL.into_iter().collect();
        let mut run = Run::new(Instant::now() + Duration::from_millis(50), all);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let got = run.run(&slow, move |_| {
            let _ = rx.recv_timeout(Duration::from_secs(5));
            Ok(1)
        });
        assert_eq!(got, None);
        let mut next = Run::new(Instant::now() + Duration::from_secs(5), all);
        assert_eq!(next.run(&slow, |_| Ok(2)), None, "the stuck run still holds the lock");
        assert!(!next.snap.collectors[0].success);
        drop(tx);
        let snap = run.finish([CollectorName::Owners, CollectorName::Sockets].into_iter());
        let names: Vec<_> = snap.collectors.iter().map(|c| (c.name, c.success)).collect();
        assert_eq!(
            names,
            vec![(CollectorName::Owners, false), (CollectorName::Sockets, false)],
            "a collector never reported fails; the declared order wins"
        );
    }

    #[test]
    fn a_collector_not_ready_by_the_time_is_handed_back_unrecorded_then_waited_for() {
        let slow = Collector::new(CollectorName::Netns, ());
        let all: CollectorSet = CollectorName::ALL.into_iter().collect();
        let mut run = Run::new(Instant::now() + Duration::from_secs(10), all);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let pending = slow.spawn(move |_| {
            let _ = rx.recv_timeout(Duration::from_secs(5));
            Ok(7)
        });
        let Err(pending) = run.ready_by(pending, Instant::now() + Duration::from_millis(20)) else { panic!("ready too soon") };
        assert!(run.snap.collectors.is_empty(), "nothing recorded while it runs");
        drop(tx);
        assert_eq!(run.wait(pending), Some(7));
        assert_eq!(run.snap.collectors.iter().map(|c| (c.name, c.success)).collect::<Vec<_>>(), vec![(CollectorName::Netns, true)]);
        let quick = run.ready_by(slow.spawn(|_| Ok(8)), Instant::now() + Duration::from_secs(5));
        assert!(matches!(quick, Ok(Some(8))));
    }

    #[test]
    fn a_collector_not_asked_for_leaves_no_status() {
        let sysctl = Collector::new(CollectorName::Sysctl, ());
        let wanted: CollectorSet = [CollectorName::Ephemeral].into_iter().collect();
        let mut run = Run::new(Instant::now() + Duration::from_secs(5), wanted);
        assert_eq!(run.run(&sysctl, |_| Ok(7)), Some(7), "its data still reaches the collector that needs it");
        run.record(CollectorName::Ephemeral, true, "");
        let snap = run.finish([CollectorName::Ephemeral].into_iter());
        let names: Vec<_> = snap.collectors.iter().map(|c| c.name).collect();
        assert_eq!(names, vec![CollectorName::Ephemeral]);
    }
}
