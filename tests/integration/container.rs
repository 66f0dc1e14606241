//! Issue 11, item 10: the container. `certdeck healthcheck` answers for a running console
//! and fails for a dead one, and the Dockerfile uses it without a shell. There is no
//! Docker engine here, so the Dockerfile is read as text.

use std::path::Path;
use std::process::Output;

use certdeck_sandbox::Seed;

use crate::helpers::spawn_app;

/// Runs `certdeck healthcheck` with `args` and CERTDECK_LISTEN = `listen`. Asynchronous,
/// as the console under test answers on this test's runtime.
async fn healthcheck(args: &[&str], listen: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_certdeck"));
    command.arg("healthcheck").args(args);
    match listen {
        Some(listen) => command.env("CERTDECK_LISTEN", listen),
        None => command.env_remove("CERTDECK_LISTEN"),
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), command.output())
        .await
        .expect("the healthcheck ends by itself")
        .expect("certdeck runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn healthcheck_passes_for_a_live_console_and_fails_otherwise() {
    let app = spawn_app(Seed::Empty).await;
    let url = format!("http://127.0.0.1:{}/healthz", app.port);

    let output = healthcheck(&["--url", &url], None).await;
    assert!(output.status.success(), "{}", text(&output));

    // Without --url it asks /healthz where CERTDECK_LISTEN says the console listens,
    // on loopback when that is a wildcard address (as in the container).
    let listen = format!("0.0.0.0:{}", app.port);
    let output = healthcheck(&[], Some(&listen)).await;
    assert!(output.status.success(), "{}", text(&output));

    // A page that does not answer 200 is not health.
    let elsewhere = format!("http://127.0.0.1:{}/no-such-page", app.port);
    let output = healthcheck(&["--url", &elsewhere], None).await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("answered"), "{}", text(&output));

    // Nothing listening: non-zero, saying so.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("address").port()
    };
    let output = healthcheck(
        &["--url", &format!("http://127.0.0.1:{closed}/healthz")],
        None,
    )
    .await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("connecting to 127.0.0.1:{closed}")),
        "{}",
        text(&output)
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile_instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

#[test]
fn the_dockerfile_checks_health_without_a_shell_as_a_non_root_user() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let instructions = dockerfile_instructions(&dockerfile);

    // HEALTHCHECK in exec form (no shell): a JSON array starting `certdeck healthcheck`.
    let healthchecks: Vec<&String> = instructions
        .iter()
        .filter(|(k, _)| k == "HEALTHCHECK")
        .map(|(_, rest)| rest)
        .collect();
    assert_eq!(healthchecks.len(), 1, "one HEALTHCHECK");
    let command = healthchecks[0]
        .split_once("CMD ")
        .expect("HEALTHCHECK … CMD …")
        .1;
    let exec: Vec<String> = serde_json::from_str(command)
        .unwrap_or_else(|e| panic!("CMD {command} is not exec form: {e}"));
    let program = Path::new(&exec[0]).file_name().and_then(|n| n.to_str());
    assert_eq!(program, Some("certdeck"), "{exec:?}");
    assert_eq!(
        exec.get(1).map(String::as_str),
        Some("healthcheck"),
        "{exec:?}"
    );

    // The final stage runs as a non-root user.
    let final_stage = instructions
        .iter()
        .rposition(|(k, _)| k == "FROM")
        .expect("FROM");
    let user = instructions[final_stage..]
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, rest)| rest.clone())
        .expect("the final stage sets USER");
    assert!(
        !["root", "0"].contains(&user.split(':').next().unwrap_or_default()),
        "USER {user}"
    );

    // Every path copied from the build context exists, is not excluded by
    // .dockerignore, and the workspace's members and benches are among them.
    let ignored: Vec<String> = std::fs::read_to_string(root.join(".dockerignore"))
        .expect(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    for excluded in ["target", ".git"] {
        assert!(
            ignored.iter().any(|i| i == excluded),
            ".dockerignore has {excluded}"
        );
    }
    let mut copied = Vec::new();
    for (_, rest) in instructions
        .iter()
        .filter(|(k, rest)| k == "COPY" && !rest.starts_with("--from"))
    {
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let (_destination, sources) = parts.split_last().expect("COPY src… dest");
        assert!(!sources.is_empty(), "COPY {rest} has a source");
        for source in sources {
            assert!(root.join(source).exists(), "COPY {source}: no such path");
            let top = source.split('/').next().unwrap_or_default();
            assert!(
                !ignored.iter().any(|i| i == top || i == source),
                "COPY {source} is excluded by .dockerignore"
            );
            copied.push(source.to_string());
        }
    }
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "templates",
        "static",
        "crates",
        "benches",
    ] {
        assert!(
            copied.iter().any(|c| c == needed),
            "the image build copies {needed}"
        );
    }
}

/// The image's dependency step builds from the manifests alone, with placeholder
/// sources; cargo refuses a manifest whose `[[bench]]` has no file, so the step must
/// make one for every bench of Cargo.toml. Its shell commands (up to the build) are run
/// here on a copy of the manifests, and every target must then have its file.
#[test]
fn the_dependency_step_of_the_image_makes_a_placeholder_for_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let step = dockerfile_instructions(&dockerfile)
        .into_iter()
        .find(|(k, rest)| k == "RUN" && rest.contains("fn main() {}"))
        .map(|(_, rest)| rest)
        .expect("a RUN making placeholder sources");
    let (placeholders, _) = step
        .split_once("&& cargo build")
        .expect("placeholders, then the dependency build");
    let dir = crate::helpers::tempdir();
    std::fs::copy(root.join("Cargo.toml"), dir.path().join("Cargo.toml")).expect("copy");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(placeholders)
        .current_dir(dir.path())
        .status()
        .expect("sh runs");
    assert!(status.success(), "{placeholders}");

    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest"))
            .expect("Cargo.toml parses");
    let benches: Vec<&str> = manifest["bench"]
        .as_array()
        .expect("[[bench]] tables")
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert!(benches.len() >= 4, "{benches:?}");
    // Every crate of the workspace (`members = ["crates/*"]`), its manifest copied first.
    let members: Vec<String> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|e| format!("crates/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    assert!(members.len() >= 2, "{members:?}");
    for member in &members {
        let manifest = format!("{member}/Cargo.toml");
        assert!(
            dockerfile.contains(&format!("COPY {manifest} {manifest}")),
            "the dependency step copies {manifest}"
        );
    }
    for target in benches
        .iter()
        .map(|b| format!("benches/{b}.rs"))
        .chain(["src/main.rs".into(), "src/lib.rs".into()])
        .chain(members.iter().map(|m| format!("{m}/src/lib.rs")))
    {
        assert!(dir.path().join(&target).exists(), "no placeholder {target}");
    }
}
