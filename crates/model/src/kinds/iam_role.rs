//! `iam_role`: an IAM role, named by its `RoleName`.

use serde_json::{json, Map, Value as Json};

use super::{Kind, KindInfo, TableKeys, Unique};
use crate::lower::{tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{one_of, string, strings, Node, Table, Value};
use crate::{presets, Diagnostic, Resource};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::IamRole,
    name: "iam_role",
    noun: "Role",
    put_call: None,
    identity: Some("RoleName"),
    forces_replacement: &["RoleName", "Path"],
    references: &[],
    unique: Some(Unique {
        member: "RoleName",
        what: "role name",
    }),
    lower: Some(lower),
    tables: &[TableKeys {
        path: "iam_role.<label>",
        keys: ROLE_KEYS,
    }],
    // ListRoles returns neither tags nor inline policies.
    read_in_bulk: false,
    // Listing every role of an account is slow: a role is looked up by its name.
    discovered_by_tags: false,
    run_state: false,
    detach_before_delete: false,
};

const ROLE_KEYS: &[&str] = &[
    "name",
    "description",
    "preset",
    "assume_role_policy",
    "inline_policies",
    "managed_policies",
    "tags",
    "depends_on",
];

/// `[iam_role.<label>]` into its resource (a [`super::Lower`]).
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    _derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let name = d.or_label(t.opt("name", diags, string));
    let description = t.opt("description", diags, string);
    let preset = t.opt("preset", diags, one_of(&["medialive-access"]));
    let trust = t.opt("assume_role_policy", diags, json_document);
    let inline = t.opt("inline_policies", diags, |n, diags| {
        let Value::Table(entries) = &n.value else {
            diags.push(Diagnostic::new(
                n.span,
                "inline_policies must be a table of policy documents (JSON strings)",
            ));
            return None;
        };
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(k.name.clone(), json_document(v, diags)?);
        }
        Some(m)
    });
    let managed = t.opt("managed_policies", diags, strings);
    let tags = t.opt("tags", diags, tag_map);
    let deps = ctx.depends_on(t, diags);
    let (trust, mut all_inline, mut all_managed) = match (preset.as_deref(), trust) {
        (Some(_), Some(_)) => {
            diags.push(
                Diagnostic::new(
                    t.span,
                    format!(
                        "{}: give either `preset` or `assume_role_policy`, not both",
                        d.address
                    ),
                )
                .at_table_header(),
            );
            return None;
        }
        (Some(_), None) => {
            let mut inline = Map::new();
            inline.insert(
                "livestack-medialive-access".into(),
                presets::medialive_access_policy(),
            );
            (
                presets::medialive_trust_policy(),
                inline,
                vec!["arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess".to_string()],
            )
        }
        (None, Some(trust)) => (trust, Map::new(), Vec::new()),
        (None, None) => {
            diags.push(
                Diagnostic::new(
                    t.span,
                    format!("{}: missing `preset` or `assume_role_policy`", d.address),
                )
                .hint("preset = \"medialive-access\" makes the role a MediaLive channel needs")
                .at_table_header(),
            );
            return None;
        }
    };
    all_inline.extend(inline.unwrap_or_default());
    all_managed.extend(managed.unwrap_or_default().into_iter().map(|(s, _)| s));
    all_managed.sort();
    all_managed.dedup();
    let mut spec = json!({
        "RoleName": name,
        "Path": "/",
        "AssumeRolePolicyDocument": trust,
        "InlinePolicies": all_inline,
        "ManagedPolicyArns": all_managed,
        "Tags": ctx.tags(&d.address, tags),
    });
    if let Some(desc) = description {
        spec["Description"] = json!(desc);
    }
    t.finish(ROLE_KEYS, diags);
    Some(ctx.resource(d, spec, deps, None))
}

/// A JSON document given as a string (IAM policies).
fn json_document(n: &Node, diags: &mut Diags) -> Option<Json> {
    let s = string(n, diags)?;
    match serde_json::from_str::<Json>(&s) {
        Ok(v) if v.is_object() => Some(v),
        Ok(_) => {
            diags.push(Diagnostic::new(
                n.span,
                "a policy document must be a JSON object",
            ));
            None
        }
        Err(e) => {
            diags.push(Diagnostic::new(
                n.span,
                format!("invalid JSON policy document: {e}"),
            ));
            None
        }
    }
}
