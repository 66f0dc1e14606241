//! Issue 2, point 4: the edge serves the old certificate during propagation and the new
//! one after, each equal to DescribeCertificate's Serial.

use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::types::{CustomDomainConfigType, DomainStatusType};
use certdeck_sandbox::Seed;

use crate::helpers::{edge_leaf, options, serial_of, spawn_sandbox};

/// Whether two serials in text form are the same number: ACM's text form varies (a
/// leading `00:` byte, upper or lower case), so serials compare as numbers.
pub fn same_serial(a: &str, b: &str) -> bool {
    fn digits(text: &str) -> Option<String> {
        let hex: String = text.chars().filter(|c| *c != ':').collect();
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(hex.trim_start_matches('0').to_ascii_lowercase())
    }
    digits(a).is_some_and(|a| Some(a) == digits(b))
}

#[tokio::test]
async fn the_edge_switches_certificates_after_the_propagation_time() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(2);
    let app = spawn_sandbox(opts).await;
    let cognito = app.cognito("us-east-1").await;
    let acm = app.acm("us-east-1").await;
    let edge = app.sandbox.edge_addr();
    let ca = app.sandbox.ca_pem().to_owned();

    let domain = cognito
        .describe_user_pool_domain()
        .domain("login.example.com")
        .send()
        .await
        .expect("describe");
    let domain = domain.domain_description().expect("description").clone();
    let old_arn = domain
        .custom_domain_config()
        .expect("config")
        .certificate_arn()
        .to_owned();
    let serial = |arn: String| {
        let acm = acm.clone();
        async move {
            let detail = acm
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .expect("describe");
            detail
                .certificate()
                .and_then(|c| c.serial())
                .expect("serial")
                .to_owned()
        }
    };
    let old_serial = serial(old_arn.clone()).await;
    let served = edge_leaf(edge, &ca, "login.example.com")
        .await
        .expect("handshake");
    assert!(same_serial(&serial_of(&served), &old_serial));

    // The wildcard also covers login.example.com.
    let list = acm.list_certificates().send().await.expect("list");
    let new_arn = list
        .certificate_summary_list()
        .iter()
        .find(|c| c.domain_name() == Some("*.example.com"))
        .and_then(|c| c.certificate_arn())
        .expect("wildcard")
        .to_owned();
    let new_serial = serial(new_arn.clone()).await;
    assert!(!same_serial(&old_serial, &new_serial));

    let updated_at = Instant::now();
    cognito
        .update_user_pool_domain()
        .domain("login.example.com")
        .user_pool_id(domain.user_pool_id().expect("pool"))
        .custom_domain_config(
            CustomDomainConfigType::builder()
                .certificate_arn(&new_arn)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("update");

    // During propagation: UPDATING, and the edge still serves the old certificate.
    let status = cognito
        .describe_user_pool_domain()
        .domain("login.example.com")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        status.domain_description().and_then(|d| d.status()),
        Some(&DomainStatusType::Updating)
    );
    let served = edge_leaf(edge, &ca, "login.example.com")
        .await
        .expect("handshake");
    assert!(same_serial(&serial_of(&served), &old_serial));
    assert!(
        updated_at.elapsed() < Duration::from_secs(2),
        "checked within the propagation time"
    );

    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(updated_at.elapsed())).await;
    let served = edge_leaf(edge, &ca, "login.example.com")
        .await
        .expect("handshake");
    assert!(same_serial(&serial_of(&served), &new_serial));
    let status = cognito
        .describe_user_pool_domain()
        .domain("login.example.com")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        status.domain_description().and_then(|d| d.status()),
        Some(&DomainStatusType::Active)
    );

    // Unknown names get a TLS alert, not a certificate.
    let error = edge_leaf(edge, &ca, "unknown.example.com")
        .await
        .expect_err("no certificate for it");
    assert!(
        error.to_lowercase().contains("alert") || error.contains("Handshake"),
        "{error}"
    );
}
