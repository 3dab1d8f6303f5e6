//! mixtool's alert guidelines (`mixtool lint` on `prometheusAlerts`, with its
//! rule names), and ours: every `runbook_url` is an absolute http(s) URL of
//! docs/runbook.md whose anchor is a heading there, every runbook section is
//! an alert's, every selector carries the mixin's `portwatchSelector`, and
//! every `by`/`on` that keeps instance keeps the cluster label.
//!
//! Not adopted: mixtool's `alert-summary-templating` and `alert-summary-style`
//! (summaries without templates, ending in a period). Ours name the port and
//! the host, which is what a page must say first.

use super::{check_matcher, grouping_without_cluster, selectors, Problem, Report};
use promql_parser::label::Matcher;
use serde_json::Value;

pub struct Want<'a> {
    /// The matchers of the mixin's `portwatchSelector`.
    pub selector: Vec<Matcher>,
    pub cluster_label: String,
    pub runbook: &'a Runbook,
}

/// The runbook document: where runbook URLs must point, and its anchors.
pub struct Runbook {
    /// How the URL's path ends, e.g. `/docs/runbook.md`.
    pub path_suffix: String,
    pub anchors: Vec<String>,
}

impl Runbook {
    /// The anchors of the `## ` headings (one per alert) of a Markdown file.
    pub fn parse(path_suffix: &str, markdown: &str) -> Self {
        let anchors = markdown.lines().filter_map(|l| l.strip_prefix("## ")).map(github_anchor).collect();
        Self { path_suffix: path_suffix.to_string(), anchors }
    }
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces
/// turned into hyphens.
pub fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// mixtool's `^([A-Z]+[a-z0-9]+)+$`: runs of capitals, each followed by a run
/// of lower-case letters or digits.
fn camel_case(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let upper = b[i..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        let lower = b[i + upper..].iter().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).count();
        if upper == 0 || lower == 0 {
            return false;
        }
        i += upper + lower;
    }
    !b.is_empty()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Lints the `groups` of a Prometheus rule file (or of a PrometheusRule's
/// spec); returns the problems and the alert names.
pub fn lint_groups(file: &str, groups: &Value, want: &Want) -> (Vec<Problem>, Vec<String>) {
    let mut r = Report::new(file);
    let mut names = Vec::new();
    for g in groups.as_array().into_iter().flatten() {
        let place = format!("group {}", text(g, "name"));
        let rules = g["rules"].as_array().cloned().unwrap_or_default();
        if rules.len() > 20 {
            r.add("alert-group-rule-count", &place, format!("contains more than 20 rules ({})", rules.len()));
        }
        if text(g, "name").len() > 40 {
            r.add("alert-group-name-length", &place, "name exceeds 40 characters".into());
        }
        for rule in rules.iter().filter(|x| x.get("alert").is_some()) {
            let name = text(rule, "alert");
            lint_alert(&mut r, name, rule, want);
            lint_expr(&mut r, name, text(rule, "expr"), want);
            names.push(name.to_string());
        }
    }
    (r.problems, names)
}

/// Lints Grafana-managed alert rules (the provisioning file): the same
/// guidelines, with the rule's title as its name and its query A as its expression.
pub fn lint_grafana(file: &str, doc: &Value, want: &Want) -> (Vec<Problem>, Vec<String>) {
    let mut r = Report::new(file);
    let mut names = Vec::new();
    for rule in doc["groups"].as_array().into_iter().flatten().flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default()) {
        let name = text(&rule, "title");
        lint_alert(&mut r, name, &rule, want);
        let queries = rule["data"].as_array().cloned().unwrap_or_default();
        match queries.iter().find(|q| q["refId"] == "A") {
            Some(q) => lint_expr(&mut r, name, text(&q["model"], "expr"), want),
            None => r.add("alert-promql-rule", name, "has no query A".into()),
        }
        names.push(name.to_string());
    }
    (r.problems, names)
}

fn lint_alert(r: &mut Report, name: &str, rule: &Value, want: &Want) {
    if !camel_case(name) {
        r.add("alert-name-camelcase", name, "name is not in camel case".into());
    }
    if name.len() > 40 {
        r.add("alert-name-length", name, "name exceeds 40 characters".into());
    }
    let severity = text(&rule["labels"], "severity");
    if !["warning", "critical", "info"].contains(&severity) {
        r.add("alert-severity-rule", name, format!("severity must be 'warning', 'critical' or 'info', is '{severity}'"));
    }
    let a = &rule["annotations"];
    match a["description"].as_str() {
        None => r.add("alert-description-missing-rule", name, "must have annotation 'description'".into()),
        Some(d) if !(d.contains("{{") && d.contains("}}")) => {
            r.add("alert-description-templating", name, format!("annotation 'description' must use templates, is '{d}'"))
        }
        Some(_) => {}
    }
    if a["summary"].as_str().is_none_or(str::is_empty) {
        r.add("alert-summary-missing-rule", name, "must have annotation 'summary'".into());
    }
    let url = text(a, "runbook_url");
    let want_anchor = name.to_lowercase();
    let problem = match url.split_once('#') {
        _ if url.is_empty() => Some("has no runbook_url".to_string()),
        _ if !(url.starts_with("https://") || url.starts_with("http://")) => {
            Some(format!("runbook_url '{url}' is not an absolute http(s) URL"))
        }
        None => Some(format!("runbook_url '{url}' has no anchor")),
        Some((base, _)) if !base.ends_with(&want.runbook.path_suffix) => {
            Some(format!("runbook_url '{url}' does not point at {}", want.runbook.path_suffix))
        }
        Some((_, anchor)) if anchor != want_anchor => Some(format!("runbook_url anchor '{anchor}' is not the alert name in lower case")),
        Some((_, anchor)) if !want.runbook.anchors.iter().any(|x| x == anchor) => {
            Some(format!("runbook_url anchor '{anchor}' is no heading of {}", want.runbook.path_suffix))
        }
        Some(_) => None,
    };
    if let Some(p) = problem {
        r.add("alert-runbook-url-rule", name, p);
    }
}

fn lint_expr(r: &mut Report, name: &str, expr: &str, want: &Want) {
    let ast = match promql_parser::parser::parse(expr) {
        Ok(a) => a,
        Err(e) => {
            r.add("alert-promql-rule", name, format!("invalid PromQL '{expr}': {e}"));
            return;
        }
    };
    for vs in selectors(&ast) {
        for m in &want.selector {
            if let Err(e) = check_matcher(vs, m) {
                r.add("alert-selector-rule", name, e);
            }
        }
    }
    for m in grouping_without_cluster(&ast, &want.cluster_label) {
        r.add("cluster-grouping-rule", name, m);
    }
}

/// Every `## ` section of the runbook belongs to an alert (no section is left
/// behind when an alert is renamed or removed).
pub fn lint_runbook_sections(file: &str, runbook: &Runbook, alerts: &[String]) -> Vec<Problem> {
    let mut r = Report::new(file);
    for anchor in &runbook.anchors {
        if !alerts.iter().any(|a| a.to_lowercase() == *anchor) {
            r.add("runbook-section-rule", anchor, "is a section for no alert".into());
        }
    }
    r.problems
}
