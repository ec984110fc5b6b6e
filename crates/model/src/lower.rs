//! Lowering: the raw tree into resources with AWS-shaped specs, every problem collected.
//! Each kind lowers its own `[kind.label]` tables (its `KindInfo::lower`, in its module
//! under `kinds/`); this module reads the file, gives them what they share ([`Ctx`]) and
//! checks what spans resources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value as Json};

use crate::node::{self, array, spanned_string, string, Node, Table, Value};
use crate::{
    valid_label, Address, Diagnostic, Kind, Location, Resource, Span, TableKeys, ValidatedStack,
    ADDRESS_TAG, STACK_TAG,
};

pub(crate) type Diags = Vec<Diagnostic>;

/// The resources derived while lowering (a channel's SSM parameters), by address.
pub(crate) type Derived = BTreeMap<Address, Resource>;

/// A declared resource before lowering.
pub(crate) struct Decl<'a> {
    pub(crate) address: Address,
    key_span: Span,
    node: &'a Node,
}

impl Decl<'_> {
    /// `given`, else the resource's label (the name or id a table leaves out).
    pub(crate) fn or_label(&self, given: Option<String>) -> String {
        given.unwrap_or_else(|| self.address.label.clone())
    }
}

/// What other resources need to know about an input when checking a channel.
pub(crate) struct InputFacts {
    /// 2 sources/destinations = STANDARD, 1 = SINGLE_PIPELINE.
    pub(crate) standard: bool,
    /// Its `type` as written ("rtmp_push"), if it is a string.
    pub(crate) ty: Option<String>,
}

/// What every kind's lowering may read: the file, the stack, what is declared, and the facts
/// read before lowering anything.
pub(crate) struct Ctx<'a, 'l> {
    pub(crate) path: &'a Path,
    pub(crate) stack: String,
    stack_tags: BTreeMap<String, String>,
    decls: BTreeMap<Address, Span>,
    pub(crate) inputs: BTreeMap<Address, InputFacts>,
    pub(crate) mp_ids: BTreeMap<Address, String>,
    /// The stack's `[ladder.<name>]` tables, by name.
    pub(crate) ladders: BTreeMap<String, &'a Node>,
    pub(crate) locate: &'l dyn Fn(Span) -> Location,
}

const STACK_KEYS: &[&str] = &["name", "region", "state", "state_kms_key", "tags"];

/// Every table a stack file may hold and the keys each accepts, in the order the README's
/// stack file reference gives them: `[stack]`, each kind's tables (in create order, see
/// [`KindInfo::tables`](crate::KindInfo::tables)), `[[moved]]`. Built from the lists the
/// lowering checks each table against, so a key cannot be accepted without being listed here;
/// the top level holds `stack`, `moved` and the kinds' names, the first segment of these paths.
pub fn reference() -> Vec<TableKeys> {
    let stack = TableKeys {
        path: "stack",
        keys: STACK_KEYS,
    };
    let moved = TableKeys {
        path: "moved[]",
        keys: MOVED_KEYS,
    };
    let kinds = Kind::ALL
        .iter()
        .flat_map(|k| k.info().tables.iter().copied());
    std::iter::once(stack)
        .chain(
            crate::kinds::medialive_channel::LADDER_TABLES
                .iter()
                .copied(),
        )
        .chain(kinds)
        .chain(std::iter::once(moved))
        .collect()
}

pub(crate) fn lower<'a>(
    path: &'a Path,
    root: &'a Node,
    locate: &dyn Fn(Span) -> Location,
) -> (Option<ValidatedStack>, Diags) {
    let mut diags = Diags::new();
    let Some(mut top) = Table::new(root, "the stack file", &mut diags) else {
        return (None, diags);
    };

    // [stack]
    let mut name = None;
    let mut region = None;
    let mut state = None;
    let mut state_kms_key = None;
    let mut stack_tags = BTreeMap::new();
    match top.get("stack") {
        None => diags.push(
            Diagnostic::new(Span { start: 0, end: 0 }, "missing the `[stack]` table")
                .hint("start the file with [stack] and name = \"...\""),
        ),
        Some(n) => {
            if let Some(mut t) = Table::new(n, "[stack]", &mut diags) {
                name = t.req("name", &mut diags, |n, d| {
                    let (s, span) = spanned_string(n, d)?;
                    if valid_label(&s) && s.len() > 64 {
                        d.push(
                            Diagnostic::new(
                                span,
                                format!("stack name `{s}` is longer than 64 characters"),
                            )
                            .hint("it names the state file, its lock and every resource's tags"),
                        );
                        None
                    } else if valid_label(&s) {
                        Some(s)
                    } else {
                        d.push(Diagnostic::new(
                            span,
                            format!("stack name `{s}` may hold only letters, digits, `-` and `_`"),
                        ));
                        None
                    }
                });
                region = t.opt("region", &mut diags, |n, d| {
                    let (s, span) = spanned_string(n, d)?;
                    match crate::region_problem(&s) {
                        None => Some(s),
                        Some(why) => {
                            d.push(Diagnostic::new(span, format!("region `{s}`: {why}")).hint(
                                "an AWS region such as us-east-1, eu-west-1, ap-southeast-2",
                            ));
                            None
                        }
                    }
                });
                state = t.opt("state", &mut diags, |n, d| {
                    let (s, span) = spanned_string(n, d)?;
                    match crate::state_location_problem(&s) {
                        None => Some(s),
                        Some(why) => {
                            d.push(Diagnostic::new(span, format!("state `{s}`: {why}")).hint(
                                "a path such as state/live.json, or s3://bucket/path/live.json",
                            ));
                            None
                        }
                    }
                });
                state_kms_key = t.opt("state_kms_key", &mut diags, |n, d| {
                    let (s, span) = spanned_string(n, d)?;
                    if s.is_empty() {
                        d.push(Diagnostic::new(span, "state_kms_key is empty").hint(
                            "a KMS key id, ARN or alias/NAME; leave the key out for S3's own encryption",
                        ));
                        return None;
                    }
                    Some(s)
                });
                if let Some(tags) = t.opt("tags", &mut diags, tag_map) {
                    stack_tags = tags;
                }
                t.finish(STACK_KEYS, &mut diags);
            }
        }
    }

    // Every declaration, checked for kind and label.
    let kinds: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| k.user_written())
        .map(|k| k.as_str())
        .chain(["stack", "moved", "ladder"])
        .collect();
    let mut decls = Vec::new();
    for kind in Kind::ALL.iter().filter(|k| k.user_written()) {
        let Some(n) = top.get(kind.as_str()) else {
            continue;
        };
        let Value::Table(entries) = &n.value else {
            diags.push(Diagnostic::new(
                n.span,
                format!("`{kind}` must hold tables such as [{kind}.name]"),
            ));
            continue;
        };
        for (key, node) in entries {
            if !valid_label(&key.name) {
                diags.push(Diagnostic::new(
                    key.span,
                    format!(
                        "`{kind}.{}`: a label may hold only letters, digits, `-` and `_`",
                        key.name
                    ),
                ));
                continue;
            }
            decls.push(Decl {
                address: Address::new(*kind, key.name.clone()),
                key_span: key.span,
                node,
            });
        }
    }
    let moved_node = top.get("moved");
    // [ladder.<name>]: custom ABR ladders, used by name as the built-in ones are.
    let mut ladders = BTreeMap::new();
    if let Some(n) = top.get("ladder") {
        match &n.value {
            Value::Table(entries) => {
                for (key, node) in entries {
                    crate::kinds::medialive_channel::check_ladder(
                        &key.name, key.span, node, &mut diags,
                    );
                    ladders.insert(key.name.clone(), node);
                }
            }
            _ => diags.push(Diagnostic::new(
                n.span,
                "`ladder` must hold tables such as [ladder.my-ladder]",
            )),
        }
    }
    top.finish(&kinds, &mut diags);

    let mut ctx = Ctx {
        path,
        stack: name.clone().unwrap_or_default(),
        stack_tags,
        decls: decls
            .iter()
            .map(|d| (d.address.clone(), d.key_span))
            .collect(),
        inputs: BTreeMap::new(),
        mp_ids: BTreeMap::new(),
        ladders,
        locate,
    };
    // Facts other resources depend on, read before lowering anything.
    for d in &decls {
        match d.address.kind {
            Kind::MedialiveInput => {
                let count = input_pipeline_count(d.node);
                ctx.inputs.insert(
                    d.address.clone(),
                    InputFacts {
                        standard: count >= 2,
                        ty: string_member(d.node, "type"),
                    },
                );
            }
            Kind::MediapackageChannel => {
                if let Value::Table(_) = &d.node.value {
                    let id = string_member(d.node, "id").unwrap_or_else(|| d.address.label.clone());
                    ctx.mp_ids.insert(d.address.clone(), id);
                }
            }
            _ => {}
        }
    }

    let mut resources = Vec::new();
    let mut derived = Derived::new();
    for d in &decls {
        let what = d.address.to_string();
        let Some(mut t) = Table::new(d.node, what.clone(), &mut diags) else {
            continue;
        };
        let Some(lower) = d.address.kind.info().lower else {
            unreachable!("only the kinds users write are declared, and those lower");
        };
        if let Some(r) = lower(&ctx, d, &mut t, &mut derived, &mut diags) {
            resources.push(r);
        }
    }
    let resources = place_derived(resources, derived);

    check_duplicates(&decls, &resources, &mut diags);
    check_cycles(&ctx, &resources, &mut diags);
    check_aws_limits(&ctx, &resources, &mut diags);
    check_one_channel_per_input(&ctx, &resources, &mut diags);
    check_segment_lengths(&ctx, &resources, &mut diags);
    let moved = match moved_node {
        Some(n) => moved_entries(n, &ctx, &mut diags),
        None => Vec::new(),
    };

    if !diags.is_empty() {
        return (None, diags);
    }
    let mut tags = ctx.stack_tags.clone();
    tags.insert(STACK_TAG.into(), ctx.stack.clone());
    let stack = ValidatedStack {
        name: name.unwrap_or_default(),
        region,
        state,
        state_kms_key,
        path: path.to_path_buf(),
        tags,
        resources,
        moved,
    };
    (Some(stack), diags)
}

/// The resources with each derived one right after what it derives from (its first
/// dependency), the last derived first; those whose origin is not among them at the end.
fn place_derived(resources: Vec<Resource>, derived: Derived) -> Vec<Resource> {
    let declared: BTreeSet<&Address> = resources.iter().map(|r| &r.address).collect();
    let mut after: BTreeMap<Address, Vec<Resource>> = BTreeMap::new();
    let mut orphans = Vec::new();
    for r in derived.into_values() {
        match r.depends_on.first().filter(|a| declared.contains(a)) {
            Some(from) => after.entry(from.clone()).or_default().push(r),
            None => orphans.push(r),
        }
    }
    let mut out = Vec::with_capacity(resources.len() + after.len() + orphans.len());
    for r in resources {
        let next = after.remove(&r.address);
        out.push(r);
        out.extend(next.into_iter().flatten().rev());
    }
    out.extend(orphans);
    out
}

/// The string member `key` of table `n`, read before lowering.
fn string_member(n: &Node, key: &str) -> Option<String> {
    let Value::Table(entries) = &n.value else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.name == key)
        .and_then(|(_, v)| match &v.value {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
}

fn input_pipeline_count(n: &Node) -> usize {
    let Value::Table(entries) = &n.value else {
        return 0;
    };
    entries
        .iter()
        .filter(|(k, _)| k.name == "sources" || k.name == "destinations")
        .map(|(_, v)| match &v.value {
            Value::Array(a) => a.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

pub(crate) fn tag_map(n: &Node, diags: &mut Diags) -> Option<BTreeMap<String, String>> {
    let Value::Table(entries) = &n.value else {
        diags.push(Diagnostic::new(
            n.span,
            format!("tags must be a table of strings, found {}", n.type_name()),
        ));
        return None;
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        if k.name.starts_with("livestack:") {
            diags.push(Diagnostic::new(
                k.span,
                format!("tag `{}` is reserved for livestack", k.name),
            ));
        }
        if let Some(s) = string(v, diags) {
            out.insert(k.name.clone(), s);
        }
    }
    Some(out)
}

impl Ctx<'_, '_> {
    /// Where a resource is declared (the start of the file for one that is not).
    pub(crate) fn decl_span(&self, a: &Address) -> Span {
        self.decls
            .get(a)
            .copied()
            .unwrap_or(Span { start: 0, end: 0 })
    }

    fn location(&self, span: Span) -> Location {
        (self.locate)(span)
    }

    pub(crate) fn tags(&self, address: &Address, own: Option<BTreeMap<String, String>>) -> Json {
        let mut tags = self.stack_tags.clone();
        tags.extend(own.unwrap_or_default());
        tags.insert(STACK_TAG.into(), self.stack.clone());
        tags.insert(ADDRESS_TAG.into(), address.to_string());
        json!(tags)
    }

    /// A `kind.label` reference that must name a declared resource of `expected` kind.
    pub(crate) fn reference(&self, n: &Node, expected: Kind, diags: &mut Diags) -> Option<Address> {
        let (s, span) = spanned_string(n, diags)?;
        let Some((kind, label)) = s.split_once('.') else {
            diags.push(
                Diagnostic::new(span, format!("`{s}` is not a reference"))
                    .hint(format!("write it as \"{expected}.<label>\"")),
            );
            return None;
        };
        let Some(kind) = Kind::parse(kind) else {
            diags.push(
                Diagnostic::new(span, format!("`{s}`: unknown resource kind `{kind}`"))
                    .hint(format!("expected a {expected}")),
            );
            return None;
        };
        let address = Address::new(kind, label);
        if kind != expected {
            diags.push(Diagnostic::new(
                span,
                format!(
                    "`{s}` is a {kind}, but {} {expected} is expected here",
                    if expected.as_str().starts_with(|c: char| "aeiou".contains(c)) {
                        "an"
                    } else {
                        "a"
                    }
                ),
            ));
            return None;
        }
        if !self.decls.contains_key(&address) {
            let labels: Vec<&str> = self
                .decls
                .keys()
                .filter(|a| a.kind == kind)
                .map(|a| a.label.as_str())
                .collect();
            let mut d = Diagnostic::new(span, format!("`{s}` is not declared in this file"));
            if let Some(c) = node::closest(label, &labels) {
                d = d.hint(format!("did you mean `{kind}.{c}`?"));
            }
            diags.push(d);
            return None;
        }
        Some(address)
    }

    pub(crate) fn depends_on(&self, t: &mut Table<'_>, diags: &mut Diags) -> Vec<Address> {
        let Some(n) = t.get("depends_on") else {
            return Vec::new();
        };
        let Some(items) = array(n, diags) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|it| {
                let (s, span) = spanned_string(it, diags)?;
                match Address::parse(&s) {
                    Some(a) if self.decls.contains_key(&a) => Some(a),
                    _ => {
                        diags.push(Diagnostic::new(
                            span,
                            format!("depends_on: `{s}` is not a resource declared in this file"),
                        ));
                        None
                    }
                }
            })
            .collect()
    }

    pub(crate) fn resource(
        &self,
        d: &Decl<'_>,
        spec: Json,
        mut depends_on: Vec<Address>,
        running: Option<bool>,
    ) -> Resource {
        depends_on.sort();
        depends_on.dedup();
        Resource {
            address: d.address.clone(),
            spec,
            depends_on,
            running,
            location: self.location(d.key_span),
        }
    }
}

/// An IPv4 CIDR block (security groups' and endpoints' whitelists).
pub(crate) fn cidr(n: &Node, diags: &mut Diags) -> Option<String> {
    let (s, span) = spanned_string(n, diags)?;
    let ok = s.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
    });
    if ok {
        Some(s)
    } else {
        diags.push(
            Diagnostic::new(span, format!("`{s}` is not an IPv4 CIDR block"))
                .hint("for example \"0.0.0.0/0\" or \"203.0.113.0/24\""),
        );
        None
    }
}

/// A placeholder for `attr` of what `address` is once created.
pub(crate) fn out_ref(address: &Address, attr: &str) -> Json {
    json!({ "$ref": address.to_string(), "attr": attr })
}

/// A MediaPackage id: letters, digits, `-` and `_`, at most 256 characters.
pub(crate) fn mp_id(n: &Node, diags: &mut Diags) -> Option<String> {
    let (s, span) = spanned_string(n, diags)?;
    if valid_label(&s) && s.len() <= 256 {
        Some(s)
    } else {
        diags.push(Diagnostic::new(
            span,
            format!("id `{s}` may hold only letters, digits, `-` and `_`"),
        ));
        None
    }
}

fn check_duplicates(decls: &[Decl<'_>], resources: &[Resource], diags: &mut Diags) {
    let unique = Kind::ALL
        .into_iter()
        .filter_map(|k| Some((k, k.info().unique.as_ref()?)));
    for (kind, super::Unique { member, what }) in unique {
        let mut seen: BTreeMap<String, &Address> = BTreeMap::new();
        for r in resources.iter().filter(|r| r.address.kind == kind) {
            let Some(v) = r.spec[*member].as_str() else {
                continue;
            };
            if let Some(first) = seen.get(v) {
                let span = decls
                    .iter()
                    .find(|d| d.address == r.address)
                    .map(|d| d.key_span)
                    .unwrap_or(Span { start: 0, end: 0 });
                diags.push(
                    Diagnostic::new(
                        span,
                        format!(
                            "{} uses the {what} `{v}` already used by {first}",
                            r.address
                        ),
                    )
                    .hint(format!("each {what} must be unique")),
                );
            } else {
                seen.insert(v.to_string(), &r.address);
            }
        }
    }
}

const MOVED_KEYS: &[&str] = &["from", "to"];

/// `[[moved]]`: each `from` an address no longer declared, each `to` one declared, of the same
/// kind; a `from` or a `to` named once.
fn moved_entries(n: &Node, ctx: &Ctx<'_, '_>, diags: &mut Diags) -> Vec<crate::Moved> {
    let Some(items) = array(n, diags) else {
        return Vec::new();
    };
    let address = |n: &Node, d: &mut Diags| -> Option<(Address, Span)> {
        let (s, span) = spanned_string(n, d)?;
        match Address::parse(&s) {
            Some(a) if a.kind.user_written() => Some((a, span)),
            _ => {
                d.push(
                    Diagnostic::new(span, format!("`{s}` is not a resource address"))
                        .hint("write kind.label, e.g. \"medialive_channel.main\""),
                );
                None
            }
        }
    };
    let mut out: Vec<crate::Moved> = Vec::new();
    let mut spans = Vec::new();
    for item in items {
        let Some(mut t) = Table::new(item, "[[moved]]", diags) else {
            continue;
        };
        let from = t.req("from", diags, address);
        let to = t.req("to", diags, address);
        t.finish(MOVED_KEYS, diags);
        let (Some((from, from_span)), Some((to, to_span))) = (from, to) else {
            continue;
        };
        let mut ok = true;
        if from.kind != to.kind {
            ok = false;
            diags.push(
                Diagnostic::new(
                    to_span,
                    format!("[[moved]]: {from} cannot become a {}", to.kind),
                )
                .hint("a move renames a resource's label; its kind stays"),
            );
        }
        if ctx.decls.contains_key(&from) {
            ok = false;
            diags.push(
                Diagnostic::new(
                    from_span,
                    format!("[[moved]]: {from} is still declared in the stack"),
                )
                .hint("`from` is the old address, which the stack no longer declares"),
            );
        }
        if out.iter().any(|m| m.from == from) {
            ok = false;
            diags.push(Diagnostic::new(
                from_span,
                format!("[[moved]]: {from} is moved twice"),
            ));
        }
        if out.iter().any(|m| m.to == to) {
            ok = false;
            diags.push(
                Diagnostic::new(
                    to_span,
                    format!("[[moved]]: two entries move a resource to {to}"),
                )
                .hint("one resource can be renamed to an address"),
            );
        }
        if ok {
            out.push(crate::Moved {
                from,
                to,
                location: (ctx.locate)(from_span),
            });
            spans.push(to_span);
        }
    }
    // A `to` is declared, or moved on by another entry (a chain a -> b, b -> c).
    for (m, span) in out.iter().zip(&spans) {
        if !ctx.decls.contains_key(&m.to) && !out.iter().any(|x| x.from == m.to) {
            diags.push(
                Diagnostic::new(
                    *span,
                    format!("[[moved]]: {} is not declared in the stack", m.to),
                )
                .hint("`to` is the new address of a resource the stack declares"),
            );
        }
    }
    out
}

/// AWS's limits, checked where the file is read: at most 50 tags a resource (keys of at most
/// 128 characters, values of at most 256, no `aws:` prefix), IAM role names of 1 to 64
/// characters from `[A-Za-z0-9+=,.@_-]`.
fn check_aws_limits(ctx: &Ctx<'_, '_>, resources: &[Resource], diags: &mut Diags) {
    for r in resources.iter().filter(|r| r.address.kind.user_written()) {
        let at = ctx.decl_span(&r.address);
        if let Some(tags) = r.spec["Tags"].as_object() {
            if tags.len() > 50 {
                diags.push(
                    Diagnostic::new(
                        at,
                        format!(
                            "{} carries {} tags (the stack's, its own and livestack's two); AWS allows 50",
                            r.address,
                            tags.len()
                        ),
                    )
                    .hint("remove tags from [stack] tags or from the resource"),
                );
            }
            for (k, v) in tags {
                let v = v.as_str().unwrap_or_default();
                let problem = if k.chars().count() > 128 {
                    Some(format!("tag key `{k}` is longer than AWS's 128 characters"))
                } else if v.chars().count() > 256 {
                    Some(format!(
                        "the value of tag `{k}` is longer than AWS's 256 characters"
                    ))
                } else if k.to_ascii_lowercase().starts_with("aws:") {
                    Some(format!("tag key `{k}`: the `aws:` prefix is AWS's own"))
                } else {
                    None
                };
                if let Some(p) = problem {
                    diags.push(Diagnostic::new(at, format!("{}: {p}", r.address)));
                }
            }
        }
        if r.address.kind == Kind::IamRole {
            let name = r.spec["RoleName"].as_str().unwrap_or_default();
            let ok_chars = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if name.is_empty() || name.chars().count() > 64 || !ok_chars {
                diags.push(
                    Diagnostic::new(
                        at,
                        format!(
                            "{}: role name `{name}` is not a valid IAM role name",
                            r.address
                        ),
                    )
                    .hint("1 to 64 characters: letters, digits and + = , . @ _ -"),
                );
            }
        }
    }
}

/// MediaPackage cuts its segments from the ones it ingests: an endpoint's segment length
/// must be a multiple of the HLS segment length of every channel sending to its MediaPackage
/// channel (else MediaPackage rounds it, and the endpoint is not what the file says).
fn check_segment_lengths(ctx: &Ctx<'_, '_>, resources: &[Resource], diags: &mut Diags) {
    // MediaPackage channel address -> (channel sending HLS to it, its segment length).
    let mut sent: BTreeMap<String, Vec<(&Address, i64)>> = BTreeMap::new();
    for ch in resources
        .iter()
        .filter(|r| r.address.kind == Kind::MedialiveChannel)
    {
        let groups = ch.spec["EncoderSettings"]["OutputGroups"].as_array();
        for g in groups.into_iter().flatten() {
            let hls = &g["OutputGroupSettings"]["HlsGroupSettings"];
            let (Some(dest), Some(len)) = (
                hls["Destination"]["DestinationRefId"].as_str(),
                hls["SegmentLength"].as_i64(),
            ) else {
                continue;
            };
            let d = ch.spec["Destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["Id"] == dest);
            let mp = d.and_then(|d| d["Settings"][0]["Url"]["$ref"].as_str());
            if let Some(mp) = mp {
                sent.entry(mp.to_string())
                    .or_default()
                    .push((&ch.address, len));
            }
        }
    }
    for ep in resources
        .iter()
        .filter(|r| r.address.kind == Kind::MediapackageEndpoint)
    {
        let Some(mp) = ep
            .depends_on
            .iter()
            .find(|a| a.kind == Kind::MediapackageChannel)
        else {
            continue;
        };
        let Some(seconds) = ["HlsPackage", "DashPackage", "CmafPackage", "MssPackage"]
            .iter()
            .find_map(|p| ep.spec[*p]["SegmentDurationSeconds"].as_i64())
        else {
            continue;
        };
        for (ch, len) in sent.get(&mp.to_string()).into_iter().flatten() {
            if *len > 0 && seconds % len != 0 {
                let at = ctx.decl_span(&ep.address);
                diags.push(
                    Diagnostic::new(
                        at,
                        format!(
                            "{}: segment_seconds = {seconds} is not a multiple of the {len} s HLS segments {ch} sends to {mp}",
                            ep.address
                        ),
                    )
                    .hint(format!("MediaPackage would round it; use {len}, {}, {}…", len * 2, len * 3)),
                );
            }
        }
    }
}

/// An input serves one channel: a second channel attaching it is refused.
fn check_one_channel_per_input(ctx: &Ctx<'_, '_>, resources: &[Resource], diags: &mut Diags) {
    let mut users: BTreeMap<String, &Address> = BTreeMap::new();
    for r in resources
        .iter()
        .filter(|r| r.address.kind == Kind::MedialiveChannel)
    {
        for att in r.spec["InputAttachments"].as_array().into_iter().flatten() {
            let Some(input) = att["InputId"]["$ref"].as_str() else {
                continue;
            };
            match users.get(input) {
                Some(first) if *first != &r.address => {
                    let at = ctx.decl_span(&r.address);
                    diags.push(
                        Diagnostic::new(
                            at,
                            format!(
                                "{} attaches {input}, which {first} attaches already",
                                r.address
                            ),
                        )
                        .hint("an input serves one channel: give each channel its own input"),
                    );
                }
                _ => {
                    users.insert(input.to_string(), &r.address);
                }
            }
        }
    }
}

/// Reports a dependency cycle, naming every resource in it.
fn check_cycles(ctx: &Ctx<'_, '_>, resources: &[Resource], diags: &mut Diags) {
    let deps: BTreeMap<&Address, &Vec<Address>> = resources
        .iter()
        .map(|r| (&r.address, &r.depends_on))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut mark: BTreeMap<&Address, u8> = BTreeMap::new();
    let mut reported = false;
    fn visit<'a>(
        a: &'a Address,
        deps: &BTreeMap<&'a Address, &'a Vec<Address>>,
        mark: &mut BTreeMap<&'a Address, u8>,
        stack: &mut Vec<&'a Address>,
    ) -> Option<Vec<Address>> {
        match mark.get(a) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|x| *x == a).unwrap_or(0);
                let mut cycle: Vec<Address> = stack[from..].iter().map(|x| (*x).clone()).collect();
                cycle.push(a.clone());
                return Some(cycle);
            }
            _ => {}
        }
        mark.insert(a, 1);
        stack.push(a);
        for d in deps.get(a).map(|v| v.iter()).into_iter().flatten() {
            if let Some(c) = visit(d, deps, mark, stack) {
                return Some(c);
            }
        }
        stack.pop();
        mark.insert(a, 2);
        None
    }
    for r in resources {
        if reported {
            break;
        }
        let mut stack = Vec::new();
        if let Some(cycle) = visit(&r.address, &deps, &mut mark, &mut stack) {
            reported = true;
            let names: Vec<String> = cycle.iter().map(|a| a.to_string()).collect();
            let at = ctx.decl_span(&cycle[0]);
            diags.push(
                Diagnostic::new(at, format!("dependency cycle: {}", names.join(" -> ")))
                    .hint("remove one of these references or depends_on entries"),
            );
        }
    }
}
