//! What an input attachment of a channel says besides its input: audio and caption selectors,
//! the deblock and denoise filters, and automatic input failover to another attachment; and
//! the channel's behaviour on input loss (`input_loss`, in EncoderSettings'
//! GlobalConfiguration). All members as the MediaLive API names them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value as Json};

use crate::lower::{out_ref, Ctx, Diags};
use crate::node::{array, boolean, int_in, one_of, spanned_string, string, Node, Table, Value};
use crate::{Address, Diagnostic, Span};

pub(super) const AUDIO_SELECTOR_KEYS: &[&str] = &["name", "pid", "language", "tracks"];
pub(super) const CAPTION_SELECTOR_KEYS: &[&str] =
    &["name", "source", "language", "channel", "pid", "page"];
pub(super) const FAILOVER_KEYS: &[&str] = &["secondary", "conditions", "prefer", "error_clear_ms"];
pub(super) const CONDITION_KEYS: &[&str] = &["type", "after_ms", "black_level", "selector"];
pub(super) const INPUT_LOSS_KEYS: &[&str] = &["action", "after_ms", "color", "slate"];

/// Where a caption selector takes its captions from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaptionSource {
    /// EIA-608/CEA-708 in the video (EmbeddedSourceSettings).
    Embedded,
    /// SCTE-27 subtitles (Scte27SourceSettings).
    Scte27,
    /// A teletext page (TeletextSourceSettings).
    Teletext,
}

/// A caption selector the output groups' captions may name.
#[derive(Debug, Clone)]
pub(super) struct CaptionSelector {
    pub(super) source: CaptionSource,
    /// Its 608 channel (embedded only).
    pub(super) channel: i64,
    pub(super) language: Option<String>,
}

/// One attachment's settings, read from its table.
pub(super) struct Settings<'a> {
    /// InputSettings members besides SourceEndBehavior.
    pub(super) input_settings: Map<String, Json>,
    pub(super) audio_selectors: BTreeSet<String>,
    pub(super) caption_selectors: BTreeMap<String, CaptionSelector>,
    failover: Option<&'a Node>,
}

/// Reads an attachment's selectors, filters and failover from `a`.
pub(super) fn read<'a>(a: &mut Table<'a>, diags: &mut Diags) -> Settings<'a> {
    let mut input_settings = Map::new();
    let mut audio_selectors = BTreeSet::new();
    let mut caption_selectors = BTreeMap::new();
    if let Some(items) = a.opt("audio_selectors", diags, array) {
        let mut out = Vec::new();
        for it in items {
            if let Some((name, span, json)) = audio_selector(it, diags) {
                if !audio_selectors.insert(name.clone()) {
                    diags.push(Diagnostic::new(
                        span,
                        format!("two audio selectors are named `{name}`"),
                    ));
                }
                out.push(json);
            }
        }
        input_settings.insert("AudioSelectors".into(), Json::Array(out));
    }
    if let Some(items) = a.opt("caption_selectors", diags, array) {
        let mut out = Vec::new();
        for it in items {
            if let Some((name, span, sel, json)) = caption_selector(it, diags) {
                if caption_selectors.insert(name.clone(), sel).is_some() {
                    diags.push(Diagnostic::new(
                        span,
                        format!("two caption selectors are named `{name}`"),
                    ));
                }
                out.push(json);
            }
        }
        input_settings.insert("CaptionSelectors".into(), Json::Array(out));
    }
    // Off unless asked for, which is MediaLive's default: only a written key is sent.
    for (key, member) in [("deblock", "DeblockFilter"), ("denoise", "DenoiseFilter")] {
        if let Some(on) = a.opt(key, diags, boolean) {
            input_settings.insert(member.into(), json!(enabled(on)));
        }
    }
    Settings {
        input_settings,
        audio_selectors,
        caption_selectors,
        failover: a.get("failover"),
    }
}

/// What the failover check needs of each attachment of a channel.
pub(super) struct Attached<'a> {
    pub(super) name: String,
    pub(super) input: Address,
    pub(super) settings: Settings<'a>,
}

/// `failover = { secondary = "<attachment>", ... }` of attachment `i` into its
/// AutomaticInputFailoverSettings: the secondary is another attachment of the channel, not
/// already in a pair, whose input is of the same type; AWS pairs push inputs only.
pub(super) fn failover(
    ctx: &Ctx<'_, '_>,
    all: &[Attached<'_>],
    i: usize,
    paired: &mut BTreeSet<usize>,
    diags: &mut Diags,
) -> Option<Json> {
    let me = &all[i];
    let n = me.settings.failover?;
    let mut t = Table::new(
        n,
        format!("input attachment `{}`: failover", me.name),
        diags,
    )?;
    let secondary = t.req("secondary", diags, spanned_string);
    let conditions = t.opt("conditions", diags, |n, diags| {
        let items = array(n, diags)?;
        items
            .iter()
            .map(|c| condition(c, &me.settings.audio_selectors, diags))
            .collect::<Option<Vec<_>>>()
    });
    let prefer = t.opt("prefer", diags, one_of(&["equal", "primary"]));
    let clear = t.opt("error_clear_ms", diags, int_in(1, 1_000_000));
    t.finish(FAILOVER_KEYS, diags);
    let (secondary, span) = secondary?;
    let others: Vec<&str> = all
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, a)| a.name.as_str())
        .collect();
    let Some(j) = all
        .iter()
        .position(|a| a.name == secondary)
        .filter(|j| *j != i)
    else {
        let mut d = Diagnostic::new(
            span,
            format!("failover: `{secondary}` is not another input attachment of this channel"),
        );
        d = d.hint(if others.is_empty() {
            "attach the secondary input too: inputs = [{ input = ... }, { input = ... }]".into()
        } else {
            format!("the channel's other attachments: {}", others.join(", "))
        });
        diags.push(d);
        return None;
    };
    let other = &all[j];
    if other.settings.failover.is_some() || !paired.insert(i) || !paired.insert(j) {
        diags.push(
            Diagnostic::new(
                span,
                format!("failover: attachment `{secondary}` is already in a failover pair"),
            )
            .hint(
                "an input failover pair is two attachments; declare `failover` on the primary only",
            ),
        );
        return None;
    }
    let ty = |a: &Address| ctx.inputs.get(a).and_then(|f| f.ty.clone());
    let (mine, theirs) = (ty(&me.input), ty(&other.input));
    if mine != theirs {
        diags.push(
            Diagnostic::new(
                span,
                format!(
                    "failover: `{}` is {} but `{secondary}` is {}; the two inputs of a failover pair are of the same type",
                    me.name,
                    mine.as_deref().unwrap_or("of an unknown type"),
                    theirs.as_deref().unwrap_or("of an unknown type"),
                ),
            ),
        );
        return None;
    }
    if mine.as_deref() != Some("rtmp_push") {
        diags.push(
            Diagnostic::new(
                span,
                format!(
                    "failover: MediaLive pairs push inputs for automatic input failover; `{}` is {}",
                    me.input,
                    mine.as_deref().unwrap_or("of an unknown type")
                ),
            )
            .hint("use two rtmp_push inputs (MediaLive user guide, automatic input failover)"),
        );
        return None;
    }
    let conditions = conditions.unwrap_or_else(|| vec![input_loss_condition(1000)]);
    let prefer = match prefer.as_deref() {
        Some("primary") => "PRIMARY_INPUT_PREFERRED",
        _ => "EQUAL_INPUT_PREFERENCE",
    };
    let mut out = json!({
        "SecondaryInputId": out_ref(&other.input, "Id"),
        "InputPreference": prefer,
        "FailoverConditions": conditions,
    });
    if let Some(ms) = clear {
        out["ErrorClearTimeMsec"] = json!(ms);
    }
    Some(out)
}

/// `input_loss = { action = "black" | "color" | "slate", after_ms = N, ... }`: MediaLive
/// repeats the last frame for `after_ms`, then shows black, a colour or a slate
/// (GlobalConfiguration.InputLossBehavior).
pub(super) fn input_loss(n: &Node, diags: &mut Diags) -> Option<Json> {
    let mut t = Table::new(n, "input_loss", diags)?;
    let action = t
        .opt("action", diags, one_of(&["black", "color", "slate"]))
        .unwrap_or_else(|| "black".into());
    let after = t
        .opt("after_ms", diags, int_in(0, 1_000_000))
        .unwrap_or(1000);
    let color = t.get("color");
    let slate = t.get("slate");
    t.finish(INPUT_LOSS_KEYS, diags);
    let misplaced = |key: &str, n: &Node, diags: &mut Diags| {
        diags.push(Diagnostic::new(
            n.span,
            format!("input_loss: `{key}` is used with action = \"{key}\" only"),
        ));
    };
    let mut out = json!({ "RepeatFrameMsec": after });
    match action.as_str() {
        "color" => {
            let c = match color {
                Some(n) => hex_color(n, diags)?,
                None => "000000".into(),
            };
            out["BlackFrameMsec"] = json!(0);
            out["InputLossImageType"] = json!("COLOR");
            out["InputLossImageColor"] = json!(c);
        }
        "slate" => {
            let Some(n) = slate else {
                diags.push(
                    Diagnostic::new(t.span, "input_loss: action = \"slate\" needs `slate`")
                        .hint("slate = \"s3ssl://bucket/slate.png\" (an image MediaLive can read)"),
                );
                return None;
            };
            let (uri, span) = spanned_string(n, diags)?;
            let schemes = ["s3://", "s3ssl://", "http://", "https://"];
            if !schemes.iter().any(|s| uri.starts_with(s)) {
                diags.push(Diagnostic::new(
                    span,
                    format!("`{uri}` is not a slate URL ({})", schemes.join(", ")),
                ));
                return None;
            }
            out["BlackFrameMsec"] = json!(0);
            out["InputLossImageType"] = json!("SLATE");
            out["InputLossImageSlate"] = json!({ "Uri": uri });
        }
        // Black until the input returns: 1,000,000 ms is MediaLive's "infinite".
        _ => out["BlackFrameMsec"] = json!(1_000_000),
    }
    if action != "color" {
        if let Some(n) = color {
            misplaced("color", n, diags);
        }
    }
    if action != "slate" {
        if let Some(n) = slate {
            misplaced("slate", n, diags);
        }
    }
    Some(out)
}

fn enabled(on: bool) -> &'static str {
    if on {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

/// An audio selector: by PID, by language or by track numbers, named.
fn audio_selector(n: &Node, diags: &mut Diags) -> Option<(String, Span, Json)> {
    let mut t = Table::new(n, "audio selector", diags)?;
    let name = t.req("name", diags, selector_name);
    let (pid, language, tracks) = (t.get("pid"), t.get("language"), t.get("tracks"));
    t.finish(AUDIO_SELECTOR_KEYS, diags);
    let selection = match (pid, language, tracks) {
        (Some(n), None, None) => {
            json!({ "AudioPidSelection": { "Pid": int_in(0, 8191)(n, diags)? } })
        }
        (None, Some(n), None) => json!({ "AudioLanguageSelection": {
            "LanguageCode": language_code(n, diags)?, "LanguageSelectionPolicy": "LOOSE" } }),
        (None, None, Some(n)) => {
            let items = array(n, diags)?;
            if items.is_empty() {
                diags.push(Diagnostic::new(n.span, "tracks must not be empty"));
                return None;
            }
            let tracks = items
                .iter()
                .map(|i| int_in(1, 64)(i, diags).map(|t| json!({ "Track": t })))
                .collect::<Option<Vec<_>>>()?;
            json!({ "AudioTrackSelection": { "Tracks": tracks } })
        }
        _ => {
            diags.push(
                Diagnostic::new(
                    n.span,
                    "an audio selector selects by one of `pid`, `language` or `tracks`",
                )
                .hint("for example { name = \"english\", language = \"eng\" }"),
            );
            return None;
        }
    };
    let (name, span) = name?;
    let json = json!({ "Name": name, "SelectorSettings": selection });
    Some((name, span, json))
}

/// A caption selector: embedded 608/708 (by channel), SCTE-27 (by PID) or a teletext page.
fn caption_selector(n: &Node, diags: &mut Diags) -> Option<(String, Span, CaptionSelector, Json)> {
    let mut t = Table::new(n, "caption selector", diags)?;
    let name = t.req("name", diags, selector_name);
    let source = t.req("source", diags, one_of(&["embedded", "scte27", "teletext"]));
    let language = t.opt("language", diags, language_code);
    let channel = t.get("channel");
    let pid = t.get("pid");
    let page = t.get("page");
    t.finish(CAPTION_SELECTOR_KEYS, diags);
    let source = source?;
    let only = |key: &str, n: Option<&Node>, for_source: &str, diags: &mut Diags| {
        if let Some(n) = n.filter(|_| source != for_source) {
            diags.push(Diagnostic::new(
                n.span,
                format!("`{key}` belongs to {for_source} caption selectors; this one is {source}"),
            ));
        }
    };
    only("channel", channel, "embedded", diags);
    only("pid", pid, "scte27", diags);
    only("page", page, "teletext", diags);
    let (kind, ch, settings) = match source.as_str() {
        "embedded" => {
            let ch = match channel {
                Some(n) => int_in(1, 4)(n, diags)?,
                None => 1,
            };
            (
                CaptionSource::Embedded,
                ch,
                json!({ "EmbeddedSourceSettings": {
                    "Convert608To708": "DISABLED",
                    "Scte20Detection": "OFF",
                    "Source608ChannelNumber": ch,
                } }),
            )
        }
        "scte27" => {
            let mut s = json!({});
            if let Some(n) = pid {
                s["Pid"] = json!(int_in(1, 8191)(n, diags)?);
            }
            (
                CaptionSource::Scte27,
                0,
                json!({ "Scte27SourceSettings": s }),
            )
        }
        _ => {
            let Some(n) = page else {
                diags.push(
                    Diagnostic::new(n.span, "a teletext caption selector needs `page`")
                        .hint("the teletext page of the subtitles, e.g. page = \"888\""),
                );
                return None;
            };
            let page = teletext_page(n, diags)?;
            (
                CaptionSource::Teletext,
                0,
                json!({ "TeletextSourceSettings": { "PageNumber": page } }),
            )
        }
    };
    let (name, span) = name?;
    let mut json = json!({ "Name": name, "SelectorSettings": settings });
    if let Some(l) = &language {
        json["LanguageCode"] = json!(l);
    }
    let sel = CaptionSelector {
        source: kind,
        channel: ch,
        language,
    };
    Some((name, span, sel, json))
}

/// One failover condition: `{ type = "input_loss" | "video_black" | "audio_silence", ... }`.
fn condition(n: &Node, audio: &BTreeSet<String>, diags: &mut Diags) -> Option<Json> {
    let mut t = Table::new(n, "failover condition", diags)?;
    let ty = t.req(
        "type",
        diags,
        one_of(&["input_loss", "video_black", "audio_silence"]),
    );
    let after = t.get("after_ms");
    let black = t.get("black_level");
    let selector = t.get("selector");
    t.finish(CONDITION_KEYS, diags);
    let ty = ty?;
    if let Some(n) = black.filter(|_| ty != "video_black") {
        diags.push(Diagnostic::new(
            n.span,
            "`black_level` belongs to video_black conditions",
        ));
    }
    if let Some(n) = selector.filter(|_| ty != "audio_silence") {
        diags.push(Diagnostic::new(
            n.span,
            "`selector` belongs to audio_silence conditions",
        ));
    }
    // MediaLive's minimums: 100 ms of input loss or black, 1000 ms of silence.
    let min = if ty == "audio_silence" { 1000 } else { 100 };
    let after = match after {
        Some(n) => int_in(min, 1_000_000)(n, diags)?,
        None => 1000,
    };
    match ty.as_str() {
        "input_loss" => Some(input_loss_condition(after)),
        "video_black" => {
            let level = match black {
                Some(n) => fraction(n, diags)?,
                None => 0.0,
            };
            Some(
                json!({ "FailoverConditionSettings": { "VideoBlackSettings": {
                "BlackDetectThreshold": level, "VideoBlackThresholdMsec": after } } }),
            )
        }
        _ => {
            let Some(n) = selector else {
                diags.push(
                    Diagnostic::new(t.span, "an audio_silence condition needs `selector`")
                        .hint("the name of one of this attachment's audio_selectors"),
                );
                return None;
            };
            let (name, span) = spanned_string(n, diags)?;
            if !audio.contains(&name) {
                let known: Vec<&str> = audio.iter().map(String::as_str).collect();
                diags.push(
                    Diagnostic::new(
                        span,
                        format!("`{name}` is not an audio selector of this attachment"),
                    )
                    .hint(if known.is_empty() {
                        "declare it in the attachment's audio_selectors".to_string()
                    } else {
                        format!("its audio selectors: {}", known.join(", "))
                    }),
                );
                return None;
            }
            Some(
                json!({ "FailoverConditionSettings": { "AudioSilenceSettings": {
                "AudioSelectorName": name, "AudioSilenceThresholdMsec": after } } }),
            )
        }
    }
}

fn input_loss_condition(after_ms: i64) -> Json {
    json!({ "FailoverConditionSettings": { "InputLossSettings": {
        "InputLossThresholdMsec": after_ms } } })
}

fn selector_name(n: &Node, diags: &mut Diags) -> Option<(String, Span)> {
    let (s, span) = spanned_string(n, diags)?;
    if s.is_empty() || s.len() > 255 {
        diags.push(Diagnostic::new(
            span,
            "a selector name is 1 to 255 characters",
        ));
        return None;
    }
    Some((s, span))
}

/// An ISO 639-2 code: three lower-case letters.
pub(super) fn language_code(n: &Node, diags: &mut Diags) -> Option<String> {
    let s = string(n, diags)?;
    let ok = s.len() == 3 && s.chars().all(|c| c.is_ascii_lowercase());
    let problem = format!("`{s}` is not an ISO 639-2 language code");
    let hint = "three lower-case letters, e.g. \"eng\", \"deu\", \"fra\"";
    accept(n, s, ok, problem, hint, diags)
}

/// A teletext page: three characters, the first 1 to 8, then hexadecimal digits ("888").
fn teletext_page(n: &Node, diags: &mut Diags) -> Option<String> {
    let s = match &n.value {
        Value::Int(i) => i.to_string(),
        _ => string(n, diags)?,
    };
    let b = s.as_bytes();
    let ok =
        b.len() == 3 && (b'1'..=b'8').contains(&b[0]) && b[1..].iter().all(u8::is_ascii_hexdigit);
    let problem = format!("`{s}` is not a teletext page");
    accept(n, s, ok, problem, "100 to 8FF, e.g. page = \"888\"", diags)
}

fn hex_color(n: &Node, diags: &mut Diags) -> Option<String> {
    let s = string(n, diags)?;
    let ok = s.len() == 6 && s.chars().all(|c| c.is_ascii_hexdigit());
    let problem = format!("`{s}` is not a colour");
    let hint = "six hexadecimal digits RRGGBB, e.g. \"000000\" for black";
    accept(n, s, ok, problem, hint, diags)
}

/// `s`, read from `n`, if `ok`; else `problem` with `hint`, located at `n`.
pub(super) fn accept(
    n: &Node,
    s: String,
    ok: bool,
    problem: String,
    hint: &str,
    diags: &mut Diags,
) -> Option<String> {
    if ok {
        Some(s)
    } else {
        diags.push(Diagnostic::new(n.span, problem).hint(hint));
        None
    }
}

/// A number from 0 to 1.
fn fraction(n: &Node, diags: &mut Diags) -> Option<f64> {
    let v = match &n.value {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected a number, found {}", n.type_name()),
            ));
            return None;
        }
    };
    if (0.0..=1.0).contains(&v) {
        Some(v)
    } else {
        diags.push(Diagnostic::new(
            n.span,
            format!("{v} is out of range: expected 0 to 1"),
        ));
        None
    }
}
