//! Issue 2, point 2: a real outside client (boto3) drives `certdeck sandbox`, the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::tempdir;

/// Starts `certdeck sandbox` on free ports and reads its endpoint from what it prints.
fn start_sandbox_binary(ca_out: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--edge-listen",
            "127.0.0.1:0",
            "--seed",
            "empty",
        ])
        .arg("--ca-out")
        .arg(ca_out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("certdeck sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let endpoint = loop {
        let line = lines.next().expect("a line").expect("utf-8");
        printed.push(line.clone());
        if let Some(url) = line.trim().strip_prefix("endpoint:") {
            break url.trim().to_owned();
        }
    };
    for _ in 0..3 {
        if let Some(Ok(line)) = lines.next() {
            printed.push(line);
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, endpoint, printed)
}

#[test]
fn boto3_drives_the_sandbox_binary_and_sigterm_stops_it() {
    let work = tempdir();
    let ca_out = work.path().join("ca.pem");
    let (mut child, endpoint, printed) = start_sandbox_binary(&ca_out);
    assert!(
        printed.iter().any(|l| l.trim().starts_with("edge:")),
        "{printed:?}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&ca_out.display().to_string())),
        "{printed:?}"
    );
    let ca = std::fs::read_to_string(&ca_out).expect("the CA was written");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));

    let output = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/boto3_roundtrip.py"
        ))
        .arg(&endpoint)
        .arg(work.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "boto3 round trip failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("boto3 round trip passed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 25,
        "{stdout}"
    );

    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sandbox did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

/// The virtualenv `.ci/test` prepares, unless told otherwise.
pub fn python() -> String {
    std::env::var("CERTDECK_TEST_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python");
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "python3".to_owned()
        }
    })
}
