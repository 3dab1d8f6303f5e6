//! grafana/dashboard-linter's rules over a dashboard's JSON, with its rule
//! names, plus mixtool's uid/title check. Two are stricter here: every panel
//! type (tables, state timelines, bar gauges too, and panels with value
//! mappings) needs a unit and a description, as issue #16 asks. Ours:
//! `template-chain-rule` (each variable's query is filtered by the variables
//! before it), `undefined-variable-rule`, `cluster-grouping-rule`.

use super::{
    check_matcher, grouping_without_cluster, is_global, parse, regex_matcher, selectors, variables_used, walk, Report, RATE_INTERVAL_SECS,
};
use promql_parser::parser::Expr;
use serde_json::Value;

/// What the dashboard must filter on: job, instance, and the cluster label
/// when the mixin was rendered with `showMultiCluster`.
pub struct Want {
    pub cluster_label: Option<String>,
}

/// Grafana unit ids a panel may use (from Grafana's value formats: none,
/// short, percent, data, data rate, time, throughput, date, boolean).
const UNITS: &str = "\
    none string short percent percentunit hex hex0x sci locale bytes decbytes bits decbits kbytes \
    deckbytes mbytes decmbytes gbytes decgbytes pps binBps Bps binbps bps hertz ns µs ms s m h d \
    dtdurationms dtdurations dthms dtdhms timeticks clockms clocks cps ops reqps rps wps iops cpm opm \
    rpm wpm dateTimeAsIso dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday \
    dateTimeAsLocal dateTimeAsLocalNoDateIfToday dateTimeAsSystem dateTimeFromNow bool bool_yes_no \
    bool_on_off";

const DATASOURCES: &[&str] = &["$datasource", "${datasource}"];

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The (variable, label) pairs every query must filter on, in variable order.
fn filters(want: &Want) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(c) = &want.cluster_label {
        out.push(("cluster", c.clone()));
    }
    out.push(("job", "job".to_string()));
    out.push(("instance", "instance".to_string()));
    out
}

/// Lints one dashboard; returns the problems and the number of queries linted.
pub fn lint(file: &str, d: &Value, want: &Want) -> (Vec<super::Problem>, usize) {
    let mut r = Report::new(file);
    let uid = text(d, "uid");
    if uid.is_empty() || text(d, "title").is_empty() {
        r.add("dashboard-uid-title", "dashboard", "has no uid or no title".into());
    }
    if d["editable"] != Value::Bool(false) {
        r.add("uneditable-dashboard", uid, "is editable, it should be set to 'editable: false'".into());
    }
    let vars: Vec<&Value> = d["templating"]["list"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let defined: Vec<&str> = vars.iter().map(|v| text(v, "name")).collect();
    lint_variables(&mut r, uid, &vars, &defined, want);

    let mut queries = 0;
    let rows = d["panels"].as_array().cloned().unwrap_or_default();
    let nested = rows.iter().flat_map(|p| p["panels"].as_array().cloned().unwrap_or_default());
    for p in rows.iter().cloned().chain(nested).filter(|p| text(p, "type") != "row") {
        let place = format!("{uid}: panel {:?}", text(&p, "title"));
        lint_panel(&mut r, &place, &p);
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            queries += 1;
            let place = format!("{place} query {}", text(&t, "refId"));
            if let Some(ds) = t["datasource"]["uid"].as_str() {
                if !DATASOURCES.contains(&ds) {
                    r.add("panel-datasource-rule", &place, format!("does not use a templated datasource, uses '{ds}'"));
                }
            }
            lint_query(&mut r, &place, text(&t, "expr"), &defined, want);
        }
    }
    (r.problems, queries)
}

fn lint_panel(r: &mut Report, place: &str, p: &Value) {
    if text(p, "title").is_empty() || text(p, "description").is_empty() {
        r.add("panel-title-description-rule", place, "has no title or no description".into());
    }
    // A unit in an override wins over the default, as in dashboard-linter.
    let overridden = p["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["properties"].as_array().cloned().unwrap_or_default())
        .filter(|prop| prop["id"] == "unit")
        .filter_map(|prop| prop["value"].as_str().map(str::to_string))
        .next_back();
    let unit = overridden.unwrap_or_else(|| text(&p["fieldConfig"]["defaults"], "unit").to_string());
    if !UNITS.split_whitespace().any(|u| u == unit) {
        r.add("panel-units-rule", place, format!("has no or invalid units defined: '{unit}'"));
    }
    let ds = text(&p["datasource"], "uid");
    if !DATASOURCES.contains(&ds) {
        r.add("panel-datasource-rule", place, format!("does not use a templated datasource, uses '{ds}'"));
    }
    if p["targets"].as_array().is_none_or(|t| t.is_empty()) {
        r.add("panel-no-targets-rule", place, "has no targets".into());
    }
}

fn lint_query(r: &mut Report, place: &str, expr: &str, defined: &[&str], want: &Want) {
    if expr.trim().is_empty() {
        r.add("panel-no-targets-rule", place, "has an empty query".into());
        return;
    }
    for v in variables_used(expr) {
        if !defined.contains(&v.as_str()) && !is_global(&v) {
            r.add("undefined-variable-rule", place, format!("uses ${v}, which no variable defines: {expr}"));
        }
    }
    let ast = match parse(expr) {
        Ok(a) => a,
        Err(e) => {
            r.add("target-promql-rule", place, format!("query '{expr}': {e}"));
            return;
        }
    };
    for (var, label) in filters(want) {
        let rule = match var {
            "cluster" => "target-cluster-rule",
            "job" => "target-job-rule",
            _ => "target-instance-rule",
        };
        let m = regex_matcher(&label, &format!("${var}"));
        for vs in selectors(&ast) {
            if let Err(e) = check_matcher(vs, &m) {
                r.add(rule, place, format!("query '{expr}': {e}"));
            }
        }
    }
    walk(&ast, None, &mut |e, parent| {
        let call = match parent {
            Some(Expr::Call(c)) => Some(c.func.name),
            _ => None,
        };
        match e {
            Expr::MatrixSelector(ms) => {
                let from_variable = ms.range.as_secs() == RATE_INTERVAL_SECS;
                if from_variable && call.is_none() {
                    r.add("target-rate-interval-rule", place, format!("$__rate_interval used outside a function: {expr}"));
                }
                if !from_variable && matches!(call, Some("rate" | "irate")) {
                    r.add("target-rate-interval-rule", place, format!("should use $__rate_interval: {expr}"));
                }
                let counter = ms.vs.name.as_deref().is_some_and(|n| n.ends_with("_total"));
                if counter && !matches!(call, Some("rate" | "irate" | "increase")) {
                    r.add("target-counter-agg-rule", place, format!("counter '{}' is not aggregated with rate, irate, or increase", ms.vs));
                }
            }
            Expr::VectorSelector(vs) if vs.name.as_deref().is_some_and(|n| n.ends_with("_total")) => {
                r.add("target-counter-agg-rule", place, format!("counter '{vs}' is not aggregated with rate, irate, or increase"));
            }
            _ => {}
        }
    });
    if let Some(cluster) = &want.cluster_label {
        for m in grouping_without_cluster(&ast, cluster) {
            r.add("cluster-grouping-rule", place, format!("{m}: {expr}"));
        }
    }
}

fn lint_variables(r: &mut Report, uid: &str, vars: &[&Value], defined: &[&str], want: &Want) {
    let datasources: Vec<&&Value> = vars.iter().filter(|v| text(v, "type") == "datasource").collect();
    if datasources.is_empty() {
        r.add("template-datasource-rule", uid, "does not have a templated data source".into());
    }
    for v in datasources {
        let place = format!("{uid}: variable {}", text(v, "name"));
        if !["datasource", "prometheus_datasource"].contains(&text(v, "name")) {
            r.add("template-datasource-rule", &place, "should be named 'datasource' or 'prometheus_datasource'".into());
        }
        if !["Data source", "Prometheus data source"].contains(&text(v, "label")) || text(v, "query") != "prometheus" {
            r.add("template-datasource-rule", &place, "should be a Prometheus data source labeled 'Data source'".into());
        }
    }
    let order = filters(want);
    for (i, (var, _)) in order.iter().enumerate() {
        let rule = match *var {
            "cluster" => "template-cluster-rule",
            "job" => "template-job-rule",
            _ => "template-instance-rule",
        };
        let place = format!("{uid}: variable {var}");
        let Some(v) = vars.iter().find(|v| text(v, "name") == *var) else {
            r.add(rule, uid, format!("is missing the {var} template"));
            continue;
        };
        if !DATASOURCES.contains(&text(&v["datasource"], "uid")) {
            r.add(rule, &place, "should use datasource '$datasource'".into());
        }
        if text(v, "type") != "query" {
            r.add(rule, &place, format!("should be a Prometheus query, is '{}'", text(v, "type")));
        }
        if text(v, "label") != title_case(var) {
            r.add(rule, &place, format!("should be labeled '{}'", title_case(var)));
        }
        if v["multi"] != Value::Bool(true) {
            r.add(rule, &place, "should be a multi select".into());
        }
        if text(v, "allValue") != ".+" {
            r.add(rule, &place, format!("allValue should be '.+', is '{}'", text(v, "allValue")));
        }
        // Each variable's values are filtered by the variables before it.
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or("");
        let earlier: Vec<_> = order[..i].iter().map(|(var, label)| regex_matcher(label, &format!("${var}"))).collect();
        match q.strip_prefix("label_values(").and_then(|a| a.strip_suffix(')')).and_then(|a| a.rsplit_once(',')) {
            Some((selector, _label)) => match parse(selector) {
                Ok(ast) => {
                    for m in &earlier {
                        for vs in selectors(&ast) {
                            if let Err(e) = check_matcher(vs, m) {
                                r.add("template-chain-rule", &place, e);
                            }
                        }
                    }
                }
                Err(e) => r.add("template-label-promql-rule", &place, format!("invalid PromQL in {q}: {e}")),
            },
            None if q.starts_with("label_values(") && earlier.is_empty() => {}
            None => r.add("template-label-promql-rule", &place, format!("should be label_values(<selector>, <label>), is '{q}'")),
        }
    }
    for v in vars {
        let place = format!("{uid}: variable {}", text(v, "name"));
        if text(v, "type") == "query" && v["refresh"] != 2 {
            r.add("template-on-time-change-reload-rule", &place, format!("should refresh on time range change (2), is {}", v["refresh"]));
        }
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or("");
        for used in variables_used(q) {
            if !defined.contains(&used.as_str()) && !is_global(&used) {
                r.add("undefined-variable-rule", &place, format!("uses ${used}, which no variable defines"));
            }
        }
    }
}
