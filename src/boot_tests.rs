use super::*;

fn files(applier: Applier, list: &[(&str, &str)]) -> Vec<ConfFile> {
    list.iter().map(|(name, text)| ConfFile { shown: (*name).into(), parsed: applier.parse(text.as_bytes()) }).collect()
}

fn boot(applier: Applier, list: &[(&str, &str)]) -> NextBoot {
    next_boot(applier, &files(applier, list))
}

fn range(b: &NextBoot) -> (u16, u16) {
    (b.state.range.start, b.state.range.end)
}

const SD: Applier = Applier::SystemdSysctl;
const PS: Applier = Applier::ProcpsSystem;

#[test]
fn a_space_after_the_comma_rejects_the_whole_reserved_list_at_boot() {
    let b = boot(SD, &[("/etc/sysctl.d/60-ports.conf", "net.ipv4.ip_local_reserved_ports = 40000, 40001\n")]);
    assert!(b.state.reserved.ranges().is_empty());
    assert_eq!(b.rejected.len(), 1);
    let r = &b.rejected[0];
    assert_eq!(
        (r.key, r.origin.file.as_str(), r.origin.line, r.in_force.as_str()),
        (PortKey::Reserved, "/etc/sysctl.d/60-ports.conf", 1, "(none)")
    );
}

#[test]
fn a_trailing_comment_does_not_stop_the_range() {
    let b = boot(SD, &[("a.conf", "net.ipv4.ip_local_port_range = 10000 65000 # widen for the app\n")]);
    assert_eq!(range(&b), (10000, 65000));
    assert!(b.rejected.is_empty());
}

#[test]
fn systemd_writes_only_the_last_assignment_so_an_invalid_one_leaves_the_default() {
    let list = [
        ("/usr/lib/sysctl.d/10-a.conf", "net.ipv4.ip_local_port_range = 20000 30000\n"),
        ("/etc/sysctl.d/20-b.conf", "net.ipv4.ip_local_port_range = 30000 20000\n"),
    ];
    let b = boot(SD, &list);
    assert_eq!(range(&b), (32768, 60999));
    assert_eq!(b.rejected[0].in_force, "32768 60999");
    // procps writes both lines: the first one stays in force.
    assert_eq!(range(&boot(PS, &list)), (20000, 30000));
}

#[test]
fn the_order_of_writes_decides_whether_a_low_range_is_accepted() {
    // The range is written before the start is lowered: refused. Assigning
    // the range again with another value moves it after the start.
    let first = "net.ipv4.ip_local_port_range = 500 60000\nnet.ipv4.ip_unprivileged_port_start = 400\n";
    assert_eq!(range(&boot(SD, &[("a.conf", first)])), (32768, 60999));
    let moved = format!("{first}net.ipv4.ip_local_port_range = 500 60001\n");
    assert_eq!(range(&boot(SD, &[("a.conf", &moved)])), (500, 60001));
    // The same value again keeps its place in the table.
    let same = format!("{first}net.ipv4.ip_local_port_range = 500 60000\n");
    assert_eq!(range(&boot(SD, &[("a.conf", &same)])), (32768, 60999));
}

#[test]
fn globs_write_keys_no_entry_names_and_exclusions_keep_keys_out() {
    let b = boot(SD, &[("a.conf", "net.ipv4.ip_local_*_ports = 8080\n")]);
    assert!(b.state.reserved.contains(8080));
    let b = boot(SD, &[("a.conf", "net.ipv4.ip_local_*_ports = 8080\n-net.ipv4.ip_local_reserved_ports\n")]);
    assert!(b.state.reserved.ranges().is_empty());
    // A later '-key' line replaces an earlier assignment of the key.
    let b = boot(SD, &[("a.conf", "net.ipv4.ip_local_reserved_ports = 8080\n-net.ipv4.ip_local_reserved_ports\n")]);
    assert!(b.state.reserved.ranges().is_empty());
}

#[test]
fn a_bom_makes_the_first_key_unknown() {
    let b = boot(SD, &[("a.conf", "\u{feff}net.ipv4.ip_local_reserved_ports = 8080\n")]);
    assert!(b.state.reserved.ranges().is_empty());
    assert!(b.set_by.is_empty());
}

#[test]
fn rejected_values_are_escaped_and_short() {
    let b = boot(SD, &[("a.conf", &format!("net.ipv4.ip_local_reserved_ports = \u{1b}[31m{}\n", "9".repeat(300)))]);
    let v = &b.rejected[0].value;
    assert!(!v.contains('\u{1b}') && v.chars().count() <= 64, "{v:?}");
}
