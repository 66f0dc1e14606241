//! Issue 16, points 3 and 4: `/metrics` through the `metrics` library, read by outside
//! parsers (Python's `prometheus_client`, `promtool check metrics`); the alert rules
//! and the Grafana dashboard of `deploy/observability/` checked by promtool and against
//! what `/metrics` exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, options, settings, spawn_sandbox, tempdir};
use crate::notifications::{Receiver, notifications, webhook_channel};
use crate::propagation::{change_certificate, wait_for_phase};
use crate::sandbox_cli::python;

const OBSERVABILITY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/observability");

/// `/metrics` as `prometheus_client`'s parser reads it.
struct Parsed {
    /// Family name → type.
    families: BTreeMap<String, String>,
    /// Every sample: name, labels, value.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Parsed {
    /// The sum of the samples named `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.2).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a (String, BTreeMap<String, String>, f64)> {
        self.samples.iter().filter(move |(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
    }

    fn sample_names(&self) -> BTreeSet<&str> {
        self.samples.iter().map(|s| s.0.as_str()).collect()
    }
}

/// Runs the outside parser on `text`; fails the test when it refuses the text.
fn parse(text: &str) -> Parsed {
    let dir = tempdir();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).expect("write");
    let output = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/parse_metrics.py"
        ))
        .arg(&file)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "prometheus_client refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).expect("the parser's JSON");
    let families = read["families"]
        .as_object()
        .expect("families")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let samples = read["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let labels = s["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                labels,
                s["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    Parsed { families, samples }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(OBSERVABILITY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (.ci/test installs Debian's prometheus package)");
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .expect("promtool reads");
    }
    let output = child.wait_with_output().expect("promtool ends");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The metric names a PromQL text queries.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("certdeck_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(OBSERVABILITY).join("certdeck.dashboard.json"))
        .expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("a PromQL expression").to_owned())
        .collect()
}

fn rule_queries() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(OBSERVABILITY).join("certdeck.rules.yml"))
        .expect("the rules");
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    rules["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .map(|r| r["expr"].as_str().expect("expr").to_owned())
        .collect()
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_on_the_right_series() {
    let (ok, out) = promtool(&["check", "rules", "certdeck.rules.yml"], None);
    assert!(ok && out.contains("SUCCESS: 4 rules found"), "{out}");
    let (ok, out) = promtool(&["test", "rules", "certdeck.rules.test.yml"], None);
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

#[tokio::test]
async fn metrics_parse_with_outside_parsers_and_count_what_happens() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(1);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut s = settings(&sandbox, &sandbox.sqlite_url());
    // The edge sweep follows the inventory's interval.
    s.inventory_refresh = Duration::from_secs(2);
    // A webhook channel: its deliveries are counted by channel and outcome.
    let receiver = Receiver::start(0).await;
    s.notifications = notifications(&format!(
        "default_routes = [\"metrics-hook\"]\n{}",
        webhook_channel("metrics-hook", &receiver.url)
    ));
    let app = TestApp::start_with(&sandbox, s).await;
    app.refresh().await;
    let before = parse(&app.get_text("/metrics").await);

    // AWS throttles one call; the SDK's retry gets through.
    sandbox
        .arm_fault(json!({
            "operation": "DescribeUserPool",
            "error_code": "TooManyRequestsException",
            "count": 1
        }))
        .await;
    app.refresh().await;
    // Hostile paths: counted under their route pattern, never under the path.
    let hostile = format!("evil-{}", uuid::Uuid::new_v4().simple());
    // Not a pool id at all: refused as bad input.
    assert_eq!(
        app.admin.get(&format!("/pools/{hostile}")).await.status(),
        400
    );
    assert_eq!(
        app.admin.get(&format!("/{hostile}/nowhere")).await.status(),
        404
    );
    // A change followed to its outcome.
    let id = change_certificate(&app, &app.admin, "Customer portal").await;
    wait_for_phase(&app.admin, &id, "verified", Duration::from_secs(40)).await;
    app.refresh().await;
    // A test notification, delivered by the notifier's worker.
    assert_eq!(
        app.admin
            .post_form("/notifications/test", &[("channel", "metrics-hook")])
            .await
            .status(),
        303
    );
    assert!(
        eventually(Duration::from_secs(30), || async {
            !receiver.received().is_empty()
        })
        .await,
        "the test notification arrives"
    );
    // The edge sweep has probed every custom domain.
    let swept = eventually(Duration::from_secs(30), || async {
        app.get_text("/metrics")
            .await
            .matches("certdeck_served_certificate_matches{")
            .count()
            == 4
    })
    .await;
    assert!(swept, "the sweep probed the four custom domains");

    let text = app.get_text("/metrics").await;
    let after = parse(&text);

    // Every family is certdeck's, and the histograms are real ones (the parser script
    // also checks buckets against counts).
    assert!(after.families.keys().all(|f| f.starts_with("certdeck_")));
    for histogram in [
        "certdeck_http_request_duration_seconds",
        "certdeck_aws_call_duration_seconds",
        "certdeck_propagation_duration_seconds",
    ] {
        assert_eq!(
            after.families.get(histogram).map(String::as_str),
            Some("histogram"),
            "{histogram}"
        );
    }
    assert_eq!(after.sum("certdeck_pools", &[]), 13.0);

    // Each custom domain's expiry is what ACM says of the certificate Cognito has
    // configured on it, read here through the SDK.
    let cognito = sandbox.cognito("us-east-1").await;
    let cognito_eu = sandbox.cognito("eu-west-1").await;
    let acm = sandbox.acm("us-east-1").await;
    let view = app.state.inventory.view();
    let mut domains = 0;
    for row in &view.rows {
        let Some(domain) = &row.custom_domain else {
            continue;
        };
        domains += 1;
        let client = if &*row.region == "eu-west-1" {
            &cognito_eu
        } else {
            &cognito
        };
        let described = client
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .expect("describe domain");
        let arn = described
            .domain_description()
            .and_then(|d| d.custom_domain_config())
            .map(|c| c.certificate_arn().to_owned())
            .expect("a certificate");
        let not_after = acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .expect("describe certificate")
            .certificate()
            .and_then(|c| c.not_after())
            .map(|t| t.secs())
            .expect("not after");
        let labels = [
            ("account", "default"),
            ("region", &*row.region),
            ("pool_id", row.pool_id.as_str()),
            ("domain", domain.as_str()),
        ];
        let found: Vec<_> = after
            .matching("certdeck_certificate_expiry_timestamp_seconds", &labels)
            .collect();
        assert_eq!(found.len(), 1, "{domain}: {found:?}");
        assert_eq!(found[0].2, not_after as f64, "{domain}");
        assert_eq!(
            after.sum(
                "certdeck_served_certificate_matches",
                &[("domain", domain.as_str())]
            ),
            1.0,
            "{domain}: the edge serves the configured certificate"
        );
    }
    assert_eq!(domains, 4);

    // AWS: the throttled call is counted as a call, a throttle and an error.
    let operation = [("operation", "DescribeUserPool")];
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    // The sweeps that probed them (every 2 s here) are counted when they finish.
    assert!(delta("certdeck_edge_sweeps_total", &[]) >= 1.0, "{text}");
    assert!(
        delta("certdeck_aws_throttles_total", &operation) >= 1.0,
        "{text}"
    );
    assert!(
        delta(
            "certdeck_aws_errors_total",
            &[("operation", "DescribeUserPool"), ("kind", "throttled")]
        ) >= 1.0
    );
    assert!(delta("certdeck_aws_calls_total", &operation) >= 2.0);
    assert!(
        delta("certdeck_aws_call_duration_seconds_count", &operation)
            >= delta("certdeck_aws_calls_total", &operation)
    );
    assert!(
        delta(
            "certdeck_aws_calls_total",
            &[("operation", "UpdateUserPoolDomain")]
        ) >= 1.0
    );
    // HTTP: the hostile paths left no trace but their route pattern.
    assert!(!text.contains(&hostile), "raw paths are not labels");
    assert!(
        delta(
            "certdeck_http_requests_total",
            &[("route", "/pools/{pool_id}"), ("status", "400")]
        ) >= 1.0
    );
    assert!(
        delta(
            "certdeck_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    assert!(
        delta(
            "certdeck_http_request_duration_seconds_count",
            &[("route", "/metrics"), ("method", "GET")]
        ) >= 1.0
    );
    // The verified change.
    assert!(
        delta(
            "certdeck_propagation_duration_seconds_count",
            &[("outcome", "verified")]
        ) >= 1.0
    );

    assert!(
        after.sum(
            "certdeck_notifications_total",
            &[("channel", "metrics-hook"), ("outcome", "sent")]
        ) >= 1.0
    );

    // promtool reads it too.
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}");

    // The dashboard and the alert rules query only what /metrics exposes.
    let exposed = after.sample_names();
    let mut queried = BTreeSet::new();
    for expr in dashboard_queries().iter().chain(rule_queries().iter()) {
        queried.extend(metrics_in(expr));
    }
    assert!(queried.len() >= 10, "{queried:?}");
    let missing: Vec<_> = queried
        .iter()
        .filter(|q| !exposed.contains(q.as_str()))
        .collect();
    assert!(missing.is_empty(), "queried but not exposed: {missing:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_domain_that_left_the_inventory_leaves_no_series() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    app.refresh().await;
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("domain=\"partners.example.net\""),
        "{metrics}"
    );
    let pool = app.pool_id("Partner portal").await;
    sandbox
        .cognito("us-east-1")
        .await
        .delete_user_pool_domain()
        .domain("partners.example.net")
        .user_pool_id(&pool)
        .send()
        .await
        .expect("delete domain");
    app.refresh().await;
    let metrics = app.get_text("/metrics").await;
    assert!(!metrics.contains("partners.example.net"), "{metrics}");
    assert!(metrics.contains("certdeck_custom_domains 3\n"), "{metrics}");
    app.stop().await;
}

/// The series the "propagation timed out" alert watches: a change whose edge never
/// switches is counted under `outcome="timed_out"`, with its duration.
#[tokio::test]
async fn a_timed_out_change_is_counted_for_the_alert() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(1);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut s = settings(&sandbox, &sandbox.sqlite_url());
    s.propagation_timeout = Duration::from_secs(6);
    let app = TestApp::start_with(&sandbox, s).await;
    app.refresh().await;
    let timed_out = [("outcome", "timed_out")];
    let before = parse(&app.get_text("/metrics").await);
    sandbox
        .arm_fault(json!({"operation": "Edge.Distribute", "count": 1}))
        .await;
    let id = change_certificate(&app, &app.admin, "Customer portal").await;
    wait_for_phase(&app.admin, &id, "timed_out", Duration::from_secs(40)).await;
    let after = parse(&app.get_text("/metrics").await);
    let count = "certdeck_propagation_duration_seconds_count";
    assert!(after.sum(count, &timed_out) - before.sum(count, &timed_out) >= 1.0);
    // Its duration is at least the timeout: it lands in the +Inf bucket, in none below 5 s.
    let bucket = "certdeck_propagation_duration_seconds_bucket";
    // (The series exists from the first timed-out change of the process on.)
    let at = |parsed: &Parsed, le: f64| -> Option<f64> {
        let found: Vec<f64> = parsed
            .matching(bucket, &timed_out)
            .filter(|s| s.1.get("le").and_then(|v| v.parse::<f64>().ok()) == Some(le))
            .map(|s| s.2)
            .collect();
        assert!(found.len() <= 1, "one bucket le={le}");
        found.first().copied()
    };
    let infinite = at(&after, f64::INFINITY).expect("the +Inf bucket");
    assert!(infinite - at(&before, f64::INFINITY).unwrap_or(0.0) >= 1.0);
    let five = at(&after, 5.0).expect("the 5 s bucket");
    assert_eq!(five, at(&before, 5.0).unwrap_or(0.0));
    app.stop().await;
}
