//! The fixes have one source, `src/remedy.rs`: the mixin's alert
//! descriptions import `grafana/mixin/remedies.json`, which must be exactly
//! what `remedy::alert_fixes` renders, and the runbook must show each OS's
//! commands as `check` prints them. `UPDATE_GOLDEN=1` rewrites the JSON.

use portwatch_exporter::model::Os;
use portwatch_exporter::remedy::{alert_fixes, runbook_commands};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_mixin_remedies_are_rendered_from_remedy_rs() {
    let map: serde_json::Map<String, serde_json::Value> =
        alert_fixes().into_iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v))).collect();
    let want = serde_json::to_string_pretty(&map).expect("json") + "\n";
    let path = root().join("grafana/mixin/remedies.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &want).expect("write remedies.json");
    }
    let have = std::fs::read_to_string(&path).expect("grafana/mixin/remedies.json exists");
    assert_eq!(
        have, want,
        "grafana/mixin/remedies.json is stale: run UPDATE_GOLDEN=1 cargo test --test remedy_sources, then scripts/render-mixin.sh"
    );
    for os in Os::KNOWN {
        assert!(map.contains_key(os.as_str()), "no alert fix for {}", os.as_str());
    }
    let alerts = std::fs::read_to_string(root().join("grafana/mixin/alerts.libsonnet")).expect("alerts.libsonnet");
    assert!(alerts.contains("import 'remedies.json'"), "the alerts must take their fixes from remedies.json");
    for (_, text) in alert_fixes() {
        let head: String = text.chars().take(40).collect();
        assert!(!alerts.contains(&head), "alerts.libsonnet types a fix again instead of importing it: {head}");
    }
}

#[test]
fn the_runbook_shows_each_os_commands_as_check_prints_them() {
    let docs: String =
        ["README.md", "docs/runbook.md"].iter().filter_map(|f| std::fs::read_to_string(root().join(f)).ok()).collect::<Vec<_>>().join("\n");
    for os in Os::KNOWN {
        let commands = runbook_commands(os);
        assert!(!commands.is_empty(), "{} has no fix", os.as_str());
        for c in commands {
            assert!(docs.contains(&c), "the runbook lacks the {} fix `{c}`", os.as_str());
        }
    }
}
