//! `livestack show`: a saved plan exactly as `plan` printed it, and what the state holds for a
//! stack (no AWS call, no secret).

use expect_test::{expect, expect_file};
use serde_json::Value as Json;

use crate::harness::{example, World};

const STREAM_KEY: &str = "FB-show-stream-key-e2e";

/// `text` with the sandbox's generated ids, hosts and user names (runs of 7 or more hex
/// digits holding a digit, but not JSON numbers such as bitrates) as `#`, so that a golden
/// output holds from one run to the next.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let number = run.chars().all(|c| c.is_ascii_digit()) && out.ends_with(": ");
        if run.len() >= 7 && run.chars().any(|c| c.is_ascii_digit()) && !number {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[track_caller]
fn assert_no_secret(w: &World, what: &str, shown: &str, also: &[&str]) {
    let (state, _) = w.state();
    assert!(
        state.get("hash_key").is_none(),
        "the state holds no hash key"
    );
    let (hash_key, _) = w.hash_key("imday").expect("the stack's hash key is kept");
    for secret in w
        .ingest_passwords()
        .iter()
        .map(String::as_str)
        .chain(also.iter().copied())
        .chain([hash_key.as_str(), "hmac-sha256", "$sensitive"])
    {
        assert!(!shown.contains(secret), "{what} shows `{secret}`:\n{shown}");
    }
}

#[test]
fn show_prints_a_saved_plan_as_plan_printed_it() {
    let mut w = World::new("show-plan");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    let s1 = example("s3-loop.toml");
    let s3 = example("s3-loop-facebook.toml");
    let (s1, s3) = (s1.to_str().unwrap(), s3.to_str().unwrap());
    w.run(&["apply", s1, "--auto-approve"]).expect(0);

    let text = w.run(&["plan", s3]).expect(0).stdout;
    let json = w.run(&["plan", s3, "--json"]).expect(0).stdout;
    let made = w.run(&["plan", s3, "--out", "s3.plan"]).expect(0);
    assert_eq!(made.stdout, text, "plan --out prints the plan it saves");
    let full = w
        .run(&["plan", s3, "--full", "--out", "full.plan"])
        .expect(0);

    let shown = w.run_bare(&["show", "s3.plan"], &[]).expect(0);
    assert_eq!(
        shown.stdout, text,
        "show prints the plan as plan printed it"
    );
    assert_eq!(shown.stderr, "");
    let shown_json = w.run_bare(&["show", "s3.plan", "--json"], &[]).expect(0);
    assert_eq!(shown_json.stdout, json, "show --json prints plan --json");
    let shown_full = w.run_bare(&["show", "full.plan"], &[]).expect(0);
    assert_eq!(
        shown_full.stdout, full.stdout,
        "a plan made with --full shows whole"
    );
    assert_ne!(shown_full.stdout, shown.stdout);
    assert_no_secret(&w, "show PLAN", &shown.all(), &[STREAM_KEY]);
    assert_no_secret(&w, "show PLAN --json", &shown_json.all(), &[STREAM_KEY]);

    // The sandbox's port changes every run; its world id is normalized like any id.
    let port_free = shown
        .stdout
        .replace(&w.sandbox.endpoint_url(), "http://127.0.0.1:PORT");
    expect_file!["golden/show_s3_plan.txt"].assert_eq(&normalized(&port_free));
    // The JSON in brief: what each change does and which fields it touches.
    let plan: Json = serde_json::from_str(&shown_json.stdout).unwrap();
    let brief: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            let fields: Vec<&str> = c["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap_or("?"))
                .collect();
            format!(
                "{} {} {} interrupts={} steps={} fields={}",
                c["address"].as_str().unwrap(),
                c["action"],
                c["ops"],
                c["interrupts"],
                c["steps"],
                fields.join(" ")
            )
        })
        .chain([
            format!("summary {}", plan["summary"]),
            format!(
                "format_version {} mode {}",
                plan["format_version"], plan["mode"]
            ),
        ])
        .collect();
    expect![[r#"
        medialive_channel.imday "update" ["stop","update_class","update","start"] interrupts=true steps=[1,2,3,4] fields=ChannelClass Destinations["tn2224"].Settings[1] Destinations["facebook"] EncoderSettings.AudioDescriptions["facebook_audio_1080p"] EncoderSettings.OutputGroups["TN2224"].OutputGroupSettings.HlsGroupSettings.InputLossAction EncoderSettings.OutputGroups["facebook"] EncoderSettings.VideoDescriptions["facebook_video_1080p"]
        summary {"create":0,"update":1,"replace":0,"delete":0,"interrupted":1}
        format_version 1 mode "apply""#]].assert_eq(&brief.join("\n"));

    // The saved plan still applies, and the state then shows section 3 without its key.
    w.run(&["apply", "s3.plan", "--auto-approve"]).expect(0);
    let state = w
        .run_bare(&["show", s3, "--state", "state.json"], &[])
        .expect(0);
    assert_no_secret(&w, "show STACK", &state.all(), &[STREAM_KEY]);
    assert!(
        state.stdout.contains("\"StreamName\": \"(sensitive)\""),
        "{}",
        state.stdout
    );
}

#[test]
fn show_stack_prints_the_state_without_calling_aws() {
    let w = World::new("show-state");
    let s1 = example("s3-loop.toml");
    let s1 = s1.to_str().unwrap();
    let before = w
        .run_bare(&["show", s1, "--state", "state.json"], &[])
        .expect(0);
    assert_eq!(
        before.stdout,
        "No state for stack \"imday\" (state.json does not exist): nothing applied yet.\n"
    );
    w.run(&["apply", s1, "--auto-approve"]).expect(0);

    let calls = w.requests().len();
    let shown = w
        .run_bare(&["show", s1, "--state", "state.json"], &[])
        .expect(0);
    let shown_json = w
        .run_bare(&["show", s1, "--state", "state.json", "--json"], &[])
        .expect(0);
    assert_eq!(w.requests().len(), calls, "show makes no AWS call");
    assert_eq!(shown.stderr, "");

    // Each resource with its id, as the state has it.
    let (state, _) = w.state();
    let resources = state["resources"].as_object().unwrap();
    let addresses: Vec<&str> = resources.keys().map(String::as_str).collect();
    assert_eq!(
        addresses,
        [
            "iam_role.medialive",
            "mediapackage_channel.imday-mp",
            "mediapackage_endpoint.imday-hls",
            "ssm_parameter.imday-mp-ingest-1",
            "ssm_parameter.imday-mp-ingest-2",
            "medialive_input.imday-hls",
            "medialive_channel.imday",
        ]
    );
    let json: Json = serde_json::from_str(&shown_json.stdout).unwrap();
    for (a, r) in resources {
        let id = r["id"].as_str().unwrap();
        assert!(
            shown
                .stdout
                .contains(&format!("# {a}\n  id:         {id}\n")),
            "{a} {id}:\n{}",
            shown.stdout
        );
        let listed = json["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["address"] == a.as_str())
            .unwrap_or_else(|| panic!("{a} in {json:#}"));
        assert_eq!(listed["id"], r["id"]);
        assert_eq!(listed["arn"], r.get("arn").cloned().unwrap_or(Json::Null));
    }
    assert_no_secret(&w, "show STACK", &shown.all(), &[]);
    assert_no_secret(&w, "show STACK --json", &shown_json.all(), &[]);

    // The outputs as `outputs` prints them, the channel's state as recorded.
    let outputs = w.run(&["outputs", s1]).expect(0).stdout;
    let recorded = shown.stdout.split("\nOutputs:\n").nth(1).unwrap();
    assert_eq!(
        recorded,
        outputs.replace(": RUNNING\n", ": RUNNING (as last applied)\n")
    );
    let outputs_json: Json =
        serde_json::from_str(&w.run(&["outputs", s1, "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json["outputs"], outputs_json);

    assert_eq!(json["target"]["world"], w.sandbox.identity().world.as_str());
    let port_free = shown
        .stdout
        .replace(&w.sandbox.endpoint_url(), "http://127.0.0.1:PORT");
    expect_file!["golden/show_s3_loop_state.txt"].assert_eq(&normalized(&port_free));
}

#[test]
fn show_refuses_what_is_not_a_saved_plan_in_one_line() {
    let w = World::new("show-errors");
    let s1 = example("s3-loop.toml");
    let s1 = s1.to_str().unwrap();
    w.run(&["plan", s1, "--out", "good.plan"]).expect(0);
    let good = std::fs::read_to_string(w.dir.join("good.plan")).unwrap();
    let files = [
        // Cut where the plan's summary starts: the same line and column in any checkout (the
        // file names the stack and state files by their absolute paths, so half its length
        // is not).
        (
            "truncated.plan",
            good[..good.find("\"summary\"").unwrap()].to_string(),
        ),
        ("other.json", "{\"plan\": 1}\n".to_string()),
        ("junk.plan", "hello\n".to_string()),
        (
            "edited.plan",
            good.replacen("\"changes\"", "\"chagnes\"", 1),
        ),
        (
            "old.plan",
            good.replacen(
                "\"livestack_saved_plan\": 2",
                "\"livestack_saved_plan\": 1",
                1,
            ),
        ),
    ];
    let mut errors = Vec::new();
    for (name, text) in &files {
        std::fs::write(w.dir.join(name), text).unwrap();
        let run = w.run_bare(&["show", name], &[]).expect(1);
        assert_eq!(run.stdout, "", "{name}");
        assert_eq!(run.stderr.lines().count(), 1, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
        errors.push(run.stderr);
    }
    expect![[r#"
        error: truncated.plan: corrupt saved plan (EOF while parsing a value at line 1496 column 4); make it again with `livestack plan STACK --out FILE`
        error: other.json: not a saved livestack plan (make one with `livestack plan STACK --out FILE`)
        error: junk.plan: neither a saved plan (`livestack plan STACK --out FILE`) nor a stack file: junk.plan:1:6: error: invalid TOML: key with no value, expected `=`
        error: edited.plan: corrupt saved plan (its plan: missing field `changes`); make it again with `livestack plan STACK --out FILE`
        error: old.plan: a saved plan of format 1, made before plans named their target; make it again with `livestack plan STACK --out FILE`
    "#]].assert_eq(&errors.concat());
}
