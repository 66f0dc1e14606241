//! Supervised background work (issue 11, point 6): every task shows on `/readyz`, and
//! one that panics or exits is logged and turns readiness off.

use std::time::Duration;

use certdeck_sandbox::Seed;

use crate::helpers::{captured_logs, eventually, spawn_app};

#[tokio::test]
async fn a_background_task_that_panics_or_exits_shows_on_readyz_and_in_the_log() {
    let app = spawn_app(Seed::Demo).await;
    let anonymous = reqwest::Client::new();
    let readyz = || async {
        let response = anonymous
            .get(format!("http://127.0.0.1:{}/readyz", app.port))
            .send()
            .await
            .expect("readyz");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    for task in [
        "inventory refresher",
        "propagation watcher",
        "edge sweeper",
        "housekeeping",
    ] {
        assert!(body.contains(&format!("{task}: ok")), "{body}");
    }

    app.state
        .supervisor
        .spawn("doomed task", async { panic!("the disk is on fire") });
    app.state.supervisor.spawn("quitter", async {});
    let stopped = eventually(Duration::from_secs(5), || async {
        let (status, body) = readyz().await;
        status == 503
            && body.contains("doomed task: stopped (panicked: the disk is on fire)")
            && body.contains("quitter: stopped (exited)")
    })
    .await;
    assert!(stopped, "{:?}", readyz().await);
    assert!(
        captured_logs()
            .lines()
            .any(|l| l.contains("a background task stopped") && l.contains("doomed task")),
        "the stop is logged"
    );
}
