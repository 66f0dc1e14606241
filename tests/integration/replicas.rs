//! Issue 13: several replicas share PostgreSQL; one process serves a SQLite file.

use std::process::Stdio;
use std::sync::Arc;

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
