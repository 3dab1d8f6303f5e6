//! The whole pipeline against a fake procfs and rootfs checked into
//! tests/fixtures/host1 (sockets from its text tables), diffed against a
//! golden exposition in each format: `host1.prom` (OpenMetrics) and
//! `host1.text.prom` (text 0.0.4). `UPDATE_GOLDEN=1 cargo test` refreshes them.
//! The exporter's own `process_*` are not there: they describe the process
//! that renders, not the host (tests/self_metrics.rs checks them).

mod common;

use common::{assert_golden, fixture_scraper, has_series, normalize, soon, value};
use portwatch_exporter::metrics::Format;

fn scrape_host1() -> String {
    fixture_scraper("host1").render(soon())
}

#[test]
fn fixture_host_exposition_matches_golden() {
    assert_golden("host1.prom", &normalize(&scrape_host1()));
}

/// The text format differs only where client_golang's does: counters are
/// `_total` on HELP and TYPE too, and there is no `# EOF`.
#[test]
fn fixture_host_text_format_matches_golden() {
    let text = fixture_scraper("host1").collect(soon()).body(Format::Text);
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
    let mut s = fixture_scraper("host1");
    let first = normalize(&s.render(soon()));
    let second = normalize(&s.render(soon()));
    assert_eq!(first, second);
}

#[test]
fn fixture_host_reports_each_linux_collector_in_order_and_the_readme_lists_them() {
    use portwatch_exporter::model::{CollectorName, Os};
    let m = scrape_host1();
    let reported: Vec<String> = m
        .lines()
        .filter_map(|l| l.strip_prefix("portwatch_scrape_collector_success{collector=\""))
        .filter_map(|l| l.split('"').next().map(str::to_string))
        .collect();
    // Those on by default (`netns` is not: tests/netns_collector.rs).
    let declared: Vec<&str> = CollectorName::for_os(Os::Linux).iter().filter(|c| c.default_enabled()).map(|c| c.as_str()).collect();
    assert_eq!(reported, declared, "the Linux source reports its collectors itself, in the declared order");
    // README's collector table: one row per collector, "yes" under each OS that runs it.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let oses = Os::KNOWN;
    for name in CollectorName::ALL {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", name.as_str())))
            .unwrap_or_else(|| panic!("README has no row for collector {}", name.as_str()));
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let marks = &cells[cells.len() - oses.len()..];
        for (os, mark) in oses.iter().zip(marks) {
            let runs = CollectorName::for_os(*os).contains(&name);
            assert_eq!(*mark == "yes", runs, "README row for {} under {}", name.as_str(), os.as_str());
        }
    }
}
