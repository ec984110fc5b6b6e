//! Day-2 edits and a cloud changed by someone else: renames (with and without `[[moved]]`),
//! `state mv`/`state rm`, resources deleted out of band, a stale state id, a second copy left
//! by an interrupted apply. Each converges in one apply.

use std::path::PathBuf;
use std::time::Duration;

use livestack_model::Address;
use serde_json::{json, Value as Json};

use crate::harness::{assert_shows, example, section_1_inventory, World};

/// Section 1 with `edit` applied to its text, written into the test's directory.
fn stack(w: &World, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(example("s3-loop.toml")).unwrap();
    let path: PathBuf = w.dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path.to_str().unwrap().to_string()
}

fn s1(w: &World) -> String {
    stack(w, "s1.toml", |t| t)
}

/// The channel label `imday` renamed to `news`.
fn rename_channel(t: String) -> String {
    t.replace("[medialive_channel.imday]", "[medialive_channel.news]")
        .replace(
            "[[medialive_channel.imday.inputs]]",
            "[[medialive_channel.news.inputs]]",
        )
        .replace(
            "[[medialive_channel.imday.output_groups]]",
            "[[medialive_channel.news.output_groups]]",
        )
}

/// The endpoint label `imday-hls` renamed to `news-hls`.
fn rename_endpoint(t: String) -> String {
    t.replace(
        "[mediapackage_endpoint.imday-hls]",
        "[mediapackage_endpoint.news-hls]",
    )
}

fn plan_json(w: &World, stack: &str) -> Json {
    let out = w.run(&["plan", stack, "--json"]).expect(0);
    serde_json::from_str(&out.stdout).expect("plan --json prints JSON")
}

fn ops(w: &World, since: usize) -> Vec<String> {
    w.mutations_since(since)
        .into_iter()
        .map(|(op, _, status)| {
            assert!(status < 300, "{op} answered {status}");
            op
        })
        .collect()
}

fn state_id(w: &World, address: &str) -> Option<String> {
    w.state().0["resources"][address]["id"]
        .as_str()
        .map(String::from)
}

fn live_channels(w: &World) -> Vec<(String, Json)> {
    w.cloud()["medialive"]["channels"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c["state"] != "DELETED" && c["state"] != "DELETING")
        .map(|(id, c)| (id.clone(), c.clone()))
        .collect()
}

#[test]
fn renaming_a_channel_label_without_moved_frees_its_input_and_converges_in_one_apply() {
    let w = World::new("rename-channel");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let renamed = stack(&w, "renamed.toml", rename_channel);

    let plan = plan_json(&w, &renamed);
    let create = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == "medialive_channel.news" && s["op"] == "create")
        .expect("the new channel is created");
    let delete = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == "medialive_channel.imday" && s["op"] == "delete")
        .expect("the old channel is deleted");
    assert!(
        create["after"]
            .as_array()
            .unwrap()
            .contains(&delete["id"].clone()),
        "the create waits for the delete that lets go of the input: {plan:#}"
    );
    let old = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "medialive_channel.imday")
        .unwrap();
    assert_eq!(
        old["interrupts"], true,
        "the plan says the channel goes off air"
    );

    let before = w.requests().len();
    w.run(&["apply", &renamed, "--auto-approve"]).expect(0);
    let ops = ops(&w, before);
    let del = ops.iter().position(|o| o == "DeleteChannel").unwrap();
    let create = ops.iter().position(|o| o == "CreateChannel").unwrap();
    assert!(del < create, "{ops:?}");
    w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(0);
    let live = live_channels(&w);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1["state"], "RUNNING");
    assert_eq!(
        live[0].1["tags"]["livestack:address"],
        "medialive_channel.news"
    );
}

#[test]
fn renaming_a_channel_label_with_moved_makes_no_aws_call() {
    let w = World::new("moved-channel");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let id = state_id(&w, "medialive_channel.imday").unwrap();
    let moved = stack(&w, "moved.toml", |t| {
        rename_channel(t)
            + "\n[[moved]]\nfrom = \"medialive_channel.imday\"\nto = \"medialive_channel.news\"\n"
    });

    let text = w.run(&["plan", &moved]).expect(0).stdout;
    assert_shows(
        &text,
        &[
            "> medialive_channel.imday -> medialive_channel.news",
            "No changes",
        ],
    );
    let plan = plan_json(&w, &moved);
    assert_eq!(
        plan["moved"],
        json!([{ "from": "medialive_channel.imday", "to": "medialive_channel.news" }])
    );
    assert_eq!(plan["steps"], json!([]));

    let before = w.requests().len();
    w.run(&["apply", &moved, "--auto-approve"]).expect(0);
    assert_eq!(
        ops(&w, before),
        Vec::<String>::new(),
        "no AWS call changed anything"
    );
    assert_eq!(state_id(&w, "medialive_channel.news"), Some(id));
    assert_eq!(state_id(&w, "medialive_channel.imday"), None);
    w.run(&["plan", &moved, "--detailed-exitcode"]).expect(0);
    // Even without its state, the stack finds the channel by its old address's tag.
    std::fs::remove_file(w.state_path()).unwrap();
    let before = w.requests().len();
    w.run(&["apply", &moved, "--auto-approve"]).expect(0);
    assert_eq!(ops(&w, before), Vec::<String>::new());
    w.run(&["plan", &moved, "--detailed-exitcode"]).expect(0);
}

#[test]
fn renaming_an_endpoint_label_is_recognised_as_this_stacks_and_suggests_moved() {
    let w = World::new("rename-endpoint");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let renamed = stack(&w, "renamed.toml", rename_endpoint);

    let plan = w.run(&["plan", &renamed]).expect(0).stdout;
    assert!(!plan.contains("not livestack's"), "{plan}");
    assert_shows(
        &plan,
        &[
            "takes the name `imday-mp-hlsendpoint` from mediapackage_endpoint.imday-hls",
            "add [[moved]] from = \"mediapackage_endpoint.imday-hls\", to = \"mediapackage_endpoint.news-hls\"",
        ],
    );
    w.run(&["apply", &renamed, "--auto-approve"]).expect(0);
    w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());

    // The same rename with its state lost: found by its old address's tag, converged in one
    // apply.
    let back = stack(&w, "back.toml", |t| t);
    w.run(&["apply", &back, "--auto-approve"]).expect(0);
    std::fs::remove_file(w.state_path()).unwrap();
    w.run(&["apply", &renamed, "--auto-approve"]).expect(0);
    w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
}

#[test]
fn state_mv_renames_in_the_state_and_state_rm_lets_go_of_a_resource() {
    let w = World::new("state-mv-rm");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let id = state_id(&w, "medialive_channel.imday").unwrap();
    let renamed = stack(&w, "renamed.toml", rename_channel);
    let state = w.state_path();
    let state = state.to_str().unwrap();

    let mv = w
        .run(&[
            "state",
            "mv",
            &renamed,
            "medialive_channel.imday",
            "medialive_channel.news",
            "--state",
            state,
        ])
        .expect(0);
    assert_shows(
        &mv.stdout,
        &[
            "moved medialive_channel.imday (id ",
            ") to medialive_channel.news",
        ],
    );
    assert_eq!(state_id(&w, "medialive_channel.news"), Some(id));
    // Only the address tag differs: a tags-only change that never stops the channel.
    let plan = plan_json(&w, &renamed);
    let steps: Vec<&Json> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["op"])
        .collect();
    assert_eq!(steps, vec!["update_tags"], "{plan:#}");
    w.run(&["apply", &renamed, "--auto-approve", "--no-interrupt"])
        .expect(0);
    w.run(&["plan", &renamed, "--detailed-exitcode"]).expect(0);

    // `state rm` of the endpoint, then the endpoint removed from the stack: nothing deletes it.
    let endpoint = state_id(&w, "mediapackage_endpoint.imday-hls").unwrap();
    let rm = w
        .run(&[
            "state",
            "rm",
            &renamed,
            "mediapackage_endpoint.imday-hls",
            "--state",
            state,
        ])
        .expect(0);
    assert_shows(
        &rm.stdout,
        &["removed mediapackage_endpoint.imday-hls (id imday-mp-hlsendpoint)"],
    );
    let without = stack(&w, "without.toml", |t| {
        let t = rename_channel(t);
        let start = t.find("[mediapackage_endpoint.imday-hls]").unwrap();
        let end = t[start..].find("packaging = \"hls\"").unwrap() + start + 17;
        format!("{}{}", &t[..start], &t[end..])
    });
    let before = w.requests().len();
    w.run(&["apply", &without, "--auto-approve"]).expect(0);
    assert_eq!(ops(&w, before), Vec::<String>::new());
    assert_eq!(w.inventory().mp_endpoints, vec![endpoint]);
    // A missing address is a one-line error.
    let bad = w
        .run(&[
            "state",
            "rm",
            &without,
            "medialive_input.nope",
            "--state",
            state,
        ])
        .expect(1);
    assert_eq!(
        bad.stderr.trim(),
        "error: medialive_input.nope is not in the state"
    );
}

#[test]
fn a_mediapackage_channel_deleted_out_of_band_is_made_again_with_its_dependants() {
    let w = World::new("mp-deleted");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let c = w.clients();
    w.block_on(async {
        for (a, id) in [
            ("mediapackage_endpoint.x", "imday-mp-hlsendpoint"),
            ("mediapackage_channel.x", "imday-mp-channel"),
        ] {
            c.delete(&Address::parse(a).unwrap(), id).await.unwrap();
        }
    });

    let plan = plan_json(&w, &s1);
    let action = |a: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == a)
            .map(|c| c["action"].clone())
            .unwrap_or(Json::Null)
    };
    assert_eq!(action("mediapackage_channel.imday-mp"), "create");
    assert_eq!(action("mediapackage_endpoint.imday-hls"), "create");
    assert_eq!(action("ssm_parameter.imday-mp-ingest-1"), "update");
    assert_eq!(action("medialive_channel.imday"), "update");
    let out = w.run(&["outputs", &s1]).expect(0);
    assert_shows(&out.stdout, &["medialive_channel.imday"]);

    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    assert_eq!(w.channel().1["state"], "RUNNING");
}

#[test]
fn destroy_shows_and_counts_only_what_exists() {
    let w = World::new("destroy-gone");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let c = w.clients();
    w.block_on(c.delete(
        &Address::parse("mediapackage_endpoint.x").unwrap(),
        "imday-mp-hlsendpoint",
    ))
    .unwrap();
    let out = w.run(&["destroy", &s1, "--auto-approve"]).expect(0);
    assert_shows(
        &out.stdout,
        &[
            "already gone from the cloud",
            "  x mediapackage_endpoint.imday-hls",
            "Plan: 0 to create, 0 to update, 0 to replace, 6 to delete;",
        ],
    );
    assert!(
        !out.stdout.contains("- mediapackage_endpoint.imday-hls"),
        "{}",
        out.stdout
    );
    assert!(w.inventory().is_empty(), "{:?}", w.inventory());
}

#[test]
fn a_stale_channel_id_in_the_state_is_adopted_not_created_again() {
    let w = World::new("stale-id");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let (id, _) = w.channel();
    // A state whose channel id is stale (as a restored backup can be).
    let (mut state, _) = w.state();
    state["resources"]["medialive_channel.imday"]["id"] = json!("9999999");
    std::fs::write(w.state_path(), serde_json::to_string(&state).unwrap()).unwrap();

    let plan = plan_json(&w, &s1);
    assert_eq!(plan["adopted"], json!(["medialive_channel.imday"]));
    assert_eq!(plan["steps"], json!([]));
    let before = w.requests().len();
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    assert_eq!(ops(&w, before), Vec::<String>::new());
    assert_eq!(state_id(&w, "medialive_channel.imday"), Some(id));
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
}

#[test]
fn a_second_copy_left_by_an_interrupted_apply_is_deleted() {
    let w = World::new("second-copy");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let (id, _) = w.channel();
    // A copy of the channel with the same ownership tags, as a create whose answer was lost
    // and that was made again would leave (attached to no input, as AWS allows one user).
    let c = w.clients();
    let hasher = livestack_plan::Hasher::new(b"copy");
    let a = Address::parse("medialive_channel.imday").unwrap();
    let copy = w.block_on(async {
        let o = c.read(&a, &id, &hasher).await.unwrap().unwrap();
        let spec = json!({
            "Name": "imday",
            "ChannelClass": "STANDARD",
            "RoleArn": o.spec["RoleArn"],
            "Destinations": [],
            "InputAttachments": [],
            "EncoderSettings": o.spec["EncoderSettings"],
            "Tags": o.spec["Tags"],
        });
        let (copy, _) = c.create(&a, &spec, "copy-token").await.unwrap();
        c.wait_channel(
            &copy,
            livestack_aws::ChannelWait::Idle,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        copy
    });
    assert_ne!(copy, id);

    let text = w.run(&["plan", &s1]).expect(0).stdout;
    assert_shows(
        &text,
        &[
            "medialive_channel.imday  stays; an old copy will be deleted",
            &format!("a second copy {copy} carries this address's ownership tags"),
        ],
    );
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let live = live_channels(&w);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].0, id, "the channel on air is kept");
    w.run(&["plan", &s1, "--detailed-exitcode"]).expect(0);
}

#[test]
fn no_interrupt_refuses_deleting_the_endpoint_viewers_watch() {
    let w = World::new("no-interrupt-endpoint");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let without = stack(&w, "without.toml", |t| {
        let start = t.find("[mediapackage_endpoint.imday-hls]").unwrap();
        let end = t[start..].find("packaging = \"hls\"").unwrap() + start + 17;
        format!("{}{}", &t[..start], &t[end..])
    });
    let plan = plan_json(&w, &without);
    let step = &plan["steps"][0];
    assert_eq!(
        (&step["op"], &step["address"], &step["interrupts"]),
        (
            &json!("delete"),
            &json!("mediapackage_endpoint.imday-hls"),
            &json!(true)
        ),
        "{plan:#}"
    );
    assert_eq!(plan["summary"]["interrupted"], 1);
    let before = w.requests().len();
    let refused = w
        .run(&["apply", &without, "--auto-approve", "--no-interrupt"])
        .expect(1);
    assert_eq!(
        refused.stderr.trim(),
        "error: --no-interrupt: the plan takes running channel(s) or what viewers watch of them \
         off air (mediapackage_endpoint.imday-hls); nothing was changed"
    );
    assert!(w.mutations_since(before).is_empty());
    assert_eq!(w.inventory(), section_1_inventory());
}

#[test]
fn parallelism_bounds_refresh_reads_and_refuses_zero() {
    let w = World::new("parallelism");
    let s1 = s1(&w);
    w.run(&["apply", &s1, "--auto-approve"]).expect(0);
    let one = w
        .run(&["plan", &s1, "--json", "--parallelism", "1"])
        .expect(0);
    let many = w
        .run(&["plan", &s1, "--json", "--parallelism", "64"])
        .expect(0);
    assert_eq!(
        one.stdout, many.stdout,
        "the same plan whatever the parallelism"
    );
    let zero = w.run(&["plan", &s1, "--parallelism", "0"]);
    assert_ne!(zero.code, 0);
    assert!(zero.stderr.contains("--parallelism"), "{}", zero.stderr);
}
