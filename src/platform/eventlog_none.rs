//! `--log.file eventlog` off Windows: a clear refusal.

pub struct EventLog;

impl EventLog {
    pub fn open() -> Result<EventLog, String> {
        Err("--log.file eventlog: the event log exists only on Windows; give a file path, or leave it out for stderr".to_string())
    }

    pub fn write(&self, _level: log::Level, _line: &str) {}
}
