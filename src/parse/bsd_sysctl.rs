//! `sysctl net.inet.ip.portrange` on macOS and FreeBSD: `key: value` lines.
//! `first`..`last` is the range for ordinary outgoing connections;
//! `hifirst`..`hilast` is IP_PORTRANGE_HIGH. See FreeBSD ip(4) and inet(4).

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortRangeKeys {
    pub first: Option<u16>,
    pub last: Option<u16>,
    pub hifirst: Option<u16>,
    pub hilast: Option<u16>,
}

/// Reads the portrange keys, tolerating a `sysctl ` prefix, `=` or `:`,
/// spaces around the separator and trailing spaces. Other keys are ignored.
pub fn parse_portrange(text: &str) -> PortRangeKeys {
    let mut k = PortRangeKeys::default();
    for line in text.lines() {
        let line = line.trim().trim_start_matches("sysctl ").trim();
        let Some((key, value)) = line.split_once([':', '=']) else { continue };
        let Some(name) = key.trim().strip_prefix("net.inet.ip.portrange.") else { continue };
        let Ok(v) = value.trim().parse::<u16>() else { continue };
        match name {
            "first" => k.first = Some(v),
            "last" => k.last = Some(v),
            "hifirst" => k.hifirst = Some(v),
            "hilast" => k.hilast = Some(v),
            _ => {}
        }
    }
    k
}

fn ordered(a: Option<u16>, b: Option<u16>) -> Option<crate::model::PortRange> {
    let (a, b) = (a?, b?);
    Some(crate::model::PortRange { start: a.min(b), end: a.max(b) })
}

impl PortRangeKeys {
    /// The default dynamic range; FreeBSD allows first > last (it then
    /// allocates downwards), so the bounds are ordered.
    pub fn dynamic(&self) -> Option<crate::model::PortRange> {
        ordered(self.first, self.last)
    }

    /// The IP_PORTRANGE_HIGH range, ordered likewise.
    pub fn high(&self) -> Option<crate::model::PortRange> {
        ordered(self.hifirst, self.hilast)
    }

    /// Each key this text does not set takes its value from `defaults`: a
    /// sysctl.conf that sets only `first` keeps the kernel's `last`.
    pub fn or(self, defaults: PortRangeKeys) -> PortRangeKeys {
        PortRangeKeys {
            first: self.first.or(defaults.first),
            last: self.last.or(defaults.last),
            hifirst: self.hifirst.or(defaults.hifirst),
            hilast: self.hilast.or(defaults.hilast),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortRange;

    #[test]
    fn unset_keys_fall_back_to_the_kernel_defaults() {
        let defaults = PortRangeKeys { first: Some(10000), last: Some(65535), hifirst: Some(49152), hilast: Some(65535) };
        let only_first = parse_portrange("# moved by portwatch\nnet.inet.ip.portrange.first=50001\n").or(defaults);
        assert_eq!(only_first.dynamic(), Some(PortRange { start: 50001, end: 65535 }));
        assert_eq!(only_first.high(), Some(PortRange { start: 49152, end: 65535 }));
        let downwards = parse_portrange("net.inet.ip.portrange.hifirst=60000\nnet.inet.ip.portrange.hilast=50000").or(defaults);
        assert_eq!(downwards.high(), Some(PortRange { start: 50000, end: 60000 }));
        assert_eq!(parse_portrange("").or(defaults), defaults);
    }

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bsd-sysctl").join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Every real capture: (file, first, last, hifirst, hilast).
    #[test]
    fn real_captures() {
        type Case = (&'static str, Option<u16>, Option<u16>, Option<u16>, Option<u16>);
        let cases: [Case; 9] = [
            ("darwin-fixture-ruby-portrange-excerpt.txt", Some(49152), Some(65535), Some(49152), Some(65535)),
            ("freebsd-12.2-rpi-first-10000.txt", Some(10000), Some(65535), Some(49152), Some(65535)),
            ("freebsd-runbook-es-first-last.txt", Some(49152), Some(65535), None, None),
            ("freebsd-tuning-doc-zh-trailing-space.txt", Some(49152), Some(65535), Some(49152), Some(65535)),
            ("macos-first-last-two-keys.txt", Some(49152), Some(65535), None, None),
            ("macos-hand-aligned-with-sysctl-prefix-mangled.txt", Some(49152), Some(65535), None, None),
            ("macos-hifirst-hilast-separate-calls.txt", None, None, Some(49152), Some(65535)),
            ("macos-sysctl-a-grep-net-inet-ip-partial.txt", Some(49152), Some(65535), Some(49152), Some(65535)),
            ("pfsense-2.2-reservedhigh-first-1024.txt", Some(1024), None, None, None),
        ];
        for (file, first, last, hifirst, hilast) in cases {
            assert_eq!(parse_portrange(&fixture(file)), PortRangeKeys { first, last, hifirst, hilast }, "{file}");
        }
        assert_eq!(
            parse_portrange(&fixture("freebsd-12.2-rpi-first-10000.txt")).dynamic(),
            Some(crate::model::PortRange { start: 10000, end: 65535 })
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(parse_portrange(""), PortRangeKeys::default());
        assert_eq!(
            parse_portrange("net.inet.ip.portrange.first=1024\r\nnet.inet.ip.portrange.last = 5000\r\n").dynamic(),
            Some(crate::model::PortRange { start: 1024, end: 5000 })
        );
        assert_eq!(parse_portrange("net.inet.ip.portrange.first: 70000\nnet.inet.ip.portrange.last: x\n"), PortRangeKeys::default());
        assert_eq!(
            parse_portrange("net.inet.ip.portrange.first: 60000\nnet.inet.ip.portrange.last: 50000\n").dynamic().map(|r| (r.start, r.end)),
            Some((50000, 60000))
        );
    }
}
