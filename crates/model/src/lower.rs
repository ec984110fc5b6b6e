//! Lowering: the raw tree into resources with AWS-shaped specs, every problem collected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Map, Value as Json};

use crate::node::{
    self, array, boolean, int_in, one_of, spanned_string, string, strings, Node, Table, Value,
};
use crate::presets::{self, GroupKind, Rendition};
use crate::{
    valid_label, Address, Diagnostic, Kind, Location, Resource, Span, ValidatedStack, ADDRESS_TAG,
    STACK_TAG,
};

type Diags = Vec<Diagnostic>;

/// A declared resource before lowering.
struct Decl<'a> {
    address: Address,
    key_span: Span,
    node: &'a Node,
}

/// What other resources need to know about an input when checking a channel.
struct InputFacts {
    /// 2 sources/destinations = STANDARD, 1 = SINGLE_PIPELINE.
    standard: bool,
}

struct Ctx<'a, 'l> {
    path: &'a Path,
    stack: String,
    stack_tags: BTreeMap<String, String>,
    decls: BTreeMap<Address, Span>,
    inputs: BTreeMap<Address, InputFacts>,
    mp_ids: BTreeMap<Address, String>,
    locate: &'l dyn Fn(Span) -> Location,
}

const STACK_KEYS: &[&str] = &["name", "region", "tags"];

pub(crate) fn lower(
    path: &Path,
    root: &Node,
    locate: &dyn Fn(Span) -> Location,
) -> (Option<ValidatedStack>, Diags) {
    let mut diags = Diags::new();
    let Some(mut top) = Table::new(root, "the stack file", &mut diags) else {
        return (None, diags);
    };

    // [stack]
    let mut name = None;
    let mut region = None;
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
                region = t.opt("region", &mut diags, string);
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
        .chain(["stack", "moved"])
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
                    },
                );
            }
            Kind::MediapackageChannel => {
                if let Value::Table(entries) = &d.node.value {
                    let id = entries
                        .iter()
                        .find(|(k, _)| k.name == "id")
                        .and_then(|(_, v)| match &v.value {
                            Value::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| d.address.label.clone());
                    ctx.mp_ids.insert(d.address.clone(), id);
                }
            }
            _ => {}
        }
    }

    let mut resources = Vec::new();
    let mut derived: BTreeMap<Address, Resource> = BTreeMap::new();
    for d in &decls {
        let what = d.address.to_string();
        let Some(mut t) = Table::new(d.node, what.clone(), &mut diags) else {
            continue;
        };
        let lowered = match d.address.kind {
            Kind::IamRole => ctx.iam_role(d, &mut t, &mut diags),
            Kind::MediapackageChannel => ctx.mp_channel(d, &mut t, &mut diags),
            Kind::MediapackageEndpoint => ctx.mp_endpoint(d, &mut t, &mut diags),
            Kind::MedialiveInputSecurityGroup => ctx.security_group(d, &mut t, &mut diags),
            Kind::MedialiveInput => ctx.input(d, &mut t, &mut diags),
            Kind::MedialiveChannel => ctx.channel(d, &mut t, &mut derived, &mut diags),
            Kind::SsmParameter => unreachable!("not user-written"),
        };
        if let Some(r) = lowered {
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
        path: path.to_path_buf(),
        tags,
        resources,
        moved,
    };
    (Some(stack), diags)
}

/// The resources with each derived one right after what it derives from (its first
/// dependency), the last derived first; those whose origin is not among them at the end.
fn place_derived(resources: Vec<Resource>, derived: BTreeMap<Address, Resource>) -> Vec<Resource> {
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

fn tag_map(n: &Node, diags: &mut Diags) -> Option<BTreeMap<String, String>> {
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
    fn decl_span(&self, a: &Address) -> Span {
        self.decls
            .get(a)
            .copied()
            .unwrap_or(Span { start: 0, end: 0 })
    }

    fn location(&self, span: Span) -> Location {
        (self.locate)(span)
    }

    fn tags(&self, address: &Address, own: Option<BTreeMap<String, String>>) -> Json {
        let mut tags = self.stack_tags.clone();
        tags.extend(own.unwrap_or_default());
        tags.insert(STACK_TAG.into(), self.stack.clone());
        tags.insert(ADDRESS_TAG.into(), address.to_string());
        json!(tags)
    }

    /// A `kind.label` reference that must name a declared resource of `expected` kind.
    fn reference(&self, n: &Node, expected: Kind, diags: &mut Diags) -> Option<Address> {
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

    fn depends_on(&self, t: &mut Table<'_>, diags: &mut Diags) -> Vec<Address> {
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

    fn resource(
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

    fn iam_role(&self, d: &Decl<'_>, t: &mut Table<'_>, diags: &mut Diags) -> Option<Resource> {
        const KEYS: &[&str] = &[
            "name",
            "description",
            "preset",
            "assume_role_policy",
            "inline_policies",
            "managed_policies",
            "tags",
            "depends_on",
        ];
        let name = t
            .opt("name", diags, string)
            .unwrap_or_else(|| d.address.label.clone());
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
        let deps = self.depends_on(t, diags);
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
            "Tags": self.tags(&d.address, tags),
        });
        if let Some(desc) = description {
            spec["Description"] = json!(desc);
        }
        t.finish(KEYS, diags);
        Some(self.resource(d, spec, deps, None))
    }
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

fn cidr(n: &Node, diags: &mut Diags) -> Option<String> {
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

/// The destination id of an output group: its name, lower-cased, other characters as `-`.
fn destination_id(group: &str) -> String {
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

fn out_ref(address: &Address, attr: &str) -> Json {
    json!({ "$ref": address.to_string(), "attr": attr })
}

const MP_CHANNEL_KEYS: &[&str] = &["id", "description", "tags", "depends_on"];
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
    "tags",
    "depends_on",
];
const SG_KEYS: &[&str] = &["whitelist", "tags", "depends_on"];
const INPUT_KEYS: &[&str] = &[
    "name",
    "type",
    "sources",
    "destinations",
    "security_groups",
    "tags",
    "depends_on",
];
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
    "tags",
    "depends_on",
];
const ATTACH_KEYS: &[&str] = &["input", "name", "source_end_behavior"];
const GROUP_KEYS: &[&str] = &[
    "name",
    "type",
    "destination",
    "url",
    "backup_url",
    "stream_key",
    "ladder",
    "renditions",
    "video",
];
const RENDITION_KEYS: &[&str] = &["name", "width", "height", "bitrate", "codec"];

impl Ctx<'_, '_> {
    fn mp_channel(&self, d: &Decl<'_>, t: &mut Table<'_>, diags: &mut Diags) -> Option<Resource> {
        let id = t
            .opt("id", diags, mp_id)
            .unwrap_or_else(|| d.address.label.clone());
        let description = t.opt("description", diags, string);
        let tags = t.opt("tags", diags, tag_map);
        let deps = self.depends_on(t, diags);
        t.finish(MP_CHANNEL_KEYS, diags);
        let mut spec = json!({ "Id": id, "Tags": self.tags(&d.address, tags) });
        if let Some(desc) = description {
            spec["Description"] = json!(desc);
        }
        Some(self.resource(d, spec, deps, None))
    }

    fn mp_endpoint(&self, d: &Decl<'_>, t: &mut Table<'_>, diags: &mut Diags) -> Option<Resource> {
        let id = t
            .opt("id", diags, mp_id)
            .unwrap_or_else(|| d.address.label.clone());
        let channel = t.req("channel", diags, |n, diags| {
            self.reference(n, Kind::MediapackageChannel, diags)
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
        let tags = t.opt("tags", diags, tag_map);
        let mut deps = self.depends_on(t, diags);
        t.finish(MP_ENDPOINT_KEYS, diags);
        let channel = channel?;
        let package = match packaging?.as_str() {
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
        let mut spec = json!({
            "Id": id,
            "ChannelId": self.mp_ids.get(&channel).cloned().unwrap_or_default(),
            "ManifestName": manifest.unwrap_or_else(|| "index".into()),
            "Origination": origination.unwrap_or_else(|| "allow".into()).to_uppercase(),
            "Tags": self.tags(&d.address, tags),
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
        Some(self.resource(d, spec, deps, None))
    }

    fn security_group(
        &self,
        d: &Decl<'_>,
        t: &mut Table<'_>,
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
        let deps = self.depends_on(t, diags);
        t.finish(SG_KEYS, diags);
        let rules: Vec<Json> = rules?.into_iter().map(|c| json!({ "Cidr": c })).collect();
        let spec = json!({ "WhitelistRules": rules, "Tags": self.tags(&d.address, tags) });
        Some(self.resource(d, spec, deps, None))
    }

    fn input(&self, d: &Decl<'_>, t: &mut Table<'_>, diags: &mut Diags) -> Option<Resource> {
        let name = t
            .opt("name", diags, string)
            .unwrap_or_else(|| d.address.label.clone());
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
                .map(|i| self.reference(i, Kind::MedialiveInputSecurityGroup, diags))
                .collect::<Option<Vec<_>>>()
        });
        let tags = t.opt("tags", diags, tag_map);
        let mut deps = self.depends_on(t, diags);
        t.finish(INPUT_KEYS, diags);
        let ty = ty?;
        let mut spec = json!({
            "Name": name,
            "Type": ty.to_uppercase(),
            "Tags": self.tags(&d.address, tags),
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
                                Diagnostic::new(
                                    span,
                                    format!("`{s}` is not `application/instance`"),
                                )
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
            spec["InputSecurityGroups"] =
                json!(g.iter().map(|a| out_ref(a, "Id")).collect::<Vec<_>>());
            deps.extend(g);
        }
        Some(self.resource(d, spec, deps, None))
    }

    fn channel(
        &self,
        d: &Decl<'_>,
        t: &mut Table<'_>,
        derived: &mut BTreeMap<Address, Resource>,
        diags: &mut Diags,
    ) -> Option<Resource> {
        let name = t
            .opt("name", diags, string)
            .unwrap_or_else(|| d.address.label.clone());
        let class = t
            .opt("class", diags, one_of(&["standard", "single_pipeline"]))
            .unwrap_or_else(|| "standard".into());
        let standard = class == "standard";
        let role = t.req("role", diags, |n, diags| {
            self.reference(n, Kind::IamRole, diags)
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
            s.finish(&["codec", "resolution", "maximum_bitrate_mbps"], diags);
            Some(json!({
                "Codec": codec.unwrap_or_else(|| "avc".into()).to_uppercase(),
                "Resolution": res.unwrap_or_else(|| "hd".into()).to_uppercase(),
                "MaximumBitrate": format!("MAX_{}_MBPS", max.unwrap_or(20)),
            }))
        });
        let mut deps = self.depends_on(t, diags);

        // Input attachments.
        let mut attachments = Vec::new();
        let inputs_node = t.req("inputs", diags, array);
        for n in inputs_node.into_iter().flatten() {
            let Some(mut a) = Table::new(n, format!("{}: input attachment", d.address), diags)
            else {
                continue;
            };
            let input = a.req("input", diags, |n, diags| {
                self.reference(n, Kind::MedialiveInput, diags)
                    .map(|x| (x, n.span))
            });
            let att_name = a.opt("name", diags, string);
            let seb = a.opt("source_end_behavior", diags, one_of(&["loop", "continue"]));
            a.finish(ATTACH_KEYS, diags);
            let Some((input, span)) = input else { continue };
            if standard && self.inputs.get(&input).is_some_and(|f| !f.standard) {
                diags.push(
                    Diagnostic::new(
                        span,
                        format!("a STANDARD channel needs STANDARD inputs, but `{input}` has one source or destination"),
                    )
                    .hint("give the input two sources/destinations, or set class = \"single_pipeline\""),
                );
            }
            let mut att = json!({
                "InputId": out_ref(&input, "Id"),
                "InputAttachmentName": att_name.unwrap_or_else(|| input.label.clone()),
            });
            if let Some(seb) = seb {
                att["InputSettings"] = json!({ "SourceEndBehavior": seb.to_uppercase() });
            }
            attachments.push(att);
            deps.push(input);
        }
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
        let groups_node = t.req("output_groups", diags, array);
        let escape = t.get("encoder_settings");
        for n in groups_node.into_iter().flatten() {
            let Some(mut g) = Table::new(n, format!("{}: output group", d.address), diags) else {
                continue;
            };
            if escape.is_some() {
                // The file's encoder settings would silently replace these.
                if let Value::Table(entries) = &n.value {
                    for (k, _) in entries.iter().filter(|(k, _)| {
                        ["ladder", "renditions", "video"].contains(&k.name.as_str())
                    }) {
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
            let Some(out) = self.output_group(d, &mut g, standard, derived, diags) else {
                g.finish(GROUP_KEYS, diags);
                continue;
            };
            g.finish(GROUP_KEYS, diags);
            if !group_names.insert(out.name.clone()) {
                diags.push(Diagnostic::new(
                    n.span,
                    format!("{}: two output groups are named `{}`", d.address, out.name),
                ));
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
        if let Some(file) = escape {
            if let Some(e) = self.encoder_file(file, &dest_ids, diags) {
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
                input_spec.unwrap_or_else(|| {
                    json!({ "Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS" })
                }),
            ),
            ("InputAttachments", Json::Array(attachments)),
            ("Destinations", Json::Array(destinations)),
            ("EncoderSettings", encoder),
            ("Tags", self.tags(&d.address, tags)),
        ]);
        deps.push(role);
        Some(self.resource(d, spec, deps, Some(running)))
    }

    fn output_group(
        &self,
        d: &Decl<'_>,
        g: &mut Table<'_>,
        standard: bool,
        derived: &mut BTreeMap<Address, Resource>,
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
        let renditions = self.renditions(g, Some(ty.as_str()), diags);
        let name = name?;
        let dest_id = destination_id(&name);
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
                    self.reference(n, Kind::MediapackageChannel, diags)
                })?;
                deps.push(mp.clone());
                if ty == "mediapackage" {
                    let id = self.mp_ids.get(&mp).cloned().unwrap_or_default();
                    (
                        GroupKind::MediaPackage,
                        json!({
                            "Id": dest_id,
                            "MediaPackageSettings": [{ "ChannelId": id }]
                        }),
                    )
                } else {
                    let mut settings = Vec::new();
                    for i in 0..pipelines {
                        let param = self.ingest_parameter(&mp, i, derived);
                        settings.push(json!({
                            "Url": out_ref(&mp, &format!("HlsIngest.IngestEndpoints.{i}.Url")),
                            "Username": out_ref(&mp, &format!("HlsIngest.IngestEndpoints.{i}.Username")),
                            "PasswordParam": param.1,
                        }));
                        deps.push(param.0);
                    }
                    // Both parameters exist whatever the class, so a class change does not
                    // create or delete them.
                    for i in pipelines..2 {
                        self.ingest_parameter(&mp, i, derived);
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
        let (videos, audios, group) =
            presets::output_group(&name, &kind, &dest_id, &renditions?, standard);
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
        &self,
        mp: &Address,
        i: usize,
        derived: &mut BTreeMap<Address, Resource>,
    ) -> (Address, String) {
        let address = Address::new(Kind::SsmParameter, format!("{}-ingest-{}", mp.label, i + 1));
        let name = format!("/livestack/{}/{}/ingest-{}", self.stack, mp.label, i + 1);
        let location = (self.locate)(self.decl_span(mp));
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
                "Tags": self.tags(&address, None),
            }),
            depends_on: vec![mp.clone()],
            running: None,
            location,
        });
        (address, name)
    }

    /// The video renditions of a group: `ladder`, `renditions` or `video`.
    fn renditions(
        &self,
        g: &mut Table<'_>,
        ty: Option<&str>,
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
            let names = presets::ladder_names();
            let (s, span) = spanned_string(n, diags)?;
            return match presets::ladder(&s) {
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
            let out: Vec<Option<Rendition>> = items.iter().map(|i| rendition(i, diags)).collect();
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
            return out;
        }
        if let Some(n) = video {
            return rendition(n, diags).map(|r| vec![r]);
        }
        match ty {
            Some("rtmp") => Some(vec![Rendition {
                name: "1080p".into(),
                width: 1920,
                height: 1080,
                bitrate: 4_000_000,
            }]),
            _ => presets::ladder("1080p"),
        }
    }

    /// `encoder_settings = { file = "x.json" }`: EncoderSettings in the AWS JSON shape.
    fn encoder_file(
        &self,
        n: &Node,
        dest_ids: &BTreeSet<String>,
        diags: &mut Diags,
    ) -> Option<Json> {
        let mut t = Table::new(n, "encoder_settings", diags)?;
        let file = t.req("file", diags, spanned_string);
        t.finish(&["file"], diags);
        let (file, span) = file?;
        let full = self.path.parent().unwrap_or(Path::new(".")).join(&file);
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

fn rendition(n: &Node, diags: &mut Diags) -> Option<Rendition> {
    let mut t = Table::new(n, "rendition", diags)?;
    let width = t.req("width", diags, even_in(64, 4096));
    let height = t.req("height", diags, even_in(64, 2160));
    let bitrate = t.req("bitrate", diags, int_in(100_000, 80_000_000));
    // Only H.264 is generated; anything else is reported.
    t.opt("codec", diags, one_of(&["h264"]));
    let name = t.opt("name", diags, string);
    t.finish(RENDITION_KEYS, diags);
    let height = height?;
    Some(Rendition {
        name: name.unwrap_or_else(|| format!("{height}p")),
        width: width?,
        height,
        bitrate: bitrate?,
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

/// A MediaPackage id: letters, digits, `-` and `_`, at most 256 characters.
fn mp_id(n: &Node, diags: &mut Diags) -> Option<String> {
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
    t.finish(&["env", "ssm"], diags);
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
