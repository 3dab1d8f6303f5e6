//! The buffers are built from a field-by-field transcription of xnu's
//! `struct socket_fdinfo` (bsd/sys/proc_info.h), laid out by the compiler,
//! so the parser's hand-written offsets are checked against an independent
//! encoding of the same header.

use super::*;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProcFileinfo {
    fi_openflags: u32,
    fi_status: u32,
    fi_offset: i64,
    fi_type: i32,
    fi_guardflags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct VinfoStat {
    vst_dev: u32,
    vst_mode: u16,
    vst_nlink: u16,
    vst_ino: u64,
    vst_uid: u32,
    vst_gid: u32,
    vst_times: [i64; 8],
    vst_size: i64,
    vst_blocks: i64,
    vst_blksize: i32,
    vst_flags: u32,
    vst_gen: u32,
    vst_rdev: u32,
    vst_qspare: [i64; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SockbufInfo {
    sbi_cc: u32,
    sbi_hiwat: u32,
    sbi_mbcnt: u32,
    sbi_mbmax: u32,
    sbi_lowat: u32,
    sbi_flags: i16,
    sbi_timeo: i16,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InV6 {
    in6_hlim: u8,
    in6_cksum: i32,
    in6_ifindex: u16,
    in6_hops: i16,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InSockinfo {
    insi_fport: i32,
    insi_lport: i32,
    insi_gencnt: u64,
    insi_flags: u32,
    insi_flow: u32,
    insi_vflag: u8,
    insi_ip_ttl: u8,
    rfu_1: u32,
    insi_faddr: [u8; 16],
    insi_laddr: [u8; 16],
    insi_v4: u8,
    insi_v6: InV6,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TcpSockinfo {
    tcpsi_ini: InSockinfo,
    tcpsi_state: i32,
    tcpsi_timer: [i32; 4],
    tcpsi_mss: i32,
    tcpsi_flags: u32,
    rfu_1: u32,
    tcpsi_tp: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UnSockinfo {
    unsi_conn_so: u64,
    unsi_conn_pcb: u64,
    unsi_addr: [u8; 255],
    unsi_caddr: [u8; 255],
}

#[repr(C)]
#[derive(Clone, Copy)]
union SoiProto {
    pri_in: InSockinfo,
    pri_tcp: TcpSockinfo,
    pri_un: UnSockinfo,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SocketInfo {
    soi_stat: VinfoStat,
    soi_so: u64,
    soi_pcb: u64,
    soi_type: i32,
    soi_protocol: i32,
    soi_family: i32,
    soi_options: i16,
    soi_linger: i16,
    soi_state: i16,
    soi_qlen: i16,
    soi_incqlen: i16,
    soi_qlimit: i16,
    soi_timeo: i16,
    soi_error: u16,
    soi_oobmark: u32,
    soi_rcv: SockbufInfo,
    soi_snd: SockbufInfo,
    soi_kind: i32,
    rfu_1: u32,
    soi_proto: SoiProto,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SocketFdinfo {
    pfi: ProcFileinfo,
    psi: SocketInfo,
}

fn addr16(ip: &str) -> [u8; 16] {
    match ip.parse::<IpAddr>().expect("ip") {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[12..].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// Ports as the kernel keeps them: network order in the low 16 bits.
fn port_int(p: u16) -> i32 {
    i32::from(p.to_be())
}

fn fdinfo(kind: i32, family: i32, protocol: i32, local: (&str, u16), foreign: u16, state: i32, so: u64) -> Vec<u8> {
    let ini = InSockinfo {
        insi_fport: port_int(foreign),
        insi_lport: port_int(local.1),
        insi_vflag: if family == AF_INET { 1 } else { 2 },
        insi_laddr: addr16(local.0),
        insi_ip_ttl: 64,
        ..InSockinfo::default()
    };
    let proto = if kind == SOCKINFO_TCP {
        SoiProto { pri_tcp: TcpSockinfo { tcpsi_ini: ini, tcpsi_state: state, tcpsi_mss: 1460, ..TcpSockinfo::default() } }
    } else {
        SoiProto { pri_un: UnSockinfo { unsi_conn_so: 0, unsi_conn_pcb: 0, unsi_addr: [0; 255], unsi_caddr: [0; 255] } }
    };
    let mut info = SocketFdinfo {
        pfi: ProcFileinfo { fi_openflags: 3, fi_type: 2, ..ProcFileinfo::default() },
        psi: SocketInfo {
            soi_stat: VinfoStat::default(),
            soi_so: so,
            soi_pcb: so + 0x100,
            soi_type: if protocol == IPPROTO_UDP { 2 } else { 1 },
            soi_protocol: protocol,
            soi_family: family,
            soi_options: 0,
            soi_linger: 0,
            soi_state: 0,
            soi_qlen: 0,
            soi_incqlen: 0,
            soi_qlimit: 0,
            soi_timeo: 0,
            soi_error: 0,
            soi_oobmark: 0,
            soi_rcv: SockbufInfo::default(),
            soi_snd: SockbufInfo::default(),
            soi_kind: kind,
            rfu_1: 0,
            soi_proto: proto,
        },
    };
    if kind == SOCKINFO_IN {
        info.psi.soi_proto.pri_in = ini;
    }
    // SAFETY: reading a plain repr(C) value's bytes.
    unsafe { std::slice::from_raw_parts((&info as *const SocketFdinfo).cast::<u8>(), std::mem::size_of::<SocketFdinfo>()) }.to_vec()
}

#[test]
fn transcription_matches_the_parser_offsets() {
    assert_eq!(std::mem::size_of::<SocketFdinfo>(), SOCKET_FDINFO_SIZE);
    assert_eq!(std::mem::size_of::<VinfoStat>(), 136);
    let psi = std::mem::offset_of!(SocketFdinfo, psi);
    assert_eq!(psi + std::mem::offset_of!(SocketInfo, soi_so), SOI_SO);
    assert_eq!(psi + std::mem::offset_of!(SocketInfo, soi_protocol), SOI_PROTOCOL);
    assert_eq!(psi + std::mem::offset_of!(SocketInfo, soi_family), SOI_FAMILY);
    assert_eq!(psi + std::mem::offset_of!(SocketInfo, soi_kind), SOI_KIND);
    assert_eq!(psi + std::mem::offset_of!(SocketInfo, soi_proto), SOI_PROTO);
    assert_eq!(SOI_PROTO + std::mem::offset_of!(InSockinfo, insi_vflag), INSI_VFLAG);
    assert_eq!(SOI_PROTO + std::mem::offset_of!(InSockinfo, insi_laddr), INSI_LADDR);
    assert_eq!(SOI_PROTO + std::mem::offset_of!(TcpSockinfo, tcpsi_state), TCPSI_STATE);
}

#[test]
fn tcp_and_udp_sockets_with_state_address_and_identity() {
    let cases = [
        (fdinfo(SOCKINFO_TCP, AF_INET, IPPROTO_TCP, ("0.0.0.0", 5432), 0, 1, 0xff01), "tcp ipv4 0.0.0.0:5432 listen 65281"),
        (fdinfo(SOCKINFO_TCP, AF_INET6, IPPROTO_TCP, ("::1", 50500), 443, 4, 0xff02), "tcp ipv6 ::1:50500 established 65282"),
        (fdinfo(SOCKINFO_TCP, AF_INET, IPPROTO_TCP, ("10.1.2.3", 8080), 61000, 10, 0xff03), "tcp ipv4 10.1.2.3:8080 time_wait 65283"),
        (fdinfo(SOCKINFO_IN, AF_INET, IPPROTO_UDP, ("127.0.0.1", 53), 0, 0, 0xff04), "udp ipv4 127.0.0.1:53 unconn 65284"),
        (fdinfo(SOCKINFO_IN, AF_INET6, IPPROTO_UDP, ("fe80::1", 5353), 5353, 0, 0xff05), "udp ipv6 fe80::1:5353 established 65285"),
    ];
    for (buf, want) in cases {
        let s = parse_socket_fdinfo(&buf).expect("parses").expect("a socket");
        let got = format!("{} {} {}:{} {} {}", s.protocol, s.family.as_str(), s.local, s.port, s.state.label(s.protocol), s.inode);
        assert_eq!(got, want);
    }
}

#[test]
fn other_kinds_and_unbound_sockets_are_not_sockets_here() {
    assert_eq!(parse_socket_fdinfo(&fdinfo(3, 1, 0, ("0.0.0.0", 0), 0, 0, 1)).expect("unix"), None);
    assert_eq!(parse_socket_fdinfo(&fdinfo(SOCKINFO_IN, AF_INET, 1, ("0.0.0.0", 7), 0, 0, 1)).expect("icmp"), None);
    assert_eq!(parse_socket_fdinfo(&fdinfo(SOCKINFO_TCP, AF_INET, IPPROTO_TCP, ("0.0.0.0", 0), 0, 0, 1)).expect("unbound"), None);
}

#[test]
fn short_buffers_are_errors() {
    let buf = fdinfo(SOCKINFO_TCP, AF_INET, IPPROTO_TCP, ("0.0.0.0", 80), 0, 1, 1);
    assert!(parse_socket_fdinfo(&[]).is_err());
    assert!(parse_socket_fdinfo(&buf[..TCPSI_STATE]).is_err());
    assert!(parse_socket_fdinfo(&buf[..TCPSI_STATE + 4]).expect("enough").is_some());
}
