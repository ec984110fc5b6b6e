//! `mediapackage_channel`: a MediaPackage v1 channel, named by its `Id`.

use serde_json::json;

use super::{Kind, KindInfo, TableKeys, Unique};
use crate::lower::{mp_id, tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{string, Table};
use crate::Resource;

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MediapackageChannel,
    name: "mediapackage_channel",
    noun: "Channel",
    put_call: None,
    identity: Some("Id"),
    forces_replacement: &["Id"],
    references: &[],
    unique: Some(Unique {
        member: "Id",
        what: "MediaPackage channel id",
    }),
    lower: Some(lower),
    tables: &[TableKeys {
        path: "mediapackage_channel.<label>",
        keys: MP_CHANNEL_KEYS,
    }],
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

const MP_CHANNEL_KEYS: &[&str] = &["id", "description", "tags", "depends_on"];

/// `[mediapackage_channel.<label>]` into its resource (a [`super::Lower`]).
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    _derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let id = d.or_label(t.opt("id", diags, mp_id));
    let description = t.opt("description", diags, string);
    let tags = t.opt("tags", diags, tag_map);
    let deps = ctx.depends_on(t, diags);
    t.finish(MP_CHANNEL_KEYS, diags);
    let mut spec = json!({ "Id": id, "Tags": ctx.tags(&d.address, tags) });
    if let Some(desc) = description {
        spec["Description"] = json!(desc);
    }
    Some(ctx.resource(d, spec, deps, None))
}
