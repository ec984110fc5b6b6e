//! `encoder_settings = { file = ... }`: the file in either JSON shape AWS prints, and what
//! MediaLive would refuse in it reported where the file is named.

use std::path::Path;

use serde_json::{json, Value as Json};

const STACK: &str = r#"
[stack]
name = "hatch"

[iam_role.r]
preset = "medialive-access"

[mediapackage_channel.mp]
id = "hatch-mp"

[medialive_input.cam]
type = "url_pull"
sources = ["https://example.com/a.m3u8"]

[medialive_channel.one]
class = "single_pipeline"
role = "iam_role.r"
inputs = [{ input = "medialive_input.cam" }]
encoder_settings = { file = "encoder.json" }

[[medialive_channel.one.output_groups]]
name = "mp"
type = "mediapackage"
destination = "mediapackage_channel.mp"
"#;

/// EncoderSettings as `aws medialive describe-channel` prints it: one output, one video and
/// one audio description, to the destination of the group named "mp".
fn pascal() -> Json {
    json!({
        "AudioDescriptions": [{ "Name": "audio_1", "AudioSelectorName": "default",
            "CodecSettings": { "AacSettings": { "Bitrate": 96000, "CodingMode": "CODING_MODE_2_0" } } }],
        "OutputGroups": [{
            "Name": "mp",
            "OutputGroupSettings": { "MediaPackageGroupSettings": { "Destination": { "DestinationRefId": "mp" } } },
            "Outputs": [{
                "OutputName": "720p",
                "VideoDescriptionName": "video_720p",
                "AudioDescriptionNames": ["audio_1"],
                "OutputSettings": { "MediaPackageOutputSettings": {} }
            }]
        }],
        "TimecodeConfig": { "Source": "SYSTEMCLOCK" },
        "VideoDescriptions": [{ "Name": "video_720p", "Width": 1280, "Height": 720,
            "CodecSettings": { "H264Settings": { "Bitrate": 3000000, "RateControlMode": "CBR" } } }]
    })
}

/// The same in the REST shape SDKs and the CDK print: every member name camelCase.
fn camel(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let first = c.next().unwrap().to_ascii_lowercase();
                    (format!("{first}{}", c.as_str()), camel(v))
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(camel).collect()),
        other => other.clone(),
    }
}

fn parse_with(encoder: &Json) -> Result<livestack_model::ValidatedStack, livestack_model::Error> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("encoder.json"), encoder.to_string()).unwrap();
    let stack = dir.path().join("hatch.toml");
    std::fs::write(&stack, STACK).unwrap();
    livestack_model::load(&stack)
}

fn encoder_of(stack: &livestack_model::ValidatedStack) -> Json {
    let channel = stack
        .resources
        .iter()
        .find(|r| r.address.to_string() == "medialive_channel.one")
        .unwrap();
    channel.spec["EncoderSettings"].clone()
}

#[test]
fn camel_case_encoder_settings_are_read_as_the_pascal_case_ones() {
    let from_pascal = encoder_of(&parse_with(&pascal()).unwrap());
    assert_eq!(from_pascal, pascal());
    let camel = camel(&json!({ "encoderSettings": pascal() }));
    assert_eq!(camel["encoderSettings"]["outputGroups"][0]["name"], "mp");
    let from_camel = encoder_of(&parse_with(&camel).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(from_camel, pascal());
}

#[test]
fn descriptions_and_outputs_that_do_not_match_are_refused_naming_the_file() {
    let mut e = pascal();
    e["OutputGroups"][0]["Outputs"][0]["VideoDescriptionName"] = json!("video_1080p");
    e["AudioDescriptions"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "Name": "audio_spare", "AudioSelectorName": "default" }));
    let err = parse_with(&e).unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("hatch.toml:")
            && l.contains("encoder.json`: output `720p` names video description `video_1080p`, which VideoDescriptions does not hold")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("video description `video_720p` is used by no output")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("audio description `audio_spare` is used by no output")),
        "{err}"
    );
    assert_eq!(lines.len(), 3, "{err}");
    // The file's location is where `encoder_settings` names it.
    assert!(lines[0].contains(&format!("{}", Path::new("hatch.toml").display())));
}
