#![no_main]
//! The exposition of hostile names: a watch name, a process name and a user
//! name from the input (control characters, quotes, backslashes, invalid
//! UTF-8) must still render as valid OpenMetrics text, every label value one
//! printable line.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::assess::assess;
use portwatch_exporter::config::{Config, Watch, Watches};
use portwatch_exporter::metrics::{render, Format, Meta};
use portwatch_exporter::model::{Family, Process, Protocol, Snapshot, SockState, Socket};

/// A label value's body up to its closing quote; panics on a bad escape.
fn label_value(chars: &mut std::str::Chars) -> String {
    let mut out = String::new();
    loop {
        match chars.next().expect("unterminated label value") {
            '"' => return out,
            '\\' => match chars.next().expect("dangling escape") {
                'n' => out.push('\n'),
                c @ ('\\' | '"') => out.push(c),
                c => panic!("invalid escape \\{c}"),
            },
            c => out.push(c),
        }
    }
}

/// Strict check of one sample line: name{label="value",...} number.
fn sample(line: &str) {
    let name_end = line.find(['{', ' ']).expect("a sample line has a value");
    let name = &line[..name_end];
    assert!(name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'), "{name}");
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{name}");
    let mut chars = line[name_end..].chars();
    let mut rest = chars.as_str();
    if rest.starts_with('{') {
        chars.next();
        loop {
            let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert!(!label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "label {label:?} in {line}");
            assert_eq!(chars.next(), Some('"'), "{line}");
            let value = label_value(&mut chars);
            assert!(!value.chars().any(char::is_control), "label {label} carries a control character: {value:?}");
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                other => panic!("after a label value: {other:?} in {line}"),
            }
        }
        rest = chars.as_str();
    }
    let value = rest.strip_prefix(' ').expect("a space before the value");
    assert!(value.parse::<f64>().is_ok(), "value {value:?} in {line}");
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0xff).map(|b| String::from_utf8_lossy(b).into_owned());
    let (name, process, user) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if name.trim().is_empty() {
        return;
    }
    let config = Config {
        watches: Watches::Listed(vec![Watch { name, port: 5432, protocol: Protocol::Tcp, address: None, expect: None }]),
        socket_info_limit: 10,
        ..Config::discover()
    };
    let mut snap = Snapshot { owners_resolvable: true, ..Snapshot::default() };
    snap.sockets.push(Socket {
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: [127, 0, 0, 1].into(),
        port: 5432,
        state: SockState::Listen,
        inode: 7,
    });
    snap.owners.insert(7, [100].into());
    snap.processes.insert(100, Process { name: process, user: Some(user), ..Process::default() });
    let meta = Meta { version: "v".into(), revision: "r".into(), reload_successful: true, collections: 1, ..Meta::default() };
    let text = render(&assess(&config, &snap), &meta, Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "the exposition ends with # EOF");
    for line in text.lines() {
        assert!(!line.chars().any(char::is_control), "a raw control character: {line:?}");
        if !line.starts_with('#') {
            sample(line);
        }
    }
    assert!(text.contains("portwatch_port_socket_info{"), "the hostile names were rendered");
});
