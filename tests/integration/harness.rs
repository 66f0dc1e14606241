//! Issue 11, item 9: the tests' own helpers read HTML as a browser does, and leave
//! nothing behind.

use certdeck_sandbox::Seed;

use crate::helpers::{csrf_of, field, options_of, spawn_app, table_rows, text_of};

/// Markup the console could legally write differently tomorrow: attributes in another
/// order, other quotes, entities, whitespace. A string-slicing reader misses or garbles
/// each of these; a parser does not.
const FORM: &str = r#"<!doctype html><html><body>
<form method=post class="stack">
  <input value='tok&amp;en-1' type=hidden name=csrf_token>
  <input type="hidden" value="sub-42" name="submission_token">
  <select id="certificate" name="certificate_arn">
    <option
      disabled value="arn:aws:acm:us-east-1:1:certificate/old">old.example.com · current</option>
    <option value="arn:aws:acm:us-east-1:1:certificate/new" selected>new.example.com &middot; recommended</option>
    <option disabled value="arn:aws:acm:us-east-1:1:certificate/x">x.example.com — &#39;expired&#39; &amp; &lt;revoked&gt;</option>
  </select>
</form>
<select name="region"><option value="eu-west-1">eu-west-1</option></select>
<table><tbody>
  <tr data-pool-id="p1"><td><a href="/pools/p1">One</a></td></tr>
  <tr class="x" data-pool-id='p2'><td><a href="/pools/p2">Two &amp; more</a></td></tr>
</tbody></table>
</body></html>"#;

#[test]
fn helpers_read_forms_and_tables_with_a_parser() {
    assert_eq!(csrf_of(FORM).as_deref(), Some("tok&en-1"));
    assert_eq!(field(FORM, "submission_token"), "sub-42");
    let options = options_of(FORM);
    assert_eq!(
        options,
        vec![
            (
                "arn:aws:acm:us-east-1:1:certificate/old".to_owned(),
                true,
                "old.example.com · current".to_owned()
            ),
            (
                "arn:aws:acm:us-east-1:1:certificate/new".to_owned(),
                false,
                "new.example.com · recommended".to_owned()
            ),
            (
                "arn:aws:acm:us-east-1:1:certificate/x".to_owned(),
                true,
                "x.example.com — 'expired' & <revoked>".to_owned()
            ),
        ],
        "only the certificate select's options, as the browser shows them"
    );
    let rows = table_rows(FORM, "tr[data-pool-id]");
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains("Two & more") && rows[1].has("tr.x"));
    assert!(!rows[0].has("tr.x"));
    assert!(text_of(FORM).contains("'expired' & <revoked>"));
}

#[tokio::test]
async fn a_tests_files_are_removed_when_its_console_is_dropped() {
    let app = spawn_app(Seed::Empty).await;
    let dir = app.sandbox.dir.path().to_owned();
    let database = secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url)
        .strip_prefix("sqlite://")
        .expect("a SQLite console")
        .to_owned();
    assert!(
        std::path::Path::new(&database).starts_with(&dir),
        "{database} is under the test's directory {}",
        dir.display()
    );
    assert!(std::path::Path::new(&database).exists());
    assert!(
        app.state
            .settings
            .edge_ca_file
            .as_ref()
            .is_some_and(|ca| ca.starts_with(&dir))
    );
    app.stop().await;
    assert!(!dir.exists(), "{} is removed", dir.display());
}
