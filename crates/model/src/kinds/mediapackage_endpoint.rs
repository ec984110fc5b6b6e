//! `mediapackage_endpoint`: a MediaPackage v1 origin endpoint, named by its `Id`, on the
//! channel its `ChannelId` names.

use serde_json::{json, Value as Json};

use super::{Kind, KindInfo, Reference, TableKeys, Unique};
use crate::lower::{cidr, mp_id, tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{array, int_in, one_of, spanned_string, string, Table};
use crate::{Diagnostic, Resource};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MediapackageEndpoint,
    name: "mediapackage_endpoint",
    noun: "OriginEndpoint",
    put_call: None,
    identity: Some("Id"),
    forces_replacement: &["Id", "ChannelId"],
    references: &[Reference {
        path: "ChannelId",
        kind: Kind::MediapackageChannel,
    }],
    unique: Some(Unique {
        member: "Id",
        what: "MediaPackage endpoint id",
    }),
    lower: Some(lower),
    tables: &[TableKeys {
        path: "mediapackage_endpoint.<label>",
        keys: MP_ENDPOINT_KEYS,
    }],
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

const MP_ENDPOINT_KEYS: &[&str] = &[
    "id",
    "channel",
    "description",
    "packaging",
    "segment_seconds",
    "playlist_window_seconds",
    "manifest_name",
    "startover_window_seconds",
    "time_delay_seconds",
    "whitelist",
    "origination",
    "ad_markers",
    "tags",
    "depends_on",
];

/// `[mediapackage_endpoint.<label>]` into its resource (a [`super::Lower`]).
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    _derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let id = d.or_label(t.opt("id", diags, mp_id));
    let channel = t.req("channel", diags, |n, diags| {
        ctx.reference(n, Kind::MediapackageChannel, diags)
    });
    let description = t.opt("description", diags, string);
    let packaging = t.req("packaging", diags, one_of(&["hls", "dash", "cmaf", "mss"]));
    let segment = t.opt("segment_seconds", diags, int_in(1, 30)).unwrap_or(6);
    let window = t
        .opt("playlist_window_seconds", diags, int_in(5, 5400))
        .unwrap_or(60);
    let manifest = t.opt("manifest_name", diags, |n, diags| {
        let (s, span) = spanned_string(n, diags)?;
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            Some(s)
        } else {
            diags.push(Diagnostic::new(
                span,
                format!("manifest name `{s}` may hold only letters, digits, `-` and `_`"),
            ));
            None
        }
    });
    let startover = t.opt("startover_window_seconds", diags, int_in(0, 1_209_600));
    let delay = t.opt("time_delay_seconds", diags, int_in(0, 86_400));
    let whitelist = t.opt("whitelist", diags, |n, diags| {
        let items = array(n, diags)?;
        items
            .iter()
            .map(|i| cidr(i, diags))
            .collect::<Option<Vec<_>>>()
    });
    let origination = t.opt("origination", diags, one_of(&["allow", "deny"]));
    // What the HLS manifests say of the SCTE-35 markers a channel passes through.
    let ad_markers = t.get("ad_markers").map(|n| {
        (
            n,
            one_of(&["none", "passthrough", "scte35_enhanced", "daterange"])(n, diags),
        )
    });
    let tags = t.opt("tags", diags, tag_map);
    let mut deps = ctx.depends_on(t, diags);
    t.finish(MP_ENDPOINT_KEYS, diags);
    let channel = channel?;
    let packaging = packaging?;
    let ad_markers = match ad_markers {
        Some((n, _)) if !["hls", "cmaf"].contains(&packaging.as_str()) => {
            diags.push(Diagnostic::new(
                n.span,
                format!("`ad_markers` belongs to hls and cmaf endpoints; a {packaging} endpoint has no HLS manifest"),
            ));
            None
        }
        Some((_, m)) => m.map(|m| m.to_uppercase()),
        None => None,
    };
    let mut package = match packaging.as_str() {
        "hls" => json!({ "HlsPackage": {
            "SegmentDurationSeconds": segment, "PlaylistWindowSeconds": window } }),
        "dash" => json!({ "DashPackage": {
            "SegmentDurationSeconds": segment, "ManifestWindowSeconds": window } }),
        "cmaf" => json!({ "CmafPackage": {
            "SegmentDurationSeconds": segment,
            "HlsManifests": [{ "Id": format!("{id}-hls"), "PlaylistWindowSeconds": window }] } }),
        _ => json!({ "MssPackage": {
            "SegmentDurationSeconds": segment, "ManifestWindowSeconds": window } }),
    };
    if let Some(m) = ad_markers {
        match packaging.as_str() {
            "hls" => package["HlsPackage"]["AdMarkers"] = json!(m),
            _ => package["CmafPackage"]["HlsManifests"][0]["AdMarkers"] = json!(m),
        }
    }
    let mut spec = json!({
        "Id": id,
        "ChannelId": ctx.mp_ids.get(&channel).cloned().unwrap_or_default(),
        "ManifestName": manifest.unwrap_or_else(|| "index".into()),
        "Origination": origination.unwrap_or_else(|| "allow".into()).to_uppercase(),
        "Tags": ctx.tags(&d.address, tags),
    });
    let obj = spec.as_object_mut().expect("object");
    if let Json::Object(p) = package {
        obj.extend(p);
    }
    if let Some(desc) = description {
        obj.insert("Description".into(), json!(desc));
    }
    if let Some(s) = startover {
        obj.insert("StartoverWindowSeconds".into(), json!(s));
    }
    if let Some(s) = delay {
        obj.insert("TimeDelaySeconds".into(), json!(s));
    }
    if let Some(w) = whitelist {
        obj.insert("Whitelist".into(), json!(w));
    }
    deps.push(channel);
    Some(ctx.resource(d, spec, deps, None))
}
