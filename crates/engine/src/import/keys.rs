//! A channel's AWS members read back into the stack file's keys: its encoder settings as output
//! group keys (`ladder`, the video choices, `audio`, HLS options, `captions`, `scte35`) and
//! `input_loss`, and its input attachments' settings (selectors, filters, failover). Each is a guess that
//! [`super::stack_file`] checks by lowering the file written and comparing with what was read;
//! what does not come back exactly is written another way (the encoder settings file) or left
//! out with a comment.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::q;

/// The keys of a channel whose encoder settings the model expresses.
#[derive(Debug, Clone, Default)]
pub(super) struct EncoderKeys {
    /// By destination id: the output group's keys.
    pub groups: BTreeMap<String, GroupKeys>,
    /// `input_loss = { ... }`, when the settings have a GlobalConfiguration.
    pub input_loss: Option<String>,
}

/// One output group's keys.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupKeys {
    /// The group's name (its EncoderSettings `Name`).
    pub name: String,
    /// `key = value` lines of the group's table; `ladder = "<custom>"` is written as
    /// [`CUSTOM`] until the ladder is named.
    pub lines: Vec<String>,
    /// A custom ladder's `renditions = [...]` value, when no built-in ladder fits.
    pub custom: Option<String>,
}

/// Stands for a custom ladder's name in [`GroupKeys::lines`].
pub(super) const CUSTOM: &str = "\u{0}custom";

/// A number as TOML writes it.
fn num(v: &Json) -> Option<String> {
    if let Some(i) = v.as_i64() {
        return Some(i.to_string());
    }
    let f = v.as_f64()?;
    Some(if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    })
}

/// One rendition read from a video description: (name, width, height, bitrate, its non-default
/// video keys).
type Rendition = (String, i64, i64, i64, Vec<(String, String)>);

/// The video keys of a `CodecSettings` that are not the model's defaults, and the bitrate.
fn video_keys(cs: &Json, height: i64) -> Option<(i64, Vec<(String, String)>)> {
    let (h265, s) = match (cs.get("H264Settings"), cs.get("H265Settings")) {
        (Some(s), None) => (false, s),
        (None, Some(s)) => (true, s),
        _ => return None,
    };
    let mut k: Vec<(String, String)> = Vec::new();
    let mut put = |key: &str, v: String| k.push((key.into(), v));
    if h265 {
        put("codec", q("h265"));
    }
    let rate = s["RateControlMode"].as_str()?;
    let bitrate = match rate {
        "CBR" => s["Bitrate"].as_i64()?,
        "VBR" => {
            put("rate_control", q("vbr"));
            s["Bitrate"].as_i64()?
        }
        "QVBR" => {
            put("rate_control", q("qvbr"));
            let quality = s["QvbrQualityLevel"].as_i64()?;
            let default = match height {
                h if h >= 1080 => 8,
                h if h >= 720 => 7,
                _ => 6,
            };
            if quality != default {
                put("quality", quality.to_string());
            }
            s["MaxBitrate"].as_i64()?
        }
        _ => return None,
    };
    if s["FramerateControl"].as_str() == Some("INITIALIZE_FROM_SOURCE") {
        put("framerate", q("source"));
    } else {
        let f = (
            s["FramerateNumerator"].as_i64()?,
            s["FramerateDenominator"].as_i64()?,
        );
        let (text, _) = livestack_model::FRAMERATES.iter().find(|(_, x)| *x == f)?;
        if *text != "30" {
            put("framerate", q(text));
        }
    }
    let gop = s["GopSize"].as_f64()?;
    if gop != 2.0 {
        put("gop_seconds", num(&s["GopSize"])?);
    }
    match s["GopClosedCadence"].as_i64() {
        Some(1) => put("gop_closed", "true".into()),
        Some(0) => put("gop_closed", "false".into()),
        Some(_) => return None,
        None => {}
    }
    let profile = s["Profile"].as_str()?;
    if profile != if h265 { "MAIN" } else { "HIGH" } {
        put("profile", q(&profile.to_ascii_lowercase()));
    }
    let level = s["Level"].as_str()?;
    let level = level
        .strip_prefix(if h265 { "H265_LEVEL_" } else { "H264_LEVEL_" })?
        .replace('_', ".");
    if level != "AUTO" {
        put("level", q(&level));
    }
    if s["ScanType"].as_str() == Some("INTERLACED") {
        put("scan_type", q("interlaced"));
    }
    Some((bitrate, k))
}

fn inline(keys: &[(String, String)]) -> String {
    let v: Vec<String> = keys.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", v.join(", "))
}

/// The destination id an output group sends to.
fn group_destination(g: &Json) -> Option<String> {
    let s = &g["OutputGroupSettings"];
    let id = s["HlsGroupSettings"]["Destination"]["DestinationRefId"]
        .as_str()
        .or_else(|| s["MediaPackageGroupSettings"]["Destination"]["DestinationRefId"].as_str())
        .or_else(|| {
            g["Outputs"][0]["OutputSettings"]["RtmpOutputSettings"]["Destination"]
                ["DestinationRefId"]
                .as_str()
        })?;
    Some(id.to_string())
}

/// The group keys of EncoderSettings `es`, or `None` when some part is beyond what this reads
/// (a description shared by groups, SCTE-35 avails no group passes through...).
pub(super) fn encoder_keys(es: &Json) -> Option<EncoderKeys> {
    // SCTE-35 passed through: AvailConfiguration (checked against the model's by lowering),
    // said by the groups that carry the markers.
    let avails = es.get("AvailConfiguration").is_some();
    let mut scte35_said = false;
    let videos = es["VideoDescriptions"].as_array()?;
    let audios = es["AudioDescriptions"].as_array()?;
    let by_name = |list: &'_ [Json], name: &str| -> Option<Json> {
        list.iter().find(|d| d["Name"] == name).cloned()
    };
    let mut out = EncoderKeys::default();
    for g in es["OutputGroups"].as_array()? {
        let name = g["Name"].as_str()?.to_string();
        let rtmp = g["OutputGroupSettings"].get("RtmpGroupSettings").is_some();
        let mut renditions: Vec<Rendition> = Vec::new();
        let mut tracks: Option<Vec<String>> = None;
        let mut track_descs: BTreeMap<String, Vec<Json>> = BTreeMap::new();
        // Captions-only outputs (WebVTT) by name, and the first video output's captions.
        let mut webvtt = Vec::new();
        let mut first_video: Option<String> = None;
        for o in g["Outputs"].as_array()? {
            if o.get("VideoDescriptionName").is_none() {
                let out = o["OutputName"].as_str()?;
                out.strip_prefix(&format!("{name}_captions_"))?;
                if o["CaptionDescriptionNames"] != serde_json::json!([out]) {
                    return None;
                }
                webvtt.push(out.to_string());
                continue;
            }
            first_video.get_or_insert_with(|| o["OutputName"].as_str().unwrap_or_default().into());
            let r = o["OutputName"]
                .as_str()?
                .strip_prefix(&format!("{name}_"))?
                .to_string();
            let v = by_name(videos, o["VideoDescriptionName"].as_str()?)?;
            let (w, h) = (v["Width"].as_i64()?, v["Height"].as_i64()?);
            let (bitrate, keys) = video_keys(&v["CodecSettings"], h)?;
            // The audio tracks: one default track `<group>_audio_<r>`, or declared tracks
            // `<group>_audio_<r>_<track>`.
            let names: Vec<&str> = o["AudioDescriptionNames"]
                .as_array()?
                .iter()
                .filter_map(Json::as_str)
                .collect();
            let prefix = format!("{name}_audio_{r}");
            let t: Vec<String> = if names == [prefix.as_str()] {
                Vec::new()
            } else {
                names
                    .iter()
                    .map(|n| Some(n.strip_prefix(&format!("{prefix}_"))?.to_string()))
                    .collect::<Option<_>>()?
            };
            for (track, n) in t.iter().zip(&names) {
                track_descs
                    .entry(track.clone())
                    .or_default()
                    .push(by_name(audios, n)?);
            }
            match &tracks {
                Some(x) if *x != t => return None,
                _ => tracks = Some(t),
            }
            renditions.push((r, w, h, bitrate, keys));
        }
        let first = renditions.first()?;
        let mut lines = Vec::new();
        // Video choices shared by every rendition are the group's; an RTMP group's one
        // rendition (`video = { ... }`) holds its own.
        let single = rtmp && renditions.len() == 1;
        let shared = !single && renditions.iter().all(|r| r.4 == first.4);
        let rendition = |r: &Rendition| {
            let mut k = Vec::new();
            if r.0 != format!("{}p", r.2) {
                k.push(("name".to_string(), q(&r.0)));
            }
            k.push(("width".into(), r.1.to_string()));
            k.push(("height".into(), r.2.to_string()));
            k.push(("bitrate".into(), r.3.to_string()));
            if !shared {
                k.extend(r.4.iter().cloned());
            }
            inline(&k)
        };
        let mut custom = None;
        if single {
            lines.push(format!("video = {}", rendition(first)));
        } else {
            let builtin = livestack_model::LADDERS.iter().find(|(_, rungs)| {
                rungs.len() == renditions.len()
                    && rungs.iter().zip(&renditions).all(|(&(w, h, b), r)| {
                        r.0 == format!("{h}p") && (r.1, r.2, r.3) == (w, h, b)
                    })
            });
            match builtin {
                Some((ladder, _)) if shared => lines.push(format!("ladder = {}", q(ladder))),
                _ => {
                    let v: Vec<String> = renditions
                        .iter()
                        .map(|r| format!("  {},", rendition(r)))
                        .collect();
                    custom = Some(format!("[\n{}\n]", v.join("\n")));
                    lines.push(format!("ladder = {CUSTOM}"));
                }
            }
        }
        if shared {
            lines.extend(first.4.iter().map(|(k, v)| format!("{k} = {v}")));
        }
        let tracks = tracks.unwrap_or_default();
        if !tracks.is_empty() {
            let mut items = Vec::new();
            for t in &tracks {
                items.push(audio_track(t, &track_descs[t])?);
            }
            lines.push(format!("audio = [{}]", items.join(", ")));
        }
        let hls = &g["OutputGroupSettings"]["HlsGroupSettings"];
        if hls.is_object() {
            if let Some(s) = hls["SegmentLength"].as_i64().filter(|s| *s != 6) {
                lines.push(format!("segment_seconds = {s}"));
            }
            if let Some(n) = hls["IndexNSegments"].as_i64().filter(|n| *n != 10) {
                lines.push(format!("manifest_window = {n}"));
            }
            if hls["ProgramDateTime"] == "INCLUDE" {
                lines.push("program_date_time = true".into());
                if let Some(p) = hls["ProgramDateTimePeriod"].as_i64().filter(|p| *p != 600) {
                    lines.push(format!("program_date_time_period = {p}"));
                }
            }
        }
        if let Some(c) = captions(es, &name, &webvtt, first_video.as_deref())? {
            lines.push(c);
        }
        let passes = hls["AdMarkers"] == serde_json::json!(["ELEMENTAL_SCTE35"])
            || g["OutputGroupSettings"]
                .get("MediaPackageGroupSettings")
                .is_some();
        if avails && passes {
            lines.push("scte35 = \"passthrough\"".into());
            scte35_said = true;
        }
        let key = group_destination(g)?;
        if out
            .groups
            .insert(
                key,
                GroupKeys {
                    name,
                    lines,
                    custom,
                },
            )
            .is_some()
        {
            return None;
        }
    }
    if avails && !scte35_said {
        return None;
    }
    if let Some(b) = es.get("GlobalConfiguration") {
        out.input_loss = Some(input_loss(b)?);
    }
    Some(out)
}

/// A group's `captions = [...]`, in the order of the channel's CaptionDescriptions (as the
/// model writes them): each WebVTT output of `webvtt` (`<group>_captions_<name>`), and the
/// captions in the video (`<output>_captions_<name>` of `first_video`, each video output having
/// its own). `Some(None)`: the group has none; `None`: a description this does not read.
fn captions(
    es: &Json,
    group: &str,
    webvtt: &[String],
    first_video: Option<&str>,
) -> Option<Option<String>> {
    let mut items = Vec::new();
    for d in es["CaptionDescriptions"].as_array().into_iter().flatten() {
        let n = d["Name"].as_str()?;
        let cname = if webvtt.iter().any(|w| w == n) {
            n.strip_prefix(&format!("{group}_captions_"))?
        } else if let Some(c) = first_video.and_then(|v| n.strip_prefix(&format!("{v}_captions_")))
        {
            c
        } else {
            continue;
        };
        let ds = &d["DestinationSettings"];
        let format = if ds.get("WebvttDestinationSettings").is_some() {
            "webvtt"
        } else if ds.get("EmbeddedDestinationSettings").is_some() {
            "embedded"
        } else if ds.get("BurnInDestinationSettings").is_some() {
            "burn_in"
        } else {
            return None;
        };
        let selector = d["CaptionSelectorName"].as_str()?;
        let mut k = vec![
            ("selector".to_string(), q(selector)),
            ("format".into(), q(format)),
        ];
        if let Some(l) = d["LanguageCode"].as_str() {
            k.push(("language".into(), q(l)));
        }
        if let Some(l) = d["LanguageDescription"].as_str() {
            k.push(("label".into(), q(l)));
        }
        if cname != selector {
            k.push(("name".into(), q(cname)));
        }
        items.push(inline(&k));
    }
    Some((!items.is_empty()).then(|| format!("captions = [{}]", items.join(", "))))
}

/// An `audio = [...]` track from its descriptions (one per rendition).
fn audio_track(name: &str, descs: &[Json]) -> Option<String> {
    let d = descs.first()?;
    let cs = &d["CodecSettings"];
    let (codec, s) = [
        ("aac", "AacSettings"),
        ("ac3", "Ac3Settings"),
        ("eac3", "Eac3Settings"),
        ("passthrough", "PassThroughSettings"),
    ]
    .into_iter()
    .find_map(|(c, m)| cs.get(m).map(|s| (c, s)))?;
    let mut k = vec![("name".to_string(), q(name))];
    if codec != "aac" {
        k.push(("codec".into(), q(codec)));
    }
    if codec != "passthrough" {
        // A bitrate the same in every rendition is the track's; otherwise the model's by the
        // video's bitrate (checked by lowering).
        let b = s["Bitrate"].as_f64()?;
        let bitrate_of = |x: &Json| {
            x["CodecSettings"]
                .as_object()
                .and_then(|m| m.values().next())
                .and_then(|s| s["Bitrate"].as_f64())
        };
        if descs.iter().all(|x| bitrate_of(x) == Some(b)) {
            k.push(("bitrate".into(), num(&s["Bitrate"])?));
        }
        let coding = match s["CodingMode"].as_str()? {
            "CODING_MODE_1_0" => Some("1.0"),
            "CODING_MODE_2_0" => None,
            "CODING_MODE_5_1" | "CODING_MODE_3_2_LFE" | "CODING_MODE_3_2" => Some("5.1"),
            _ => return None,
        };
        if let Some(c) = coding {
            k.push(("coding".into(), q(c)));
        }
    }
    if let Some(l) = d["LanguageCode"].as_str() {
        k.push(("language".into(), q(l)));
    }
    if let Some(sel) = d["AudioSelectorName"].as_str().filter(|s| *s != "default") {
        k.push(("selector".into(), q(sel)));
    }
    Some(inline(&k))
}

/// `input_loss = { ... }` from a GlobalConfiguration holding InputLossBehavior only.
fn input_loss(g: &Json) -> Option<String> {
    let obj = g.as_object()?;
    if obj.keys().any(|k| k != "InputLossBehavior") {
        return None;
    }
    let b = &g["InputLossBehavior"];
    let mut k = Vec::new();
    match b["InputLossImageType"].as_str() {
        Some("COLOR") => {
            k.push(("action".to_string(), q("color")));
            if let Some(c) = b["InputLossImageColor"].as_str().filter(|c| *c != "000000") {
                k.push(("color".into(), q(c)));
            }
        }
        Some("SLATE") => {
            k.push(("action".into(), q("slate")));
            k.push(("slate".into(), q(b["InputLossImageSlate"]["Uri"].as_str()?)));
        }
        _ => {}
    }
    let after = b["RepeatFrameMsec"].as_i64()?;
    if after != 1000 {
        k.push(("after_ms".into(), after.to_string()));
    }
    Some(inline(&k))
}

/// An input attachment's keys besides `input`, `name` and `source_end_behavior`: its selectors,
/// filters and failover. `attachment_name` gives the attachment name of an input id (the
/// failover's secondary). `None`: something this does not read.
pub(super) fn attachment_keys(
    a: &Json,
    attachment_name: impl Fn(&str) -> Option<String>,
) -> Option<Vec<String>> {
    let s = &a["InputSettings"];
    let mut out = Vec::new();
    for (member, v) in s.as_object().into_iter().flatten() {
        if ![
            "SourceEndBehavior",
            "AudioSelectors",
            "CaptionSelectors",
            "DeblockFilter",
            "DenoiseFilter",
        ]
        .contains(&member.as_str())
            && !input_default(member, v)
        {
            return None;
        }
    }
    // Besides InputAttachmentName, InputId, InputSettings and the failover, an attachment
    // member (LogicalInterfaceNames...) is one the keys cannot say.
    for member in a.as_object().into_iter().flatten().map(|(k, _)| k) {
        if ![
            "InputAttachmentName",
            "InputId",
            "InputSettings",
            "AutomaticInputFailoverSettings",
        ]
        .contains(&member.as_str())
        {
            return None;
        }
    }
    if let Some(sels) = s["AudioSelectors"].as_array() {
        let mut items = Vec::new();
        for sel in sels {
            let ss = &sel["SelectorSettings"];
            let mut k = vec![("name".to_string(), q(sel["Name"].as_str()?))];
            if let Some(p) = ss["AudioPidSelection"]["Pid"].as_i64() {
                k.push(("pid".into(), p.to_string()));
            } else if let Some(l) = ss["AudioLanguageSelection"]["LanguageCode"].as_str() {
                k.push(("language".into(), q(l)));
            } else if let Some(t) = ss["AudioTrackSelection"]["Tracks"].as_array() {
                let t: Vec<String> = t
                    .iter()
                    .map(|t| t["Track"].as_i64().map(|n| n.to_string()))
                    .collect::<Option<_>>()?;
                k.push(("tracks".into(), format!("[{}]", t.join(", "))));
            } else {
                return None;
            }
            items.push(inline(&k));
        }
        out.push(format!("audio_selectors = [{}]", items.join(", ")));
    }
    if let Some(sels) = s["CaptionSelectors"].as_array() {
        let mut items = Vec::new();
        for sel in sels {
            let ss = &sel["SelectorSettings"];
            let mut k = vec![("name".to_string(), q(sel["Name"].as_str()?))];
            if let Some(e) = ss.get("EmbeddedSourceSettings") {
                k.push(("source".into(), q("embedded")));
                let ch = e["Source608ChannelNumber"].as_i64().unwrap_or(1);
                if ch != 1 {
                    k.push(("channel".into(), ch.to_string()));
                }
            } else if let Some(e) = ss.get("Scte27SourceSettings") {
                k.push(("source".into(), q("scte27")));
                if let Some(p) = e["Pid"].as_i64() {
                    k.push(("pid".into(), p.to_string()));
                }
            } else if let Some(e) = ss.get("TeletextSourceSettings") {
                k.push(("source".into(), q("teletext")));
                k.push(("page".into(), q(e["PageNumber"].as_str()?)));
            } else {
                return None;
            }
            if let Some(l) = sel["LanguageCode"].as_str() {
                k.push(("language".into(), q(l)));
            }
            items.push(inline(&k));
        }
        out.push(format!("caption_selectors = [{}]", items.join(", ")));
    }
    for (member, key) in [("DeblockFilter", "deblock"), ("DenoiseFilter", "denoise")] {
        match s[member].as_str() {
            Some("ENABLED") => out.push(format!("{key} = true")),
            Some("DISABLED") => out.push(format!("{key} = false")),
            Some(_) => return None,
            None => {}
        }
    }
    let f = &a["AutomaticInputFailoverSettings"];
    if f.is_object() {
        let secondary = attachment_name(f["SecondaryInputId"].as_str()?)?;
        let mut k = vec![("secondary".to_string(), q(&secondary))];
        if f["InputPreference"] == "PRIMARY_INPUT_PREFERRED" {
            k.push(("prefer".into(), q("primary")));
        }
        if let Some(ms) = f["ErrorClearTimeMsec"].as_i64() {
            k.push(("error_clear_ms".into(), ms.to_string()));
        }
        let mut conditions = Vec::new();
        for c in f["FailoverConditions"].as_array().into_iter().flatten() {
            let c = &c["FailoverConditionSettings"];
            let mut ck = Vec::new();
            if let Some(l) = c.get("InputLossSettings") {
                ck.push(("type".to_string(), q("input_loss")));
                ck.push((
                    "after_ms".into(),
                    l["InputLossThresholdMsec"].as_i64()?.to_string(),
                ));
            } else if let Some(b) = c.get("VideoBlackSettings") {
                ck.push(("type".to_string(), q("video_black")));
                ck.push((
                    "after_ms".into(),
                    b["VideoBlackThresholdMsec"].as_i64()?.to_string(),
                ));
                ck.push(("black_level".into(), num(&b["BlackDetectThreshold"])?));
            } else if let Some(s) = c.get("AudioSilenceSettings") {
                ck.push(("type".to_string(), q("audio_silence")));
                ck.push((
                    "after_ms".into(),
                    s["AudioSilenceThresholdMsec"].as_i64()?.to_string(),
                ));
                ck.push(("selector".into(), q(s["AudioSelectorName"].as_str()?)));
            } else {
                return None;
            }
            conditions.push(inline(&ck));
        }
        if !conditions.is_empty() {
            k.push(("conditions".into(), format!("[{}]", conditions.join(", "))));
        }
        out.push(format!("failover = {}", inline(&k)));
    }
    Some(out)
}

/// Whether `value` of InputSettings member `member` is what MediaLive gives an attachment that
/// leaves the member out (DescribeChannel reports them on a console channel): sending the
/// attachment without it changes nothing.
pub(super) fn input_default(member: &str, value: &Json) -> bool {
    match member {
        "InputFilter" => value == "AUTO",
        "FilterStrength" => value.as_f64() == Some(1.0),
        "Smpte2038DataPreference" => value == "IGNORE",
        _ => false,
    }
}

/// Where `desired` (a lowered spec) and `observed` differ, as paths; a placeholder (`$ref`,
/// `$secret`) stands for anything, numbers compare by value. As the planner, a member the
/// cloud reports and the file does not say is no difference (a server default, an output),
/// except within what import writes more briefly than AWS does, EncoderSettings and
/// InputAttachments: there a member the model would not send is lost by the next update, so
/// both sides must hold the same members (but an input setting at MediaLive's default,
/// [`input_default`]).
pub(super) fn differences(desired: &Json, observed: &Json) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(d), Some(o)) = (desired.as_object(), observed.as_object()) {
        for (k, v) in d {
            if k != "Tags" {
                let strict = k == "EncoderSettings" || k == "InputAttachments";
                diff(v, o.get(k).unwrap_or(&Json::Null), k, strict, &mut out);
            }
        }
    } else {
        diff(desired, observed, "", true, &mut out);
    }
    out
}

fn placeholder(v: &Json) -> bool {
    v.get("$ref").is_some() || v.get("$secret").is_some()
}

fn diff(d: &Json, o: &Json, path: &str, strict: bool, out: &mut Vec<String>) {
    match (d, o) {
        _ if placeholder(d) => {}
        (Json::Number(a), Json::Number(b)) if a.as_f64() == b.as_f64() => {}
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in a {
                let at = format!("{path}.{k}");
                diff(v, b.get(k).unwrap_or(&Json::Null), &at, strict, out);
            }
            if strict {
                let settings = path.ends_with("].InputSettings");
                let attachment = path.starts_with("InputAttachments[") && path.ends_with(']');
                for (k, v) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                    let defaults = |v: &Json| {
                        v.as_object()
                            .is_some_and(|m| m.iter().all(|(k, v)| input_default(k, v)))
                    };
                    let unsent = (settings && input_default(k, v))
                        || (attachment && k == "InputSettings" && defaults(v));
                    if !unsent {
                        out.push(format!("{path}.{k}"));
                    }
                }
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), strict, out);
            }
        }
        _ if d == o => {}
        _ => out.push(path.to_string()),
    }
}
