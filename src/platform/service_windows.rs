//! Running as a Windows service: the service control manager starts the
//! exporter (`portwatch_exporter service`) and stops it; a stop reaches the
//! server as `signals::Event::Stop`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use windows_service::service::{ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// Set by the service control handler on SERVICE_CONTROL_STOP.
pub(crate) fn stop_requested() -> &'static tokio::sync::Notify {
    static STOP: OnceLock<tokio::sync::Notify> = OnceLock::new();
    STOP.get_or_init(tokio::sync::Notify::new)
}

pub const SERVICE_NAME: &str = "portwatch_exporter";

type Main = Box<dyn FnOnce() -> ExitCode + Send>;

fn pending_main() -> &'static Mutex<Option<Main>> {
    static MAIN: OnceLock<Mutex<Option<Main>>> = OnceLock::new();
    MAIN.get_or_init(|| Mutex::new(None))
}

define_windows_service!(ffi_service_main, service_main);

fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(20),
        process_id: None,
    }
}

fn service_main(args: Vec<OsString>) {
    // The SCM passes the installed name first; it need not be the default.
    let name = args.first().cloned().unwrap_or_else(|| OsString::from(SERVICE_NAME));
    let handler = service_control_handler::register(name, |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            stop_requested().notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    });
    let Ok(handle) = handler else {
        log::error!("registering the service control handler failed");
        return;
    };
    let _ = handle.set_service_status(status(ServiceState::Running, ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN, 0));
    let main = pending_main().lock().ok().and_then(|mut m| m.take());
    let code = main.map(|f| f()).unwrap_or(ExitCode::FAILURE);
    let failed = code != ExitCode::SUCCESS;
    let _ = handle.set_service_status(status(ServiceState::Stopped, ServiceControlAccept::empty(), u32::from(failed)));
}

/// Runs `main` under the service control manager; fails when the process
/// was not started by it (for example from a console).
pub fn run_service(main: impl FnOnce() -> ExitCode + Send + 'static) -> Result<(), String> {
    if let Ok(mut m) = pending_main().lock() {
        *m = Some(Box::new(main));
    }
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| {
        format!("not started by the Windows service control manager ({e}); install it with sc.exe or New-Service, see the README")
    })
}
