//! `--collector.NAME`, `--no-collector.NAME` and `--collector.disable-defaults`,
//! generated from [`CollectorName`] (its label and its `help`), as node_exporter
//! registers one kingpin boolean per collector: the last of a pair wins, every
//! collector but `netns` and `nodeport` is on by default, and with `--collector.disable-defaults` only
//! those named by `--collector.NAME` run. `platform` (a system with no source)
//! has no flag. Flags naming another system's collector are accepted and
//! hidden, so one command line serves a mixed fleet; `ignored` names them.

use crate::model::{CollectorName, CollectorSet};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use std::collections::BTreeMap;

pub const HEADING: &str = "Collectors (all but netns and nodeport on by default; --no-collector.NAME turns one off)";
const DISABLE_DEFAULTS: &str = "collector.disable-defaults";

/// The collector flags as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorFlags {
    /// Collectors named on the command line: on (`--collector.NAME`) or off.
    pub chosen: BTreeMap<CollectorName, bool>,
    /// `--collector.disable-defaults`: collectors not named are off.
    pub disable_defaults: bool,
}

fn on(c: CollectorName) -> String {
    format!("collector.{c}")
}

fn off(c: CollectorName) -> String {
    format!("no-collector.{c}")
}

impl CollectorFlags {
    /// The collectors that run on every scrape (`collect[]` picks among them).
    pub fn enabled(&self) -> CollectorSet {
        CollectorName::ALL
            .into_iter()
            .filter(|c| match self.chosen.get(c) {
                Some(chosen) => *chosen,
                None => !c.selectable() || (!self.disable_defaults && c.default_enabled()),
            })
            .collect()
    }

    /// Flags that name a collector this system does not run: accepted, without effect.
    pub fn ignored(&self, os_collectors: &[CollectorName]) -> Vec<String> {
        self.chosen.iter().filter(|(c, _)| !os_collectors.contains(c)).map(|(c, v)| if *v { on(*c) } else { off(*c) }).collect()
    }
}

impl Args for CollectorFlags {
    fn augment_args(cmd: Command) -> Command {
        let native = crate::source::collectors();
        let mut cmd = cmd.arg(
            Arg::new(DISABLE_DEFAULTS)
                .long(DISABLE_DEFAULTS)
                .action(ArgAction::SetTrue)
                .global(true)
                .help_heading(HEADING)
                .help("Turn off every collector that no --collector.NAME turns on"),
        );
        for c in CollectorName::ALL.into_iter().filter(|c| c.selectable()) {
            // Another system's collector: accepted, not shown.
            let hidden = !native.contains(&c);
            cmd = cmd
                .arg(
                    Arg::new(on(c))
                        .long(on(c))
                        .action(ArgAction::SetTrue)
                        .overrides_with(off(c))
                        .global(true)
                        .hide(hidden)
                        .help_heading(HEADING)
                        .help(c.help()),
                )
                .arg(Arg::new(off(c)).long(off(c)).action(ArgAction::SetTrue).overrides_with(on(c)).global(true).hide(true));
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        CollectorFlags::augment_args(cmd)
    }
}

impl FromArgMatches for CollectorFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<CollectorFlags, clap::Error> {
        let mut flags = CollectorFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.disable_defaults |= m.get_flag(DISABLE_DEFAULTS);
        for c in CollectorName::ALL.into_iter().filter(|c| c.selectable()) {
            // The pair overrides each other, so at most one is still set: the last given.
            if m.get_flag(&on(c)) {
                self.chosen.insert(c, true);
            } else if m.get_flag(&off(c)) {
                self.chosen.insert(c, false);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Cli;
    use super::*;
    use clap::Parser;

    fn enabled(args: &[&str]) -> Vec<CollectorName> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).expect("parses");
        cli.collectors.enabled().iter().filter(|c| c.selectable()).collect()
    }

    #[test]
    fn every_collector_is_on_unless_turned_off_and_the_last_flag_wins() {
        let off = [CollectorName::Netns, CollectorName::Nodeport];
        let all: Vec<CollectorName> = CollectorName::ALL.into_iter().filter(|c| c.selectable() && !off.contains(c)).collect();
        assert_eq!(enabled(&[]), all, "all but netns and nodeport");
        assert!(enabled(&["--collector.nodeport"]).contains(&CollectorName::Nodeport));
        assert!(enabled(&["--collector.netns"]).contains(&CollectorName::Netns));
        assert!(!enabled(&["--collector.netns", "--no-collector.netns"]).contains(&CollectorName::Netns));
        assert!(!enabled(&["--no-collector.ephemeral"]).contains(&CollectorName::Ephemeral));
        assert!(enabled(&["--no-collector.owners", "--collector.owners"]).contains(&CollectorName::Owners));
        assert!(!enabled(&["--collector.owners", "--no-collector.owners"]).contains(&CollectorName::Owners));
        assert!(!enabled(&["check", "--no-collector.sockets"]).contains(&CollectorName::Sockets), "after the subcommand too");
    }

    #[test]
    fn disable_defaults_keeps_only_the_named_collectors_and_platform_always_runs() {
        assert_eq!(enabled(&["--collector.disable-defaults", "--collector.sockets"]), vec![CollectorName::Sockets]);
        assert_eq!(enabled(&["--collector.sockets", "--collector.disable-defaults"]), vec![CollectorName::Sockets], "in any order");
        assert!(enabled(&["--collector.disable-defaults"]).is_empty());
        let cli = Cli::try_parse_from(["x", "--collector.disable-defaults"]).expect("parses");
        assert!(cli.collectors.enabled().contains(CollectorName::Platform), "a system with no source always says so");
        assert!(Cli::try_parse_from(["x", "--collector.platform"]).is_err());
        assert!(Cli::try_parse_from(["x", "--collector.nope"]).is_err());
    }

    #[test]
    fn another_systems_collector_is_accepted_and_named_as_ignored() {
        let foreign = CollectorName::ALL.into_iter().find(|c| c.selectable() && !crate::source::collectors().contains(c));
        let Some(foreign) = foreign else { return };
        let cli = Cli::try_parse_from(["x".to_string(), format!("--no-collector.{foreign}")]).expect("parses");
        assert_eq!(cli.collectors.ignored(crate::source::collectors()), vec![format!("no-collector.{foreign}")]);
    }
}
