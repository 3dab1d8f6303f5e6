//! The Windows event log, for `--log.file eventlog` (windows_exporter's
//! convention): each line becomes an Application-log event from the source
//! `portwatch_exporter`, as error, warning or information. Register the
//! source once (README: Windows service) so Event Viewer shows the text
//! without a "description cannot be found" preamble.

use super::wide;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

pub const SOURCE: &str = "portwatch_exporter";

pub struct EventLog(HANDLE);

// SAFETY: an event source handle may be used from any thread; ReportEventW
// serialises internally.
unsafe impl Send for EventLog {}
// SAFETY: as above; the handle is never changed after it is opened.
unsafe impl Sync for EventLog {}

impl EventLog {
    pub fn open() -> Result<EventLog, String> {
        let name = wide(SOURCE);
        // SAFETY: a NUL-terminated name; a null server means this machine.
        let h = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        if h.is_null() {
            return Err(format!("opening the event log: {}", std::io::Error::last_os_error()));
        }
        Ok(EventLog(h))
    }

    pub fn write(&self, level: log::Level, line: &str) {
        let kind = match level {
            log::Level::Error => EVENTLOG_ERROR_TYPE,
            log::Level::Warn => EVENTLOG_WARNING_TYPE,
            _ => EVENTLOG_INFORMATION_TYPE,
        };
        let text = wide(line);
        let strings = [text.as_ptr()];
        // SAFETY: one NUL-terminated string, no raw data, no SID.
        unsafe { ReportEventW(self.0, kind, 0, 1, std::ptr::null_mut(), 1, 0, strings.as_ptr(), std::ptr::null()) };
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // SAFETY: the handle we opened, closed once.
        unsafe { DeregisterEventSource(self.0) };
    }
}
