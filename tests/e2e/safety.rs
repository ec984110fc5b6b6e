//! What keeps a channel that is on air safe: drift corrected, lost state adopted, a crashed
//! apply resumed, concurrent applies refused, stale saved plans refused, `--no-interrupt`.

use std::time::Duration;

use livestack_model::Address;
use serde_json::json;

use crate::harness::{
    assert_shows, change, example, plan_json, section_1_inventory, state_addresses, World,
    SECTION_3_CALLS,
};

pub(crate) fn s1() -> String {
    example("s3-loop.toml").to_str().unwrap().to_string()
}

pub(crate) fn s3() -> String {
    example("s3-loop-facebook.toml")
        .to_str()
        .unwrap()
        .to_string()
}

pub(crate) fn resource_id(w: &World, address: &str) -> String {
    let (state, _) = w.state();
    state["resources"][address]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{address} not in the state: {state}"))
        .to_string()
}

#[test]
fn drift_is_shown_and_corrected() {
    let w = World::new("drift");
    let s1 = s1();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let channel = resource_id(&w, "medialive_channel.imday");
    let input = resource_id(&w, "medialive_input.imday-hls");

    // Someone stops the channel and points the input elsewhere, behind livestack's back.
    let c = w.clients();
    let hasher = livestack_plan::Hasher::new(b"out-of-band");
    let input_addr = Address::parse("medialive_input.imday-hls").unwrap();
    w.block_on(async {
        c.stop_channel(&channel).await.unwrap();
        c.wait_channel(
            &channel,
            livestack_aws::ChannelWait::Idle,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        let current = c.read(&input_addr, &input, &hasher).await.unwrap().unwrap();
        let mut spec = current.spec.clone();
        spec["Sources"] = json!([
            { "Url": "https://example.com/elsewhere.m3u8" },
            { "Url": "https://example.com/elsewhere.m3u8" }
        ]);
        c.update(&input_addr, &input, &spec, &current)
            .await
            .unwrap();
    });
    assert_eq!(w.channel().1["state"], "IDLE");

    let plan = w.run(&["plan", &s1, "--detailed-exitcode"]).expect(2);
    // The drift is shown, and the stopped channel is started again.
    assert_shows(
        &plan.stdout,
        &["medialive_input.imday-hls", "elsewhere.m3u8"],
    );
    let json = plan_json(&w, &s1);
    let input_change = change(&json, "medialive_input.imday-hls");
    assert_eq!(
        (&input_change["action"], &input_change["drift"]),
        (&json!("update"), &json!(true)),
        "{input_change}"
    );
    assert_eq!(
        change(&json, "medialive_channel.imday")["ops"],
        json!(["start"])
    );

    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let cloud = w.cloud();
    let sources = &cloud["medialive"]["inputs"][&input]["sources"];
    assert!(
        sources.to_string().contains("vanlife.m3u8") && !sources.to_string().contains("elsewhere"),
        "the input's sources are the stack's again: {sources}"
    );
    let (id, ch) = w.channel();
    assert_eq!(
        (id.as_str(), ch["state"].as_str()),
        (channel.as_str(), Some("RUNNING"))
    );
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
}

#[test]
fn a_lost_state_file_is_rebuilt_from_the_ownership_tags_without_duplicates() {
    let w = World::new("lost-state");
    let s1 = s1();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let (before_state, _) = w.state();
    std::fs::remove_file(w.state_path()).unwrap();
    let _ = std::fs::remove_file(w.state_path().with_extension("json.bak"));

    let plan = w.run(&["plan", &s1]).expect(0);
    assert_shows(
        &plan.stdout,
        &["ownership tags", "= medialive_channel.imday", "No changes"],
    );
    assert!(
        !plan.stdout.contains("will be created"),
        "nothing is created again: {}",
        plan.stdout
    );
    let before = w.requests().len();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let created: Vec<_> = w
        .mutations_since(before)
        .into_iter()
        .filter(|(op, _, _)| op.starts_with("Create") || op.starts_with("Put"))
        .collect();
    assert!(created.is_empty(), "no resource made twice: {created:?}");
    assert_eq!(w.inventory(), section_1_inventory());
    let (state, _) = w.state();
    for (address, r) in before_state["resources"].as_object().unwrap() {
        assert_eq!(
            state["resources"][address]["id"], r["id"],
            "{address} adopted with its id"
        );
    }
    let after = w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
    assert!(
        !after.stdout.contains("ownership tags"),
        "recorded: {}",
        after.stdout
    );

    // Lost again: destroy still finds everything by its tags.
    std::fs::remove_file(w.state_path()).unwrap();
    let destroyed = w.run(&["destroy", &s1, "--auto-approve"]).expect(0);
    assert!(
        destroyed.stdout.contains("7 to delete"),
        "{}",
        destroyed.stdout
    );
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

/// Section 1's resources but the channel: what an apply has saved while the sandbox holds
/// the channel's create (sorted).
pub(crate) const ALL_BUT_THE_CHANNEL: [&str; 6] = [
    "iam_role.medialive",
    "medialive_input.imday-hls",
    "mediapackage_channel.imday-mp",
    "mediapackage_endpoint.imday-hls",
    "ssm_parameter.imday-mp-ingest-1",
    "ssm_parameter.imday-mp-ingest-2",
];

#[test]
fn a_killed_apply_leaves_a_lock_that_is_refused_then_force_unlocked_and_resumed() {
    let w = World::new("killed");
    let s1 = s1();
    // The sandbox holds the channel's create: the apply is in the middle, for as long as
    // the test wants, with everything else saved.
    w.sandbox.hold(Some("medialive"), "CreateChannel");
    let mut first = w.spawn(&["apply", &s1, "--auto-approve"]);
    let lock = w.state_path().with_extension("json.lock");
    w.wait_held("CreateChannel", 1);
    w.wait_state_holds(&ALL_BUT_THE_CHANNEL);

    // A second apply while the first runs is refused, naming the holder.
    let before = w.requests().len();
    let second = w.run(&["apply", &s1, "--auto-approve"]).expect(1);
    assert!(second.stderr.contains("locked by"), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "the holder is named: {}",
        second.stderr
    );
    assert_eq!(
        second.stderr.lines().count(),
        1,
        "one line: {}",
        second.stderr
    );
    assert_eq!(w.requests().len(), before, "refused before any AWS call");

    first.kill().unwrap(); // SIGKILL: no clean-up at all
    first.wait().unwrap();
    // The held create's client went away: the sandbox drops it, never carried out.
    w.wait_held("CreateChannel", 0);
    w.sandbox.release("CreateChannel");
    assert!(lock.exists(), "a killed apply leaves its lock");
    let (state, _) = w.state(); // still a valid state file
    assert_eq!(state_addresses(&state), ALL_BUT_THE_CHANNEL, "{state}");
    assert!(w.inventory().channels.is_empty());

    let refused = w.run(&["apply", &s1, "--auto-approve"]).expect(1);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    let id = info["id"].as_str().unwrap();
    assert!(
        refused
            .stderr
            .contains(&format!("`livestack force-unlock {s1} {id} --state ")),
        "{}",
        refused.stderr
    );
    let state_arg = w.state_path();
    let unlocked = w
        .run(&[
            "force-unlock",
            &s1,
            id,
            "--state",
            state_arg.to_str().unwrap(),
        ])
        .expect(0);
    assert!(unlocked.stdout.contains(id), "{}", unlocked.stdout);

    let before = w.requests().len();
    let resumed = w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert_shows(&resumed.stdout, &["Plan: 1 to create, 0 to update"]);
    let made: Vec<String> = w
        .mutations_since(before)
        .into_iter()
        .map(|(op, _, _)| op)
        .collect();
    assert_eq!(
        made,
        ["CreateChannel", "StartChannel"],
        "only what was left"
    );
    assert_eq!(w.inventory(), section_1_inventory(), "nothing made twice");
    assert_eq!(w.channel().1["state"], "RUNNING");
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
    assert!(!lock.exists());
}

/// A killed apply's finished steps are in the state's journal, not yet in the state file:
/// every command sees them (the journal folded in, read-only), and the next apply, under the
/// lock, makes them the state file and removes the journal.
#[test]
fn a_journal_left_by_a_killed_apply_is_seen_by_every_command_and_folded_by_the_next() {
    let w = World::new("journal");
    let s1 = s1();
    let state_arg = w.state_path();
    let state_arg = state_arg.to_str().unwrap();
    let journal = w.state_path().with_extension("json.journal");
    let raw = || -> Vec<String> {
        let text = std::fs::read_to_string(w.state_path()).unwrap();
        state_addresses(&serde_json::from_str(&text).unwrap())
    };
    w.sandbox.hold(Some("medialive"), "CreateChannel");
    let mut first = w.spawn(&["apply", &s1, "--auto-approve"]);
    w.wait_held("CreateChannel", 1);
    w.wait_state_holds(&ALL_BUT_THE_CHANNEL);
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    w.wait_held("CreateChannel", 0);
    w.sandbox.release("CreateChannel");
    assert!(journal.exists(), "the finished steps are in the journal");
    assert!(raw().is_empty(), "not yet in the state file: {:?}", raw());

    let listed = w
        .run(&["state", "list", &s1, "--state", state_arg])
        .expect(0);
    let mut shown: Vec<&str> = listed
        .stdout
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    shown.sort();
    assert_eq!(shown, ALL_BUT_THE_CHANNEL, "{}", listed.stdout);
    assert!(journal.exists(), "reading folds nothing for good");

    std::fs::remove_file(w.state_path().with_extension("json.lock")).unwrap();
    let resumed = w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert_shows(&resumed.stdout, &["Plan: 1 to create, 0 to update"]);
    assert_eq!(w.inventory(), section_1_inventory(), "nothing made twice");
    assert!(!journal.exists());
    let mut all: Vec<String> = ALL_BUT_THE_CHANNEL.iter().map(|a| a.to_string()).collect();
    all.push("medialive_channel.imday".into());
    all.sort();
    assert_eq!(raw(), all);
}

#[test]
fn a_saved_plan_is_applied_only_while_nothing_changed() {
    let mut w = World::new("saved-plan");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), "saved-plan-key".into()));
    let (s1, s3) = (s1(), s3());
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let plan_file = w.dir.join("section3.plan");
    let plan_arg = plan_file.to_str().unwrap().to_string();

    // The cloud changed since the plan was made.
    w.run(&["plan", &s3, "--out", &plan_arg]).expect(0);
    let channel = resource_id(&w, "medialive_channel.imday");
    let c = w.clients();
    w.block_on(async { c.stop_channel(&channel).await.unwrap() });
    let before = w.requests().len();
    let stale = w.run(&["apply", &plan_arg, "--auto-approve"]).expect(1);
    assert!(stale.stderr.contains("stale plan"), "{}", stale.stderr);
    assert!(stale.stderr.contains("cloud changed"), "{}", stale.stderr);
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");

    // The state changed since the plan was made (another apply ran).
    w.run(&["plan", &s3, "--out", &plan_arg]).expect(0);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let stale = w.run(&["apply", &plan_arg, "--auto-approve"]).expect(1);
    assert!(stale.stderr.contains("state changed"), "{}", stale.stderr);

    // A fresh plan is applied as saved, given in place of the stack file.
    let made = w.run(&["plan", &s3, "--out", &plan_arg]).expect(0);
    assert!(
        made.stderr.contains(&format!("livestack apply {plan_arg}")),
        "{}",
        made.stderr
    );
    let before = w.requests().len();
    w.run(&["apply", &plan_arg, "--auto-approve"]).expect(0);
    assert_eq!(w.operations_since(before), SECTION_3_CALLS);
    w.run(&["plan", &s3, "--detailed-exitcode"]).expect(0);

    // Something that is not a saved plan is refused as such.
    std::fs::write(&plan_file, "{\"hello\": 1}").unwrap();
    let bad = w.run(&["apply", &plan_arg, "--auto-approve"]).expect(1);
    assert!(
        bad.stderr.contains("not a saved livestack plan"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_plan_saved_before_any_state_existed_applies_while_none_does() {
    let w = World::new("saved-plan-from-empty");
    let s1 = s1();
    let (first, second) = (w.dir.join("first.plan"), w.dir.join("second.plan"));
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
    w.run(&["plan", &s1, "--out", first]).expect(0);
    w.run(&["plan", &s1, "--out", second]).expect(0);
    // Each run without a state drew a lineage of its own: the plan was refused as stale.
    w.run(&["apply", first, "--auto-approve"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    // Once a state exists, a plan made before it is stale.
    let before = w.requests().len();
    let stale = w.run(&["apply", second, "--auto-approve"]).expect(1);
    assert_shows(
        &stale.stderr,
        &["stale plan: the state changed since it was made"],
    );
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
}

#[test]
fn no_interrupt_refuses_to_stop_a_running_channel_and_allows_the_rest() {
    let mut w = World::new("no-interrupt");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), "no-interrupt-key".into()));
    let (s1, s3) = (s1(), s3());
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);

    let before = w.requests().len();
    let refused = w
        .run(&["apply", &s3, "--auto-approve", "--no-interrupt"])
        .expect(1);
    assert!(
        refused.stderr.contains("--no-interrupt")
            && refused.stderr.contains("medialive_channel.imday"),
        "{}",
        refused.stderr
    );
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
    let (_, ch) = w.channel();
    assert_eq!(
        (ch["state"].as_str(), ch["channel_class"].as_str()),
        (Some("RUNNING"), Some("STANDARD"))
    );

    // A change that keeps the channel on air (its tags) goes through.
    let retagged = std::fs::read_to_string(&s1).unwrap().replace(
        "tags = { workshop = \"imday\" }",
        "tags = { workshop = \"imday\", team = \"live\" }",
    );
    let retagged_path = w.dir.join("retagged.toml");
    std::fs::write(&retagged_path, retagged).unwrap();
    let before = w.requests().len();
    w.run(&[
        "apply",
        retagged_path.to_str().unwrap(),
        "--auto-approve",
        "--no-interrupt",
    ])
    .expect(0);
    let ops: Vec<String> = w
        .mutations_since(before)
        .into_iter()
        .map(|(op, _, _)| op)
        .collect();
    assert!(!ops.is_empty(), "the tags were changed");
    assert!(
        !ops.iter()
            .any(|op| op == "StopChannel" || op == "UpdateChannel"),
        "{ops:?}"
    );
    let (_, ch) = w.channel();
    assert_eq!(ch["state"], "RUNNING");
    assert_eq!(ch["tags"]["team"], "live");
}

#[test]
fn a_resource_of_the_same_name_that_is_not_ours_is_never_taken_over() {
    let w = World::new("not-ours");
    let s1 = s1();
    // Someone else's MediaPackage channel, with the id the stack wants.
    let c = w.clients();
    let addr = Address::parse("mediapackage_channel.someone-else").unwrap();
    w.block_on(c.create(&addr, &json!({ "Id": "imday-mp-channel" }), "t"))
        .unwrap();

    let before = w.requests().len();
    for args in [vec!["plan", &s1], vec!["apply", &s1, "--auto-approve"]] {
        let refused = w.run(&args).expect(1);
        assert_eq!(
            refused.stderr.lines().count(),
            1,
            "one line: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("mediapackage_channel.imday-mp")
                && refused.stderr.contains("imday-mp-channel")
                && refused.stderr.contains("not livestack's"),
            "{}",
            refused.stderr
        );
    }
    assert!(w.mutations_since(before).is_empty(), "nothing was changed");
    assert!(!w.state_path().exists() || w.state().0["resources"].as_object().unwrap().is_empty());
}

#[test]
fn ctrl_c_finishes_the_steps_in_flight_saves_and_releases_the_lock() {
    let w = World::new("ctrl-c");
    let s1 = s1();
    // The channel's create is held: it is the one step in flight when Ctrl-C comes.
    w.sandbox.hold(Some("medialive"), "CreateChannel");
    let apply = w.start(&["apply", &s1, "--auto-approve"]);
    w.wait_held("CreateChannel", 1);
    w.wait_state_holds(&ALL_BUT_THE_CHANNEL);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &apply.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    apply.wait_line("saying it was interrupted", |l| {
        l == "Interrupted: no new step will start; finishing the 1 in flight (Ctrl-C again to leave now)."
    });
    w.sandbox.release("CreateChannel");
    let out = apply.finish().expect(130);
    assert_shows(
        &out.stderr,
        &["interrupted (Ctrl-C)", "run the same command again"],
    );
    // The step in flight finished and was saved; the channel's start never began.
    let started = out.stderr.lines().filter(|l| l.ends_with("...")).count();
    let finished = out.stderr.lines().filter(|l| l.contains(" done (")).count();
    assert_eq!((started, finished), (7, 7), "{}", out.stderr);
    assert!(!w.state_path().with_extension("json.lock").exists());
    let (state, _) = w.state();
    let mut all: Vec<&str> = ALL_BUT_THE_CHANNEL.to_vec();
    all.push("medialive_channel.imday");
    all.sort();
    assert_eq!(state_addresses(&state), all, "{}", out.stderr);
    assert_eq!(w.channel().1["state"], "IDLE");
    assert!(
        !w.requests().iter().any(|r| r.operation == "StartChannel"),
        "no new step started"
    );

    let before = w.requests().len();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let made: Vec<String> = w
        .mutations_since(before)
        .into_iter()
        .map(|(op, _, _)| op)
        .collect();
    assert_eq!(made, ["StartChannel"]);
    assert_eq!(w.inventory(), section_1_inventory());
    assert_eq!(w.channel().1["state"], "RUNNING");
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
}
