//! Issue 16: notifications — expiry thresholds once each (across a restart, and with two
//! consoles on one PostgreSQL), the edge serving an expiring certificate, change events
//! routed by team, a signed webhook, Slack text, a mail over STARTTLS to a local SMTP
//! sink, retries, and the admin page. Receivers are started by each test; AWS is the
//! sandbox, through the real SDK.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certdeck::domain::notification::NotificationSettings;
use certdeck_sandbox::Seed;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    TestApp, TestSandbox, eventually, options, settings, spawn_sandbox, table_rows, texts,
};

/// The webhook secret of the tests' channels.
const SECRET: &str = "webhook-secret-0123456789";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    signature: Option<String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A tiny HTTP receiver: records every request, answers 500 to the first `fail_first`
/// ones (all of them when `fail_first` is `usize::MAX`), then 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    let count = {
                        let mut log = log.lock().expect("log");
                        log.push(request);
                        log.len()
                    };
                    let status = if count <= fail_first {
                        "500 Internal Server Error"
                    } else {
                        "200 OK"
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Receiver {
            url,
            received,
            task,
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}

/// One HTTP/1.1 request: its path, signature header and body (by Content-Length).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.lines();
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let mut length = 0;
    let mut signature = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-certdeck-signature" => signature = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        signature,
        body,
    })
}

/// The HMAC-SHA256 signature of `body`, computed with openssl (not certdeck's code).
fn expected_signature(body: &[u8]) -> String {
    let key = openssl::pkey::PKey::hmac(SECRET.as_bytes()).expect("key");
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).expect("signer");
    signer.update(body).expect("update");
    format!(
        "sha256={}",
        hex::encode(signer.sign_to_vec().expect("sign"))
    )
}

/// Every request of `receiver` carries the signature of its exact body.
fn assert_signed(received: &[Received]) {
    for r in received {
        assert_eq!(r.path, "/hook", "posted to the configured URL");
        assert_eq!(
            r.signature.as_deref(),
            Some(expected_signature(&r.body).as_str()),
            "the signature covers the exact body: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Issues a certificate for `name` valid for `days` days from now.
async fn issue(sandbox: &TestSandbox, name: &str, days: i64) -> String {
    let response = sandbox
        .http
        .post(format!(
            "{}/_sandbox/certificates",
            sandbox.sandbox.endpoint_url()
        ))
        .json(&json!({
            "region": "us-east-1",
            "domain_name": name,
            "origin": "AWS_MANAGED",
            "days": days,
        }))
        .send()
        .await
        .expect("the sandbox answers");
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.expect("JSON");
    body["CertificateArn"].as_str().expect("arn").to_owned()
}

/// A pool of `team` with custom domain `domain` on certificate `arn`; its id.
async fn pool_with_domain(sandbox: &TestSandbox, team: &str, domain: &str, arn: &str) -> String {
    crate::helpers::pool_with_domain(sandbox, &format!("pool-{domain}"), team, domain, arn).await
}

/// `[notifications]` of the tests: retries 20 ms apart at first (given up after 2.4 s).
pub(crate) fn notifications(toml_text: &str) -> NotificationSettings {
    let mut settings = NotificationSettings::from_toml(toml_text).expect("[notifications]");
    settings.retry_base = Duration::from_millis(20);
    settings
}

pub(crate) fn webhook_channel(name: &str, url: &str) -> String {
    format!(
        "[[channels]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n"
    )
}

async fn start(
    sandbox: &Arc<TestSandbox>,
    database: &str,
    notify: &NotificationSettings,
) -> TestApp {
    let mut settings = settings(sandbox, database);
    settings.notifications = notify.clone();
    let app = TestApp::start_with(sandbox, settings).await;
    app.refresh().await;
    app
}

/// Steps `app`'s notifier until `check` holds (10 s at most).
async fn step_until(app: &TestApp, check: impl Fn() -> bool) -> bool {
    eventually(Duration::from_secs(10), || async {
        app.state.notifier.run_once().await.expect("a round");
        check()
    })
    .await
}

/// Steps a few more rounds (for what must not be sent).
async fn settle(app: &TestApp) {
    for _ in 0..5 {
        app.state.notifier.run_once().await.expect("a round");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The (domain, threshold) of every expiry notification received.
fn expiries(received: &[Received]) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = received
        .iter()
        .map(Received::json)
        .filter(|n| n["kind"] == "certificate.expiring")
        .map(|n| {
            (
                n["domain"].as_str().unwrap_or_default().to_owned(),
                n["threshold_days"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn each_threshold_fires_once_also_across_a_restart() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let hook = Receiver::start(0).await;
    let soon = issue(&sandbox, "soon.notify.test", 5).await;
    let later = issue(&sandbox, "later.notify.test", 20).await;
    let fine = issue(&sandbox, "fine.notify.test", 100).await;
    let own = issue(&sandbox, "own.notify.test", 5).await;
    pool_with_domain(&sandbox, "platform", "soon.notify.test", &soon).await;
    pool_with_domain(&sandbox, "platform", "later.notify.test", &later).await;
    pool_with_domain(&sandbox, "platform", "fine.notify.test", &fine).await;
    // A team with its own thresholds: at 5 days left, its 10-day threshold.
    pool_with_domain(&sandbox, "identity", "own.notify.test", &own).await;
    let notify = notifications(&format!(
        "default_routes = [\"hook\"]\n{}\n[teams.identity]\nthresholds = [10, 2]\n",
        webhook_channel("hook", &hook.url)
    ));
    let database = sandbox.sqlite_url();
    let app = start(&sandbox, &database, &notify).await;
    let want = vec![
        ("later.notify.test".to_owned(), 30),
        ("own.notify.test".to_owned(), 10),
        // Only the most urgent of 30, 14 and 7.
        ("soon.notify.test".to_owned(), 7),
    ];
    assert!(
        step_until(&app, || expiries(&hook.received()).len() >= 3).await,
        "{:?}",
        hook.received()
    );
    settle(&app).await;
    assert_eq!(expiries(&hook.received()), want);
    assert_signed(&hook.received());
    let first = hook.received()[0].json();
    assert!(
        first["summary"]
            .as_str()
            .is_some_and(|s| s.contains("threshold")),
        "{first}"
    );
    // Another inventory read, then a restart on the same database: nothing again.
    app.refresh().await;
    settle(&app).await;
    app.stop().await;
    let again = start(&sandbox, &database, &notify).await;
    settle(&again).await;
    assert_eq!(expiries(&hook.received()), want, "each threshold once ever");
    again.stop().await;
}

#[tokio::test]
async fn two_consoles_on_one_postgresql_send_each_threshold_once() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let hook = Receiver::start(0).await;
    let soon = issue(&sandbox, "pg.notify.test", 3).await;
    pool_with_domain(&sandbox, "platform", "pg.notify.test", &soon).await;
    let notify = notifications(&format!(
        "default_routes = [\"hook\"]\n{}",
        webhook_channel("hook", &hook.url)
    ));
    let database = crate::helpers::fresh_postgres_url().await;
    let one = start(&sandbox, &database, &notify).await;
    let two = start(&sandbox, &database, &notify).await;
    // Both evaluate the same inventory at the same time.
    for _ in 0..5 {
        let (a, b) = tokio::join!(one.state.notifier.run_once(), two.state.notifier.run_once());
        a.expect("a round");
        b.expect("a round");
    }
    assert!(step_until(&one, || !hook.received().is_empty()).await);
    settle(&two).await;
    assert_eq!(
        expiries(&hook.received()),
        vec![("pg.notify.test".to_owned(), 7)]
    );
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn an_edge_serving_an_expiring_certificate_is_reported() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let hook = Receiver::start(0).await;
    let configured = issue(&sandbox, "edge.notify.test", 300).await;
    pool_with_domain(&sandbox, "platform", "edge.notify.test", &configured).await;
    let notify = notifications(&format!(
        "default_routes = [\"hook\"]\n{}",
        webhook_channel("hook", &hook.url)
    ));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    settle(&app).await;
    assert!(
        hook.received().is_empty(),
        "the configured certificate is fine"
    );
    // What a probe records when the edge serves an older certificate than configured.
    let not_after = time::OffsetDateTime::now_utc().unix_timestamp() + 12 * 86_400;
    app.state
        .store
        .record_served_certificate(&certdeck::store::ServedRecord {
            domain: "edge.notify.test".into(),
            serial: "0a:0b:0c".into(),
            subject: "CN=edge.notify.test".into(),
            not_after: Some(not_after),
            matches: Some(false),
            probed_at: not_after - 12 * 86_400,
        })
        .await
        .expect("served record");
    app.refresh().await;
    assert!(step_until(&app, || !hook.received().is_empty()).await);
    settle(&app).await;
    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let n = received[0].json();
    assert_eq!(n["kind"], "edge.expiring");
    assert_eq!(n["serial"], "0a:0b:0c");
    assert_eq!(n["threshold_days"], 14);
    assert_eq!(n["certificate_arn"], configured.as_str());
    app.stop().await;
}

#[tokio::test]
async fn change_events_are_sent_once_to_the_pools_team() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let default_hook = Receiver::start(0).await;
    let team_hook = Receiver::start(0).await;
    let old = issue(&sandbox, "change.notify.test", 200).await;
    issue(&sandbox, "change.notify.test", 390).await;
    let pool = pool_with_domain(&sandbox, "platform", "change.notify.test", &old).await;
    // A new domain is CREATING until it is distributed; a change needs it ACTIVE.
    wait_active(&sandbox, "change.notify.test").await;
    let notify = notifications(&format!(
        "default_routes = [\"default\"]\n{}{}\n[teams.platform]\nroutes = [\"platform\"]\n",
        webhook_channel("default", &default_hook.url),
        webhook_channel("platform", &team_hook.url)
    ));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    let response = crate::helpers::confirm_recommended(&app.admin, &pool).await;
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a location")
        .to_owned();
    let id = crate::helpers::paths::propagation_id(&location);
    crate::propagation::wait_for_phase(&app.admin, &id, "verified", Duration::from_secs(30)).await;
    let kinds = |r: &Receiver| -> Vec<String> {
        r.received()
            .iter()
            .map(|x| x.json()["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(
        step_until(&app, || kinds(&team_hook).len() >= 2).await,
        "{:?}",
        kinds(&team_hook)
    );
    settle(&app).await;
    assert_eq!(kinds(&team_hook), ["change.requested", "change.verified"]);
    assert!(
        default_hook.received().is_empty(),
        "routed to the team only"
    );
    let verified = team_hook.received()[1].json();
    assert_eq!(verified["domain"], "change.notify.test");
    assert_eq!(verified["pool_id"], pool.as_str());
    assert_eq!(verified["team"], "platform");
    assert_signed(&team_hook.received());
    app.stop().await;
}

#[tokio::test]
async fn a_failing_webhook_is_retried_then_succeeds_and_slack_gets_readable_text() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let flaky = Receiver::start(2).await;
    let slack = Receiver::start(0).await;
    let soon = issue(&sandbox, "slack.notify.test", 5).await;
    let pool = pool_with_domain(&sandbox, "platform", "slack.notify.test", &soon).await;
    let notify = notifications(&format!(
        "base_url = \"https://certdeck.example.com/\"\ndefault_routes = [\"slack\"]\n{}\
         [[channels]]\nname = \"slack\"\nkind = \"slack\"\nurl = \"{}\"\n",
        webhook_channel("flaky-retried", &flaky.url),
        slack.url
    ));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    // The button sends a test notification; the receiver fails twice, then accepts.
    let response = app
        .admin
        .post_form("/notifications/test", &[("channel", "flaky-retried")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(step_until(&app, || flaky.received().len() >= 3).await);
    settle(&app).await;
    let attempts = flaky.received();
    assert_eq!(attempts.len(), 3, "two failures, then one success");
    assert_signed(&attempts);
    assert!(attempts.iter().all(|a| a.body == attempts[0].body));
    assert_eq!(attempts[0].json()["kind"], "test");
    assert_eq!(
        app.state
            .store
            .count_notifications("sent")
            .await
            .expect("count"),
        2,
        "the test and the Slack expiry"
    );
    // /metrics counts each attempt by channel and outcome (the channel's name is this
    // test's own; the recorder is shared by the consoles of this process).
    let metrics = app.get_text("/metrics").await;
    let count = |outcome: &str| {
        let series = format!(
            "certdeck_notifications_total{{channel=\"flaky-retried\",outcome=\"{outcome}\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    assert_eq!(count("retried"), Some(2.0), "{metrics}");
    assert_eq!(count("sent"), Some(1.0), "{metrics}");
    // Slack: `{"text": …}`, readable, with a link back to the pool.
    assert!(step_until(&app, || !slack.received().is_empty()).await);
    let text = slack.received()[0].json()["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.starts_with("*The certificate of slack.notify.test expires in "),
        "{text}"
    );
    assert!(text.contains("within the 7-day threshold*"), "{text}");
    assert!(text.contains("\nDomain: slack.notify.test\n"), "{text}");
    assert!(text.contains("\nTeam: platform\n"), "{text}");
    assert!(
        text.ends_with(&format!(
            "<https://certdeck.example.com/pools/{pool}|Open in certdeck>"
        )),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_listed_for_admins_only() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let broken = Receiver::start(usize::MAX).await;
    let working = Receiver::start(0).await;
    let notify = notifications(&format!(
        "{}{}",
        webhook_channel("broken", &broken.url),
        webhook_channel("working", &working.url)
    ));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    let page = app.get_text("/notifications").await;
    assert_eq!(
        texts(&page, "#channels tr[data-channel] td:first-child"),
        ["broken", "working"]
    );
    assert!(texts(&page, "nav a").iter().any(|a| a == "Notifications"));
    // Each channel's button sends.
    for channel in ["broken", "working"] {
        let response = app
            .admin
            .post_form("/notifications/test", &[("channel", channel)])
            .await;
        assert_eq!(response.status(), 303);
    }
    assert!(step_until(&app, || !working.received().is_empty()).await);
    assert_eq!(working.received()[0].json()["kind"], "test");
    assert_eq!(app.audit_of("notification.test", 10).await.len(), 2);
    // Retried with backoff until the window (120 × 20 ms) is over, then failed.
    let store = app.state.store.clone();
    assert!(
        eventually(Duration::from_secs(15), || async {
            app.state.notifier.run_once().await.expect("a round");
            store.count_notifications("failed").await.expect("count") == 1
        })
        .await
    );
    assert!(broken.received().len() >= 3, "retried before giving up");
    let page = app.get_text("/notifications").await;
    let rows = table_rows(&page, "#failed tr.failed-delivery");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].contains("broken") && rows[0].contains("500"),
        "{}",
        rows[0].text
    );
    // Not for others: 403 (audited), and a POST without its CSRF token is refused.
    let operator = app.browser_as("olga", "operator", &["platform"]).await;
    assert_eq!(operator.get("/notifications").await.status(), 403);
    assert!(
        !texts(&operator.get_text("/").await, "nav a")
            .iter()
            .any(|a| a == "Notifications")
    );
    let response = operator
        .post_form("/notifications/test", &[("channel", "working")])
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .admin
        .post_raw("/notifications/test", &[("channel", "working")])
        .await;
    assert_eq!(response.status(), 403);
    settle(&app).await;
    assert_eq!(working.received().len(), 1, "nothing more was sent");
    app.stop().await;
}

/// A CA and a certificate for 127.0.0.1 it signed, as PEM: (ca, leaf, leaf key).
fn smtp_certificates() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509, X509Builder, X509NameBuilder};
    let make = |cn: &str, serial: u32, issuer: Option<(&X509, &PKey<Private>)>| {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("key");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", cn).expect("cn");
        let name = name.build();
        let mut b = X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        b.set_serial_number(
            &openssl::bn::BigNum::from_u32(serial)
                .expect("bn")
                .to_asn1_integer()
                .expect("serial"),
        )
        .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(2).expect("t"))
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
                    .ip("127.0.0.1")
                    .dns("localhost")
                    .build(&b.x509v3_context(Some(ca), None))
                    .expect("san");
                b.append_extension(san).expect("san");
                b.append_extension(ExtendedKeyUsage::new().server_auth().build().expect("eku"))
                    .expect("eku");
                b.sign(ca_key, MessageDigest::sha256()).expect("sign");
            }
        }
        (b.build(), key)
    };
    let (ca, ca_key) = make("certdeck test SMTP CA", 1, None);
    let (leaf, leaf_key) = make("127.0.0.1", 2, Some((&ca, &ca_key)));
    (
        ca.to_pem().expect("pem"),
        leaf.to_pem().expect("pem"),
        leaf_key.private_key_to_pem_pkcs8().expect("pem"),
    )
}

#[tokio::test]
async fn a_mail_arrives_at_a_local_smtp_sink_over_starttls() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let soon = issue(&sandbox, "mail.notify.test", 1).await;
    pool_with_domain(&sandbox, "platform", "mail.notify.test", &soon).await;
    let dir = crate::helpers::tempdir();
    let (ca, cert, key) = smtp_certificates();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).expect("ca");
    std::fs::write(dir.path().join("cert.pem"), cert).expect("cert");
    std::fs::write(dir.path().join("key.pem"), key).expect("key");
    let out = dir.path().join("mail");
    std::fs::create_dir_all(&out).expect("mail dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("address")
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtp_sink.py");
    let mut sink = tokio::process::Command::new(crate::sandbox_cli::python())
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path().join("cert.pem"))
        .arg(dir.path().join("key.pem"))
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the SMTP sink starts (aiosmtpd, tests/clients/requirements.txt)");
    let mut stdout = sink.stdout.take().expect("stdout");
    let mut ready = [0_u8; 5];
    tokio::time::timeout(Duration::from_secs(20), stdout.read_exact(&mut ready))
        .await
        .expect("the sink is ready in time")
        .expect("the sink says it is ready");
    assert_eq!(&ready, b"ready");
    let notify = notifications(&format!(
        "base_url = \"https://certdeck.example.com\"\ndefault_routes = [\"mail\"]\n\
         [[channels]]\nname = \"mail\"\nkind = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         from = \"certdeck@example.com\"\nto = [\"platform@example.com\", \"oncall@example.com\"]\n\
         ca_file = \"{}\"\n",
        ca_file.display()
    ));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    let mails = || -> Vec<Value> {
        let mut found: Vec<_> = std::fs::read_dir(&out)
            .expect("mail dir")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("mail")).expect("JSON"))
            .collect()
    };
    assert!(
        step_until(&app, || !mails().is_empty()).await,
        "failed: {:?}",
        app.state.store.notifications_in("pending", 0, 5).await
    );
    settle(&app).await;
    let mails = mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail["tls"], true, "sent after STARTTLS");
    assert_eq!(mail["mail_from"], "certdeck@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        json!(["platform@example.com", "oncall@example.com"])
    );
    let subject = mail["subject"].as_str().expect("subject");
    assert!(
        subject.starts_with("[certdeck] The certificate of mail.notify.test expires"),
        "{subject}"
    );
    let body = mail["body"].as_str().expect("body");
    assert!(body.contains("within the 1-day threshold"), "{body}");
    assert!(
        body.lines()
            .any(|l| l.trim_end() == "Domain: mail.notify.test"),
        "{body}"
    );
    assert!(
        body.contains("Open in certdeck: https://certdeck.example.com/pools/"),
        "{body}"
    );
    app.stop().await;
    drop(sink.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), sink.wait()).await;
}

/// Waits until Cognito reports `domain` ACTIVE (a new domain is CREATING until then).
async fn wait_active(sandbox: &TestSandbox, domain: &str) {
    let cognito = sandbox.cognito("us-east-1").await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            cognito
                .describe_user_pool_domain()
                .domain(domain)
                .send()
                .await
                .ok()
                .and_then(|d| d.domain_description().and_then(|d| d.status().cloned()))
                .is_some_and(|s| s.as_str() == "ACTIVE")
        })
        .await,
        "{domain} becomes ACTIVE"
    );
}

#[tokio::test]
async fn refused_timed_out_and_approval_needing_changes_are_sent_too() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let hook = Receiver::start(0).await;
    let mut pools = Vec::new();
    for name in ["refused", "slow", "guarded"] {
        let domain = format!("{name}.notify.test");
        let old = issue(&sandbox, &domain, 200).await;
        issue(&sandbox, &domain, 390).await;
        pools.push(pool_with_domain(&sandbox, "platform", &domain, &old).await);
    }
    let cognito = sandbox.cognito("us-east-1").await;
    let guarded_arn = cognito
        .describe_user_pool()
        .user_pool_id(&pools[2])
        .send()
        .await
        .expect("DescribeUserPool")
        .user_pool()
        .and_then(|p| p.arn())
        .expect("arn")
        .to_owned();
    cognito
        .tag_resource()
        .resource_arn(&guarded_arn)
        .tags("certdeck:approval", "required")
        .send()
        .await
        .expect("tagged");
    for name in ["refused", "slow", "guarded"] {
        wait_active(&sandbox, &format!("{name}.notify.test")).await;
    }
    let mut settings = settings(&sandbox, &sandbox.sqlite_url());
    settings.notifications = notifications(&format!(
        "default_routes = [\"hook\"]\n{}",
        webhook_channel("hook", &hook.url)
    ));
    settings.propagation_timeout = Duration::from_secs(6);
    let app = TestApp::start_with(&sandbox, settings).await;
    app.refresh().await;
    // AWS refuses the first change.
    sandbox
        .arm_fault(json!({"operation": "UpdateUserPoolDomain", "error_code": "InvalidParameterException", "message": "injected refusal", "count": 1}))
        .await;
    let response = crate::helpers::confirm_recommended(&app.admin, &pools[0]).await;
    assert_eq!(response.status(), 502);
    // The edge never switches for the second: it times out.
    sandbox
        .arm_fault(json!({"operation": "Edge.Distribute", "count": 1}))
        .await;
    let response = crate::helpers::confirm_recommended(&app.admin, &pools[1]).await;
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a location")
        .to_owned();
    // The third needs a second person.
    let response = crate::helpers::confirm_recommended(&app.admin, &pools[2]).await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let id = crate::helpers::paths::propagation_id(&location);
    crate::propagation::wait_for_phase(&app.admin, &id, "timed_out", Duration::from_secs(30)).await;
    let events = || -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = hook
            .received()
            .iter()
            .map(Received::json)
            .map(|n| {
                (
                    n["kind"].as_str().unwrap_or_default().to_owned(),
                    n["domain"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    assert!(
        step_until(&app, || events().len() >= 5).await,
        "{:?}",
        events()
    );
    settle(&app).await;
    let pair = |kind: &str, name: &str| (kind.to_owned(), format!("{name}.notify.test"));
    assert_eq!(
        events(),
        [
            pair("change.approval_needed", "guarded"),
            pair("change.failed", "refused"),
            pair("change.requested", "refused"),
            pair("change.requested", "slow"),
            pair("change.timed_out", "slow"),
        ]
    );
    let refused = hook
        .received()
        .iter()
        .map(Received::json)
        .find(|n| n["kind"] == "change.failed")
        .expect("the refusal");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("injected refusal")),
        "{refused}"
    );
    app.stop().await;
}

#[tokio::test]
async fn delivered_rows_are_pruned_after_a_day() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let hook = Receiver::start(0).await;
    let notify = notifications(&webhook_channel("hook", &hook.url));
    let app = start(&sandbox, &sandbox.sqlite_url(), &notify).await;
    let response = app
        .admin
        .post_form("/notifications/test", &[("channel", "hook")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(step_until(&app, || !hook.received().is_empty()).await);
    let store = &app.state.store;
    assert!(
        eventually(Duration::from_secs(5), || async {
            store.count_notifications("sent").await.expect("count") == 1
        })
        .await
    );
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    // The notifier's own pruning keeps a day of sent rows.
    store
        .prune_notifications(now_ms - 86_400_000, now_ms - 30 * 86_400_000)
        .await
        .expect("prune");
    assert_eq!(store.count_notifications("sent").await.expect("count"), 1);
    // A day later it goes.
    store
        .prune_notifications(now_ms + 1000, now_ms + 1000)
        .await
        .expect("prune");
    assert_eq!(store.count_notifications("sent").await.expect("count"), 0);
    app.stop().await;
}
