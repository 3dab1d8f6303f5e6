//! Parse flags, load config, wire things up. No logic lives here.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use portwatch_exporter::cli::{bind_address, CheckArgs, CheckOutput, Cli, Command};
use portwatch_exporter::scrape::{Collect, Scraper};
use portwatch_exporter::source::Paths;
use portwatch_exporter::web::{serve, App, Options};
use portwatch_exporter::{check, logging, metrics, output};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_level, cli.log_format, cli.log_file.as_deref()) {
        eprintln!("portwatch_exporter: {e}");
        return ExitCode::from(check::CANNOT_RUN as u8);
    }
    let paths = Paths { procfs: cli.procfs.clone(), rootfs: cli.rootfs.clone(), boot_applier: cli.boot_applier.applier() };
    let scraper = match Scraper::new(paths, cli.config_file.clone(), Collect { ephemeral: !cli.no_ephemeral, table: cli.socket_table }) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(check::CANNOT_RUN as u8);
        }
    };
    match cli.command {
        Some(Command::Check(args)) => run_check(scraper, &args),
        Some(Command::Service) => match portwatch_exporter::platform::service::run_service(move || run_server(&cli, scraper)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log::error!("{e}");
                ExitCode::FAILURE
            }
        },
        None => run_server(&cli, scraper),
    }
}

fn run_check(mut scraper: Scraper, args: &CheckArgs) -> ExitCode {
    let report = scraper.report(std::time::Instant::now() + std::time::Duration::from_secs(60));
    let (text, code) = check::render(&report, portwatch_exporter::source::OS);
    match args.output {
        CheckOutput::Table => print!("{text}"),
        CheckOutput::Json => print!("{}", output::json(&report, code)),
        CheckOutput::Textfile => {
            let Some(path) = &args.output_file else {
                log::error!("--output textfile needs --output.file PATH (a *.prom file in node_exporter's textfile directory)");
                return ExitCode::from(check::CANNOT_RUN as u8);
            };
            // The text format, which node_exporter's textfile collector reads; no process_* of this short run.
            let body = metrics::render(&report, scraper.meta(), metrics::Format::Text);
            if let Err(e) = output::write_atomically(path, body.as_bytes()) {
                log::error!("writing {}: {e}", path.display());
                return ExitCode::from(check::CANNOT_RUN as u8);
            }
        }
    }
    ExitCode::from(code as u8)
}

fn run_server(cli: &Cli, scraper: Scraper) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(4).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            log::error!("starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = bind_address(&cli.listen_address);
    let opts = Options {
        telemetry_path: cli.telemetry_path.clone(),
        web_config: cli.web_config.clone(),
        enable_lifecycle: cli.enable_lifecycle,
        max_connections: cli.max_connections,
        max_requests: cli.max_requests,
        timeout_margin: cli.timeout_margin,
        header_timeout: cli.header_timeout,
    };
    let app = match App::new(scraper.with_self_metrics(), opts) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("listening on {addr}: {e}"))?;
        // The bound address, so ":0" logs the port the kernel picked.
        let bound = listener.local_addr().map_or(addr, |a| a.to_string());
        log::info!("portwatch_exporter {} listening on {bound}", portwatch_exporter::cli::LONG_VERSION);
        serve(app, listener).await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
