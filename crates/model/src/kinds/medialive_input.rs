//! `medialive_input`: a MediaLive input (a generated id). Its class follows its number of
//! sources or destinations, which the planner checks besides `forces_replacement`.

use serde_json::json;

use super::{Kind, KindInfo, Reference, TableKeys, Unique};
use crate::lower::{out_ref, tag_map, Ctx, Decl, Derived, Diags};
use crate::node::{array, one_of, string, strings, Table};
use crate::{Diagnostic, Resource};

pub(super) const INFO: KindInfo = KindInfo {
    kind: Kind::MedialiveInput,
    name: "medialive_input",
    noun: "Input",
    put_call: None,
    identity: None,
    forces_replacement: &["Type"],
    references: &[Reference {
        path: "InputSecurityGroups[]",
        kind: Kind::MedialiveInputSecurityGroup,
    }],
    unique: Some(Unique {
        member: "Name",
        what: "input name",
    }),
    lower: Some(lower),
    tables: &[TableKeys {
        path: "medialive_input.<label>",
        keys: INPUT_KEYS,
    }],
    read_in_bulk: true,
    discovered_by_tags: true,
    run_state: false,
    // An input serves one channel and cannot be deleted while attached.
    detach_before_delete: true,
};

const INPUT_KEYS: &[&str] = &[
    "name",
    "type",
    "sources",
    "destinations",
    "security_groups",
    "tags",
    "depends_on",
];

/// `[medialive_input.<label>]` into its resource (a [`super::Lower`]).
pub(super) fn lower(
    ctx: &Ctx<'_, '_>,
    d: &Decl<'_>,
    t: &mut Table<'_>,
    _derived: &mut Derived,
    diags: &mut Diags,
) -> Option<Resource> {
    let name = d.or_label(t.opt("name", diags, string));
    let ty = t.req(
        "type",
        diags,
        one_of(&["url_pull", "rtmp_push", "rtmp_pull", "mp4_file"]),
    );
    let sources = t.opt("sources", diags, strings);
    let destinations = t.opt("destinations", diags, strings);
    let groups = t.opt("security_groups", diags, |n, diags| {
        let items = array(n, diags)?;
        items
            .iter()
            .map(|i| ctx.reference(i, Kind::MedialiveInputSecurityGroup, diags))
            .collect::<Option<Vec<_>>>()
    });
    let tags = t.opt("tags", diags, tag_map);
    let mut deps = ctx.depends_on(t, diags);
    t.finish(INPUT_KEYS, diags);
    let ty = ty?;
    let mut spec = json!({
        "Name": name,
        "Type": ty.to_uppercase(),
        "Tags": ctx.tags(&d.address, tags),
    });
    let header = |msg: String| Diagnostic::new(t.span, msg).at_table_header();
    if ty == "rtmp_push" {
        if sources.is_some() {
            diags.push(header(format!(
                "{}: an rtmp_push input takes `destinations`, not `sources`",
                d.address
            )));
        }
        match destinations {
            Some(ds) if (1..=2).contains(&ds.len()) => {
                let mut out = Vec::new();
                for (s, span) in ds {
                    let parts: Vec<&str> = s.split('/').collect();
                    if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                        diags.push(
                            Diagnostic::new(span, format!("`{s}` is not `application/instance`"))
                                .hint("for example \"imday/a\""),
                        );
                    }
                    out.push(json!({ "StreamName": s }));
                }
                spec["Destinations"] = json!(out);
            }
            Some(ds) => diags.push(header(format!(
                "{}: an input has 1 or 2 destinations, found {}",
                d.address,
                ds.len()
            ))),
            None => diags.push(
                header(format!(
                    "{}: an rtmp_push input needs `destinations`",
                    d.address
                ))
                .hint("destinations = [\"app/a\", \"app/b\"]"),
            ),
        }
        match &groups {
            Some(g) if !g.is_empty() => {}
            _ => diags.push(
                header(format!(
                    "{}: an rtmp_push input needs an input security group",
                    d.address
                ))
                .hint("security_groups = [\"medialive_input_security_group.<label>\"]"),
            ),
        }
    } else {
        if destinations.is_some() {
            diags.push(header(format!(
                "{}: a {ty} input takes `sources`, not `destinations`",
                d.address
            )));
        }
        match sources {
            Some(ss) if (1..=2).contains(&ss.len()) => {
                let mut out = Vec::new();
                for (s, span) in ss {
                    let schemes: &[&str] = match ty.as_str() {
                        "rtmp_pull" => &["rtmp://", "rtmps://"],
                        _ => &["http://", "https://", "s3://", "s3ssl://"],
                    };
                    if !schemes.iter().any(|p| s.starts_with(p)) {
                        diags.push(Diagnostic::new(
                            span,
                            format!("`{s}` is not a {ty} source URL ({})", schemes.join(", ")),
                        ));
                    }
                    out.push(json!({ "Url": s }));
                }
                spec["Sources"] = json!(out);
            }
            Some(ss) => diags.push(header(format!(
                "{}: an input has 1 or 2 sources, found {}",
                d.address,
                ss.len()
            ))),
            None => diags.push(header(format!(
                "{}: a {ty} input needs `sources`",
                d.address
            ))),
        }
    }
    if let Some(g) = groups {
        spec["InputSecurityGroups"] = json!(g.iter().map(|a| out_ref(a, "Id")).collect::<Vec<_>>());
        deps.extend(g);
    }
    Some(ctx.resource(d, spec, deps, None))
}
