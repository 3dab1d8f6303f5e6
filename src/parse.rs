//! Pure parsers for every OS's text and binary formats. They take `&str`
//! or `&[u8]` and return values or errors; none of them does I/O, and all
//! compile and are tested on every OS.

pub mod bsd_sysctl;
pub mod console;
pub mod container;
pub mod glob;
pub mod inet_diag;
pub mod kernel_sysctl;
pub mod mib;
pub mod netsh;
pub mod pcblist;
pub mod proc_info;
pub mod procfs;
pub mod procnet;
pub mod sysctl;
pub mod sysctld;
pub mod yaml;

/// Native-endian integers at a byte offset of a kernel record; None past its end.
pub(crate) fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// A u16 in network byte order (a port) at a byte offset.
pub(crate) fn be16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// A parse failure with the offending text, small enough to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("expected {what}, found {found:?}")]
    Invalid { what: &'static str, found: String },
}

pub(crate) fn invalid(what: &'static str, found: &str) -> ParseError {
    let mut found = found.to_string();
    if found.len() > 80 {
        let mut cut = 80;
        while !found.is_char_boundary(cut) {
            cut -= 1;
        }
        found.truncate(cut);
        found.push('…');
    }
    ParseError::Invalid { what, found }
}
