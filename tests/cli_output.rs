//! What apply and destroy print on stderr when it is not a terminal (the plain progress lines
//! that scripts parse), what `-v` adds, and that `-vv` logs carry no secret.

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;

const STREAM_KEY: &str = "sk-test-123";

struct Out {
    stdout: String,
    stderr: String,
}

/// The real binary against an embedded sandbox whose data file is next to `state`.
fn livestack(dir: &Path, args: &[&str]) -> Out {
    let state = dir.join("imday.json");
    let out = Command::new(env!("CARGO_BIN_EXE_livestack"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .args(["--sandbox", "--sandbox-speed", "200", "--state"])
        .arg(&state)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("FACEBOOK_STREAM_KEY", STREAM_KEY)
        .output()
        .unwrap();
    let out = Out {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(
        out.stderr.contains("Done: "),
        "livestack {args:?} failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

/// The plain progress lines: `[   1.2s] 3 medialive_channel.imday: create...`, then
/// `... create done (1.0s)` or `FAILED`, and last `Done: N steps in X.Xs.`. Returns the
/// (step, address, op) of each step started, and checks each of them is done.
fn progress_lines(stderr: &str) -> Vec<(usize, String, String)> {
    let mut started = Vec::new();
    let mut done = Vec::new();
    for line in stderr.lines().filter(|l| l.starts_with('[')) {
        let (stamp, rest) = line.split_once("] ").expect(line);
        let secs = stamp.trim_start_matches('[');
        assert_eq!(secs.len(), 7, "`{line}`: the time is {{:>6.1}}s");
        assert!(
            secs.trim().trim_end_matches('s').parse::<f64>().is_ok(),
            "{line}"
        );
        let (id, rest) = rest.split_once(' ').expect(line);
        let id: usize = id.parse().expect(line);
        let (address, what) = rest.split_once(": ").expect(line);
        if let Some(op) = what.strip_suffix("...") {
            started.push((id, address.to_string(), op.to_string()));
        } else {
            let (op, took) = what.split_once(" done (").expect(line);
            let took = took.strip_suffix("s)").expect(line);
            assert!(took.parse::<f64>().is_ok(), "{line}");
            done.push((id, address.to_string(), op.to_string()));
        }
    }
    let last = stderr.lines().last().unwrap_or_default();
    let summary = format!("Done: {} steps in ", started.len());
    assert!(
        last.starts_with(&summary) && last.ends_with("s."),
        "last line `{last}`, want `{summary}X.Xs.`"
    );
    let mut sorted = done.clone();
    sorted.sort();
    let mut want = started.clone();
    want.sort();
    assert_eq!(sorted, want, "every step started is done:\n{stderr}");
    started
}

/// Lines that are neither progress nor the summary: logs.
fn log_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.starts_with('[') && !l.starts_with("Done: "))
        .collect()
}

/// The MediaPackage ingest passwords in the sandbox's data file.
fn ingest_passwords(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("imday.sandbox.json")).unwrap();
    let cloud: Json = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for ch in cloud["mediapackage"]["channels"]
        .as_object()
        .unwrap()
        .values()
    {
        for e in ch["ingest_endpoints"].as_array().unwrap() {
            out.push(e["password"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(out.len(), 2, "{text}");
    out
}

fn assert_no_secret(out: &Out, secrets: &[String]) {
    for s in secrets {
        assert!(s.len() >= 8, "`{s}` is too short to look for");
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!text.contains(s.as_str()), "a secret is in the {name}");
        }
    }
}

#[test]
fn plain_progress_lines_v_logs_and_no_secret_at_vv() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // Section 1 at -vv: the ingest passwords go from MediaPackage's answer into SSM.
    let first = livestack(
        dir,
        &["apply", "examples/s3-loop.toml", "-vv", "--auto-approve"],
    );
    let steps = progress_lines(&first.stderr);
    assert_eq!(steps.len(), 8, "{}", first.stderr);
    assert!(
        first.stderr.contains(" DEBUG ") && first.stderr.contains("aws_smithy_runtime"),
        "-vv shows the SDK's debug logs:\n{}",
        first.stderr
    );
    let mut secrets = ingest_passwords(dir);
    assert_no_secret(&first, &secrets);

    // Section 3 at -vv: the stream key goes into the channel's RTMP destination.
    let third = livestack(
        dir,
        &[
            "apply",
            "examples/s3-loop-facebook.toml",
            "-vv",
            "--auto-approve",
        ],
    );
    let steps = progress_lines(&third.stderr);
    assert!(
        steps
            .iter()
            .any(|(_, a, op)| a == "medialive_channel.imday" && op == "update"),
        "{}",
        third.stderr
    );
    let cloud = std::fs::read_to_string(dir.join("imday.sandbox.json")).unwrap();
    assert!(cloud.contains(STREAM_KEY), "the key reached the channel");
    secrets.push(STREAM_KEY.to_string());
    assert_no_secret(&third, &secrets);

    // Back to section 1 without -v: the plain lines and nothing else.
    let back = livestack(dir, &["apply", "examples/s3-loop.toml", "--auto-approve"]);
    let steps = progress_lines(&back.stderr);
    let ops: Vec<&str> = steps.iter().map(|(_, _, op)| op.as_str()).collect();
    assert!(
        ops.contains(&"update_class") && ops.contains(&"start"),
        "{ops:?}"
    );
    assert_eq!(log_lines(&back.stderr), Vec::<&str>::new());

    // -v: the phases of each step as info logs, besides the same plain lines.
    let destroy = livestack(
        dir,
        &["destroy", "examples/s3-loop.toml", "-v", "--auto-approve"],
    );
    let steps = progress_lines(&destroy.stderr);
    assert_eq!(steps.len(), 8, "{}", destroy.stderr);
    let logs = log_lines(&destroy.stderr);
    for phase in [
        "medialive_channel.imday: stop: calling StopChannel",
        "medialive_channel.imday: stop: waiting for IDLE",
        "medialive_input.imday-hls: delete: waiting until detached",
        "mediapackage_channel.imday-mp: delete: calling DeleteChannel",
    ] {
        assert!(
            logs.iter()
                .any(|l| l.contains(" INFO ") && l.contains(phase)),
            "no `{phase}` log:\n{}",
            destroy.stderr
        );
    }
    assert!(
        !destroy.stderr.contains(" DEBUG "),
        "-v is info only:\n{}",
        destroy.stderr
    );
    assert_no_secret(&destroy, &secrets);
}

/// A stack file that cannot be read: one line naming the file and the cause, once.
#[test]
fn an_unreadable_stack_file_is_one_line_naming_it_and_its_cause_once() {
    for command in ["validate", "plan", "show"] {
        let out = Command::new(env!("CARGO_BIN_EXE_livestack"))
            .args([command, "no-such-stack.toml"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{command}: {stderr}");
        assert!(
            lines[0].contains("no-such-stack.toml"),
            "{command}: {stderr}"
        );
        assert_eq!(
            lines[0].matches("No such file or directory").count(),
            1,
            "{command}: {stderr}"
        );
    }
}

/// A region AWS does not have, given on the command line: one line, before anything is
/// locked or called.
#[test]
fn a_region_aws_does_not_have_is_refused_in_one_line() {
    for region in ["eu-west1", "mars-north-1", ""] {
        let out = Command::new(env!("CARGO_BIN_EXE_livestack"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["plan", "examples/s3-loop.toml", "--region", region])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{region}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: --region `{region}`: ")),
            "{stderr}"
        );
    }
}
