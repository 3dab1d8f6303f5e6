//! NETLINK_SOCK_DIAG wire format for inet sockets: request building, the
//! kernel-side filter bytecode, and allocation-free parsing of replies.
//! See sock_diag(7) and include/uapi/linux/inet_diag.h. Pure: no sockets here.

use super::{invalid, ParseError};
use crate::model::PortRange;

pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The legacy TCP request (`struct inet_diag_req`): the kernel dumps it with
/// family AF_UNSPEC, so one walk of the TCP hash returns IPv4 and IPv6.
pub const TCPDIAG_GETSOCK: u16 = 18;
const REQ_V1_LEN: usize = 60;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDR: usize = 16;
const DIAG_MSG_LEN: usize = 72;
const REQ_V2_LEN: usize = 56;
const INET_DIAG_REQ_BYTECODE: u16 = 1;

const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;

/// Every TCP state, bound-but-inactive (13, Linux 6.8+) included.
pub const ALL_STATES: u32 = 0xffff_ffff;
/// Only TCP_LISTEN.
pub const LISTEN_ONLY: u32 = 1 << 10;

/// One socket from a dump, borrowed from nothing: a few words, Copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagMsg {
    pub family: u8,
    pub state: u8,
    pub sport: u16,
    /// IPv4 uses the first 4 bytes.
    pub src: [u8; 16],
    /// The peer's port; 0 when the socket has no peer (listening, bound, unconnected UDP).
    pub dport: u16,
    /// The peer's address, laid out as `src`.
    pub dst: [u8; 16],
    pub inode: u32,
}

/// What a reply buffer held besides sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagError {
    #[error("kernel answered errno {0}")]
    Errno(i32),
    #[error("malformed reply: {0}")]
    Malformed(#[from] ParseError),
}

fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
    let n = no.to_ne_bytes();
    [code, yes, n[0], n[1]]
}

/// Bytecode accepting sockets whose source port lies in any of `ranges`
/// (inclusive). Groups of `S_GE lo, S_LE hi` are chained with JMP, the way
/// ss(8) compiles an OR, so the kernel's audit can walk them.
pub fn ranges_filter(ranges: &[PortRange]) -> Vec<u8> {
    let n = ranges.len();
    if n == 0 {
        return Vec::new();
    }
    let total = 16 * n + 4 * (n - 1);
    let mut bc = Vec::with_capacity(total);
    for (i, r) in ranges.iter().enumerate() {
        let g = 20 * i;
        let last = i + 1 == n;
        // Where a failed comparison goes: the next group, or past the end (reject).
        let fail = |at: usize| if last { total - at + 4 } else { g + 20 - at };
        bc.extend(op(BC_S_GE, 8, fail(g) as u16));
        bc.extend(op(0, 0, r.start));
        bc.extend(op(BC_S_LE, 8, fail(g + 8) as u16));
        bc.extend(op(0, 0, r.end));
        if !last {
            let at = g + 16;
            bc.extend(op(BC_JMP, 4, (total - at) as u16));
        }
    }
    bc
}

/// Bytecode accepting sockets whose source port is any of `ports`.
pub fn port_filter(ports: &[u16]) -> Vec<u8> {
    ranges_filter(&ports.iter().map(|&p| PortRange { start: p, end: p }).collect::<Vec<_>>())
}

/// A netlink dump request: header, fixed payload, optional bytecode attribute.
fn dump_request(kind: u16, payload: &[u8], bytecode: &[u8], seq: u32) -> Vec<u8> {
    let attr_len = if bytecode.is_empty() { 0 } else { 4 + bytecode.len() };
    let total = NLMSG_HDR + payload.len() + attr_len;
    let mut m = Vec::with_capacity(total);
    m.extend((total as u32).to_ne_bytes());
    m.extend(kind.to_ne_bytes());
    m.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend(payload);
    if !bytecode.is_empty() {
        m.extend((attr_len as u16).to_ne_bytes());
        m.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        m.extend(bytecode);
    }
    m
}

/// A dump request: `inet_diag_req_v2` plus an optional bytecode attribute.
/// No extensions are asked for: only the fixed header is used.
pub fn build_request(family: u8, protocol: u8, states: u32, bytecode: &[u8], seq: u32) -> Vec<u8> {
    let mut req = Vec::with_capacity(REQ_V2_LEN);
    req.extend([family, protocol, 0, 0]);
    req.extend(states.to_ne_bytes());
    req.extend([0u8; 48]); // inet_diag_sockid: no exact match
    dump_request(SOCK_DIAG_BY_FAMILY, &req, bytecode, seq)
}

/// A legacy TCP dump request (`struct inet_diag_req`): both families in one walk.
pub fn build_tcp_compat_request(states: u32, bytecode: &[u8], seq: u32) -> Vec<u8> {
    let mut req = Vec::with_capacity(REQ_V1_LEN);
    req.extend([0u8, 0, 0, 0]); // family (ignored for dumps), src_len, dst_len, ext
    req.extend([0u8; 48]);
    req.extend(states.to_ne_bytes());
    req.extend(0u32.to_ne_bytes()); // idiag_dbs
    dump_request(TCPDIAG_GETSOCK, &req, bytecode, seq)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Walks one receive buffer, calling `f` for every socket. Allocates nothing.
pub fn for_each_msg(buf: &[u8], mut f: impl FnMut(DiagMsg)) -> Result<Progress, DiagError> {
    let mut at = 0;
    while at + NLMSG_HDR <= buf.len() {
        let bad = |what| DiagError::Malformed(invalid(what, &format!("{} bytes at offset {at}", buf.len() - at)));
        let len = u32_at(buf, at).ok_or_else(|| bad("a netlink header"))? as usize;
        let kind = u16_at(buf, at + 4).ok_or_else(|| bad("a netlink header"))?;
        if len < NLMSG_HDR || at + len > buf.len() {
            return Err(bad("a netlink message that fits the buffer"));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let errno = u32_at(body, 0).map(|e| e as i32).ok_or_else(|| bad("an error code"))?;
                return Err(DiagError::Errno(errno.saturating_neg()));
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if body.len() < DIAG_MSG_LEN {
                    return Err(bad("an inet_diag_msg"));
                }
                // inet_diag_sockid: sport, dport (big endian), src, dst (16 bytes each).
                let mut src = [0u8; 16];
                src.copy_from_slice(&body[8..24]);
                let mut dst = [0u8; 16];
                dst.copy_from_slice(&body[24..40]);
                f(DiagMsg {
                    family: body[0],
                    state: body[1],
                    sport: u16::from_be_bytes([body[4], body[5]]),
                    src,
                    dport: u16::from_be_bytes([body[6], body[7]]),
                    dst,
                    inode: u32_at(body, 68).unwrap_or(0),
                });
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
    Ok(Progress::More)
}

#[cfg(test)]
#[path = "inet_diag_tests.rs"]
mod tests;
