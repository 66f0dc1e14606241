//! Issue 3: the store works the same on SQLite and PostgreSQL.

use certdeck::store::{Backend, Store};
use secrecy::SecretString;

use crate::helpers::{fresh_postgres_url, tempdir};

/// Both databases, and the directory of the SQLite one (removed when dropped).
async fn stores() -> (tempfile::TempDir, Vec<(Backend, String)>) {
    let dir = tempdir();
    let sqlite = format!("sqlite://{}/certdeck.db", dir.path().display());
    (
        dir,
        vec![
            (Backend::Sqlite, sqlite),
            (Backend::Postgres, fresh_postgres_url().await),
        ],
    )
}

#[tokio::test]
async fn snapshots_round_trip_on_both_databases() {
    let (_dir, stores) = stores().await;
    for (backend, url) in stores {
        let url = SecretString::from(url);
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        assert_eq!(store.backend(), backend);
        assert!(store.ping().await);
        assert_eq!(
            store.load_snapshot().await.expect("load"),
            None,
            "{backend:?} starts empty"
        );
        store
            .save_snapshot(1, "{\"first\": 1}")
            .await
            .expect("save");
        store
            .save_snapshot(2, "{\"second\": \"it's \\\"quoted\\\"\"}")
            .await
            .expect("overwrite");
        drop(store);
        // Connecting again migrates nothing twice and finds the last snapshot.
        let again = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{backend:?} again: {e:#}"));
        assert_eq!(
            again.load_snapshot().await.expect("load").as_deref(),
            Some("{\"second\": \"it's \\\"quoted\\\"\"}"),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_database_url_is_refused_clearly() {
    let error = Store::connect(&SecretString::from("mysql://nope"))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("sqlite:// or postgres://"),
        "{error}"
    );
}
