//! The kernel's own handlers for the three port sysctls, as a `write(2)` of
//! a value reaches them: `ip_local_port_range` and `ip_unprivileged_port_start`
//! (`proc_dointvec_minmax` plus the checks in net/ipv4/sysctl_net_ipv4.c) and
//! `ip_local_reserved_ports` (`proc_do_large_bitmap`, kernel/sysctl.c).
//!
//! Rules, each confirmed on a real kernel by `tests/next_boot_oracle.rs`:
//! - numbers are read in base 0: `0x1f` is hex, a leading `0` is octal;
//! - `ip_local_port_range`: one number sets the low bound only; after the
//!   second, anything separated by white space is ignored; text glued to a
//!   number is EINVAL; low must be ≥ `ip_unprivileged_port_start` and ≤ high;
//! - `ip_unprivileged_port_start` (0–65535) must not exceed the range's low bound;
//! - `ip_local_reserved_ports`: ports and ranges separated by `,` or newlines,
//!   any stray character (a space included) rejects the whole value, port 65536
//!   and above too; an empty value clears the list.
//!
//! A writer's `write(2)` is partial when the kernel stops early, and glibc
//! writes the rest at the new file offset: the integer handlers ignore such a
//! write (`sysctl_writes_strict` = 1, the default), the bitmap handler ORs it in.

use crate::model::{PortRange, PortSet};

/// The per-namespace state these handlers read and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSysctls {
    pub range: PortRange,
    pub reserved: PortSet,
    pub unprivileged_port_start: u16,
}

impl PortSysctls {
    /// What a new network namespace (and the boot) starts with.
    pub fn kernel_default() -> PortSysctls {
        PortSysctls { range: super::sysctl::DEFAULT_PORT_RANGE, reserved: PortSet::default(), unprivileged_port_start: 1024 }
    }
}

/// The three keys, by their path under /proc/sys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortKey {
    Range,
    Reserved,
    UnprivilegedStart,
}

impl PortKey {
    pub const ALL: [PortKey; 3] = [PortKey::Range, PortKey::Reserved, PortKey::UnprivilegedStart];
    /// The path below /proc/sys.
    pub fn path(self) -> &'static str {
        match self {
            PortKey::Range => "net/ipv4/ip_local_port_range",
            PortKey::Reserved => "net/ipv4/ip_local_reserved_ports",
            PortKey::UnprivilegedStart => "net/ipv4/ip_unprivileged_port_start",
        }
    }
    /// The dotted name, as sysctl prints it.
    pub fn dotted(self) -> &'static str {
        match self {
            PortKey::Range => "net.ipv4.ip_local_port_range",
            PortKey::Reserved => "net.ipv4.ip_local_reserved_ports",
            PortKey::UnprivilegedStart => "net.ipv4.ip_unprivileged_port_start",
        }
    }
}

/// Why the kernel refused a write (every refusal is EINVAL or ERANGE).
pub type Refusal = String;

const PAGE: usize = 4096;
/// `TMPBUFLEN - 1` in kernel/sysctl.c: a number this long is refused.
const NUM_MAX: usize = 21;
const WSPACE_SEP: &[u8] = b" \t\n";
const TR_A: &[u8] = b"-,\n";
const TR_B: &[u8] = b",\n\0";

/// The kernel's `isspace` (lib/ctype.c), which also counts 0xA0.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

/// A cursor over the bytes one handler call sees.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        (self.left > 0).then(|| self.buf.get(self.pos).copied()).flatten()
    }
    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.left -= n;
    }
    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.advance(1);
        }
    }

    /// `proc_get_long`: an optional '-', then a number in base 0, followed by
    /// the end of the buffer or one of `seps`. Returns (negative, value, next).
    fn get_long(&mut self, seps: &[u8]) -> Result<(bool, u64, Option<u8>), Refusal> {
        if self.left == 0 {
            return Err("nothing to read".into());
        }
        let take = self.left.min(NUM_MAX);
        let tmp = &self.buf[self.pos..self.pos + take];
        let mut i = 0;
        let neg = tmp.first() == Some(&b'-') && self.left > 1;
        if neg {
            i = 1;
        }
        if !tmp.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(format!("{:?} is not a number", String::from_utf8_lossy(&tmp[i.min(tmp.len())..])));
        }
        // _parse_integer_fixup_radix: 0x + hex digit is hex, other leading 0 octal.
        let (base, skip) = match (tmp.get(i), tmp.get(i + 1), tmp.get(i + 2)) {
            (Some(b'0'), Some(x), Some(h)) if x.eq_ignore_ascii_case(&b'x') && h.is_ascii_hexdigit() => (16, 2),
            (Some(b'0'), _, _) => (8, 0),
            _ => (10, 0),
        };
        i += skip;
        let mut value: u64 = 0;
        while let Some(d) = tmp.get(i).and_then(|c| (*c as char).to_digit(base)) {
            value = value
                .checked_mul(u64::from(base))
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or_else(|| "number out of range (ERANGE)".to_string())?;
            i += 1;
        }
        if i == NUM_MAX {
            return Err("number longer than 20 characters".into());
        }
        let next = (i < self.left).then(|| tmp.get(i).copied()).flatten();
        if let Some(c) = next {
            if !seps.contains(&c) {
                return Err(format!("unexpected {:?} after a number", char::from(c)));
            }
        }
        self.advance(i);
        Ok((neg, value, next))
    }
}

/// `__do_proc_dointvec` with `proc_dointvec_minmax`'s checks, writing into
/// `vals` in place; returns the bytes consumed.
fn dointvec_minmax(data: &[u8], ppos: usize, vals: &mut [i64], min: i64, max: i64) -> Result<usize, Refusal> {
    if ppos != 0 {
        // sysctl_writes_strict = 1: a write past offset 0 is ignored.
        return Ok(data.len());
    }
    let mut c = Cursor { buf: data, pos: 0, left: data.len().min(PAGE - 1) };
    let mut first = true;
    let mut err = None;
    for slot in vals.iter_mut() {
        if c.left == 0 {
            break;
        }
        c.skip_while(is_space);
        if c.left == 0 {
            break;
        }
        match c.get_long(WSPACE_SEP) {
            Err(e) => {
                err = Some(e);
                break;
            }
            Ok((neg, lval, _)) => {
                let v = match (neg, i64::try_from(lval)) {
                    (false, Ok(v)) if v <= i64::from(i32::MAX) => v,
                    (true, Ok(v)) if v <= i64::from(i32::MAX) + 1 => -v,
                    _ => {
                        err = Some("number out of range for an int".into());
                        break;
                    }
                };
                if v < min || v > max {
                    err = Some(format!("{v} is outside {min}-{max}"));
                    break;
                }
                *slot = v;
            }
        }
        first = false;
    }
    if err.is_none() && c.left > 0 {
        c.skip_while(is_space);
    }
    match err {
        Some(e) => Err(e),
        None if first => Err("no number".into()),
        None => Ok(data.len().min(PAGE - 1) - c.left),
    }
}

/// `proc_do_large_bitmap` over 65536 bits; returns the bytes consumed.
fn large_bitmap(data: &[u8], ppos: usize, bitmap: &mut Vec<PortRangeU32>) -> Result<usize, Refusal> {
    if data.is_empty() {
        return Ok(0);
    }
    let mut left = data.len();
    let mut skipped = 0;
    if left > PAGE - 1 {
        left = PAGE - 1;
        skipped = data.len() - left;
    }
    let mut c = Cursor { buf: data, pos: 0, left };
    let mut set: Vec<PortRangeU32> = Vec::new();
    c.skip_while(|b| b == b'\n');
    while c.left > 0 {
        let saved_left = c.left;
        let saved_pos = c.pos;
        let got = c.get_long(TR_A);
        if c.left <= 1 && skipped > 0 {
            c.left = saved_left;
            c.pos = saved_pos;
            break;
        }
        let (neg, a, sep) = got?;
        if a >= 65536 || neg {
            return Err(format!("{a} is not a port (0-65535)"));
        }
        let mut b = a;
        if c.left > 0 {
            c.advance(1);
        }
        if sep == Some(b'-') {
            let got = c.get_long(TR_B);
            if c.left == 0 && skipped > 0 {
                c.left = saved_left;
                c.pos = saved_pos;
                break;
            }
            let (neg, vb, _) = got?;
            if vb >= 65536 || neg || a > vb {
                return Err(format!("{a}-{vb} is not a port range"));
            }
            b = vb;
            if c.left > 0 {
                c.advance(1);
            }
        }
        set.push((a as u32, b as u32));
        c.skip_while(|x| x == b'\n');
    }
    if ppos == 0 {
        bitmap.clear();
    }
    bitmap.extend(set);
    Ok(data.len() - (c.left + skipped))
}

type PortRangeU32 = (u32, u32);

/// glibc's unbuffered write loop: the rest of a partial write goes again at
/// the new offset, until all is written or the kernel refuses.
fn write_all(data: &[u8], mut handler: impl FnMut(&[u8], usize) -> Result<usize, Refusal>) -> Result<(), Refusal> {
    let mut pos = 0;
    while pos < data.len() {
        let n = handler(&data[pos..], pos)?;
        if n == 0 {
            return Err("the kernel made no progress on the write".into());
        }
        pos += n;
    }
    Ok(())
}

/// Writes `data` (the bytes a tool sends, newline included) to `key`, as the
/// kernel would; on refusal `state` is unchanged.
pub fn write(state: &mut PortSysctls, key: PortKey, data: &[u8]) -> Result<(), Refusal> {
    match key {
        PortKey::Range => {
            let mut vals = [i64::from(state.range.start), i64::from(state.range.end)];
            write_all(data, |d, ppos| {
                let n = dointvec_minmax(d, ppos, &mut vals, 1, 65535)?;
                if ppos == 0 {
                    let (lo, hi) = (vals[0], vals[1]);
                    if hi < lo {
                        return Err(format!("low bound {lo} is above high bound {hi}"));
                    }
                    if lo < i64::from(state.unprivileged_port_start) {
                        return Err(format!("low bound {lo} is below ip_unprivileged_port_start ({})", state.unprivileged_port_start));
                    }
                    state.range = PortRange { start: lo as u16, end: hi as u16 };
                }
                Ok(n)
            })
        }
        PortKey::UnprivilegedStart => {
            let mut vals = [i64::from(state.unprivileged_port_start)];
            write_all(data, |d, ppos| {
                let n = dointvec_minmax(d, ppos, &mut vals, 0, 65535)?;
                if ppos == 0 {
                    if i64::from(state.range.start) < vals[0] {
                        return Err(format!("{} is above the range's low bound {}", vals[0], state.range.start));
                    }
                    state.unprivileged_port_start = vals[0] as u16;
                }
                Ok(n)
            })
        }
        PortKey::Reserved => {
            let mut bits: Vec<PortRangeU32> = state.reserved.ranges().iter().map(|r| (u32::from(r.start), u32::from(r.end))).collect();
            let before = bits.clone();
            let result = write_all(data, |d, ppos| large_bitmap(d, ppos, &mut bits));
            // A refused later chunk keeps what earlier chunks wrote, as the kernel does.
            if bits != before || result.is_ok() {
                state.reserved = to_portset(&bits);
            }
            result
        }
    }
}

/// Ports 0..=65535 as a set; port 0 can be reserved but is never handed out.
fn to_portset(bits: &[PortRangeU32]) -> PortSet {
    PortSet::from_ranges(
        bits.iter()
            .filter_map(|&(a, b)| {
                let a = a.max(1);
                (a <= b).then_some(PortRange { start: a as u16, end: b as u16 })
            })
            .collect(),
    )
}

#[cfg(test)]
#[path = "kernel_sysctl_tests.rs"]
mod tests;
