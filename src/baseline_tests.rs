use super::*;

fn owner(name: &str) -> Owner {
    Owner { process: name.into(), exe: Some(format!("/usr/bin/{name}")), user: Some("svc".into()), unit: None }
}

fn held(ports: &[(&str, u16, &str)]) -> BTreeMap<PortKey, BTreeSet<Owner>> {
    let mut m: BTreeMap<PortKey, BTreeSet<Owner>> = BTreeMap::new();
    for (proto, port, name) in ports {
        m.entry((proto.to_string(), *port)).or_default().insert(owner(name));
    }
    m
}

const TEN_MIN: Policy = Policy { learn_after: 600, forget_after: 7 * 86400, max_ports: 100 };

#[test]
fn a_port_is_learned_only_after_being_held_without_a_break() {
    let mut b = Baseline::default();
    let sql = held(&[("tcp", 1433, "sqlservr")]);
    assert!(b.observe(&sql, 1000, &TEN_MIN).of(Change::Learned).is_empty());
    assert!(b.expected("tcp", 1433).is_none(), "a candidate is no expectation");
    // A break: the candidate starts over.
    b.observe(&BTreeMap::new(), 1300, &TEN_MIN);
    b.observe(&sql, 1400, &TEN_MIN);
    assert!(b.observe(&sql, 1900, &TEN_MIN).of(Change::Learned).is_empty(), "only 500 s since the break");
    assert_eq!(b.observe(&sql, 2000, &TEN_MIN).of(Change::Learned), vec![("tcp".to_string(), 1433)]);
    assert_eq!(b.expected("tcp", 1433), Some(&BTreeSet::from([owner("sqlservr")])));
}

#[test]
fn after_a_reboot_a_client_on_the_port_does_not_replace_the_learned_owner() {
    let mut b = Baseline::default();
    let now = Policy { learn_after: 0, ..TEN_MIN };
    b.observe(&held(&[("tcp", 1433, "sqlservr")]), 10, &now);
    // The reboot: the client holds the port, for longer than learn_after.
    let thief = held(&[("tcp", 1433, "curl")]);
    let c = b.observe(&thief, 20, &TEN_MIN);
    assert!(c.of(Change::OwnerChanged).is_empty());
    b.observe(&thief, 500, &TEN_MIN);
    assert_eq!(b.expected("tcp", 1433), Some(&BTreeSet::from([owner("sqlservr")])), "still sqlservr");
    // Held for learn_after, the new owner is the new normal, and that is a change.
    assert_eq!(b.observe(&thief, 620, &TEN_MIN).of(Change::OwnerChanged), vec![("tcp".to_string(), 1433)]);
    assert_eq!(b.expected("tcp", 1433), Some(&BTreeSet::from([owner("curl")])));
}

#[test]
fn a_learned_port_nobody_holds_is_kept_until_forget_after() {
    let mut b = Baseline::default();
    b.observe(&held(&[("udp", 53, "named")]), 0, &Policy { learn_after: 0, ..TEN_MIN });
    let none = BTreeMap::new();
    assert!(b.observe(&none, 7 * 86400 - 1, &TEN_MIN).of(Change::Forgotten).is_empty());
    assert!(b.expected("udp", 53).is_some(), "expected owner missing, still expected");
    assert_eq!(b.observe(&none, 7 * 86400, &TEN_MIN).of(Change::Forgotten), vec![("udp".to_string(), 53)]);
    assert!(b.ports.is_empty());
}

#[test]
fn the_baseline_is_bounded_and_says_what_it_dropped() {
    let mut b = Baseline::default();
    let many: Vec<(&str, u16, &str)> = (0..150).map(|i| ("tcp", 10000 + i, "svc")).collect();
    let c = b.observe(&held(&many), 0, &TEN_MIN);
    assert_eq!((b.ports.len(), c.dropped, c.of(Change::Appeared).len()), (100, 50, 150));
}

#[test]
fn forget_and_accept() {
    let mut b = Baseline::default();
    b.observe(&held(&[("tcp", 80, "nginx"), ("tcp", 443, "nginx")]), 0, &Policy { learn_after: 0, ..TEN_MIN });
    assert!(b.forget("tcp", 80) && !b.forget("tcp", 80));
    b.accept(&held(&[("tcp", 443, "caddy"), ("tcp", 8080, "app")]), 5);
    assert_eq!(b.expected("tcp", 443), Some(&BTreeSet::from([owner("caddy")])));
    assert_eq!(b.expected("tcp", 8080), Some(&BTreeSet::from([owner("app")])));
}

/// Many random histories against a second statement of the rules, port by
/// port: learned once one holder held the port without a break for
/// learn_after; kept while others hold it until they have done the same;
/// dropped after forget_after without any holder; a candidate that loses its
/// holder starts over. The clock sometimes goes back (counted as no time).
#[test]
fn generated_histories_match_the_rules_stated_port_by_port() {
    let mut rng = crate::testing::Rng::from_env("BASELINE_SEED", 0x5eed);
    let mut rnd = move |n: u64| rng.below(n);
    let names = ["a", "b", "c"];
    struct Model {
        learned: Option<&'static str>,
        run: Option<(&'static str, u64)>,
        last_seen: u64,
    }
    for case in 0..500 {
        let policy = Policy { learn_after: rnd(60), forget_after: 1 + rnd(200), max_ports: 8 };
        let mut b = Baseline::default();
        let mut t: u64 = 1000;
        let mut model: BTreeMap<u16, Model> = BTreeMap::new();
        for step in 0..80 {
            t = if rnd(8) == 0 { t.saturating_sub(rnd(30)) } else { t + rnd(40) };
            let mut obs = Vec::new();
            for port in 1..=8u16 {
                let holder = (rnd(4) != 0).then(|| names[rnd(3) as usize]);
                let m = model.entry(port).or_insert(Model { learned: None, run: None, last_seen: 0 });
                match holder {
                    Some(h) => {
                        obs.push(("tcp", port, h));
                        m.last_seen = m.last_seen.max(t);
                        if m.learned == Some(h) {
                            m.run = None;
                            continue;
                        }
                        let start = match m.run {
                            Some((o, start)) if o == h => start,
                            _ => t,
                        };
                        if t.saturating_sub(start) >= policy.learn_after {
                            m.learned = Some(h);
                            m.run = None;
                        } else {
                            m.run = Some((h, start));
                        }
                    }
                    None if m.learned.is_none() => *m = Model { learned: None, run: None, last_seen: 0 },
                    None => {
                        m.run = None;
                        if t.saturating_sub(m.last_seen) >= policy.forget_after {
                            *m = Model { learned: None, run: None, last_seen: 0 };
                        }
                    }
                }
            }
            b.observe(&held(&obs), t, &policy);
            for (port, m) in &model {
                let got = b.expected("tcp", *port).map(|o| o.iter().map(|x| x.process.clone()).collect::<Vec<_>>());
                let want = m.learned.map(|h| vec![h.to_string()]);
                assert_eq!(got, want, "case {case} step {step} port {port} t {t} policy {policy:?}");
            }
        }
    }
}
