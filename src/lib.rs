#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! portwatch_exporter: who holds each watched port, and will it still be
//! free after a reboot. See ARCHITECTURE.md for the map.

pub mod assess;
pub mod boot;
pub mod check;
pub mod cli;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod output;
pub mod parse;
pub mod platform;
pub mod remedy;
pub mod scrape;
pub mod source;
pub mod web;
