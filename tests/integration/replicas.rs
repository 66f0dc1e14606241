//! Issue 13: several replicas share PostgreSQL; one process serves a SQLite file.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;

use crate::helpers::{TestApp, cli_env, options, settings, spawn_sandbox};

/// A second `certdeck serve` on the SQLite file of a running console is refused at
/// start, saying why; the CLI still works beside the console; once the first console
/// stops, another may start.
#[tokio::test]
async fn a_second_console_on_one_sqlite_file_is_refused() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let database = sandbox.sqlite_url();
    let first = TestApp::start(&sandbox, &database).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("serve")
        .envs(cli_env())
        .env("CERTDECK_DATABASE_URL", &database)
        .env("CERTDECK_LISTEN", "127.0.0.1:0")
        .env("CERTDECK_REGIONS", "us-east-1")
        .env("CERTDECK_AWS_ENDPOINT_URL", sandbox.sandbox.endpoint_url())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("the second console gives up at once")
        .expect("certdeck runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another certdeck serve is already running on the SQLite database")
            && stderr.contains("PostgreSQL"),
        "{stderr}"
    );

    // The CLI is not a console: it may use the database meanwhile.
    let listed = tokio::process::Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["user", "list"])
        .envs(cli_env())
        .env("CERTDECK_DATABASE_URL", &database)
        .output()
        .await
        .expect("certdeck runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("test-admin"));

    // In the same process too, and until the first has stopped.
    let again = certdeck::startup::Application::build(settings(&sandbox, &database)).await;
    assert!(
        again.is_err(),
        "a second console in one process is refused too"
    );
    first.stop().await;
    let second = TestApp::start(&sandbox, &database).await;
    second.stop().await;
}

fn yaml(path: &str) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// `deploy/compose.yaml`: PostgreSQL, three certdeck replicas on it with the audit key
/// from a secret and the shell-free health check, behind a reverse proxy whose
/// configuration exists and points at them.
#[test]
fn the_compose_file_runs_three_replicas_on_postgresql_behind_a_proxy() {
    let compose = yaml("deploy/compose.yaml");
    let services = compose["services"].as_object().expect("services");
    let postgres = &services["postgres"];
    assert!(
        postgres["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("postgres:")
    );
    let certdeck = &services["certdeck"];
    assert_eq!(certdeck["deploy"]["replicas"], 3);
    let environment = &certdeck["environment"];
    assert!(
        environment["CERTDECK_DATABASE_URL"]
            .as_str()
            .is_some_and(|u| u.starts_with("postgres://") && u.contains("@postgres:5432/")),
        "{environment}"
    );
    assert_eq!(
        environment["CERTDECK_AUDIT_KEY_FILE"],
        "/run/secrets/audit-key"
    );
    assert!(
        certdeck["secrets"]
            .as_array()
            .expect("secrets")
            .contains(&"audit-key".into())
    );
    assert_eq!(
        compose["secrets"]["audit-key"]["file"],
        "./secrets/audit-key"
    );
    assert_eq!(
        certdeck["healthcheck"]["test"],
        serde_json::json!(["CMD", "certdeck", "healthcheck"])
    );
    assert_eq!(
        certdeck["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let proxy = &services["proxy"];
    let mounts: Vec<&str> = proxy["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let config = mounts
        .iter()
        .find(|m| m.ends_with(":/etc/nginx/nginx.conf:ro"))
        .expect("the proxy's configuration is mounted");
    let local = config
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_start_matches("./");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let nginx = std::fs::read_to_string(root.join("deploy").join(local)).expect("nginx.conf");
    assert!(
        nginx.contains("server certdeck:8080"),
        "the proxy forwards to the replicas"
    );
    assert!(
        nginx.contains("proxy_buffering off"),
        "live streams are not buffered"
    );
}

/// `deploy/kubernetes/`: a Deployment of 3 replicas probing `/readyz` and `/healthz`,
/// with the database URL and the audit key from a Secret, and a PodDisruptionBudget
/// selecting its pods; the kustomization lists every resource but the Secret template.
#[test]
fn the_kubernetes_manifests_hold_the_replicas_probes_secrets_and_budget() {
    let deployment = yaml("deploy/kubernetes/deployment.yaml");
    assert_eq!(deployment["kind"], "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *labels);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let port = &container["ports"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], port["name"]);
    let secret_of = |variable: &str| {
        container["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == variable)
            .map(|e| e["valueFrom"]["secretKeyRef"].clone())
            .unwrap_or_else(|| panic!("{variable} is set"))
    };
    let secret = yaml("deploy/kubernetes/secret.example.yaml");
    assert_eq!(secret["kind"], "Secret");
    for (variable, key) in [
        ("CERTDECK_DATABASE_URL", "database-url"),
        ("CERTDECK_AUDIT_KEY", "audit-key"),
    ] {
        let reference = secret_of(variable);
        assert_eq!(reference["name"], secret["metadata"]["name"], "{variable}");
        assert_eq!(reference["key"], key, "{variable}");
        assert!(
            secret["stringData"][key].is_string(),
            "the template has {key}"
        );
    }
    let budget = yaml("deploy/kubernetes/pdb.yaml");
    assert_eq!(budget["kind"], "PodDisruptionBudget");
    assert_eq!(budget["spec"]["selector"]["matchLabels"], *labels);
    assert!(
        budget["spec"]["minAvailable"]
            .as_u64()
            .is_some_and(|n| (1..3).contains(&n))
    );
    let service = yaml("deploy/kubernetes/service.yaml");
    assert_eq!(service["spec"]["selector"], *labels);

    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    for file in [
        "deployment.yaml",
        "service.yaml",
        "pdb.yaml",
        "serviceaccount.yaml",
    ] {
        assert!(resources.contains(&file), "{file} in the kustomization");
    }
    assert!(
        !resources.contains(&"secret.example.yaml"),
        "the template is not applied"
    );
    let account = yaml("deploy/kubernetes/serviceaccount.yaml");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        account["metadata"]["name"]
    );
}

/// One `certdeck serve` process of the three-replica test.
struct Replica {
    base: String,
    child: tokio::process::Child,
}

impl Replica {
    async fn start(
        sandbox: &crate::helpers::TestSandbox,
        database: &str,
        log: &std::path::Path,
    ) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("address")
            .port();
        let ca = sandbox.dir.path().join("replicas-ca.pem");
        std::fs::write(&ca, sandbox.sandbox.ca_pem()).expect("CA file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_certdeck"))
            .arg("serve")
            .envs(cli_env())
            .env("CERTDECK_DATABASE_URL", database)
            .env("CERTDECK_LISTEN", format!("127.0.0.1:{port}"))
            .env("CERTDECK_REGIONS", "us-east-1,eu-west-1")
            .env("CERTDECK_AWS_ENDPOINT_URL", sandbox.sandbox.endpoint_url())
            .env(
                "CERTDECK_EDGE_ADDR",
                sandbox.sandbox.edge_addr().to_string(),
            )
            .env("CERTDECK_EDGE_CA_FILE", &ca)
            .env("CERTDECK_SECURE_COOKIES", "false")
            .env("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD", REPLICA_ADMIN_PASSWORD)
            .env("CERTDECK_PROPAGATION_POLL_SECS", "1")
            .env("CERTDECK_PROBE_INTERVAL_SECS", "1")
            .env("CERTDECK_INVENTORY_REFRESH_SECS", "5")
            .env("CERTDECK_REPLICA_LEASE_SECS", "4")
            .env("CERTDECK_AWS_MAX_ATTEMPTS", "2")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("certdeck serve starts");
        let replica = Replica {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let ready = crate::helpers::eventually(Duration::from_secs(60), || async {
            replica.readyz().await.is_some()
        })
        .await;
        assert!(
            ready,
            "replica on port {port} ready: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        replica
    }

    /// `/readyz`'s replica id when it answers 200.
    async fn readyz(&self) -> Option<String> {
        let response = reqwest::get(format!("{}/readyz", self.base)).await.ok()?;
        if response.status() != 200 {
            return None;
        }
        let body = response.text().await.ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix("replica: "))
            .map(str::to_owned)
    }
}

const REPLICA_ADMIN_PASSWORD: &str = "replica-test-admin-password";

/// Reads Server-Sent Events of one propagation until `verified`: each new phase in
/// order, with when it arrived (unix milliseconds). The first is the state at connection.
async fn follow_phases(response: reqwest::Response) -> Vec<(String, i64)> {
    use futures_util::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut phases: Vec<(String, i64)> = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(Ok(chunk)) = stream.next().await {
            let arrived =
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let phase = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .and_then(|data| serde_json::from_str::<serde_json::Value>(data).ok())
                    .and_then(|v| v["phase"].as_str().map(str::to_owned));
                if let Some(phase) = phase
                    && phases.last().is_none_or(|(last, _)| *last != phase)
                {
                    phases.push((phase, arrived));
                }
            }
            if phases.last().is_some_and(|(p, _)| p == "verified") {
                break;
            }
        }
    })
    .await;
    phases
}

/// Issue 13's "done when": three `certdeck serve` processes on one PostgreSQL and one
/// sandbox. One replica reads AWS per interval; a double submit to two replicas makes
/// one update; the replica that submitted and the one watching the change are killed
/// with SIGKILL while it is `updating`, and a survivor takes it to `verified`; live
/// pages on the survivors see every phase; one outcome entry, one valid chain.
#[tokio::test]
async fn three_replicas_share_the_work_and_survive_a_kill() {
    use sqlx::Row;
    let mut sandbox_options = options(Seed::Demo);
    sandbox_options.timings.propagation = Duration::from_secs(15);
    let sandbox = Arc::new(spawn_sandbox(sandbox_options).await);
    let database = crate::helpers::fresh_postgres_url().await;
    let logs = crate::helpers::tempdir();
    let log = |n: usize| logs.path().join(format!("replica-{n}.log"));
    let first = Replica::start(&sandbox, &database, &log(1)).await;
    let mut replicas = vec![first];
    for n in 2..=3 {
        replicas.push(Replica::start(&sandbox, &database, &log(n)).await);
    }

    // One inventory reader: ListUserPools (one call per region and refresh) over three
    // 5 s intervals is that of one replica, not three.
    let listed = sandbox.calls("ListUserPools").await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let listed = sandbox.calls("ListUserPools").await - listed;
    assert!(
        (2..=8).contains(&listed),
        "one replica reads (2 regions × 3 or 4 refreshes), three would make ~18: {listed}"
    );

    // Sign in on replica 1; the session works on every replica (one cookie jar, as a
    // browser behind a load balancer).
    let mut admin = crate::helpers::Browser::new(&replicas[0].base);
    assert_eq!(
        admin
            .sign_in("admin", REPLICA_ADMIN_PASSWORD)
            .await
            .status(),
        303
    );
    for replica in &replicas {
        let dashboard = admin
            .client
            .get(format!("{}/", replica.base))
            .send()
            .await
            .expect("dashboard");
        assert_eq!(dashboard.status(), 200, "signed in on {}", replica.base);
    }

    // A double submit arriving at replicas 1 and 2: one update.
    let pool = {
        let dashboard = admin.dashboard("?view=all&q=EU+customer+portal").await;
        crate::helpers::table_rows(&dashboard, "tr[data-pool-id]")[0]
            .html
            .split("data-pool-id=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("pool id")
            .to_owned()
    };
    let form = admin.change_form(&pool).await;
    let token = crate::helpers::field(&form, "submission_token");
    let arn = crate::helpers::options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("an eligible certificate")
        .0;
    let csrf = admin.csrf().await;
    let updates = sandbox.calls("UpdateUserPoolDomain").await;
    let post = |base: &str| {
        admin
            .client
            .post(format!("{base}{}", crate::helpers::paths::change(&pool)))
            .form(&[
                ("certificate_arn", arn.as_str()),
                ("submission_token", token.as_str()),
                ("confirm", "yes"),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
    };
    let (one, two) = tokio::join!(post(&replicas[0].base), post(&replicas[1].base));
    let (one, two) = (one.expect("replica 1"), two.expect("replica 2"));
    let statuses = [one.status().as_u16(), two.status().as_u16()];
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "one of the two is accepted: {statuses:?}"
    );
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
    let accepted = if one.status() == 303 { one } else { two };
    let id = crate::helpers::paths::propagation_id(
        accepted
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
    );

    // Live pages on every replica.
    let mut followers = Vec::new();
    for replica in &replicas {
        let response = admin
            .client
            .get(format!(
                "{}{}",
                replica.base,
                crate::helpers::paths::propagation_events(&id)
            ))
            .send()
            .await
            .expect("events");
        assert_eq!(response.status(), 200);
        followers.push(tokio::spawn(follow_phases(response)));
    }

    // While `updating`: the replica that submitted and the one watching are killed.
    let pg = sqlx::PgPool::connect(&database).await.expect("PostgreSQL");
    let watching = crate::helpers::eventually(Duration::from_secs(20), || async {
        let row = sqlx::query("SELECT phase, lease_holder FROM propagations WHERE id = $1")
            .bind(&id)
            .fetch_one(&pg)
            .await
            .expect("the propagation");
        row.get::<String, _>("phase") == "updating"
            && row.get::<Option<String>, _>("lease_holder").is_some()
    })
    .await;
    assert!(watching, "the change reaches updating and is watched");
    let holder: String = sqlx::query("SELECT lease_holder FROM propagations WHERE id = $1")
        .bind(&id)
        .fetch_one(&pg)
        .await
        .expect("holder")
        .get("lease_holder");
    let mut ids = Vec::new();
    for replica in &replicas {
        ids.push(replica.readyz().await.expect("ready"));
    }
    let watcher = ids
        .iter()
        .position(|r| *r == holder)
        .expect("a replica holds the watch");
    let submitter = if statuses[0] == 303 { 0 } else { 1 };
    let killed: Vec<usize> = if watcher == submitter {
        vec![submitter]
    } else {
        vec![submitter, watcher]
    };
    for &n in &killed {
        replicas[n].child.start_kill().expect("SIGKILL");
        let _ = replicas[n].child.wait().await;
    }
    let killed_at = std::time::Instant::now();
    let survivor = (0..3).find(|n| !killed.contains(n)).expect("a survivor");
    // Taken over within twice the lease (4 s here).
    let taken_over = crate::helpers::eventually(Duration::from_secs(20), || async {
        let holder: Option<String> =
            sqlx::query("SELECT lease_holder FROM propagations WHERE id = $1")
                .bind(&id)
                .fetch_one(&pg)
                .await
                .expect("holder")
                .get("lease_holder");
        holder.is_some_and(|h| killed.iter().all(|&n| ids[n] != h))
    })
    .await;
    let takeover = killed_at.elapsed();
    assert!(taken_over, "a survivor takes the watch over");
    assert!(
        takeover <= Duration::from_secs(8),
        "taken over in {takeover:?}, twice the lease is 8 s"
    );

    // A survivor takes the change over and verifies it.
    let verified = crate::helpers::eventually(Duration::from_secs(60), || async {
        let api = admin
            .client
            .get(format!(
                "{}{}",
                replicas[survivor].base,
                crate::helpers::paths::propagation_api(&id)
            ))
            .send()
            .await
            .expect("api");
        let body: serde_json::Value = api.json().await.unwrap_or_default();
        body["phase"] == "verified"
    })
    .await;
    assert!(
        verified,
        "verified by a survivor: {}",
        std::fs::read_to_string(log(survivor + 1)).unwrap_or_default()
    );
    let holder_after: String = sqlx::query("SELECT lease_holder FROM propagations WHERE id = $1")
        .bind(&id)
        .fetch_one(&pg)
        .await
        .expect("holder")
        .get("lease_holder");
    assert!(
        killed.iter().all(|&n| ids[n] != holder_after),
        "a survivor took the watch over"
    );

    // Every survivor's live page saw every phase, in order, each within 2 s of the
    // replica that moved it recording it.
    let recorded: Vec<(String, i64)> = sqlx::query(
        "SELECT phase, at_ms FROM propagation_events WHERE propagation_id = $1 ORDER BY at_ms",
    )
    .bind(&id)
    .fetch_all(&pg)
    .await
    .expect("timeline")
    .iter()
    .map(|r| (r.get("phase"), r.get("at_ms")))
    .collect();
    for (n, follower) in followers.into_iter().enumerate() {
        let phases = follower.await.expect("follower");
        if killed.contains(&n) {
            continue;
        }
        let names: Vec<&str> = phases.iter().map(|(p, _)| p.as_str()).collect();
        let from = names
            .iter()
            .position(|p| *p == "submitted" || *p == "updating")
            .unwrap_or_else(|| panic!("replica {}: {names:?}", n + 1));
        assert_eq!(
            names[from..]
                .iter()
                .filter(|p| **p != "submitted")
                .copied()
                .collect::<Vec<_>>(),
            ["updating", "distributed", "verified"],
            "replica {}: {names:?}",
            n + 1
        );
        // The first event is the state at connection; the others are live.
        for (phase, arrived) in &phases[1..] {
            let at = recorded
                .iter()
                .find(|(p, _)| p == phase)
                .map(|(_, at)| *at)
                .unwrap_or_else(|| panic!("{phase} recorded: {recorded:?}"));
            assert!(
                arrived - at <= 2000,
                "replica {}: {phase} arrived {} ms after it was recorded",
                n + 1,
                arrived - at
            );
        }
    }

    // Exactly one outcome, and one valid audit chain.
    let outcomes: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'propagation.%' AND domain = \
         (SELECT domain FROM propagations WHERE id = $1)",
    )
    .bind(&id)
    .fetch_one(&pg)
    .await
    .expect("count")
    .get("n");
    assert_eq!(outcomes, 1);
    let verify = tokio::process::Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["audit", "verify"])
        .envs(cli_env())
        .env("CERTDECK_DATABASE_URL", &database)
        .output()
        .await
        .expect("certdeck runs");
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

async fn postgres_store() -> certdeck::store::Store {
    let url = crate::helpers::fresh_postgres_url().await;
    certdeck::store::Store::connect(&secrecy::SecretString::from(url))
        .await
        .expect("PostgreSQL")
        .with_audit_key(crate::helpers::test_audit_key())
}

/// Two replicas recording the outcome of one propagation at the same moment: the
/// database lets one through, with one audit entry.
#[tokio::test]
async fn one_outcome_per_propagation_whatever_the_replicas() {
    use certdeck::domain::propagation::Phase;
    let store = postgres_store().await;
    let change = certdeck::store::PendingChange {
        domain: "auth.example.com".into(),
        pool_id: "us-east-1_Pool".into(),
        region: "us-east-1".into(),
        old_certificate_arn: None,
        new_certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/new".into(),
        actor: "ada".into(),
        role: Some("admin".into()),
        account: None,
        account_id: None,
    };
    let propagation =
        certdeck::propagation::new_propagation(Duration::from_secs(3600), &change, None);
    store
        .insert_propagation(&propagation)
        .await
        .expect("propagation");
    let finish = |phase: Phase| {
        let store = store.clone();
        let propagation = propagation.clone();
        async move {
            let seen = certdeck::store::Observation {
                phase: Some(phase),
                ..Default::default()
            };
            let record = certdeck::propagation::outcome_record(&propagation, phase, None);
            store
                .finish_propagation(&propagation.id, Phase::Submitted, &seen, record)
                .await
                .expect("finish")
        }
    };
    let (verified, timed_out) = tokio::join!(finish(Phase::Verified), finish(Phase::TimedOut));
    assert!(
        verified ^ timed_out,
        "exactly one outcome: {verified} {timed_out}"
    );
    let outcomes = store
        .audit_page(
            &certdeck::store::AuditFilter {
                action_prefixes: vec!["propagation.".into()],
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(outcomes.len(), 1);
    // A later attempt finds it finished too.
    assert!(!finish(Phase::Failed).await);
}

/// Three replicas appending to the audit log at once keep one valid chain.
#[tokio::test]
async fn concurrent_appends_from_three_replicas_keep_one_chain() {
    let url = crate::helpers::fresh_postgres_url().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(
            certdeck::store::Store::connect(&secrecy::SecretString::from(url.clone()))
                .await
                .expect("PostgreSQL")
                .with_audit_key(crate::helpers::test_audit_key()),
        );
    }
    let appends = stores.iter().enumerate().flat_map(|(n, store)| {
        (0..40).map(move |i| {
            let store = store.clone();
            async move {
                store
                    .append_audit(certdeck::domain::audit::AuditRecord {
                        actor: format!("replica{n}-{i}"),
                        action: "auth.sign_in".into(),
                        outcome: "success".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("append")
            }
        })
    });
    let entries = futures_util::future::join_all(appends).await;
    assert_eq!(entries.len(), 120);
    let mut ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>(), "one id each, no gap");
    assert_eq!(stores[0].verify_audit().await.expect("verify"), Ok(120));
}
