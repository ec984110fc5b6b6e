//! What the README promises and no other test showed: `running = false`, a deposed copy
//! deleted on the next apply, `encoder_settings = { file = ... }`, `RUST_LOG=trace` without
//! secrets, a destroy without a state next to someone else's same-named role, `validate`,
//! `sandbox serve`, `--region`, `--endpoint-url`, and a saved plan whose stack file changed.

use std::path::PathBuf;

use livestack_model::Address;
use serde_json::{json, Value as Json};

use crate::harness::{
    assert_shows, change, example, plan_json, section_1_inventory, state_addresses, Run, World,
};

/// Section 1's stack file, edited by `edit` and written as `name` in the test's directory.
fn edited_s1(w: &World, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(example("s3-loop.toml")).unwrap();
    let edited = edit(text);
    let path = w.dir.join(name);
    std::fs::write(&path, edited).unwrap();
    path.to_str().unwrap().to_string()
}

/// `text` with `from` replaced by `to`; `from` must be there.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "no `{from}` to replace");
    text.replace(from, to)
}

fn ops_since(w: &World, before: usize) -> Vec<String> {
    w.mutations_since(before)
        .into_iter()
        .map(|(op, _, _)| op)
        .collect()
}

/// Releases the lock a killed run left, as the user would (`force-unlock STACK ID`).
fn force_unlock(w: &World, stack: &str) {
    let lock = w.state_path().with_extension("json.lock");
    let info: Json = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    let state = w.state_path();
    w.run(&[
        "force-unlock",
        stack,
        info["id"].as_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ])
    .expect(0);
}

#[test]
fn running_false_creates_a_channel_stopped_starts_it_later_and_stops_it_again() {
    let w = World::new("running-false");
    let stopped = edited_s1(&w, "stopped.toml", |t| {
        replaced(&t, "running = true", "running = false")
    });
    let running = edited_s1(&w, "running.toml", |t| t);

    w.run(&["apply", &stopped, "--auto-approve"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    assert_eq!(w.channel().1["state"], "IDLE", "created, not started");
    assert!(
        !w.requests().iter().any(|r| r.operation == "StartChannel"),
        "never started"
    );
    w.run(&["plan", &stopped, "--detailed-exitcode"]).expect(0);

    // running = true later: a start, nothing else.
    let plan = plan_json(&w, &running);
    assert_eq!(
        change(&plan, "medialive_channel.imday")["ops"],
        json!(["start"])
    );
    let before = w.requests().len();
    w.run(&["apply", &running, "--auto-approve"]).expect(0);
    assert_eq!(ops_since(&w, before), ["StartChannel"]);
    assert_eq!(w.channel().1["state"], "RUNNING");
    w.run(&["plan", &running, "--detailed-exitcode"]).expect(0);

    // running = false on a running channel: a stop, marked as an interruption.
    let plan = plan_json(&w, &stopped);
    let ch = change(&plan, "medialive_channel.imday");
    assert_eq!(
        (&ch["ops"], &ch["interrupts"]),
        (&json!(["stop"]), &json!(true)),
        "{ch}"
    );
    let before = w.requests().len();
    w.run(&["apply", &stopped, "--auto-approve"]).expect(0);
    assert_eq!(ops_since(&w, before), ["StopChannel"]);
    assert_eq!(w.channel().1["state"], "IDLE");
    w.run(&["plan", &stopped, "--detailed-exitcode"]).expect(0);
    w.run(&["destroy", &stopped, "--auto-approve"]).expect(0);
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

#[test]
fn the_deposed_copy_of_an_interrupted_replacement_is_deleted_on_the_next_apply() {
    let w = World::new("deposed");
    let s1 = edited_s1(&w, "s1.toml", |t| t);
    let renamed = edited_s1(&w, "renamed.toml", |t| {
        replaced(
            &t,
            "id = \"imday-mp-hlsendpoint\"",
            "id = \"imday-mp-hlsendpoint-2\"",
        )
    });
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let plan = plan_json(&w, &renamed);
    assert_eq!(
        change(&plan, "mediapackage_endpoint.imday-hls")["action"],
        "replace"
    );

    // The replacement is killed while the old copy's delete is held: the new copy is made,
    // the old one is deposed in the state and still in the cloud.
    w.sandbox.hold(Some("mediapackage"), "DeleteOriginEndpoint");
    let mut apply = w.spawn(&["apply", &renamed, "--auto-approve"]);
    w.wait_held("DeleteOriginEndpoint", 1);
    apply.kill().unwrap();
    apply.wait().unwrap();
    w.wait_held("DeleteOriginEndpoint", 0);
    w.sandbox.release("DeleteOriginEndpoint");
    assert_eq!(
        w.inventory().mp_endpoints,
        ["imday-mp-hlsendpoint", "imday-mp-hlsendpoint-2"]
    );
    let (state, _) = w.state();
    let deposed: Vec<&str> = state["deposed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deposed, ["imday-mp-hlsendpoint"], "{state}");
    force_unlock(&w, &renamed);

    // The next plan shows the old copy's delete, and the next apply does it, and only that.
    let plan = w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(2);
    let steps: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.contains("(old copy "))
        .map(str::trim)
        .collect();
    assert_eq!(
        steps,
        ["1  delete        mediapackage_endpoint.imday-hls (old copy imday-mp-hlsendpoint)"],
        "{}",
        plan.stdout
    );
    let before = w.requests().len();
    w.run(&["apply", &renamed, "--auto-approve"]).expect(0);
    let made = w.mutations_since(before);
    assert_eq!(
        made.iter()
            .map(|(op, r, _)| (op.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [("DeleteOriginEndpoint", "imday-mp-hlsendpoint")],
        "{made:?}"
    );
    assert_eq!(w.inventory().mp_endpoints, ["imday-mp-hlsendpoint-2"]);
    let (state, _) = w.state();
    assert_eq!(state["deposed"], json!([]), "{state}");
    w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(0);
}

/// Section 2 with its output group named as AWS's own MediaPackage group JSON addresses its
/// destination, and its EncoderSettings taken from that file.
fn encoder_file_stack(w: &World, json_file: &str) -> String {
    let text = std::fs::read_to_string(example("laptop-rtmp.toml")).unwrap();
    let text = replaced(
        &text,
        "role = \"iam_role.medialive\"\n",
        &format!(
            "role = \"iam_role.medialive\"\nencoder_settings = {{ file = \"{json_file}\" }}\n"
        ),
    );
    let text = replaced(
        &text,
        "name = \"mediapackage\"\ntype = \"mediapackage\"",
        "name = \"destination1\"\ntype = \"mediapackage\"",
    );
    // The file gives the renditions: a ladder would have no effect (an error).
    let text = replaced(&text, "ladder = \"720p\"\n", "");
    let path = w.dir.join("encoder.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A file of AWS's own channel JSON, copied into `tests/e2e/fixtures/` (its source is in
/// the README there).
fn reference_json(name: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn encoder_settings_from_a_file_are_applied_diffed_and_their_errors_located() {
    let w = World::new("encoder-file");
    // AWS's own EncoderSettings for a MediaPackage output group (720p ladder).
    let mut settings = reference_json("lsoa-v4.2.17_hd-720p_mediapackage-group.json");
    let file = w.dir.join("encoder.json");
    std::fs::write(&file, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
    let stack = encoder_file_stack(&w, "encoder.json");

    let ok = w.run(&["validate", &stack]).expect(0);
    assert_eq!(ok.stdout, format!("{stack}: ok (6 resources)\n"));
    w.run(&["apply", &stack, "--auto-approve"]).expect(0);
    let (_, ch) = w.channel();
    let sent = &ch["encoder_settings"];
    let names = |v: &Json, key: &str, member: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d[member].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(sent, "videoDescriptions", "name"),
        names(&settings, "VideoDescriptions", "Name"),
        "the file's video descriptions reached the channel"
    );
    assert_eq!(
        sent["outputGroups"][0]["name"],
        settings["OutputGroups"][0]["Name"]
    );
    w.run(&["plan", &stack, "--detailed-exitcode"]).expect(0);

    // An edit of the file is a diff of the channel, applied as its update.
    let bitrate =
        &mut settings["VideoDescriptions"][0]["CodecSettings"]["H264Settings"]["MaxBitrate"];
    let old = bitrate
        .as_u64()
        .expect("a MaxBitrate in the first video description");
    *bitrate = json!(old - 1000);
    std::fs::write(&file, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
    let plan = w.run(&["plan", &stack, "--detailed-exitcode"]).expect(2);
    assert_shows(
        &plan.stdout,
        &["medialive_channel.imday-live", &(old - 1000).to_string()],
    );
    let json = plan_json(&w, &stack);
    assert_eq!(
        change(&json, "medialive_channel.imday-live")["action"],
        "update"
    );
    let before = w.requests().len();
    w.run(&["apply", &stack, "--auto-approve"]).expect(0);
    assert_eq!(
        ops_since(&w, before),
        ["StopChannel", "UpdateChannel", "StartChannel"]
    );
    let (_, ch) = w.channel();
    assert_eq!(
        ch["encoder_settings"]["videoDescriptions"][0]["codecSettings"]["h264Settings"]
            ["maxBitrate"],
        old - 1000
    );
    w.run(&["plan", &stack, "--detailed-exitcode"]).expect(0);

    // Errors name the stack file's line and column, and the JSON's.
    std::fs::write(&file, "{\n  \"OutputGroups\": [,]\n}\n").unwrap();
    let at = located_at(&stack, "\"encoder.json\"");
    let bad = w.run(&["validate", &stack]).expect(1);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.starts_with(&at), "not at {at}: {}", bad.stderr);
    assert_shows(
        &bad.stderr,
        &["encoder.json` line 2 column 20: invalid JSON"],
    );

    let mut elsewhere = reference_json("lsoa-v4.2.17_hd-720p_mediapackage-group.json");
    elsewhere["OutputGroups"][0]["OutputGroupSettings"]["MediaPackageGroupSettings"]
        ["Destination"]["DestinationRefId"] = json!("nowhere");
    std::fs::write(&file, serde_json::to_string(&elsewhere).unwrap()).unwrap();
    let bad = w.run(&["validate", &stack]).expect(1);
    assert!(bad.stderr.starts_with(&at), "not at {at}: {}", bad.stderr);
    assert_shows(
        &bad.stderr,
        &[
            "sends to destination `nowhere`, which no output group declares",
            "destination1",
        ],
    );
}

/// `PATH:LINE:COLUMN: `, where `needle` first stands in the file at `path`: the start of
/// a problem's line as livestack reports it.
fn located_at(path: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or_else(|| panic!("no {needle} in {path}"));
    format!("{path}:{line}:{column}: ")
}

#[test]
fn rust_log_trace_prints_no_secret() {
    const STREAM_KEY: &str = "FB-trace-stream-key-0042";
    let mut w = World::new("trace");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    w.env.push(("RUST_LOG".into(), "trace".into()));
    let s1 = example("s3-loop.toml");
    let s3 = example("s3-loop-facebook.toml");
    let runs: Vec<Run> = vec![
        w.run(&["apply", s1.to_str().unwrap(), "--auto-approve"])
            .expect(0),
        w.run(&["apply", s3.to_str().unwrap(), "--auto-approve"])
            .expect(0),
        w.run(&["plan", s3.to_str().unwrap()]).expect(0),
        w.run(&["outputs", s3.to_str().unwrap()]).expect(0),
    ];
    let mut secrets = w.ingest_passwords();
    let (_, ch) = w.channel();
    assert!(
        ch["destinations"].to_string().contains(STREAM_KEY),
        "the key was delivered"
    );
    secrets.push(STREAM_KEY.into());
    for (i, run) in runs.iter().enumerate() {
        // Trace logs were written (the check is not vacuous), the SDK's among them.
        assert!(
            run.stderr.lines().filter(|l| l.contains("TRACE")).count() > 10,
            "run {i} logged no trace:\n{}",
            run.stderr
        );
        for s in &secrets {
            assert!(
                !run.all().contains(s.as_str()),
                "a secret is in the output of run {i}"
            );
        }
    }
}

#[test]
fn destroy_without_a_state_leaves_a_same_named_role_that_is_not_the_stacks_alone() {
    let w = World::new("destroy-not-ours");
    // The console's default role name, made out of band, without livestack's tags.
    let c = w.clients();
    let addr = Address::parse("iam_role.console").unwrap();
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "medialive.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    });
    w.block_on(c.create(
        &addr,
        &json!({ "RoleName": "MediaLiveAccessRole", "Path": "/", "AssumeRolePolicyDocument": trust }),
        "t",
    ))
    .unwrap();
    let role_before = w.cloud()["iam"]["roles"].clone();
    assert_eq!(w.inventory().roles, ["MediaLiveAccessRole"]);

    let s1 = example("s3-loop.toml");
    let before = w.requests().len();
    let destroyed = w.run(&["destroy", s1.to_str().unwrap(), "--auto-approve"]);
    assert!(
        w.mutations_since(before).is_empty(),
        "nothing was changed: {:?}\n{}",
        w.mutations_since(before),
        destroyed.all()
    );
    assert_eq!(
        w.cloud()["iam"]["roles"],
        role_before,
        "the role is untouched"
    );
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert_shows(&destroyed.stdout, &["0 to delete"]);
}

#[test]
fn validate_says_ok_or_every_problem_with_its_line_and_column() {
    let w = World::new("validate");
    let s1 = example("s3-loop.toml");
    let s2 = example("laptop-rtmp.toml");
    let (s1, s2) = (s1.to_str().unwrap(), s2.to_str().unwrap());
    let ok = w.run(&["validate", s1, s2]).expect(0);
    assert_eq!(
        ok.stdout,
        format!("{s1}: ok (7 resources)\n{s2}: ok (6 resources)\n")
    );
    assert_eq!(ok.stderr, "");

    let bad = edited_s1(&w, "bad.toml", |t| {
        let t = replaced(&t, "class = \"standard\"", "class = \"premium\"");
        replaced(
            &t,
            "destination = \"mediapackage_channel.imday-mp\"",
            "destination = \"mediapackage_channel.nope\"",
        )
    });
    let out = w.run(&["validate", &bad, s1]).expect(1);
    let problems: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with(bad.as_str()))
        .collect();
    assert_eq!(
        problems.len(),
        2,
        "both problems, each on its line:\n{}",
        out.stderr
    );
    for needle in ["\"premium\"", "\"mediapackage_channel.nope\""] {
        let at = located_at(&bad, needle);
        assert!(
            problems.iter().any(|l| l.starts_with(&at)),
            "no problem at {at}\n{}",
            out.stderr
        );
    }
    assert_shows(&out.stderr, &["premium", "mediapackage_channel.nope"]);
    // The good file is still checked, and said to be fine.
    assert_eq!(out.stdout, format!("{s1}: ok (7 resources)\n"));
    assert!(w.requests().is_empty(), "validate calls no AWS API");
}

#[test]
fn sandbox_serve_answers_keeps_its_cloud_and_stops_on_ctrl_c() {
    use std::io::{Read, Write};
    let w = World::new("serve");
    let data = w.dir.join("cloud.json");
    let data = data.to_str().unwrap();
    let get = |url: &str, path: &str| -> String {
        let addr = url.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let serve = |w: &World| {
        let live = crate::harness::Live::start(
            w.bare_command(&[
                "sandbox", "serve", "--port", "0", "--data", data, "--speed", "200",
            ]),
            &["sandbox", "serve"],
        );
        let line = live.wait_line("naming the URL", |l| {
            l.starts_with("livestack sandbox listening on ")
        });
        let url = line
            .trim_start_matches("livestack sandbox listening on ")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        (live, url)
    };
    let stop = |live: crate::harness::Live| {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &live.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        live.finish()
    };

    let (live, url) = serve(&w);
    let log = get(&url, "/_sandbox/requests");
    assert!(log.starts_with("HTTP/1.1 200"), "{log}");
    assert!(
        log.trim_end().ends_with("[]"),
        "an empty request log: {log}"
    );
    let s2 = example("laptop-rtmp.toml");
    let state = w.state_path();
    // livestack against the served sandbox, as the README shows.
    let livestack = |url: &str, args: &[&str]| {
        let mut all = vec![args[0], s2.to_str().unwrap()];
        all.extend(&args[1..]);
        all.extend(["--sandbox-url", url, "--state", state.to_str().unwrap()]);
        w.run_bare(&all, &[])
    };
    livestack(&url, &["apply", "--auto-approve"]).expect(0);
    let log = get(&url, "/_sandbox/requests");
    assert_shows(&log, &["\"CreateChannel\"", "\"StartChannel\""]);
    let stopped = stop(live);
    assert_eq!(stopped.code, 0, "{}", stopped.all());
    assert_shows(
        &stopped.stdout,
        &[
            &format!("cloud persisted to {data}"),
            "press Ctrl-C to stop",
        ],
    );

    // Served again from its data file: the same cloud.
    let (live, url) = serve(&w);
    let cloud = get(&url, "/_sandbox/cloud");
    assert_shows(&cloud, &["\"imday-live\"", "\"imday-live-channel\""]);
    livestack(&url, &["plan", "--detailed-exitcode"]).expect(0);
    assert_eq!(stop(live).code, 0);
}

#[test]
fn region_reaches_the_arns_and_urls_and_a_plan_for_another_region_is_refused() {
    let w = World::new("region");
    let s1 = example("s3-loop.toml");
    let s1 = s1.to_str().unwrap();
    let state = w.state_path();
    let state = state.to_str().unwrap();
    // The embedded sandbox builds its cloud in the region given.
    let target = [
        "--sandbox",
        "--sandbox-speed",
        "200",
        "--state",
        state,
        "--region",
        "eu-west-1",
    ];
    let mut apply = vec!["apply", s1, "--auto-approve"];
    apply.extend(target);
    w.run_bare(&apply, &[]).expect(0);
    let mut outputs = vec!["outputs", s1, "--json"];
    outputs.extend(target);
    let out = w.run_bare(&outputs, &[]).expect(0);
    let out: Json = serde_json::from_str(&out.stdout).unwrap();
    let url = out["endpoints"][0]["playback_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(url.contains(".eu-west-1."), "{url}");
    let (saved, _) = w.state();
    assert_eq!(state_addresses(&saved).len(), 7);
    for (address, r) in saved["resources"].as_object().unwrap() {
        if let Some(arn) = r["arn"].as_str().filter(|a| !a.starts_with("arn:aws:iam:")) {
            assert!(arn.contains(":eu-west-1:"), "{address}: {arn}");
        }
    }

    // A plan saved for one region is not applied to another; without options it goes to its
    // own.
    let w2 = World::new("region-saved-plan");
    let plan_file = w2.dir.join("eu.plan");
    let plan_arg = plan_file.to_str().unwrap();
    w2.run(&["plan", s1, "--region", "eu-west-1", "--out", plan_arg])
        .expect(0);
    let refused = w2
        .run(&["apply", plan_arg, "--region", "us-east-1", "--auto-approve"])
        .expect(1);
    let url = w2.sandbox.endpoint_url();
    let world = w2.sandbox.identity().world;
    assert_eq!(
        refused.stderr,
        format!("error: {plan_arg}: the plan was made for sandbox at {url} (world {world}, eu-west-1), but this apply targets sandbox at {url} (world {world}, us-east-1); apply it without target options (it keeps its own), or make the plan again\n")
    );
    assert!(w2.requests().iter().all(|r| r.operation.starts_with("List")
        || r.operation.starts_with("Describe")
        || r.operation.starts_with("Get")));
    w2.run(&["apply", plan_arg, "--auto-approve"]).expect(0);
    let (saved, _) = w2.state();
    assert_eq!(saved["target"]["region"], "eu-west-1");
}

#[test]
fn endpoint_url_sends_every_call_there_with_the_usual_credentials() {
    let w = World::new("endpoint-url");
    let s2 = example("laptop-rtmp.toml");
    let s2 = s2.to_str().unwrap();
    let url = w.sandbox.endpoint_url();
    let state = w.state_path();
    let state = state.to_str().unwrap();
    // Credentials from the environment, as on AWS: the standard chain, no dummy ones.
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDENDPOINTTEST"),
        ("AWS_SECRET_ACCESS_KEY", "endpoint-test-secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    w.run_bare(
        &[
            "apply",
            s2,
            "--auto-approve",
            "--endpoint-url",
            &url,
            "--state",
            state,
        ],
        &env,
    )
    .expect(0);
    let inv = w.inventory();
    assert_eq!(inv.channels, ["imday-live"]);
    assert_eq!(w.channel().1["state"], "RUNNING");
    // AWS_ENDPOINT_URL does the same.
    let mut with_env = env.to_vec();
    with_env.push(("AWS_ENDPOINT_URL", &url));
    w.run_bare(
        &["plan", s2, "--detailed-exitcode", "--state", state],
        &with_env,
    )
    .expect(0);

    // A plan saved for this endpoint names it when applied to another target.
    let plan_file = w.dir.join("endpoint.plan");
    let plan_arg = plan_file.to_str().unwrap();
    w.run_bare(
        &[
            "plan",
            s2,
            "--endpoint-url",
            &url,
            "--state",
            state,
            "--out",
            plan_arg,
        ],
        &env,
    )
    .expect(0);
    // A sandbox reached as an endpoint is bound to its world: another sandbox is another
    // target.
    let world = w.sandbox.identity().world;
    let elsewhere = World::new("endpoint-url-elsewhere");
    let other_url = elsewhere.sandbox.endpoint_url();
    let other_world = elsewhere.sandbox.identity().world;
    let refused = w
        .run_bare(
            &[
                "apply",
                plan_arg,
                "--auto-approve",
                "--endpoint-url",
                &other_url,
            ],
            &env,
        )
        .expect(1);
    assert_shows(&refused.stderr, &[&world, &other_world]);
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    // With no option repeated, it goes to its own endpoint.
    let applied = w
        .run_bare(&["apply", plan_arg, "--auto-approve"], &env)
        .expect(0);
    let header = format!("Target: sandbox at {url} (world {world}, us-east-1)\n");
    assert_shows(&applied.stdout, &[&header]);
    // A plan made with AWS_ENDPOINT_URL records that endpoint too: applied without it, it
    // still goes there.
    w.run_bare(
        &["plan", s2, "--state", state, "--out", "env.plan"],
        &with_env,
    )
    .expect(0);
    let applied = w
        .run_bare(&["apply", "env.plan", "--auto-approve"], &env)
        .expect(0);
    assert_shows(&applied.stdout, &[&header]);
}

#[test]
fn a_saved_plan_whose_stack_file_changed_is_refused() {
    let w = World::new("stack-changed");
    let stack = edited_s1(&w, "stack.toml", |t| t);
    w.run(&["apply", &stack, "--auto-approve"]).expect(0);
    let plan_file = w.dir.join("retag.plan");
    let plan_arg = plan_file.to_str().unwrap();
    let retag = |t: String| {
        replaced(
            &t,
            "tags = { workshop = \"imday\" }",
            "tags = { workshop = \"imday\", team = \"live\" }",
        )
    };
    std::fs::write(&stack, retag(std::fs::read_to_string(&stack).unwrap())).unwrap();
    w.run(&["plan", &stack, "--out", plan_arg]).expect(0);
    // The file is edited again after the plan was saved.
    std::fs::write(
        &stack,
        replaced(
            &std::fs::read_to_string(&stack).unwrap(),
            "team = \"live\"",
            "team = \"vod\"",
        ),
    )
    .unwrap();
    let before = w.requests().len();
    let refused = w.run(&["apply", plan_arg, "--auto-approve"]).expect(1);
    assert_eq!(
        refused.stderr,
        format!("error: {plan_arg}: stale plan: the stack file changed since it was made; run plan again\n")
    );
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
}
