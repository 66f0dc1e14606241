//! Issue 15: where a certificate is used (`/certificates/{arn}`), linked from the
//! dashboard, against the sandbox through the real SDK.

use std::collections::BTreeMap;

use certdeck_sandbox::Seed;

use crate::helpers::{TableRow, attributes, spawn_app, table_rows};

/// `attributes` of the elements of `row` matching `css` (the row put back in a table).
fn row_attributes(row: &TableRow, css: &str, attribute: &str) -> Vec<String> {
    attributes(
        &format!("<table><tbody>{}</tbody></table>", row.html),
        css,
        attribute,
    )
}

#[tokio::test]
async fn a_certificate_page_lists_every_domain_that_uses_it() {
    let app = spawn_app(Seed::Demo).await;
    let dashboard = app.dashboard("?view=all").await;
    // The dashboard's certificate cells link to the certificate's page: group its rows
    // by that link.
    let mut by_link: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in table_rows(&dashboard, "tr[data-pool-id]") {
        let links = row_attributes(&row, "td.certificate a", "href");
        let pool = row_attributes(&row, "tr", "data-pool-id")
            .pop()
            .expect("pool id");
        if let Some(link) = links.first() {
            assert!(
                link.starts_with("/certificates/arn%3Aaws%3Aacm%3A") && link.contains("%2F"),
                "the ARN is one encoded segment: {link}"
            );
            by_link.entry(link.clone()).or_default().push(pool);
        }
    }
    assert!(
        by_link.len() >= 3,
        "the demo's custom domains link their certificates: {by_link:?}"
    );
    for (link, mut pools) in by_link {
        let page = app.admin.get_text(&link).await;
        let mut listed = attributes(&page, "table.usages tr[data-pool-id]", "data-pool-id");
        listed.sort();
        pools.sort();
        assert_eq!(listed, pools, "{link} lists exactly the pools using it");
        let arn = crate::helpers::texts(&page, "#certificate-arn").join("");
        assert!(arn.starts_with("arn:aws:acm:"), "{arn}");
        assert!(
            page.contains("ACTIVE") || page.contains("UPDATING"),
            "each domain's status is shown"
        );
    }
}

#[tokio::test]
async fn a_certificate_page_shows_the_domain_status_and_edge() {
    let app = spawn_app(Seed::Demo).await;
    let dashboard = app.dashboard("?view=all").await;
    let row = table_rows(&dashboard, "tr[data-pool-id]")
        .into_iter()
        .find(|r| r.contains("auth.example.com"))
        .expect("customer portal");
    let link = row_attributes(&row, "td.certificate a", "href")
        .pop()
        .expect("link");
    let page = app.admin.get_text(&link).await;
    let usage = table_rows(&page, "table.usages tr[data-pool-id]")
        .into_iter()
        .find(|r| r.contains("auth.example.com"))
        .expect("the domain is listed");
    assert_eq!(usage.texts("td.status").join("").trim(), "ACTIVE");
    assert!(
        usage
            .texts("td.edge")
            .join("")
            .contains("no difference seen")
    );
    assert!(page.contains("Customer portal"));
}

#[tokio::test]
async fn hostile_certificate_addresses_are_clean_404s() {
    let app = spawn_app(Seed::Demo).await;
    let long = format!("/certificates/{}", "a".repeat(4000));
    for path in [
        "/certificates/not-an-arn",
        "/certificates/..%2F..%2Fetc%2Fpasswd",
        "/certificates/arn%3Aaws%3Aacm%3Aus-east-1%3A123%3Acertificate%2Fx",
        "/certificates/%3Cscript%3E",
        // Well formed, but no certificate the inventory knows.
        "/certificates/arn%3Aaws%3Aacm%3Aus-east-1%3A999999999999%3Acertificate%2Fdoes-not-exist",
        long.as_str(),
    ] {
        let response = app.admin.get(path).await;
        let status = response.status().as_u16();
        assert!(status == 404 || status == 400, "{path}: {status}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("<script>"), "{path} is not echoed raw");
    }
    // Viewers and up only: signed out, the page redirects to the sign-in.
    let anonymous = crate::helpers::Browser::new(&app.admin.base);
    let response = anonymous
        .get("/certificates/arn%3Aaws%3Aacm%3Aus-east-1%3A123456789012%3Acertificate%2Fx")
        .await;
    assert_ne!(response.status().as_u16(), 200);
}
