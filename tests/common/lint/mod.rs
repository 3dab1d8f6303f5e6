//! A dashboard and mixin linter: the rules of grafana/dashboard-linter and of
//! monitoring-mixins' mixtool (`mixtool lint`), rewritten here because neither
//! can be installed on this project's machines (both are Go programs; the Go
//! module proxy is out of reach). Queries are parsed with `promql-parser`, a
//! port of Prometheus's own grammar, after Grafana's variables are expanded as
//! dashboard-linter expands them. `dashboards` lints Grafana dashboard JSON,
//! `rules` lints alert rules and their runbook links. Used by tests/mixin_lint.rs.
#![allow(dead_code)]

pub mod dashboards;
pub mod rules;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use std::fmt;

/// One finding: the rule broken (dashboard-linter's or mixtool's name where
/// the rule is theirs), the file, the place in it, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub rule: &'static str,
    pub file: String,
    pub place: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}: {}", self.rule, self.file, self.place, self.message)
    }
}

/// A problem accepted on purpose, as a dashboard-linter `.lint` file accepts
/// one: the rule, the place, a fragment of the message, and why.
pub struct Exclusion {
    pub rule: &'static str,
    pub place: &'static str,
    pub message: &'static str,
    pub reason: &'static str,
}

impl Exclusion {
    fn covers(&self, p: &Problem) -> bool {
        self.rule == p.rule && self.place == p.place && p.message.contains(self.message)
    }
}

/// The problems no exclusion covers, and the exclusions that covered nothing
/// (stale ones, which should be deleted).
pub fn apply(problems: Vec<Problem>, exclusions: &[Exclusion]) -> (Vec<Problem>, Vec<&Exclusion>) {
    let unused = exclusions.iter().filter(|e| !problems.iter().any(|p| e.covers(p))).collect();
    (problems.into_iter().filter(|p| !exclusions.iter().any(|e| e.covers(p))).collect(), unused)
}

/// Collects problems for one file.
pub struct Report {
    file: String,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn new(file: &str) -> Self {
        Self { file: file.to_string(), problems: Vec::new() }
    }

    pub fn add(&mut self, rule: &'static str, place: &str, message: String) {
        self.problems.push(Problem { rule, file: self.file.clone(), place: place.to_string(), message });
    }
}

/// What `$__rate_interval` expands to before parsing: a duration no query
/// would write, so a range equal to it is known to come from the variable.
pub const RATE_INTERVAL: &str = "4242h";
pub const RATE_INTERVAL_SECS: u64 = 4242 * 3600;

/// Grafana's global variables, and what each stands for in a parsed query.
const GLOBALS: &[(&str, &str)] = &[
    ("__rate_interval", RATE_INTERVAL),
    ("__interval", "1m"),
    ("__interval_ms", "60000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
];

/// Every variable a query names (`$x`, `${x}`, `${x:format}`, `[[x]]`),
/// inside quotes or not.
pub fn variables_used(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_variable(expr, |name, _| {
        out.push(name.to_string());
        None
    });
    out
}

pub fn is_global(name: &str) -> bool {
    GLOBALS.iter().any(|(g, _)| *g == name)
}

/// The query with variables outside double quotes replaced by sample values,
/// as dashboard-linter does before parsing: globals by a duration or number,
/// others by their own name. Inside quotes they stay, so a matcher reads
/// `job=~"$job"` and rules can require exactly that.
pub fn expand(expr: &str) -> String {
    expr.split('"')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                return part.to_string();
            }
            each_variable(part, |name, _| Some(GLOBALS.iter().find(|(g, _)| *g == name).map_or(name, |(_, v)| v).to_string()))
        })
        .collect::<Vec<_>>()
        .join("\"")
}

/// Calls `f(name, whole)` for each variable in `text`; where it returns
/// Some, the variable is replaced by that. Returns the text after replacement.
fn each_variable(text: &str, mut f: impl FnMut(&str, &str) -> Option<String>) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = text;
    loop {
        let dollar = rest.find('$');
        let brackets = rest.find("[[");
        let Some(start) = [dollar, brackets].into_iter().flatten().min() else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let (name, len) = if let Some(inner) = tail.strip_prefix("${") {
            match inner.find('}') {
                Some(end) => (inner[..end].split(':').next().unwrap_or(""), end + 3),
                None => ("", 0),
            }
        } else if let Some(inner) = tail.strip_prefix("[[") {
            match inner.find("]]") {
                Some(end) if inner[..end].chars().all(|c| word(c) || c == ':') => (inner[..end].split(':').next().unwrap_or(""), end + 4),
                _ => ("", 0),
            }
        } else {
            let end = tail[1..].find(|c: char| !word(c)).unwrap_or(tail.len() - 1);
            (&tail[1..=end], end + 1)
        };
        if name.is_empty() {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        }
        match f(name, &tail[..len]) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&tail[..len]),
        }
        rest = &tail[len..];
    }
}

/// Parses a query after expanding its variables.
pub fn parse(expr: &str) -> Result<Expr, String> {
    promql_parser::parser::parse(&expand(expr))
}

/// Visits every node with its parent, depth first. The vector selector inside
/// a matrix selector is not a node of its own: look at the matrix selector.
pub fn walk<'a>(expr: &'a Expr, parent: Option<&'a Expr>, f: &mut dyn FnMut(&'a Expr, Option<&'a Expr>)) {
    f(expr, parent);
    let me = Some(expr);
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, me, f);
            }
            walk(&a.expr, me, f);
        }
        Expr::Unary(u) => walk(&u.expr, me, f),
        Expr::Binary(b) => {
            walk(&b.lhs, me, f);
            walk(&b.rhs, me, f);
        }
        Expr::Paren(p) => walk(&p.expr, me, f),
        Expr::Subquery(s) => walk(&s.expr, me, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, me, f)),
        _ => {}
    }
}

/// Every vector selector of the query, those inside matrix selectors included.
pub fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    let mut out = Vec::new();
    walk(expr, None, &mut |e, _| match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        _ => {}
    });
    out
}

/// Checks that a selector has the matcher `name op "value"`; says what it has instead.
pub fn check_matcher(vs: &VectorSelector, want: &Matcher) -> Result<(), String> {
    let same_op = |m: &Matcher| {
        matches!(
            (&m.op, &want.op),
            (MatchOp::Equal, MatchOp::Equal)
                | (MatchOp::NotEqual, MatchOp::NotEqual)
                | (MatchOp::Re(_), MatchOp::Re(_))
                | (MatchOp::NotRe(_), MatchOp::NotRe(_))
        )
    };
    let found: Vec<&Matcher> = vs.matchers.matchers.iter().filter(|m| m.name == want.name).collect();
    if found.iter().any(|m| same_op(m) && m.value == want.value) {
        return Ok(());
    }
    match found.first() {
        None => Err(format!("{vs} has no {} matcher (want {want})", want.name)),
        Some(m) => Err(format!("{vs} has {m}, not {want}")),
    }
}

/// A regex matcher `name=~"value"`, as dashboards filter on a variable.
pub fn regex_matcher(name: &str, value: &str) -> Matcher {
    matchers_of(&format!("{name}=~\"{value}\"")).remove(0)
}

/// The matchers of a selector such as `job="portwatch"`, as the mixin's
/// `portwatchSelector` is written.
pub fn matchers_of(selector: &str) -> Vec<Matcher> {
    match promql_parser::parser::parse(&format!("{{{selector}}}")) {
        Ok(Expr::VectorSelector(vs)) => vs.matchers.matchers,
        other => panic!("selector {selector:?} does not parse as matchers: {other:?}"),
    }
}

/// Every `by (…)` or `on (…)` that keeps `instance` must keep the cluster
/// label too, or series of two clusters with the same instance merge (or
/// match each other). Returns one message per clause that drops it.
pub fn grouping_without_cluster(expr: &Expr, cluster_label: &str) -> Vec<String> {
    use promql_parser::parser::LabelModifier;
    let mut out = Vec::new();
    let mut check = |what: &str, m: Option<&LabelModifier>| {
        if let Some(LabelModifier::Include(labels)) = m {
            let l = &labels.labels;
            if l.iter().any(|x| x == "instance") && !l.iter().any(|x| x == cluster_label) {
                out.push(format!("{what} ({}) keeps instance but not {cluster_label}", l.join(", ")));
            }
        }
    };
    walk(expr, None, &mut |e, _| match e {
        Expr::Aggregate(a) => check("by", a.modifier.as_ref()),
        Expr::Binary(b) => check("on", b.modifier.as_ref().and_then(|m| m.matching.as_ref())),
        _ => {}
    });
    out
}
