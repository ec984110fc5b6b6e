//! The full life of each workshop example: apply from empty, nothing left to change, (for
//! section 1) section 3's edit, destroy, and nothing of the stack left in the cloud.

use crate::harness::{assert_shows, change, example, plan_json, section_1_inventory, World};

const STREAM_KEY: &str = "fb-stream-key-e2e-0001";

#[test]
fn section_1_applied_then_edited_into_section_3_then_destroyed() {
    let mut w = World::new("section-1-3");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    let s1 = example("s3-loop.toml");
    let s1 = s1.to_str().unwrap();
    let s3 = example("s3-loop-facebook.toml");
    let s3 = s3.to_str().unwrap();

    let applied = w.run(&["apply", s1, "--auto-approve"]).expect(0);
    assert_shows(&applied.stdout, &["Plan: 7 to create"]);
    assert_shows(&applied.stderr, &["Done: 8 steps"]);
    assert_eq!(w.inventory(), section_1_inventory());
    let (id, ch) = w.channel();
    assert_eq!(ch["state"], "RUNNING");
    assert_eq!(ch["channel_class"], "STANDARD");

    // Nothing to change, and CI sees it in the exit code.
    let again = w.run(&["plan", s1, "--detailed-exitcode"]).expect(0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);

    // Section 3 is shown as the dance on the same channel, marked as an interruption.
    let plan = w.run(&["plan", s3, "--detailed-exitcode"]).expect(2);
    let channel_line = plan
        .stdout
        .lines()
        .find(|l| l.contains("medialive_channel.imday "))
        .unwrap_or_else(|| panic!("no line for the channel:\n{}", plan.stdout));
    assert_eq!(
        channel_line.trim(),
        "~ medialive_channel.imday  will be updated in place  [interrupts the live channel]",
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.starts_with("Plan: ") && l.ends_with("; 1 running channel interrupted.")),
        "{}",
        plan.stdout
    );
    let json = plan_json(&w, s3);
    let channel = change(&json, "medialive_channel.imday");
    assert_eq!(
        channel["action"], "update",
        "never a replacement: {channel}"
    );
    assert_eq!(channel["interrupts"], true, "{channel}");
    assert_eq!(
        channel["ops"],
        serde_json::json!(["stop", "update_class", "update", "start"]),
        "{channel}"
    );

    let before = w.requests().len();
    w.run(&["apply", s3, "--auto-approve"]).expect(0);
    let channel_calls: Vec<(String, String, u16)> = w
        .mutations_since(before)
        .into_iter()
        .filter(|(op, _, _)| op.contains("Channel"))
        .collect();
    const DANCE: [&str; 4] = [
        "StopChannel",
        "UpdateChannelClass",
        "UpdateChannel",
        "StartChannel",
    ];
    let got: Vec<(&str, &str)> = channel_calls
        .iter()
        .map(|(op, r, _)| (op.as_str(), r.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = DANCE.iter().map(|op| (*op, id.as_str())).collect();
    assert_eq!(got, expected, "section 3's calls on the channel");
    assert!(
        channel_calls.iter().all(|(_, _, s)| (200..300).contains(s)),
        "every call of the dance succeeded first time (each waited for IDLE): {channel_calls:?}"
    );
    // Between each call of the dance, livestack waited: the channel was described.
    let log: Vec<String> = w
        .requests()
        .into_iter()
        .skip(before)
        .map(|r| r.operation)
        .collect();
    let dance: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, op)| DANCE.contains(&op.as_str()))
        .map(|(i, _)| i)
        .collect();
    for pair in dance.windows(2) {
        assert!(
            log[pair[0] + 1..pair[1]]
                .iter()
                .any(|op| op == "DescribeChannel"),
            "no wait between {} and {}: {log:?}",
            log[pair[0]],
            log[pair[1]]
        );
    }

    let (same_id, ch) = w.channel();
    assert_eq!(same_id, id, "the channel keeps its id");
    assert_eq!(ch["state"], "RUNNING");
    assert_eq!(ch["channel_class"], "SINGLE_PIPELINE");
    let dests = ch["destinations"].as_array().unwrap();
    assert_eq!(
        dests.len(),
        2,
        "the MediaPackage and facebook destinations: {dests:?}"
    );
    for d in dests {
        assert_eq!(d["settings"].as_array().map(Vec::len), Some(1), "{d}");
    }
    assert_eq!(w.inventory(), section_1_inventory());
    w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);

    // Destroy: everything, in an order AWS accepts (any refusal would fail the command).
    let destroyed = w.run(&["destroy", s3, "--auto-approve"]).expect(0);
    assert!(
        destroyed.stdout.contains("7 to delete"),
        "{}",
        destroyed.stdout
    );
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
    let (state, _) = w.state();
    assert_eq!(
        state["resources"].as_object().map(|m| m.len()),
        Some(0),
        "{state}"
    );
    w.run(&["plan", s1, "--detailed-exitcode"]).expect(2);
}

#[test]
fn section_2_laptop_rtmp_full_life() {
    let w = World::new("section-2");
    let s2 = example("laptop-rtmp.toml");
    let s2 = s2.to_str().unwrap();
    w.run(&["apply", s2, "--auto-approve"]).expect(0);
    let inv = w.inventory();
    assert_eq!(inv.inputs, vec!["live-camera"]);
    assert_eq!(inv.security_groups.len(), 1);
    assert_eq!(inv.channels, vec!["imday-live"]);
    assert_eq!(inv.mp_channels, vec!["imday-live-channel"]);
    w.run(&["plan", s2, "--detailed-exitcode"]).expect(0);

    // What OBS needs, as the sandbox made it.
    let cloud = w.cloud();
    let input = first(&cloud["medialive"]["inputs"]);
    let urls: Vec<String> = input["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "rtmp://{}:1935/{}",
                d["ip"].as_str().unwrap(),
                d["stream_name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(urls.len(), 2, "{input}");
    let out = w.run(&["outputs", s2]).expect(0);
    for url in &urls {
        let (server, key) = url.rsplit_once('/').unwrap();
        assert!(
            out.stdout.contains(&format!("OBS Server: {server}/"))
                && out.stdout.contains(&format!("Stream key: {key}")),
            "outputs must show OBS's server and key for {url}:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("RUNNING"), "{}", out.stdout);
    let json = w.run(&["outputs", s2, "--json"]).expect(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("outputs --json");
    assert_eq!(json["inputs"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json["channels"][0]["state"], "RUNNING", "{json}");

    w.run(&["destroy", s2, "--auto-approve"]).expect(0);
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

#[test]
fn section_3_from_empty_full_life() {
    let mut w = World::new("section-3");
    w.env
        .push(("FACEBOOK_STREAM_KEY".into(), STREAM_KEY.into()));
    let s3 = example("s3-loop-facebook.toml");
    let s3 = s3.to_str().unwrap();
    w.run(&["apply", s3, "--auto-approve"]).expect(0);
    assert_eq!(w.inventory(), section_1_inventory());
    let (_, ch) = w.channel();
    assert_eq!(ch["channel_class"], "SINGLE_PIPELINE");
    assert_eq!(ch["state"], "RUNNING");
    w.run(&["plan", s3, "--detailed-exitcode"]).expect(0);
    w.run(&["destroy", s3, "--auto-approve"]).expect(0);
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

/// The European example (issue 10): input failover between the two RTMP contributions,
/// selectors, WebVTT from teletext, SCTE-35 and a 50 fps QVBR ladder reach MediaLive as sent,
/// and nothing is left to change after the apply.
#[test]
fn the_european_example_applies_with_failover_captions_and_ad_markers() {
    let w = World::new("european");
    let euro = example("european-broadcast.toml");
    let euro = euro.to_str().unwrap();
    let applied = w.run(&["apply", euro, "--auto-approve"]).expect(0);
    assert_shows(&applied.stdout, &["Plan: 9 to create"]);
    let (_, ch) = w.channel();
    assert_eq!(ch["state"], "RUNNING");
    let cloud = w.cloud();
    let input_id = |name: &str| {
        cloud["medialive"]["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, i)| i["name"] == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no input {name}"))
    };
    let attachments = ch["input_attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    let failover = &attachments[0]["automaticInputFailoverSettings"];
    assert_eq!(
        failover["secondaryInputId"],
        input_id("euro-news-backup").as_str(),
        "{failover}"
    );
    assert_eq!(failover["inputPreference"], "PRIMARY_INPUT_PREFERRED");
    assert_eq!(
        attachments[0]["inputId"],
        input_id("euro-news-main").as_str()
    );
    let settings = &attachments[0]["inputSettings"];
    assert_eq!(settings["audioSelectors"].as_array().unwrap().len(), 2);
    assert_eq!(
        settings["captionSelectors"][0]["selectorSettings"]["teletextSourceSettings"]["pageNumber"],
        "888"
    );
    let encoder = &ch["encoder_settings"];
    assert_eq!(
        encoder["captionDescriptions"][0]["captionSelectorName"],
        "teletext"
    );
    assert!(encoder["availConfiguration"]["availSettings"]["scte35SpliceInsert"].is_object());
    let h264 = &encoder["videoDescriptions"][0]["codecSettings"]["h264Settings"];
    assert_eq!(
        (
            &h264["rateControlMode"],
            &h264["framerateNumerator"],
            &h264["qvbrQualityLevel"]
        ),
        (&"QVBR".into(), &50.into(), &8.into()),
        "{h264}"
    );
    // German and English on every video output.
    for o in encoder["outputGroups"][0]["outputs"].as_array().unwrap() {
        if o["videoDescriptionName"].is_string() {
            assert_eq!(
                o["audioDescriptionNames"].as_array().unwrap().len(),
                2,
                "{o}"
            );
        }
    }
    let endpoint = first(&cloud["mediapackage"]["origin_endpoints"]);
    assert_eq!(
        endpoint["package"]["adMarkers"], "SCTE35_ENHANCED",
        "{endpoint}"
    );
    w.run(&["plan", euro, "--detailed-exitcode"]).expect(0);
    w.run(&["destroy", euro, "--auto-approve"]).expect(0);
    assert!(w.inventory().is_empty(), "left behind: {:?}", w.inventory());
}

/// The first resource of a kind the sandbox holds (by id).
fn first(of_kind: &serde_json::Value) -> serde_json::Value {
    of_kind
        .as_object()
        .and_then(|m| m.values().next())
        .cloned()
        .unwrap_or_else(|| panic!("none in {of_kind}"))
}
