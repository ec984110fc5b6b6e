//! Every plan says where it goes: the target (AWS account and region, or sandbox world) in
//! the plan's header and JSON, recorded by the state and a saved plan, and refused when a run
//! reaches another; errors met before the cloud answers are one line naming the target.

use serde_json::Value as Json;

use crate::harness::{assert_shows, Run, World};
use crate::safety::s1;

/// The operations the sandbox answered since the first `since` requests.
fn operations_since(w: &World, since: usize) -> Vec<String> {
    w.requests()[since..]
        .iter()
        .map(|r| r.operation.clone())
        .collect()
}

/// The one `error:` line of a failed run, every other line of stderr being a retry warning.
#[track_caller]
fn error_line(run: &Run) -> &str {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("warning: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", run.stderr);
    assert!(errors[0].starts_with("error: "), "{}", run.stderr);
    errors[0]
}

/// Today's report: `--sandbox` and `--sandbox-url` sharing `state/imday.json` ended in a
/// NotFoundException. The state records the embedded sandbox's world; the other sandbox is
/// refused in one line naming both, before any call but the one asking who it is.
#[test]
fn sandbox_and_sandbox_url_sharing_a_state_are_refused_naming_both() {
    let w = World::new("two-sandboxes");
    let s1 = s1();
    let embedded = ["--sandbox", "--sandbox-speed", "200"];
    let mut apply = vec!["apply", &s1, "--auto-approve"];
    apply.extend(embedded);
    let applied = w.run_bare(&apply, &[]).expect(0);
    let state: Json =
        serde_json::from_str(&std::fs::read_to_string(w.dir.join("state/imday.json")).unwrap())
            .unwrap();
    let world = state["target"]["world"].as_str().unwrap().to_string();
    assert_eq!(state["target"]["kind"], "sandbox", "{}", state["target"]);
    assert_eq!(state["target"]["data_file"], "state/imday.sandbox.json");
    assert_eq!(world.len(), 16);
    assert_shows(
        &applied.stdout,
        &[&format!(
            "\nTarget: embedded sandbox state/imday.sandbox.json (world {world}, us-east-1)\n"
        )],
    );

    let url = w.sandbox.endpoint_url();
    let other = w.sandbox.identity().world;
    assert_ne!(other, world);
    let expected = format!(
        "error: state/imday.json: the state belongs to embedded sandbox \
         state/imday.sandbox.json (world {world}, us-east-1), but this run targets sandbox at \
         {url} (world {other}, us-east-1); give the options that reach its target, or another --state\n"
    );
    for args in [
        vec!["plan", &s1, "--sandbox-url", &url],
        vec!["apply", &s1, "--sandbox-url", &url, "--auto-approve"],
        vec!["destroy", &s1, "--sandbox-url", &url, "--auto-approve"],
    ] {
        let before = w.requests().len();
        let refused = w.run_bare(&args, &[]).expect(1);
        assert_eq!(refused.stderr, expected, "{args:?}");
        assert!(!refused.all().contains("NotFoundException"));
        assert_eq!(
            operations_since(&w, before),
            ["GetCallerIdentity"],
            "{args:?}"
        );
    }
    // Its own target still plans, as before.
    let mut plan = vec!["plan", &s1, "--detailed-exitcode"];
    plan.extend(embedded);
    w.run_bare(&plan, &[]).expect(0);
}

/// A saved plan records its target and the options that reach it (never credentials), is
/// private to its owner, applies with no option repeated, and is refused, naming both, by
/// options that reach another target.
#[test]
fn a_saved_plan_applies_only_to_its_target_and_needs_no_flags_repeated() {
    let w = World::new("saved-plan-target");
    let s1 = s1();
    let url = w.sandbox.endpoint_url();
    let world = w.sandbox.identity().world;
    let made = w.run(&["plan", &s1, "--out", "s1.plan"]).expect(0);
    let header = format!("Target: sandbox at {url} (world {world}, us-east-1)");
    assert_shows(&made.stdout, &[&header]);
    let plan_file = w.dir.join("s1.plan");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&plan_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&plan_file).unwrap();
    let saved: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["livestack_saved_plan"], 2);
    assert_eq!(saved["target"]["world"], world.as_str());
    assert_eq!(saved["plan"]["target"], saved["target"]);
    assert_eq!(
        saved["reach"],
        serde_json::json!({ "sandbox_url": url, "region": "us-east-1" })
    );
    assert!(!text.contains("AKIDSANDBOX") && !text.contains("sandbox-secret"));
    // `show` prints it with its target, as plan did.
    let shown = w.run_bare(&["show", "s1.plan"], &[]).expect(0);
    assert_eq!(shown.stdout, made.stdout);

    // Options that reach another target: the embedded sandbox (another world), another region.
    let embedded_data = w.dir.join("imday.sandbox.json");
    let refusals = [
        (
            vec!["apply", "s1.plan", "--sandbox", "--auto-approve"],
            format!("embedded sandbox {} (world ", embedded_data.display()),
        ),
        (
            vec![
                "apply",
                "s1.plan",
                "--region",
                "eu-west-1",
                "--auto-approve",
            ],
            format!("sandbox at {url} (world {world}, eu-west-1)"),
        ),
    ];
    for (args, other) in refusals {
        let before = w.requests().len();
        let refused = w.run_bare(&args, &[]).expect(1);
        let line = error_line(&refused);
        assert_shows(
            line,
            &[
                &format!(
                    "s1.plan: the plan was made for sandbox at {url} (world {world}, us-east-1)"
                ),
                &format!("but this apply targets {other}"),
            ],
        );
        assert!(
            w.mutations_since(before).is_empty(),
            "{args:?} changed nothing"
        );
        // Nor in the embedded sandbox a `--sandbox` run would have reached.
        if let Ok(text) = std::fs::read_to_string(&embedded_data) {
            let cloud: serde_json::Value = serde_json::from_str(&text).unwrap();
            for (service, kind) in [("medialive", "channels"), ("iam", "roles")] {
                let made = cloud[service][kind].as_object().map_or(0, |m| m.len());
                assert_eq!(made, 0, "{args:?} made {service} {kind}: {text}");
            }
        }
        assert!(!w.state_path().exists(), "{args:?} wrote no state");
    }

    // No option repeated: its own sandbox, state and region.
    let applied = w
        .run_bare(&["apply", "s1.plan", "--auto-approve"], &[])
        .expect(0);
    assert_shows(&applied.stdout, &[&header]);
    assert_eq!(w.inventory().channels, ["imday"]);
    let (state_json, _) = w.state();
    assert_eq!(state_json["target"]["world"], world.as_str());
    assert_eq!(state_json["target"]["url"], url.as_str());
}

/// No credentials (none in the environment, empty AWS config files, no instance metadata)
/// and a port nobody listens on: one error line naming where the calls were to go and why,
/// never the SDK's Debug dump.
#[test]
fn credential_and_network_errors_are_one_line_naming_the_target() {
    let w = World::new("no-credentials");
    let s1 = s1();
    let empty = w.dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();
    let url = w.sandbox.endpoint_url();
    let no_credentials = [
        ("AWS_CONFIG_FILE", empty),
        ("AWS_SHARED_CREDENTIALS_FILE", empty),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let refused = w
        .run_bare(
            &["plan", &s1, "--endpoint-url", &url, "--region", "eu-west-1"],
            &no_credentials,
        )
        .expect(1);
    assert_eq!(
        refused.stderr,
        format!(
            "error: cannot reach AWS at the endpoint {url} (eu-west-1, profile default): \
             GetCallerIdentity: no AWS credentials found (tried Environment, Profile, \
             WebIdentityToken, EcsContainer, Ec2InstanceMetadata)\n"
        )
    );
    assert!(w.requests().is_empty(), "nothing reached the endpoint");

    // A closed port, with the sandbox's dummy credentials and with real-looking ones.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let refused = w
        .run_bare(&["plan", &s1, "--sandbox-url", &closed], &[])
        .expect(1);
    assert_eq!(
        error_line(&refused),
        format!("error: cannot reach the sandbox at {closed} (us-east-1): GetCallerIdentity: connection refused")
    );
    let mut with_keys = no_credentials.to_vec();
    with_keys.extend([
        ("AWS_ACCESS_KEY_ID", "AKIDCLOSEDPORT"),
        ("AWS_SECRET_ACCESS_KEY", "closed-port-secret"),
    ]);
    let refused = w
        .run_bare(
            &[
                "plan",
                &s1,
                "--endpoint-url",
                &closed,
                "--region",
                "eu-west-1",
            ],
            &with_keys,
        )
        .expect(1);
    assert_eq!(
        error_line(&refused),
        format!("error: cannot reach AWS at the endpoint {closed} (eu-west-1): GetCallerIdentity: connection refused")
    );
    assert!(!refused.all().contains("closed-port-secret"));
    for line in refused.stderr.lines() {
        assert!(line.len() < 300, "no Debug dump: {line}");
    }
}

/// Run from another directory (no state there) against a cloud holding the stack: the plan
/// says where it looked for the state, where it found the resources, and that it adopts them;
/// and a state written before states named their target takes it at its next write.
#[test]
fn without_a_state_the_plan_says_where_it_looked_and_that_it_adopts() {
    let w = World::new("no-state-adopts");
    let s1 = s1();
    let url = w.sandbox.endpoint_url();
    let world = w.sandbox.identity().world;
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);

    let elsewhere = ["--sandbox-url", &url, "--state", "laptop/imday.json"];
    let mut plan = vec!["plan", &s1];
    plan.extend(elsewhere);
    let shown = w.run_bare(&plan, &[]).expect(0);
    let said = format!(
        "Warning: no state at laptop/imday.json: 7 resources of stack \"imday\" found in \
         sandbox at {url} (world {world}, us-east-1) by their ownership tags; apply adopts them into that \
         state (no AWS call)"
    );
    assert_shows(&shown.stdout, &[&said]);
    plan.push("--json");
    let json: Json = serde_json::from_str(&w.run_bare(&plan, &[]).expect(0).stdout).unwrap();
    assert_eq!(json["target"]["kind"], "sandbox");
    assert_eq!(json["target"]["world"], world.as_str());
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("no state at laptop/imday.json: 7 resources"),
        "{json}"
    );

    // A state written before states recorded their target (none in it) takes one at its next
    // write: here, the adoption of a resource the state lost.
    let (mut old, _) = w.state();
    old.as_object_mut().unwrap().remove("target");
    let resources = old["resources"].as_object_mut().unwrap();
    let lost = resources.keys().next().cloned().unwrap();
    resources.remove(&lost);
    std::fs::write(w.state_path(), serde_json::to_string_pretty(&old).unwrap()).unwrap();
    let plan = w.run(&["plan", &s1]).expect(0);
    assert!(!plan.stdout.contains("no state at"), "{}", plan.stdout);
    assert_shows(&plan.stdout, &[&format!("  = {lost}")]);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let (now, _) = w.state();
    assert_eq!(now["target"]["world"], world.as_str(), "{}", now["target"]);
    assert!(now["resources"].get(&lost).is_some());
}
