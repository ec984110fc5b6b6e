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
/// Creates a resource from its spec (no livestack tags unless `spec` has them), as the
/// console or a script would; its id.
fn make(w: &World, c: &livestack_aws::Clients, kind: Kind, spec: Json) -> String {
    let a = Address::new(kind, "console");
    let token = format!(
        "console-{kind}-{}",
        spec["Name"].as_str().unwrap_or_default()
    );
    let (id, _) = w
        .block_on(c.create(&a, &spec, &token))
        .unwrap_or_else(|e| panic!("creating {kind}: {e:?}"));
    id
}

/// The EncoderSettings livestack makes for the channel of `example`.
fn encoder_settings_of(example_file: &str) -> Json {
    let stack = livestack_model::load(&example(example_file)).expect("the example loads");
    stack
        .resources
        .iter()
        .find(|r| r.address.kind == Kind::MedialiveChannel)
        .expect("a channel")
        .spec["EncoderSettings"]
        .clone()
}

/// The role of `preset = "medialive-access"` as livestack makes it, made by hand (no tags).
fn preset_role(w: &World, c: &livestack_aws::Clients, name: &str) -> String {
    let stack = livestack_model::load(&example("laptop-rtmp.toml")).expect("the example loads");
    let mut spec = stack
        .resources
        .iter()
        .find(|r| r.address.kind == Kind::IamRole)
        .expect("a role")
        .spec
        .clone();
    spec["RoleName"] = json!(name);
    spec.as_object_mut().unwrap().remove("Tags");
    make(w, c, Kind::IamRole, spec)
}

/// The console's MediaLiveAccessRole.
fn console_role(w: &World, c: &livestack_aws::Clients, name: &str) -> String {
    make(
        w,
        c,
        Kind::IamRole,
        json!({
            "RoleName": name,
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
    )
}

/// Starts channel `id` and waits until it is RUNNING.
fn start(w: &World, c: &livestack_aws::Clients, id: &str) {
    w.block_on(async {
        c.wait_channel(
            id,
            livestack_aws::ChannelWait::Idle,
            Duration::from_secs(60),
        )
        .await
        .expect("channel IDLE");
        c.start_channel(id).await.expect("StartChannel");
        c.wait_channel(
            id,
            livestack_aws::ChannelWait::Running,
            Duration::from_secs(60),
        )
        .await
        .expect("channel RUNNING");
    });
}

/// Section 1, or with `facebook` section 3: the channel SINGLE_PIPELINE with an RTMP group
/// `facebook` whose stream key is `key`.
/// The HLS group is named `TN2224` and sends to destination `tn2224`, the id livestack gives it.
fn console_section(w: &World, facebook: Option<&str>) -> String {
    console_section_with(w, facebook, "tn2224", |i| {
        format!("/livestack/imday/imday-mp-channel/ingest-{i}")
    })
}

/// As [`console_section`], its ingest passwords in the SSM parameters `param(1)`, `param(2)`,
/// its HLS group sending to destination `destination`.
fn console_section_with(
    w: &World,
    facebook: Option<&str>,
    destination: &str,
    param: impl Fn(usize) -> String,
) -> String {
    let c = w.clients();
    let mk = |kind: Kind, spec: Json| make(w, &c, kind, spec);
    let role = console_role(w, &c, "MediaLiveAccessRole");
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
    let pipelines = if facebook.is_some() { 1 } else { 2 };
    for (i, password) in passwords.iter().enumerate() {
        let name = param(i + 1);
        mk(
            Kind::SsmParameter,
            json!({
                "Name": name,
                "Type": "SecureString",
                "Value": password,
                "Description": format!("MediaPackage ingest password {} of mediapackage_channel.imday-mp-channel (livestack)", i + 1),
            }),
        );
        if i >= pipelines {
            continue;
        }
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
    // to destination `destination`.
    let example = if facebook.is_some() {
        "s3-loop-facebook.toml"
    } else {
        "s3-loop.toml"
    };
    let encoder = encoder_settings_of(example)
        .to_string()
        .replace("\"tn2224\"", &format!("\"{destination}\""));
    let mut destinations = vec![json!({ "Id": destination, "Settings": settings })];
    if let Some(key) = facebook {
        destinations.push(json!({
            "Id": "facebook",
            "Settings": [{ "Url": "rtmps://live-api-s.facebook.com:443/rtmp/", "StreamName": key }]
        }));
    }
    let channel = mk(
        Kind::MedialiveChannel,
        json!({
            "Name": "imday",
            "ChannelClass": if facebook.is_some() { "SINGLE_PIPELINE" } else { "STANDARD" },
            "RoleArn": "arn:aws:iam::123456789012:role/MediaLiveAccessRole",
            "LogLevel": "DISABLED",
            "InputSpecification": { "Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS" },
            "InputAttachments": [{ "InputId": input, "InputAttachmentName": "imday-hls-input", "InputSettings": { "SourceEndBehavior": "LOOP" } }],
            "Destinations": destinations,
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

/// What the import of section 1 (and 3) records, as the first plan adopts it.
const SECTION_1_ADOPTED: &[&str] = &[
    "iam_role.MediaLiveAccessRole",
    "medialive_channel.imday",
    "medialive_input.imday-hls-input",
    "mediapackage_channel.imday-mp-channel",
    "mediapackage_endpoint.imday-mp-hlsendpoint",
    "ssm_parameter.imday-mp-channel-ingest-1",
    "ssm_parameter.imday-mp-channel-ingest-2",
];

#[test]
fn import_section_1_adopts_with_tags_only_and_keeps_the_channel_on_air() {
    let w = World::new("import-s1");
    let channel = console_section(&w, None);
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
            "name = \"TN2224\"\ntype = \"hls\"\ndestination = \"mediapackage_channel.imday-mp-channel\"\nladder = \"1080p\"\n",
        ],
    );
    // The ladder says it all: no encoder settings file.
    assert!(!dry.stdout.contains("encoder_settings"), "{}", dry.stdout);
    // The console's role is not the preset's: its policies are written as they are.
    assert_shows(
        &dry.stdout,
        &[
            "assume_role_policy = '''",
            "managed_policies = [\"arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess\"]",
        ],
    );
    assert!(!w.dir.join("imday.toml").exists() && !w.state_path().exists());
    for p in w.ingest_passwords() {
        assert!(!dry.all().contains(&p), "an ingest password was printed");
    }

    let before = w.requests().len();
    let run = import(&[]);
    assert_shows(&run.stderr, &["imported 7 resources into imday.toml"]);
    assert!(!run.stderr.contains("bug of import"), "{}", run.stderr);
    let writes = w.mutations_since(before);
    assert!(writes.is_empty(), "import wrote to the cloud: {writes:?}");
    let toml = std::fs::read_to_string(w.dir.join("imday.toml")).unwrap();
    assert!(!w.dir.join("imday-imday.encoder.json").exists(), "{toml}");
    w.run_bare(&["validate", "imday.toml"], &[]).expect(0);

    adopt_and_apply(&w, "imday.toml", SECTION_1_ADOPTED, &channel);
}

/// A console channel whose ingest passwords live in parameters of the console's naming: the
/// imported stack names them (`password_parameters`), does not own them, and its first plan
/// only adopts (the channel keeps reading them; nothing restarts it).
#[test]
fn import_keeps_the_console_s_own_password_parameters() {
    let w = World::new("import-params");
    let channel = console_section_with(&w, None, "destination1", |i| {
        format!("/console/imday/password-{i}")
    });
    let run = import_to_imday_toml(&w, "imday");
    assert_shows(&run.stderr, &["password_parameters"]);
    let toml = std::fs::read_to_string(w.dir.join("imday.toml")).unwrap();
    assert_shows(
        &toml,
        &[
            "password_parameters = [\"/console/imday/password-1\", \"/console/imday/password-2\"]",
            // The console's destination id is kept as the group's `destination_id`, and the
            // ladder says the rest: no settings file.
            "name = \"TN2224\"\ndestination_id = \"destination1\"\ntype = \"hls\"",
            "ladder = \"1080p\"",
        ],
    );
    assert!(!toml.contains("encoder_settings"), "{toml}");
    assert!(!w.dir.join("imday-imday.encoder.json").exists(), "{toml}");
    let adopted: Vec<&str> = SECTION_1_ADOPTED
        .iter()
        .copied()
        .filter(|a| !a.starts_with("ssm_parameter."))
        .collect();
    adopt_and_apply(&w, "imday.toml", &adopted, &channel);
    // The console's parameters are as they were, and livestack made none of its own (not even
    // a hash key: the stack it wrote handles no secret).
    let params = w.cloud()["ssm"]["parameters"].clone();
    let names: Vec<&String> = params.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["/console/imday/password-1", "/console/imday/password-2"],
        "{params:#}"
    );
}

/// `livestack import --channel CHANNEL -o imday.toml` against the world's sandbox; it succeeds.
fn import_to_imday_toml(w: &World, channel: &str) -> crate::harness::Run {
    let url = w.sandbox.endpoint_url();
    let state = w.state_path().display().to_string();
    let run = w
        .run_bare(
            &[
                "import",
                "--sandbox-url",
                &url,
                "--channel",
                channel,
                "-o",
                "imday.toml",
                "--state",
                &state,
            ],
            &[],
        )
        .expect(0);
    assert!(!run.stderr.contains("bug of import"), "{}", run.stderr);
    // The state import writes is bound to the sandbox it read.
    let (state, _) = w.state();
    assert_eq!(state["target"]["kind"], "sandbox", "{}", state["target"]);
    assert_eq!(
        state["target"]["world"],
        w.sandbox.identity().world.as_str()
    );
    run
}

/// The first plan of an imported stack adopts exactly `adopted` and only adds their ownership
/// tags; its apply neither stops nor updates the channel (RUNNING throughout), and the next
/// plan is empty.
#[track_caller]
fn adopt_and_apply(w: &World, stack: &str, adopted: &[&str], channel: &str) {
    let toml = std::fs::read_to_string(w.dir.join(stack)).unwrap();
    let plan = plan_json(w, stack);
    let mut found: Vec<&str> = plan["adopted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, adopted, "{plan:#}\n{toml}");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), adopted.len(), "{plan:#}\n{toml}");
    for s in steps {
        assert_eq!(s["op"], "update_tags", "only tags change: {plan:#}\n{toml}");
        assert!(s["interrupts"].is_null() || s["interrupts"] == false, "{s}");
    }

    let before = w.requests().len();
    w.run(&["apply", stack, "--auto-approve"]).expect(0);
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
    let ch = &w.cloud()["medialive"]["channels"][channel];
    assert_eq!(ch["state"], "RUNNING");
    w.run(&["plan", stack, "--detailed-exitcode"]).expect(0);
}

/// Workshop section 2 as the console builds it: an input security group open to all, an RTMP
/// push input with destinations imday/a and imday/b, a MediaPackage channel and endpoint, and a
/// running channel with a MediaPackage output group. Beside it a channel (and its input) that
/// stack `other` owns: listed, not imported.
#[test]
fn import_section_2_rtmp_push_and_leaves_what_another_stack_owns() {
    let w = World::new("import-s2");
    let c = w.clients();
    let mk = |kind: Kind, spec: Json| make(&w, &c, kind, spec);
    preset_role(&w, &c, "MediaLiveAccessRole-live");
    mk(
        Kind::MediapackageChannel,
        json!({ "Id": "imday-live-channel" }),
    );
    mk(
        Kind::MediapackageEndpoint,
        json!({
            "Id": "imday-live-hlsendpoint",
            "ChannelId": "imday-live-channel",
            "ManifestName": "index",
            "Origination": "ALLOW",
            "HlsPackage": { "SegmentDurationSeconds": 6, "PlaylistWindowSeconds": 60 }
        }),
    );
    let sg = mk(
        Kind::MedialiveInputSecurityGroup,
        json!({ "WhitelistRules": [{ "Cidr": "0.0.0.0/0" }] }),
    );
    let input = mk(
        Kind::MedialiveInput,
        json!({
            "Name": "live-camera",
            "Type": "RTMP_PUSH",
            "Destinations": [{ "StreamName": "imday/a" }, { "StreamName": "imday/b" }],
            "InputSecurityGroups": [sg],
        }),
    );
    let channel_spec = |name: &str, input: &str| {
        json!({
            "Name": name,
            "ChannelClass": "STANDARD",
            "RoleArn": "arn:aws:iam::123456789012:role/MediaLiveAccessRole-live",
            "LogLevel": "DISABLED",
            "InputSpecification": { "Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS" },
            "InputAttachments": [{ "InputId": input, "InputAttachmentName": "live-camera" }],
            "Destinations": [{ "Id": "mediapackage", "MediaPackageSettings": [{ "ChannelId": "imday-live-channel" }] }],
            "EncoderSettings": encoder_settings_of("laptop-rtmp.toml"),
        })
    };
    let channel = mk(Kind::MedialiveChannel, channel_spec("imday-live", &input));
    start(&w, &c, &channel);
    // Another stack's channel, with its own input.
    let owned = json!({ "livestack:stack": "other", "livestack:address": "medialive_channel.x" });
    let other_input = mk(
        Kind::MedialiveInput,
        json!({
            "Name": "other-camera",
            "Type": "RTMP_PUSH",
            "Destinations": [{ "StreamName": "other/a" }, { "StreamName": "other/b" }],
            "InputSecurityGroups": [sg],
            "Tags": { "livestack:stack": "other", "livestack:address": "medialive_input.x" },
        }),
    );
    let mut other = channel_spec("other-live", &other_input);
    other["Tags"] = owned;
    let other = mk(Kind::MedialiveChannel, other);

    let state = w.state_path().display().to_string();
    let run = import_all(&w, &["-o", "live.toml", "--state", &state], 0);
    assert!(!run.stderr.contains("bug of import"), "{}", run.stderr);
    assert_shows(
        &run.stderr,
        &[
            &format!("medialive_channel {other} is owned by stack `other` (its livestack tags); not imported"),
            "imported 6 resources into live.toml",
        ],
    );
    let toml = std::fs::read_to_string(w.dir.join("live.toml")).unwrap();
    assert_shows(
        &toml,
        &[
            "type = \"rtmp_push\"",
            "destinations = [\"imday/a\", \"imday/b\"]",
            &format!("security_groups = [\"medialive_input_security_group.sg-{sg}\"]"),
            "whitelist = [\"0.0.0.0/0\"]",
            "type = \"mediapackage\"",
            "destination = \"mediapackage_channel.imday-live-channel\"\nladder = \"720p\"\n",
            "name = \"MediaLiveAccessRole-live\"\n# Its trust and policies are the preset's: MediaLive's access role.\npreset = \"medialive-access\"\n",
        ],
    );
    assert!(
        !toml.contains("encoder_settings") && !toml.contains("assume_role_policy"),
        "{toml}"
    );
    assert!(!toml.contains("other"), "{toml}");
    adopt_and_apply(
        &w,
        "live.toml",
        &[
            "iam_role.MediaLiveAccessRole-live",
            "medialive_channel.imday-live",
            "medialive_input.live-camera",
            &format!("medialive_input_security_group.sg-{sg}"),
            "mediapackage_channel.imday-live-channel",
            "mediapackage_endpoint.imday-live-hlsendpoint",
        ],
        &channel,
    );
}

/// Workshop section 3 as the console builds it: section 1's channel SINGLE_PIPELINE with an
/// RTMP group to Facebook. The stream key is never written: the file names the variable, and
/// with it set the first plan still only adopts.
#[test]
fn import_section_3_rtmp_output_stream_key_from_the_environment() {
    let key = "FB-1234-secret-stream-key";
    let mut w = World::new("import-s3");
    let channel = console_section(&w, Some(key));
    let run = import_to_imday_toml(&w, &channel);
    assert_shows(&run.stderr, &["set IMDAY_FACEBOOK_STREAM_KEY"]);
    assert!(!run.all().contains(key), "the stream key was printed");
    let toml = std::fs::read_to_string(w.dir.join("imday.toml")).unwrap();
    assert_shows(
        &toml,
        &[
            "class = \"single_pipeline\"",
            "type = \"rtmp\"",
            "url = \"rtmps://live-api-s.facebook.com:443/rtmp/\"",
            "# The stream key is never written here: set IMDAY_FACEBOOK_STREAM_KEY",
            "stream_key = { env = \"IMDAY_FACEBOOK_STREAM_KEY\" }\nvideo = { width = 1920, height = 1080, bitrate = 4000000 }\n",
            "ladder = \"1080p\"",
        ],
    );
    assert!(!toml.contains("encoder_settings"), "{toml}");
    let written = std::fs::read_dir(&w.dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(!written.contains(key), "the stream key was written");
    w.env.push(("IMDAY_FACEBOOK_STREAM_KEY".into(), key.into()));
    adopt_and_apply(&w, "imday.toml", SECTION_1_ADOPTED, &channel);
}

/// `livestack import --sandbox` reads the embedded sandbox's cloud (beside the state given):
/// section 1 applied by livestack, its ownership tags then stripped as if built by hand, is
/// imported with its built-in ladder and the preset role, and planned against the same
/// embedded sandbox: adopt-only, tags-only.
#[test]
fn import_reads_the_embedded_sandbox() {
    let w = World::new("import-embedded");
    // The channel reads parameters named after the applied stack's label: named, not owned.
    let toml = import_untagged(&w, "s3-loop.toml", "us-east-1", "imday", 5);
    assert_shows(
        &toml,
        &[
            "preset = \"medialive-access\"",
            "ladder = \"1080p\"",
            "source_end_behavior = \"loop\"",
        ],
    );
}

/// The European example (teletext subtitles as WebVTT, SCTE-35 passed through, failover,
/// selectors) built by hand: its captions and SCTE-35 come back as the group's keys, no
/// settings file, and its first plan only adopts.
#[test]
fn import_reads_captions_and_scte35_back_as_keys() {
    let w = World::new("import-captions");
    let toml = import_untagged(&w, "european-broadcast.toml", "eu-west-1", "euro-news", 7);
    assert_shows(
        &toml,
        &[
            "captions = [{ selector = \"teletext\", format = \"webvtt\", language = \"deu\", label = \"Deutsch\" }]",
            "scte35 = \"passthrough\"",
            "caption_selectors = [{ name = \"teletext\", source = \"teletext\", page = \"888\", language = \"deu\" }]",
            "failover = { secondary = ",
        ],
    );
}

/// `example` applied in the embedded sandbox of `region`, its livestack tags stripped, then
/// channel `channel` imported (`count` resources, no settings file) and planned: adopt-only,
/// tags-only. The file written.
#[track_caller]
fn import_untagged(
    w: &World,
    example_file: &str,
    region: &str,
    channel: &str,
    count: usize,
) -> String {
    untagged(w, example_file, region, |_| {});
    let embedded = ["--sandbox", "--sandbox-speed", "200", "--region", region];
    let mut import = vec![
        "import",
        "--channel",
        channel,
        "-o",
        "b/x.toml",
        "--state",
        "b/x.json",
    ];
    import.extend(["--sandbox", "--region", region]);
    let run = w.run_bare(&import, &[]).expect(0);
    assert_shows(
        &run.stderr,
        &[&format!("imported {count} resources into b/x.toml")],
    );
    assert!(!run.stderr.contains("bug of import"), "{}", run.stderr);
    let toml = std::fs::read_to_string(w.dir.join("b/x.toml")).unwrap();
    assert!(!toml.contains("encoder_settings"), "{toml}");
    let mut plan = vec!["plan", "b/x.toml", "--json", "--state", "b/x.json"];
    plan.extend(embedded);
    let out = w.run_bare(&plan, &[]).expect(0);
    let plan: Json = serde_json::from_str(&out.stdout).expect("plan --json");
    assert_eq!(
        plan["adopted"].as_array().unwrap().len(),
        count,
        "{plan:#}\n{toml}"
    );
    for s in plan["steps"].as_array().unwrap() {
        assert_eq!(s["op"], "update_tags", "only tags change: {plan:#}\n{toml}");
    }
    toml
}

/// Import into the name of a stack livestack already manages in the account is refused: the
/// file would be planned as that stack, whose plan deletes what carries its tags and the file
/// does not declare (its derived SSM parameters, under the labels of the stack's own file).
/// Under another name, that stack's resources are listed as its own and not imported.
#[test]
fn import_into_a_stack_name_already_in_the_account_is_refused() {
    let w = World::new("import-managed");
    let s1 = example("s3-loop.toml");
    w.run(&["apply", s1.to_str().unwrap(), "--auto-approve"])
        .expect(0);
    let import = |stack: &str, code: i32| {
        let (toml, state) = (
            format!("{stack}-import.toml"),
            format!("{stack}-import.json"),
        );
        import_all(
            &w,
            &["--stack", stack, "-o", &toml, "--state", &state],
            code,
        )
    };
    let refused = import("imday", 1);
    assert_shows(
        &refused.stderr,
        &[
            "import: stack `imday` already has resources in this account (",
            "import into another stack name (--stack NAME)",
        ],
    );
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );
    assert!(!w.dir.join("imday-import.toml").exists());
    assert!(!w.dir.join("imday-import.json").exists());

    let other = import("elsewhere", 0);
    assert_shows(
        &other.stderr,
        &["is owned by stack `imday` (its livestack tags); not imported"],
    );
}

/// `livestack import --all` with `args` against the world's sandbox, which exits with `code`
/// and writes nothing to the cloud.
fn import_all(w: &World, args: &[&str], code: i32) -> crate::harness::Run {
    let url = w.sandbox.endpoint_url();
    let mut all = vec!["import", "--sandbox-url", &url, "--all"];
    all.extend_from_slice(args);
    let before = w.requests().len();
    let run = w.run_bare(&all, &[]).expect(code);
    assert!(
        w.mutations_since(before).is_empty(),
        "import wrote to the cloud"
    );
    run
}

/// `example` applied in the embedded sandbox of `region` (state `a/x.json`), its cloud then
/// stripped of livestack's tags and changed by `edit` (the sandbox's stored shape), kept as the
/// embedded sandbox of stack `x` beside `b/x.json`.
fn untagged(w: &World, example_file: &str, region: &str, edit: impl Fn(&mut Json)) {
    let ex = example(example_file);
    let ex = ex.to_str().unwrap();
    let mut apply = vec!["apply", ex, "--auto-approve", "--state", "a/x.json"];
    apply.extend(["--sandbox", "--sandbox-speed", "200", "--region", region]);
    w.run_bare(&apply, &[("SOCIAL_KEY", "k")]).expect(0);
    fn untag(v: &mut Json) {
        match v {
            Json::Object(m) => {
                m.retain(|k, _| !k.starts_with("livestack:"));
                m.values_mut().for_each(untag);
            }
            Json::Array(a) => {
                // IAM keeps a role's tags as [key, value] pairs.
                a.retain(|t| !t[0].as_str().is_some_and(|k| k.starts_with("livestack:")));
                a.iter_mut().for_each(untag);
            }
            _ => {}
        }
    }
    // The embedded sandbox's cloud is kept beside the state, named after the applied stack.
    let stack = livestack_model::load(&example(example_file))
        .expect("the example loads")
        .name;
    let text = std::fs::read_to_string(w.dir.join(format!("a/{stack}.sandbox.json"))).unwrap();
    let mut cloud: Json = serde_json::from_str(&text).unwrap();
    untag(&mut cloud);
    edit(&mut cloud);
    std::fs::create_dir_all(w.dir.join("b")).unwrap();
    std::fs::write(w.dir.join("b/x.sandbox.json"), cloud.to_string()).unwrap();
}

/// A channel with an input setting the keys cannot say (`FilterStrength` 3) is not imported,
/// and stderr says why: a stack file without it would make the channel's next update drop the
/// setting. The rest is imported, and its apply never updates the channel.
#[test]
fn a_channel_with_input_settings_the_keys_cannot_say_is_not_imported() {
    let w = World::new("import-unsaid");
    untagged(&w, "s3-loop.toml", "us-east-1", |cloud| {
        for ch in cloud["medialive"]["channels"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            ch["input_attachments"][0]["inputSettings"]["filterStrength"] = json!(3);
        }
    });
    let embedded = ["--sandbox", "--region", "us-east-1"];
    let mut import = vec!["import", "--all", "-o", "b/x.toml", "--state", "b/x.json"];
    import.extend(embedded);
    let run = w.run_bare(&import, &[]).expect(0);
    assert_shows(
        &run.stderr,
        &["not imported: input attachment `imday-hls`: the model's keys cannot say its InputSettings.FilterStrength as they are"],
    );
    let toml = std::fs::read_to_string(w.dir.join("b/x.toml")).unwrap();
    assert!(!toml.contains("[medialive_channel."), "{toml}");
    let state = std::fs::read_to_string(w.dir.join("b/x.json")).unwrap();
    assert!(
        !state.contains("medialive_channel.") && !state.contains("medialive_input."),
        "{state}"
    );
    let mut apply = vec!["apply", "b/x.toml", "--auto-approve", "--state", "b/x.json"];
    apply.extend(embedded);
    w.run_bare(&apply, &[]).expect(0);
    let data = std::fs::read_to_string(w.dir.join("b/x.sandbox.json")).unwrap();
    let cloud: Json = serde_json::from_str(&data).unwrap();
    let channels = cloud["medialive"]["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 1);
    for ch in channels.values() {
        assert_eq!(
            ch["input_attachments"][0]["inputSettings"]["filterStrength"],
            3
        );
        assert_eq!(ch["state"], "RUNNING");
    }
}
