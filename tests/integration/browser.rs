//! Issue 7, point 5: end to end in headless Chromium (driven by chromedriver over the
//! WebDriver protocol): sign in, change a certificate, watch the countdown go down and
//! "verified" appear without a reload. Screenshots go to target/screenshots/.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{
    TEST_PASSWORD, TestApp, eventually, options, settings, spawn_sandbox, tempdir,
};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    url: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let driver =
            std::env::var("CERTDECK_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver} starts (installed by .ci/test): {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let up = eventually(Duration::from_secs(20), || async {
            http.get(format!("{url}/status")).send().await.is_ok()
        })
        .await;
        assert!(up, "chromedriver answers");
        let profile = tempdir().join("chromium-profile");
        let chromium =
            std::env::var("CERTDECK_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let created: Value = http
            .post(format!("{url}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                         "--window-size=1400,1000", format!("--user-data-dir={}", profile.display())]
            }}}}))
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session: {created}"))
            .to_owned();
        Driver {
            child,
            url,
            session,
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.url, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let value: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        assert!(value["value"].get("error").is_none(), "{path}: {value}");
        value["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element matching `css`, waiting up to 5 s for the page to show it.
    async fn find(&self, css: &str) -> String {
        let url = format!("{}/session/{}/element", self.url, self.session);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found: Value = self
                .http
                .post(&url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("webdriver")
                .json()
                .await
                .expect("json");
            if let Some(id) = found["value"][ELEMENT].as_str() {
                return id.to_owned();
            }
            if Instant::now() > deadline {
                let page = self.call(reqwest::Method::GET, "/source", None).await;
                panic!(
                    "no element {css}: {found}\n{}",
                    page.as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(3000)
                        .collect::<String>()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The text of `css`; found again if the page changed under it.
    async fn text(&self, css: &str) -> String {
        for _ in 0..25 {
            let id = self.find(css).await;
            let url = format!("{}/session/{}/element/{id}/text", self.url, self.session);
            let value: Value = self
                .http
                .get(url)
                .send()
                .await
                .expect("webdriver")
                .json()
                .await
                .expect("json");
            match value["value"].as_str() {
                Some(text) => return text.to_owned(),
                None => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("no stable text for {css}");
    }

    /// Waits until the current URL contains `fragment`.
    async fn wait_for_url(&self, fragment: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.call(reqwest::Method::GET, "/url", None).await;
            if url.as_str().is_some_and(|u| u.contains(fragment)) {
                return;
            }
            assert!(Instant::now() < deadline, "never reached {fragment}: {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot");
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
    let app = TestApp::start_with(
        &sandbox,
        settings(
            &sandbox,
            &format!("sqlite://{}/certdeck.db", tempdir().display()),
        ),
    )
    .await;
    app.refresh().await;
    app.create_account("olivia", "operator", &["payments"])
        .await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let pool = app.pool_id("Customer portal").await;

    let browser = Driver::start().await;
    browser.go(&format!("{base}/login")).await;
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

    browser.go(&format!("{base}/pools/{pool}")).await;
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
    browser.wait_for_url("/propagations/").await;
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
}
