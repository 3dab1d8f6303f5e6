//! The buffers are built from field-by-field transcriptions of FreeBSD 14's
//! export structs (sys/socketvar.h `xsocket`, netinet/in_pcb.h `xinpgen`,
//! `in_conninfo`, `xinpcb`, netinet/tcp_var.h `xtcpcb`, sys/file.h
//! `xfile`), laid out by the compiler, so the parser's offsets are checked
//! against an independent encoding of the same headers.

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Xsockbuf {
    sb_cc: u32,
    sb_hiwat: u32,
    sb_mbcnt: u32,
    sb_mcnt: u32,
    sb_ccnt: u32,
    sb_mbmax: u32,
    sb_lowat: i32,
    sb_timeo: i32,
    sb_flags: i16,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Xsocket {
    xso_len: u64,
    xso_so: u64,
    so_pcb: u64,
    so_oobmark: u64,
    so_splice_so: u64,
    so_spare64: [i64; 7],
    xso_protocol: i32,
    xso_family: i32,
    so_qlen: u32,
    so_incqlen: u32,
    so_qlimit: u32,
    so_pgid: i32,
    so_uid: u32,
    so_spare32: [i32; 8],
    so_type: i16,
    so_options: i16,
    so_linger: i16,
    so_state: i16,
    so_timeo: i16,
    so_error: u16,
    so_rcv: Xsockbuf,
    so_snd: Xsockbuf,
}

/// `union in_dependaddr`: an in6_addr (4-byte aligned) or a v4 address in its last 4 bytes.
#[repr(C, align(4))]
#[derive(Clone, Copy, Default)]
struct Addr16([u8; 16]);

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InEndpoints {
    ie_fport: u16,
    ie_lport: u16,
    ie_dependfaddr: Addr16,
    ie_dependladdr: Addr16,
    ie6_zoneid: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InConninfo {
    inc_flags: u8,
    inc_len: u8,
    inc_fibnum: u16,
    inc_ie: InEndpoints,
}

#[repr(C, align(8))]
#[derive(Clone, Copy, Default)]
struct Xinpcb {
    xi_len: u64,
    xi_socket: Xsocket,
    inp_inc: InConninfo,
    inp_gencnt: u64,
    inp_ppcb: u64,
    inp_spare64: [i64; 4],
    inp_flow: u32,
    inp_flowid: u32,
    inp_flowtype: u32,
    inp_flags: i32,
    inp_flags2: i32,
    inp_rss_listen_bucket: i32,
    in6p_cksum: i32,
    inp_spare32: [i32; 4],
    in6p_hops: u16,
    inp_ip_tos: u8,
    pad8: i8,
    inp_vflag: u8,
    inp_ip_ttl: u8,
    inp_ip_p: u8,
    inp_ip_minttl: u8,
    inp_spare8: [i8; 4],
}

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Xtcpcb {
    xt_len: u64,
    xt_inp: Xinpcb,
    xt_stack: [u8; 32],
    xt_logid: [u8; 64],
    xt_cc: [u8; 16],
    spare64: [i64; 6],
    t_state: i32,
    t_flags: u32,
    t_counters: [i32; 10], // t_sndzerowin .. t_logstate
    t_windows: [u32; 6],   // t_snd_cwnd .. xt_ecn
    spare32: [i32; 26],
}

#[repr(C, align(8))]
#[derive(Clone, Copy, Default)]
struct Xinpgen {
    xig_len: u64,
    xig_count: u32,
    xig_spare32: u32,
    xig_gen: u64,
    xig_sogen: u64,
    xig_spare64: [u64; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Xfile {
    xf_size: u64,
    xf_pid: i32,
    xf_uid: u32,
    xf_fd: i32,
    xf_int_pad1: i32,
    xf_file: u64,
    xf_type: i16,
    xf_short_pad1: i16,
    xf_count: i32,
    xf_msgcount: i32,
    xf_int_pad2: i32,
    xf_offset: i64,
    xf_data: u64,
    xf_vnode: u64,
    xf_flag: u32,
    xf_int_pad3: i32,
    xf_int64_pad: [i64; 6],
}

fn bytes<T>(v: &T) -> Vec<u8> {
    // SAFETY: reading the bytes of a plain repr(C) value.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }.to_vec()
}

/// An inpcb for `local`:`lport` with peer port `fport`; `so` 0 is a TIME_WAIT socket.
fn inp(local: &str, lport: u16, fport: u16, so: u64) -> Xinpcb {
    let mut x = Xinpcb { xi_len: std::mem::size_of::<Xinpcb>() as u64, ..Xinpcb::default() };
    if so != 0 {
        x.xi_socket = Xsocket { xso_len: std::mem::size_of::<Xsocket>() as u64, xso_so: so, so_pcb: so + 0x400, ..Xsocket::default() };
    }
    let mut addr = [0u8; 16];
    match local.parse::<IpAddr>().expect("ip") {
        IpAddr::V4(a) => addr[12..].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => {
            addr = a.octets();
            x.inp_inc.inc_flags = INC_ISIPV6;
        }
    }
    x.inp_inc.inc_ie =
        InEndpoints { ie_fport: fport.to_be(), ie_lport: lport.to_be(), ie_dependladdr: Addr16(addr), ..InEndpoints::default() };
    x.inp_vflag = if x.inp_inc.inc_flags & INC_ISIPV6 != 0 { 2 } else { 1 };
    x
}

fn tcp(inp: Xinpcb, state: i32) -> Vec<u8> {
    bytes(&Xtcpcb {
        xt_len: std::mem::size_of::<Xtcpcb>() as u64,
        xt_inp: inp,
        xt_stack: [0; 32],
        xt_logid: [0; 64],
        xt_cc: [0; 16],
        spare64: [0; 6],
        t_state: state,
        t_flags: 0,
        t_counters: [0; 10],
        t_windows: [0; 6],
        spare32: [0; 26],
    })
}

fn list(records: &[Vec<u8>]) -> Vec<u8> {
    let g = Xinpgen { xig_len: std::mem::size_of::<Xinpgen>() as u64, xig_count: records.len() as u32, ..Xinpgen::default() };
    let mut out = bytes(&g);
    for r in records {
        out.extend(r);
    }
    out.extend(bytes(&g));
    out
}

#[test]
fn transcriptions_have_the_sizes_freebsd_keeps_and_the_parser_offsets() {
    assert_eq!(std::mem::size_of::<Xsocket>(), 240);
    assert_eq!(std::mem::size_of::<Xinpcb>(), XINPCB_SIZE);
    assert_eq!(std::mem::size_of::<Xtcpcb>(), 744);
    assert_eq!(std::mem::size_of::<Xinpgen>(), 64);
    assert_eq!(std::mem::size_of::<Xfile>(), 128);
    assert_eq!(std::mem::offset_of!(Xinpcb, inp_inc), INP_INC);
    assert_eq!(std::mem::offset_of!(Xtcpcb, t_state), 8 + XINPCB_SIZE + T_STATE_AFTER_XINPCB);
    assert_eq!(std::mem::offset_of!(Xfile, xf_type), 32);
    assert_eq!(std::mem::offset_of!(Xfile, xf_data), 56);
}

#[test]
fn tcp_sockets_with_state_address_and_identity() {
    let buf = list(&[
        tcp(inp("0.0.0.0", 1433, 0, 0xffff_f800_00a1), 1),
        tcp(inp("::1", 50000, 1433, 0xffff_f800_00a2), 4),
        tcp(inp("10.0.0.5", 8080, 61000, 0), 10),       // TIME_WAIT: no socket any more
        tcp(inp("0.0.0.0", 0, 0, 0xffff_f800_00a3), 0), // socket(2) only: no port
    ]);
    let got = parse_pcblist(&buf, Protocol::Tcp).expect("parses");
    let summary: Vec<String> =
        got.iter().map(|s| format!("{} {}:{} {} {:x}", s.family.as_str(), s.local, s.port, s.state.label(s.protocol), s.inode)).collect();
    assert_eq!(
        summary,
        vec!["ipv4 0.0.0.0:1433 listen fffff80000a1", "ipv6 ::1:50000 established fffff80000a2", "ipv4 10.0.0.5:8080 time_wait 0"]
    );
}

#[test]
fn udp_sockets_bound_and_connected() {
    let buf = list(&[bytes(&inp("127.0.0.1", 53, 0, 0x11)), bytes(&inp("fe80::1", 5353, 5353, 0x12))]);
    let got = parse_pcblist(&buf, Protocol::Udp).expect("parses");
    let summary: Vec<String> = got.iter().map(|s| format!("{}:{} {}", s.local, s.port, s.state.label(s.protocol))).collect();
    assert_eq!(summary, vec!["127.0.0.1:53 unconn", "fe80::1:5353 established"]);
}

#[test]
fn an_empty_list_is_empty_and_broken_lists_are_errors() {
    assert_eq!(parse_pcblist(&list(&[]), Protocol::Tcp).expect("empty"), vec![]);
    assert!(parse_pcblist(&[], Protocol::Tcp).is_err());
    let good = list(&[tcp(inp("0.0.0.0", 22, 0, 1), 1)]);
    assert!(parse_pcblist(&good[..good.len() - 64], Protocol::Tcp).is_err(), "no trailer");
    assert!(parse_pcblist(&good[..200], Protocol::Tcp).is_err(), "record cut short");
    let mut other = inp("0.0.0.0", 22, 0, 1);
    other.xi_len = 392; // a layout this parser does not know
    assert!(parse_pcblist(&list(&[tcp(other, 1)]), Protocol::Tcp).is_err());
    let mut huge = good.clone();
    huge[64..72].copy_from_slice(&u64::MAX.to_ne_bytes());
    assert!(parse_pcblist(&huge, Protocol::Tcp).is_err(), "a length past the end");
    assert!(parse_pcblist(&good, Protocol::Udp).is_err(), "a TCP list read as UDP has the wrong record size");
    let mut zero = good.clone();
    zero[64..72].copy_from_slice(&0u64.to_ne_bytes());
    assert!(parse_pcblist(&zero, Protocol::Tcp).is_err(), "a zero length mid-list is not the trailer");
    let mut extra = good.clone();
    extra.extend([0u8; 8]);
    assert!(parse_pcblist(&extra, Protocol::Tcp).is_err(), "bytes after the trailer");
}

#[test]
fn xfiles_give_socket_owners() {
    let file =
        |kind: i16, pid: i32, data: u64| bytes(&Xfile { xf_size: 128, xf_pid: pid, xf_type: kind, xf_data: data, ..Xfile::default() });
    let mut buf = file(1, 10, 0xaaaa); // a vnode
    buf.extend(file(2, 20, 0xffff_f800_00a1));
    buf.extend(file(2, 21, 0xffff_f800_00a1)); // the same socket, inherited
    buf.extend(file(2, 0, 0xbbbb)); // no process
    assert_eq!(parse_xfiles(&buf).expect("parses"), vec![(0xffff_f800_00a1, 20), (0xffff_f800_00a1, 21)]);
    assert_eq!(parse_xfiles(&[]).expect("empty"), vec![]);
    assert!(parse_xfiles(&buf[..100]).is_err());
    let mut zero = buf.clone();
    zero[..8].copy_from_slice(&0u64.to_ne_bytes());
    assert!(parse_xfiles(&zero).is_err(), "a zero size must not loop");
}
