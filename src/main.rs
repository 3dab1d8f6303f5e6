//! Parse flags, load config, wire things up. No logic lives here.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use portwatch_exporter::cli::{bind_address, BaselineCommand, CheckArgs, CheckOutput, Cli, Command};
use portwatch_exporter::scrape::{Collect, Scraper};
use portwatch_exporter::source::Paths;
use portwatch_exporter::web::{bind, serve, App, Options};
use portwatch_exporter::{check, logging, metrics, output};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_level, cli.log_format, cli.log_file.as_deref()) {
        eprintln!("portwatch_exporter: {e}");
        return ExitCode::from(check::CANNOT_RUN as u8);
    }
    // Taken first: it unsets LISTEN_FDS and friends, which is safe only before any thread starts.
    let inherited = match (cli.systemd_socket, &cli.command) {
        (true, None | Some(Command::Service)) => match portwatch_exporter::platform::systemd_socket::take() {
            Ok(l) => Some(l),
            Err(e) => {
                log::error!("--web.systemd-socket: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    for flag in cli.collectors.ignored(portwatch_exporter::source::collectors()) {
        log::warn!("--{flag}: no such collector on {}; ignored", portwatch_exporter::source::OS.as_str());
    }
    if !cli.netns_refresh.is_zero() && !cli.collectors.enabled().contains(portwatch_exporter::model::CollectorName::Netns) {
        log::warn!("--collector.netns.refresh-interval has no effect without --collector.netns");
    }
    // `check` reads once: no background reader for it.
    let netns_refresh = if cli.command.is_none() { cli.netns_refresh } else { std::time::Duration::ZERO };
    let paths = Paths { procfs: cli.procfs.clone(), rootfs: cli.rootfs.clone(), boot_applier: cli.boot_applier.applier(), netns_refresh };
    let collect = Collect {
        enabled: cli.collectors.enabled(),
        table: cli.socket_table,
        destinations: cli.destinations,
        nodeport: cli.nodeport_range,
    };
    let scraper = match Scraper::new(paths, cli.config_file.clone(), collect) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(check::CANNOT_RUN as u8);
        }
    };
    // The learned baseline: the server learns and writes it; `check` only reads it. Empty path: off.
    let storage = (!cli.storage_path.as_os_str().is_empty()).then(|| cli.storage_path.clone());
    let policy = portwatch_exporter::baseline::Policy {
        learn_after: cli.learn_after.as_secs(),
        forget_after: cli.forget_after.as_secs(),
        max_ports: cli.baseline_max_ports,
    };
    let scraper = match (&storage, &cli.command) {
        (None, _) => scraper,
        (Some(dir), Some(Command::Check(_) | Command::Baseline(_))) => scraper.with_baseline_read_only(dir),
        (Some(dir), _) => scraper.with_learning(dir, policy),
    };
    match cli.command {
        Some(Command::Check(args)) => run_check(scraper, &args),
        Some(Command::Baseline(action)) => run_baseline(scraper, storage.as_deref(), &action),
        Some(Command::Service) => match portwatch_exporter::platform::service::run_service(move || run_server(&cli, scraper, inherited)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log::error!("{e}");
                ExitCode::FAILURE
            }
        },
        None => run_server(&cli, scraper, inherited),
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

fn run_baseline(mut scraper: Scraper, storage: Option<&std::path::Path>, action: &BaselineCommand) -> ExitCode {
    use portwatch_exporter::baseline::command;
    let Some(dir) = storage else {
        log::error!("baseline: --storage.path is empty, so there is no baseline");
        return ExitCode::from(command::CANNOT_RUN as u8);
    };
    let (text, code) = match action {
        BaselineCommand::List => command::list(dir),
        BaselineCommand::Forget { port } => command::forget(dir, port),
        BaselineCommand::Accept => {
            let held = scraper.held_now(std::time::Instant::now() + std::time::Duration::from_secs(60));
            command::accept(dir, held, portwatch_exporter::baseline::learner::unix_now())
        }
    };
    if code == command::OK {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    ExitCode::from(code as u8)
}

/// Serves on the sockets systemd passed (`inherited`), or on every
/// --web.listen-address, each bound before any is served.
fn run_server(cli: &Cli, scraper: Scraper, inherited: Option<Vec<std::net::TcpListener>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(4).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            log::error!("starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
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
        let listeners = match inherited {
            Some(taken) => taken
                .into_iter()
                .map(tokio::net::TcpListener::from_std)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--web.systemd-socket: {e}"))?,
            None => bind(&cli.listen_addresses.iter().map(|a| bind_address(a)).collect::<Vec<_>>()).await?,
        };
        for l in &listeners {
            // The bound address, so ":0" logs the port the kernel picked.
            let bound = l.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string());
            log::info!("portwatch_exporter {} listening on {bound}", portwatch_exporter::cli::LONG_VERSION);
        }
        serve(app, listeners).await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
