//! The bytecode is checked by a model of the kernel's own audit and run
//! loops (net/ipv4/inet_diag.c); the real kernel checks it again in the
//! namespace tests.

use super::*;

fn ops(bc: &[u8], at: usize) -> (u8, usize, usize) {
    (bc[at], bc[at + 1] as usize, u16::from_ne_bytes([bc[at + 2], bc[at + 3]]) as usize)
}

/// Model of inet_diag_bc_audit + valid_cc.
fn audit(bc: &[u8]) -> bool {
    let valid_cc = |cc: usize| {
        let mut len = bc.len() as isize;
        let mut at = 0;
        while len >= 0 {
            if cc as isize > len {
                return false;
            }
            if cc as isize == len {
                return true;
            }
            let (_, yes, _) = ops(bc, at);
            if yes < 4 || yes % 4 != 0 {
                return false;
            }
            len -= yes as isize;
            at += yes;
        }
        false
    };
    let mut len = bc.len() as isize;
    let mut at = 0;
    while len > 0 {
        let (code, yes, no) = ops(bc, at);
        let min_len = if code == BC_S_GE || code == BC_S_LE { 8 } else { 4 };
        if code != BC_JMP && code != BC_S_GE && code != BC_S_LE {
            return false;
        }
        if no < min_len || no as isize > len + 4 || no % 4 != 0 {
            return false;
        }
        if (no as isize) < len && !valid_cc((len - no as isize) as usize) {
            return false;
        }
        if yes < min_len || yes as isize > len + 4 || yes % 4 != 0 {
            return false;
        }
        at += yes;
        len -= yes as isize;
    }
    len == 0
}

/// Model of inet_diag_bc_run for source-port comparisons.
fn run(bc: &[u8], sport: u16) -> bool {
    let mut len = bc.len() as isize;
    let mut at = 0usize;
    while len > 0 {
        let (code, yes_len, no_len) = ops(bc, at);
        let yes = match code {
            BC_S_GE => sport >= ops(bc, at + 4).2 as u16,
            BC_S_LE => sport <= ops(bc, at + 4).2 as u16,
            _ => false,
        };
        let step = if yes { yes_len } else { no_len };
        at += step;
        len -= step as isize;
    }
    len == 0
}

#[test]
fn port_filter_accepts_exactly_the_listed_ports() {
    for ports in [vec![5432], vec![22, 80], vec![1, 1433, 5432, 8080, 65535], (1000..1020).collect()] {
        let bc = port_filter(&ports);
        assert!(audit(&bc), "audit rejects {ports:?}");
        for p in [0u16, 1, 2, 21, 22, 23, 79, 80, 81, 1433, 5431, 5432, 5433, 1005, 1019, 1020, 8080, 65534, 65535] {
            assert_eq!(run(&bc, p), ports.contains(&p), "port {p} with filter {ports:?}");
        }
    }
}

#[test]
fn range_filter_accepts_the_inclusive_range() {
    let bc = ranges_filter(&[PortRange { start: 32768, end: 60999 }]);
    assert!(audit(&bc));
    for (p, want) in [(32767, false), (32768, true), (45000, true), (60999, true), (61000, false)] {
        assert_eq!(run(&bc, p), want, "{p}");
    }
}

#[test]
fn ranges_and_single_ports_combine() {
    let bc = ranges_filter(&[PortRange { start: 22, end: 22 }, PortRange { start: 1024, end: 2047 }, PortRange { start: 5432, end: 5432 }]);
    assert!(audit(&bc));
    for (p, want) in [(21, false), (22, true), (1023, false), (1024, true), (2047, true), (2048, false), (5432, true), (5433, false)] {
        assert_eq!(run(&bc, p), want, "{p}");
    }
}

#[test]
fn compat_request_layout() {
    let bc = port_filter(&[80]);
    let req = build_tcp_compat_request(ALL_STATES, &bc, 3);
    assert_eq!(req.len(), 16 + 60 + 4 + bc.len());
    assert_eq!(u16::from_ne_bytes([req[4], req[5]]), TCPDIAG_GETSOCK);
    assert_eq!(u32::from_ne_bytes(req[68..72].try_into().expect("4")), ALL_STATES, "states follow the socket id");
    assert_eq!(u16::from_ne_bytes([req[78], req[79]]), 1, "bytecode attribute type");
}

#[test]
fn request_layout() {
    let bc = port_filter(&[80]);
    let req = build_request(2, 6, ALL_STATES, &bc, 7);
    assert_eq!(req.len(), 16 + 56 + 4 + bc.len());
    assert_eq!(u32::from_ne_bytes(req[0..4].try_into().expect("4")) as usize, req.len());
    assert_eq!(u16::from_ne_bytes([req[4], req[5]]), SOCK_DIAG_BY_FAMILY);
    assert_eq!(&req[16..18], &[2, 6]);
    assert_eq!(u16::from_ne_bytes([req[72], req[73]]) as usize, 4 + bc.len());
    assert_eq!(build_request(10, 17, LISTEN_ONLY, &[], 1).len(), 72);
}

fn msg(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(((16 + body.len()) as u32).to_ne_bytes());
    m.extend(kind.to_ne_bytes());
    m.extend([0u8; 10]);
    m.extend(body);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    m
}

fn diag(family: u8, state: u8, sport: u16, src: [u8; 4], inode: u32) -> Vec<u8> {
    let mut b = vec![0u8; 72];
    b[0] = family;
    b[1] = state;
    b[4..6].copy_from_slice(&sport.to_be_bytes());
    b[8..12].copy_from_slice(&src);
    b[68..72].copy_from_slice(&inode.to_ne_bytes());
    b
}

#[test]
fn replies_parse_without_loss() {
    let mut buf = msg(SOCK_DIAG_BY_FAMILY, &diag(2, 10, 5432, [127, 0, 0, 1], 99));
    buf.extend(msg(SOCK_DIAG_BY_FAMILY, &diag(2, 1, 40000, [10, 0, 0, 2], 0)));
    let mut seen = Vec::new();
    assert_eq!(for_each_msg(&buf, |m| seen.push(m)), Ok(Progress::More));
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].state, seen[0].sport, seen[0].inode, &seen[0].src[..4]), (10, 5432, 99, &[127, 0, 0, 1][..]));
    assert_eq!((seen[1].state, seen[1].sport), (1, 40000));
    buf.extend(msg(NLMSG_DONE, &[0; 4]));
    assert_eq!(for_each_msg(&buf, |_| {}), Ok(Progress::Done));
}

#[test]
fn kernel_errors_and_truncation_are_errors() {
    let err = msg(NLMSG_ERROR, &(-22i32).to_ne_bytes());
    assert_eq!(for_each_msg(&err, |_| {}), Err(DiagError::Errno(22)));
    // Found by the sock_diag_reply fuzz target: negating i32::MIN overflowed.
    let min = msg(NLMSG_ERROR, &i32::MIN.to_ne_bytes());
    assert_eq!(for_each_msg(&min, |_| {}), Err(DiagError::Errno(i32::MAX)));
    let mut short = msg(SOCK_DIAG_BY_FAMILY, &diag(2, 10, 1, [0; 4], 1));
    short.truncate(40);
    assert!(matches!(for_each_msg(&short, |_| {}), Err(DiagError::Malformed(_))));
    let tiny = msg(SOCK_DIAG_BY_FAMILY, &[0; 8]);
    assert!(matches!(for_each_msg(&tiny, |_| {}), Err(DiagError::Malformed(_))));
    let mut zero_len = msg(SOCK_DIAG_BY_FAMILY, &diag(2, 10, 1, [0; 4], 1));
    zero_len[0..4].copy_from_slice(&0u32.to_ne_bytes());
    assert!(for_each_msg(&zero_len, |_| {}).is_err(), "a zero length must not loop forever");
}

/// `struct inet_diag_msg` written field by field in declaration order
/// (include/uapi/linux/inet_diag.h), not by the parser's offsets.
fn diag_full(m: &DiagMsg, timer: u8, retrans: u8, ifindex: u32, cookie: u64, uid: u32) -> Vec<u8> {
    let mut b = vec![m.family, m.state, timer, retrans];
    b.extend(m.sport.to_be_bytes()); // idiag_sport (__be16)
    b.extend(m.dport.to_be_bytes()); // idiag_dport (__be16)
    b.extend(m.src); // idiag_src[4] (__be32)
    b.extend(m.dst); // idiag_dst[4]
    b.extend(ifindex.to_ne_bytes()); // idiag_if
    b.extend(cookie.to_ne_bytes()); // idiag_cookie[2]
    for v in [1u32, 2, 3, uid] {
        b.extend(v.to_ne_bytes()); // expires, rqueue, wqueue, uid
    }
    b.extend(m.inode.to_ne_bytes());
    assert_eq!(b.len(), 72, "sizeof(struct inet_diag_msg)");
    b
}

#[test]
fn generated_replies_give_back_both_ends_of_every_socket() {
    let mut rng = crate::testing::Rng::from_env("PORTWATCH_SEED", 0x5eed_d157);
    for case in 0..300 {
        let n = 1 + rng.below(12) as usize;
        let mut want = Vec::new();
        let mut buf = Vec::new();
        for _ in 0..n {
            let family = if rng.below(2) == 0 { 2 } else { 10 };
            let addr = |rng: &mut crate::testing::Rng| {
                let mut a = [0u8; 16];
                let len = if family == 2 { 4 } else { 16 };
                for byte in a.iter_mut().take(len) {
                    *byte = rng.below(256) as u8;
                }
                a
            };
            let (src, dst) = (addr(&mut rng), addr(&mut rng));
            let m = DiagMsg {
                family,
                state: rng.below(14) as u8,
                sport: rng.below(65536) as u16,
                src,
                dport: rng.below(65536) as u16,
                dst,
                inode: rng.below(1 << 32) as u32,
            };
            let extra = rng.below(3) as usize * 4; // attributes after the fixed body are skipped
            let mut body = diag_full(&m, rng.below(5) as u8, 7, rng.below(100) as u32, rng.below(1 << 40), 1000);
            body.extend(vec![0xAAu8; extra]);
            buf.extend(msg(if rng.below(2) == 0 { SOCK_DIAG_BY_FAMILY } else { TCPDIAG_GETSOCK }, &body));
            want.push(m);
        }
        let mut seen = Vec::new();
        assert_eq!(for_each_msg(&buf, |m| seen.push(m)), Ok(Progress::More), "case {case}");
        assert_eq!(seen, want, "case {case}");
    }
}
