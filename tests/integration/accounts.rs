//! Issue 12: several AWS accounts. The console reads each `[[accounts]]` table through
//! a role it assumes with STS in the sandbox, whose accounts are isolated by the
//! credentials it hands out.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType;
use certdeck::configuration::AccountSettings;
use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestSandbox, options, options_of, settings, spawn_sandbox, table_rows,
};

/// One test account: certdeck's name, its id, the role certdeck assumes.
struct TestAccount {
    name: &'static str,
    id: &'static str,
    external_id: Option<&'static str>,
    team: Option<&'static str>,
}

impl TestAccount {
    fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/certdeck-{}", self.id, self.name)
    }

    fn settings(&self) -> AccountSettings {
        AccountSettings {
            name: self.name.to_owned(),
            role_arn: self.role_arn(),
            external_id: self.external_id.map(str::to_owned),
            regions: vec!["us-east-1".to_owned(), "eu-west-1".to_owned()],
            team: self.team.map(str::to_owned),
            approval: None,
        }
    }
}

const ALPHA: TestAccount = TestAccount {
    name: "alpha",
    id: "111111111111",
    external_id: None,
    team: None,
};
const BETA: TestAccount = TestAccount {
    name: "beta",
    id: "222222222222",
    external_id: Some("beta-external-id"),
    team: Some("payments"),
};
const GAMMA: TestAccount = TestAccount {
    name: "gamma",
    id: "333333333333",
    external_id: None,
    team: None,
};

async fn sandbox_call(sandbox: &TestSandbox, method: reqwest::Method, path: &str, body: Value) {
    let response = sandbox
        .http
        .request(method, format!("{}{path}", sandbox.sandbox.endpoint_url()))
        .json(&body)
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

async fn register_role(sandbox: &TestSandbox, account: &TestAccount) {
    sandbox_call(
        sandbox,
        reqwest::Method::POST,
        "/_sandbox/roles",
        json!({"role_arn": account.role_arn(), "external_id": account.external_id}),
    )
    .await;
}

/// SDK configuration acting in `account`, through the sandbox's STS as any outside
/// client would.
async fn account_config(sandbox: &TestSandbox, account: &TestAccount, region: &str) -> SdkConfig {
    let base = sandbox.sdk_config("us-east-1", true).await;
    let mut role = aws_config::sts::AssumeRoleProvider::builder(account.role_arn())
        .session_name("test-setup")
        .region(Region::new("us-east-1"))
        .configure(&base);
    if let Some(external_id) = account.external_id {
        role = role.external_id(external_id);
    }
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(sandbox.sandbox.endpoint_url())
        .credentials_provider(role.build().await)
        .load()
        .await
}

/// An ISSUED us-east-1 certificate for `names` in `account`, as ACM would issue it.
async fn issue_certificate(sandbox: &TestSandbox, account: &TestAccount, names: &[&str]) -> String {
    let response = sandbox
        .http
        .post(format!(
            "{}/_sandbox/certificates",
            sandbox.sandbox.endpoint_url()
        ))
        .json(&json!({
            "region": "us-east-1",
            "account_id": account.id,
            "domain_name": names[0],
            "names": names,
            "origin": "AWS_MANAGED",
        }))
        .send()
        .await
        .expect("the sandbox answers");
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.expect("JSON");
    body["CertificateArn"].as_str().expect("arn").to_owned()
}

/// A pool named `name` in `account` and `region`, with `tags`, and a custom domain
/// using `certificate` when given. Returns the pool id.
async fn create_pool(
    sandbox: &TestSandbox,
    account: &TestAccount,
    region: &str,
    name: &str,
    tags: &[(&str, &str)],
    domain: Option<(&str, &str)>,
) -> String {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(
        &account_config(sandbox, account, region).await,
    );
    let mut create = cognito.create_user_pool().pool_name(name);
    for (key, value) in tags {
        create = create.user_pool_tags(*key, *value);
    }
    let pool = create.send().await.expect("CreateUserPool");
    let id = pool
        .user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned();
    if let Some((domain, certificate)) = domain {
        cognito
            .create_user_pool_domain()
            .domain(domain)
            .user_pool_id(&id)
            .custom_domain_config(
                CustomDomainConfigType::builder()
                    .certificate_arn(certificate)
                    .build()
                    .expect("config"),
            )
            .send()
            .await
            .expect("CreateUserPoolDomain");
    }
    id
}

/// Three accounts of two regions each; in every account and region one pool, the
/// us-east-1 one with a custom domain and its own certificate. Returns the console
/// and the pool ids by (account, region).
async fn three_accounts() -> (
    Arc<TestSandbox>,
    TestApp,
    std::collections::HashMap<(&'static str, &'static str), String>,
) {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let mut pools = std::collections::HashMap::new();
    for account in [&ALPHA, &BETA, &GAMMA] {
        register_role(&sandbox, account).await;
        let domain = format!("auth.{}.example.com", account.name);
        let certificate = issue_certificate(&sandbox, account, &[&domain]).await;
        let tags: &[(&str, &str)] = if account.name == "beta" {
            &[]
        } else {
            &[("team", "platform")]
        };
        for region in ["us-east-1", "eu-west-1"] {
            let name = format!("{}-{region}", account.name);
            let custom = (region == "us-east-1").then_some((domain.as_str(), certificate.as_str()));
            let id = create_pool(&sandbox, account, region, &name, tags, custom).await;
            pools.insert((account.name, region), id);
        }
    }
    let mut console = settings(&sandbox, &sandbox.sqlite_url());
    console.accounts = vec![ALPHA.settings(), BETA.settings(), GAMMA.settings()];
    let app = TestApp::start_with(&sandbox, console).await;
    // New custom domains are CREATING until the sandbox has distributed them.
    let active = crate::helpers::eventually(Duration::from_secs(20), || async {
        app.refresh().await;
        let view = app.state.inventory.view();
        view.rows.len() == 6
            && view
                .rows
                .iter()
                .filter(|r| r.custom_domain.is_some())
                .all(|r| r.domain_status.as_deref() == Some("ACTIVE"))
    })
    .await;
    assert!(active, "every custom domain becomes ACTIVE");
    (sandbox, app, pools)
}

fn dashboard_rows(html: &str) -> Vec<crate::helpers::TableRow> {
    table_rows(html, "tr[data-pool-id]")
}

#[tokio::test]
async fn three_accounts_in_two_regions_make_one_inventory() {
    let (sandbox, app, pools) = three_accounts().await;
    let dashboard = app.dashboard("?view=all").await;
    let rows = dashboard_rows(&dashboard);
    assert_eq!(rows.len(), 6, "3 accounts × 2 regions: {dashboard}");
    for account in [&ALPHA, &BETA, &GAMMA] {
        for region in ["us-east-1", "eu-west-1"] {
            let name = format!("{}-{region}", account.name);
            let row = rows
                .iter()
                .find(|r| r.contains(&name))
                .unwrap_or_else(|| panic!("a row for {name}"));
            assert!(
                row.contains(account.name) && row.contains(account.id),
                "{row}"
            );
            assert!(row.contains(region), "{row}");
        }
    }
    // The account is a filter; the search finds an account's id too.
    let beta = dashboard_rows(&app.dashboard("?view=all&account=beta").await);
    assert_eq!(beta.len(), 2);
    assert!(beta.iter().all(|r| r.contains("beta-")));
    assert_eq!(
        dashboard_rows(&app.dashboard("?view=all&q=333333333333").await).len(),
        2
    );
    assert!(
        dashboard.contains("<option value=\"gamma\""),
        "the account filter"
    );
    // Each account's pools show the account on their page.
    let pool = app.pool_page(&pools[&("gamma", "eu-west-1")]).await;
    assert!(pool.contains("gamma") && pool.contains("333333333333"));
    // Metrics carry the account.
    let metrics = app.get_text("/metrics").await;
    for account in [&ALPHA, &BETA, &GAMMA] {
        let line = format!(
            "certdeck_account_pools{{account=\"{}\",account_id=\"{}\"}} 2",
            account.name, account.id
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // The roles' sessions are cached: a second refresh assumes no role again.
    let assumed = sandbox.calls("AssumeRole").await;
    assert!(assumed >= 3, "each account's role was assumed: {assumed}");
    app.refresh().await;
    assert_eq!(sandbox.calls("AssumeRole").await, assumed);
    // The dropdown of a pool offers only its own account's certificates.
    let form = app.change_form(&pools[&("alpha", "us-east-1")]).await;
    let offered = options_of(&form);
    assert!(!offered.is_empty());
    assert!(
        offered
            .iter()
            .all(|(arn, ..)| arn.contains(":111111111111:")),
        "{offered:?}"
    );
}

/// A certificate of another account covering the domain is never offered: a custom
/// domain takes a certificate of the account that owns the pool.
#[tokio::test]
async fn certificates_come_from_the_pools_own_account() {
    let (sandbox, app, pools) = three_accounts().await;
    let foreign = issue_certificate(&sandbox, &GAMMA, &["auth.alpha.example.com"]).await;
    let own = issue_certificate(&sandbox, &ALPHA, &["auth.alpha.example.com"]).await;
    app.refresh().await;
    let pool = &pools[&("alpha", "us-east-1")];
    let form = app.change_form(pool).await;
    let values: Vec<String> = options_of(&form).into_iter().map(|(arn, ..)| arn).collect();
    assert!(values.contains(&own), "{values:?}");
    assert!(!values.contains(&foreign), "{values:?}");
    // Posting the other account's certificate anyway is refused and nothing is sent.
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let token = crate::helpers::field(&form, "submission_token");
    let response = app.admin.confirm_change(pool, &foreign, &token).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("not one of those offered")
    );
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await, before);
}

#[tokio::test]
async fn an_operator_whose_team_lives_in_one_account_changes_only_there() {
    let (sandbox, app, pools) = three_accounts().await;
    // Beta's team is `payments`; one beta pool says otherwise with its own tag.
    let tagged = create_pool(
        &sandbox,
        &BETA,
        "eu-west-1",
        "beta-tagged-elsewhere",
        &[("team", "platform")],
        None,
    )
    .await;
    app.refresh().await;
    let operator = app.browser_as("pat", "operator", &["payments"]).await;
    let dashboard = operator.dashboard("?view=all&account=beta").await;
    let rows = dashboard_rows(&dashboard);
    let untagged = rows
        .iter()
        .find(|r| r.contains("beta-us-east-1"))
        .expect("beta row");
    assert!(
        untagged.contains("team payments"),
        "the account's team: {untagged}"
    );
    let other = rows
        .iter()
        .find(|r| r.contains("beta-tagged-elsewhere"))
        .expect("tagged row");
    assert!(other.contains("team platform"), "the tag wins: {other}");

    let own = operator
        .get(&crate::helpers::paths::change(
            &pools[&("beta", "us-east-1")],
        ))
        .await;
    assert_eq!(own.status(), 200, "beta's pool is the operator's");
    for pool in [&pools[&("alpha", "us-east-1")], &tagged] {
        let refused = operator.get(&crate::helpers::paths::change(pool)).await;
        assert_eq!(refused.status(), 403, "{pool} is another team's");
    }
    let denied = app.audit_of("access.denied", 10).await;
    assert!(denied.len() >= 2, "{denied:?}");
}

#[tokio::test]
async fn a_change_in_the_second_account_names_the_person() {
    let (sandbox, app, pools) = three_accounts().await;
    let pool = &pools[&("beta", "us-east-1")];
    let newer = issue_certificate(&sandbox, &BETA, &["auth.beta.example.com"]).await;
    app.refresh().await;
    let operator = app.browser_as("priya.s", "operator", &["payments"]).await;
    let form = operator.change_form(pool).await;
    let token = crate::helpers::field(&form, "submission_token");
    let response = operator.confirm_change(pool, &newer, &token).await;
    assert_eq!(response.status(), 303, "the change is accepted");

    // The sandbox recorded the update in beta's account, made by priya.s.
    let state = sandbox.state().await;
    let updates = state["updates"].as_array().expect("updates");
    let update = updates
        .iter()
        .find(|u| u["domain"] == "auth.beta.example.com")
        .unwrap_or_else(|| panic!("the update: {updates:?}"));
    assert_eq!(update["account_id"], BETA.id);
    assert_eq!(update["source_identity"], "priya.s");
    assert_eq!(update["certificate_arn"], newer.as_str());
    assert_eq!(update["role_arn"], BETA.role_arn().as_str());

    // The audit entries carry the account and the assumed role.
    let requested = app.audit_of("certificate.update.requested", 5).await;
    let entry = &requested[0].record;
    assert_eq!(entry.account.as_deref(), Some("beta"));
    assert_eq!(entry.account_id.as_deref(), Some(BETA.id));
    let session = entry.assumed_role.as_deref().expect("assumed role");
    assert!(
        session.starts_with(&format!(
            "arn:aws:sts::{}:assumed-role/certdeck-beta/",
            BETA.id
        )),
        "{session}"
    );
    let succeeded = app.audit_of("certificate.update.succeeded", 5).await;
    assert_eq!(succeeded[0].record.account.as_deref(), Some("beta"));
    let page = app.audit_page("?account=beta").await;
    assert!(page.contains("account beta (222222222222)") && page.contains(session));
    assert!(
        !app.audit_page("?account=alpha")
            .await
            .contains("certificate.update.requested")
    );
    let csv = app.audit_csv("?account=beta").await;
    assert!(csv.contains(",beta,222222222222,arn:aws:sts::"), "{csv}");
}

#[tokio::test]
async fn a_broken_role_marks_its_account_and_the_others_stay_current() {
    let (sandbox, app, _pools) = three_accounts().await;
    // Gamma's role is removed (its sessions revoked); alpha gains a pool.
    sandbox_call(
        &sandbox,
        reqwest::Method::DELETE,
        "/_sandbox/roles",
        json!({"role_arn": GAMMA.role_arn()}),
    )
    .await;
    create_pool(&sandbox, &ALPHA, "eu-west-1", "alpha-new", &[], None).await;
    app.refresh().await;

    let dashboard = app.dashboard("?view=all").await;
    let rows = dashboard_rows(&dashboard);
    assert_eq!(
        rows.len(),
        7,
        "alpha's new pool, and gamma's kept: {dashboard}"
    );
    assert!(rows.iter().any(|r| r.contains("alpha-new")));
    for row in rows.iter().filter(|r| r.contains("gamma-")) {
        assert!(row.contains("not current"), "{row}");
    }
    for row in rows.iter().filter(|r| !r.contains("gamma-")) {
        assert!(!row.contains("not current"), "{row}");
    }
    assert!(
        dashboard.contains("account gamma (333333333333): certdeck could not assume its role"),
        "{dashboard}"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics
            .contains("certdeck_account_readable{account=\"gamma\",account_id=\"333333333333\"} 0")
    );
    assert!(
        metrics
            .contains("certdeck_account_readable{account=\"alpha\",account_id=\"111111111111\"} 1")
    );
}

/// An unknown role, or a wrong external id, is one account's problem, not the
/// console's: it starts, and shows the others.
#[tokio::test]
async fn a_wrong_external_id_is_refused_by_sts_and_shown() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    register_role(&sandbox, &ALPHA).await;
    register_role(&sandbox, &BETA).await;
    create_pool(&sandbox, &ALPHA, "us-east-1", "alpha-only", &[], None).await;
    let mut console = settings(&sandbox, &sandbox.sqlite_url());
    let mut wrong = BETA.settings();
    wrong.external_id = Some("not-the-external-id".into());
    let mut unknown = GAMMA.settings();
    unknown.role_arn = "arn:aws:iam::333333333333:role/never-created".into();
    console.accounts = vec![ALPHA.settings(), wrong, unknown];
    let app = TestApp::start_with(&sandbox, console).await;
    app.refresh().await;
    let dashboard = app.dashboard("?view=all").await;
    assert_eq!(dashboard_rows(&dashboard).len(), 1);
    assert!(dashboard.contains("account beta (222222222222): certdeck could not assume its role"));
    assert!(dashboard.contains("account gamma (333333333333): certdeck could not assume its role"));
    assert!(
        dashboard.contains("AccessDenied"),
        "STS's own code is shown"
    );
}

/// Role sessions are renewed before they expire: with sessions of 20 s the console
/// keeps reading after the first session's end.
#[tokio::test]
async fn role_sessions_are_renewed_before_they_expire() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    sandbox.sandbox.set_max_session(Duration::from_secs(20));
    register_role(&sandbox, &ALPHA).await;
    create_pool(&sandbox, &ALPHA, "us-east-1", "alpha-one", &[], None).await;
    let mut console = settings(&sandbox, &sandbox.sqlite_url());
    console.accounts = vec![ALPHA.settings()];
    let app = TestApp::start_with(&sandbox, console).await;
    app.refresh().await;
    let first = sandbox.calls("AssumeRole").await;
    // Past three quarters of the session: certdeck asks for a new one before using it.
    tokio::time::sleep(Duration::from_secs(16)).await;
    create_pool(&sandbox, &ALPHA, "us-east-1", "alpha-two", &[], None).await;
    app.refresh().await;
    let view = app.state.inventory.view();
    assert!(
        view.snapshot.problems.is_empty(),
        "{:?}",
        view.snapshot.problems
    );
    assert_eq!(view.rows.len(), 2);
    assert!(sandbox.calls("AssumeRole").await > first, "a new session");
    // And after the session's end, nothing fails either.
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.refresh().await;
    assert!(app.state.inventory.view().snapshot.problems.is_empty());
}
