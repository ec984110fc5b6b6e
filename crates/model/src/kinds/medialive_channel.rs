//! `medialive_channel`: a MediaLive channel (a generated id), with a run state.

mod attachment;
mod group_options;

use attachment::{
    AUDIO_SELECTOR_KEYS, CAPTION_SELECTOR_KEYS, CONDITION_KEYS, FAILOVER_KEYS, INPUT_LOSS_KEYS,
};
use group_options::CAPTION_KEYS;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value as Json};

use super::{Kind, KindInfo, Reference, TableKeys, Unique};
use crate::encoding::{self, Video, AUDIO_KEYS};
use crate::lower::{out_ref, tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{
    array, boolean, int_in, one_of, spanned_string, string, strings, Node, Table, Value,
};
use crate::presets::{self, GroupKind, Rendition};
use crate::{Address, Diagnostic, Resource};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveChannel,
    name: "medialive_channel",
    noun: "Channel",
    put_call: None,
    identity: None,
    // Everything changes in place (the class by UpdateChannelClass, after a stop).
    forces_replacement: &[],
    references: &[
        Reference {
            path: "InputAttachments[].InputId",
            kind: Kind::MedialiveInput,
        },
        Reference {
            path: "InputAttachments[].AutomaticInputFailoverSettings.SecondaryInputId",
            kind: Kind::MedialiveInput,
        },
        Reference {
            path: "RoleArn",
            kind: Kind::IamRole,
        },
        Reference {
            path: "Destinations[].Settings[].PasswordParam",
            kind: Kind::SsmParameter,
        },
        Reference {
            path: "Destinations[].MediaPackageSettings[].ChannelId",
            kind: Kind::MediapackageChannel,
        },
    ],
    unique: Some(Unique {
        member: "Name",
        what: "channel name",
    }),
    lower: Some(lower),
    tables: TABLES,
    // ListChannels lacks a channel's EncoderSettings: one DescribeChannel each.
    read_in_bulk: false,
    discovered_by_tags: true,
    run_state: true,
    detach_before_delete: false,
};

const CHANNEL_KEYS: &[&str] = &[
    "name",
    "class",
    "role",
    "running",
    "log_level",
    "input_specification",
    "inputs",
    "output_groups",
    "encoder_settings",
    "input_loss",
    "tags",
    "depends_on",
];
const INPUT_SPEC_KEYS: &[&str] = &["codec", "resolution", "maximum_bitrate_mbps"];
const ATTACH_KEYS: &[&str] = &[
    "input",
    "name",
    "source_end_behavior",
    "audio_selectors",
    "caption_selectors",
    "deblock",
    "denoise",
    "failover",
];
const GROUP_KEYS: &[&str] = &[
    "name",
    "type",
    "destination",
    "url",
    "backup_url",
    "stream_key",
    "password_parameters",
    "destination_id",
    "ladder",
    "renditions",
    "video",
    "audio",
    // Video choices for every rendition of the group (encoding::VIDEO_KEYS).
    "codec",
    "framerate",
    "gop_seconds",
    "gop_closed",
    "rate_control",
    "quality",
    "profile",
    "level",
    "scan_type",
    // HLS, MediaPackage and caption options (group_options).
    "captions",
    "scte35",
    "segment_seconds",
    "manifest_window",
    "program_date_time",
    "program_date_time_period",
];
/// The group keys that `encoder_settings` would silently override: those after the
/// destination's in [`GROUP_KEYS`].
const ENCODER_GROUP_KEYS: &[&str] = GROUP_KEYS.split_at(8).1;
const RENDITION_KEYS: &[&str] = &[
    "name",
    "width",
    "height",
    "bitrate",
    // Video choices for this rendition, over its group's (encoding::VIDEO_KEYS).
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
const STREAM_KEY_KEYS: &[&str] = &["env", "ssm"];
const ENCODER_FILE_KEYS: &[&str] = &["file"];

/// The channel's tables and the keys of each (`KindInfo::tables`).
const TABLES: &[TableKeys] = &[
    TableKeys {
        path: "medialive_channel.<label>",
        keys: CHANNEL_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.input_specification",
        keys: INPUT_SPEC_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.inputs[]",
        keys: ATTACH_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.input_loss",
        keys: INPUT_LOSS_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.inputs[].audio_selectors[]",
        keys: AUDIO_SELECTOR_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.inputs[].caption_selectors[]",
        keys: CAPTION_SELECTOR_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.inputs[].failover",
        keys: FAILOVER_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.inputs[].failover.conditions[]",
        keys: CONDITION_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[]",
        keys: GROUP_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[].captions[]",
        keys: CAPTION_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[].renditions[]",
        keys: RENDITION_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[].video",
        keys: RENDITION_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[].audio[]",
        keys: AUDIO_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.output_groups[].stream_key",
        keys: STREAM_KEY_KEYS,
    },
    TableKeys {
        path: "medialive_channel.<label>.encoder_settings",
        keys: ENCODER_FILE_KEYS,
    },
];

/// `[medialive_channel.<label>]` into its resource (a [`super::Lower`]); derived from it, the
/// SSM parameters holding the ingest passwords of the MediaPackage channels it sends HLS to.
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let name = d.or_label(t.opt("name", diags, string));
    let class = t
        .opt("class", diags, one_of(&["standard", "single_pipeline"]))
        .unwrap_or_else(|| "standard".into());
    let standard = class == "standard";
    let role = t.req("role", diags, |n, diags| {
        ctx.reference(n, Kind::IamRole, diags)
    });
    let running = t.opt("running", diags, boolean).unwrap_or(true);
    let log_level = t.opt(
        "log_level",
        diags,
        one_of(&["error", "warning", "info", "debug", "disabled"]),
    );
    let input_spec = t.opt("input_specification", diags, |n, diags| {
        let mut s = Table::new(n, "input_specification", diags)?;
        let codec = s.opt("codec", diags, one_of(&["avc", "hevc", "mpeg2"]));
        let res = s.opt("resolution", diags, one_of(&["sd", "hd", "uhd"]));
        let max = s.opt("maximum_bitrate_mbps", diags, |n, diags| {
            let v = int_in(10, 50)(n, diags)?;
            if [10, 20, 50].contains(&v) {
                Some(v)
            } else {
                diags.push(Diagnostic::new(
                    n.span,
                    "maximum_bitrate_mbps is 10, 20 or 50",
                ));
                None
            }
        });
        s.finish(INPUT_SPEC_KEYS, diags);
        Some(json!({
            "Codec": codec.unwrap_or_else(|| "avc".into()).to_uppercase(),
            "Resolution": res.unwrap_or_else(|| "hd".into()).to_uppercase(),
            "MaximumBitrate": format!("MAX_{}_MBPS", max.unwrap_or(20)),
        }))
    });
    let mut deps = ctx.depends_on(t, diags);

    // Input attachments.
    let mut attachments = Vec::new();
    let mut attached = Vec::new();
    let inputs_node = t.req("inputs", diags, array);
    for n in inputs_node.into_iter().flatten() {
        let Some(mut a) = Table::new(n, format!("{}: input attachment", d.address), diags) else {
            continue;
        };
        let input = a.req("input", diags, |n, diags| {
            ctx.reference(n, Kind::MedialiveInput, diags)
                .map(|x| (x, n.span))
        });
        let att_name = a.opt("name", diags, string);
        let seb = a.opt("source_end_behavior", diags, one_of(&["loop", "continue"]));
        let settings = attachment::read(&mut a, diags);
        a.finish(ATTACH_KEYS, diags);
        let Some((input, span)) = input else { continue };
        if standard && ctx.inputs.get(&input).is_some_and(|f| !f.standard) {
            diags.push(
                Diagnostic::new(
                    span,
                    format!("a STANDARD channel needs STANDARD inputs, but `{input}` has one source or destination"),
                )
                .hint("give the input two sources/destinations, or set class = \"single_pipeline\""),
            );
        }
        let att_name = att_name.unwrap_or_else(|| input.label.clone());
        let mut att = json!({
            "InputId": out_ref(&input, "Id"),
            "InputAttachmentName": att_name,
        });
        let mut input_settings = serde_json::Map::new();
        if let Some(seb) = seb {
            input_settings.insert("SourceEndBehavior".into(), json!(seb.to_uppercase()));
        }
        input_settings.extend(settings.input_settings.clone());
        if !input_settings.is_empty() {
            att["InputSettings"] = Json::Object(input_settings);
        }
        attachments.push(att);
        deps.push(input.clone());
        attached.push(attachment::Attached {
            name: att_name,
            input,
            settings,
        });
    }
    let mut paired = BTreeSet::new();
    for (i, att) in attachments.iter_mut().enumerate() {
        if let Some(f) = attachment::failover(ctx, &attached, i, &mut paired, diags) {
            att["AutomaticInputFailoverSettings"] = f;
        }
    }
    // The caption selectors output groups may name: each attachment's, the first one's
    // settings for a name declared twice.
    let mut caption_selectors = BTreeMap::new();
    for a in &attached {
        for (name, sel) in &a.settings.caption_selectors {
            caption_selectors
                .entry(name.clone())
                .or_insert_with(|| sel.clone());
        }
    }
    // The audio selectors an output group's tracks may take from.
    let audio_selectors: BTreeSet<&str> = attached
        .iter()
        .flat_map(|a| a.settings.audio_selectors.iter().map(String::as_str))
        .collect();
    let mut adds = group_options::ChannelAdds::default();
    if inputs_node.as_ref().is_some_and(|v| v.is_empty()) {
        diags.push(
            Diagnostic::new(
                t.span,
                format!("{}: a channel needs at least one input", d.address),
            )
            .at_table_header(),
        );
    }

    // Output groups.
    let mut destinations = Vec::new();
    let (mut videos, mut audios, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    let mut group_names = BTreeSet::new();
    let mut dest_seen = BTreeSet::new();
    let groups_node = t.req("output_groups", diags, array);
    let escape = t.get("encoder_settings");
    for n in groups_node.into_iter().flatten() {
        let Some(mut g) = Table::new(n, format!("{}: output group", d.address), diags) else {
            continue;
        };
        if escape.is_some() {
            // The file's encoder settings would silently replace these.
            if let Value::Table(entries) = &n.value {
                for (k, _) in entries
                    .iter()
                    .filter(|(k, _)| ENCODER_GROUP_KEYS.contains(&k.name.as_str()))
                {
                    diags.push(
                        Diagnostic::new(
                            k.span,
                            format!(
                                "`{}` has no effect with `encoder_settings`: the file gives the channel's renditions",
                                k.name
                            ),
                        )
                        .hint("remove it, or remove `encoder_settings` to use it"),
                    );
                }
            }
        }
        let options = group_options::read(&mut g, diags);
        let Some(mut out) = output_group(ctx, d, &mut g, standard, derived, diags) else {
            g.finish(GROUP_KEYS, diags);
            continue;
        };
        g.finish(GROUP_KEYS, diags);
        let group_name = out.name.clone();
        options.apply(&group_name, &mut out, &caption_selectors, &mut adds, diags);
        // A track's selector must be an input attachment's (MediaLive refuses the channel
        // otherwise); "default", the one nobody declared, takes the input's first audio.
        let mut unknown: Vec<&str> = out
            .audios
            .iter()
            .filter_map(|a| a["AudioSelectorName"].as_str())
            .filter(|s| *s != "default" && !audio_selectors.contains(s))
            .collect();
        unknown.dedup();
        for sel in unknown {
            let at = g.get("audio").map_or(n.span, |a| a.span);
            diags.push(
                Diagnostic::new(
                    at,
                    format!("{}: output group `{group_name}`: an audio track takes selector `{sel}`, which no input attachment declares", d.address),
                )
                .hint(if audio_selectors.is_empty() {
                    "declare it in the input attachment's `audio_selectors`".to_string()
                } else {
                    format!(
                        "the attachments' audio selectors are: {}",
                        audio_selectors.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                }),
            );
        }
        if !group_names.insert(out.name.clone()) {
            diags.push(Diagnostic::new(
                n.span,
                format!("{}: two output groups are named `{}`", d.address, out.name),
            ));
        }
        // MediaLive matches each group's DestinationRefId to one destination of the channel.
        let dest = out.destination["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !dest_seen.insert(dest.clone()) {
            let at = g.get("destination_id").map_or(n.span, |x| x.span);
            diags.push(
                Diagnostic::new(
                    at,
                    format!(
                        "{}: two output groups send to destination `{dest}`: a destination id is unique in a channel",
                        d.address
                    ),
                )
                .hint("give one of them another `destination_id` (or name)"),
            );
        }
        destinations.push(out.destination);
        videos.extend(out.videos);
        audios.extend(out.audios);
        groups.push(out.group);
        deps.extend(out.deps);
    }
    if groups_node.as_ref().is_some_and(|v| v.is_empty()) {
        diags.push(
            Diagnostic::new(
                t.span,
                format!("{}: a channel needs at least one output group", d.address),
            )
            .at_table_header(),
        );
    }
    let dest_ids: BTreeSet<String> = destinations
        .iter()
        .filter_map(|d| d["Id"].as_str().map(String::from))
        .collect();
    let mut encoder = presets::encoder_settings(videos, audios, groups);
    if !adds.caption_descriptions.is_empty() {
        encoder["CaptionDescriptions"] = Json::Array(adds.caption_descriptions);
    }
    if adds.scte35 {
        encoder["AvailConfiguration"] = presets::avail_configuration();
    }
    let input_loss = t.get("input_loss");
    if let Some(behavior) = input_loss.and_then(|n| attachment::input_loss(n, diags)) {
        encoder["GlobalConfiguration"] = json!({ "InputLossBehavior": behavior });
    }
    if let (Some(n), Some(_)) = (input_loss, escape) {
        diags.push(
            Diagnostic::new(
                n.span,
                "`input_loss` has no effect with `encoder_settings`: the file gives the channel's GlobalConfiguration",
            )
            .hint("remove it, or write InputLossBehavior in the file"),
        );
    }
    if let Some(file) = escape {
        if let Some(e) = encoder_file(ctx, file, &dest_ids, diags) {
            check_caption_selectors(&e, &caption_selectors, file, diags);
            encoder = e;
        }
    }
    let tags = t.opt("tags", diags, tag_map);
    t.finish(CHANNEL_KEYS, diags);
    let role = role?;
    let spec = presets::object([
        ("Name", json!(name)),
        ("ChannelClass", json!(class.to_uppercase())),
        ("RoleArn", out_ref(&role, "Arn")),
        (
            "LogLevel",
            json!(log_level
                .unwrap_or_else(|| "disabled".into())
                .to_uppercase()),
        ),
        (
            "InputSpecification",
            input_spec.unwrap_or_else(
                || json!({ "Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS" }),
            ),
        ),
        ("InputAttachments", Json::Array(attachments)),
        ("Destinations", Json::Array(destinations)),
        ("EncoderSettings", encoder),
        ("Tags", ctx.tags(&d.address, tags)),
    ]);
    deps.push(role);
    Some(ctx.resource(d, spec, deps, Some(running)))
}

fn output_group(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    g: &mut Table<'_>,
    standard: bool,
    derived: &mut Derived,
    diags: &mut Diags,
) -> Option<GroupOut> {
    let name = g.req("name", diags, string);
    let ty = g.req("type", diags, one_of(&["hls", "mediapackage", "rtmp"]));
    let Some(ty) = ty else {
        // Which keys belong depends on the type: none is reported unknown.
        for k in GROUP_KEYS {
            g.get(k);
        }
        return None;
    };
    let rtmp = ty == "rtmp";
    let base = encoding::video(g, &Video::default(), rtmp, diags);
    let audio = g.opt("audio", diags, |n, d| encoding::audio_tracks(n, rtmp, d));
    let renditions = renditions(ctx, g, Some(ty.as_str()), &base, diags);
    // The destination's id: the one a console channel was given (`destination1`), else one
    // derived from the group's name.
    let given_id = g.opt("destination_id", diags, |n, diags| {
        let (s, span) = spanned_string(n, diags)?;
        // MediaLive's API gives the id no pattern (`__string`); the console's are words such
        // as `destination1`.
        if s.is_empty() {
            diags.push(
                Diagnostic::new(span, "a destination id must not be empty")
                    .hint("for example destination_id = \"destination1\""),
            );
            return None;
        }
        Some((s, span))
    });
    let name = name?;
    let dest_id = given_id
        .as_ref()
        .map_or_else(|| destination_id(&name), |(s, _)| s.clone());
    let mut deps = Vec::new();
    let pipelines = if standard { 2 } else { 1 };
    let (kind, destination) = match ty.as_str() {
        "hls" | "mediapackage" => {
            for k in ["url", "backup_url", "stream_key"] {
                if let Some(n) = g.get(k) {
                    diags.push(Diagnostic::new(
                        n.span,
                        format!(
                            "`{k}` belongs to rtmp groups; a {ty} group sends to `destination`"
                        ),
                    ));
                }
            }
            let mp = g.req("destination", diags, |n, diags| {
                ctx.reference(n, Kind::MediapackageChannel, diags)
            })?;
            deps.push(mp.clone());
            if ty == "mediapackage" {
                if let Some(n) = g.get("password_parameters") {
                    diags.push(Diagnostic::new(
                        n.span,
                        "`password_parameters` belongs to hls groups: a mediapackage group sends without credentials",
                    ));
                }
                let id = ctx.mp_ids.get(&mp).cloned().unwrap_or_default();
                (
                    GroupKind::MediaPackage,
                    json!({
                        "Id": dest_id,
                        "MediaPackageSettings": [{ "ChannelId": id }]
                    }),
                )
            } else {
                // SSM parameters kept outside the stack (an imported console channel's): read
                // by name, one per pipeline, never written by livestack.
                let own = g.get("password_parameters").and_then(|n| {
                    let names = strings(n, diags)?;
                    if names.len() == pipelines {
                        Some(names.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
                    } else {
                        diags.push(
                            Diagnostic::new(
                                n.span,
                                format!(
                                    "a {} channel reads {pipelines} ingest password parameter(s), one per pipeline; this gives {}",
                                    if standard { "STANDARD" } else { "SINGLE_PIPELINE" },
                                    names.len()
                                ),
                            )
                            .hint("or leave `password_parameters` out: livestack keeps the passwords in parameters of its own"),
                        );
                        None
                    }
                });
                let mut settings = Vec::new();
                for i in 0..pipelines {
                    let param = match &own {
                        Some(names) => names[i].clone(),
                        None => {
                            let (address, name) = ingest_parameter(ctx, &mp, i, derived);
                            deps.push(address);
                            name
                        }
                    };
                    settings.push(json!({
                        "Url": out_ref(&mp, &format!("HlsIngest.IngestEndpoints.{i}.Url")),
                        "Username": out_ref(&mp, &format!("HlsIngest.IngestEndpoints.{i}.Username")),
                        "PasswordParam": param,
                    }));
                }
                // Both parameters exist whatever the class, so a class change does not
                // create or delete them.
                if own.is_none() {
                    for i in pipelines..2 {
                        ingest_parameter(ctx, &mp, i, derived);
                    }
                }
                (
                    GroupKind::Hls,
                    json!({ "Id": dest_id, "Settings": settings }),
                )
            }
        }
        _ => {
            if let Some(n) = g.get("destination") {
                diags.push(Diagnostic::new(
                    n.span,
                    "an rtmp group sends to `url`, not `destination`",
                ));
            }
            if let Some(n) = g.get("password_parameters") {
                diags.push(Diagnostic::new(
                    n.span,
                    "`password_parameters` belongs to hls groups: an rtmp group sends its `stream_key`",
                ));
            }
            let url = g.req("url", diags, |n, diags| {
                let (s, span) = spanned_string(n, diags)?;
                if s.starts_with("rtmp://") || s.starts_with("rtmps://") {
                    Some(s)
                } else {
                    diags.push(Diagnostic::new(
                        span,
                        format!("`{s}` is not an rtmp:// or rtmps:// URL"),
                    ));
                    None
                }
            });
            let backup = g.opt("backup_url", diags, string);
            let key = g.req("stream_key", diags, secret_ref);
            if standard && backup.is_none() {
                diags.push(
                    Diagnostic::new(
                        g.span,
                        format!("{}: output group `{name}`: a STANDARD channel sends each output twice (one per pipeline)", d.address),
                    )
                    .hint("add `backup_url`, or set class = \"single_pipeline\"")
                    .at_table_header(),
                );
            }
            let (url, key) = (url?, key?);
            let mut settings = vec![json!({ "Url": url, "StreamName": key })];
            if standard {
                settings.push(json!({ "Url": backup.unwrap_or_default(), "StreamName": key }));
            }
            (
                GroupKind::Rtmp,
                json!({ "Id": dest_id, "Settings": settings }),
            )
        }
    };
    let (videos, audios, group) = presets::output_group(
        &name,
        &kind,
        &dest_id,
        &renditions?,
        audio.as_deref(),
        standard,
    );
    Some(GroupOut {
        name,
        destination,
        videos,
        audios,
        group,
        deps,
    })
}

/// The derived SSM parameter that holds ingest endpoint `i`'s password of `mp`:
/// (its address, its name).
fn ingest_parameter(
    ctx: &Ctx<'_, '_>,
    mp: &Address,
    i: usize,
    derived: &mut Derived,
) -> (Address, String) {
    let address = Address::new(Kind::SsmParameter, format!("{}-ingest-{}", mp.label, i + 1));
    let name = format!("/livestack/{}/{}/ingest-{}", ctx.stack, mp.label, i + 1);
    let location = (ctx.locate)(ctx.decl_span(mp));
    derived.entry(address.clone()).or_insert_with(|| Resource {
        address: address.clone(),
        spec: json!({
            "Name": name,
            "Type": "SecureString",
            "Value": { "$secret": {
                "output": mp.to_string(),
                "attr": format!("HlsIngest.IngestEndpoints.{i}.Password")
            } },
            "Description": format!("MediaPackage ingest password {} of {mp} (livestack)", i + 1),
            "Tags": ctx.tags(&address, None),
        }),
        depends_on: vec![mp.clone()],
        running: None,
        location,
    });
    (address, name)
}

/// The video renditions of a group: `ladder`, `renditions` or `video`.
/// `base`: the group's video choices, which each rendition starts from; `ladder` names a
/// `[ladder.<name>]` of the stack or a built-in ladder.
fn renditions(
    ctx: &Ctx<'_, '_>,
    g: &mut Table<'_>,
    ty: Option<&str>,
    base: &Video,
    diags: &mut Diags,
) -> Option<Vec<Rendition>> {
    let ladder = g.get("ladder");
    let explicit = g.get("renditions");
    let video = g.get("video");
    let given = [ladder, explicit, video]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if given > 1 {
        diags.push(
            Diagnostic::new(g.span, "give one of `ladder`, `renditions` or `video`")
                .at_table_header(),
        );
        return None;
    }
    let rtmp = ty == Some("rtmp");
    let one_output = |n: &Node, count: usize, diags: &mut Diags| {
        diags.push(
            Diagnostic::new(
                n.span,
                format!("an rtmp output group carries exactly one output; this gives {count}"),
            )
            .hint("give the one rendition with `video = { width = ..., height = ..., bitrate = ... }`"),
        );
    };
    if let Some(n) = ladder {
        let mut names: Vec<&str> = ctx.ladders.keys().map(String::as_str).collect();
        names.extend(presets::ladder_names());
        let (s, span) = spanned_string(n, diags)?;
        if let Some(custom) = ctx.ladders.get(&s) {
            let items = custom_ladder(custom)?;
            if rtmp && items.len() > 1 {
                one_output(n, items.len(), diags);
                return None;
            }
            return rendition_list(items, base, rtmp, diags);
        }
        let builtin = presets::ladder(&s).map(|l| {
            l.into_iter()
                .map(|r| Rendition {
                    video: base.clone(),
                    ..r
                })
                .collect::<Vec<_>>()
        });
        return match builtin {
            Some(l) if rtmp && l.len() > 1 => {
                one_output(n, l.len(), diags);
                None
            }
            Some(l) => Some(l),
            None => {
                let mut d = Diagnostic::new(span, format!("unknown ladder `{s}`"));
                d = d.hint(format!("known ladders: {}", names.join(", ")));
                diags.push(d);
                None
            }
        };
    }
    if let Some(n) = explicit {
        let items = array(n, diags)?;
        if items.is_empty() {
            diags.push(Diagnostic::new(n.span, "renditions must not be empty"));
            return None;
        }
        if rtmp && items.len() > 1 {
            one_output(n, items.len(), diags);
            return None;
        }
        return rendition_list(items, base, rtmp, diags);
    }
    if let Some(n) = video {
        return rendition(n, base, rtmp, diags).map(|r| vec![r]);
    }
    match ty {
        Some("rtmp") => Some(vec![Rendition {
            name: "1080p".into(),
            width: 1920,
            height: 1080,
            bitrate: 4_000_000,
            video: base.clone(),
        }]),
        _ => presets::ladder("1080p").map(|l| {
            l.into_iter()
                .map(|r| Rendition {
                    video: base.clone(),
                    ..r
                })
                .collect()
        }),
    }
}

/// The renditions of a `renditions = [...]` list (a group's, or a `[ladder.<name>]`'s), each
/// named once.
fn rendition_list(
    items: &[Node],
    base: &Video,
    rtmp: bool,
    diags: &mut Diags,
) -> Option<Vec<Rendition>> {
    let out: Vec<Option<Rendition>> = items
        .iter()
        .map(|i| rendition(i, base, rtmp, diags))
        .collect();
    let out: Option<Vec<Rendition>> = out.into_iter().collect();
    if let Some(rs) = &out {
        let mut seen = BTreeSet::new();
        for (r, it) in rs.iter().zip(items) {
            if !seen.insert(r.name.clone()) {
                diags.push(Diagnostic::new(
                    it.span,
                    format!("two renditions are named `{}`", r.name),
                ));
            }
        }
    }
    out
}

/// The keys of a `[ladder.<name>]` table.
pub(crate) const LADDER_KEYS: &[&str] = &["renditions"];

/// The tables of a `[ladder.<name>]` (in the stack file's reference, after `[stack]`).
pub(crate) const LADDER_TABLES: &[TableKeys] = &[
    TableKeys {
        path: "ladder.<name>",
        keys: LADDER_KEYS,
    },
    TableKeys {
        path: "ladder.<name>.renditions[]",
        keys: RENDITION_KEYS,
    },
];

/// A `[ladder.<name>]` of the stack: its renditions, if it has any (what is wrong with it is
/// reported where it is declared, by [`check_ladder`]).
fn custom_ladder(n: &Node) -> Option<&[Node]> {
    let Value::Table(entries) = &n.value else {
        return None;
    };
    match &entries
        .iter()
        .find(|(k, _)| k.name == "renditions")?
        .1
        .value
    {
        Value::Array(items) if !items.is_empty() => Some(items),
        _ => None,
    }
}

/// Checks a `[ladder.<name>]` where it is declared: a table of non-empty `renditions`, each a
/// valid rendition, its name not a built-in ladder's.
pub(crate) fn check_ladder(name: &str, key_span: crate::Span, n: &Node, diags: &mut Diags) {
    if presets::ladder(name).is_some() {
        diags.push(
            Diagnostic::new(
                key_span,
                format!("`ladder.{name}`: `{name}` is a built-in ladder's name"),
            )
            .hint("give your ladder another name"),
        );
    }
    let Some(mut t) = Table::new(n, format!("ladder.{name}"), diags) else {
        return;
    };
    if let Some(items) = t.req("renditions", diags, array) {
        if items.is_empty() {
            diags.push(Diagnostic::new(
                t.span,
                format!("ladder.{name}: renditions must not be empty"),
            ));
        } else {
            // What depends on the group it is used in (a `quality` needs QVBR there) is
            // checked where it is used.
            let lenient = Video {
                rate: encoding::Rate::Qvbr { quality: None },
                ..Video::default()
            };
            rendition_list(items, &lenient, false, diags);
        }
    }
    t.finish(LADDER_KEYS, diags);
}

/// `encoder_settings = { file = "x.json" }`: EncoderSettings in the AWS JSON shape.
fn encoder_file(
    ctx: &Ctx<'_, '_>,
    n: &Node,
    dest_ids: &BTreeSet<String>,
    diags: &mut Diags,
) -> Option<Json> {
    let mut t = Table::new(n, "encoder_settings", diags)?;
    let file = t.req("file", diags, spanned_string);
    t.finish(ENCODER_FILE_KEYS, diags);
    let (file, span) = file?;
    let full = ctx.path.parent().unwrap_or(Path::new(".")).join(&file);
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::new(
                span,
                format!("cannot read `{}`: {e}", full.display()),
            ));
            return None;
        }
    };
    let mut v: Json = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::new(
                span,
                format!(
                    "`{}` line {} column {}: invalid JSON: {e}",
                    full.display(),
                    e.line(),
                    e.column()
                ),
            ));
            return None;
        }
    };
    // The REST shape SDKs, the CDK and the console's JSON view print (camelCase) is taken too.
    if v.get("encoderSettings").is_some() || v.get("outputGroups").is_some() {
        v = pascal_keys(v);
    }
    if let Some(inner) = v.get("EncoderSettings") {
        v = inner.clone();
    }
    let Some(obj) = v.as_object() else {
        diags.push(Diagnostic::new(
            span,
            format!("`{}` must hold a JSON object", full.display()),
        ));
        return None;
    };
    let missing: Vec<&str> = [
        "AudioDescriptions",
        "OutputGroups",
        "TimecodeConfig",
        "VideoDescriptions",
    ]
    .into_iter()
    .filter(|k| !obj.contains_key(*k))
    .collect();
    if !missing.is_empty() {
        diags.push(
            Diagnostic::new(
                span,
                format!(
                    "`{}`: EncoderSettings lacks {}",
                    full.display(),
                    missing.join(", ")
                ),
            )
            .hint("use the shape `aws medialive describe-channel` prints (PascalCase members)"),
        );
        return None;
    }
    for problem in description_problems(&v) {
        diags.push(
            Diagnostic::new(span, format!("`{}`: {problem}", full.display()))
                .hint("MediaLive refuses a channel whose descriptions and outputs do not match"),
        );
    }
    let mut refs = BTreeSet::new();
    collect_refs(&v, &mut refs);
    for r in refs.difference(dest_ids) {
        diags.push(
            Diagnostic::new(
                span,
                format!(
                    "`{}` sends to destination `{r}`, which no output group declares",
                    full.display()
                ),
            )
            .hint(format!(
                "the output groups' destination ids are: {}",
                dest_ids.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
        );
    }
    Some(v)
}

/// Each caption description of an `encoder_settings` file names a caption selector the
/// input attachments declare (MediaLive refuses the channel otherwise).
fn check_caption_selectors(
    encoder: &Json,
    selectors: &BTreeMap<String, attachment::CaptionSelector>,
    file: &Node,
    diags: &mut Diags,
) {
    let descriptions = encoder["CaptionDescriptions"].as_array();
    for c in descriptions.into_iter().flatten() {
        let Some(sel) = c["CaptionSelectorName"].as_str() else {
            continue;
        };
        if !selectors.contains_key(sel) {
            diags.push(
                Diagnostic::new(
                    file.span,
                    format!(
                        "caption description `{}` of the encoder settings file names caption selector `{sel}`, which no input attachment declares",
                        c["Name"].as_str().unwrap_or_default()
                    ),
                )
                .hint("declare it in the attachment's caption_selectors"),
            );
        }
    }
}

/// Every object member name of `v` with its first letter upper-cased: MediaLive's REST JSON
/// (`outputGroups`, `h264Settings`) in the shape `aws medialive describe-channel` prints.
fn pascal_keys(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let k = match c.next() {
                        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                        None => k,
                    };
                    (k, pascal_keys(v))
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.into_iter().map(pascal_keys).collect()),
        other => other,
    }
}

/// What MediaLive refuses in EncoderSettings: an output naming a video, audio or caption
/// description that does not exist, and a description no output uses.
fn description_problems(es: &Json) -> Vec<String> {
    let kinds = [
        ("VideoDescriptions", "VideoDescriptionName", "video"),
        ("AudioDescriptions", "AudioDescriptionNames", "audio"),
        ("CaptionDescriptions", "CaptionDescriptionNames", "caption"),
    ];
    let outputs: Vec<&Json> = es["OutputGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["Outputs"].as_array().into_iter().flatten())
        .collect();
    let mut out = Vec::new();
    for (list, member, what) in kinds {
        let declared: BTreeSet<&str> = es[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["Name"].as_str())
            .collect();
        let mut used = BTreeSet::new();
        for o in &outputs {
            let names: Vec<&str> = match &o[member] {
                Json::String(s) => vec![s.as_str()],
                Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
                _ => Vec::new(),
            };
            for n in names {
                used.insert(n);
                if !declared.contains(n) {
                    out.push(format!(
                        "output `{}` names {what} description `{n}`, which {list} does not hold",
                        o["OutputName"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
        for n in declared.difference(&used) {
            out.push(format!("{what} description `{n}` is used by no output"));
        }
    }
    out
}

struct GroupOut {
    name: String,
    destination: Json,
    videos: Vec<Json>,
    audios: Vec<Json>,
    group: Json,
    deps: Vec<Address>,
}

fn collect_refs(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            for (k, v) in m {
                if k == "DestinationRefId" {
                    if let Some(s) = v.as_str() {
                        out.insert(s.to_string());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Json::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn rendition(n: &Node, base: &Video, rtmp: bool, diags: &mut Diags) -> Option<Rendition> {
    let mut t = Table::new(n, "rendition", diags)?;
    let width = t.req("width", diags, even_in(64, 4096));
    let height = t.req("height", diags, even_in(64, 2160));
    let bitrate = t.req("bitrate", diags, int_in(100_000, 80_000_000));
    let video = encoding::video(&mut t, base, rtmp, diags);
    let name = t.opt("name", diags, string);
    t.finish(RENDITION_KEYS, diags);
    let height = height?;
    Some(Rendition {
        name: name.unwrap_or_else(|| format!("{height}p")),
        width: width?,
        height,
        bitrate: bitrate?,
        video,
    })
}

fn even_in(min: i64, max: i64) -> impl Fn(&Node, &mut Diags) -> Option<i64> {
    move |n, diags| {
        let v = int_in(min, max)(n, diags)?;
        if v % 2 == 0 {
            Some(v)
        } else {
            diags.push(Diagnostic::new(
                n.span,
                format!("{v} must be even (H.264 frame sizes are)"),
            ));
            None
        }
    }
}

/// `{ env = "NAME" }` or `{ ssm = "/path" }`; a literal string is refused.
fn secret_ref(n: &Node, diags: &mut Diags) -> Option<Json> {
    if let Value::Str(_) = &n.value {
        diags.push(
            Diagnostic::new(n.span, "a stream key must not be written in the stack file")
                .hint("use stream_key = { env = \"NAME\" } or { ssm = \"/parameter/name\" }"),
        );
        return None;
    }
    let mut t = Table::new(n, "stream_key", diags)?;
    let env = t.opt("env", diags, string);
    let ssm = t.opt("ssm", diags, string);
    t.finish(STREAM_KEY_KEYS, diags);
    match (env, ssm) {
        (Some(e), None) => Some(json!({ "$secret": { "env": e } })),
        (None, Some(s)) => Some(json!({ "$secret": { "ssm": s } })),
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                "a stream key is one of { env = \"NAME\" } or { ssm = \"/path\" }",
            ));
            None
        }
    }
}

/// The destination id livestack gives an output group named `group` that has no
/// `destination_id`: its name lower-cased, other characters as `-`.
pub fn destination_id(group: &str) -> String {
    group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_renditions_take_every_video_choice() {
        for key in encoding::VIDEO_KEYS {
            assert!(GROUP_KEYS.contains(key), "output groups lack `{key}`");
            assert!(RENDITION_KEYS.contains(key), "renditions lack `{key}`");
        }
    }

    #[test]
    fn the_keys_encoder_settings_override_start_after_the_destinations() {
        // `split_at` counts the destination's keys: one added before `ladder` must move it.
        assert_eq!(ENCODER_GROUP_KEYS.first(), Some(&"ladder"));
        for key in [
            "destination",
            "stream_key",
            "password_parameters",
            "destination_id",
        ] {
            assert!(!ENCODER_GROUP_KEYS.contains(&key), "{key}");
        }
    }
}
