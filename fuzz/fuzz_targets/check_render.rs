#![no_main]
//! `check`'s table: any names (control characters, any length), any number
//! of holders and sockets. It must not panic, and no line may grow with the
//! number of holders.
use libfuzzer_sys::fuzz_target;
use portwatch_exporter::assess::{Holder, PortReport, Report, Unknown, Verdict};
use portwatch_exporter::model::{CollectorName, CollectorStatus, Family, Os, Process, Protocol, Store};
use std::collections::BTreeMap;
use std::time::Duration;

/// Takes bytes off the front of the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// A length-prefixed string; the prefix byte scales it up to 4 KiB.
    fn text(&mut self) -> String {
        let n = (usize::from(self.byte()) * 16).min(self.0.len());
        let (t, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(t).into_owned()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let mut ports = Vec::new();
    for _ in 0..inp.byte() % 4 {
        let name = inp.text();
        let port = inp.u32() as u16;
        let n = (inp.u32() % 5_000) as usize;
        let proc_name = inp.text();
        let user = inp.text();
        let holders: Vec<Holder> = (0..n)
            .map(|i| Holder {
                family: if i % 2 == 0 { Family::Ipv4 } else { Family::Ipv6 },
                address: if i % 2 == 0 { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() },
                state: ["listen", "established", "time_wait"][i % 3].into(),
                pid: (i % 5 != 0).then_some(i as u32),
                process: (i % 3 != 0).then(|| Process { name: proc_name.clone(), user: Some(user.clone()), ..Process::default() }),
                expected: i % 7 == 0,
                sockets: 1 + (i * 7919) % 100_000,
            })
            .collect();
        let flags = inp.byte();
        ports.push(PortReport {
            name,
            port,
            protocol: if flags & 1 == 0 { Protocol::Tcp } else { Protocol::Udp },
            sockets: holders.iter().map(|h| h.sockets).sum(),
            bound_by_expected: holders.iter().any(|h| h.expected),
            bound_by_other: holders.iter().any(|h| !h.expected),
            holders,
            in_range: BTreeMap::from([(Store::Active, flags & 2 != 0), (Store::Persistent, flags & 4 != 0)]),
            excluded: BTreeMap::from([(Store::Active, flags & 8 != 0), (Store::Persistent, flags & 16 != 0)]),
            reserved_by_system: (flags & 32 != 0).then_some(flags & 64 != 0),
            // Verdicts that cannot be given add their own lines.
            unknown: if flags & 128 != 0 {
                vec![Unknown { verdict: Verdict::Owners, reason: "owners are hidden from the exporter".into() }]
            } else {
                vec![]
            },
        });
    }
    let collectors = vec![CollectorStatus { name: CollectorName::Sockets, success: inp.byte() % 2 == 0, duration: Duration::ZERO }];
    let report = Report { ports, owners_resolvable: inp.byte() % 2 == 0, collectors, socket_info_limit: 10, ..Report::default() };
    for os in Os::KNOWN {
        let (text, _) = portwatch_exporter::check::render(&report, os);
        // A name is cut at 64 characters, each at most 10 when escaped; three
        // holders in full and three groups: a row stays within a few KiB.
        assert!(text.lines().all(|l| l.chars().count() < 16_000), "a line grew without bound");
    }
});
