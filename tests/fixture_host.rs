//! The whole pipeline against a fake procfs and rootfs checked into
//! tests/fixtures/host1 (sockets from its text tables), diffed against a
//! golden exposition in each format: `host1.prom` (OpenMetrics) and
//! `host1.text.prom` (text 0.0.4). `UPDATE_GOLDEN=1 cargo test` refreshes them.
//! The exporter's own `process_*` are not there: they describe the process
//! that renders, not the host (tests/self_metrics.rs checks them).

mod common;

use common::{assert_golden, fixtures, has_series, normalize, soon, value};
use portwatch_exporter::metrics::Format;
use portwatch_exporter::scrape::Scraper;
use portwatch_exporter::source::{Paths, SocketTable};

fn scrape_host1() -> String {
    let host = fixtures().join("host1");
    let paths = Paths { procfs: host.join("proc"), rootfs: host.join("root"), boot_applier: None };
    let mut s = Scraper::new(paths, Some(host.join("portwatch.yml")), true, SocketTable::Procfs).expect("fixture config loads");
    s.render(soon())
}

#[test]
fn fixture_host_exposition_matches_golden() {
    assert_golden("host1.prom", &normalize(&scrape_host1()));
}

/// The text format differs only where client_golang's does: counters are
/// `_total` on HELP and TYPE too, and there is no `# EOF`.
#[test]
fn fixture_host_text_format_matches_golden() {
    let host = fixtures().join("host1");
    let paths = Paths { procfs: host.join("proc"), rootfs: host.join("root"), boot_applier: None };
    let mut s = Scraper::new(paths, Some(host.join("portwatch.yml")), true, SocketTable::Procfs).expect("fixture config loads");
    let text = s.collect(soon()).body(Format::Text);
    let text = normalize(std::str::from_utf8(&text).expect("UTF-8"));
    assert_golden("host1.text.prom", &text);
    common::promtool_accepts_text(&text);
    let om = normalize(&scrape_host1());
    let counters_renamed = om
        .replace("# HELP portwatch_collections ", "# HELP portwatch_collections_total ")
        .replace("# TYPE portwatch_collections counter", "# TYPE portwatch_collections_total counter");
    assert_eq!(counters_renamed.strip_suffix("# EOF\n"), Some(text.as_str()), "the formats differ only in counter names and # EOF");
}

#[test]
fn fixture_host_tells_each_situation_apart() {
    let m = scrape_host1();
    let v = |s: &str| value(&m, s).unwrap_or_else(|| panic!("no series {s}"));
    let pg = r#"{name="postgres",port="5432",protocol="tcp"}"#;
    // Listener and a forked backend are postgres; the TIME_WAIT has no owner.
    assert_eq!(v(&format!("portwatch_port_sockets{pg}")), 3.0);
    assert_eq!(v(&format!("portwatch_port_bound_by_expected{pg}")), 1.0);
    assert_eq!(v(&format!("portwatch_port_bound_by_other{pg}")), 1.0);
    assert!(has_series(
        &m,
        "portwatch_port_socket_info",
        &[("name", "postgres"), ("pid", "101"), ("state", "established"), ("user", "postgres"), ("expected", "true")]
    ));
    assert!(has_series(
        &m,
        "portwatch_port_socket_info",
        &[("name", "postgres"), ("pid", ""), ("state", "time_wait"), ("expected", "false")]
    ));
    // Persistent: 1025-65000 from /usr/lib, reserved list last set by /run/sysctl.d/40-weka.conf.
    assert_eq!(v(r#"portwatch_dynamic_port_range_start{protocol="tcp",family="ipv4",store="persistent"}"#), 1025.0);
    assert_eq!(v(r#"portwatch_dynamic_port_range_end{protocol="tcp",family="ipv4",store="active"}"#), 65535.0);
    assert_eq!(v(&format!("portwatch_port_reboot_risk{pg}")), 1.0);
    // 8080 is reserved now but not after a reboot.
    let web = r#"{name="web",port="8080",protocol="tcp",store="#;
    assert_eq!(v(&format!("portwatch_port_excluded_from_dynamic_range{web}\"active\"}}")), 1.0);
    assert_eq!(v(&format!("portwatch_port_excluded_from_dynamic_range{web}\"persistent\"}}")), 0.0);
    // A client holds 1433 as its source port.
    assert_eq!(v(r#"portwatch_port_bound_by_other{name="mssql",port="1433",protocol="tcp"}"#), 1.0);
    assert!(has_series(&m, "portwatch_port_socket_info", &[("name", "mssql"), ("process", "curl"), ("state", "established")]));
    // UDP 53 matched by systemd unit, below the range.
    assert_eq!(v(r#"portwatch_port_bound_by_expected{name="dns",port="53",protocol="udp"}"#), 1.0);
    assert!(has_series(&m, "portwatch_port_socket_info", &[("name", "dns"), ("state", "unconn")]));
    assert_eq!(v(r#"portwatch_port_reboot_risk{name="dns",port="53",protocol="udp"}"#), 0.0);
    assert_eq!(v(r#"portwatch_port_bound{name="redis",port="6379",protocol="tcp"}"#), 0.0);
    assert_eq!(v(r#"portwatch_dynamic_ports_in_use{protocol="tcp",family="ipv4"}"#), 6.0);
    // 1024-65535 minus 8080-8081 and 9148.
    assert_eq!(v(r#"portwatch_dynamic_ports_available{protocol="tcp",family="ipv4"}"#), 64509.0);
    assert_eq!(v("portwatch_owners_resolvable"), 1.0);
    assert_eq!(v("portwatch_reboot_required"), 1.0);
    for c in ["sysctl", "sysctld", "sockets", "owners", "ephemeral", "reboot"] {
        assert_eq!(v(&format!("portwatch_scrape_collector_success{{collector=\"{c}\"}}")), 1.0, "collector {c}");
    }
}

/// A second scrape hits the owner cache and must give the same answer.
#[test]
fn fixture_host_second_scrape_is_identical() {
    let host = fixtures().join("host1");
    let paths = Paths { procfs: host.join("proc"), rootfs: host.join("root"), boot_applier: None };
    let mut s = Scraper::new(paths, Some(host.join("portwatch.yml")), true, SocketTable::Procfs).expect("loads");
    let first = normalize(&s.render(soon()));
    let second = normalize(&s.render(soon()));
    assert_eq!(first, second);
}
