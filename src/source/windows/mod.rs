//! Windows: sockets and owning pids from GetExtendedTcpTable and
//! GetExtendedUdpTable (owner-pid classes, IPv4 and IPv6); name, exe, user
//! and hosted services from the pid; the dynamic range and exclusions from
//! `netsh int ipv4|ipv6 show dynamicportrange|excludedportrange`, parsed
//! localisation-safely (netsh rather than WMI: it is on every edition and
//! shows the administered `*` marker); a pending reboot from the registry.
//! The persistent views come from the same commands with `store=persistent`;
//! where netsh refuses that, the persistent view is left unknown, not faked.

mod sys;

use super::collector::Partial;
use super::{Collector, OsSource, Paths, Request, Run};
use crate::model::{CollectorName, Family, Os, PortSet, Protocol, RangeView, Ranges, SockState, Store};
use crate::parse::console::decode;
use crate::parse::netsh::{parse_dynamic, parse_excluded_table};
use std::collections::BTreeMap;
use std::process::Command;

pub struct WindowsSource {
    netsh: Collector<()>,
    sockets: Collector<()>,
    owners: Collector<()>,
    reboot: Collector<()>,
}

fn netsh(args: &[&str]) -> Option<String> {
    let out = Command::new("netsh").args(args).output().ok()?;
    out.status.success().then(|| decode(&out.stdout))
}

/// Every (protocol, family, store) view; problems say what netsh would not give.
fn ranges() -> (Ranges, Vec<String>) {
    let mut jobs = Vec::new();
    for proto in Protocol::ALL {
        for fam in Family::ALL {
            for store in Store::ALL {
                jobs.push(std::thread::spawn(move || {
                    let f = fam.as_str();
                    let p = format!("protocol={proto}");
                    let mut dynamic = vec!["int", f, "show", "dynamicportrange", &p];
                    let mut excluded = vec!["int", f, "show", "excludedportrange", &p];
                    if store == Store::Persistent {
                        dynamic.push("store=persistent");
                        excluded.push("store=persistent");
                    }
                    let range = netsh(&dynamic)
                        .and_then(|t| parse_dynamic(&t).into_iter().find(|d| d.protocol.is_none_or(|x| x == proto)).map(|d| d.range));
                    let excl = netsh(&excluded).and_then(|t| parse_excluded_table(&t));
                    let view = RangeView {
                        range,
                        excluded: excl.as_ref().map(|e| PortSet::from_ranges(e.iter().map(|x| x.range).collect())),
                        system_excluded: excl
                            .as_ref()
                            .map(|e| PortSet::from_ranges(e.iter().filter(|x| !x.administered).map(|x| x.range).collect())),
                        high: None,
                    };
                    ((proto, fam, store), view)
                }));
            }
        }
    }
    let mut out = Ranges::new();
    let mut problems = Vec::new();
    for j in jobs {
        if let Ok((key, view)) = j.join() {
            if view.range.is_none() || view.excluded.is_none() {
                problems.push(format!("netsh gave no {} view for {}/{}", key.2.as_str(), key.0, key.1.as_str()));
            }
            out.insert(key, view);
        }
    }
    (out, problems)
}

impl OsSource for WindowsSource {
    const OS: Os = Os::Windows;

    fn new(_paths: Paths) -> WindowsSource {
        let stateless = |name| Collector::new(name, ());
        WindowsSource {
            netsh: stateless(CollectorName::Netsh),
            sockets: stateless(CollectorName::Sockets),
            owners: stateless(CollectorName::Owners),
            reboot: stateless(CollectorName::Reboot),
        }
    }

    /// Runs the collectors the request wants. The ephemeral count needs the
    /// socket table and the active ranges: they are read for it even when
    /// `sockets` or `netsh` was not asked for, and then report nothing of their own.
    fn collect(&mut self, run: &mut Run, req: &Request) {
        let want_count = req.wants(CollectorName::Ephemeral);
        let ranges = (req.wants(CollectorName::Netsh) || want_count).then(|| {
            self.netsh.spawn_partial(|_| {
                let (r, problems) = ranges();
                let status = if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) };
                Partial { value: Some(r), status }
            })
        });
        let reboot = req.wants(CollectorName::Reboot).then(|| self.reboot.spawn(|_| Ok(sys::reboot_pending())));
        let tables = (req.wants(CollectorName::Sockets) || want_count).then(|| {
            run.run(&self.sockets, |_| {
                let [t4, t6, u4, u6] = sys::socket_tables()?;
                let mut all = Vec::new();
                for (buf, parse) in [
                    (t4, crate::parse::mib::parse_tcp4 as fn(&[u8]) -> _),
                    (t6, crate::parse::mib::parse_tcp6),
                    (u4, crate::parse::mib::parse_udp4),
                    (u6, crate::parse::mib::parse_udp6),
                ] {
                    all.extend(parse(&buf).map_err(|e| e.to_string())?);
                }
                Ok(all)
            })
        });
        let ranges = ranges.and_then(|r| run.wait(r)).unwrap_or_default();
        if req.wants(CollectorName::Netsh) {
            run.snap.ranges = ranges.clone();
        }
        let pids = match tables {
            Some(tables) => super::table::fill(run, req, tables, &ranges),
            None => Default::default(),
        };
        if req.wants(CollectorName::Owners) {
            let processes = run.run(&self.owners, move |_| {
                let services = sys::services_by_pid();
                let mut out = BTreeMap::new();
                for pid in pids {
                    if let Some(mut p) = sys::process(pid) {
                        p.units = services.get(&pid).cloned().unwrap_or_default();
                        out.insert(pid, p);
                    }
                }
                Ok(out)
            });
            // Pid 0 is the idle process: fine for TIME_WAIT, but if every other
            // socket reports it, the API is not giving owners (seen under Wine).
            let live: Vec<&crate::model::Socket> = run.snap.sockets.iter().filter(|s| s.state != SockState::TimeWait).collect();
            let pids_given = live.is_empty() || live.iter().any(|s| run.snap.owners.contains_key(&s.inode));
            run.snap.owners_resolvable = processes.is_some() && pids_given;
            run.snap.processes = processes.unwrap_or_default();
        } else {
            // Without the owners collector no holder is named (table::fill gives pids with the sockets).
            run.snap.owners = Default::default();
        }
        run.snap.reboot_required = reboot.and_then(|r| run.wait(r));
    }
}
