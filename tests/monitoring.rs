//! The monitoring kit in deploy/monitoring: the Prometheus config and alerting rules pass
//! `promtool` (rules, their unit tests, config), and the Grafana dashboard parses, has unique
//! panel ids and queries only metrics `cairn serve` exports.
//!
//! promtool comes from Debian's `prometheus` package. Without it the promtool checks print a
//! note and pass, unless `CAIRN_REQUIRE_PROMTOOL` is set (as in CI), when they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// The metrics the server exports: the only names the rules and the dashboard may query.
const METRICS: &[&str] = &[
    "cairn_http_requests_total",
    "cairn_http_errors_total",
    "cairn_http_request_duration_seconds_bucket",
    "cairn_http_request_duration_seconds_sum",
    "cairn_http_request_duration_seconds_count",
    "cairn_http_requests_in_flight",
    "cairn_http_connections_open",
    "cairn_predictions_total",
    "cairn_predictions_by_class_total",
    "cairn_shadow_predictions_total",
    "cairn_model_reloads_total",
    "cairn_model_info",
    "cairn_prediction_log_dropped_total",
    "cairn_prediction_log_backlog",
    "cairn_feature_drift_psi",
    "cairn_feature_drift_ks_pvalue",
    "cairn_feature_drift_ks_statistic",
    "cairn_drift_window_size",
];

const ALERTS: &str = "deploy/monitoring/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/monitoring/prometheus/alerts.test.yml";
const CONFIG: &str = "deploy/monitoring/prometheus/prometheus.yml";
const DASHBOARD: &str = "deploy/monitoring/grafana/cairn-dashboard.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs promtool in the repository root; `None` (after a note) when it is not installed and
/// `CAIRN_REQUIRE_PROMTOOL` is not set.
fn promtool(args: &[&str]) -> Option<Output> {
    match Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_PROMTOOL").is_none(),
                "CAIRN_REQUIRE_PROMTOOL is set but promtool cannot be started ({e}): \
                 apt-get install --no-install-recommends prometheus"
            );
            eprintln!(
                "promtool not installed: `promtool {}` not run",
                args.join(" ")
            );
            None
        }
    }
}

#[track_caller]
fn promtool_ok(args: &[&str]) {
    if let Some(out) = promtool(args) {
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The `cairn_…` metric names an expression mentions.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = expr[from..].find("cairn_") {
        let start = from + at;
        let mut end = start + "cairn_".len();
        while end < bytes.len() && ident(bytes[end]) {
            end += 1;
        }
        // Only a whole identifier: not the tail of `xcairn_…`.
        if start == 0 || !ident(bytes[start - 1]) {
            names.insert(expr[start..end].to_string());
        }
        from = end;
    }
    names
}

/// Asserts every expression names only exported metrics, and returns the names seen.
#[track_caller]
fn assert_known_metrics<'a>(
    what: &str,
    exprs: impl IntoIterator<Item = &'a String>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for expr in exprs {
        for name in metric_names(expr) {
            assert!(
                METRICS.contains(&name.as_str()),
                "{what}: `{name}` is not a metric cairn serve exports, in:\n{expr}"
            );
            seen.insert(name);
        }
    }
    seen
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    promtool_ok(&["check", "rules", ALERTS]);
    promtool_ok(&["test", "rules", ALERT_TESTS]);
}

#[test]
fn prometheus_config_passes_promtool_check() {
    promtool_ok(&["check", "config", CONFIG]);
    let config: Yaml = serde_norway::from_str(&read(CONFIG)).expect("prometheus.yml is YAML");
    let scrape = &config["scrape_configs"][0];
    assert_eq!(scrape["job_name"].as_str(), Some("cairn"), "{scrape:?}");
    assert_eq!(
        scrape["static_configs"][0]["targets"][0].as_str(),
        Some("cairn:8000")
    );
    let rules = config["rule_files"].as_sequence().expect("rule_files");
    assert!(
        rules.iter().any(|r| r.as_str() == Some("alerts.yml")),
        "{rules:?}"
    );
}

/// Every rule is an alert with `for`, a severity, and a summary and description that name
/// the series through $labels; the expressions use only exported metrics; and every alert has
/// a firing and a not-firing case in alerts.test.yml.
#[test]
fn alert_rules_are_complete_use_known_metrics_and_are_all_tested() {
    let rules: Yaml = serde_norway::from_str(&read(ALERTS)).expect("alerts.yml is YAML");
    let mut alerts = BTreeSet::new();
    let mut exprs = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .expect("every rule is an alert")
                .to_string();
            assert!(alerts.insert(name.clone()), "{name} defined twice");
            let expr = rule["expr"].as_str().expect("expr").to_string();
            assert!(rule["for"].as_str().is_some(), "{name} has no `for`");
            let severity = rule["labels"]["severity"].as_str();
            assert!(
                matches!(severity, Some("critical" | "warning" | "info")),
                "{name}: severity {severity:?}"
            );
            for key in ["summary", "description"] {
                let text = rule["annotations"][key].as_str().unwrap_or("");
                assert!(
                    text.contains("$labels."),
                    "{name}: {key} {text:?} uses no $labels"
                );
            }
            exprs.push(expr);
        }
    }
    for wanted in [
        "CairnHighErrorRate",
        "CairnHighLatencyP99",
        "CairnNoTraffic",
        "CairnModelReloadFailed",
        "CairnFeatureDriftPSI",
        "CairnFeatureDriftKS",
        "CairnPredictionLogDropping",
        "CairnPredictionLogBacklogGrowing",
    ] {
        assert!(alerts.contains(wanted), "alerts.yml lacks {wanted}");
    }
    assert_known_metrics(ALERTS, &exprs);

    // alert name -> (has a firing case, has a not-firing case)
    let tests: Yaml = serde_norway::from_str(&read(ALERT_TESTS)).expect("alerts.test.yml is YAML");
    let mut cases: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_string();
            let firing = case["exp_alerts"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty());
            let entry = cases.entry(name).or_default();
            if firing {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    for name in &alerts {
        assert_eq!(
            cases.get(name),
            Some(&(true, true)),
            "{name} needs a firing and a not-firing case in alerts.test.yml"
        );
    }
}

/// Panels, nested ones (inside collapsed rows) included.
fn panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every PromQL expression of the dashboard: panel targets, annotations, and the selectors of
/// query variables (`label_values(SELECTOR, label)`).
fn dashboard_exprs(dashboard: &Json) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap_or_default().to_string());
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = annotation["expr"].as_str() {
            exprs.push(expr.to_string());
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]
            .as_str()
            .or_else(|| var["query"]["query"].as_str())
            .expect("a query variable has a query");
        let inner = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable query {query:?} is not label_values(…)"));
        if let Some((selector, _label)) = inner.rsplit_once(',') {
            exprs.push(selector.trim().to_string());
        }
    }
    exprs
}

fn dashboard() -> Json {
    serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is valid JSON")
}

#[test]
fn dashboard_is_importable_json_with_unique_ids_and_known_metrics() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {}",
        d["schemaVersion"]
    );
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|t| !t.is_empty()));

    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| vars.iter().find(|v| v["name"] == name);
    // A datasource variable of type prometheus, or a DS_PROMETHEUS input to map on import.
    let datasource_var =
        var("datasource").is_some_and(|v| v["type"] == "datasource" && v["query"] == "prometheus");
    let datasource_input = d["__inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus");
    assert!(
        datasource_var || datasource_input,
        "no Prometheus datasource variable or input"
    );
    let version = var("version").expect("a version variable");
    let version_query = version["query"]
        .as_str()
        .or_else(|| version["query"]["query"].as_str())
        .unwrap_or_default()
        .replace(' ', "");
    assert!(
        version_query.starts_with("label_values(cairn_model_info")
            && version_query.ends_with(",version)"),
        "version variable: {version_query}"
    );

    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title:?} has no id"));
        assert!(ids.insert(id), "panel id {id} ({title:?}) is not unique");
        let pos = &panel["gridPos"];
        for key in ["x", "y", "w", "h"] {
            assert!(
                pos[key].as_u64().is_some(),
                "panel {title:?}: gridPos.{key}"
            );
        }
        assert!(
            pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24,
            "panel {title:?} is wider than the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.trim().is_empty(),
                "panel {title:?}: a target without expr"
            );
            assert_eq!(
                target["datasource"]["type"], "prometheus",
                "panel {title:?}: target datasource"
            );
        }
    }

    let exprs = dashboard_exprs(&d);
    let seen = assert_known_metrics(DASHBOARD, &exprs);
    // Every exported metric has a place on the dashboard.
    let unused: Vec<_> = METRICS.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(unused.is_empty(), "metrics on no panel: {unused:?}");
    // The latency quantiles come from the histogram's buckets.
    for q in ["0.5", "0.9", "0.99"] {
        let quantile = format!("histogram_quantile({q},");
        assert!(
            exprs.iter().any(|e| e.contains(&quantile)
                && e.contains("rate(cairn_http_request_duration_seconds_bucket")
                && e.contains("le)")),
            "no p{} latency from the histogram buckets",
            &q[2..]
        );
    }
}

/// The dashboard's expressions, with Grafana's variables filled in, parse as PromQL: promtool
/// checks them as recording rules.
#[test]
fn dashboard_queries_parse_as_promql() {
    let d = dashboard();
    let mut names: Vec<String> = d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    // Longest first, so `$version` is not taken for `$ver` + "sion".
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let rules: Vec<Json> = dashboard_exprs(&d)
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            let mut e = expr.clone();
            for builtin in ["$__rate_interval", "$__interval", "$__range"] {
                e = e.replace(builtin, "5m");
            }
            for name in &names {
                e = e
                    .replace(&format!("${{{name}}}"), ".*")
                    .replace(&format!("${name}"), ".*");
            }
            assert!(!e.contains('$'), "an unknown variable in {expr:?}");
            serde_json::json!({ "record": format!("dashboard:expr_{i}"), "expr": e })
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("dashboard.rules.yml");
    // JSON is YAML: promtool reads it as a rule file.
    let text = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    std::fs::write(&file, text.to_string()).expect("write");
    promtool_ok(&["check", "rules", file.to_str().expect("utf-8 path")]);
}

#[test]
fn metric_names_are_whole_identifiers() {
    let names = metric_names(
        r#"sum by (le) (rate(cairn_http_request_duration_seconds_bucket{job="cairn"}[5m])) / xcairn_y + cairn_model_info"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "cairn_http_request_duration_seconds_bucket",
            "cairn_model_info"
        ]
    );
}
