//! The plan for people (Terraform-like text) and for machines (versioned JSON).

use std::fmt::Write;

use serde_json::Value as Json;

use livestack_model::Kind;

use crate::{Action, Change, Mode, Plan};

const SHORT: usize = 72;

/// How a plan is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// ANSI colours (for terminals only).
    pub color: bool,
    /// Whole new and removed objects, not one line of their key members.
    pub full: bool,
}

/// The plan as text; `color` adds ANSI colours (for terminals only).
pub fn render_text(plan: &Plan, color: bool) -> String {
    render_text_with(plan, TextOptions { color, full: false })
}

/// The plan as text, as `options` say.
pub fn render_text_with(plan: &Plan, options: TextOptions) -> String {
    let color = options.color;
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let verb = match plan.mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    let _ = writeln!(out, "livestack {verb} plan for stack \"{}\"", plan.stack);
    if let Some(t) = &plan.target {
        let _ = writeln!(out, "Target: {t}");
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "\n{}: {w}", paint("1;33", "Warning"));
    }
    if !plan.adopted.is_empty() {
        let _ = writeln!(
            out,
            "\nFound in the cloud by their ownership tags, missing from the state (apply records \
             them; no AWS call):"
        );
        for a in &plan.adopted {
            let _ = writeln!(out, "  = {a}");
        }
    }
    if !plan.moved.is_empty() {
        let _ = writeln!(
            out,
            "\nRenamed by [[moved]] entries (apply renames them in the state; no AWS call):"
        );
        for m in &plan.moved {
            let _ = writeln!(out, "  > {} -> {}", m.from, m.to);
        }
    }
    if !plan.forgotten.is_empty() {
        let _ = writeln!(
            out,
            "\nIn the state but already gone from the cloud (apply drops them from the state; no \
             AWS call):"
        );
        for a in &plan.forgotten {
            let _ = writeln!(out, "  x {a}");
        }
    }
    if plan.is_empty() {
        let _ = writeln!(out, "\nNo changes: the cloud matches the stack.");
        let _ = writeln!(out, "\n{}", summary_line(plan));
        return out;
    }
    let digests: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::MedialiveChannel && c.action != Action::NoOp)
        .map(channel_summary)
        .collect();
    if !digests.is_empty() {
        let _ = writeln!(out, "\nChannels:");
        for d in digests {
            let _ = writeln!(out, "  {d}");
        }
    }
    out.push('\n');
    for c in plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp || !c.steps.is_empty())
    {
        let (marker, code, what) = match c.action {
            Action::Create => ("+", "32", "will be created".to_string()),
            Action::Update => ("~", "33", "will be updated in place".to_string()),
            Action::Replace => ("-/+", "35", "must be replaced".to_string()),
            Action::Delete => ("-", "31", "will be deleted".to_string()),
            Action::NoOp => ("-", "31", "stays; an old copy will be deleted".to_string()),
        };
        let _ = write!(
            out,
            "  {} {}  {what}",
            paint(code, marker),
            paint("1", &c.address.to_string())
        );
        if c.interrupts {
            let _ = write!(out, "  {}", paint("1;31", "[interrupts the live channel]"));
        }
        out.push('\n');
        if let Some(from) = &c.moved_from {
            let _ = writeln!(out, "      # renamed from {from} ([[moved]])");
        }
        if let Some(r) = &c.reason {
            let _ = writeln!(out, "      # {r}");
        }
        match c.action {
            Action::Create => render_members(&mut out, c, options.full),
            Action::Update | Action::Replace => render_fields(&mut out, c, &paint, options.full),
            _ => {}
        }
        let steps: Vec<String> = c
            .steps
            .iter()
            .zip(&c.ops)
            .map(|(id, op)| format!("{id} {}", op.as_str()))
            .collect();
        let _ = writeln!(out, "      steps: {}", steps.join(", "));
        out.push('\n');
    }
    let _ = writeln!(out, "Steps (steps of one wave can run in parallel):");
    let mut wave = usize::MAX;
    for s in &plan.steps {
        if s.wave != wave {
            wave = s.wave;
            let _ = writeln!(out, "  wave {}:", wave + 1);
        }
        let after = if s.after.is_empty() {
            String::new()
        } else {
            format!(
                "  (after {})",
                s.after
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut old = if s.deposed {
            format!(" (old copy {})", s.target_id.as_deref().unwrap_or("?"))
        } else {
            String::new()
        };
        if s.interrupts {
            old.push_str("  [off air]");
        }
        let _ = writeln!(
            out,
            "    {:>3}  {:<12}  {}{old}{after}",
            s.id,
            s.op.as_str(),
            s.address
        );
    }
    let _ = writeln!(out, "\n{}", summary_line(plan));
    out
}

/// "N to create, N to update, N to replace, N to delete; N running channels interrupted."
pub fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete; {} interrupted.",
        s.create,
        s.update,
        s.replace,
        s.delete,
        plural(s.interrupted, "running channel")
    )
}

/// "1 item", "2 items".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The versioned JSON plan.
pub fn render_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan serializes")
}

fn compact(v: &Json) -> String {
    serde_json::to_string(v).expect("json serializes")
}

/// A value in one line: itself when short, else its key members (names of named elements,
/// scalars, one level of objects), cut at [`LINE`] characters.
fn short(v: &Json) -> String {
    let s = compact(v);
    if s.chars().count() <= SHORT {
        return s;
    }
    cut(&outline(v, 2))
}

/// One line is at most this long.
const LINE: usize = 140;

fn cut(s: &str) -> String {
    if s.chars().count() <= LINE {
        return s.to_string();
    }
    let mut t: String = s.chars().take(LINE - 1).collect();
    t.push('…');
    t
}

fn outline(v: &Json, depth: usize) -> String {
    match v {
        Json::Object(m) if depth == 0 => {
            if m.is_empty() {
                "{}".into()
            } else {
                "{…}".into()
            }
        }
        Json::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}: {}", outline(v, depth - 1)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        Json::Array(a) => {
            let names: Vec<String> = a
                .iter()
                .filter_map(|e| {
                    ["Name", "OutputName", "Id", "InputAttachmentName"]
                        .iter()
                        .find_map(|k| e.get(*k).and_then(Json::as_str))
                        .map(|n| compact(&Json::from(n)))
                })
                .collect();
            if !a.is_empty() && names.len() == a.len() {
                format!("[{}]", names.join(", "))
            } else if a.iter().all(|e| !e.is_object() && !e.is_array()) {
                compact(v)
            } else {
                format!("[{}]", plural(a.len(), "item"))
            }
        }
        Json::String(s) if s.chars().count() > 80 => {
            let t: String = s.chars().take(79).collect();
            format!("\"{t}…\"")
        }
        other => compact(other),
    }
}

fn render_members(out: &mut String, c: &Change, full: bool) {
    if c.kind == Kind::MedialiveChannel && !full {
        for line in channel_digest(&c.after) {
            let _ = writeln!(out, "      {line}");
        }
        return;
    }
    if let Json::Object(m) = &c.after {
        let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in m {
            if full {
                let _ = writeln!(out, "      {k:<width$} = {}", compact(v));
            } else {
                let _ = writeln!(out, "      {k:<width$} = {}", short(v));
            }
        }
    }
}

/// What a channel is, in a few lines: class and inputs, then each output group with its
/// destination and renditions.
fn channel_digest(spec: &Json) -> Vec<String> {
    let mut lines = Vec::new();
    let inputs: Vec<String> = spec["InputAttachments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let name = a["InputAttachmentName"].as_str().unwrap_or("?");
            let mut shown = match a["InputSettings"]["SourceEndBehavior"].as_str() {
                Some("LOOP") => format!("{name} (looped)"),
                _ => name.to_string(),
            };
            if a["AutomaticInputFailoverSettings"].is_object() {
                // The secondary is named by its input's id, known after apply: the other
                // attachments are the candidates; the stack file says which.
                shown.push_str(" (automatic failover)");
            }
            shown
        })
        .collect();
    lines.push(format!(
        "{} channel `{}`, role {}; input {}",
        spec["ChannelClass"].as_str().unwrap_or("?"),
        spec["Name"].as_str().unwrap_or("?"),
        short(&spec["RoleArn"]).trim_matches('"'),
        if inputs.is_empty() {
            "none".to_string()
        } else {
            inputs.join(", ")
        }
    ));
    for g in spec["EncoderSettings"]["OutputGroups"]
        .as_array()
        .into_iter()
        .flatten()
    {
        lines.push(format!("output group {}", group_digest(spec, g)));
    }
    lines
}

/// `facebook (RTMP to rtmps://…; 1920x1080 4 Mbit/s)`.
fn group_digest(spec: &Json, g: &Json) -> String {
    let name = g["Name"].as_str().unwrap_or("?");
    let settings = g["OutputGroupSettings"].as_object();
    let kind = settings
        .and_then(|m| m.keys().next())
        .map(|k| match k.as_str() {
            "HlsGroupSettings" => "HLS",
            "MediaPackageGroupSettings" => "MediaPackage",
            "RtmpGroupSettings" => "RTMP",
            other => other.trim_end_matches("GroupSettings"),
        })
        .unwrap_or("?");
    let dest_ref = settings
        .and_then(|m| m.values().next())
        .and_then(|s| s["Destination"]["DestinationRefId"].as_str())
        .or_else(|| {
            g["Outputs"][0]["OutputSettings"]
                .as_object()
                .and_then(|m| m.values().next())
                .and_then(|s| s["Destination"]["DestinationRefId"].as_str())
        });
    let to = dest_ref
        .and_then(|id| {
            spec["Destinations"]
                .as_array()?
                .iter()
                .find(|d| d["Id"] == id)
        })
        .map(|d| {
            let urls: Vec<String> = d["Settings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["Url"].as_str().map(String::from))
                .chain(
                    d["MediaPackageSettings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| {
                            m["ChannelId"].as_str().map(|c| format!("mediapackage {c}"))
                        }),
                )
                .collect();
            match urls.as_slice() {
                [] => String::new(),
                [one] => format!(
                    " to {}",
                    outline(&Json::from(one.as_str()), 0).trim_matches('"')
                ),
                [first, ..] => format!(
                    " to {} (+{})",
                    outline(&Json::from(first.as_str()), 0).trim_matches('"'),
                    plural(urls.len() - 1, "pipeline")
                ),
            }
        })
        .unwrap_or_default();
    let renditions: Vec<String> = g["Outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let vd = o["VideoDescriptionName"].as_str()?;
            let v = spec["EncoderSettings"]["VideoDescriptions"]
                .as_array()?
                .iter()
                .find(|d| d["Name"] == vd)?;
            Some(rendition(v))
        })
        .collect();
    let mut extras = String::new();
    let audio = audio_digest(spec, g);
    if !audio.is_empty() {
        extras.push_str(&format!("; audio {}", audio.join(", ")));
    }
    let captions = caption_digest(spec, g);
    if !captions.is_empty() {
        extras.push_str(&format!("; captions {}", captions.join(", ")));
    }
    let hls = &g["OutputGroupSettings"]["HlsGroupSettings"];
    let scte35 = hls["AdMarkers"].as_array().is_some_and(|m| !m.is_empty())
        || spec["EncoderSettings"]["AvailConfiguration"].is_object()
            && g["OutputGroupSettings"]["MediaPackageGroupSettings"].is_object();
    if scte35 {
        extras.push_str("; SCTE-35 passed through");
    }
    format!(
        "{name} ({kind}{to}; {}{extras})",
        if renditions.is_empty() {
            "no video".to_string()
        } else {
            renditions.join(", ")
        }
    )
}

/// The audio tracks of a group's first video output, when they are more than the one
/// default AAC track: each by its language, else its name's last part; Dolby codecs named.
fn audio_digest(spec: &Json, g: &Json) -> Vec<String> {
    let es = &spec["EncoderSettings"];
    let Some(output) = g["Outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["VideoDescriptionName"].is_string())
    else {
        return Vec::new();
    };
    let tracks: Vec<&Json> = output["AudioDescriptionNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            es["AudioDescriptions"]
                .as_array()?
                .iter()
                .find(|a| &a["Name"] == n)
        })
        .collect();
    let plain =
        |a: &Json| a["LanguageCode"].is_null() && a["CodecSettings"]["AacSettings"].is_object();
    if tracks.len() <= 1 && tracks.iter().all(|a| plain(a)) {
        return Vec::new();
    }
    tracks
        .iter()
        .map(|a| {
            let what = a["LanguageCode"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| {
                    let n = a["Name"].as_str().unwrap_or("?");
                    n.rsplit('_').next().unwrap_or(n).to_string()
                });
            let codec = a["CodecSettings"].as_object().and_then(|m| m.keys().next());
            match codec.map(String::as_str) {
                Some("Ac3Settings") => format!("{what} (Dolby Digital)"),
                Some("Eac3Settings") => format!("{what} (Dolby Digital Plus)"),
                Some("PassThroughSettings") => format!("{what} (passthrough)"),
                _ => what,
            }
        })
        .collect()
}

/// The captions a group's outputs carry: `WebVTT deu`, `embedded eng`, `burn-in`.
fn caption_digest(spec: &Json, g: &Json) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for o in g["Outputs"].as_array().into_iter().flatten() {
        for n in o["CaptionDescriptionNames"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(n) = n.as_str() {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    names
        .iter()
        .filter_map(|n| {
            spec["EncoderSettings"]["CaptionDescriptions"]
                .as_array()?
                .iter()
                .find(|c| c["Name"] == *n)
        })
        .map(|c| {
            let dest = c["DestinationSettings"]
                .as_object()
                .and_then(|m| m.keys().next());
            let kind = match dest.map(String::as_str) {
                Some("WebvttDestinationSettings") => "WebVTT",
                Some("EmbeddedDestinationSettings") => "embedded",
                Some("BurnInDestinationSettings") => "burn-in",
                Some(other) => other.trim_end_matches("DestinationSettings"),
                None => "?",
            };
            match c["LanguageCode"].as_str() {
                Some(l) => format!("{kind} {l}"),
                None => kind.to_string(),
            }
        })
        // Embedded and burnt-in captions have one description per output: said once.
        .fold(Vec::new(), |mut seen, c| {
            if !seen.contains(&c) {
                seen.push(c);
            }
            seen
        })
}

/// `1280x720 3 Mbit/s`; what differs from H.264 at 30 fps with a constant bitrate is said:
/// `1920x1080 H.265 50 fps QVBR up to 6 Mbit/s`.
fn rendition(v: &Json) -> String {
    let settings = v["CodecSettings"].as_object();
    let codec = settings.and_then(|m| m.values().next());
    let mut traits = String::new();
    if settings.is_some_and(|m| m.contains_key("H265Settings")) {
        traits.push_str(" H.265");
    }
    if let Some(c) = codec {
        if c["FramerateControl"] == "INITIALIZE_FROM_SOURCE" {
            traits.push_str(" source fps");
        } else if let (Some(n), Some(d)) = (
            c["FramerateNumerator"].as_f64(),
            c["FramerateDenominator"].as_f64(),
        ) {
            let fps = n / d;
            if (fps - 30.0).abs() > 1e-9 {
                let shown = format!("{:.3}", fps);
                let shown = shown.trim_end_matches('0').trim_end_matches('.');
                traits.push_str(&format!(" {shown} fps"));
            }
        }
        match c["RateControlMode"].as_str() {
            Some("QVBR") => traits.push_str(" QVBR up to"),
            Some("VBR") => traits.push_str(" VBR"),
            _ => {}
        }
    }
    let bitrate = codec
        .and_then(|c| c["Bitrate"].as_f64().or_else(|| c["MaxBitrate"].as_f64()))
        .map(|b| {
            let m = b / 1_000_000.0;
            if m.fract() == 0.0 {
                format!(" {m:.0} Mbit/s")
            } else {
                format!(" {m:.1} Mbit/s")
            }
        })
        .unwrap_or_default();
    let bitrate = format!("{traits}{bitrate}");
    match (v["Width"].as_i64(), v["Height"].as_i64()) {
        (Some(w), Some(h)) => format!("{w}x{h}{bitrate}"),
        _ => format!("{}{bitrate}", v["Name"].as_str().unwrap_or("?")),
    }
}

/// One line per changed channel: "imday: class STANDARD -> SINGLE_PIPELINE; + output group
/// facebook (RTMP …); interrupts the live channel".
fn channel_summary(c: &Change) -> String {
    let mut parts: Vec<String> = Vec::new();
    match c.action {
        Action::Create => {
            let groups: Vec<String> = c.after["EncoderSettings"]["OutputGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| g["Name"].as_str().unwrap_or("?").to_string())
                .collect();
            parts.push(format!(
                "created, {}, output groups {}",
                c.after["ChannelClass"].as_str().unwrap_or("?"),
                groups.join(", ")
            ));
        }
        Action::Delete => parts.push("deleted".into()),
        Action::Replace => parts.push("replaced".into()),
        _ => {}
    }
    let class_changes = c.fields.iter().any(|f| f.path == "ChannelClass");
    let groups_change = c.fields.iter().any(|f| {
        f.path.starts_with("EncoderSettings.OutputGroups[")
            && f.path.ends_with(']')
            && (f.before.is_null() || f.after.is_null())
    });
    let group_of = |path: &str| -> Option<String> {
        let rest = path.strip_prefix("EncoderSettings.OutputGroups[\"")?;
        Some(rest[..rest.find('"')?].to_string())
    };
    let mut touched: Vec<String> = Vec::new();
    for f in &c.fields {
        if f.path == "ChannelClass" {
            parts.push(format!(
                "class {} -> {}",
                f.before.as_str().unwrap_or("?"),
                f.after.as_str().unwrap_or("?")
            ));
        } else if let Some(g) = group_of(&f.path) {
            let whole = f.path.ends_with(']');
            if whole && f.before.is_null() {
                parts.push(format!(
                    "+ output group {}",
                    group_digest(&c.after, &f.after)
                ));
            } else if whole && f.after.is_null() {
                parts.push(format!("- output group {g}"));
            } else if !touched.contains(&g) {
                parts.push(format!("~ output group {g}"));
                touched.push(g);
            }
        } else {
            let top = f.path.split(['.', '[', ' ']).next().unwrap_or("");
            let descriptions = f.path.starts_with("EncoderSettings.VideoDescriptions")
                || f.path.starts_with("EncoderSettings.AudioDescriptions");
            // What a class change or a new or removed output group implies is not said twice.
            if (top == "Destinations" && (class_changes || groups_change))
                || (descriptions && groups_change)
            {
                continue;
            }
            let what = match top {
                "InputAttachments" => "inputs",
                "Destinations" => "destinations",
                "EncoderSettings" if descriptions => "renditions",
                "EncoderSettings" => "encoder settings",
                "Tags" => "tags",
                "RoleArn" => "role",
                other => other,
            };
            let note = format!("~ {what}");
            if !parts.contains(&note) && !touched.contains(&note) {
                touched.push(note.clone());
                parts.push(note);
            }
        }
    }
    if c.ops.contains(&crate::Op::Start)
        && !c.ops.contains(&crate::Op::Stop)
        && c.action == Action::Update
    {
        parts.push("started".into());
    }
    if c.ops.contains(&crate::Op::Stop)
        && !c.ops.contains(&crate::Op::Start)
        && c.action == Action::Update
    {
        parts.push("stopped".into());
    }
    if parts.is_empty() {
        let restarted = c.ops.contains(&crate::Op::Stop) && c.ops.contains(&crate::Op::Start);
        match (&c.reason, restarted) {
            (Some(r), true) if r.starts_with("restarted") => parts.push(r.clone()),
            (Some(r), true) => parts.push(format!("restarted ({r})")),
            (None, true) => parts.push("restarted".into()),
            (Some(r), false) => parts.push(r.clone()),
            (None, false) => {}
        }
    }
    if c.interrupts {
        parts.push("interrupts the live channel".into());
    }
    format!("{}: {}", c.address.label, parts.join("; "))
}

fn render_fields(out: &mut String, c: &Change, paint: &dyn Fn(&str, &str) -> String, full: bool) {
    for f in &c.fields {
        let (marker, code) = match (&f.before, &f.after) {
            (Json::Null, _) => ("+", "32"),
            (_, Json::Null) => ("-", "31"),
            _ => ("~", "33"),
        };
        let mut notes = Vec::new();
        if f.forces_replacement {
            notes.push("forces replacement");
        }
        if f.drift {
            notes.push("changed outside livestack");
        }
        let note = if notes.is_empty() {
            String::new()
        } else {
            format!("  # {}", notes.join("; "))
        };
        let (b, a) = (compact(&f.before), compact(&f.after));
        // A whole element added or removed: one line of its key members.
        let one_side = f.before.is_null() || f.after.is_null();
        if one_side && !full {
            let v = if f.before.is_null() {
                &f.after
            } else {
                &f.before
            };
            let _ = writeln!(
                out,
                "      {} {}: {}{note}",
                paint(code, marker),
                f.path,
                short(v)
            );
            continue;
        }
        if b.len() <= SHORT && a.len() <= SHORT {
            let _ = writeln!(
                out,
                "      {} {}: {b} -> {a}{note}",
                paint(code, marker),
                f.path
            );
            continue;
        }
        let _ = writeln!(out, "      {} {}:{note}", paint(code, marker), f.path);
        let before = pretty(&f.before);
        let after = pretty(&f.after);
        let diff = similar::TextDiff::from_lines(&before, &after);
        for group in diff.grouped_ops(3) {
            let _ = writeln!(out, "          @@");
            for op in group {
                for change in diff.iter_changes(&op) {
                    let (sign, code) = match change.tag() {
                        similar::ChangeTag::Delete => ("-", "31"),
                        similar::ChangeTag::Insert => ("+", "32"),
                        similar::ChangeTag::Equal => (" ", "0"),
                    };
                    let line = format!("{sign} {}", change.value().trim_end_matches('\n'));
                    let _ = writeln!(
                        out,
                        "          {}",
                        if sign == " " {
                            line
                        } else {
                            paint(code, &line)
                        }
                    );
                }
            }
        }
    }
}

fn pretty(v: &Json) -> String {
    if v.is_null() {
        return String::new();
    }
    let mut s = serde_json::to_string_pretty(v).expect("json serializes");
    s.push('\n');
    s
}
