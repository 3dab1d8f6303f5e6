//! The records are built from a field-by-field transcription of FreeBSD's
//! `struct kinfo_file` (sys/user.h, socket arm of the union), laid out by
//! the compiler, so the parser's hand-written offsets are checked against
//! an independent encoding of the same header. Its size must equal the
//! kernel's KINFO_FILE_SIZE (1392 on amd64 and arm64).

use super::*;

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct SockaddrStorage([u8; 128]);

#[repr(C)]
#[derive(Clone, Copy)]
struct KinfoFile {
    kf_structsize: i32,
    kf_type: i32,
    kf_fd: i32,
    kf_ref_count: i32,
    kf_flags: i32,
    kf_pad0: i32,
    kf_offset: i64,
    kf_sock_sendq: u32,
    kf_sock_domain0: i32,
    kf_sock_type0: i32,
    kf_sock_protocol0: i32,
    kf_sa_local: SockaddrStorage,
    kf_sa_peer: SockaddrStorage,
    kf_sock_pcb: u64,
    kf_sock_inpcb: u64,
    kf_sock_unpconn: u64,
    kf_sock_snd_sb_state: u16,
    kf_sock_rcv_sb_state: u16,
    kf_sock_recvq: u32,
    kf_status: u16,
    kf_pad1: u16,
    kf_ispare0: i32,
    kf_cap_rights: [u64; 2],
    kf_cap_spare: u64,
    kf_path: [u8; 1024],
}

fn sockaddr(addr: &str, port: u16) -> SockaddrStorage {
    let mut b = [0u8; 128];
    let ip: IpAddr = addr.parse().expect("ip");
    b[2..4].copy_from_slice(&port.to_be_bytes());
    match ip {
        IpAddr::V4(a) => {
            b[0] = 16;
            b[1] = 2;
            b[4..8].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            b[0] = 28;
            b[1] = 28;
            b[8..24].copy_from_slice(&a.octets());
        }
    }
    SockaddrStorage(b)
}

struct Rec {
    kind: i32,
    domain: i32,
    protocol: i32,
    local: SockaddrStorage,
    peer: SockaddrStorage,
    pcb: u64,
    path: &'static str,
}

fn sock(domain: i32, protocol: i32, local: (&str, u16), peer: (&str, u16), pcb: u64) -> Rec {
    Rec { kind: KF_TYPE_SOCKET, domain, protocol, local: sockaddr(local.0, local.1), peer: sockaddr(peer.0, peer.1), pcb, path: "" }
}

/// Packs records as the kernel does: the fixed part plus the path and its
/// NUL, rounded up to 8 bytes.
fn pack(recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let size = (std::mem::offset_of!(KinfoFile, kf_path) + r.path.len() + 1).next_multiple_of(8);
        let mut kf = KinfoFile {
            kf_structsize: size as i32,
            kf_type: r.kind,
            kf_fd: i as i32 + 3,
            kf_ref_count: 1,
            kf_flags: 3,
            kf_pad0: 0,
            kf_offset: 0,
            kf_sock_sendq: 0,
            kf_sock_domain0: r.domain,
            kf_sock_type0: if r.protocol == IPPROTO_UDP { 2 } else { 1 },
            kf_sock_protocol0: r.protocol,
            kf_sa_local: r.local,
            kf_sa_peer: r.peer,
            kf_sock_pcb: r.pcb,
            kf_sock_inpcb: r.pcb + 8,
            kf_sock_unpconn: 0,
            kf_sock_snd_sb_state: 0,
            kf_sock_rcv_sb_state: 0,
            kf_sock_recvq: 0,
            kf_status: 0,
            kf_pad1: 0,
            kf_ispare0: 0,
            kf_cap_rights: [0; 2],
            kf_cap_spare: 0,
            kf_path: [0; 1024],
        };
        kf.kf_path[..r.path.len()].copy_from_slice(r.path.as_bytes());
        // SAFETY: KinfoFile is plain old data with no padding holes that
        // matter (the bytes are only read back as the kernel's would be).
        let bytes = unsafe { std::slice::from_raw_parts((&kf as *const KinfoFile).cast::<u8>(), std::mem::size_of::<KinfoFile>()) };
        out.extend_from_slice(&bytes[..size]);
    }
    out
}

#[test]
fn transcription_matches_the_kernel_size_and_the_parser_offsets() {
    assert_eq!(std::mem::size_of::<KinfoFile>(), 1392);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_path), MIN_RECORD);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_sock_domain0), SOCK_DOMAIN);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_sock_protocol0), SOCK_PROTOCOL);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_sa_local), SA_LOCAL);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_sa_peer), SA_PEER);
    assert_eq!(std::mem::offset_of!(KinfoFile, kf_sock_pcb), SOCK_PCB);
}

#[test]
fn sockets_of_every_kind_with_identity_and_state() {
    let vnode = Rec {
        kind: 1,
        domain: 0,
        protocol: 0,
        local: SockaddrStorage([0; 128]),
        peer: SockaddrStorage([0; 128]),
        pcb: 0,
        path: "/var/log/messages",
    };
    let buf = pack(&[
        vnode,
        sock(AF_INET, IPPROTO_TCP, ("0.0.0.0", 1433), ("0.0.0.0", 0), 0xfffff800_0a000001),
        sock(AF_INET6, IPPROTO_TCP, ("::1", 50123), ("::1", 1433), 0xfffff800_0a000002),
        sock(AF_INET, IPPROTO_UDP, ("127.0.0.1", 53), ("0.0.0.0", 0), 0xfffff800_0a000003),
        sock(AF_INET6, IPPROTO_UDP, ("fe80::1", 5353), ("fe80::2", 5353), 0xfffff800_0a000004),
    ]);
    let got = parse_kinfo_files(&buf).expect("parses");
    let summary: Vec<_> =
        got.iter().map(|s| (s.protocol, s.family, s.local.to_string(), s.port, s.state.label(s.protocol), s.inode)).collect();
    assert_eq!(
        summary,
        vec![
            (Protocol::Tcp, Family::Ipv4, "0.0.0.0".to_string(), 1433, "listen".to_string(), 0xfffff800_0a000001),
            (Protocol::Tcp, Family::Ipv6, "::1".to_string(), 50123, "connected".to_string(), 0xfffff800_0a000002),
            (Protocol::Udp, Family::Ipv4, "127.0.0.1".to_string(), 53, "unconn".to_string(), 0xfffff800_0a000003),
            (Protocol::Udp, Family::Ipv6, "fe80::1".to_string(), 5353, "established".to_string(), 0xfffff800_0a000004),
        ]
    );
}

#[test]
fn other_domains_protocols_and_unbound_sockets_are_skipped() {
    let mut unix = sock(1, 0, ("0.0.0.0", 0), ("0.0.0.0", 0), 1);
    unix.path = "/var/run/log";
    let buf = pack(&[
        unix,
        sock(AF_INET, 132, ("0.0.0.0", 9899), ("0.0.0.0", 0), 2),      // SCTP
        sock(AF_INET, IPPROTO_TCP, ("0.0.0.0", 0), ("0.0.0.0", 0), 3), // socket(2) only
        sock(AF_INET, IPPROTO_TCP, ("10.0.0.5", 22), ("10.0.0.9", 61000), 4),
    ]);
    let got = parse_kinfo_files(&buf).expect("parses");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].port, got[0].inode), (22, 4));
}

#[test]
fn sizes_that_lie_are_errors_not_loops_or_panics() {
    assert_eq!(parse_kinfo_files(&[]).expect("empty"), vec![]);
    let good = pack(&[sock(AF_INET, IPPROTO_TCP, ("0.0.0.0", 80), ("0.0.0.0", 0), 9)]);
    let mut zero = good.clone();
    zero[..4].copy_from_slice(&0i32.to_ne_bytes());
    assert!(parse_kinfo_files(&zero).is_err(), "a zero size must not loop");
    let mut negative = good.clone();
    negative[..4].copy_from_slice(&(-8i32).to_ne_bytes());
    assert!(parse_kinfo_files(&negative).is_err());
    assert!(parse_kinfo_files(&good[..good.len() - 1]).is_err(), "record cut short");
    let mut trailing = good.clone();
    trailing.extend([1, 2]);
    assert!(parse_kinfo_files(&trailing).is_err(), "two stray bytes");
    assert_eq!(parse_kinfo_files(&good).expect("whole").len(), 1);
}
