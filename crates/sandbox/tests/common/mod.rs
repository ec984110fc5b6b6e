//! Helpers shared by the sandbox's integration tests: start a sandbox on a free loopback
//! port, build aws-sdk configs for it, and run the real AWS CLI against it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use livestack_sandbox::{start, Config, Faults, Running};

/// A sandbox on a free port, fast enough for tests (a 60 s AWS start takes 30 ms).
pub async fn sandbox() -> Running {
    sandbox_with(Faults::default()).await
}

pub async fn sandbox_with(faults: Faults) -> Running {
    start(Config {
        port: 0,
        data: None,
        speed: 2000.0,
        faults,
        ..Config::default()
    })
    .await
    .expect("sandbox starts")
}

/// An SDK config with dummy credentials pointed at the sandbox.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_medialive::config::Credentials::new(
            "AKIDSANDBOX",
            "sandbox-secret",
            None,
            None,
            "sandbox",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The AWS CLI to test with: `$LIVESTACK_AWS_CLI`, else `aws` on PATH. When missing, a
/// local run says so and the caller skips; under CI (`CI` set) a missing CLI fails the test.
pub fn aws_cli() -> Option<PathBuf> {
    let found = std::env::var_os("LIVESTACK_AWS_CLI")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("aws"))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("the AWS CLI is required under CI: install awscli (see .ci/run) or set LIVESTACK_AWS_CLI");
        }
        eprintln!("SKIPPED: the AWS CLI (`aws`) is not installed; `pip install awscli` or set LIVESTACK_AWS_CLI to run the conformance test");
    }
    found
}

/// What one `aws` run printed.
#[derive(Debug)]
pub struct CliOutput {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// stdout parsed as JSON (`{}` when empty).
    pub fn json(&self) -> serde_json::Value {
        if self.stdout.trim().is_empty() {
            return serde_json::json!({});
        }
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("aws printed no JSON ({e}): {}", self.stdout))
    }
}

/// Runs `aws --endpoint-url ENDPOINT ARGS... --output json` with dummy credentials and no
/// retries, isolated from the user's own AWS configuration.
pub fn aws(cli: &PathBuf, endpoint: &str, args: &[&str]) -> CliOutput {
    let out = Command::new(cli)
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .args(["--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "AKIDSANDBOX")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/livestack/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/livestack/credentials",
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("aws runs");
    CliOutput {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `aws ARGS` against `endpoint` from a multi-threaded tokio test without blocking
/// the sandbox's runtime.
pub fn aws_in_runtime(cli: &PathBuf, endpoint: &str, args: &[&str]) -> CliOutput {
    tokio::task::block_in_place(|| aws(cli, endpoint, args))
}

/// `aws ARGS` that must succeed; its JSON output.
pub fn ok(cli: &PathBuf, endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = aws_in_runtime(cli, endpoint, args);
    assert!(out.ok, "aws {args:?} failed: {}", out.stderr);
    out.json()
}

/// `aws ARGS` that must fail with `code` (an error code, or an HTTP status for a HEAD, whose
/// errors have no body) named in stderr as `(code)`.
pub fn fails(cli: &PathBuf, endpoint: &str, args: &[&str], code: &str) {
    let out = aws_in_runtime(cli, endpoint, args);
    assert!(!out.ok, "aws {args:?} succeeded: {}", out.stdout);
    assert!(
        out.stderr.contains(&format!("({code})")),
        "aws {args:?}: expected {code}, got: {}",
        out.stderr
    );
}

/// One raw HTTP/1.1 call to the sandbox, for the admin endpoints and for requests the SDKs
/// cannot send. Returns the status and the body.
pub async fn http(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_with_headers(endpoint, method, path, body).await;
    (status, body)
}

/// [`http`], also returning the response headers (names lower-cased), to check the wire
/// shape of an answer as a client nobody here wrote would see it.
pub async fn http_with_headers(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    http_request(
        endpoint,
        method,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// [`http_with_headers`] with the request's own headers (besides host, content-length and
/// connection), e.g. an `Authorization` whose scope routes the call to S3.
pub async fn http_request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = endpoint
        .strip_prefix("http://")
        .expect("endpoint is http://HOST:PORT")
        .to_string();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the sandbox");
        stream.write_all(request.as_bytes()).expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read response");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, body.to_string())
    })
    .await
    .expect("http call")
}

/// The sandbox's request log (`GET /_sandbox/requests`).
pub async fn request_log(endpoint: &str) -> Vec<serde_json::Value> {
    let (status, body) = http(endpoint, "GET", "/_sandbox/requests", "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("the request log is a JSON array")
}

/// Replaces the sandbox's faults over `PUT /_sandbox/faults` (a JSON object of
/// [`Faults`] members; the rest default) and checks it was accepted.
pub async fn put_faults(endpoint: &str, faults_json: &str) {
    let (status, body) = http(endpoint, "PUT", "/_sandbox/faults", faults_json).await;
    assert_eq!(status, 200, "PUT /_sandbox/faults {faults_json}: {body}");
}
