//! Observability end to end: the exposition's names and types, every PromQL
//! expression of the dashboards and rule files checked against what Pebble
//! really exports, the operations guide covering each metric and alert, and a
//! real Prometheus scraping a running Pebble and evaluating the rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_app_with, Backend};
use pebble::metrics::Metrics;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Family name → type, from the TYPE lines of an exposition.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// Every series name a query can select from these families.
fn series_names(families: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (name, kind) in families {
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.clone());
        }
    }
    names
}

/// The names and types the issue and SPEC §7 fix, plus the counters behind
/// every rate and the families the alerts and dashboards stand on.
const REQUIRED: &[(&str, &str)] = &[
    ("pebble_ai_classification_latency_seconds", "histogram"),
    ("pebble_ai_classification_confidence_score", "histogram"),
    ("pebble_ai_classification_override_rate", "gauge"),
    ("pebble_tally_lookup_success_rate", "gauge"),
    ("pebble_tally_lookup_latency_seconds", "histogram"),
    ("pebble_draft_generation_latency_seconds", "histogram"),
    ("pebble_draft_approval_rate", "gauge"),
    ("pebble_ai_classifications_total", "counter"),
    ("pebble_ai_classification_overrides_total", "counter"),
    ("pebble_tally_lookups_total", "counter"),
    ("pebble_tally_requests_total", "counter"),
    ("pebble_drafts_generated_total", "counter"),
    ("pebble_drafts_reviewed_total", "counter"),
    ("pebble_emails_ingested_total", "counter"),
    ("pebble_pipeline_errors_total", "counter"),
    ("pebble_http_request_duration_seconds", "histogram"),
    ("pebble_db_pool_connections", "gauge"),
    ("pebble_db_pool_max_connections", "gauge"),
    ("pebble_rate_limited_requests_total", "counter"),
    ("pebble_audit_events_total", "counter"),
    ("pebble_audit_chain_ok", "gauge"),
    ("pebble_ai_drift_psi", "gauge"),
    ("pebble_tally_sync_age_seconds", "gauge"),
    ("pebble_backup_age_seconds", "gauge"),
    ("pebble_build_info", "gauge"),
];

#[test]
fn the_exposition_has_the_spec_names_with_their_types() {
    let text = Metrics::new("sqlite").encode();
    let found = families(&text);
    for (name, kind) in REQUIRED {
        assert_eq!(
            found.get(*name).map(String::as_str),
            Some(*kind),
            "{name} should be a {kind} in\n{text}"
        );
    }
    for name in found.keys() {
        let help = format!("# HELP {name} ");
        assert!(
            text.lines()
                .any(|l| l.starts_with(&help) && l.len() > help.len()),
            "{name} has no help text"
        );
    }
    assert!(
        !text.contains("# EOF"),
        "classic text format, not OpenMetrics"
    );
    // A rolling rate with no outcome yet is no data, not 0 %.
    assert!(
        text.contains("\npebble_draft_approval_rate NaN\n"),
        "{text}"
    );
}

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn rule_file(name: &str) -> RuleFile {
    let path = repo().join("deploy/prometheus/rules").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn rules(name: &str) -> Vec<Rule> {
    rule_file(name)
        .groups
        .into_iter()
        .flat_map(|g| g.rules)
        .collect()
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            (p, json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every value of `key` anywhere in a JSON document.
fn all_values<'a>(json: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match json {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    out.push(v);
                }
                all_values(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| all_values(v, key, out)),
        _ => {}
    }
}

/// Grafana's built-in interval variables, replaced by a duration PromQL parses.
fn without_grafana_variables(expr: &str) -> String {
    ["$__rate_interval", "$__interval", "$__range"]
        .iter()
        .fold(expr.to_owned(), |e, v| e.replace(v, "5m"))
}

fn selector_name(v: &VectorSelector) -> String {
    v.name.clone().unwrap_or_else(|| {
        v.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
            .unwrap_or_else(|| format!("<selector without a fixed metric name: {v}>"))
    })
}

fn selected_names(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Aggregate(a) => {
            selected_names(&a.expr, out);
            if let Some(p) = &a.param {
                selected_names(p, out);
            }
        }
        Expr::Unary(u) => selected_names(&u.expr, out),
        Expr::Binary(b) => {
            selected_names(&b.lhs, out);
            selected_names(&b.rhs, out);
        }
        Expr::Paren(p) => selected_names(&p.expr, out),
        Expr::Subquery(s) => selected_names(&s.expr, out),
        Expr::VectorSelector(v) => out.push(selector_name(v)),
        Expr::MatrixSelector(m) => out.push(selector_name(&m.vs)),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selected_names(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The metric names `expr` selects that are not in `known`, or why it does not parse.
fn unknown_names(expr: &str, known: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let ast = parser::parse(expr)?;
    let mut names = Vec::new();
    selected_names(&ast, &mut names);
    if names.is_empty() {
        return Err("selects no metric at all".into());
    }
    Ok(names.into_iter().filter(|n| !known.contains(n)).collect())
}

/// Series Prometheus adds itself to every target.
const SCRAPE_SERIES: &[&str] = &["up"];

#[test]
fn every_promql_expression_in_dashboards_and_rules_names_metrics_pebble_exports() {
    let exported = series_names(&families(&Metrics::new("sqlite").encode()));
    let recording = rules("recording.yml");
    let alerts = rules("alerts.yml");
    let mut known = exported.clone();
    known.extend(SCRAPE_SERIES.iter().map(|s| s.to_string()));
    known.extend(recording.iter().filter_map(|r| r.record.clone()));

    // The check itself tells a wrong name and a broken query from a good one.
    assert_eq!(
        unknown_names("sum(rate(pebble_no_such_thing_total[5m]))", &known),
        Ok(vec!["pebble_no_such_thing_total".to_owned()])
    );
    assert!(unknown_names("sum(rate(pebble_audit_events_total[5m])", &known).is_err());
    assert_eq!(
        unknown_names(r#"{__name__="pebble_audit_events_total"}"#, &known),
        Ok(vec![])
    );

    let mut exprs: Vec<(String, String)> = Vec::new();
    for rule in recording.iter().chain(&alerts) {
        let name = rule.record.clone().or(rule.alert.clone()).unwrap();
        exprs.push((format!("rule {name}"), rule.expr.clone()));
    }
    let boards = dashboards();
    for (path, board) in &boards {
        let mut found = Vec::new();
        all_values(board, "expr", &mut found);
        assert!(
            found.len() >= 5,
            "{path:?} has only {} queries",
            found.len()
        );
        for e in found {
            let e = e.as_str().unwrap_or_else(|| panic!("{path:?}: expr {e}"));
            let e = without_grafana_variables(e);
            assert!(!e.contains('$'), "{path:?}: unknown variable in {e}");
            exprs.push((format!("{}", path.display()), e));
        }
    }
    let mut problems = Vec::new();
    for (origin, expr) in &exprs {
        match unknown_names(expr, &known) {
            Ok(unknown) if unknown.is_empty() => {}
            Ok(unknown) => problems.push(format!("{origin}: {expr}\n  not exported: {unknown:?}")),
            Err(e) => problems.push(format!("{origin}: {expr}\n  does not parse: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(exprs.len() > 80, "only {} expressions checked", exprs.len());
}

#[test]
fn the_four_dashboards_use_the_provisioned_data_source() {
    let provisioned: Value = serde_norway::from_str(
        &std::fs::read_to_string(
            repo().join("deploy/grafana/provisioning/datasources/prometheus.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let uid = provisioned["datasources"][0]["uid"].as_str().unwrap();
    let provider =
        std::fs::read_to_string(repo().join("deploy/grafana/provisioning/dashboards/pebble.yml"))
            .unwrap();
    let provider: Value = serde_norway::from_str(&provider).unwrap();
    assert_eq!(provider["providers"][0]["type"], "file");

    let boards = dashboards();
    let titles: BTreeSet<&str> = boards
        .iter()
        .map(|(_, b)| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from([
            "Pebble / CRM Performance",
            "Pebble / Draft Agents",
            "Pebble / Email Pipeline",
            "Pebble / Tally Health",
        ])
    );
    let mut uids = BTreeSet::new();
    for (path, board) in &boards {
        assert!(
            uids.insert(board["uid"].as_str().unwrap()),
            "{path:?}: uid reused"
        );
        let mut sources = Vec::new();
        all_values(board, "datasource", &mut sources);
        assert!(!sources.is_empty());
        for s in sources {
            assert_eq!(s["uid"], uid, "{path:?}: data source {s}");
        }
        let panels = board["panels"].as_array().unwrap();
        let mut ids = BTreeSet::new();
        for p in panels {
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{path:?}: panel id reused"
            );
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{path:?}: panel {} has no query",
                p["title"]
            );
        }
    }
}

/// GitHub's anchor for a Markdown heading made of a single word.
fn anchor(heading: &str) -> String {
    heading.to_lowercase()
}

#[test]
fn the_operations_guide_explains_every_metric_and_alert() {
    let guide = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let exported = families(&Metrics::new("sqlite").encode());
    let missing: Vec<&String> = exported
        .keys()
        .filter(|name| !guide.contains(&format!("`{name}")))
        .collect();
    assert!(missing.is_empty(), "not in docs/operations.md: {missing:?}");
    for rule in rules("alerts.yml") {
        let name = rule.alert.unwrap();
        let runbook = rule.annotations.get("runbook").expect("runbook annotation");
        let (file, target) = runbook.split_once('#').unwrap();
        assert_eq!(file, "docs/operations.md");
        let heading_for = |h: &str| guide.lines().any(|l| l.trim_start_matches('#').trim() == h);
        assert!(
            heading_for(&name) || guide.contains(&format!("`{name}`")),
            "{name} is not explained in docs/operations.md"
        );
        assert!(
            guide
                .lines()
                .filter(|l| l.starts_with('#'))
                .any(|l| anchor(l.trim_start_matches('#').trim()) == target),
            "{name}: runbook anchor #{target} has no heading"
        );
    }
}

// ---- Real Prometheus ----------------------------------------------------

fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// `prometheus` and `promtool`, or why the test cannot run. Under
/// `PEBBLE_REQUIRE_SERVICES=1` their absence fails the test instead.
fn prometheus_tools() -> Option<(PathBuf, PathBuf)> {
    match (find_tool("prometheus"), find_tool("promtool")) {
        (Some(server), Some(tool)) => Some((server, tool)),
        _ => {
            if std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("PEBBLE_REQUIRE_SERVICES=1 but prometheus/promtool are not installed");
            }
            eprintln!(
                "skipping the Prometheus test: prometheus/promtool not on PATH (apt-get install prometheus)"
            );
            None
        }
    }
}

fn promtool(tool: &Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Killed and reaped when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run an instant query until `accept` likes the answer, or fail after a minute.
async fn query_until(
    http: &reqwest::Client,
    prometheus: &str,
    query: &str,
    mut between: impl AsyncFnMut(),
    accept: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer: Value = http
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
            .expect("query Prometheus")
            .json()
            .await
            .expect("Prometheus answers JSON");
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if accept(&result) {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: still {result:?} after a minute"
        );
        between().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_pebble_and_evaluates_the_rules() {
    let Some((server, tool)) = prometheus_tools() else {
        return;
    };
    let closed_tally = free_port();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.tally_url = format!("http://127.0.0.1:{closed_tally}");
        s.tally_connect_timeout_ms = 200;
    })
    .await
    else {
        return;
    };

    // Traffic: a signed-in read, a 404, an unknown method, a Tally lookup that cannot connect.
    let token = app.admin().await;
    assert_eq!(app.get_with(&token, "/api/v1/activity").await.status(), 200);
    assert_eq!(app.get_with(&token, "/no/such/route").await.status(), 404);
    let odd = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.client
        .request(odd, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    let lookup = app
        .state
        .tally
        .lookup(
            "SS Ball Valve 1/2\"",
            pebble_core::audit::Actor::system("test"),
        )
        .await
        .unwrap();
    assert!(lookup.tally_error.is_some());

    let metrics_url = format!("http://{}/metrics", app.metrics_addr);
    let response = reqwest::get(&metrics_url).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        pebble::metrics::CONTENT_TYPE
    );
    let exposition = response.text().await.unwrap();
    promtool(&tool, &["check", "metrics"], Some(&exposition));
    promtool(
        &tool,
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        None,
    );
    promtool(
        &tool,
        &[
            "check",
            "rules",
            "deploy/prometheus/rules/recording.yml",
            "deploy/prometheus/rules/alerts.yml",
        ],
        None,
    );
    let mut unit_tests: Vec<String> = std::fs::read_dir(repo().join("deploy/prometheus/tests"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yml"))
        .collect();
    unit_tests.sort();
    assert!(unit_tests.len() >= 2, "{unit_tests:?}");
    let mut args = vec!["test", "rules"];
    args.extend(unit_tests.iter().map(String::as_str));
    promtool(&tool, &args, None);

    let dir = tempfile::tempdir().unwrap();
    let rules = repo().join("deploy/prometheus/rules");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n  - {}\n\
         scrape_configs:\n  - job_name: pebble\n    static_configs:\n      - targets: [\"{}\"]\n",
        rules.join("recording.yml").display(),
        rules.join("alerts.yml").display(),
        app.metrics_addr
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let _prometheus = Server(
        Command::new(&server)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus"),
    );
    let prom = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let nothing = async || {};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match http.get(format!("{prom}/-/ready")).send().await {
            Ok(r) if r.status().is_success() => break,
            _ => assert!(Instant::now() < deadline, "Prometheus did not become ready"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let up = query_until(&http, &prom, r#"up{job="pebble"}"#, nothing, |r| {
        r.len() == 1 && value(&r[0]) == 1.0
    })
    .await;
    assert_eq!(up[0]["metric"]["instance"], app.metrics_addr.to_string());

    let activity = query_until(
        &http,
        &prom,
        r#"pebble_http_request_duration_seconds_count{route="/api/v1/activity", method="GET", status="200"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    assert_eq!(value(&activity[0]), 1.0);
    query_until(
        &http,
        &prom,
        r#"pebble_http_request_duration_seconds_count{route="unmatched", status="404"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    query_until(
        &http,
        &prom,
        r#"pebble_http_request_duration_seconds_count{route="/healthz", method="other"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    let created = query_until(
        &http,
        &prom,
        r#"pebble_audit_events_total{event_type="UserCreated"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    assert_eq!(value(&created[0]), 4.0, "one user per role");
    query_until(
        &http,
        &prom,
        r#"pebble_tally_requests_total{query="stock_item", outcome="transport"}"#,
        nothing,
        |r| r.len() == 1 && value(&r[0]) == 1.0,
    )
    .await;
    query_until(
        &http,
        &prom,
        r#"pebble_tally_lookups_total{outcome="failed", source="cache"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    query_until(
        &http,
        &prom,
        r#"pebble_build_info{backend="sqlite"}"#,
        nothing,
        |r| r.len() == 1,
    )
    .await;
    query_until(
        &http,
        &prom,
        "pebble_db_pool_max_connections",
        nothing,
        |r| r.len() == 1 && value(&r[0]) >= 1.0,
    )
    .await;

    // Recording rules evaluate on live data: keep requests coming so the rate moves.
    let ping = async || {
        let _ = app.client.get(app.url("/healthz")).send().await;
    };
    query_until(&http, &prom, "pebble:http_requests:rate5m", ping, |r| {
        r.len() == 1 && value(&r[0]) > 0.0
    })
    .await;
    query_until(&http, &prom, "pebble:http_5xx_ratio:rate5m", nothing, |r| {
        r.len() == 1 && value(&r[0]) == 0.0
    })
    .await;
    // Every lookup fails (Tally is unreachable): the ratio reads 0, not "no data".
    let fail_lookup = async || {
        let _ = app
            .state
            .tally
            .lookup("PVC pipe", pebble_core::audit::Actor::system("test"))
            .await;
    };
    query_until(
        &http,
        &prom,
        "pebble:tally_lookup_success_ratio:rate15m",
        fail_lookup,
        |r| r.len() == 1 && value(&r[0]) == 0.0,
    )
    .await;

    // Every rule evaluated without error against Pebble's real series.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer: Value = http
            .get(format!("{prom}/api/v1/rules"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut health = Vec::new();
        for group in answer["data"]["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                health.push((
                    rule["name"].as_str().unwrap().to_owned(),
                    rule["health"].as_str().unwrap().to_owned(),
                    rule["lastError"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        let bad: Vec<_> = health.iter().filter(|(_, h, _)| h == "err").collect();
        assert!(bad.is_empty(), "rules failing in Prometheus: {bad:?}");
        if health.len() >= 30 && health.iter().all(|(_, h, _)| h == "ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rules not all evaluated: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.shutdown().await;
}
