#![no_main]
//! The exporter's YAML config.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::config::{Config, Watches};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Config::parse(text, std::path::Path::new("fuzz.yml")) {
            if let Watches::Listed(w) = c.watches {
                assert!(w.iter().all(|w| w.port >= 1));
            }
        }
    }
});
