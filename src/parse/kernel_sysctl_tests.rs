use super::*;

fn range_after(value: &str) -> Result<(u16, u16), Refusal> {
    let mut s = PortSysctls::kernel_default();
    write(&mut s, PortKey::Range, format!("{value}\n").as_bytes())?;
    Ok((s.range.start, s.range.end))
}

fn reserved_after(value: &str) -> Result<Vec<(u16, u16)>, Refusal> {
    let mut s = PortSysctls::kernel_default();
    write(&mut s, PortKey::Reserved, format!("{value}\n").as_bytes())?;
    Ok(s.reserved.ranges().iter().map(|r| (r.start, r.end)).collect())
}

#[test]
fn port_range_follows_proc_dointvec() {
    assert_eq!(range_after("10000 65000 # widen for the app"), Ok((10000, 65000)));
    assert_eq!(range_after("5000"), Ok((5000, 60999)), "one number sets the low bound only");
    assert_eq!(range_after("0x1000 0x2000"), Ok((4096, 8192)));
    assert_eq!(range_after("010000 020000"), Ok((4096, 8192)), "leading 0 is octal");
    assert_eq!(range_after("10000 20000 30000"), Ok((10000, 20000)), "a third number is ignored");
    assert_eq!(range_after("\t 10000\t\t20000  "), Ok((10000, 20000)));
    for bad in ["10000 65000x", "1000 2000", "20000 10000", "", "x", "10000,20000", "0 100", "1024 70000", "08 9", "-1 5"] {
        assert!(range_after(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn low_bound_must_not_be_below_unprivileged_start_at_write_time() {
    let mut s = PortSysctls::kernel_default();
    assert!(write(&mut s, PortKey::Range, b"800 60000\n").is_err());
    write(&mut s, PortKey::UnprivilegedStart, b"500\n").expect("500 ≤ 32768");
    write(&mut s, PortKey::Range, b"800 60000\n").expect("now allowed");
    assert!(write(&mut s, PortKey::UnprivilegedStart, b"900\n").is_err(), "900 is above the low bound 800");
    assert_eq!((s.range.start, s.unprivileged_port_start), (800, 500));
}

#[test]
fn reserved_ports_follow_the_large_bitmap_parser() {
    assert_eq!(reserved_after("40000,40001"), Ok(vec![(40000, 40001)]));
    assert_eq!(reserved_after("0x2000"), Ok(vec![(8192, 8192)]));
    assert_eq!(reserved_after("010000"), Ok(vec![(4096, 4096)]));
    assert_eq!(reserved_after(""), Ok(vec![]));
    assert_eq!(reserved_after("8080\n9090-9091"), Ok(vec![(8080, 8080), (9090, 9091)]));
    for bad in ["40000, 40001", "40000,65536", "5-3", "1,,2", "1-2-3", "1;2", " 8080", "-5", "8080 "] {
        assert!(reserved_after(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn a_refused_write_leaves_the_state_as_it_was() {
    let mut s = PortSysctls::kernel_default();
    write(&mut s, PortKey::Reserved, b"8080\n").expect("valid");
    let before = s.clone();
    assert!(write(&mut s, PortKey::Reserved, b"9090,x\n").is_err());
    assert!(write(&mut s, PortKey::Range, b"40000 30000\n").is_err());
    assert_eq!(s, before);
}

#[test]
fn a_long_reserved_list_is_read_across_page_sized_writes() {
    let ports: Vec<String> = (10000..12000u32).step_by(2).map(|p| p.to_string()).collect();
    let value = ports.join(",");
    assert!(value.len() > PAGE, "the case needs more than one page");
    let got = reserved_after(&value).expect("valid");
    assert_eq!(got.len(), 1000);
    assert_eq!(got.first(), Some(&(10000, 10000)));
    assert_eq!(got.last(), Some(&(11998, 11998)));
}
