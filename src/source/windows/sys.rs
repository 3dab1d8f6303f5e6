//! The Windows API calls, and all `unsafe` of the Windows source but the
//! event log's (`eventlog.rs`): socket tables, process identity, services,
//! registry.

use crate::model::Process;
use crate::platform::wide;
use std::collections::HashMap;
use std::ffi::c_void;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA, HANDLE, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, TCP_TABLE_OWNER_PID_ALL, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::Security::{GetTokenInformation, LookupAccountSidW, TokenUser, TOKEN_QUERY, TOKEN_USER};
use windows_sys::Win32::System::Registry::{RegCloseKey, RegOpenKeyExW, RegQueryValueExW, HKEY, HKEY_LOCAL_MACHINE, KEY_READ};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, EnumServicesStatusExW, OpenSCManagerW, ENUM_SERVICE_STATUS_PROCESSW, SC_ENUM_PROCESS_INFO,
    SC_MANAGER_ENUMERATE_SERVICE, SERVICE_ACTIVE, SERVICE_WIN32,
};
use windows_sys::Win32::System::Threading::{OpenProcess, OpenProcessToken, QueryFullProcessImageNameW, PROCESS_QUERY_LIMITED_INFORMATION};

/// A UTF-16 buffer up to its first NUL.
fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}

/// Calls a size-probing table API until the buffer fits; u32 storage keeps rows aligned.
fn table(call: impl Fn(*mut c_void, &mut u32) -> u32) -> Result<Vec<u8>, String> {
    let mut size: u32 = 64 * 1024;
    for _ in 0..8 {
        let mut buf = vec![0u32; (size as usize).div_ceil(4)];
        let mut got = size;
        match call(buf.as_mut_ptr().cast(), &mut got) {
            NO_ERROR => {
                let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).take(got as usize).collect();
                return Ok(bytes);
            }
            ERROR_INSUFFICIENT_BUFFER => size = got.saturating_add(16 * 1024),
            e => return Err(format!("error {e}")),
        }
    }
    Err("the table kept growing".into())
}

/// (tcp4, tcp6, udp4, udp6) raw tables.
pub fn socket_tables() -> Result<[Vec<u8>; 4], String> {
    // SAFETY: each call writes at most `size` bytes into a buffer of that size.
    let tcp = |af: u16| table(|p, s| unsafe { GetExtendedTcpTable(p, s, 0, u32::from(af), TCP_TABLE_OWNER_PID_ALL, 0) });
    let udp = |af: u16| table(|p, s| unsafe { GetExtendedUdpTable(p, s, 0, u32::from(af), UDP_TABLE_OWNER_PID, 0) });
    Ok([tcp(AF_INET)?, tcp(AF_INET6)?, udp(AF_INET)?, udp(AF_INET6)?])
}

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle we opened, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn user_of(process: &Handle) -> Option<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: valid process handle; token receives a new handle.
    if unsafe { OpenProcessToken(process.0, TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let token = Handle(token);
    let mut len = 0u32;
    // SAFETY: first call asks for the size.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: buffer of at least `len` bytes, 8-aligned.
    if unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) } == 0 {
        return None;
    }
    // SAFETY: the buffer now holds a TOKEN_USER.
    let sid = unsafe { (*(buf.as_ptr() as *const TOKEN_USER)).User.Sid };
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    let (mut n, mut d, mut kind) = (256u32, 256u32, 0i32);
    // SAFETY: buffers of the sizes given.
    if unsafe { LookupAccountSidW(std::ptr::null(), sid, name.as_mut_ptr(), &mut n, domain.as_mut_ptr(), &mut d, &mut kind) } == 0 {
        return None;
    }
    let (name, domain) = (from_wide(&name), from_wide(&domain));
    Some(if domain.is_empty() { name } else { format!("{domain}\\{name}") })
}

/// Name (file stem), exe and user of a pid; None when it cannot be opened.
pub fn process(pid: u32) -> Option<Process> {
    match pid {
        0 => return None,
        4 => {
            return Some(Process {
                name: "System".into(),
                exe: None,
                user: Some("NT AUTHORITY\\SYSTEM".into()),
                units: vec![],
                ..Process::default()
            })
        }
        _ => {}
    }
    // SAFETY: plain OpenProcess; the result is checked.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return None;
    }
    let h = Handle(h);
    let mut buf = vec![0u16; 1024];
    let mut len = buf.len() as u32;
    // SAFETY: buffer of `len` UTF-16 units.
    let exe = (unsafe { QueryFullProcessImageNameW(h.0, 0, buf.as_mut_ptr(), &mut len) } != 0).then(|| from_wide(&buf[..len as usize]));
    let name = exe
        .as_deref()
        .and_then(|e| e.rsplit('\\').next())
        .map(|f| f.trim_end_matches(".exe").trim_end_matches(".EXE").to_string())
        .unwrap_or_else(|| pid.to_string());
    Some(Process { name, exe, user: user_of(&h), units: vec![], ..Process::default() })
}

/// Service names hosted by each pid (svchost hosts several).
pub fn services_by_pid() -> HashMap<u32, Vec<String>> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    // SAFETY: read-only SCM handle; checked.
    let scm = unsafe { OpenSCManagerW(std::ptr::null(), std::ptr::null(), SC_MANAGER_ENUMERATE_SERVICE) };
    if scm.is_null() {
        return out;
    }
    let mut resume = 0u32;
    loop {
        let mut buf = vec![0u64; 32 * 1024];
        let (mut needed, mut count) = (0u32, 0u32);
        let bytes = (buf.len() * 8) as u32;
        // SAFETY: buffer of `bytes` bytes, 8-aligned.
        let ok = unsafe {
            EnumServicesStatusExW(
                scm,
                SC_ENUM_PROCESS_INFO,
                SERVICE_WIN32,
                SERVICE_ACTIVE,
                buf.as_mut_ptr().cast(),
                bytes,
                &mut needed,
                &mut count,
                &mut resume,
                std::ptr::null(),
            )
        };
        let more = ok == 0 && std::io::Error::last_os_error().raw_os_error() == Some(ERROR_MORE_DATA as i32);
        if ok == 0 && !more {
            break;
        }
        let entries = buf.as_ptr() as *const ENUM_SERVICE_STATUS_PROCESSW;
        for i in 0..count as usize {
            // SAFETY: the API wrote `count` entries; names point into the buffer.
            let e = unsafe { &*entries.add(i) };
            let mut len = 0;
            // SAFETY: a NUL-terminated UTF-16 string from the API.
            while unsafe { *e.lpServiceName.add(len) } != 0 {
                len += 1;
            }
            // SAFETY: `len` units before the NUL.
            let name = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(e.lpServiceName, len) });
            out.entry(e.ServiceStatusProcess.dwProcessId).or_default().push(name);
        }
        if !more {
            break;
        }
    }
    // SAFETY: the handle we opened.
    unsafe { CloseServiceHandle(scm) };
    out
}

/// Does the key (and, if given, the value) exist under HKLM?
fn registry_has(key: &str, value: Option<&str>) -> bool {
    let mut h: HKEY = std::ptr::null_mut();
    let k = wide(key);
    // SAFETY: valid strings; h receives a key handle.
    if unsafe { RegOpenKeyExW(HKEY_LOCAL_MACHINE, k.as_ptr(), 0, KEY_READ, &mut h) } != 0 {
        return false;
    }
    let found = match value {
        None => true,
        Some(v) => {
            let v = wide(v);
            // SAFETY: size query only.
            unsafe {
                RegQueryValueExW(h, v.as_ptr(), std::ptr::null(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()) == 0
            }
        }
    };
    // SAFETY: the key we opened.
    unsafe { RegCloseKey(h) };
    found
}

/// The usual pending-reboot markers.
pub fn reboot_pending() -> bool {
    registry_has(r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending", None)
        || registry_has(r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired", None)
        || registry_has(r"SYSTEM\CurrentControlSet\Control\Session Manager", Some("PendingFileRenameOperations"))
}
