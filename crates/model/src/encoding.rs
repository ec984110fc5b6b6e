//! Encoding choices a broadcast engineer makes: the video codec, frame rate, GOP, rate control,
//! profile, level and scan type of each rendition (set on an output group for all of its
//! renditions, or on one rendition), and the audio tracks of an output group. Each choice is
//! read from the stack file with its checks here and written into MediaLive's own members
//! (`H264Settings`, `H265Settings`, `AudioDescriptions`); what nobody chose is what the
//! presets always wrote (H.264 High, CBR, 30 fps, 2 s GOP; one AAC stereo track).

use serde_json::{json, Map, Value as Json};

use crate::node::{boolean, int_in, one_of, string, Node, Table, Value};
use crate::Diagnostic;

type Diags = Vec<Diagnostic>;

/// The video keys an output group and a rendition both accept (their key lists spell them
/// out, for the stack file reference; a test checks they hold all of these).
#[cfg(test)]
pub(crate) const VIDEO_KEYS: &[&str] = &[
    "codec",
    "framerate",
    "gop_seconds",
    "gop_closed",
    "rate_control",
    "quality",
    "profile",
    "level",
    "scan_type",
];

/// The keys of one `audio = [{ ... }]` track.
pub(crate) const AUDIO_KEYS: &[&str] =
    &["name", "codec", "bitrate", "coding", "language", "selector"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    H264,
    H265,
}

/// How the bitrate is controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    Cbr,
    /// The rendition's bitrate is the average.
    Vbr,
    /// The rendition's bitrate is the cap; `quality` 1-10, else by frame height.
    Qvbr {
        quality: Option<i64>,
    },
}

/// A rendition's video choices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Video {
    pub codec: Codec,
    /// (numerator, denominator); `None` follows the source.
    pub framerate: Option<(i64, i64)>,
    pub gop_seconds: f64,
    /// `GopClosedCadence` 1 (closed) or 0 (open); not written unless chosen.
    pub gop_closed: Option<bool>,
    pub rate: Rate,
    /// AWS's enum value (`HIGH`, `MAIN_10BIT`); the codec's default when `None`.
    pub profile: Option<String>,
    /// `4.1`, or `None` for the codec's AUTO.
    pub level: Option<String>,
    pub interlaced: bool,
}

impl Default for Video {
    fn default() -> Video {
        Video {
            codec: Codec::H264,
            framerate: Some((30, 1)),
            gop_seconds: 2.0,
            gop_closed: None,
            rate: Rate::Cbr,
            profile: None,
            level: None,
            interlaced: false,
        }
    }
}

/// The frame rates a stack file names (`framerate = "29.97"`): (text, (numerator, denominator)).
pub const FRAMERATES: &[(&str, (i64, i64))] = &[
    ("23.976", (24000, 1001)),
    ("24", (24, 1)),
    ("25", (25, 1)),
    ("29.97", (30000, 1001)),
    ("30", (30, 1)),
    ("50", (50, 1)),
    ("59.94", (60000, 1001)),
    ("60", (60, 1)),
];
const H264_PROFILES: &[&str] = &[
    "baseline",
    "main",
    "high",
    "high_10bit",
    "high_422",
    "high_422_10bit",
];
const H265_PROFILES: &[&str] = &["main", "main_10bit"];
const H264_LEVELS: &[&str] = &[
    "auto", "1", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1", "4.2", "5",
    "5.1", "5.2",
];
const H265_LEVELS: &[&str] = &[
    "auto", "1", "2", "2.1", "3", "3.1", "4", "4.1", "5", "5.1", "5.2", "6", "6.1", "6.2",
];

/// Reads the video keys of `t` over `base` (the group's choices for a rendition, the defaults
/// for a group). `rtmp`: the group sends RTMP, which carries H.264 only.
pub(crate) fn video(t: &mut Table<'_>, base: &Video, rtmp: bool, diags: &mut Diags) -> Video {
    let mut v = base.clone();
    // The codec's rules are checked where a choice they concern is made (a rendition that
    // only inherits its group's was checked with the group).
    let chooses = ["codec", "framerate", "rate_control", "profile"]
        .iter()
        .any(|k| t.get(k).is_some());
    if let Some((codec, n)) = t.opt("codec", diags, |n, d| {
        one_of(&["h264", "h265"])(n, d).map(|c| (c, n))
    }) {
        v.codec = if codec == "h265" {
            Codec::H265
        } else {
            Codec::H264
        };
        if rtmp && v.codec == Codec::H265 {
            diags.push(
                Diagnostic::new(n.span, "an rtmp output group carries H.264 video only")
                    .hint("use codec = \"h264\" for this group"),
            );
        }
    }
    if let Some(f) = t.opt("framerate", diags, framerate) {
        v.framerate = f;
    }
    if let Some(g) = t.opt("gop_seconds", diags, seconds(0.5, 10.0)) {
        v.gop_seconds = g;
    }
    if let Some(c) = t.opt("gop_closed", diags, boolean) {
        v.gop_closed = Some(c);
    }
    let quality = t.opt("quality", diags, int_in(1, 10));
    let rate = t.get("rate_control");
    if let Some(n) = rate {
        match one_of(&["cbr", "vbr", "qvbr"])(n, diags).as_deref() {
            Some("cbr") => v.rate = Rate::Cbr,
            Some("vbr") => v.rate = Rate::Vbr,
            Some(_) => v.rate = Rate::Qvbr { quality },
            None => {}
        }
    }
    if let Some(q) = quality {
        match &mut v.rate {
            Rate::Qvbr { quality } => *quality = Some(q),
            _ => {
                let at = t.get("quality").map_or(t.span, |n| n.span);
                diags.push(
                    Diagnostic::new(at, "`quality` is the level of QVBR rate control")
                        .hint("add rate_control = \"qvbr\", or remove `quality`"),
                );
            }
        }
    }
    let profile = t.get("profile");
    let level = t.get("level");
    let scan = t.opt("scan_type", diags, one_of(&["progressive", "interlaced"]));
    if let Some(s) = scan {
        v.interlaced = s == "interlaced";
    }
    // What depends on the codec is checked once it is known.
    let (profiles, levels) = match v.codec {
        Codec::H264 => (H264_PROFILES, H264_LEVELS),
        Codec::H265 => (H265_PROFILES, H265_LEVELS),
    };
    if let Some(n) = profile {
        v.profile = one_of(profiles)(n, diags).map(|p| p.to_uppercase());
    } else if v.codec != base.codec {
        v.profile = None;
    }
    if let Some(n) = level {
        v.level = level_of(n, levels, diags).filter(|l| l != "auto");
    } else if v.codec != base.codec {
        v.level = None;
    }
    if !chooses {
        return v;
    }
    if v.codec == Codec::H265 {
        let at = |key: &str, t: &mut Table<'_>| t.get(key).map_or(t.span, |n| n.span);
        if v.framerate.is_none() {
            diags.push(
                Diagnostic::new(
                    at("framerate", t),
                    "H.265 needs a frame rate: MediaLive cannot follow the source's",
                )
                .hint("give framerate = 25, 29.97, 50, ... for the H.265 renditions"),
            );
        }
        if v.rate == Rate::Vbr {
            diags.push(
                Diagnostic::new(
                    at("rate_control", t),
                    "H.265 has no VBR rate control in MediaLive",
                )
                .hint("use rate_control = \"qvbr\" (AWS's recommendation) or \"cbr\""),
            );
        }
        if let Some(p) = &v.profile {
            if !H265_PROFILES.contains(&p.to_lowercase().as_str()) {
                diags.push(Diagnostic::new(
                    at("profile", t),
                    format!(
                        "profile `{}` is an H.264 profile; H.265's are main and main_10bit",
                        p.to_lowercase()
                    ),
                ));
            }
        }
    } else if let Some(p) = &v.profile {
        if !H264_PROFILES.contains(&p.to_lowercase().as_str()) {
            let at = t.get("profile").map_or(t.span, |n| n.span);
            diags.push(Diagnostic::new(
                at,
                format!(
                    "profile `{}` is an H.265 profile; H.264's are {}",
                    p.to_lowercase(),
                    H264_PROFILES.join(", ")
                ),
            ));
        }
    }
    v
}

/// `framerate = 25`, `29.97`, `"59.94"` or `"source"`.
fn framerate(n: &Node, diags: &mut Diags) -> Option<Option<(i64, i64)>> {
    let text = match &n.value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Str(s) => s.clone(),
        _ => String::new(),
    };
    if text == "source" {
        return Some(None);
    }
    if let Some((_, f)) = FRAMERATES.iter().find(|(t, _)| *t == text) {
        return Some(Some(*f));
    }
    let known: Vec<&str> = FRAMERATES.iter().map(|(t, _)| *t).collect();
    diags.push(
        Diagnostic::new(
            n.span,
            format!(
                "`{}` is not a frame rate MediaLive encodes",
                if text.is_empty() {
                    n.type_name().to_string()
                } else {
                    text
                }
            ),
        )
        .hint(format!("one of {}, or \"source\"", known.join(", "))),
    );
    None
}

/// A number of seconds within `min..=max` (an integer or a float).
fn seconds(min: f64, max: f64) -> impl Fn(&Node, &mut Diags) -> Option<f64> {
    move |n, diags| {
        let v = match &n.value {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            _ => {
                diags.push(Diagnostic::new(
                    n.span,
                    format!("expected a number of seconds, found {}", n.type_name()),
                ));
                return None;
            }
        };
        if (min..=max).contains(&v) {
            Some(v)
        } else {
            diags.push(Diagnostic::new(
                n.span,
                format!("{v} is out of range: expected {min} to {max} seconds"),
            ));
            None
        }
    }
}

/// `level = "4.1"` (or `4.1`, `4`, `"auto"`) among `levels`.
fn level_of(n: &Node, levels: &[&str], diags: &mut Diags) -> Option<String> {
    let text = match &n.value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Str(s) => s.clone(),
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected a level such as \"4.1\", found {}", n.type_name()),
            ));
            return None;
        }
    };
    if levels.contains(&text.as_str()) {
        Some(text)
    } else {
        diags.push(
            Diagnostic::new(n.span, format!("`{text}` is not a level of this codec"))
                .hint(format!("one of {}", levels.join(", "))),
        );
        None
    }
}

/// `CodecSettings` of a video description at `bitrate` (bit/s) and `height`: exactly what the
/// presets always wrote for the defaults.
pub(crate) fn codec_settings(v: &Video, bitrate: i64, height: i64) -> Json {
    let mut m = Map::new();
    let mut put = |k: &str, val: Json| {
        m.insert(k.to_string(), val);
    };
    match v.rate {
        Rate::Cbr => {
            put("Bitrate", json!(bitrate));
            put("RateControlMode", json!("CBR"));
        }
        Rate::Vbr => {
            put("Bitrate", json!(bitrate));
            // Room for the complex scenes: half again the average.
            put("MaxBitrate", json!(bitrate + bitrate / 2));
            put("RateControlMode", json!("VBR"));
        }
        Rate::Qvbr { quality } => {
            put("MaxBitrate", json!(bitrate));
            put(
                "QvbrQualityLevel",
                json!(quality.unwrap_or(qvbr_quality(height))),
            );
            put("RateControlMode", json!("QVBR"));
        }
    }
    let (codec, prefix) = match v.codec {
        Codec::H264 => ("H264Settings", "H264"),
        Codec::H265 => ("H265Settings", "H265"),
    };
    let profile = v.profile.clone().unwrap_or_else(|| match v.codec {
        Codec::H264 => "HIGH".into(),
        Codec::H265 => "MAIN".into(),
    });
    put("Profile", json!(profile));
    let level = match &v.level {
        Some(l) => format!("{prefix}_LEVEL_{}", l.replace('.', "_")),
        None => format!("{prefix}_LEVEL_AUTO"),
    };
    put("Level", json!(level));
    if v.codec == Codec::H265 {
        put("Tier", json!("HIGH"));
    }
    put("AdaptiveQuantization", json!("HIGH"));
    match (v.codec, v.framerate) {
        (Codec::H264, Some((num, den))) => {
            put("FramerateControl", json!("SPECIFIED"));
            put("FramerateNumerator", json!(num));
            put("FramerateDenominator", json!(den));
        }
        (Codec::H264, None) => put("FramerateControl", json!("INITIALIZE_FROM_SOURCE")),
        // H.265 has no FramerateControl: its numerator and denominator are required (a
        // missing frame rate is reported where the file is read).
        (Codec::H265, f) => {
            let (num, den) = f.unwrap_or((30, 1));
            put("FramerateNumerator", json!(num));
            put("FramerateDenominator", json!(den));
        }
    }
    put("GopSize", json!(v.gop_seconds));
    put("GopSizeUnits", json!("SECONDS"));
    if let Some(closed) = v.gop_closed {
        put("GopClosedCadence", json!(i64::from(closed)));
    }
    if v.codec == Codec::H264 {
        put("GopBReference", json!("ENABLED"));
        put("GopNumBFrames", json!(2));
        put("ParControl", json!("SPECIFIED"));
    }
    put("ParNumerator", json!(1));
    put("ParDenominator", json!(1));
    put(
        "ScanType",
        json!(if v.interlaced {
            "INTERLACED"
        } else {
            "PROGRESSIVE"
        }),
    );
    put("SceneChangeDetect", json!("ENABLED"));
    if v.codec == Codec::H264 {
        put("EntropyEncoding", json!("CABAC"));
    }
    put("ColorMetadata", json!("INSERT"));
    put("AfdSignaling", json!("NONE"));
    put("TimecodeInsertion", json!("DISABLED"));
    let mut out = Map::new();
    out.insert(codec.to_string(), Json::Object(m));
    Json::Object(out)
}

/// AWS's guidance for QVBR: quality 8 for 1080p and above, 7 for 720p, 6 below.
fn qvbr_quality(height: i64) -> i64 {
    match height {
        h if h >= 1080 => 8,
        h if h >= 720 => 7,
        _ => 6,
    }
}

/// One audio track of an output group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audio {
    pub name: String,
    pub codec: AudioCodec,
    /// bit/s; `None`: by the video bitrate (AAC) or the codec's default (Dolby).
    pub bitrate: Option<i64>,
    /// "1.0", "2.0" or "5.1".
    pub coding: String,
    /// ISO 639-2 (`eng`); `None` follows the input.
    pub language: Option<String>,
    /// The audio selector of the input attachment it is taken from.
    pub selector: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AudioCodec {
    Aac,
    /// Dolby Digital.
    Ac3,
    /// Dolby Digital Plus.
    Eac3,
    /// The input's Dolby audio as it is.
    Passthrough,
}

/// `audio = [{ ... }, ...]` of an output group; `rtmp` groups carry one AAC track.
pub(crate) fn audio_tracks(n: &Node, rtmp: bool, diags: &mut Diags) -> Option<Vec<Audio>> {
    let items = crate::node::array(n, diags)?;
    if items.is_empty() {
        diags.push(
            Diagnostic::new(n.span, "`audio` must not be empty")
                .hint("remove it for one AAC stereo track"),
        );
        return None;
    }
    if rtmp && items.len() > 1 {
        diags.push(Diagnostic::new(
            n.span,
            format!(
                "an rtmp output carries one audio track; this gives {}",
                items.len()
            ),
        ));
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, it) in items.iter().enumerate() {
        match audio_track(it, i, rtmp, diags) {
            Some(a) if out.iter().any(|o: &Audio| o.name == a.name) => {
                diags.push(Diagnostic::new(
                    it.span,
                    format!("two audio tracks are named `{}`", a.name),
                ));
                ok = false;
            }
            Some(a) => out.push(a),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn audio_track(n: &Node, i: usize, rtmp: bool, diags: &mut Diags) -> Option<Audio> {
    let mut t = Table::new(n, "audio track", diags)?;
    let codec = t.opt(
        "codec",
        diags,
        one_of(&["aac", "ac3", "eac3", "passthrough"]),
    );
    let codec = match codec.as_deref() {
        Some("ac3") => AudioCodec::Ac3,
        Some("eac3") => AudioCodec::Eac3,
        Some("passthrough") => AudioCodec::Passthrough,
        _ => AudioCodec::Aac,
    };
    if rtmp && codec != AudioCodec::Aac {
        let at = t.get("codec").map_or(n.span, |c| c.span);
        diags.push(
            Diagnostic::new(at, "an rtmp output group carries AAC audio only")
                .hint("use codec = \"aac\""),
        );
    }
    let coding = t.opt("coding", diags, one_of(&["1.0", "2.0", "5.1"]));
    let bitrate = t.opt("bitrate", diags, int_in(16_000, 768_000));
    let language = t.opt("language", diags, |n, d| {
        let s = string(n, d)?;
        if s.len() == 3 && s.chars().all(|c| c.is_ascii_lowercase()) {
            Some(s)
        } else {
            d.push(
                Diagnostic::new(n.span, format!("`{s}` is not an ISO 639-2 language code"))
                    .hint("three lower-case letters: eng, fra, deu, spa, ..."),
            );
            None
        }
    });
    let selector = t.opt("selector", diags, string);
    let name = t.opt("name", diags, string);
    if codec == AudioCodec::Passthrough {
        for k in ["bitrate", "coding"] {
            if let Some(n) = t.get(k) {
                diags.push(Diagnostic::new(
                    n.span,
                    format!("`{k}` has no effect on a passthrough track: the input's audio is sent as it is"),
                ));
            }
        }
    }
    if codec == AudioCodec::Aac && coding.as_deref() == Some("5.1") && rtmp {
        let at = t.get("coding").map_or(n.span, |c| c.span);
        diags.push(Diagnostic::new(
            at,
            "an rtmp output carries mono or stereo AAC",
        ));
    }
    t.finish(AUDIO_KEYS, diags);
    Some(Audio {
        name: name
            .or_else(|| language.clone())
            .unwrap_or_else(|| format!("audio{}", i + 1)),
        codec,
        bitrate,
        coding: coding.unwrap_or_else(|| "2.0".into()),
        language,
        selector: selector.unwrap_or_else(|| "default".into()),
    })
}

/// An `AudioDescriptions` entry for `track`; `video_bitrate` picks an AAC bitrate when none is
/// given.
pub(crate) fn audio_description(name: &str, track: &Audio, video_bitrate: i64) -> Json {
    let codec = match track.codec {
        AudioCodec::Aac => json!({ "AacSettings": {
            "Bitrate": track.bitrate.unwrap_or(if video_bitrate >= 2_000_000 { 128_000 } else { 96_000 }),
            "CodingMode": match track.coding.as_str() {
                "1.0" => "CODING_MODE_1_0",
                "5.1" => "CODING_MODE_5_1",
                _ => "CODING_MODE_2_0",
            },
            "InputType": "NORMAL",
            "Profile": "LC",
            "RateControlMode": "CBR",
            "RawFormat": "NONE",
            "SampleRate": 48000,
            "Spec": "MPEG4"
        } }),
        AudioCodec::Ac3 => json!({ "Ac3Settings": {
            "Bitrate": track.bitrate.unwrap_or(if track.coding == "5.1" { 384_000 } else { 192_000 }),
            "BitstreamMode": "COMPLETE_MAIN",
            "CodingMode": match track.coding.as_str() {
                "1.0" => "CODING_MODE_1_0",
                "5.1" => "CODING_MODE_3_2_LFE",
                _ => "CODING_MODE_2_0",
            },
            "DrcProfile": "FILM_STANDARD",
            "LfeFilter": "ENABLED",
            "MetadataControl": "FOLLOW_INPUT"
        } }),
        AudioCodec::Eac3 => json!({ "Eac3Settings": {
            "Bitrate": track.bitrate.unwrap_or(if track.coding == "5.1" { 384_000 } else { 192_000 }),
            "BitstreamMode": "COMPLETE_MAIN",
            "CodingMode": match track.coding.as_str() {
                "1.0" => "CODING_MODE_1_0",
                "5.1" => "CODING_MODE_3_2",
                _ => "CODING_MODE_2_0",
            },
            "DrcLine": "FILM_STANDARD",
            "DrcRf": "FILM_STANDARD",
            "LfeControl": if track.coding == "5.1" { "LFE" } else { "NO_LFE" },
            "MetadataControl": "FOLLOW_INPUT"
        } }),
        AudioCodec::Passthrough => json!({ "PassThroughSettings": {} }),
    };
    let mut d = json!({
        "Name": name,
        "AudioSelectorName": track.selector,
        "AudioTypeControl": "FOLLOW_INPUT",
        "LanguageCodeControl": "FOLLOW_INPUT",
        "CodecSettings": codec
    });
    if let Some(l) = &track.language {
        d["LanguageCodeControl"] = json!("USE_CONFIGURED");
        d["LanguageCode"] = json!(l);
    }
    d
}

/// The one track of a group that declares none: AAC stereo from the input's default audio.
pub(crate) fn default_audio() -> Audio {
    Audio {
        name: String::new(),
        codec: AudioCodec::Aac,
        bitrate: None,
        coding: "2.0".into(),
        language: None,
        selector: "default".into(),
    }
}
