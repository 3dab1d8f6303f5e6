//! A small `log` backend writing logfmt or JSON lines, like the Prometheus
//! exporters' `--log.format`: to stderr, to a file, or (`--log.file
//! eventlog`, as windows_exporter has it) to the Windows event log.

use crate::cli::{LogFormat, LogLevel};
use crate::platform::eventlog::EventLog;
use std::io::Write;
use std::path::Path;

/// Where lines go.
enum Sink {
    Stderr,
    File(std::sync::Mutex<std::fs::File>),
    EventLog(EventLog),
}

struct Logger {
    format: LogFormat,
    sink: Sink,
}

/// The `--log.file` value that means the Windows event log.
pub const EVENTLOG: &str = "eventlog";

fn quote_logfmt(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '"', '=', '\n']) {
        return s.to_string();
    }
    format!("{s:?}")
}

fn quote_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One formatted line, without the trailing newline.
pub fn format_line(format: LogFormat, ts: &str, level: &str, target: &str, msg: &str) -> String {
    match format {
        LogFormat::Logfmt => format!("ts={ts} level={level} source={} msg={}", quote_logfmt(target), quote_logfmt(msg)),
        LogFormat::Json => format!(
            "{{\"ts\":{},\"level\":{},\"source\":{},\"msg\":{}}}",
            quote_json(ts),
            quote_json(level),
            quote_json(target),
            quote_json(msg)
        ),
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("portwatch")
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let level = r.level().as_str().to_ascii_lowercase();
        let line = format_line(self.format, &ts, &level, r.target(), &r.args().to_string());
        match &self.sink {
            Sink::File(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
            Sink::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Sink::EventLog(e) => e.write(r.level(), &line),
        }
    }
    fn flush(&self) {}
}

/// Sets up logging; a log file (or event log) that cannot be opened is an error.
pub fn init(level: LogLevel, format: LogFormat, file: Option<&Path>) -> Result<(), String> {
    let filter = match level {
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Error => log::LevelFilter::Error,
    };
    let sink = match file {
        Some(p) if p == Path::new(EVENTLOG) => Sink::EventLog(EventLog::open()?),
        Some(p) => Sink::File(std::sync::Mutex::new(
            std::fs::OpenOptions::new().create(true).append(true).open(p).map_err(|e| format!("opening log file {}: {e}", p.display()))?,
        )),
        None => Sink::Stderr,
    };
    if log::set_boxed_logger(Box::new(Logger { format, sink })).is_ok() {
        log::set_max_level(filter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_and_json_quote_what_needs_quoting() {
        let l = format_line(LogFormat::Logfmt, "t", "info", "portwatch_exporter", "listening on [::]:9795");
        assert_eq!(l, "ts=t level=info source=portwatch_exporter msg=\"listening on [::]:9795\"");
        let j = format_line(LogFormat::Json, "t", "warn", "x", "a \"b\"\n");
        assert_eq!(j, r#"{"ts":"t","level":"warn","source":"x","msg":"a \"b\"\u000a"}"#);
    }
}
