//! Issue 7: the watcher follows a change to `verified`, times out an edge that never
//! switches, resumes after a restart, streams phases, and shows probe failures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{
    Browser, TestApp, confirm_recommended, eventually, options, paths, settings, spawn_sandbox,
    tempdir,
};

/// Changes the certificate of `pool_name` to the recommended one; the propagation id.
pub async fn change_certificate(app: &TestApp, browser: &Browser, pool_name: &str) -> String {
    let pool = app.pool_id(pool_name).await;
    let response = confirm_recommended(browser, &pool).await;
    assert_eq!(response.status(), 303, "the change is accepted");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    paths::propagation_id(location)
}

async fn api(browser: &Browser, id: &str) -> Value {
    browser
        .propagation_json(id)
        .await
        .json()
        .await
        .expect("json")
}

/// Polls the propagation's JSON until it reaches `phase`, or fails after `limit`.
pub async fn wait_for_phase(browser: &Browser, id: &str, phase: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let current = api(browser, id).await;
        if current["phase"] == phase {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "phase {phase} not reached in {limit:?}: {current}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn app_with(
    propagation_secs: u64,
    tweak: impl FnOnce(&mut certdeck::configuration::Settings),
) -> (Arc<crate::helpers::TestSandbox>, TestApp) {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(propagation_secs);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut s = settings(&sandbox, &sandbox.sqlite_url());
    tweak(&mut s);
    let app = TestApp::start_with(&sandbox, s).await;
    app.refresh().await;
    (sandbox, app)
}

#[tokio::test]
async fn phases_run_in_order_and_verified_follows_the_edge_switch() {
    let (sandbox, app) = app_with(5, |_| {}).await;
    let submitted = Instant::now();
    let id = change_certificate(&app, &app.admin, "Customer portal").await;
    let done = wait_for_phase(&app.admin, &id, "verified", Duration::from_secs(40)).await;
    let switched = submitted + Duration::from_secs(5);
    let lag = Instant::now().saturating_duration_since(switched);
    assert!(
        lag < Duration::from_secs(30),
        "verified {lag:?} after the edge switched"
    );
    let events = app
        .state
        .store
        .propagation_events(&id)
        .await
        .expect("timeline");
    let phases: Vec<&str> = events.iter().map(|e| e.phase.as_str()).collect();
    assert_eq!(phases, ["submitted", "updating", "distributed", "verified"]);
    assert!(events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    // The served serial is ACM's serial of the new certificate, as a number (ACM's text
    // form may differ from the probe's).
    let acm = sandbox.acm("us-east-1").await;
    let detail = acm
        .describe_certificate()
        .certificate_arn(done["new_certificate_arn"].as_str().expect("arn"))
        .send()
        .await
        .expect("describe");
    let acm_serial = detail
        .certificate()
        .and_then(|c| c.serial())
        .expect("ACM's serial");
    let served = done["served_serial"].as_str().expect("a served serial");
    assert!(
        certdeck::domain::same_serial(served, acm_serial),
        "served {served}, ACM {acm_serial}"
    );
    assert_eq!(done["cognito_status"], "ACTIVE");
    assert!(done["verified_at"].as_i64().is_some());
    let page = app.admin.propagation_page(&id).await;
    assert!(
        page.contains("verified after") && page.contains("(AWS allows up to 60 min)"),
        "the outcome is spelled out"
    );
    let audited = app.audit_of("propagation.verified", 5).await;
    assert_eq!(audited.len(), 1);
}

#[tokio::test]
async fn an_edge_that_never_switches_times_out_with_an_audit_entry() {
    let (sandbox, app) = app_with(1, |s| s.propagation_timeout = Duration::from_secs(6)).await;
    sandbox
        .arm_fault(json!({"operation": "Edge.Distribute", "count": 1}))
        .await;
    let id = change_certificate(&app, &app.admin, "Customer portal").await;
    let ended = wait_for_phase(&app.admin, &id, "timed_out", Duration::from_secs(20)).await;
    assert_eq!(
        ended["cognito_status"], "ACTIVE",
        "Cognito said ACTIVE; the edge did not follow"
    );
    let phases: Vec<String> = app
        .state
        .store
        .propagation_events(&id)
        .await
        .expect("timeline")
        .into_iter()
        .map(|e| e.phase.to_string())
        .collect();
    assert_eq!(phases.last().map(String::as_str), Some("timed_out"));
    assert!(!phases.contains(&"verified".to_owned()));
    let audited = app.audit_of("propagation.timed_out", 5).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].record.outcome, "failure");
    // The dashboard flags the domain: the edge serves another certificate.
    let dashboard = app.admin.dashboard("?view=all&q=customer").await;
    assert!(
        crate::helpers::texts(&dashboard, "tr[data-pool-id] .flags")
            .concat()
            .contains("served certificate differs")
    );
}

#[tokio::test]
async fn watching_resumes_after_a_restart() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(4);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let database = sandbox.sqlite_url();
    let first = TestApp::start(&sandbox, &database).await;
    first.refresh().await;
    let id = change_certificate(&first, &first.admin, "Merchant dashboard").await;
    wait_for_phase(&first.admin, &id, "updating", Duration::from_secs(10)).await;
    first.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = TestApp::start(&sandbox, &database).await;
    let done = wait_for_phase(&second.admin, &id, "verified", Duration::from_secs(30)).await;
    assert!(done["served_serial"].is_string());
}

#[tokio::test]
async fn server_sent_events_bring_the_phases_in_order() {
    let (_sandbox, app) = app_with(3, |_| {}).await;
    let id = change_certificate(&app, &app.admin, "EU customer portal").await;
    let response = app
        .admin
        .client
        .get(format!("{}/propagations/{id}/events", app.admin.base))
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if text.contains("\"phase\":\"verified\"") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "verified arrived: {text}");
    let mut phases: Vec<String> = text
        .split("\n\n")
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| {
            serde_json::from_str::<Value>(data).expect("event data is JSON")["phase"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(text.contains("event: phase"));
    phases.dedup();
    let order = ["submitted", "updating", "distributed", "verified"];
    let positions: Vec<usize> = phases
        .iter()
        .map(|p| order.iter().position(|o| o == p).expect("a known phase"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {phases:?}"
    );
    assert_eq!(phases.first().map(String::as_str), Some("submitted"));
    assert_eq!(phases.last().map(String::as_str), Some("verified"));
}

/// An edge that misbehaves in one way.
async fn fake_edge(kind: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    match kind {
        "refused" => drop(listener),
        "alert" => {
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buffer = [0u8; 1024];
                    let _ = stream.read(&mut buffer).await;
                    // A fatal handshake_failure alert.
                    let _ = stream
                        .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
                        .await;
                }
            });
        }
        _ => {
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    held.push(stream);
                }
            });
        }
    }
    address
}

/// A TLS edge whose certificate (from its own CA, written to `ca_path`) names only
/// other.example.com.
async fn wrong_name_edge(ca_path: &std::path::Path) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let make = |cn: &str, issuer: Option<(&openssl::x509::X509, &PKey<openssl::pkey::Private>)>| {
        let key = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .expect("group"),
            )
            .expect("key"),
        )
        .expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", cn).expect("cn");
        let name = name.build();
        let mut b = X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        b.set_serial_number(
            &openssl::bn::BigNum::from_u32(7)
                .expect("bn")
                .to_asn1_integer()
                .expect("serial"),
        )
        .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(30).expect("t"))
            .expect("na");
        match issuer {
            None => {
                b.set_issuer_name(&name).expect("issuer");
                b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
                    .expect("bc");
                b.sign(&key, MessageDigest::sha256()).expect("sign");
            }
            Some((ca, ca_key)) => {
                b.set_issuer_name(ca.subject_name()).expect("issuer");
                let san = SubjectAlternativeName::new()
                    .dns(cn)
                    .build(&b.x509v3_context(Some(ca), None))
                    .expect("san");
                b.append_extension(san).expect("san");
                b.sign(ca_key, MessageDigest::sha256()).expect("sign");
            }
        }
        (b.build(), key)
    };
    let (ca, ca_key) = make("test edge CA", None);
    let (leaf, leaf_key) = make("other.example.com", Some((&ca, &ca_key)));
    std::fs::write(ca_path, ca.to_pem().expect("pem")).expect("CA file");
    let chain = vec![
        rustls::pki_types::CertificateDer::from(leaf.to_der().expect("der")),
        rustls::pki_types::CertificateDer::from(ca.to_der().expect("der")),
    ];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        leaf_key.private_key_to_pkcs8().expect("pkcs8").into(),
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn probe_failures_are_shown_on_the_page() {
    let dir = tempdir();
    let ca_path = dir.path().join("wrong-name-ca.pem");
    let cases: Vec<(&str, String)> = vec![
        ("refused", fake_edge("refused").await),
        ("TLS alert", fake_edge("alert").await),
        ("wrong name", wrong_name_edge(&ca_path).await),
        ("timeout", fake_edge("silent").await),
    ];
    for (kind, edge) in cases {
        let ca = ca_path.clone();
        let (_sandbox, app) = app_with(1, |s| {
            s.edge_addr = Some(edge.clone());
            if kind == "wrong name" {
                s.edge_ca_file = Some(ca);
            }
        })
        .await;
        let id = change_certificate(&app, &app.admin, "Merchant dashboard").await;
        let shown = eventually(Duration::from_secs(20), || async {
            api(&app.admin, &id).await["probe_error"]
                .as_str()
                .is_some_and(|e| e.starts_with(&format!("{kind}:")))
        })
        .await;
        assert!(
            shown,
            "{kind}: the probe error is recorded: {}",
            api(&app.admin, &id).await
        );
        let page = app.admin.propagation_page(&id).await;
        assert!(
            page.contains(&format!("{kind}:")),
            "{kind} is shown on the page"
        );
        assert_ne!(api(&app.admin, &id).await["phase"], "verified");
    }
}

#[tokio::test]
async fn the_sweep_flags_a_domain_whose_edge_serves_another_certificate() {
    let (sandbox, app) = app_with(1, |s| s.inventory_refresh = Duration::from_secs(2)).await;
    // A change made outside certdeck, whose distribution never reaches the edge.
    sandbox
        .arm_fault(json!({"operation": "Edge.Distribute", "count": 1}))
        .await;
    let pool = app.pool_id("Merchant dashboard").await;
    let view = app.state.inventory.view();
    let wildcard = view
        .snapshot
        .certificates
        .iter()
        .find(|c| c.domain_name.as_deref() == Some("*.example.com"))
        .expect("wildcard")
        .arn
        .clone();
    let cognito = sandbox.cognito("us-east-1").await;
    cognito
        .update_user_pool_domain()
        .domain("login.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(&wildcard)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("update");
    let flagged = eventually(Duration::from_secs(30), || async {
        let page = app.admin.dashboard("?view=all&q=merchant").await;
        crate::helpers::texts(&page, "tr[data-pool-id] .flags")
            .concat()
            .contains("served certificate differs")
    })
    .await;
    assert!(
        flagged,
        "the sweep saw the edge serving the old certificate"
    );
    let others = app.admin.dashboard("?view=all&q=customer").await;
    assert!(
        !crate::helpers::texts(&others, "tr[data-pool-id] .flags")
            .concat()
            .contains("served certificate differs"),
        "domains served as configured are not flagged"
    );
}

#[tokio::test]
async fn the_watcher_is_stepped_instead_of_waiting_on_its_intervals() {
    // Intervals of an hour: after its first look, the background loop leaves the change
    // alone, so only the steps below can move it on.
    let (_sandbox, app) = app_with(1, |s| {
        s.propagation_poll = Duration::from_secs(3600);
        s.probe_interval = Duration::from_secs(3600);
    })
    .await;
    let id = change_certificate(&app, &app.admin, "Customer portal").await;
    let mut steps = 0;
    let verified = eventually(Duration::from_secs(20), || {
        steps += 1;
        let (app, id) = (&app, id.clone());
        async move {
            app.state.watcher.step().await.expect("a round");
            api(&app.admin, &id).await["phase"] == "verified"
        }
    })
    .await;
    assert!(verified, "verified by stepping the watcher");
    assert!(steps >= 2, "it took more than one round ({steps})");
}

/// A replica loads what other replicas' probes stored only when the findings changed
/// (issue 17); every change is loaded all the same, a new domain or a new probe of one.
#[tokio::test]
async fn a_replica_loads_each_finding_another_replica_stores() {
    let app = crate::helpers::spawn_app(Seed::Empty).await;
    let watcher = &app.state.watcher;
    // What the watcher has loaded for the domain, after a reload.
    let loaded = || async {
        watcher.load().await.expect("load");
        watcher
            .served_certificates()
            .get("auth.example.com")
            .map(|r| (r.serial.clone(), r.probed_at))
    };
    // Stored as another replica's probe would store it (the store is shared).
    let shared = &app.state.store;
    let store = |serial: &str, probed_at: i64| {
        let record = certdeck::store::ServedRecord {
            domain: "auth.example.com".to_owned(),
            serial: serial.to_owned(),
            subject: "CN=auth.example.com".to_owned(),
            not_after: Some(1_900_000_000),
            matches: Some(false),
            probed_at,
        };
        async move {
            shared
                .record_served_certificate(&record)
                .await
                .expect("record");
        }
    };
    assert_eq!(loaded().await, None);
    store("0a", 1_800_000_000).await;
    assert_eq!(loaded().await, Some(("0a".to_owned(), 1_800_000_000)));
    // Nothing new: nothing changes.
    assert_eq!(loaded().await, Some(("0a".to_owned(), 1_800_000_000)));
    // Probed again, serving another certificate.
    store("0b", 1_800_000_060).await;
    assert_eq!(loaded().await, Some(("0b".to_owned(), 1_800_000_060)));
}
