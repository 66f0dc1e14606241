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
        let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
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

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot");
    }

    /// Ends the WebDriver session (Chromium exits); chromedriver goes on drop.
    pub(crate) async fn close(self) {
        self.client.clone().close().await.expect("session closed");
    }
}

fn seconds(clock: &str) -> i64 {
    let (m, s) = clock.trim().split_once(':').unwrap_or(("0", "0"));
    m.parse::<i64>().unwrap_or(0) * 60 + s.parse::<i64>().unwrap_or(0)
}

#[tokio::test]
async fn sign_in_change_and_watch_the_countdown_until_verified() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(8);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let app = TestApp::start_with(&sandbox, settings(&sandbox, &sandbox.sqlite_url())).await;
    app.refresh().await;
    app.create_account("olivia", "operator", &["payments"])
        .await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let pool = app.pool_id("Customer portal").await;

    let browser = Driver::start().await;
    browser.go(&format!("{base}{}", paths::LOGIN)).await;
    browser.type_into("input[name=username]", "olivia").await;
    browser
        .type_into("input[name=password]", TEST_PASSWORD)
        .await;
    browser.click("form.stack button[type=submit]").await;
    assert!(
        browser.text("h1").await.contains("User pools"),
        "signed in, on the dashboard"
    );
    browser.screenshot("dashboard").await;

    browser.go(&format!("{base}{}", paths::pool(&pool))).await;
    browser.click("a.button[href$='/certificate']").await;
    browser.screenshot("change-form").await;
    browser.click("form.stack button[type=submit]").await;
    assert!(
        browser
            .text("h1")
            .await
            .contains("Replace the certificate of auth.example.com")
    );
    browser.screenshot("confirm").await;
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
    browser.screenshot("verified").await;
    browser.close().await;
}
