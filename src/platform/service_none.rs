//! `portwatch_exporter service` off Windows: a clear refusal.

/// Windows only; here it explains itself.
pub fn run_service(_main: impl FnOnce() -> std::process::ExitCode + Send + 'static) -> Result<(), String> {
    Err("`service` runs the exporter as a Windows service; on this system use systemd (deploy/systemd)".into())
}
