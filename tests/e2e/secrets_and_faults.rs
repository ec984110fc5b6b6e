//! Secrets never leave the cloud; a flaky cloud (throttling, 500s, lost answers) still
//! converges, with no resource made twice.

use livestack_sandbox::Faults;

use crate::harness::{example, section_1_inventory, World};

const STREAM_KEY: &str = "FB-1234567890-stream-key-e2e";

#[test]
fn secrets_are_absent_from_state_plans_outputs_and_logs() {
    let mut w = World::new("secrets");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    let s1 = example("s3-loop.toml");
    let s3 = example("s3-loop-facebook.toml");
    let (s1, s3) = (s1.to_str().unwrap(), s3.to_str().unwrap());
    let plan_file = w.dir.join("s3.plan");
    let plan_arg = plan_file.to_str().unwrap();

    let state_arg = w.state_path();
    let state_arg = state_arg.to_str().unwrap();
    let shown = [
        w.run(&["apply", s1, "--auto-approve", "-vv"]).expect(0),
        w.run(&["plan", s3]).expect(0),
        w.run(&["plan", s3, "--json"]).expect(0),
        w.run(&["plan", s3, "--out", plan_arg]).expect(0),
        w.run(&["apply", plan_arg, "--auto-approve", "-vv"])
            .expect(0),
        w.run(&["plan", s3, "--json"]).expect(0),
        w.run(&["outputs", s3, "--json"]).expect(0),
        w.run(&["state", "list", s3, "--state", state_arg])
            .expect(0),
        w.run(&[
            "state",
            "show",
            s3,
            "medialive_channel.imday",
            "--state",
            state_arg,
        ])
        .expect(0),
    ];

    // The secrets as the cloud has them: they really were delivered.
    let cloud = w.cloud();
    let mp = &cloud["mediapackage"]["channels"]["imday-mp-channel"];
    let passwords: Vec<String> = mp["ingest_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["password"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(passwords.len(), 2, "{mp}");
    for (i, pw) in passwords.iter().enumerate() {
        let name = format!("/livestack/imday/imday-mp/ingest-{}", i + 1);
        let p = &cloud["ssm"]["parameters"][&name];
        assert_eq!(p["kind"], "SecureString", "{p}");
        assert_eq!(
            p["value"].as_str(),
            Some(pw.as_str()),
            "{name} holds the password"
        );
    }
    let (_, ch) = w.channel();
    assert!(
        ch["destinations"].to_string().contains(STREAM_KEY),
        "the stream key reached the channel: {}",
        ch["destinations"]
    );
    assert!(ch["destinations"].to_string().contains("passwordParam"));

    let (_, state_text) = w.state();
    let bak = std::fs::read_to_string(w.state_path().with_extension("json.bak")).unwrap();
    let saved_plan = std::fs::read_to_string(&plan_file).unwrap();
    let mut places: Vec<(String, String)> = vec![
        ("the state file".into(), state_text),
        ("the state backup".into(), bak),
        ("the saved plan".into(), saved_plan),
    ];
    for (i, r) in shown.iter().enumerate() {
        places.push((format!("the output of command {i}"), r.all()));
    }
    for secret in passwords.iter().chain([&STREAM_KEY.to_string()]) {
        for (place, text) in &places {
            assert!(!text.contains(secret.as_str()), "a secret is in {place}");
        }
    }
    // The verbose runs did log something (the check above is not vacuous for logs).
    assert!(shown[0].stderr.lines().count() > 10, "{}", shown[0].stderr);
}

/// Faults drawn per logical call (see `livestack_sandbox::Faults`): the seed picks which
/// calls meet them, the same on every run; a failing test prints the seed and the faults it
/// met (`World`'s drop).
fn flaky() -> Faults {
    Faults {
        seed: 1,
        throttle_rate: 0.15,
        error_rate: 0.1,
        lost_response_rate: 0.1,
        ..Default::default()
    }
}

#[test]
fn a_flaky_cloud_converges_without_duplicates() {
    let w = World::with_faults("flaky", flaky());
    let s1 = example("s3-loop.toml");
    let s1 = s1.to_str().unwrap();
    let applied = w.run(&["apply", s1, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let statuses: Vec<u16> = w.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "throttles were injected");
    assert!(
        statuses.iter().filter(|s| **s == 500).count() >= 2,
        "errors were injected: {statuses:?}"
    );
    assert_eq!(w.inventory(), section_1_inventory(), "nothing made twice");
    assert_eq!(w.channel().1["state"], "RUNNING");
    w.run(&["plan", s1, "--detailed-exitcode"]).expect(0);
    let before = w.requests().len();
    let d = w.run(&["destroy", s1, "--auto-approve"]).expect(0);
    assert!(
        w.inventory().is_empty(),
        "left behind: {:?}\n{}\n{:#?}",
        w.inventory(),
        d.stderr,
        &w.requests()[before..]
    );
}

#[test]
fn a_flaky_cloud_converges_for_the_rtmp_stack_too() {
    let w = World::with_faults(
        "flaky-rtmp",
        Faults {
            seed: 11,
            ..flaky()
        },
    );
    let s2 = example("laptop-rtmp.toml");
    let s2 = s2.to_str().unwrap();
    let applied = w.run(&["apply", s2, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let inv = w.inventory();
    assert_eq!(inv.security_groups.len(), 1, "{inv:?}");
    assert_eq!(inv.inputs, vec!["live-camera"]);
    assert_eq!(inv.channels, vec!["imday-live"]);
    w.run(&["plan", s2, "--detailed-exitcode"]).expect(0);
    w.run(&["destroy", s2, "--auto-approve"]).expect(0);
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

/// The key of the secrets' hashes is kept in the stack's SSM SecureString parameter, not in the
/// state: a state written before that gives it up at its next apply, a lost key is one line,
/// and a whole destroy deletes it.
#[test]
fn the_key_of_secret_hashes_is_kept_outside_the_state() {
    let mut w = World::new("hash-key");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    let s3 = example("s3-loop-facebook.toml");
    let s3 = s3.to_str().unwrap();
    let applied = w.run(&["apply", s3, "--auto-approve"]).expect(0);
    let (key, kind) = w.hash_key("imday").expect("the first apply keeps the key");
    assert_eq!(kind, "SecureString");
    assert_eq!(key.len(), 64, "32 random bytes");
    let (state, text) = w.state();
    assert!(state.get("hash_key").is_none(), "{text}");
    assert!(
        text.contains("$sensitive"),
        "the state holds hashes: {text}"
    );
    let plan = w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);
    for shown in [&applied.all(), &plan.all(), &text] {
        assert!(!shown.contains(&key), "the key is never shown");
    }

    // A state written by an earlier livestack: the key in it, none in SSM.
    let mut old = state.clone();
    old["hash_key"] = key.clone().into();
    std::fs::write(w.state_path(), serde_json::to_string_pretty(&old).unwrap()).unwrap();
    w.block_on(w.clients().delete_hash_key("imday")).unwrap();
    assert!(w.hash_key("imday").is_none());
    // Its hashes still compare (nothing to do), and the next apply moves the key out.
    w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);
    w.run(&["apply", s3, "--auto-approve"]).expect(0);
    assert_eq!(w.hash_key("imday").map(|(k, _)| k), Some(key.clone()));
    let (moved, text) = w.state();
    assert!(moved.get("hash_key").is_none(), "{text}");
    let bak = std::fs::read_to_string(w.state_path().with_extension("json.bak")).unwrap();
    assert!(!bak.contains(&key), "nor in the backup: {bak}");
    w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);

    // The key lost: the hashes cannot be compared, said in one line, nothing guessed.
    w.block_on(w.clients().delete_hash_key("imday")).unwrap();
    let lost = w.run(&["plan", s3]).expect(1);
    assert_eq!(lost.stderr.lines().count(), 1, "{}", lost.stderr);
    assert!(
        lost.stderr.contains("/livestack/imday/hash-key")
            && lost.stderr.contains("cannot be compared"),
        "{}",
        lost.stderr
    );

    // With the state lost too, the stack is adopted again; a plan saved before any key is
    // kept (each run draws its own until the apply keeps one) still applies.
    std::fs::remove_file(w.state_path()).unwrap();
    let saved = w.dir.join("adopt.plan");
    let saved = saved.to_str().unwrap();
    w.run(&["plan", s3, "--out", saved]).expect(0);
    w.run(&["apply", saved, "--auto-approve"]).expect(0);
    w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);
    assert!(w.hash_key("imday").is_some(), "the apply kept a new key");
    // A whole destroy deletes it with the rest.
    w.run(&["destroy", s3, "--auto-approve"]).expect(0);
    assert!(w.hash_key("imday").is_none());
    assert!(w.inventory().is_empty(), "{:?}", w.inventory());
}
