//! `medialive_input_security_group`: a MediaLive input security group (a generated id).

use serde_json::{json, Value as Json};

use super::{Kind, KindInfo, TableKeys};
use crate::lower::{cidr, tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{array, Table};
use crate::{Diagnostic, Resource};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveInputSecurityGroup,
    name: "medialive_input_security_group",
    noun: "InputSecurityGroup",
    put_call: None,
    identity: None,
    forces_replacement: &[],
    references: &[],
    unique: None,
    lower: Some(lower),
    tables: &[TableKeys {
        path: "medialive_input_security_group.<label>",
        keys: SG_KEYS,
    }],
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    detach_before_delete: false,
};

const SG_KEYS: &[&str] = &["whitelist", "tags", "depends_on"];

/// `[medialive_input_security_group.<label>]` into its resource (a [`super::Lower`]).
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    _derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let rules = t.req("whitelist", diags, |n, diags| {
        let items = array(n, diags)?;
        if items.is_empty() || items.len() > 10 {
            diags.push(Diagnostic::new(
                n.span,
                format!(
                    "a security group holds 1 to 10 CIDR blocks, found {}",
                    items.len()
                ),
            ));
            return None;
        }
        items
            .iter()
            .map(|i| cidr(i, diags))
            .collect::<Option<Vec<_>>>()
    });
    let tags = t.opt("tags", diags, tag_map);
    let deps = ctx.depends_on(t, diags);
    t.finish(SG_KEYS, diags);
    let rules: Vec<Json> = rules?.into_iter().map(|c| json!({ "Cidr": c })).collect();
    let spec = json!({ "WhitelistRules": rules, "Tags": ctx.tags(&d.address, tags) });
    Some(ctx.resource(d, spec, deps, None))
}
