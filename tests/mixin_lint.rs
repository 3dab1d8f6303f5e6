//! The dashboard and mixin linter, run on the rendered files: the committed
//! dashboards, rules (Prometheus, PrometheusRule, Grafana-managed) and
//! docs/runbook.md, then the mixin rendered with the cluster selector on.
//! grafana/dashboard-linter and mixtool cannot be installed here, so their
//! rules live in tests/common/lint/; the last tests break one thing at a time
//! and check the linter says so.

mod common;
#[path = "common/lint/mod.rs"]
mod lint;

use common::require_tool;
use lint::rules::{self, Runbook};
use lint::{dashboards, Exclusion, Problem};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Problems accepted on purpose, as a dashboard-linter `.lint` file would.
/// An exclusion that covers nothing fails the run, so none outlives its reason.
const EXCLUSIONS: &[Exclusion] = &[
    Exclusion {
        rule: "template-instance-rule",
        place: "portwatch-host: variable instance",
        message: "multi select",
        reason: "the host dashboard shows one host: its tables and timelines aggregate by port",
    },
    Exclusion {
        rule: "template-instance-rule",
        place: "portwatch-host: variable instance",
        message: "allValue",
        reason: "a single-select variable has no All value",
    },
    Exclusion {
        rule: "alert-description-templating",
        place: "PortwatchExporterAbsent",
        message: "must use templates",
        reason: "absent() answers one series without the labels it looked for: there is nothing to template",
    },
];

const SELECTOR: &str = r#"job="portwatch""#;
const RUNBOOK: &str = "docs/runbook.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn runbook() -> Runbook {
    Runbook::parse(&format!("/{RUNBOOK}"), &read(RUNBOOK))
}

/// One rendering of the mixin, as files would hold it.
struct Rendered {
    dashboards: Vec<(String, Value)>,
    /// (file, `groups` of a rule file or PrometheusRule spec)
    rule_groups: Vec<(String, Value)>,
    grafana_alerts: (String, Value),
}

fn committed() -> Rendered {
    let dir = root().join("grafana/dashboards");
    let mut dashboards: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("grafana/dashboards")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = format!("grafana/dashboards/{}", p.file_name().unwrap_or_default().to_string_lossy());
            (name.clone(), serde_json::from_str(&read(&name)).unwrap_or_else(|e| panic!("{name}: {e}")))
        })
        .collect();
    dashboards.sort_by(|a, b| a.0.cmp(&b.0));
    let rules = "deploy/prometheus/portwatch.rules.yml";
    let k8s = "deploy/kubernetes/prometheusrule.yaml";
    let grafana = "grafana/provisioning/alerting/portwatch.yaml";
    Rendered {
        dashboards,
        rule_groups: vec![(rules.into(), yaml(rules)["groups"].clone()), (k8s.into(), yaml(k8s)["spec"]["groups"].clone())],
        grafana_alerts: (grafana.into(), yaml(grafana)),
    }
}

/// The mixin rendered by jsonnet with `_config` overridden by `config`.
fn render(config: &str) -> Rendered {
    let code = format!(
        "local m = (import 'grafana/mixin/mixin.libsonnet') + {{ _config+:: {config} }}; \
         {{ dashboards: m.grafanaDashboards, rules: m.prometheusAlerts, grafana: m.grafanaAlerts }}"
    );
    let out = Command::new("jsonnet").arg("-J").arg(root()).arg("-e").arg(&code).output().expect("jsonnet");
    assert!(out.status.success(), "jsonnet {code}: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("jsonnet output");
    let label = format!("render {config}");
    Rendered {
        dashboards: v["dashboards"].as_object().expect("dashboards").iter().map(|(k, d)| (format!("{label} {k}"), d.clone())).collect(),
        rule_groups: vec![(format!("{label} rules"), v["rules"]["groups"].clone())],
        grafana_alerts: (format!("{label} grafana alerts"), v["grafana"].clone()),
    }
}

struct Linted {
    problems: Vec<Problem>,
    queries: usize,
    /// Alerts linted in each rule file, the Grafana-managed ones last.
    alerts: Vec<usize>,
}

fn lint_rendered(r: &Rendered, cluster: Option<&str>, selector: &str, cluster_label: &str, book: &Runbook) -> Linted {
    let want = dashboards::Want { cluster_label: cluster.map(str::to_string) };
    let rules_want = rules::Want { selector: lint::matchers_of(selector), cluster_label: cluster_label.to_string(), runbook: book };
    let mut problems = Vec::new();
    let mut queries = 0;
    for (file, d) in &r.dashboards {
        let (p, n) = dashboards::lint(file, d, &want);
        problems.extend(p);
        queries += n;
    }
    let mut alerts = Vec::new();
    for (file, groups) in &r.rule_groups {
        let (p, names) = rules::lint_groups(file, groups, &rules_want);
        problems.extend(p);
        problems.extend(rules::lint_runbook_sections(RUNBOOK, book, &names));
        alerts.push(names.len());
    }
    let (p, names) = rules::lint_grafana(&r.grafana_alerts.0, &r.grafana_alerts.1, &rules_want);
    problems.extend(p);
    alerts.push(names.len());
    Linted { problems, queries, alerts }
}

/// Lints a rendering and fails with every problem left after the exclusions,
/// and with every exclusion that covered nothing.
fn assert_clean(r: &Rendered, cluster: Option<&str>, selector: &str, cluster_label: &str) {
    let linted = lint_rendered(r, cluster, selector, cluster_label, &runbook());
    let (left, unused) = lint::apply(linted.problems, EXCLUSIONS);
    let mut report: Vec<String> = left.iter().map(ToString::to_string).collect();
    report.extend(unused.iter().map(|e| format!("stale exclusion [{}] {} ({}): it covers nothing", e.rule, e.place, e.message)));
    assert!(report.is_empty(), "{} lint problems:\n{}", report.len(), report.join("\n"));
    assert!(r.dashboards.len() >= 2 && linted.queries >= 20, "linted only {} queries", linted.queries);
    // Every rule file mirrors the same alerts.
    assert!(linted.alerts[0] >= 10 && linted.alerts.iter().all(|n| *n == linted.alerts[0]), "alerts linted per file: {:?}", linted.alerts);
}

#[test]
fn committed_dashboards_rules_and_runbook_pass_the_linter() {
    assert_clean(&committed(), None, SELECTOR, "cluster");
}

#[test]
fn mixin_rendered_with_the_cluster_selector_on_passes_the_linter() {
    if !require_tool("jsonnet") {
        return;
    }
    assert_clean(&render("{ showMultiCluster: true }"), Some("cluster"), SELECTOR, "cluster");
    // Another label name and selector: nothing may assume the defaults.
    assert_clean(
        &render(r#"{ showMultiCluster: true, clusterLabel: 'k8s_cluster', portwatchSelector: 'job="node-portwatch"' }"#),
        Some("k8s_cluster"),
        r#"job="node-portwatch""#,
        "k8s_cluster",
    );
}

/// How many problems of `rule` the linter finds in the committed files after
/// `mutate`, against how many before.
fn count(rule: &str, cluster: Option<&str>, book: &Runbook, mutate: impl FnOnce(&mut Rendered)) -> (usize, usize) {
    let n = |r: &Rendered| lint_rendered(r, cluster, SELECTOR, "cluster", book).problems.iter().filter(|p| p.rule == rule).count();
    let mut r = committed();
    let before = n(&r);
    mutate(&mut r);
    (before, n(&r))
}

fn host(r: &mut Rendered) -> &mut Value {
    &mut r.dashboards.iter_mut().find(|(_, d)| d["uid"] == "portwatch-host").expect("host dashboard").1
}

/// The host dashboard's "Dynamic ports: in use vs available" panel.
fn usage_panel(r: &mut Rendered) -> &mut Value {
    host(r)["panels"]
        .as_array_mut()
        .expect("panels")
        .iter_mut()
        .find(|p| p["title"] == "Dynamic ports: in use vs available")
        .expect("panel")
}

fn set_expr(r: &mut Rendered, expr: &str) {
    usage_panel(r)["targets"][0]["expr"] = expr.into();
}

fn edit_expr(r: &mut Rendered, from: &str, to: &str) {
    let t = &mut usage_panel(r)["targets"][0]["expr"];
    let old = t.as_str().expect("expr").to_string();
    assert!(old.contains(from), "{old} lacks {from}");
    *t = old.replace(from, to).into();
}

fn remove(object: &mut Value, key: &str) {
    assert!(object.as_object_mut().and_then(|o| o.remove(key)).is_some(), "{object} has no {key}");
}

fn variable<'a>(r: &'a mut Rendered, name: &str) -> &'a mut Value {
    host(r)["templating"]["list"].as_array_mut().expect("variables").iter_mut().find(|v| v["name"] == name).expect("variable")
}

#[test]
fn linter_finds_each_broken_dashboard_rule() {
    let book = runbook();
    let m = r#"{job=~"$job", instance=~"$instance"}"#;
    type Mutation = Box<dyn FnOnce(&mut Rendered)>;
    let cases: Vec<(&str, &str, Option<&str>, Mutation)> = vec![
        ("panel without unit", "panel-units-rule", None, Box::new(|r| remove(&mut usage_panel(r)["fieldConfig"]["defaults"], "unit"))),
        (
            "unit Grafana lacks",
            "panel-units-rule",
            None,
            Box::new(|r| usage_panel(r)["fieldConfig"]["defaults"]["unit"] = "furlongs".into()),
        ),
        ("panel without description", "panel-title-description-rule", None, Box::new(|r| usage_panel(r)["description"] = "".into())),
        ("fixed panel datasource", "panel-datasource-rule", None, Box::new(|r| usage_panel(r)["datasource"]["uid"] = "prometheus".into())),
        ("panel without targets", "panel-no-targets-rule", None, Box::new(|r| usage_panel(r)["targets"] = Value::Array(vec![]))),
        ("query without instance", "target-instance-rule", None, Box::new(|r| edit_expr(r, r#", instance=~"$instance""#, ""))),
        ("job by equality", "target-job-rule", None, Box::new(|r| edit_expr(r, r#"job=~"$job""#, r#"job="portwatch""#))),
        (
            "invalid PromQL",
            "target-promql-rule",
            None,
            Box::new(|r| edit_expr(r, "portwatch_dynamic_ports_in_use{", "sum by (x portwatch_dynamic_ports_in_use{")),
        ),
        ("variable nobody defines", "undefined-variable-rule", None, Box::new(|r| edit_expr(r, "job=~", r#"cluster=~"$cluster", job=~"#))),
        (
            "rate over a fixed window",
            "target-rate-interval-rule",
            None,
            Box::new(move |r| set_expr(r, &format!("rate(portwatch_collections_total{m}[5m])"))),
        ),
        (
            "$__rate_interval outside a function",
            "target-rate-interval-rule",
            None,
            Box::new(move |r| set_expr(r, &format!("portwatch_port_sockets{m}[$__rate_interval]"))),
        ),
        (
            "counter without rate",
            "target-counter-agg-rule",
            None,
            Box::new(move |r| set_expr(r, &format!("portwatch_collections_total{m}"))),
        ),
        ("editable dashboard", "uneditable-dashboard", None, Box::new(|r| host(r)["editable"] = true.into())),
        (
            "no datasource variable",
            "template-datasource-rule",
            None,
            Box::new(|r| host(r)["templating"]["list"].as_array_mut().expect("list").retain(|v| v["type"] != "datasource")),
        ),
        ("job variable single select", "template-job-rule", None, Box::new(|r| variable(r, "job")["multi"] = false.into())),
        (
            "job variable refreshed on load only",
            "template-on-time-change-reload-rule",
            None,
            Box::new(|r| variable(r, "job")["refresh"] = 1.into()),
        ),
        (
            "instance variable not filtered by job",
            "template-chain-rule",
            None,
            Box::new(|r| variable(r, "instance")["query"]["query"] = "label_values(portwatch_build_info, instance)".into()),
        ),
        (
            "variable query not PromQL",
            "template-label-promql-rule",
            None,
            Box::new(|r| variable(r, "instance")["query"]["query"] = "label_values(portwatch_build_info{, instance)".into()),
        ),
        // The committed files are rendered with the cluster selector off.
        ("cluster wanted, no cluster variable", "template-cluster-rule", Some("cluster"), Box::new(|_| {})),
        ("cluster wanted, queries without it", "target-cluster-rule", Some("cluster"), Box::new(|_| {})),
        ("cluster wanted, fleet counts by instance alone", "cluster-grouping-rule", Some("cluster"), Box::new(|_| {})),
    ];
    for (what, rule, cluster, mutate) in cases {
        let (before, after) = count(rule, cluster, &book, mutate);
        let baseline = if cluster.is_some() { 0 } else { before };
        assert!(after > baseline, "{what}: the linter found no new [{rule}] ({before} before, {after} after)");
    }
}

fn alert<'a>(r: &'a mut Rendered, name: &str) -> &'a mut Value {
    let groups = r.rule_groups[0].1.as_array_mut().expect("groups");
    groups.iter_mut().flat_map(|g| g["rules"].as_array_mut().expect("rules").iter_mut()).find(|x| x["alert"] == name).expect("alert")
}

fn edit_alert_expr(r: &mut Rendered, name: &str, from: &str, to: &str) {
    let e = &mut alert(r, name)["expr"];
    let old = e.as_str().expect("expr").to_string();
    assert!(old.contains(from), "{old} lacks {from}");
    *e = old.replace(from, to).into();
}

#[test]
fn linter_finds_each_broken_alert_rule() {
    let book = runbook();
    let held = "PortwatchPortHeldByOther";
    type Mutation = Box<dyn FnOnce(&mut Rendered)>;
    let cases: Vec<(&str, &str, Mutation)> = vec![
        (
            "relative runbook URL",
            "alert-runbook-url-rule",
            Box::new(move |r| alert(r, held)["annotations"]["runbook_url"] = "README.md#portwatchportheldbyother".into()),
        ),
        (
            "runbook URL elsewhere",
            "alert-runbook-url-rule",
            Box::new(move |r| alert(r, held)["annotations"]["runbook_url"] = "https://example.org/wiki#portwatchportheldbyother".into()),
        ),
        (
            "runbook anchor no heading has",
            "alert-runbook-url-rule",
            Box::new(move |r| {
                let a = &mut alert(r, held)["annotations"]["runbook_url"];
                *a = a.as_str().expect("url").replace("#portwatchportheldbyother", "#portwatchgone").into();
            }),
        ),
        ("no summary", "alert-summary-missing-rule", Box::new(move |r| remove(&mut alert(r, held)["annotations"], "summary"))),
        ("no description", "alert-description-missing-rule", Box::new(move |r| remove(&mut alert(r, held)["annotations"], "description"))),
        (
            "description without templates",
            "alert-description-templating",
            Box::new(move |r| alert(r, held)["annotations"]["description"] = "A port is taken.".into()),
        ),
        ("severity not mixtool's", "alert-severity-rule", Box::new(move |r| alert(r, held)["labels"]["severity"] = "page".into())),
        ("name not camel case", "alert-name-camelcase", Box::new(move |r| alert(r, held)["alert"] = "portwatch_port_held".into())),
        (
            "name too long",
            "alert-name-length",
            Box::new(move |r| alert(r, held)["alert"] = "PortwatchPortHeldByAnotherProcessThanExpected".into()),
        ),
        (
            "on () without cluster",
            "cluster-grouping-rule",
            Box::new(|r| edit_alert_expr(r, "PortwatchPortRebootRisk", "on (cluster, job, instance)", "on (job, instance)")),
        ),
        (
            "by () without cluster",
            "cluster-grouping-rule",
            Box::new(move |r| edit_alert_expr(r, held, "max by (cluster, job, instance,", "max by (job, instance,")),
        ),
        (
            "selector lost",
            "alert-selector-rule",
            Box::new(|r| edit_alert_expr(r, "PortwatchCollectorFailing", r#"job="portwatch""#, r#"job="other""#)),
        ),
        ("invalid PromQL", "alert-promql-rule", Box::new(|r| edit_alert_expr(r, "PortwatchCollectorFailing", "== 0", "== == 0"))),
        (
            "group of 21 rules",
            "alert-group-rule-count",
            Box::new(|r| {
                let rules = r.rule_groups[0].1[0]["rules"].as_array_mut().expect("rules");
                let first = rules[0].clone();
                rules.resize(21, first);
            }),
        ),
    ];
    for (what, rule, mutate) in cases {
        let (before, after) = count(rule, None, &book, mutate);
        assert!(after > before, "{what}: the linter found no new [{rule}] ({before} before, {after} after)");
    }
    // The runbook changes instead: a section no alert links to, an alert without its section.
    let orphan = Runbook::parse(&format!("/{RUNBOOK}"), &format!("{}\n## PortwatchGone\n", read(RUNBOOK)));
    let without = read(RUNBOOK).replace("## PortwatchExporterAbsent", "PortwatchExporterAbsent");
    for (what, rule, changed) in [
        ("section for no alert", "runbook-section-rule", orphan),
        ("alert without a section", "alert-runbook-url-rule", Runbook::parse(&format!("/{RUNBOOK}"), &without)),
    ] {
        let (clean, _) = count(rule, None, &book, |_| {});
        let (found, _) = count(rule, None, &changed, |_| {});
        assert!(found > clean, "{what}: the linter found no new [{rule}]");
    }
}

#[test]
fn grafana_variables_expand_as_dashboard_linter_expands_them() {
    assert_eq!(lint::expand(r#"rate(x{job=~"$job"}[$__rate_interval])"#), format!(r#"rate(x{{job=~"$job"}}[{}])"#, lint::RATE_INTERVAL));
    assert_eq!(lint::expand("topk($n, x) + ${k:csv} + [[m]]"), "topk(n, x) + k + m");
    assert_eq!(lint::variables_used(r#"x{a=~"$a", b="${b:regex}"}[[c]] $"#), ["a", "b", "c"]);
    assert_eq!(rules::github_anchor("PortwatchPortHeldByOther"), "portwatchportheldbyother");
    assert_eq!(rules::github_anchor("Held by: other (TCP)"), "held-by-other-tcp");
}
