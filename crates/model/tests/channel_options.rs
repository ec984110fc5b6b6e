//! The defaults of the channel options that the golden case does not spell out.

use std::path::Path;

use livestack_model::{parse, Address};
use serde_json::{json, Value};

/// The spec of `medialive_channel.ch` in a stack of two RTMP push inputs and one HLS group,
/// with `channel` and `group` added to the channel and its group, `attachment` to the first
/// attachment.
fn channel(channel: &str, attachment: &str, group: &str) -> Value {
    let text = text(channel, attachment, group);
    let stack = parse(Path::new("opts.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let ch = Address::parse("medialive_channel.ch").unwrap();
    stack.get(&ch).unwrap().spec.clone()
}

/// The text of the stack of [`channel`].
fn text(channel: &str, attachment: &str, group: &str) -> String {
    format!(
        r#"
[stack]
name = "opts"

[iam_role.r]
preset = "medialive-access"

[mediapackage_channel.mp]
id = "mp"

[medialive_input_security_group.open]
whitelist = ["0.0.0.0/0"]

[medialive_input.a]
type = "rtmp_push"
destinations = ["a/a"]
security_groups = ["medialive_input_security_group.open"]

[medialive_input.b]
type = "rtmp_push"
destinations = ["b/a"]
security_groups = ["medialive_input_security_group.open"]

[medialive_channel.ch]
class = "single_pipeline"
role = "iam_role.r"
{channel}
inputs = [{{ input = "medialive_input.a", {attachment} }}, {{ input = "medialive_input.b" }}]
output_groups = [{{ name = "hls", type = "hls", destination = "mediapackage_channel.mp", {group} }}]
"#
    )
}

#[test]
fn input_loss_repeats_a_second_then_shows_black_until_the_input_returns() {
    let spec = channel("input_loss = {}", "name = \"a\"", "ladder = \"720p\"");
    assert_eq!(
        spec["EncoderSettings"]["GlobalConfiguration"],
        json!({ "InputLossBehavior": { "RepeatFrameMsec": 1000, "BlackFrameMsec": 1000000 } })
    );
    let spec = channel(
        "input_loss = { action = \"color\", after_ms = 0, color = \"1A2B3C\" }",
        "name = \"a\"",
        "ladder = \"720p\"",
    );
    assert_eq!(
        spec["EncoderSettings"]["GlobalConfiguration"]["InputLossBehavior"],
        json!({ "RepeatFrameMsec": 0, "BlackFrameMsec": 0,
                "InputLossImageType": "COLOR", "InputLossImageColor": "1A2B3C" })
    );
}

#[test]
fn failover_defaults_to_equal_preference_on_a_second_of_input_loss() {
    let spec = channel("", "failover = { secondary = \"b\" }", "ladder = \"720p\"");
    let f = &spec["InputAttachments"][0]["AutomaticInputFailoverSettings"];
    assert_eq!(f["InputPreference"], "EQUAL_INPUT_PREFERENCE");
    assert_eq!(
        f["FailoverConditions"],
        json!([{ "FailoverConditionSettings": { "InputLossSettings": { "InputLossThresholdMsec": 1000 } } }])
    );
    assert_eq!(f["SecondaryInputId"]["$ref"], "medialive_input.b");
    assert!(f.get("ErrorClearTimeMsec").is_none());
    assert!(spec["InputAttachments"][1]
        .get("AutomaticInputFailoverSettings")
        .is_none());
}

#[test]
fn hls_settings_left_out_keep_the_workshop_values() {
    let spec = channel(
        "",
        "name = \"a\"",
        "manifest_window = 5, program_date_time = true",
    );
    let hls =
        &spec["EncoderSettings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"];
    assert_eq!(hls["SegmentLength"], 6);
    assert_eq!(hls["IndexNSegments"], 5);
    assert_eq!(hls["KeepSegments"], 11);
    assert_eq!(hls["ProgramDateTime"], "INCLUDE");
    assert_eq!(hls["ProgramDateTimePeriod"], 600);
    assert!(hls.get("AdMarkers").is_none());
    // Nothing asked for: no captions, no ad avails, no global configuration.
    let plain = channel("", "name = \"a\"", "ladder = \"720p\"");
    assert_eq!(plain["EncoderSettings"]["CaptionDescriptions"], json!([]));
    assert!(plain["EncoderSettings"].get("AvailConfiguration").is_none());
    assert!(plain["EncoderSettings"]
        .get("GlobalConfiguration")
        .is_none());
    assert!(plain["InputAttachments"][0].get("InputSettings").is_none());
}

#[test]
fn embedded_captions_go_into_each_video_output_and_are_named_in_the_manifest() {
    let spec = channel(
        "",
        "caption_selectors = [{ name = \"cc\", source = \"embedded\", channel = 2, language = \"spa\" }]",
        "ladder = \"720p\", captions = [{ selector = \"cc\", format = \"embedded\" }]",
    );
    let es = &spec["EncoderSettings"];
    assert_eq!(es["CaptionDescriptions"].as_array().unwrap().len(), 4);
    for o in es["OutputGroups"][0]["Outputs"].as_array().unwrap() {
        let name = o["OutputName"].as_str().unwrap();
        assert_eq!(
            o["CaptionDescriptionNames"],
            json!([format!("{name}_captions_cc")])
        );
    }
    let hls = &es["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"];
    assert_eq!(hls["CaptionLanguageSetting"], "INSERT");
    assert_eq!(
        hls["CaptionLanguageMappings"],
        json!([{ "CaptionChannel": 2, "LanguageCode": "spa", "LanguageDescription": "spa" }])
    );
}

#[test]
fn a_group_s_destination_id_is_its_own_when_given_and_unique_in_the_channel() {
    let spec = channel("", "name = \"a\"", "destination_id = \"destination1\"");
    assert_eq!(spec["Destinations"][0]["Id"], "destination1");
    assert_eq!(
        spec["EncoderSettings"]["OutputGroups"][0]["OutputGroupSettings"]["HlsGroupSettings"]
            ["Destination"]["DestinationRefId"],
        "destination1"
    );
    // Without it: the group's name.
    let spec = channel("", "name = \"a\"", "ladder = \"720p\"");
    assert_eq!(spec["Destinations"][0]["Id"], "hls");

    // Beside a group `two` sending to destination `two`.
    let text = |hls: &str| {
        text("", "name = \"a\"", hls).replace(
            "output_groups = [",
            "output_groups = [{ name = \"two\", type = \"mediapackage\", destination = \"mediapackage_channel.mp\" }, ",
        )
    };
    let e = parse(Path::new("opts.toml"), &text("destination_id = \"two\""))
        .expect_err("two groups on one destination");
    let e = e.to_string();
    assert!(
        e.contains(
            "two output groups send to destination `two`: a destination id is unique in a channel"
        ),
        "{e}"
    );
    let e = parse(Path::new("opts.toml"), &text("destination_id = \"\"")).expect_err("empty");
    assert!(
        e.to_string().contains("a destination id must not be empty"),
        "{e}"
    );
    parse(
        Path::new("opts.toml"),
        &text("destination_id = \"MediaLive-for-RTMP\""),
    )
    .expect("AWS's ids are free text");
}
