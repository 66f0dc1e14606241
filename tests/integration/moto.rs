//! Issue 3, point 3: the inventory against moto, an AWS emulator nobody here wrote, where
//! it supports the operations. moto's gaps (see shared/notes/moto.md): DescribeUserPool
//! reports a custom domain in `Domain`, never `CustomDomain`; DescribeUserPoolDomain has
//! no `CustomDomainConfig`, so the configured certificate is unknown; its domain Status
//! is always ACTIVE; no quotas, latency or faults. The console must show "unknown" for
//! what moto does not say, and never fail.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_acm::primitives::Blob;
use aws_sdk_cognitoidentityprovider::config::Credentials;
use aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType;

use crate::helpers::{TestApp, options, settings, spawn_sandbox};
use crate::sandbox_operations::self_signed;

/// A `moto_server` on a free port, stopped on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let program = std::env::var("CERTDECK_TEST_MOTO_SERVER").unwrap_or_else(|_| {
        let venv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/test-venv/bin/moto_server"
        );
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "moto_server".to_owned()
        }
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts (installed by .ci/test): {e}"));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let up = crate::helpers::eventually(Duration::from_secs(20), || async {
        reqwest::get(format!("{}/moto-api/", moto.url))
            .await
            .is_ok()
    })
    .await;
    assert!(up, "moto_server answers");
    moto
}

async fn sdk_config(url: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("moto", "moto", None, None, "test"))
        .load()
        .await
}

/// The same data on any backend: pools in two regions, a custom domain with an imported
/// certificate, a prefix domain, a team tag.
async fn create_data(url: &str) -> String {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk_config(url, "us-east-1").await);
    let eu = aws_sdk_cognitoidentityprovider::Client::new(&sdk_config(url, "eu-west-1").await);
    let acm = aws_sdk_acm::Client::new(&sdk_config(url, "us-east-1").await);
    let (certificate, key) = self_signed("login.moto.example", 90, 2048);
    let arn = acm
        .import_certificate()
        .certificate(Blob::new(certificate))
        .private_key(Blob::new(key))
        .send()
        .await
        .expect("ImportCertificate")
        .certificate_arn()
        .expect("arn")
        .to_owned();
    let pool = cognito
        .create_user_pool()
        .pool_name("Shop")
        .user_pool_tags("team", "payments")
        .send()
        .await
        .expect("CreateUserPool");
    let shop = pool
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    cognito
        .create_user_pool_domain()
        .domain("login.moto.example")
        .user_pool_id(&shop)
        .custom_domain_config(
            CustomDomainConfigType::builder()
                .certificate_arn(&arn)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("custom domain");
    let prefix = cognito
        .create_user_pool()
        .pool_name("Staff")
        .send()
        .await
        .expect("CreateUserPool");
    let staff = prefix
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    cognito
        .create_user_pool_domain()
        .domain("staff-moto")
        .user_pool_id(&staff)
        .send()
        .await
        .expect("prefix");
    for i in 0..3 {
        eu.create_user_pool()
            .pool_name(format!("EU {i}"))
            .send()
            .await
            .expect("CreateUserPool");
    }
    for i in 0..127 {
        cognito
            .create_user_pool()
            .pool_name(format!("bulk {i:03}"))
            .send()
            .await
            .expect("CreateUserPool");
    }
    arn
}

/// What the console shows for that data, through the same inventory code.
async fn check_inventory(url: &str, moto: bool) {
    let sandbox = Arc::new(spawn_sandbox(options(certdeck_sandbox::Seed::Empty)).await);
    let mut settings = settings(&sandbox, &sandbox.sqlite_url());
    settings.aws_endpoint_url = Some(url.to_owned());
    let app = TestApp::start_with(&sandbox, settings).await;
    app.refresh().await;
    let state = &app.state;
    let view = state.inventory.view();
    assert!(
        view.snapshot.problems.is_empty(),
        "{:?}",
        view.snapshot.problems
    );
    assert_eq!(
        view.rows.len(),
        132,
        "129 pools in us-east-1 (three pages) and 3 in eu-west-1"
    );
    assert_eq!(
        view.rows
            .iter()
            .filter(|r| &*r.region == "eu-west-1")
            .count(),
        3
    );

    let shop = view
        .rows
        .iter()
        .find(|r| r.pool_name == "Shop")
        .expect("Shop");
    assert_eq!(shop.custom_domain.as_deref(), Some("login.moto.example"));
    assert_eq!(shop.team.as_deref(), Some("payments"));
    // moto is always ACTIVE; the sandbox is still CREATING for its propagation time.
    let expected = if moto { "ACTIVE" } else { "CREATING" };
    assert_eq!(shop.domain_status.as_deref(), Some(expected));
    let staff = view
        .rows
        .iter()
        .find(|r| r.pool_name == "Staff")
        .expect("Staff");
    assert_eq!(staff.prefix_domain.as_deref(), Some("staff-moto"));
    assert_eq!(staff.custom_domain, None);
    assert_eq!(view.snapshot.certificates.len(), 1);
    assert_eq!(
        view.snapshot.certificates[0]
            .key_algorithm
            .as_ref()
            .and_then(|k| k.known()),
        Some(certdeck::domain::KeyAlgorithm::Rsa2048)
    );

    let html = app.pool_page(&shop.pool_id).await;
    if moto {
        // moto never says which certificate a domain uses.
        assert_eq!(shop.certificate_arn, None);
        assert!(html.contains("Unknown: AWS did not report which certificate the domain uses."));
        let dashboard = app.dashboard("?view=all&q=shop").await;
        assert!(dashboard.contains("unknown"));
    } else {
        assert!(shop.certificate.is_some());
        assert!(html.contains("login.moto.example") && html.contains("RSA_2048"));
    }
}

#[tokio::test]
async fn the_inventory_reads_moto_and_shows_unknown_for_what_it_omits() {
    let moto = start_moto().await;
    create_data(&moto.url).await;
    check_inventory(&moto.url, true).await;
}

#[tokio::test]
async fn the_same_inventory_test_against_the_sandbox() {
    // A propagation long enough that a loaded machine still reads the domain CREATING.
    let mut opts = options(certdeck_sandbox::Seed::Empty);
    opts.timings.propagation = Duration::from_secs(120);
    let sandbox = spawn_sandbox(opts).await;
    create_data(sandbox.sandbox.endpoint_url()).await;
    check_inventory(sandbox.sandbox.endpoint_url(), false).await;
}
