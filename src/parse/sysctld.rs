//! sysctl.d(5) files and the order systemd-sysctl applies them in.
//!
//! Lines are `key = value`; `#` and `;` start comments; a leading `-` on the
//! key means "ignore failure"; keys may use `/` instead of `.`. Files with the
//! same name in several directories: the earlier directory wins. All files are
//! then applied in file-name order, and for each key the last assignment wins.

use std::collections::BTreeMap;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A line that is neither blank, a comment, nor an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub text: String,
}

/// Parses one file; never fails as a whole.
pub fn parse_conf(text: &str) -> (Vec<Assignment>, Vec<BadLine>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let text = text.trim_start_matches('\u{feff}');
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bad.push(BadLine { line: i + 1, text: line.chars().take(80).collect() });
            continue;
        };
        let key = key.trim().trim_start_matches('-').trim().replace('/', ".");
        if key.is_empty() {
            bad.push(BadLine { line: i + 1, text: line.chars().take(80).collect() });
            continue;
        }
        out.push(Assignment { key, value: value.trim().to_string(), line: i + 1 });
    }
    (out, bad)
}

/// A candidate file: which directory (by precedence, 0 = highest) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub dir_rank: usize,
    pub name: String,
}

/// Picks, for every file name, the candidate from the highest-precedence
/// directory, and returns the winners in the order they are applied.
pub fn application_order(candidates: &[Candidate]) -> Vec<Candidate> {
    let mut by_name: BTreeMap<&str, &Candidate> = BTreeMap::new();
    for c in candidates.iter().filter(|c| c.name.ends_with(".conf")) {
        match by_name.get(c.name.as_str()) {
            Some(prev) if prev.dir_rank <= c.dir_rank => {}
            _ => {
                by_name.insert(c.name.as_str(), c);
            }
        }
    }
    by_name.into_values().cloned().collect()
}

/// The value of a key after applying files in order, with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub file: String,
    pub line: usize,
}

/// Applies parsed files (already in application order); last assignment wins.
pub fn resolve<'a>(files: impl IntoIterator<Item = (&'a str, &'a [Assignment])>, key: &str) -> Option<Setting> {
    let mut found = None;
    for (file, assignments) in files {
        for a in assignments.iter().filter(|a| a.key == key) {
            found = Some(Setting { value: a.value.clone(), file: file.to_string(), line: a.line });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(dir_rank: usize, name: &str) -> Candidate {
        Candidate { dir_rank, name: name.to_string() }
    }

    #[test]
    fn conf_lines_are_parsed_with_line_numbers() {
        let text =
            "# comment\n; also\n\nnet.ipv4.ip_local_port_range = 1024 65000\n-net/ipv4/ip_local_reserved_ports=8080\ngarbage line\n = 5\n";
        let (a, bad) = parse_conf(text);
        assert_eq!(
            a,
            vec![
                Assignment { key: "net.ipv4.ip_local_port_range".into(), value: "1024 65000".into(), line: 4 },
                Assignment { key: "net.ipv4.ip_local_reserved_ports".into(), value: "8080".into(), line: 5 },
            ]
        );
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![6, 7]);
    }

    #[test]
    fn earlier_directory_wins_for_same_name_and_files_apply_in_name_order() {
        // ranks: 0 /etc/sysctl.d, 1 /run/sysctl.d, 3 /usr/lib/sysctl.d
        let order = application_order(&[
            cand(3, "50-default.conf"),
            cand(0, "50-default.conf"),
            cand(1, "10-early.conf"),
            cand(3, "99-late.conf"),
            cand(0, "README"),
        ]);
        assert_eq!(order, vec![cand(1, "10-early.conf"), cand(0, "50-default.conf"), cand(3, "99-late.conf")]);
    }

    #[test]
    fn last_assignment_wins_across_files() {
        let (a, _) = parse_conf("net.ipv4.ip_local_port_range = 1024 65000\n");
        let (b, _) = parse_conf("net.ipv4.ip_local_port_range = 2000 3000\nnet.ipv4.ip_local_port_range = 4000 5000\n");
        let (c, _) = parse_conf("vm.swappiness = 1\n");
        let files = [("10-a.conf", a.as_slice()), ("20-b.conf", b.as_slice()), ("30-c.conf", c.as_slice())];
        let got = resolve(files, "net.ipv4.ip_local_port_range").expect("set");
        assert_eq!(got, Setting { value: "4000 5000".into(), file: "20-b.conf".into(), line: 2 });
        assert_eq!(resolve(files, "net.ipv4.ip_local_reserved_ports"), None);
    }
}
