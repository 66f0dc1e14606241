//! Issue 7, point 5: end to end in headless Chromium (driven by chromedriver over the
//! WebDriver protocol): sign in, change a certificate, watch the countdown go down and
//! "verified" appear without a reload. Screenshots go to target/screenshots/. The
//! WebDriver client is fantoccini.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp, options, paths, settings, spawn_sandbox, tempdir};

/// chromedriver on a free port and a headless Chromium session on it, through
/// fantoccini. chromedriver is killed, and the profile removed, when this drops.
pub(crate) struct Driver {
    client: Client,
    /// chromedriver's port, for its Chrome DevTools Protocol endpoint.
    port: u16,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

impl Driver {
    pub(crate) async fn start() -> Driver {
        Self::start_with(true).await
    }

    /// A session with JavaScript on or off (Chromium's content setting: pages run no
    /// script, WebDriver's own lookups still work).
    pub(crate) async fn start_with(javascript: bool) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let driver =
            std::env::var("CERTDECK_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        // Chromium's profile, and whatever chromedriver and Chromium put in TMPDIR, go in
        // a directory removed when the driver drops.
        let profile = tempdir();
        let mut chromedriver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .env("TMPDIR", profile.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver} starts (installed by .ci/test): {e}"));
        let chromium =
            std::env::var("CERTDECK_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let prefs = if javascript {
            json!({})
        } else {
            json!({"profile.managed_default_content_settings.javascript": 2})
        };
        let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "prefs": prefs,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                     "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().join("chromium-profile").display())]
        }});
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        // chromedriver takes a moment to listen.
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = chromedriver.try_wait() {
                        panic!("{driver} exited ({status}) before a session: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("a WebDriver session on {driver}: {e}"),
            }
        };
        Driver {
            client,
            port,
            chromedriver,
            _profile: profile,
        }
    }

    pub(crate) async fn go(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The element matching `css`, waiting up to 5 s for the page to show it.
    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!(
                    "no element {css}: {e}\n{}",
                    page.chars().take(3000).collect::<String>()
                );
            }
        }
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The text of `css`; found again if the page changed under it.
    pub(crate) async fn text(&self, css: &str) -> String {
        for _ in 0..25 {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                // A stale element: the page's script replaced it.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("no stable text for {css}");
    }

    /// Waits until the current URL contains `fragment`.
    pub(crate) async fn wait_for_url(&self, fragment: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.expect("current URL");
            if url.as_str().contains(fragment) {
                return;
            }
            assert!(Instant::now() < deadline, "never reached {fragment}: {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Saves a screenshot as target/screenshots/`name`.png and returns its path.
    pub(crate) async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot");
        path
    }

    /// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
    pub(crate) async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let url = format!(
            "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
            self.port
        );
        let response = reqwest::Client::new()
            .post(&url)
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{cmd}: {status} {body}");
        body
    }

    /// Emulates `prefers-color-scheme: scheme` and checks that the page really switched
    /// (the body's computed background is dark exactly in the dark scheme).
    pub(crate) async fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
        let background = self
            .script(
                "var c = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number); \
                 return (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;",
            )
            .await
            .as_f64()
            .expect("the body's background");
        let dark = background < 0.3;
        assert_eq!(
            dark,
            scheme == "dark",
            "prefers-color-scheme {scheme} gives a body background of lightness {background}"
        );
    }

    /// Lays the page out `width` px wide (a phone at 390).
    pub(crate) async fn width(&self, width: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
    }

    /// axe-core's violations on the current page, one readable line each (axe-core is
    /// injected from `CERTDECK_AXE_DIR`, installed by .ci/test from tests/clients/axe).
    pub(crate) async fn axe_violations(&self) -> Vec<String> {
        let loaded = self.script("return typeof window.axe === 'object';").await;
        if loaded != Value::Bool(true) {
            self.script(axe_source()).await;
        }
        let found = self
            .client
            .execute_async(
                "var done = arguments[arguments.length - 1]; \
                 axe.run(document, {resultTypes: ['violations']}).then(function (r) { \
                   done(r.violations.map(function (v) { \
                     return v.id + ' (' + v.impact + '): ' + v.help + ' — ' + v.nodes.map(function (n) { \
                       return n.target.join(' ') + (n.failureSummary ? ' [' + n.failureSummary.replace(/\\s+/g, ' ') + ']' : ''); \
                     }).slice(0, 6).join('; '); \
                   })); \
                 }, function (e) { done(['axe failed: ' + e]); });",
                Vec::new(),
            )
            .await
            .expect("axe.run");
        serde_json::from_value(found).expect("a list of violations")
    }

    /// Presses `key` (a WebDriver key code, e.g. '\u{e004}' for Tab) on whatever has focus.
    pub(crate) async fn press(&self, key: char) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .expect("key press");
    }

    /// Ends the WebDriver session (Chromium exits); chromedriver goes on drop.
    pub(crate) async fn close(self) {
        self.client.clone().close().await.expect("session closed");
    }
}

/// axe-core's script, read once from `CERTDECK_AXE_DIR` (default target/axe).
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = std::env::var("CERTDECK_AXE_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/axe").to_owned()
        });
        let path = std::path::Path::new(&dir).join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core at {} (npm ci in tests/clients/axe, as .ci/test does; CERTDECK_AXE_DIR): {e}",
                path.display()
            )
        })
    })
}

/// What the accessibility tour found: violations per page and scheme, and the
/// screenshots taken.
#[derive(Default)]
struct Tour {
    violations: Vec<String>,
    screenshots: Vec<String>,
}

impl Tour {
    /// The current page, `name`d, in light and dark: axe-core at 1440 px in both
    /// schemes, screenshots at 1440 and 390 px in both.
    async fn check(&mut self, browser: &Driver, name: &str) {
        for scheme in ["light", "dark"] {
            browser.width(1440).await;
            browser.color_scheme(scheme).await;
            for violation in browser.axe_violations().await {
                self.violations
                    .push(format!("{name} ({scheme}): {violation}"));
            }
            for width in [1440, 390] {
                browser.width(width).await;
                let shot = format!("{name}-{scheme}-{width}");
                browser.screenshot(&shot).await;
                self.screenshots
                    .push(format!("target/screenshots/{shot}.png"));
            }
        }
        browser.width(1440).await;
        browser.color_scheme("light").await;
    }

    /// Fails with every violation, one a line; lists the screenshots.
    fn finish(self) {
        println!(
            "screenshots ({}):\n  {}",
            self.screenshots.len(),
            self.screenshots.join("\n  ")
        );
        assert!(
            self.violations.is_empty(),
            "axe-core found {} violations:\n{}",
            self.violations.len(),
            self.violations.join("\n")
        );
    }
}

/// The pages the tour opens by address once signed in (as an operator of team
/// `payments`): name and path. `pool` is in the operator's team, `other` is not. Pages
/// added later (notifications, expiry…) get a row here.
fn pages_by_address(pool: &str, other: &str, certificate: &str) -> Vec<(&'static str, String)> {
    vec![
        ("dashboard", paths::DASHBOARD.to_owned()),
        ("dashboard-all-pools", "/?view=all".to_owned()),
        ("dashboard-expiring", "/?status=expiring".to_owned()),
        ("pool", paths::pool(pool)),
        ("change-form", paths::change(pool)),
        ("certificate", certificate.to_owned()),
        ("bulk-plan", format!("{certificate}/replace")),
        ("requests", "/requests".to_owned()),
        ("tokens", "/tokens".to_owned()),
        ("scheduled", "/scheduled".to_owned()),
        ("expiry", "/expiry".to_owned()),
        ("error-404", "/no/such/page".to_owned()),
        ("error-403", paths::change(other)),
    ]
}

/// The pages the tour opens after its certificate change.
fn pages_after_the_change() -> Vec<(&'static str, String)> {
    vec![
        ("propagations", paths::PROPAGATIONS.to_owned()),
        ("audit", paths::AUDIT.to_owned()),
    ]
}

fn seconds(clock: &str) -> i64 {
    let (m, s) = clock.trim().split_once(':').unwrap_or(("0", "0"));
    m.parse::<i64>().unwrap_or(0) * 60 + s.parse::<i64>().unwrap_or(0)
}

/// Issue 18 as well: every page passes axe-core in light and dark, is photographed at
/// 1440 and 390 px, and the change form is used from the keyboard.
#[tokio::test]
async fn sign_in_change_and_watch_the_countdown_until_verified() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(8);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut s = settings(&sandbox, &sandbox.sqlite_url());
    // A channel, so the notifications page shows its test button (nothing listens there).
    s.notifications = crate::notifications::notifications(&format!(
        "default_routes = [\"on-call\"]\n{}",
        crate::notifications::webhook_channel("on-call", "http://127.0.0.1:9/hook")
    ));
    let app = TestApp::start_with(&sandbox, s).await;
    app.refresh().await;
    app.create_account("olivia", "operator", &["payments"])
        .await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let pool = app.pool_id("Customer portal").await;
    let other = app.pool_id("Partner portal").await;
    let mut tour = Tour::default();

    let browser = Driver::start().await;
    browser.go(&format!("{base}{}", paths::LOGIN)).await;
    tour.check(&browser, "sign-in").await;
    browser.type_into("input[name=username]", "olivia").await;
    browser
        .type_into("input[name=password]", TEST_PASSWORD)
        .await;
    browser.click("form.stack button[type=submit]").await;
    assert!(
        browser.text("h1").await.contains("Custom domains"),
        "signed in, on the dashboard"
    );
    // Domain first: only the custom domains, the one expiring soonest on top.
    let first = browser
        .find("tr[data-pool-id]")
        .await
        .attr("data-pool-id")
        .await
        .expect("attribute");
    assert_eq!(first.as_deref(), Some(pool.as_str()), "most urgent first");
    let certificate = browser
        .find(&format!("tr[data-pool-id='{pool}'] td.certificate a"))
        .await
        .attr("href")
        .await
        .expect("attribute")
        .expect("the certificate's link");

    for (name, path) in pages_by_address(&pool, &other, &certificate) {
        browser.go(&format!("{base}{path}")).await;
        tour.check(&browser, name).await;
    }

    // At 1280 px nothing in the all-pools table wraps awkwardly: one line per region.
    browser.go(&format!("{base}/?view=all")).await;
    browser.width(1280).await;
    let wrapped = browser
        .script(
            "return Array.from(document.querySelectorAll('td.region')).filter(function (td) { \
               var r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length > 1; \
             }).map(function (td) { return td.textContent; });",
        )
        .await;
    assert_eq!(wrapped, json!([]), "regions wrapped at 1280 px");
    let overflow = browser
        .script("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "the all-pools table is wider than 1280 px by {overflow}"
    );
    // At 390 px the domain view fits the phone's width.
    browser.go(&format!("{base}/")).await;
    browser.width(390).await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "the dashboard is wider than 390 px by {overflow}"
    );
    browser.width(1440).await;

    // The change form from the keyboard: Tab to its submit, focus visible, Enter.
    browser.go(&format!("{base}{}", paths::change(&pool))).await;
    let mut reached = false;
    for _ in 0..40 {
        browser.press('\u{e004}').await;
        let on_submit = browser
            .script("return document.activeElement.matches('form.stack button[type=submit]');")
            .await;
        if on_submit == Value::Bool(true) {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the change form's submit button");
    let focus = browser
        .script(
            "var b = document.activeElement, s = getComputedStyle(b); \
             return {visible: b.matches(':focus-visible'), outline: s.outlineStyle, width: s.outlineWidth};",
        )
        .await;
    assert_eq!(focus["visible"], json!(true), "{focus}");
    assert!(
        focus["outline"] != json!("none") && focus["width"] != json!("0px"),
        "the focused submit shows an outline: {focus}"
    );
    browser.screenshot("change-form-keyboard-focus").await;
    browser.press('\u{e007}').await;
    assert!(
        browser
            .text("h1")
            .await
            .contains("Replace the certificate of auth.example.com")
    );
    tour.check(&browser, "confirmation").await;
    browser.click("form.actions button[type=submit]").await;
    browser.wait_for_url(&paths::propagation("")).await;
    assert!(browser.text("h1").await.contains("auth.example.com"));

    // The page is not reloaded from here on: a marker set now must survive.
    browser.script("window.certdeckMarker = 'same page';").await;
    let first = seconds(&browser.text("#countdown").await);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let second = seconds(&browser.text("#countdown").await);
    assert!(
        first > 3500 && second < first,
        "the countdown goes down: {first} then {second}"
    );
    assert!(
        browser.text("#narration").await.len() > 20,
        "a sentence says what is happening"
    );
    tour.check(&browser, "propagation-in-flight").await;

    let started = Instant::now();
    loop {
        if browser.text("#phase").await == "verified" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "verified did not appear"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        browser.script("return window.certdeckMarker;").await,
        "same page",
        "no reload happened"
    );
    assert!(browser.text("#outcome").await.contains("verified after"));
    assert!(browser.text("#timeline").await.contains("distributed"));
    assert!(
        browser
            .text("#narration")
            .await
            .contains("serving the new certificate"),
        "the final state in words"
    );
    let back = browser
        .find("a#back-to-pool")
        .await
        .attr("href")
        .await
        .expect("href");
    assert_eq!(back, Some(paths::pool(&pool)));
    browser.screenshot("verified").await;
    tour.check(&browser, "propagation-verified").await;
    for (name, path) in pages_after_the_change() {
        browser.go(&format!("{base}{path}")).await;
        tour.check(&browser, name).await;
    }
    // The admins' page, signed in as an admin.
    browser.click("form[action='/logout'] button").await;
    // Signed out: the sign-in form (waited for, so the sign-out has landed).
    browser.find("input[name=username]").await;
    browser
        .type_into("input[name=username]", "test-admin")
        .await;
    browser
        .type_into("input[name=password]", TEST_PASSWORD)
        .await;
    browser.click("form.stack button[type=submit]").await;
    // Signed in: the dashboard's rows.
    browser.find("tr[data-pool-id]").await;
    browser.go(&format!("{base}/notifications")).await;
    assert!(
        browser.text("h1").await.contains("Notifications"),
        "the admin sees the notifications page"
    );
    tour.check(&browser, "notifications").await;
    browser.close().await;
    tour.finish();
}

/// With JavaScript off, the dashboard's filters and the propagation page still work:
/// the page is rendered by the server and refreshes itself.
#[tokio::test]
async fn the_dashboard_and_the_propagation_page_work_without_javascript() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(600);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let app = TestApp::start_with(&sandbox, settings(&sandbox, &sandbox.sqlite_url())).await;
    app.refresh().await;
    app.create_account("olivia", "operator", &["payments"])
        .await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let pool = app.pool_id("Customer portal").await;

    let browser = Driver::start_with(false).await;
    browser.go(&format!("{base}{}", paths::LOGIN)).await;
    browser.type_into("input[name=username]", "olivia").await;
    browser
        .type_into("input[name=password]", TEST_PASSWORD)
        .await;
    browser.click("form.stack button[type=submit]").await;
    assert!(browser.text("h1").await.contains("Custom domains"));
    // A summary link and the filter form, without a script.
    browser.click("a#summary-expiring").await;
    browser.wait_for_url("status=expiring").await;
    assert!(
        browser
            .text("table.pools")
            .await
            .contains("auth.example.com")
    );
    browser.click("a#all-pools").await;
    browser.wait_for_url("view=all").await;
    assert!(browser.text("table.pools").await.contains("Internal tools"));
    browser.screenshot("no-js-dashboard").await;

    // A change made in the browser, then its page, live only by refreshing.
    browser.go(&format!("{base}{}", paths::change(&pool))).await;
    browser.click("form.stack button[type=submit]").await;
    browser.click("form.actions button[type=submit]").await;
    browser.wait_for_url(&paths::propagation("")).await;
    assert_eq!(
        browser
            .script("return document.getElementById('propagation').dataset.live || 'off';")
            .await,
        "off",
        "the page's script did not run"
    );
    let countdown = seconds(&browser.text("#countdown").await);
    assert!(
        countdown > 500,
        "the server rendered the time left: {countdown}"
    );
    let narration = browser.text("#narration").await;
    assert!(!narration.is_empty(), "the state in words without a script");
    assert!(browser.text("ol.steps").await.contains("Submitted"));
    let source = browser.client.source().await.expect("the page's source");
    assert!(
        source.contains("<noscript><meta http-equiv=\"refresh\""),
        "the page refreshes itself without a script"
    );
    browser.screenshot("no-js-propagation").await;
    browser.close().await;
}
