//! Metrics (PRODUCT.md §12) through the `metrics` facade and its Prometheus renderer.
//!
//! Two kinds, rendered together by `GET /metrics`:
//!
//! - **Events** (HTTP requests, AWS calls, propagation outcomes, notifications) are
//!   counted wherever they happen with the `metrics` macros, into the one process-wide
//!   recorder `install` sets up (the facade allows one per process; tests run many
//!   consoles in one process, so it is installed once and shared).
//! - **State** (the inventory, each domain's certificate expiry, what the edge serves) is
//!   read from one console's own state at scrape time into a recorder made for that
//!   scrape (`render_state`), so each console reports its own inventory and a pool that
//!   disappeared leaves no series behind.
//!
//! Label values are bounded: routes are the matched route *pattern* (never the raw
//! path), AWS operations are the SDK's operation names, outcomes are fixed words.

pub mod http;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests: `{method, route, status}`.
pub const HTTP_REQUESTS: &str = "certdeck_http_requests_total";
/// HTTP request durations: `{method, route, status}`.
pub const HTTP_DURATION: &str = "certdeck_http_request_duration_seconds";
/// AWS calls (every HTTP attempt, the SDK's retries included): `{service, operation}`.
pub const AWS_CALLS: &str = "certdeck_aws_calls_total";
/// AWS calls refused as throttled: `{service, operation}`.
pub const AWS_THROTTLES: &str = "certdeck_aws_throttles_total";
/// AWS calls that failed: `{service, operation, kind}` with `kind` one of `throttled`,
/// `client`, `server`, `transport`.
pub const AWS_ERRORS: &str = "certdeck_aws_errors_total";
/// AWS call latency: `{service, operation}`.
pub const AWS_DURATION: &str = "certdeck_aws_call_duration_seconds";
/// Calls certdeck's own pacing refused to queue for a person: `{category}`.
pub const AWS_QUOTA_BUSY: &str = "certdeck_aws_quota_busy_total";
/// From a change's submission to its outcome: `{outcome}` (verified, failed,
/// timed_out, superseded).
pub const PROPAGATION_DURATION: &str = "certdeck_propagation_duration_seconds";
/// Notification deliveries: `{channel, outcome}` (counted by the notifications).
pub const NOTIFICATIONS: &str = "certdeck_notifications_total";

/// Sweeps of every custom domain's edge finished (on the replica that sweeps).
pub const EDGE_SWEEPS: &str = "certdeck_edge_sweeps_total";

/// Seconds: quick page answers up to slow exports.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds: one AWS call, paced and retried by the SDK.
const AWS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds: CloudFront takes minutes; the default timeout is an hour.
const PROPAGATION_BUCKETS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 2700.0, 3600.0, 7200.0,
];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle) and
/// starts its upkeep. `None` when another recorder was installed first: events are then
/// not rendered, the state still is.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = builder()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(AWS_DURATION.into()), AWS_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(PROPAGATION_DURATION.into()),
                        PROPAGATION_BUCKETS,
                    )
                });
            let recorder = match recorder {
                Ok(builder) => builder.build_recorder(),
                Err(e) => {
                    tracing::error!(error = %e, "the metrics recorder could not be built");
                    return None;
                }
            };
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "another metrics recorder is installed");
                return None;
            }
            describe();
            // Histogram samples wait in buffers until drained: drain them even when
            // nobody scrapes, so memory stays bounded.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "the metrics upkeep thread did not start");
            }
            Some(handle)
        })
        .as_ref()
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests, by route pattern and status.");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request durations, by route pattern and status."
    );
    metrics::describe_counter!(
        AWS_CALLS,
        "AWS calls (each HTTP attempt, the SDK's retries included), by service and operation."
    );
    metrics::describe_counter!(
        AWS_THROTTLES,
        "AWS calls AWS refused as throttled, by service and operation."
    );
    metrics::describe_counter!(
        AWS_ERRORS,
        "AWS calls that failed, by service, operation and kind (throttled, client, server, transport)."
    );
    metrics::describe_histogram!(
        AWS_DURATION,
        metrics::Unit::Seconds,
        "AWS call latency, by service and operation."
    );
    metrics::describe_counter!(
        AWS_QUOTA_BUSY,
        "Calls for a person that certdeck's pacing refused rather than queue past the wait limit."
    );
    metrics::describe_histogram!(
        PROPAGATION_DURATION,
        metrics::Unit::Seconds,
        "From a certificate change's submission to its outcome, by outcome."
    );
    metrics::describe_counter!(
        EDGE_SWEEPS,
        "Sweeps of every custom domain's edge finished by this replica."
    );
    metrics::describe_counter!(
        NOTIFICATIONS,
        "Notification deliveries, by channel and outcome."
    );
}

/// Records a finished propagation.
pub fn propagation_finished(outcome: &'static str, seconds: f64) {
    metrics::histogram!(PROPAGATION_DURATION, "outcome" => outcome).record(seconds.max(0.0));
}

/// One pool's row as the scrape reads it.
pub struct PoolState<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub pool_id: &'a str,
    pub custom_domain: Option<&'a str>,
    /// The configured certificate's expiry, unix seconds.
    pub certificate_not_after: Option<i64>,
}

/// One account as the scrape reads it.
pub struct AccountState<'a> {
    pub name: &'a str,
    pub id: &'a str,
    pub pools: usize,
    pub readable: bool,
}

/// One console's state at scrape time.
pub struct State<'a> {
    pub pools: Vec<PoolState<'a>>,
    pub accounts: Vec<AccountState<'a>>,
    pub pools_needing_attention: usize,
    /// -1: no snapshot yet.
    pub inventory_age_seconds: i64,
    pub inventory_problems: usize,
    /// -1: the database did not answer.
    pub propagations_active: i64,
    /// Custom domain → whether the edge served the configured certificate at its last
    /// probe (domains whose answer is unknown are left out).
    pub served_matches: Vec<(&'a str, bool)>,
}

/// The state gauges in Prometheus text, through a recorder of this scrape alone.
pub fn render_state(state: &State<'_>) -> String {
    let recorder = builder().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_gauge!("certdeck_pools", "User pools in the inventory.");
        metrics::gauge!("certdeck_pools").set(state.pools.len() as f64);
        metrics::describe_gauge!(
            "certdeck_custom_domains",
            "Custom domains in the inventory."
        );
        let custom = state
            .pools
            .iter()
            .filter(|p| p.custom_domain.is_some())
            .count();
        metrics::gauge!("certdeck_custom_domains").set(custom as f64);
        metrics::describe_gauge!(
            "certdeck_pools_needing_attention",
            "Pools with a dashboard flag."
        );
        metrics::gauge!("certdeck_pools_needing_attention")
            .set(state.pools_needing_attention as f64);
        metrics::describe_gauge!(
            "certdeck_inventory_age_seconds",
            "Age of the inventory snapshot (-1: none yet)."
        );
        metrics::gauge!("certdeck_inventory_age_seconds").set(state.inventory_age_seconds as f64);
        metrics::describe_gauge!(
            "certdeck_inventory_problems",
            "What the last refresh could not read."
        );
        metrics::gauge!("certdeck_inventory_problems").set(state.inventory_problems as f64);
        metrics::describe_gauge!(
            "certdeck_propagations_active",
            "Certificate changes being followed (-1: the database did not answer)."
        );
        metrics::gauge!("certdeck_propagations_active").set(state.propagations_active as f64);
        metrics::describe_gauge!(
            "certdeck_account_pools",
            "User pools in the inventory, per AWS account."
        );
        metrics::describe_gauge!(
            "certdeck_account_readable",
            "Whether the last refresh could read the account (assume its role)."
        );
        for account in &state.accounts {
            let labels = [
                ("account", account.name.to_owned()),
                ("account_id", account.id.to_owned()),
            ];
            metrics::gauge!("certdeck_account_pools", &labels).set(account.pools as f64);
            metrics::gauge!("certdeck_account_readable", &labels)
                .set(f64::from(u8::from(account.readable)));
        }
        metrics::describe_gauge!(
            "certdeck_certificate_expiry_timestamp_seconds",
            "When the certificate configured on a custom domain expires (unix seconds)."
        );
        for pool in &state.pools {
            if let (Some(domain), Some(not_after)) =
                (pool.custom_domain, pool.certificate_not_after)
            {
                let labels = [
                    ("account", pool.account.to_owned()),
                    ("region", pool.region.to_owned()),
                    ("pool_id", pool.pool_id.to_owned()),
                    ("domain", domain.to_owned()),
                ];
                metrics::gauge!("certdeck_certificate_expiry_timestamp_seconds", &labels)
                    .set(not_after as f64);
            }
        }
        metrics::describe_gauge!(
            "certdeck_served_certificate_matches",
            "Whether the edge served the configured certificate at the domain's last probe (1) or another (0)."
        );
        for (domain, matches) in &state.served_matches {
            metrics::gauge!("certdeck_served_certificate_matches", "domain" => domain.to_string())
                .set(f64::from(u8::from(*matches)));
        }
    });
    recorder.handle().render()
}

/// The process's events in Prometheus text (empty when no recorder could be installed).
pub fn render_events() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool<'a>(i: usize, ids: &'a [String], domains: &'a [String]) -> PoolState<'a> {
        PoolState {
            account: "default",
            region: if i.is_multiple_of(2) {
                "eu-west-1"
            } else {
                "us-east-1"
            },
            pool_id: &ids[i],
            custom_domain: Some(&domains[i]),
            certificate_not_after: Some(1_800_000_000 + i as i64),
        }
    }

    #[test]
    fn state_gauges_name_every_domain_and_escape_labels() {
        let ids = vec!["eu-west-1_A".to_owned(), "us-east-1_B".to_owned()];
        let domains = vec![
            "auth.example.com".to_owned(),
            "we\"ird\\.example".to_owned(),
        ];
        let state = State {
            pools: (0..2).map(|i| pool(i, &ids, &domains)).collect(),
            accounts: vec![AccountState {
                name: "default",
                id: "",
                pools: 2,
                readable: true,
            }],
            pools_needing_attention: 1,
            inventory_age_seconds: 7,
            inventory_problems: 0,
            propagations_active: 0,
            served_matches: vec![("auth.example.com", false)],
        };
        let text = render_state(&state);
        assert!(text.contains("certdeck_pools 2\n"), "{text}");
        assert!(text.contains("# TYPE certdeck_certificate_expiry_timestamp_seconds gauge"));
        assert!(
            text.contains("certdeck_certificate_expiry_timestamp_seconds{account=\"default\",region=\"eu-west-1\",pool_id=\"eu-west-1_A\",domain=\"auth.example.com\"} 1800000000\n"),
            "{text}"
        );
        assert!(text.contains("domain=\"we\\\"ird\\\\.example\""), "{text}");
        assert!(
            text.contains("certdeck_served_certificate_matches{domain=\"auth.example.com\"} 0\n")
        );
    }

    /// /metrics stays cheap at 10,000 pools: the state of one scrape renders well within
    /// a scrape interval even unoptimised.
    #[test]
    fn ten_thousand_pools_render_quickly() {
        let n = 10_000;
        let ids: Vec<String> = (0..n).map(|i| format!("eu-west-1_{i:08}")).collect();
        let domains: Vec<String> = (0..n).map(|i| format!("auth{i}.example.com")).collect();
        let state = State {
            pools: (0..n).map(|i| pool(i, &ids, &domains)).collect(),
            accounts: Vec::new(),
            pools_needing_attention: 0,
            inventory_age_seconds: 0,
            inventory_problems: 0,
            propagations_active: 0,
            served_matches: domains.iter().map(|d| (d.as_str(), true)).collect(),
        };
        let started = std::time::Instant::now();
        let text = render_state(&state);
        let took = started.elapsed();
        eprintln!("10,000 pools: {} bytes in {took:?}", text.len());
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("certdeck_certificate_expiry_timestamp_seconds{"))
                .count(),
            n
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn events_render_as_real_histograms_and_counters() {
        assert!(install().is_some());
        // The notifications count their deliveries under this name and these labels.
        metrics::counter!(NOTIFICATIONS, "channel" => "unit-test", "outcome" => "delivered")
            .increment(1);
        propagation_finished("verified", 42.0);
        let text = render_events();
        assert!(
            text.contains(
                "certdeck_notifications_total{channel=\"unit-test\",outcome=\"delivered\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE certdeck_propagation_duration_seconds histogram"));
        assert!(text.contains(
            "certdeck_propagation_duration_seconds_bucket{outcome=\"verified\",le=\"60\"} "
        ));
        assert!(text.contains(
            "certdeck_propagation_duration_seconds_bucket{outcome=\"verified\",le=\"+Inf\"} "
        ));
    }
}
