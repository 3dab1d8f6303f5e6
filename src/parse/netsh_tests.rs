//! Every real capture in tests/fixtures/windows-{excluded,dynamic} against
//! the values tests/fixtures/EXPECTED.md gives for it, plus hand-made edges.

use super::*;
use crate::parse::console::decode;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// EXPECTED.md: "### file" headings, each followed by "- ..." lines.
fn expected(section: &str) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(fixtures().join("EXPECTED.md")).expect("EXPECTED.md");
    let body = text.split(&format!("## {section}\n")).nth(1).expect("section").split("\n## ").next().unwrap_or("");
    body.split("\n### ")
        .skip(1)
        .map(|block| {
            let mut lines = block.lines();
            let file = lines.next().unwrap_or("").trim().to_string();
            (file, lines.filter_map(|l| l.strip_prefix("- ")).map(str::to_string).collect())
        })
        .collect()
}

fn read(dir: &str, file: &str) -> String {
    decode(&std::fs::read(fixtures().join(dir).join(file)).unwrap_or_else(|e| panic!("{dir}/{file}: {e}")))
}

/// "(1462,1462,False), (50000,50059,True)" -> exclusions.
fn rows(spec: &str) -> Vec<Exclusion> {
    spec.split("), (")
        .filter_map(|r| {
            let f: Vec<&str> = r.trim_matches(|c| c == '(' || c == ')' || c == ' ').split(',').collect();
            Some(Exclusion {
                range: PortRange { start: f.first()?.parse().ok()?, end: f.get(1)?.parse().ok()? },
                administered: *f.get(2)? == "True",
            })
        })
        .collect()
}

#[test]
fn every_excluded_capture_parses_to_its_expected_rows() {
    let cases = expected("windows-excluded");
    assert!(cases.len() >= 29, "EXPECTED.md lists {} captures", cases.len());
    let on_disk = std::fs::read_dir(fixtures().join("windows-excluded")).expect("dir").count();
    assert_eq!(cases.len(), on_disk, "every capture has an expectation");
    for (file, facts) in cases {
        let spec = facts.iter().find_map(|f| f.strip_prefix("rows: ")).unwrap_or_else(|| panic!("{file}: no rows"));
        let want = if spec.starts_with("[]") { vec![] } else { rows(spec) };
        assert_eq!(parse_excluded(&read("windows-excluded", &file)), want, "{file}");
    }
}

#[test]
fn every_dynamic_capture_parses_to_its_expected_blocks() {
    let cases = expected("windows-dynamic");
    let on_disk = std::fs::read_dir(fixtures().join("windows-dynamic")).expect("dir").count();
    assert_eq!(cases.len(), on_disk, "every capture has an expectation");
    for (file, facts) in cases {
        let want: Vec<DynamicRange> = facts
            .iter()
            .filter_map(|f| {
                let (proto, rest) = f.strip_prefix("protocol ")?.split_once(": start ")?;
                let (start, rest) = rest.split_once(", number of ports ")?;
                let count: u32 = rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
                let start: u32 = start.parse().ok()?;
                Some(DynamicRange {
                    protocol: protocol_token(proto),
                    range: PortRange { start: start as u16, end: (start + count - 1) as u16 },
                })
            })
            .collect();
        assert!(!want.is_empty(), "{file}: no expectation parsed");
        assert_eq!(parse_dynamic(&read("windows-dynamic", &file)), want, "{file}");
    }
}

#[test]
fn hand_made_edges() {
    assert_eq!(parse_excluded(""), vec![]);
    assert_eq!(parse_dynamic(""), vec![]);
    let crlf = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n      1433        1433     *\r\n\r\n* - Administered port exclusions.\r\n";
    assert_eq!(parse_excluded(crlf), vec![Exclusion { range: PortRange { start: 1433, end: 1433 }, administered: true }]);
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(crlf.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    assert_eq!(parse_excluded(&decode(&utf16)), parse_excluded(crlf));
    let bom = [[0xEF, 0xBB, 0xBF].as_slice(), b"Protocol udp Dynamic Port Range\nStart Port : 49152 \nNumber of Ports : 16384 \n"].concat();
    assert_eq!(
        parse_dynamic(&decode(&bom)),
        vec![DynamicRange { protocol: Some(Protocol::Udp), range: PortRange { start: 49152, end: 65535 } }]
    );
    // A value wrapped onto the next line after its label.
    assert_eq!(
        parse_dynamic("Protocol tcp Dynamic Port Range\nStart Port :\n 1024\nNumber of Ports :\n 64511\n")[0].range,
        PortRange { start: 1024, end: 65534 }
    );
    // Full-width colon (CJK consoles), and nonsense ranges rejected.
    assert_eq!(parse_dynamic("协议 tcp 动态端口范围\n启动端口：1024\n端口数：13977\n")[0].range, PortRange { start: 1024, end: 15000 });
    assert_eq!(parse_dynamic("Protocol tcp\nStart Port : 60000\nNumber of Ports : 16384\n"), vec![]);
    assert_eq!(parse_excluded("  70000 70001\n  5 3\n  1 2 **\n"), vec![]);
}

#[test]
fn only_real_tables_count_as_tables() {
    let empty = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n\r\n* - Administered port exclusions.\r\n";
    assert_eq!(parse_excluded_table(empty), Some(vec![]), "an empty table is 'nothing excluded'");
    assert_eq!(parse_excluded_table("The following command was not found: int ipv4 show excludedportrange.\r\n"), None);
    assert_eq!(parse_excluded_table(""), None);
    assert_eq!(parse_excluded_table(&read("windows-excluded", "zh-ftp-toolbox-udp-trimmed.txt")).map(|r| r.len()), Some(1));
}
