//! The README's first command: `certdeck demo` serves a dashboard listing every demo
//! pool, with its accounts printed and shown on the sign-in page (issues 3 and 4).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{Browser, eventually, table_rows, tempdir};

#[tokio::test]
async fn certdeck_demo_opens_a_dashboard_of_every_demo_pool() {
    let data_dir = tempdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("certdeck demo starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut console = None;
    let mut accounts = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("utf-8");
        if let Some(url) = line.trim().strip_prefix("console:") {
            console = Some(url.trim().trim_end_matches('/').to_owned());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [
            name @ ("admin" | "ops-payments" | "viewer"),
            role,
            _team,
            password,
        ] = words.as_slice()
        {
            accounts.push((name.to_string(), role.to_string(), password.to_string()));
        }
        if accounts.len() == 3 {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let console = console.expect("the console URL is printed");
    assert_eq!(
        accounts.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        ["admin", "operator", "viewer"]
    );

    let mut browser = Browser::new(&console);
    let login = browser.login_page().await;
    assert!(
        login.contains("Demo accounts"),
        "demo mode shows its accounts"
    );
    assert!(login.contains(&accounts[0].2), "with their passwords");
    assert_eq!(browser.sign_in("admin", &accounts[0].2).await.status(), 303);
    let listed = eventually(Duration::from_secs(20), || async {
        table_rows(&browser.dashboard("?view=all").await, "tr[data-pool-id]").len() == 16
    })
    .await;
    assert!(
        listed,
        "the dashboard lists the 13 demo pools of prod and the 3 of staging"
    );
    let dashboard = browser.dashboard("?view=all").await;
    for (account, id, pools) in [("prod", "123456789012", 13), ("staging", "210987654321", 3)] {
        assert!(dashboard.contains(id), "the account id of {account}");
        let rows = table_rows(
            &browser
                .dashboard(&format!("?view=all&account={account}"))
                .await,
            "tr[data-pool-id]",
        );
        assert_eq!(rows.len(), pools, "{account}");
    }
    let dashboard = browser.dashboard("?view=all").await;
    for region in ["us-east-1", "eu-west-1"] {
        assert!(dashboard.contains(region));
    }

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stopped = eventually(Duration::from_secs(10), || {
        let exited = child.try_wait().ok().flatten().is_some();
        async move { exited }
    })
    .await;
    assert!(stopped, "SIGTERM stops the demo");
}
