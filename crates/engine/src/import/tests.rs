//! [`stack_file`] over accounts made by lowering stack files (no network): what the model
//! expresses comes back as the same keys, and the file written lowers to exactly what was read.

use std::path::Path;

use serde_json::{json, Value as Json};

use super::*;

/// An account holding what `toml` lowers to, as the cloud would report it built by hand: ids
/// given, references resolved, no tags, secrets as keyed hashes, channels running.
fn account_of(toml: &str) -> Account {
    let stack = livestack_model::parse(Path::new("given.toml"), toml).expect("the stack lowers");
    let mut ids = BTreeMap::new();
    for (n, r) in stack.resources.iter().enumerate() {
        let s = &r.spec;
        let id = s["RoleName"]
            .as_str()
            .or(s["Id"].as_str())
            .map(String::from)
            .or_else(|| (r.address.kind == Kind::SsmParameter).then(|| s["Name"].to_string()))
            .map(|x| x.trim_matches('"').to_string())
            .unwrap_or_else(|| format!("{}", 1000 + n));
        ids.insert(r.address.to_string(), id);
    }
    let outputs = |mp: &str| {
        json!({ "HlsIngest": { "IngestEndpoints": [
            { "Url": format!("https://mp.example/{mp}/1/channel"), "Username": "u1" },
            { "Url": format!("https://mp.example/{mp}/2/channel"), "Username": "u2" },
        ] } })
    };
    fn resolve(v: &mut Json, ids: &BTreeMap<String, String>, outputs: &dyn Fn(&str) -> Json) {
        if let Some(a) = v.get("$ref").and_then(Json::as_str).map(String::from) {
            let id = ids[&a].clone();
            *v = match v["attr"].as_str().unwrap_or_default() {
                "Id" => json!(id),
                "Arn" => json!(format!("arn:aws:iam::123456789012:role/{id}")),
                attr => livestack_plan::lookup(&outputs(&id), attr)
                    .cloned()
                    .unwrap(),
            };
            return;
        }
        if v.get("$secret").is_some() {
            *v = json!({ "$sensitive": "hash" });
            return;
        }
        match v {
            Json::Object(m) => m.values_mut().for_each(|x| resolve(x, ids, outputs)),
            Json::Array(a) => a.iter_mut().for_each(|x| resolve(x, ids, outputs)),
            _ => {}
        }
    }
    let mut account = Account::default();
    for r in &stack.resources {
        let mut spec = r.spec.clone();
        resolve(&mut spec, &ids, &outputs);
        spec.as_object_mut().unwrap().remove("Tags");
        let id = ids[&r.address.to_string()].clone();
        let kind = r.address.kind;
        account.resources.push((
            kind,
            ObservedResource {
                outputs: if kind == Kind::MediapackageChannel {
                    outputs(&id)
                } else {
                    Json::Null
                },
                id,
                arn: None,
                spec,
                status: (kind == Kind::MedialiveChannel).then(|| "RUNNING".into()),
            },
        ));
    }
    account
}

/// The stack file of `account`, which must lower (no file beside it is needed) to exactly what
/// was read, resource by resource.
fn exact(account: &Account) -> StackFile {
    let f = stack_file(account, "t", Some("us-east-1"), "t");
    assert!(f.files.is_empty(), "{}", f.toml);
    let lowered = livestack_model::parse(Path::new("t.toml"), &f.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", f.toml));
    for (address, entry) in &f.entries {
        let (_, o) = account
            .resources
            .iter()
            .find(|(k, o)| *k == address.kind && o.id == entry.id)
            .unwrap();
        let r = lowered.get(address).unwrap_or_else(|| panic!("{address}"));
        let d = keys::differences(&r.spec, &o.spec);
        assert!(d.is_empty(), "{address}: {d:?}\n{}", f.toml);
    }
    f
}

/// The first resource of `kind` in `account`.
fn first_mut(account: &mut Account, kind: Kind) -> &mut ObservedResource {
    let found = account.resources.iter_mut().find(|(k, _)| *k == kind);
    &mut found.expect("a resource of the kind").1
}

#[track_caller]
fn shows(toml: &str, lines: &[&str]) {
    for l in lines {
        assert!(toml.contains(l), "missing {l:?} in\n{toml}");
    }
}

const SECTION_1: &str = include_str!("../../../../examples/s3-loop.toml");

#[test]
fn a_built_in_ladder_and_the_preset_role_come_back_as_themselves() {
    let f = exact(&account_of(SECTION_1));
    shows(
        &f.toml,
        &[
            "preset = \"medialive-access\"",
            "name = \"TN2224\"\ntype = \"hls\"\ndestination = \"mediapackage_channel.imday-mp-channel\"\n",
            // The passwords are in parameters named after the given stack's label.
            "password_parameters = [\"/livestack/imday/imday-mp/ingest-1\", \"/livestack/imday/imday-mp/ingest-2\"]\nladder = \"1080p\"\n",
            "inputs = [{ input = \"medialive_input.imday-hls-input\", name = \"imday-hls\", source_end_behavior = \"loop\" }]",
        ],
    );
    assert!(!f.toml.contains("encoder_settings") && !f.toml.contains("[ladder."));
    // The two SSM parameters are named, not owned: five resources recorded.
    assert_eq!(f.entries.len(), 5, "{:?}", f.entries);
    assert!(
        f.notes
            .iter()
            .all(|n| n.contains("password_parameters") || n.contains("not one livestack derives")),
        "{:?}",
        f.notes
    );
}

const CHOSEN: &str = r#"
[stack]
name = "t"
region = "us-east-1"

[iam_role.r]
name = "R"
preset = "medialive-access"

[mediapackage_channel.mp]
id = "mp"

[medialive_input_security_group.open]
whitelist = ["0.0.0.0/0"]

[medialive_input.a]
name = "a"
type = "rtmp_push"
destinations = ["x/a", "x/b"]
security_groups = ["medialive_input_security_group.open"]

[medialive_input.b]
name = "b"
type = "rtmp_push"
destinations = ["y/a", "y/b"]
security_groups = ["medialive_input_security_group.open"]

[medialive_channel.c]
name = "c"
role = "iam_role.r"
input_loss = { action = "color", color = "112233", after_ms = 500 }

[[medialive_channel.c.inputs]]
input = "medialive_input.a"
audio_selectors = [{ name = "eng", language = "eng" }, { name = "two", tracks = [3, 4] }]
caption_selectors = [{ name = "cc", source = "embedded", channel = 2, language = "eng" }]
deblock = true
denoise = false
failover = { secondary = "b", prefer = "primary", conditions = [{ type = "audio_silence", selector = "eng", after_ms = 2000 }] }

[[medialive_channel.c.inputs]]
input = "medialive_input.b"

[[medialive_channel.c.output_groups]]
name = "hls"
type = "hls"
destination = "mediapackage_channel.mp"
codec = "h265"
framerate = 25
rate_control = "qvbr"
renditions = [{ width = 1280, height = 720, bitrate = 3000000 }, { name = "low", width = 640, height = 360, bitrate = 900000, quality = 9 }]
audio = [{ language = "eng", selector = "eng", bitrate = 96000 }, { name = "dolby", codec = "eac3", coding = "5.1", selector = "two" }]
segment_seconds = 4
manifest_window = 5
program_date_time = true

[[medialive_channel.c.output_groups]]
name = "mp-out"
type = "mediapackage"
destination = "mediapackage_channel.mp"
ladder = "720p"
gop_seconds = 1.5
level = "4.1"

[[medialive_channel.c.output_groups]]
name = "Facebook"
type = "rtmp"
url = "rtmps://live-api-s.facebook.com:443/rtmp/"
backup_url = "rtmps://live-api-s.facebook.com:443/rtmp/"
stream_key = { env = "FB" }
video = { width = 1280, height = 720, bitrate = 2500000, profile = "main" }
"#;

#[test]
fn every_choice_the_model_expresses_comes_back_as_its_key() {
    let f = exact(&account_of(CHOSEN));
    shows(
        &f.toml,
        &[
            "input_loss = { action = \"color\", color = \"112233\", after_ms = 500 }",
            "audio_selectors = [{ name = \"eng\", language = \"eng\" }, { name = \"two\", tracks = [3, 4] }]",
            "caption_selectors = [{ name = \"cc\", source = \"embedded\", channel = 2, language = \"eng\" }]",
            "deblock = true, denoise = false",
            "failover = { secondary = \"b\", prefer = \"primary\", conditions = [{ type = \"audio_silence\", after_ms = 2000, selector = \"eng\" }] }",
            // The renditions' own choices differ (a quality): a custom ladder, defined once.
            "ladder = \"c-hls\"",
            "[ladder.c-hls]\nrenditions = [\n  { width = 1280, height = 720, bitrate = 3000000, codec = \"h265\", rate_control = \"qvbr\", framerate = \"25\" },\n  { name = \"low\", width = 640, height = 360, bitrate = 900000, codec = \"h265\", rate_control = \"qvbr\", quality = 9, framerate = \"25\" },\n]",
            "audio = [{ name = \"eng\", bitrate = 96000, language = \"eng\", selector = \"eng\" }, { name = \"dolby\", codec = \"eac3\", bitrate = 384000, coding = \"5.1\", selector = \"two\" }]",
            "segment_seconds = 4\nmanifest_window = 5\nprogram_date_time = true\n",
            "ladder = \"720p\"\ngop_seconds = 1.5\nlevel = \"4.1\"",
            "name = \"Facebook\"\ntype = \"rtmp\"",
            "stream_key = { env = \"C_FACEBOOK_STREAM_KEY\" }\nvideo = { width = 1280, height = 720, bitrate = 2500000, profile = \"main\" }\n",
        ],
    );
    assert!(!f.toml.contains("encoder_settings"), "{}", f.toml);
}

#[test]
fn what_the_model_cannot_say_goes_to_the_settings_file() {
    let mut account = account_of(SECTION_1);
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    // A timecode source the model never writes.
    ch.spec["EncoderSettings"]["TimecodeConfig"]["Source"] = json!("EMBEDDED");
    let f = stack_file(&account, "imday", None, "imday");
    shows(
        &f.toml,
        &[
            "encoder_settings = { file = \"imday-imday.encoder.json\" }",
            "inputs = [{ input = \"medialive_input.imday-hls-input\", name = \"imday-hls\", source_end_behavior = \"loop\" }]",
        ],
    );
    assert!(!f.toml.contains("ladder ="), "{}", f.toml);
    assert_eq!(f.files.len(), 1);
    assert!(f.files[0].1.contains("\"EMBEDDED\""));
}

/// An input setting the keys cannot say would be dropped by the channel's next update (it
/// sends the attachments as the file says them): such a channel is not imported, and says why.
#[test]
fn a_channel_whose_attachment_settings_the_keys_cannot_say_is_not_imported() {
    for (member, value) in [
        (
            "InputSettings",
            json!({ "SourceEndBehavior": "LOOP", "FilterStrength": 3 }),
        ),
        (
            "InputSettings",
            json!({ "SourceEndBehavior": "LOOP", "NetworkInputSettings": { "ServerValidation": "CHECK_CRYPTOGRAPHY_ONLY" } }),
        ),
        ("LogicalInterfaceNames", json!(["eth1"])),
    ] {
        let mut account = account_of(SECTION_1);
        let ch = first_mut(&mut account, Kind::MedialiveChannel);
        let id = ch.id.clone();
        ch.spec["InputAttachments"][0][member] = value.clone();
        let f = stack_file(&account, "imday", None, "imday");
        shows(
            &f.toml,
            &[&format!(
                "# Channel {id} (imday) is not imported: input attachment `imday-hls`"
            )],
        );
        assert!(!f.toml.contains("[medialive_channel."), "{}", f.toml);
        assert!(
            !f.entries
                .iter()
                .any(|(a, _)| [Kind::MedialiveChannel, Kind::MedialiveInput].contains(&a.kind)),
            "{value}"
        );
        // Nor its input, which serves it alone.
        assert!(f.toml.contains("is not imported: channel"), "{}", f.toml);
        assert!(
            f.notes.iter().any(|n| n.contains("not imported")),
            "{:?}",
            f.notes
        );
        livestack_model::parse(Path::new("imday.toml"), &f.toml).expect("the rest lowers");
    }
    // Failover the model refuses (it pairs push inputs only): not imported either, never a
    // file without it.
    let mut account = account_of(SECTION_1);
    let input = account
        .resources
        .iter()
        .find(|(k, _)| *k == Kind::MedialiveInput)
        .unwrap()
        .1
        .id
        .clone();
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    let mut second = ch.spec["InputAttachments"][0].clone();
    second["InputAttachmentName"] = json!("second");
    ch.spec["InputAttachments"][0]["AutomaticInputFailoverSettings"] = json!({
        "SecondaryInputId": input, "InputPreference": "EQUAL_INPUT_PREFERENCE",
        "FailoverConditions": [{ "FailoverConditionSettings": { "InputLossSettings": { "InputLossThresholdMsec": 1000 } } }],
    });
    ch.spec["InputAttachments"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let f = stack_file(&account, "imday", None, "imday");
    assert!(!f.toml.contains("[medialive_channel."), "{}", f.toml);
    assert!(f.toml.contains("is not imported"), "{}", f.toml);
}

/// What MediaLive reports for an attachment that left an input setting out (its default) is
/// no setting the file loses.
#[test]
fn input_settings_at_medialive_s_defaults_are_not_in_the_way() {
    let mut account = account_of(SECTION_1);
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    let s = &mut ch.spec["InputAttachments"][0]["InputSettings"];
    s["InputFilter"] = json!("AUTO");
    s["FilterStrength"] = json!(1);
    s["Smpte2038DataPreference"] = json!("IGNORE");
    s["DeblockFilter"] = json!("DISABLED");
    let f = exact(&account);
    shows(
        &f.toml,
        &["inputs = [{ input = \"medialive_input.imday-hls-input\", name = \"imday-hls\", source_end_behavior = \"loop\", deblock = false }]"],
    );
}

/// A console channel's destination ids (`destination1`) are kept: `destination_id`, not the
/// settings file.
#[test]
fn a_console_destination_id_is_written_as_destination_id() {
    let mut account = account_of(SECTION_1);
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    let text = ch
        .spec
        .to_string()
        .replace("\"tn2224\"", "\"destination1\"");
    ch.spec = serde_json::from_str(&text).unwrap();
    let f = exact(&account);
    shows(
        &f.toml,
        &[
            "name = \"TN2224\"\ndestination_id = \"destination1\"\ntype = \"hls\"",
            "ladder = \"1080p\"",
        ],
    );
    // With the settings file the group is named after its destination (the file gives its
    // name), and the file lowers.
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    ch.spec["EncoderSettings"]["TimecodeConfig"]["Source"] = json!("EMBEDDED");
    let f = stack_file(&account, "imday", None, "imday");
    shows(
        &f.toml,
        &[
            "name = \"destination1\"\ntype = \"hls\"",
            "encoder_settings = { file",
        ],
    );
    let dir = std::env::temp_dir().join(format!("livestack-import-dest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in &f.files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let lowered = livestack_model::parse(&dir.join("imday.toml"), &f.toml);
    std::fs::remove_dir_all(&dir).unwrap();
    lowered.unwrap_or_else(|e| panic!("{e}\n{}", f.toml));
}

#[test]
fn a_role_that_is_not_the_preset_s_is_written_as_it_is() {
    let mut account = account_of(SECTION_1);
    let role = first_mut(&mut account, Kind::IamRole);
    role.spec["ManagedPolicyArns"] = json!([]);
    let f = exact(&account);
    assert!(!f.toml.contains("preset"), "{}", f.toml);
    shows(
        &f.toml,
        &[
            "assume_role_policy = '''",
            "[iam_role.MediaLiveAccessRole.inline_policies]",
        ],
    );
}

#[test]
fn cmaf_manifests_the_model_cannot_say_and_hls_elsewhere_are_left_out_with_a_comment() {
    let mut account = account_of(&format!(
        "{SECTION_1}\n[mediapackage_endpoint.cmaf]\nid = \"cmaf\"\nchannel = \"mediapackage_channel.imday-mp\"\npackaging = \"cmaf\"\n\n[mediapackage_endpoint.cmaf2]\nid = \"cmaf2\"\nchannel = \"mediapackage_channel.imday-mp\"\npackaging = \"cmaf\"\nad_markers = \"scte35_enhanced\"\n"
    ));
    // One CMAF endpoint as livestack makes it (imported), one with a second HLS manifest.
    let (_, e) = account
        .resources
        .iter_mut()
        .find(|(k, o)| *k == Kind::MediapackageEndpoint && o.id == "cmaf2")
        .unwrap();
    let mut second = e.spec["CmafPackage"]["HlsManifests"][0].clone();
    second["Id"] = json!("cmaf2-low");
    e.spec["CmafPackage"]["HlsManifests"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let f = stack_file(&account, "imday", None, "imday");
    shows(
        &f.toml,
        &[
            "[mediapackage_endpoint.cmaf]\nid = \"cmaf\"",
            "packaging = \"cmaf\"",
            "# MediaPackage endpoint cmaf2 is not imported: the model cannot express its CMAF package as it is",
        ],
    );
    assert!(
        !f.toml.contains("[mediapackage_endpoint.cmaf2]"),
        "{}",
        f.toml
    );
    assert!(!f.entries.iter().any(|(_, e)| e.id == "cmaf2"));
    assert!(f.entries.iter().any(|(_, e)| e.id == "cmaf"));

    // HLS to a web server: no key of the model says it; the channel is left out.
    let mut account = account_of(SECTION_1);
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    ch.spec["Destinations"][0]["Settings"][0]["Url"] = json!("https://origin.example/live/a");
    let f = stack_file(&account, "imday", None, "imday");
    shows(
        &f.toml,
        &["is not imported: destination `tn2224` sends to https://origin.example/live/a, which is no MediaPackage channel's ingest endpoint"],
    );
    assert!(!f.toml.contains("[medialive_channel."), "{}", f.toml);
    assert!(!f
        .entries
        .iter()
        .any(|(a, _)| a.kind == Kind::MedialiveChannel));
    livestack_model::parse(Path::new("imday.toml"), &f.toml).expect("the rest lowers");
}

#[test]
fn secrets_are_never_written() {
    let mut account = account_of(CHOSEN);
    for (_, o) in &mut account.resources {
        if let Some(d) = o.spec["Destinations"].as_array_mut() {
            let settings = d.iter_mut().filter_map(|d| d["Settings"].as_array_mut());
            for s in settings.flatten() {
                if s.get("StreamName").is_some() {
                    s["StreamName"] = json!("the-real-stream-key");
                }
            }
        }
    }
    let f = stack_file(&account, "t", None, "t");
    assert!(!f.toml.contains("the-real-stream-key"));
    assert!(f
        .files
        .iter()
        .all(|(_, t)| !t.contains("the-real-stream-key")));
    assert!(f.notes.iter().all(|n| !n.contains("the-real-stream-key")));
}

#[test]
fn a_server_default_is_no_difference_but_a_member_of_encoder_settings_the_model_lacks_is() {
    let desired =
        json!({ "HlsPackage": { "SegmentDurationSeconds": 6 }, "EncoderSettings": { "A": 2.0 } });
    let observed = json!({
        "HlsPackage": { "SegmentDurationSeconds": 6, "PlaylistType": "NONE" },
        "EncoderSettings": { "A": 2, "B": 1 },
        "Arn": "arn:x",
    });
    assert_eq!(
        keys::differences(&desired, &observed),
        ["EncoderSettings.B"]
    );
}

/// Two channels on the same custom renditions: one `[ladder.<name>]`, used by both.
#[test]
fn a_custom_ladder_is_defined_once_and_used_by_name() {
    let channel = |n: &str| {
        format!(
            r#"
[medialive_input.{n}]
name = "{n}"
type = "url_pull"
sources = ["https://example.com/{n}.m3u8"]

[medialive_channel.{n}]
name = "{n}"
class = "single_pipeline"
role = "iam_role.r"
inputs = [{{ input = "medialive_input.{n}" }}]
output_groups = [{{ name = "out", type = "mediapackage", destination = "mediapackage_channel.mp", ladder = "mine", framerate = 25 }}]
"#
        )
    };
    let toml = format!(
        "[stack]\nname = \"t\"\n\n[ladder.mine]\nrenditions = [{{ width = 1280, height = 720, bitrate = 2500000 }}, {{ name = \"small\", width = 640, height = 360, bitrate = 700000 }}]\n\n[iam_role.r]\npreset = \"medialive-access\"\n\n[mediapackage_channel.mp]\nid = \"mp\"\n{}{}",
        channel("one"),
        channel("two")
    );
    let f = exact(&account_of(&toml));
    assert_eq!(f.toml.matches("[ladder.").count(), 1, "{}", f.toml);
    shows(
        &f.toml,
        &[
            "[ladder.one-out]\nrenditions = [\n  { width = 1280, height = 720, bitrate = 2500000 },\n  { name = \"small\", width = 640, height = 360, bitrate = 700000 },\n]",
            "[[medialive_channel.two.output_groups]]\nname = \"out\"\ntype = \"mediapackage\"\ndestination = \"mediapackage_channel.mp\"\nladder = \"one-out\"\nframerate = \"25\"\n",
        ],
    );
    assert_eq!(
        f.toml.matches("ladder = \"one-out\"").count(),
        2,
        "{}",
        f.toml
    );
}

/// Captions (WebVTT, embedded, burnt in) and SCTE-35 passed through come back as the groups'
/// `captions` and `scte35`, not the settings file: the European example and the golden case
/// of every caption format.
#[test]
fn captions_and_scte35_come_back_as_their_keys() {
    let f = exact(&account_of(include_str!(
        "../../../../examples/european-broadcast.toml"
    )));
    shows(
        &f.toml,
        &[
            "captions = [{ selector = \"teletext\", format = \"webvtt\", language = \"deu\", label = \"Deutsch\" }]",
            "scte35 = \"passthrough\"",
            "ladder = \"euro-news-hls\"",
        ],
    );
    assert!(!f.toml.contains("encoder_settings"), "{}", f.toml);

    let broadcast = include_str!(
        "../../../../crates/plan/tests/cases/create-broadcast-inputs-captions/stack.toml"
    );
    let f = exact(&account_of(broadcast));
    shows(
        &f.toml,
        &[
            "format = \"embedded\"",
            "captions = [{ selector = \"teletext-deu\", format = \"webvtt\", language = \"deu\", name = \"de\" }]",
            "format = \"burn_in\"",
        ],
    );
    assert_eq!(
        f.toml.matches("scte35 = \"passthrough\"").count(),
        2,
        "{}",
        f.toml
    );
    assert!(!f.toml.contains("encoder_settings"), "{}", f.toml);

    // Avails no group passes through (an RTMP group only): the settings file says them.
    let mut account = account_of(SECTION_1);
    let ch = first_mut(&mut account, Kind::MedialiveChannel);
    ch.spec["EncoderSettings"]["AvailConfiguration"] = json!({ "AvailSettings": { "Scte35SpliceInsert": { "NoRegionalBlackoutFlag": "FOLLOW", "WebDeliveryAllowedFlag": "FOLLOW" } } });
    let f = stack_file(&account, "imday", None, "imday");
    assert!(f.toml.contains("encoder_settings = { file"), "{}", f.toml);
}
