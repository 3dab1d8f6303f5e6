#![no_main]
//! The exporter-toolkit web config (parse and validate; no files are read).
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::web::config::WebConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = WebConfig::parse(text) {
            assert!(c.validate().is_ok());
        }
    }
});
