//! What presets expand to: ABR ladders, the encoder settings of each output group kind, and the
//! MediaLive access role. All values are in the AWS JSON shape (PascalCase members).

use serde_json::{json, Value};

use crate::encoding::{self, Audio, Video};

/// One video rendition of an output group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendition {
    pub name: String,
    pub width: i64,
    pub height: i64,
    pub bitrate: i64,
    /// Codec, frame rate, GOP, rate control...
    pub video: Video,
}

/// One rung of a ladder: (width, height, video bitrate in bit/s).
pub type Rung = (i64, i64, i64);

/// The named ABR ladders: (name, rungs). H.264 High, CBR,
/// 2 s GOP at 30 fps; each rung carries AAC-LC stereo 48 kHz.
pub const LADDERS: &[(&str, &[Rung])] = &[
    (
        "1080p",
        &[
            (1920, 1080, 4_100_000),
            (1280, 720, 2_200_000),
            (960, 540, 1_500_000),
            (768, 432, 800_000),
            (512, 288, 400_000),
        ],
    ),
    (
        "720p",
        &[
            (1280, 720, 3_000_000),
            (960, 540, 1_500_000),
            (640, 360, 800_000),
            (512, 288, 400_000),
        ],
    ),
];

/// The ladder names, for messages.
pub fn ladder_names() -> Vec<&'static str> {
    LADDERS.iter().map(|(n, _)| *n).collect()
}

pub(crate) fn ladder(name: &str) -> Option<Vec<Rendition>> {
    let (_, rungs) = LADDERS.iter().find(|(n, _)| *n == name)?;
    Some(
        rungs
            .iter()
            .map(|&(width, height, bitrate)| Rendition {
                name: format!("{height}p"),
                width,
                height,
                bitrate,
                video: Video::default(),
            })
            .collect(),
    )
}

pub(crate) fn video_description(name: &str, r: &Rendition) -> Value {
    object([
        ("Name", json!(name)),
        ("Width", json!(r.width)),
        ("Height", json!(r.height)),
        ("RespondToAfd", json!("NONE")),
        ("ScalingBehavior", json!("DEFAULT")),
        ("Sharpness", json!(50)),
        (
            "CodecSettings",
            encoding::codec_settings(&r.video, r.bitrate, r.height),
        ),
    ])
}

/// How an output group delivers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GroupKind {
    /// HLS over WebDAV to a MediaPackage v1 channel's ingest endpoints.
    Hls,
    /// The MediaPackage output group (by channel id, no credentials).
    MediaPackage,
    /// RTMP push (e.g. Facebook Live).
    Rtmp,
}

/// The encoder settings pieces of one output group: (video descriptions, audio descriptions,
/// output group). `destination` is the group's destination id.
/// `audio`: the group's tracks, each rendition carrying all of them (none declared: one AAC
/// stereo track, named as before tracks could be declared).
pub(crate) fn output_group(
    group: &str,
    kind: &GroupKind,
    destination: &str,
    renditions: &[Rendition],
    audio: Option<&[Audio]>,
    standard: bool,
) -> (Vec<Value>, Vec<Value>, Value) {
    let mut videos = Vec::new();
    let mut audios = Vec::new();
    let mut outputs = Vec::new();
    let default = [encoding::default_audio()];
    for r in renditions {
        let v = format!("{group}_video_{}", r.name);
        videos.push(video_description(&v, r));
        let mut names = Vec::new();
        for track in audio.unwrap_or(&default) {
            let a = match audio {
                Some(_) => format!("{group}_audio_{}_{}", r.name, track.name),
                None => format!("{group}_audio_{}", r.name),
            };
            audios.push(encoding::audio_description(&a, track, r.bitrate));
            names.push(json!(a));
        }
        let settings = match kind {
            GroupKind::Hls => json!({
                "HlsOutputSettings": {
                    "NameModifier": format!("_{}", r.name),
                    "H265PackagingType": "HVC1",
                    "HlsSettings": {
                        "StandardHlsSettings": {
                            "AudioRenditionSets": "program_audio",
                            "M3u8Settings": {
                                "AudioFramesPerPes": 4,
                                "AudioPids": "492-498",
                                "NielsenId3Behavior": "NO_PASSTHROUGH",
                                "PcrControl": "PCR_EVERY_PES_PACKET",
                                "PmtPid": "480",
                                "ProgramNum": 1,
                                "Scte35Behavior": "NO_PASSTHROUGH",
                                "Scte35Pid": "500",
                                "TimedMetadataBehavior": "NO_PASSTHROUGH",
                                "VideoPid": "481"
                            }
                        }
                    }
                }
            }),
            GroupKind::MediaPackage => json!({ "MediaPackageOutputSettings": {} }),
            GroupKind::Rtmp => json!({
                "RtmpOutputSettings": {
                    "Destination": { "DestinationRefId": destination },
                    "CertificateMode": "VERIFY_AUTHENTICITY",
                    "ConnectionRetryInterval": 2,
                    "NumRetries": 10
                }
            }),
        };
        outputs.push(object([
            ("OutputName", json!(format!("{group}_{}", r.name))),
            ("VideoDescriptionName", json!(v)),
            ("AudioDescriptionNames", Value::Array(names)),
            ("CaptionDescriptionNames", json!([])),
            ("OutputSettings", settings),
        ]));
    }
    let group_settings = match kind {
        GroupKind::Hls => json!({
            "HlsGroupSettings": {
                "Destination": { "DestinationRefId": destination },
                "HlsCdnSettings": {
                    "HlsWebdavSettings": {
                        "ConnectionRetryInterval": 1,
                        "FilecacheDuration": 300,
                        "HttpTransferMode": "NON_CHUNKED",
                        "NumRetries": 10,
                        "RestartDelay": 15
                    }
                },
                "SegmentLength": 6,
                "IndexNSegments": 10,
                "KeepSegments": 21,
                "ManifestDurationFormat": "INTEGER",
                // AWS's guidance for HLS to MediaPackage from a STANDARD channel: pause on
                // input loss so that MediaPackage switches to the other pipeline's ingest
                // (MediaLive user guide, "hls-resiliency"); one pipeline emits black frames.
                "InputLossAction": if standard { "PAUSE_OUTPUT" } else { "EMIT_OUTPUT" },
                "TsFileMode": "SEGMENTED_FILES",
                "StreamInfResolution": "INCLUDE",
                "ProgramDateTime": "EXCLUDE",
                "OutputSelection": "MANIFESTS_AND_SEGMENTS",
                "Mode": "LIVE",
                "CodecSpecification": "RFC_4281",
                "DirectoryStructure": "SINGLE_DIRECTORY",
                "SegmentationMode": "USE_SEGMENT_DURATION",
                "CaptionLanguageSetting": "OMIT"
            }
        }),
        GroupKind::MediaPackage => json!({
            "MediaPackageGroupSettings": { "Destination": { "DestinationRefId": destination } }
        }),
        GroupKind::Rtmp => json!({
            "RtmpGroupSettings": {
                "AuthenticationScheme": "COMMON",
                "CacheFullBehavior": "DISCONNECT_IMMEDIATELY",
                "CacheLength": 30,
                "CaptionData": "ALL",
                "InputLossAction": "EMIT_OUTPUT",
                "RestartDelay": 15
            }
        }),
    };
    let og = object([
        ("Name", json!(group)),
        ("OutputGroupSettings", group_settings),
        ("Outputs", Value::Array(outputs)),
    ]);
    (videos, audios, og)
}

/// The settings every generated encoder config shares.
pub(crate) fn encoder_settings(
    videos: Vec<Value>,
    audios: Vec<Value>,
    groups: Vec<Value>,
) -> Value {
    object([
        ("AudioDescriptions", Value::Array(audios)),
        ("CaptionDescriptions", json!([])),
        ("OutputGroups", Value::Array(groups)),
        ("TimecodeConfig", json!({ "Source": "SYSTEMCLOCK" })),
        ("VideoDescriptions", Value::Array(videos)),
    ])
}

/// A JSON object of `members`, in this order, moved in: `json!` would copy a `Value` member
/// (through serialization), and these are the large parts of a channel's spec.
pub(crate) fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The trust policy of the MediaLive access role.
pub(crate) fn medialive_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "medialive.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The inline policy of the MediaLive access role: what the console's "create role from
/// template" grants a channel (SSM parameters, MediaPackage, CloudWatch logs and metrics).
pub(crate) fn medialive_access_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:Describe*", "ssm:Get*", "ssm:List*"],
                "Resource": "*"
            },
            {
                "Effect": "Allow",
                "Action": ["mediapackage:DescribeChannel"],
                "Resource": "*"
            },
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                    "logs:DescribeLogGroups"
                ],
                "Resource": "arn:aws:logs:*:*:*"
            },
            {
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*"
            }
        ]
    })
}

/// Where a caption description puts its captions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CaptionFormat {
    /// A WebVTT rendition of its own (HLS, MediaPackage).
    Webvtt,
    /// EIA-608/CEA-708 inside the video.
    Embedded,
    /// Drawn into the picture; `teletext` when the source is a teletext page.
    BurnIn { teletext: bool },
}

/// A CaptionDescription: captions from `selector` of the input attachment, as `format`.
pub(crate) fn caption_description(
    name: &str,
    selector: &str,
    format: CaptionFormat,
    language: Option<&str>,
    label: Option<&str>,
) -> Value {
    let destination = match format {
        CaptionFormat::Webvtt => json!({
            "WebvttDestinationSettings": { "StyleControl": "NO_STYLE_DATA" }
        }),
        CaptionFormat::Embedded => json!({ "EmbeddedDestinationSettings": {} }),
        CaptionFormat::BurnIn { teletext } => {
            let mut s = json!({
                "Alignment": "CENTERED",
                "FontColor": "WHITE",
                "FontSize": "auto",
                "OutlineColor": "BLACK",
                "OutlineSize": 2
            });
            if teletext {
                s["TeletextGridControl"] = json!("FIXED");
            }
            json!({ "BurnInDestinationSettings": s })
        }
    };
    let mut d = object([
        ("Name", json!(name)),
        ("CaptionSelectorName", json!(selector)),
        ("DestinationSettings", destination),
    ]);
    if let Some(l) = language {
        d["LanguageCode"] = json!(l);
    }
    if let Some(l) = label {
        d["LanguageDescription"] = json!(l);
    }
    d
}

/// A captions-only output (a WebVTT rendition) of an HLS or MediaPackage group.
pub(crate) fn caption_output(kind: &GroupKind, name: &str, modifier: &str) -> Value {
    let settings = match kind {
        GroupKind::MediaPackage => json!({ "MediaPackageOutputSettings": {} }),
        _ => json!({
            "HlsOutputSettings": {
                "NameModifier": modifier,
                "HlsSettings": { "StandardHlsSettings": { "M3u8Settings": {} } }
            }
        }),
    };
    object([
        ("OutputName", json!(name)),
        ("AudioDescriptionNames", json!([])),
        ("CaptionDescriptionNames", json!([name])),
        ("OutputSettings", settings),
    ])
}

/// The channel's ad avail settings when SCTE-35 is passed through: splice inserts, their
/// restriction flags followed (what the console sets for manifest decoration).
pub(crate) fn avail_configuration() -> Value {
    json!({
        "AvailSettings": {
            "Scte35SpliceInsert": {
                "NoRegionalBlackoutFlag": "FOLLOW",
                "WebDeliveryAllowedFlag": "FOLLOW"
            }
        }
    })
}
