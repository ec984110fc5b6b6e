//! What an output group says besides its renditions: captions from the input's caption
//! selectors, SCTE-35 passthrough, and an HLS group's segments, manifest window and program
//! date time. Read before the group is built, applied to what it built.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::attachment::{accept, language_code, CaptionSelector, CaptionSource};
use super::GroupOut;
use crate::lower::Diags;
use crate::node::{array, boolean, int_in, one_of, spanned_string, string, Node, Table};
use crate::presets::{self, CaptionFormat, GroupKind};
use crate::{valid_label, Diagnostic, Span};

pub(super) const CAPTION_KEYS: &[&str] = &["selector", "format", "language", "label", "name"];
/// The keys only an HLS group has (HlsGroupSettings members).
const HLS_ONLY: &[&str] = &[
    "segment_seconds",
    "manifest_window",
    "program_date_time",
    "program_date_time_period",
];

/// A group's options as read, each with where it was written.
pub(super) struct Options {
    captions: Vec<Caption>,
    scte35: Option<(String, Span)>,
    segment: Option<i64>,
    window: Option<i64>,
    pdt: Option<bool>,
    pdt_period: Option<(i64, Span)>,
    /// Where each HLS-only key was written.
    hls_keys: Vec<(&'static str, Span)>,
}

struct Caption {
    selector: String,
    selector_span: Span,
    format: String,
    format_span: Span,
    language: Option<String>,
    label: Option<String>,
    name: Option<String>,
}

/// What the groups add to the channel's EncoderSettings.
#[derive(Default)]
pub(super) struct ChannelAdds {
    pub(super) caption_descriptions: Vec<Json>,
    /// Some group passes SCTE-35 through: the channel needs AvailConfiguration.
    pub(super) scte35: bool,
}

/// Reads a group's captions, scte35 and HLS settings from `g`.
pub(super) fn read(g: &mut Table<'_>, diags: &mut Diags) -> Options {
    let mut hls_keys = Vec::new();
    for k in HLS_ONLY {
        if let Some(n) = g.get(k) {
            hls_keys.push((*k, n.span));
        }
    }
    let captions = g
        .opt("captions", diags, |n, diags| {
            let items = array(n, diags)?;
            Some(items.iter().filter_map(|c| caption(c, diags)).collect())
        })
        .unwrap_or_default();
    Options {
        captions,
        scte35: g.opt("scte35", diags, |n, diags| {
            one_of(&["passthrough", "none"])(n, diags).map(|s| (s, n.span))
        }),
        // MediaLive's HLS segments are whole seconds; MediaPackage endpoints take 1 to 30.
        segment: g.opt("segment_seconds", diags, int_in(1, 30)),
        // IndexNSegments is at least 3.
        window: g.opt("manifest_window", diags, int_in(3, 10_000)),
        pdt: g.opt("program_date_time", diags, boolean),
        pdt_period: g.opt("program_date_time_period", diags, |n, diags| {
            int_in(0, 3600)(n, diags).map(|v| (v, n.span))
        }),
        hls_keys,
    }
}

impl Options {
    /// Applies the options to the group `out` built, naming its captions after `group`.
    pub(super) fn apply(
        self,
        group: &str,
        out: &mut GroupOut,
        selectors: &BTreeMap<String, CaptionSelector>,
        adds: &mut ChannelAdds,
        diags: &mut Diags,
    ) {
        let settings = &out.group["OutputGroupSettings"];
        let (kind, ty) = if settings.get("HlsGroupSettings").is_some() {
            (GroupKind::Hls, "hls")
        } else if settings.get("MediaPackageGroupSettings").is_some() {
            (GroupKind::MediaPackage, "mediapackage")
        } else {
            (GroupKind::Rtmp, "rtmp")
        };
        if kind == GroupKind::Hls {
            self.hls_settings(&mut out.group, diags);
        } else {
            for (k, span) in &self.hls_keys {
                let mut d = Diagnostic::new(
                    *span,
                    format!("`{k}` belongs to hls groups; a {ty} group has no segment or manifest settings"),
                );
                if kind == GroupKind::MediaPackage {
                    d = d.hint("MediaPackageGroupSettings has only its destination: use type = \"hls\" to choose the segments MediaPackage ingests");
                }
                diags.push(d);
            }
        }
        if let Some((mode, span)) = &self.scte35 {
            match (&kind, mode.as_str()) {
                (GroupKind::Rtmp, _) => diags.push(Diagnostic::new(
                    *span,
                    "`scte35` belongs to hls and mediapackage groups; an rtmp output carries no SCTE-35",
                )),
                (GroupKind::MediaPackage, "none") => diags.push(
                    Diagnostic::new(
                        *span,
                        "MediaLive always passes SCTE-35 through to MediaPackage; it cannot be turned off",
                    )
                    .hint("remove `scte35`, and drop the markers on the MediaPackage endpoint if they are not wanted"),
                ),
                (_, "passthrough") => {
                    adds.scte35 = true;
                    if kind == GroupKind::Hls {
                        scte35_passthrough(&mut out.group);
                    }
                }
                _ => {}
            }
        }
        self.captions(group, &kind, out, selectors, adds, diags);
    }

    /// segment_seconds, manifest_window and program date time into HlsGroupSettings.
    fn hls_settings(&self, group: &mut Json, diags: &mut Diags) {
        let hls = &mut group["OutputGroupSettings"]["HlsGroupSettings"];
        if let Some(s) = self.segment {
            hls["SegmentLength"] = json!(s);
        }
        if let Some(n) = self.window {
            // AWS's advice for KeepSegments: twice the manifest's segments, plus one.
            hls["IndexNSegments"] = json!(n);
            hls["KeepSegments"] = json!(2 * n + 1);
        }
        match (self.pdt, self.pdt_period) {
            (Some(true), period) => {
                hls["ProgramDateTime"] = json!("INCLUDE");
                hls["ProgramDateTimePeriod"] = json!(period.map_or(600, |(p, _)| p));
            }
            (_, Some((_, span))) => diags.push(
                Diagnostic::new(
                    span,
                    "`program_date_time_period` is used with program_date_time = true only",
                )
                .hint("add program_date_time = true"),
            ),
            _ => {}
        }
    }

    fn captions(
        &self,
        group: &str,
        kind: &GroupKind,
        out: &mut GroupOut,
        selectors: &BTreeMap<String, CaptionSelector>,
        adds: &mut ChannelAdds,
        diags: &mut Diags,
    ) {
        let mut in_video = BTreeSet::new();
        for c in &self.captions {
            let Some(sel) = selectors.get(&c.selector) else {
                let known: Vec<&str> = selectors.keys().map(String::as_str).collect();
                diags.push(
                    Diagnostic::new(
                        c.selector_span,
                        format!(
                            "caption selector `{}` is not declared by the channel's input attachments (MediaLive refuses it)",
                            c.selector
                        ),
                    )
                    .hint(if known.is_empty() {
                        "declare it: inputs = [{ input = ..., caption_selectors = [{ name = ..., source = ... }] }]".to_string()
                    } else {
                        format!("declared caption selectors: {}", known.join(", "))
                    }),
                );
                continue;
            };
            let format = match c.format.as_str() {
                "webvtt" => CaptionFormat::Webvtt,
                "embedded" => CaptionFormat::Embedded,
                _ => CaptionFormat::BurnIn {
                    teletext: sel.source == CaptionSource::Teletext,
                },
            };
            if format == CaptionFormat::Webvtt && *kind == GroupKind::Rtmp {
                diags.push(
                    Diagnostic::new(c.format_span, "an rtmp output carries no WebVTT captions")
                        .hint("use format = \"burn_in\" (or \"embedded\" from embedded captions)"),
                );
                continue;
            }
            if format == CaptionFormat::Embedded && sel.source != CaptionSource::Embedded {
                diags.push(
                    Diagnostic::new(
                        c.format_span,
                        format!(
                            "embedded captions come from embedded 608/708 captions; selector `{}` reads {}",
                            c.selector,
                            match sel.source {
                                CaptionSource::Scte27 => "SCTE-27 subtitles",
                                _ => "a teletext page",
                            }
                        ),
                    )
                    .hint("use format = \"webvtt\" or \"burn_in\""),
                );
                continue;
            }
            if format != CaptionFormat::Webvtt {
                // The video carries one embedded captions track and one burnt-in layer.
                if !in_video.insert(c.format.as_str()) {
                    diags.push(Diagnostic::new(
                        c.format_span,
                        format!(
                            "output group `{group}` already has {} captions: the video carries one",
                            c.format
                        ),
                    ));
                    continue;
                }
            }
            let language = c.language.as_deref().or(sel.language.as_deref());
            let label = c.label.as_deref();
            let cname = c.name.as_deref().unwrap_or(&c.selector);
            let outputs = out.group["Outputs"].as_array_mut();
            let outputs = outputs.expect("a built group has outputs");
            let mut describe = |name: &str| {
                adds.caption_descriptions.push(presets::caption_description(
                    name,
                    &c.selector,
                    format,
                    language,
                    label,
                ));
            };
            if format == CaptionFormat::Webvtt {
                let name = format!("{group}_captions_{cname}");
                describe(&name);
                outputs.push(presets::caption_output(
                    kind,
                    &name,
                    &format!("_captions_{cname}"),
                ));
                continue;
            }
            // Into the video of each output that has video (not the WebVTT renditions).
            for o in outputs
                .iter_mut()
                .filter(|o| o.get("VideoDescriptionName").is_some())
            {
                let Some(output) = o["OutputName"].as_str().map(String::from) else {
                    continue;
                };
                let name = format!("{output}_captions_{cname}");
                describe(&name);
                if let Some(names) = o["CaptionDescriptionNames"].as_array_mut() {
                    names.push(json!(name));
                } else {
                    o["CaptionDescriptionNames"] = json!([name]);
                }
            }
            // An HLS manifest names the embedded captions' language (CLOSED-CAPTIONS).
            if let (CaptionFormat::Embedded, GroupKind::Hls, Some(l)) = (format, kind, language) {
                let hls = &mut out.group["OutputGroupSettings"]["HlsGroupSettings"];
                hls["CaptionLanguageSetting"] = json!("INSERT");
                hls["CaptionLanguageMappings"] = json!([{
                    "CaptionChannel": sel.channel,
                    "LanguageCode": l,
                    "LanguageDescription": label.unwrap_or(l),
                }]);
            }
        }
    }
}

/// SCTE-35 in every output's transport stream and as ad markers in the HLS manifests.
fn scte35_passthrough(group: &mut Json) {
    group["OutputGroupSettings"]["HlsGroupSettings"]["AdMarkers"] = json!(["ELEMENTAL_SCTE35"]);
    for o in group["Outputs"].as_array_mut().into_iter().flatten() {
        let m3u8 = &mut o["OutputSettings"]["HlsOutputSettings"]["HlsSettings"]
            ["StandardHlsSettings"]["M3u8Settings"];
        if m3u8.is_object() {
            m3u8["Scte35Behavior"] = json!("PASSTHROUGH");
        }
    }
}

/// One `captions` entry.
fn caption(n: &Node, diags: &mut Diags) -> Option<Caption> {
    let mut t = Table::new(n, "captions entry", diags)?;
    let selector = t.req("selector", diags, spanned_string);
    let format = t.req("format", diags, |n, diags| {
        one_of(&["webvtt", "embedded", "burn_in"])(n, diags).map(|s| (s, n.span))
    });
    let language = t.opt("language", diags, language_code);
    let label = t.opt("label", diags, string);
    let name = t.opt("name", diags, |n, diags| {
        let s = string(n, diags)?;
        let problem = format!("caption name `{s}` may hold only letters, digits, `-` and `_`");
        accept(
            n,
            s.clone(),
            valid_label(&s),
            problem,
            "it names the captions' description and output",
            diags,
        )
    });
    t.finish(CAPTION_KEYS, diags);
    let ((selector, selector_span), (format, format_span)) = (selector?, format?);
    Some(Caption {
        selector,
        selector_span,
        format,
        format_span,
        language,
        label,
        name,
    })
}
