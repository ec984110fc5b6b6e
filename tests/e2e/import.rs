//! `livestack import`: resources built as the console builds them (no livestack tags, made with
//! the real AWS SDK clients against the sandbox), imported into a stack file that validates,
//! whose first plan only adopts them and adds livestack's ownership tags, whose apply keeps the
//! channel on air, and after which nothing is left to change.

use std::time::Duration;

use livestack_model::{Address, Kind};
use serde_json::{json, Value as Json};

use crate::harness::*;

/// What the console makes for workshop section 1, by hand: the role, the MediaPackage channel
/// and its HLS endpoint, the two SSM parameters holding the ingest passwords, the looping HLS
/// input and the channel sending HLS to MediaPackage, started. The SSM parameters are given the
/// names livestack derives for stack `imday` (its MediaPackage channel labelled by its id), as
/// import keeps ingest passwords in livestack's derived parameters.
fn console_section_1(w: &World) -> String {
    let c = w.clients();
    let mk = |kind: Kind, spec: Json| {
        let a = Address::new(kind, "console");
        let (id, _) = w
            .block_on(c.create(&a, &spec, &format!("console-{kind}")))
            .unwrap_or_else(|e| panic!("creating {kind}: {e:?}"));
        id
    };
    let role = mk(
        Kind::IamRole,
        json!({
            "RoleName": "MediaLiveAccessRole",
            "Path": "/",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{ "Effect": "Allow", "Principal": { "Service": "medialive.amazonaws.com" }, "Action": "sts:AssumeRole" }]
            },
            "InlinePolicies": {
                "MediaLiveCustomPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": ["ssm:Get*", "mediapackage:DescribeChannel"], "Resource": "*" }]
                }
            },
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess"]
        }),
    );
    assert_eq!(role, "MediaLiveAccessRole");
    mk(
        Kind::MediapackageChannel,
        json!({ "Id": "imday-mp-channel", "Description": "workshop section 1" }),
    );
    mk(
        Kind::MediapackageEndpoint,
        json!({
            "Id": "imday-mp-hlsendpoint",
            "ChannelId": "imday-mp-channel",
            "ManifestName": "index",
            "Origination": "ALLOW",
            "HlsPackage": { "SegmentDurationSeconds": 6, "PlaylistWindowSeconds": 60 }
        }),
    );
    let passwords = w.ingest_passwords();
    let mp = w.cloud()["mediapackage"]["channels"]["imday-mp-channel"]["ingest_endpoints"].clone();
    let mut settings = Vec::new();
    for (i, password) in passwords.iter().enumerate() {
        let name = format!("/livestack/imday/imday-mp-channel/ingest-{}", i + 1);
        mk(
            Kind::SsmParameter,
            json!({
                "Name": name,
                "Type": "SecureString",
                "Value": password,
                "Description": format!("MediaPackage ingest password {} of mediapackage_channel.imday-mp-channel (livestack)", i + 1),
            }),
        );
        settings.push(json!({
            "Url": mp[i]["url"],
            "Username": mp[i]["username"],
            "PasswordParam": name,
        }));
    }
    let source = "https://s3.amazonaws.com/mediaimmersion/medialive/vod/vanlife.m3u8";
    let input = mk(
        Kind::MedialiveInput,
        json!({ "Name": "imday-hls-input", "Type": "URL_PULL", "Sources": [{ "Url": source }, { "Url": source }] }),
    );
    // The console's HLS template's encoder settings (livestack's 1080p ladder here), sending
    // to the console's destination `destination1`.
    let example = livestack_model::load(&example("s3-loop.toml")).expect("s3-loop.toml");
    let encoder = example
        .resources
        .iter()
        .find(|r| r.address.kind == Kind::MedialiveChannel)
        .expect("a channel")
        .spec["EncoderSettings"]
        .to_string()
        .replace("\"tn2224\"", "\"destination1\"");
    let channel = mk(
        Kind::MedialiveChannel,
        json!({
            "Name": "imday",
            "ChannelClass": "STANDARD",
            "RoleArn": "arn:aws:iam::123456789012:role/MediaLiveAccessRole",
            "LogLevel": "DISABLED",
            "InputSpecification": { "Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS" },
            "InputAttachments": [{ "InputId": input, "InputAttachmentName": "imday-hls-input", "InputSettings": { "SourceEndBehavior": "LOOP" } }],
            "Destinations": [{ "Id": "destination1", "Settings": settings }],
            "EncoderSettings": serde_json::from_str::<Json>(&encoder).unwrap(),
        }),
    );
    w.block_on(async {
        c.wait_channel(
            &channel,
            livestack_aws::ChannelWait::Idle,
            Duration::from_secs(60),
        )
        .await
        .expect("channel IDLE");
        c.start_channel(&channel).await.expect("StartChannel");
        c.wait_channel(
            &channel,
            livestack_aws::ChannelWait::Running,
            Duration::from_secs(60),
        )
        .await
        .expect("channel RUNNING");
    });
    channel
}

#[test]
fn import_section_1_adopts_with_tags_only_and_keeps_the_channel_on_air() {
    let w = World::new("import-s1");
    let channel = console_section_1(&w);
    let url = w.sandbox.endpoint_url();
    let state = w.state_path().display().to_string();

    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "--sandbox-url",
            &url,
            "--channel",
            "imday",
            "-o",
            "imday.toml",
            "--state",
            &state,
        ];
        args.extend_from_slice(extra);
        w.run_bare(&args, &[]).expect(0)
    };

    // --dry-run prints and writes nothing.
    let dry = import(&["--dry-run"]);
    assert_shows(
        &dry.stdout,
        &[
            "[medialive_channel.imday]",
            "role = \"iam_role.MediaLiveAccessRole\"",
            "inputs = [{ input = \"medialive_input.imday-hls-input\"",
            "destination = \"mediapackage_channel.imday-mp-channel\"",
            "encoder_settings = { file = \"imday-imday.encoder.json\" }",
            "# --- imday-imday.encoder.json",
        ],
    );
    assert!(!w.dir.join("imday.toml").exists() && !w.state_path().exists());
    for p in w.ingest_passwords() {
        assert!(!dry.all().contains(&p), "an ingest password was printed");
    }

    let before = w.requests().len();
    let run = import(&[]);
    assert_shows(&run.stderr, &["imported 7 resources into imday.toml"]);
    let writes = w.mutations_since(before);
    assert!(writes.is_empty(), "import wrote to the cloud: {writes:?}");
    let toml = std::fs::read_to_string(w.dir.join("imday.toml")).unwrap();
    assert!(w.dir.join("imday-imday.encoder.json").exists(), "{toml}");
    w.run_bare(&["validate", "imday.toml"], &[]).expect(0);

    // The first plan adopts all seven and only adds the ownership tags.
    let plan = plan_json(&w, "imday.toml");
    let mut adopted: Vec<&str> = plan["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    adopted.sort();
    assert_eq!(
        adopted,
        [
            "iam_role.MediaLiveAccessRole",
            "medialive_channel.imday",
            "medialive_input.imday-hls-input",
            "mediapackage_channel.imday-mp-channel",
            "mediapackage_endpoint.imday-mp-hlsendpoint",
            "ssm_parameter.imday-mp-channel-ingest-1",
            "ssm_parameter.imday-mp-channel-ingest-2",
        ],
        "{plan:#}\n{toml}"
    );
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{plan:#}\n{toml}");
    for s in steps {
        assert_eq!(s["op"], "update_tags", "only tags change: {plan:#}\n{toml}");
        assert!(s["interrupts"].is_null() || s["interrupts"] == false, "{s}");
    }

    let before = w.requests().len();
    w.run(&["apply", "imday.toml", "--auto-approve"]).expect(0);
    let calls: Vec<String> = w.requests()[before..]
        .iter()
        .map(|r| r.operation.clone())
        .collect();
    assert!(
        !calls
            .iter()
            .any(|c| c == "StopChannel" || c == "UpdateChannel"),
        "the channel was stopped or updated: {calls:?}"
    );
    let (id, ch) = w.channel();
    assert_eq!(id, channel);
    assert_eq!(ch["state"], "RUNNING");
    w.run(&["plan", "imday.toml", "--detailed-exitcode"])
        .expect(0);
}
