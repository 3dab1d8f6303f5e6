//! `collect[]` and `exclude[]` on the telemetry path, answered as
//! node_exporter answers them (node_exporter.go's handler and
//! collector.NewNodeCollector): `collect[]=NAME` (repeatable) runs only the
//! named collectors, and a name this system has no collector for, or one the
//! flags turned off, is a 400 naming it; `exclude[]=NAME` (node_exporter
//! 1.10) runs the enabled collectors but those, names it does not know being
//! ignored; both together are a 400. The query is decoded as Go's
//! `url.ParseQuery` decodes it: `&`-separated, `+` is a space, percent escapes,
//! and a pair with a `;` or a bad escape is skipped.

use crate::model::{CollectorName, CollectorSet};

const COLLECT: &str = "collect[]";
const EXCLUDE: &str = "exclude[]";

/// The collectors one scrape runs; Err: the body of a 400.
/// `known`: the collectors this system runs; `enabled`: those the flags left on.
pub fn collectors(query: Option<&str>, enabled: CollectorSet, known: &[CollectorName]) -> Result<CollectorSet, String> {
    let (mut collect, mut exclude) = (Vec::new(), Vec::new());
    for (k, v) in query.into_iter().flat_map(pairs) {
        match k.as_str() {
            COLLECT => collect.push(v),
            EXCLUDE => exclude.push(v),
            _ => {}
        }
    }
    if !collect.is_empty() && !exclude.is_empty() {
        return Err("Combined collect and exclude queries are not allowed.".into());
    }
    if !exclude.is_empty() {
        let mut set = enabled;
        // `platform` (a system with no source) is never left out: it is what says so.
        for c in exclude.iter().filter_map(|name| CollectorName::from_name(name)).filter(|c| c.selectable()) {
            set.remove(c);
        }
        return Ok(set);
    }
    if collect.is_empty() {
        return Ok(enabled);
    }
    let mut set = CollectorSet::default();
    for name in &collect {
        let why = match CollectorName::from_name(name).filter(|c| known.contains(c)) {
            None => "missing collector",
            Some(c) if !enabled.contains(c) => "disabled collector",
            Some(c) => {
                set.insert(c);
                continue;
            }
        };
        return Err(format!("Couldn't create filtered metrics handler: couldn't create collector: {why}: {name}"));
    }
    Ok(set)
}

/// Decoded (key, value) pairs, as Go's `url.ParseQuery` keeps them.
fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty() && !p.contains(';')).filter_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        Some((unescape(k)?, unescape(v)?))
    })
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|d| char::from(*d).to_digit(16));
                out.push((hex(i + 1)? * 16 + hex(i + 2)?) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use CollectorName::*;

    const KNOWN: &[CollectorName] = &[Sysctl, Sockets, Ephemeral, Owners, Sysctld, Reboot];

    fn set(names: &[CollectorName]) -> CollectorSet {
        names.iter().copied().collect()
    }

    fn run(query: &str, enabled: &[CollectorName]) -> Result<CollectorSet, String> {
        collectors(Some(query), set(enabled), KNOWN)
    }

    #[test]
    fn collect_runs_only_the_named_collectors() {
        assert_eq!(run("", KNOWN), Ok(set(KNOWN)));
        assert_eq!(run("collect[]=sockets&collect[]=owners", KNOWN), Ok(set(&[Sockets, Owners])));
        assert_eq!(run("collect%5B%5D=sockets&collect[]=sockets", KNOWN), Ok(set(&[Sockets])), "escaped key, repeated name");
        assert_eq!(run("other=1&collect[]=reboot", KNOWN), Ok(set(&[Reboot])));
    }

    #[test]
    fn unknown_or_disabled_names_are_refused_as_node_exporter_words_it() {
        let missing = "Couldn't create filtered metrics handler: couldn't create collector: missing collector: ";
        assert_eq!(run("collect[]=cpu", KNOWN), Err(format!("{missing}cpu")));
        assert_eq!(run("collect[]=", KNOWN), Err(missing.to_string()), "an empty name is unknown");
        assert_eq!(run("collect[]=netsh", KNOWN), Err(format!("{missing}netsh")), "another system's collector");
        assert_eq!(run("collect[]=platform", KNOWN), Err(format!("{missing}platform")));
        assert_eq!(run("collect[]=a+b%21", KNOWN), Err(format!("{missing}a b!")));
        assert_eq!(
            run("collect[]=sockets&collect[]=owners", &[Sockets]),
            Err("Couldn't create filtered metrics handler: couldn't create collector: disabled collector: owners".into())
        );
    }

    #[test]
    fn exclude_drops_names_and_ignores_unknown_ones() {
        assert_eq!(run("exclude[]=ephemeral", KNOWN), Ok(set(&[Sysctl, Sockets, Owners, Sysctld, Reboot])));
        assert_eq!(run("exclude[]=nope&exclude[]=", &[Sockets]), Ok(set(&[Sockets])));
        assert_eq!(run("exclude[]=sockets", &[Sockets]), Ok(CollectorSet::default()), "excluding all runs none");
        assert_eq!(collectors(Some("exclude[]=platform"), set(&[Platform]), &[Platform]), Ok(set(&[Platform])), "platform stays");
        assert_eq!(run("collect[]=sockets&exclude[]=owners", KNOWN), Err("Combined collect and exclude queries are not allowed.".into()));
    }

    #[test]
    fn pairs_that_go_would_not_parse_are_skipped() {
        assert_eq!(run("collect[]=%zz", KNOWN), Ok(set(KNOWN)), "bad escape");
        assert_eq!(run("collect[]=sockets;x", KNOWN), Ok(set(KNOWN)), "semicolon");
        assert_eq!(run("collect[]=%4", KNOWN), Ok(set(KNOWN)), "short escape");
        assert_eq!(run("collect[]=%+1", KNOWN), Ok(set(KNOWN)), "a sign is no hex digit");
    }
}
