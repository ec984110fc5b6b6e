//! AWS IAM (API version 2010-05-08) over awsQuery: roles, their inline policies, attached
//! managed policies and tags.
//!
//! Requests are `POST /` with a form body (`Action=CreateRole&Version=2010-05-08&...`, lists
//! as `Tags.member.N.Key`); answers are XML
//! `<ActionResponse xmlns=".."><ActionResult>..</ActionResult><ResponseMetadata>..` and errors
//! `<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>..`
//! with the model's status (NoSuchEntity 404, EntityAlreadyExists/DeleteConflict/LimitExceeded
//! 409, MalformedPolicyDocument/InvalidInput/ValidationError 400).
//!
//! Served: CreateRole, GetRole, DeleteRole, UpdateRole, UpdateAssumeRolePolicy, PutRolePolicy,
//! GetRolePolicy, ListRolePolicies, DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy,
//! ListAttachedRolePolicies, TagRole, UntagRole, ListRoleTags.
//!
//! Rules enforced, as AWS does:
//! - Role names are unique regardless of case, and looked up regardless of case.
//! - DeleteRole is refused (409 DeleteConflict) while the role has inline policies or
//!   attached managed policies: delete and detach them first.
//! - Policy documents are JSON objects with a `Statement` (else MalformedPolicyDocument) and
//!   are answered URL-encoded, as AWS returns them (the SDK hands the encoded text to the
//!   caller; the AWS CLI decodes it).
//! - Quotas: 50 tags per role, 10 managed policies per role, 10,240 characters of inline
//!   policy per role (LimitExceeded).
//!
//! # Deviations from AWS
//! - Only AWS-managed policies (`arn:aws:iam::aws:policy/...`) can be attached: there is no
//!   CreatePolicy here, so any other policy ARN answers NoSuchEntity, and every AWS-managed
//!   name is taken to exist.
//! - Policy grammar is not checked beyond "JSON object with Statement"; PermissionsBoundary
//!   and RoleLastUsed are not modelled (RoleLastUsed is answered empty).
//! - List markers are opaque offsets; a list changed between pages may skip or repeat items.
//! - Unknown actions answer 400 InvalidAction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::{xml_escape as esc, Ctx, Req, Resp};

/// IAM's part of the cloud: roles by lower-cased name.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Iam {
    pub roles: BTreeMap<String, Role>,
}

/// An IAM role.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created_ms: u64,
    /// The trust policy as given (not encoded).
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: u32,
    /// In the order first given.
    pub tags: Vec<(String, String)>,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies, in attach order.
    pub attached_policies: Vec<String>,
}

/// Answers one IAM request (an awsQuery form with `Action=`).
pub fn handle(cloud: &mut crate::Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    let mut pairs = req.query.clone();
    pairs.extend(parse_form(&req.body));
    let p = Params(pairs);
    let action = p.get("Action").unwrap_or("").to_string();
    let request_id = request_id(ctx);
    let iam = &mut cloud.iam;
    let result = match action.as_str() {
        "CreateRole" => create_role(iam, ctx, &p).map(Some),
        "GetRole" => role(iam, &p).map(|r| Some(role_xml(r, true))),
        "DeleteRole" => delete_role(iam, &p).map(|()| None),
        "UpdateAssumeRolePolicy" => update_assume_role_policy(iam, &p).map(|()| None),
        "UpdateRole" => update_role(iam, &p).map(|()| Some(String::new())),
        "PutRolePolicy" => put_role_policy(iam, &p).map(|()| None),
        "GetRolePolicy" => get_role_policy(iam, &p).map(Some),
        "ListRolePolicies" => list_role_policies(iam, &p).map(Some),
        "DeleteRolePolicy" => delete_role_policy(iam, &p).map(|()| None),
        "AttachRolePolicy" => attach_role_policy(iam, &p).map(|()| None),
        "DetachRolePolicy" => detach_role_policy(iam, &p).map(|()| None),
        "ListAttachedRolePolicies" => list_attached_role_policies(iam, &p).map(Some),
        "TagRole" => tag_role(iam, &p).map(|()| None),
        "UntagRole" => untag_role(iam, &p).map(|()| None),
        "ListRoleTags" => list_role_tags(iam, &p).map(Some),
        _ => Err(Fail {
            status: 400,
            code: "InvalidAction",
            message: format!("Could not find operation {action} for version 2010-05-08"),
        }),
    };
    let operation = if action.is_empty() {
        "Unknown"
    } else {
        &action
    };
    let (status, body) = match result {
        Ok(inner) => {
            let mut x = format!("<{action}Response xmlns=\"{XMLNS}\">");
            if let Some(inner) = inner {
                x.push_str(&format!("<{action}Result>{inner}</{action}Result>"));
            }
            x.push_str(&format!(
                "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
            ));
            (200, x)
        }
        Err(f) => {
            let kind = if f.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            let x = format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                f.code,
                esc(&f.message)
            );
            (f.status, x)
        }
    };
    Resp {
        status,
        headers: vec![
            ("content-type".into(), "text/xml".into()),
            ("x-amzn-requestid".into(), request_id),
        ],
        body: body.into_bytes(),
        operation: operation.to_string(),
        resource: p.get("RoleName").map(str::to_string),
    }
}

/// `ms` since the epoch as ISO 8601 UTC with seconds, e.g. `2024-05-01T12:00:00Z` (how IAM
/// writes CreateDate; MediaPackage reuses it).
pub(crate) fn iso8601(ms: u64) -> String {
    let t = crate::wire::Utc::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

#[derive(Debug)]
struct Fail {
    status: u16,
    code: &'static str,
    message: String,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        status,
        code,
        message: message.into(),
    }
}

fn no_such_role(name: &str) -> Fail {
    fail(
        404,
        "NoSuchEntity",
        format!("The role with name {name} cannot be found."),
    )
}

/// Decoded form pairs, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn required(&self, name: &str) -> Result<&str, Fail> {
        self.get(name).ok_or_else(|| {
            fail(
                400,
                "ValidationError",
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    lower_first(name)
                ),
            )
        })
    }
    /// The values of `PREFIX.member.N[.FIELD]`, ordered by N.
    fn members(&self, prefix: &str, field: Option<&str>) -> Vec<(u32, &str)> {
        let mut out: Vec<(u32, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
                let n = match field {
                    Some(f) => rest.strip_suffix(f)?.strip_suffix('.')?,
                    None => rest,
                };
                Some((n.parse().ok()?, v.as_str()))
            })
            .collect();
        out.sort_by_key(|(n, _)| *n);
        out
    }
    fn tags(&self) -> Result<Vec<(String, String)>, Fail> {
        let values = self.members("Tags", Some("Value"));
        let mut tags: Vec<(String, String)> = Vec::new();
        for (n, key) in self.members("Tags", Some("Key")) {
            let value = values
                .iter()
                .find(|(m, _)| *m == n)
                .map(|(_, v)| *v)
                .unwrap_or("");
            if key.is_empty() || key.len() > 128 || value.len() > 256 {
                return Err(fail(
                    400,
                    "InvalidInput",
                    format!("Invalid tag: key {key:?} must be 1 to 128 characters and its value at most 256"),
                ));
            }
            if tags.iter().any(|(k, _)| k == key) {
                return Err(fail(
                    400,
                    "InvalidInput",
                    format!("Duplicate tag keys found: {key}"),
                ));
            }
            tags.push((key.to_string(), value.to_string()));
        }
        Ok(tags)
    }
    fn max_items(&self) -> Result<usize, Fail> {
        match self.get("MaxItems") {
            None => Ok(100),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(fail(
                    400,
                    "ValidationError",
                    format!("1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"),
                )),
            },
        }
    }
    fn marker(&self) -> Result<usize, Fail> {
        match self.get("Marker") {
            None | Some("") => Ok(0),
            Some(m) => m
                .strip_prefix("m")
                .and_then(|n| usize::from_str_radix(n, 16).ok())
                .ok_or_else(|| fail(400, "InvalidInput", format!("Invalid Marker {m:?}"))),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `application/x-www-form-urlencoded` pairs, percent- and `+`-decoded.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = std::str::from_utf8(&s[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes all but RFC 3986 unreserved characters (space as `%20`), the way IAM
/// returns policy documents.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn el(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", esc(text))
}

fn request_id(ctx: &mut Ctx) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        ctx.hex(8),
        ctx.hex(4),
        ctx.hex(4),
        ctx.hex(4),
        ctx.hex(12)
    )
}

fn unique_id(ctx: &mut Ctx, prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = prefix.to_string();
    for _ in 0..17 {
        s.push(ALPHABET[ctx.rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

fn check_name(what: &str, name: &str, max: usize) -> Result<(), Fail> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(fail(
            400,
            "ValidationError",
            format!("1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and {max}"),
        ))
    }
}

fn check_policy(doc: &str) -> Result<(), Fail> {
    let v: serde_json::Value = serde_json::from_str(doc).map_err(|_| {
        fail(
            400,
            "MalformedPolicyDocument",
            "This policy contains invalid Json",
        )
    })?;
    let ok = v
        .get("Statement")
        .is_some_and(|s| s.is_object() || s.as_array().is_some_and(|a| !a.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(fail(
            400,
            "MalformedPolicyDocument",
            "Syntax errors in policy: a policy needs a Statement",
        ))
    }
}

fn role<'a>(iam: &'a Iam, p: &Params) -> Result<&'a Role, Fail> {
    let name = p.required("RoleName")?;
    iam.roles
        .get(&name.to_lowercase())
        .ok_or_else(|| no_such_role(name))
}

fn role_mut<'a>(iam: &'a mut Iam, p: &Params) -> Result<&'a mut Role, Fail> {
    let name = p.required("RoleName")?;
    iam.roles
        .get_mut(&name.to_lowercase())
        .ok_or_else(|| no_such_role(name))
}

fn tags_xml(tags: &[(String, String)]) -> String {
    let members: String = tags
        .iter()
        .map(|(k, v)| format!("<member>{}{}</member>", el("Key", k), el("Value", v)))
        .collect();
    format!("<Tags>{members}</Tags>")
}

fn role_xml(r: &Role, with_last_used: bool) -> String {
    let mut x = String::from("<Role>");
    x.push_str(&el("Path", &r.path));
    x.push_str(&el("RoleName", &r.name));
    x.push_str(&el("RoleId", &r.id));
    x.push_str(&el("Arn", &r.arn));
    x.push_str(&el("CreateDate", &iso8601(r.created_ms)));
    x.push_str(&el(
        "AssumeRolePolicyDocument",
        &url_encode(&r.assume_role_policy),
    ));
    if let Some(d) = &r.description {
        x.push_str(&el("Description", d));
    }
    x.push_str(&el(
        "MaxSessionDuration",
        &r.max_session_duration.to_string(),
    ));
    if !r.tags.is_empty() {
        x.push_str(&tags_xml(&r.tags));
    }
    if with_last_used {
        x.push_str("<RoleLastUsed/>");
    }
    x.push_str("</Role>");
    x
}

fn create_role(iam: &mut Iam, ctx: &mut Ctx, p: &Params) -> Result<String, Fail> {
    let name = p.required("RoleName")?;
    check_name("roleName", name, 64)?;
    let doc = p.required("AssumeRolePolicyDocument")?;
    let path = p.get("Path").unwrap_or("/");
    if !(path.starts_with('/') && path.ends_with('/') && path.len() <= 512) {
        return Err(fail(
            400,
            "ValidationError",
            format!("1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: Member must begin and end with /"),
        ));
    }
    let max_session_duration = max_session_duration(p)?;
    let description = description(p)?;
    let tags = p.tags()?;
    if tags.len() > 50 {
        return Err(fail(
            409,
            "LimitExceeded",
            "Cannot exceed quota for TagsPerRole: 50.",
        ));
    }
    check_policy(doc)?;
    if iam.roles.contains_key(&name.to_lowercase()) {
        return Err(fail(
            409,
            "EntityAlreadyExists",
            format!("Role with name {name} already exists."),
        ));
    }
    let r = Role {
        name: name.to_string(),
        path: path.to_string(),
        id: unique_id(ctx, "AROA"),
        arn: format!("arn:aws:iam::{}:role{path}{name}", ctx.account),
        created_ms: ctx.now_ms / 1000 * 1000,
        assume_role_policy: doc.to_string(),
        description,
        max_session_duration,
        tags,
        inline_policies: BTreeMap::new(),
        attached_policies: Vec::new(),
    };
    let x = role_xml(&r, false);
    iam.roles.insert(name.to_lowercase(), r);
    Ok(x)
}

/// `MaxSessionDuration`, 3600 when not given (CreateRole and UpdateRole alike).
fn max_session_duration(p: &Params) -> Result<u32, Fail> {
    match p.get("MaxSessionDuration") {
        None => Ok(3600),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (3600..=43_200).contains(&n) => Ok(n),
            _ => Err(fail(
                400,
                "ValidationError",
                format!("1 validation error detected: Value '{s}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"),
            )),
        },
    }
}

fn description(p: &Params) -> Result<Option<String>, Fail> {
    let d = p.get("Description").map(str::to_string);
    if d.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        return Err(fail(
            400,
            "ValidationError",
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
        ));
    }
    Ok(d)
}

/// A Description given replaces the old one (empty clears it); one not given is kept.
/// MaxSessionDuration not given goes back to one hour, as the API reference says.
fn update_role(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let max = max_session_duration(p)?;
    let description = description(p)?;
    let r = role_mut(iam, p)?;
    if let Some(d) = description {
        r.description = (!d.is_empty()).then_some(d);
    }
    r.max_session_duration = max;
    Ok(())
}

fn delete_role(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let r = role(iam, p)?;
    if !r.inline_policies.is_empty() {
        return Err(fail(
            409,
            "DeleteConflict",
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !r.attached_policies.is_empty() {
        return Err(fail(
            409,
            "DeleteConflict",
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    let key = r.name.to_lowercase();
    iam.roles.remove(&key);
    Ok(())
}

fn update_assume_role_policy(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let doc = p.required("PolicyDocument")?;
    let r = role_mut(iam, p)?;
    check_policy(doc)?;
    r.assume_role_policy = doc.to_string();
    Ok(())
}

fn put_role_policy(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let name = p.required("PolicyName")?;
    check_name("policyName", name, 128)?;
    let doc = p.required("PolicyDocument")?;
    let r = role_mut(iam, p)?;
    check_policy(doc)?;
    let others: usize = r
        .inline_policies
        .iter()
        .filter(|(n, _)| n.as_str() != name)
        .map(|(_, d)| d.chars().filter(|c| !c.is_whitespace()).count())
        .sum();
    if others + doc.chars().filter(|c| !c.is_whitespace()).count() > 10_240 {
        return Err(fail(
            409,
            "LimitExceeded",
            "Maximum policy size of 10240 bytes exceeded for role",
        ));
    }
    r.inline_policies.insert(name.to_string(), doc.to_string());
    Ok(())
}

fn no_such_policy(role: &str, name: &str) -> Fail {
    fail(
        404,
        "NoSuchEntity",
        format!("The role policy with name {name} cannot be found for role {role}."),
    )
}

fn get_role_policy(iam: &Iam, p: &Params) -> Result<String, Fail> {
    let name = p.required("PolicyName")?;
    let r = role(iam, p)?;
    let doc = r
        .inline_policies
        .get(name)
        .ok_or_else(|| no_such_policy(&r.name, name))?;
    Ok(format!(
        "{}{}{}",
        el("RoleName", &r.name),
        el("PolicyName", name),
        el("PolicyDocument", &url_encode(doc))
    ))
}

fn delete_role_policy(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let name = p.required("PolicyName")?;
    let r = role_mut(iam, p)?;
    if r.inline_policies.remove(name).is_none() {
        return Err(no_such_policy(&r.name.clone(), name));
    }
    Ok(())
}

/// One page of `items`, as `(members, truncation elements)`.
fn paged<T>(
    items: &[T],
    p: &Params,
    member: impl Fn(&T) -> String,
) -> Result<(String, String), Fail> {
    let max = p.max_items()?;
    let start = p.marker()?.min(items.len());
    let end = (start + max).min(items.len());
    let members: String = items[start..end].iter().map(member).collect();
    let tail = if end < items.len() {
        format!("<IsTruncated>true</IsTruncated><Marker>m{end:x}</Marker>")
    } else {
        "<IsTruncated>false</IsTruncated>".to_string()
    };
    Ok((members, tail))
}

fn list_role_policies(iam: &Iam, p: &Params) -> Result<String, Fail> {
    let r = role(iam, p)?;
    let names: Vec<&String> = r.inline_policies.keys().collect();
    let (members, tail) = paged(&names, p, |n| el("member", n))?;
    Ok(format!("<PolicyNames>{members}</PolicyNames>{tail}"))
}

/// `arn:aws:iam::ACCOUNT:policy/PATH/NAME` -> NAME, or None when not a policy ARN.
fn policy_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("policy/")?;
    let name = path.rsplit('/').next()?;
    let account_ok =
        account == "aws" || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    (account_ok && !name.is_empty()).then_some(name)
}

fn attach_role_policy(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let arn = p.required("PolicyArn")?;
    let r = role_mut(iam, p)?;
    if policy_name(arn).is_none() {
        return Err(fail(
            400,
            "InvalidInput",
            format!("ARN {arn} is not valid."),
        ));
    }
    if !arn.starts_with("arn:aws:iam::aws:policy/") {
        return Err(fail(
            404,
            "NoSuchEntity",
            format!("Policy {arn} does not exist or is not attachable."),
        ));
    }
    if r.attached_policies.iter().any(|a| a == arn) {
        return Ok(());
    }
    if r.attached_policies.len() >= 10 {
        return Err(fail(
            409,
            "LimitExceeded",
            "Cannot exceed quota for PoliciesPerRole: 10.",
        ));
    }
    r.attached_policies.push(arn.to_string());
    Ok(())
}

fn detach_role_policy(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let arn = p.required("PolicyArn")?;
    let r = role_mut(iam, p)?;
    if policy_name(arn).is_none() {
        return Err(fail(
            400,
            "InvalidInput",
            format!("ARN {arn} is not valid."),
        ));
    }
    let before = r.attached_policies.len();
    r.attached_policies.retain(|a| a != arn);
    if r.attached_policies.len() == before {
        return Err(fail(
            404,
            "NoSuchEntity",
            format!("Policy {arn} was not found."),
        ));
    }
    Ok(())
}

fn list_attached_role_policies(iam: &Iam, p: &Params) -> Result<String, Fail> {
    let r = role(iam, p)?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let arns: Vec<&String> = r
        .attached_policies
        .iter()
        .filter(|a| {
            let path = a.split_once(":policy").map(|(_, rest)| rest).unwrap_or("");
            path.starts_with(prefix)
        })
        .collect();
    let (members, tail) = paged(&arns, p, |a| {
        format!(
            "<member>{}{}</member>",
            el("PolicyName", policy_name(a).unwrap_or(a)),
            el("PolicyArn", a)
        )
    })?;
    Ok(format!(
        "<AttachedPolicies>{members}</AttachedPolicies>{tail}"
    ))
}

fn tag_role(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let given = p.tags()?;
    let r = role_mut(iam, p)?;
    if given.is_empty() {
        return Err(fail(
            400,
            "ValidationError",
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut tags = r.tags.clone();
    for (k, v) in given {
        match tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
    if tags.len() > 50 {
        return Err(fail(
            409,
            "LimitExceeded",
            "Cannot exceed quota for TagsPerRole: 50.",
        ));
    }
    r.tags = tags;
    Ok(())
}

fn untag_role(iam: &mut Iam, p: &Params) -> Result<(), Fail> {
    let keys: Vec<String> = p
        .members("TagKeys", None)
        .into_iter()
        .map(|(_, k)| k.to_string())
        .collect();
    let r = role_mut(iam, p)?;
    r.tags.retain(|(k, _)| !keys.contains(k));
    Ok(())
}

fn list_role_tags(iam: &Iam, p: &Params) -> Result<String, Fail> {
    let r = role(iam, p)?;
    let (members, tail) = paged(&r.tags, p, |(k, v)| {
        format!("<member>{}{}</member>", el("Key", k), el("Value", v))
    })?;
    Ok(format!("<Tags>{members}</Tags>{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"medialive.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}]}"#;

    struct World {
        cloud: crate::Cloud,
        rng: rand::rngs::StdRng,
    }

    impl World {
        fn new() -> World {
            World {
                cloud: crate::Cloud::default(),
                rng: rand::rngs::StdRng::seed_from_u64(3),
            }
        }
        fn call(&mut self, params: &[(&str, &str)]) -> (u16, String, Resp) {
            let mut body = String::from("Version=2010-05-08");
            for (k, v) in params {
                body.push('&');
                body.push_str(&url_encode(k));
                body.push('=');
                body.push_str(&url_encode(v));
            }
            let req = Req {
                method: "POST".into(),
                path: "/".into(),
                query: Vec::new(),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body: body.into_bytes(),
            };
            let mut ctx = Ctx {
                now_ms: 1_700_000_000_123,
                speed: 1.0,
                account: "123456789012",
                region: "us-east-1",
                rng: &mut self.rng,
                consistency_ms: 0,
            };
            let resp = handle(&mut self.cloud, &mut ctx, &req);
            (
                resp.status,
                String::from_utf8(resp.body.clone()).unwrap(),
                resp,
            )
        }
        fn ok(&mut self, params: &[(&str, &str)]) -> String {
            let (s, body, _) = self.call(params);
            assert_eq!(s, 200, "{body}");
            body
        }
        fn role(&mut self, name: &str) -> String {
            self.ok(&[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", TRUST),
            ])
        }
    }

    fn code(body: &str) -> &str {
        body.split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
    }

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(4_107_542_399_000), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn form_decoding_handles_plus_percent_and_utf8() {
        let pairs = parse_form(b"A=b+c&D=%7B%22x%22%3A1%7D&E=%C3%A9&F=&G=50%&H=%zz");
        assert_eq!(pairs[0], ("A".into(), "b c".into()));
        assert_eq!(pairs[1], ("D".into(), "{\"x\":1}".into()));
        assert_eq!(pairs[2], ("E".into(), "é".into()));
        assert_eq!(pairs[3], ("F".into(), "".into()));
        assert_eq!(pairs[4], ("G".into(), "50%".into()));
        assert_eq!(pairs[5], ("H".into(), "%zz".into()));
    }

    #[test]
    fn create_role_answers_arn_id_date_and_encoded_policy() {
        let mut w = World::new();
        let (s, body, resp) = w.call(&[
            ("Action", "CreateRole"),
            ("RoleName", "MediaLiveAccessRole"),
            ("Path", "/service-role/"),
            ("Description", "a <role> & more"),
            ("AssumeRolePolicyDocument", TRUST),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "video"),
        ]);
        assert_eq!(s, 200, "{body}");
        assert_eq!(resp.operation, "CreateRole");
        assert_eq!(resp.resource.as_deref(), Some("MediaLiveAccessRole"));
        assert!(body.starts_with(
            "<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateRoleResult><Role>"
        ));
        assert!(body.contains(
            "<Arn>arn:aws:iam::123456789012:role/service-role/MediaLiveAccessRole</Arn>"
        ));
        assert!(body.contains("<RoleId>AROA"));
        assert!(body.contains("<CreateDate>2023-11-14T22:13:20Z</CreateDate>"));
        assert!(body.contains("<Description>a &lt;role&gt; &amp; more</Description>"));
        assert!(body.contains(&format!(
            "<AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>",
            url_encode(TRUST)
        )));
        assert!(body.contains("%7B%22Version%22%3A%222012-10-17%22"));
        assert!(body.contains("<Tags><member><Key>team</Key><Value>video</Value></member></Tags>"));
        assert!(body.contains("<ResponseMetadata><RequestId>"));
    }

    #[test]
    fn duplicate_role_name_regardless_of_case_is_409() {
        let mut w = World::new();
        w.role("Role1");
        let (s, body, _) = w.call(&[
            ("Action", "CreateRole"),
            ("RoleName", "ROLE1"),
            ("AssumeRolePolicyDocument", TRUST),
        ]);
        assert_eq!(s, 409);
        assert_eq!(code(&body), "EntityAlreadyExists");
        assert!(body.contains("<Type>Sender</Type>"));
        let body = w.ok(&[("Action", "GetRole"), ("RoleName", "role1")]);
        assert!(body.contains("<RoleName>Role1</RoleName>"));
        assert!(body.contains("<RoleLastUsed/>"));
    }

    #[test]
    fn unknown_role_is_no_such_entity_404() {
        let mut w = World::new();
        for action in ["GetRole", "DeleteRole", "ListRolePolicies", "ListRoleTags"] {
            let (s, body, _) = w.call(&[("Action", action), ("RoleName", "ghost")]);
            assert_eq!(s, 404, "{action}");
            assert_eq!(code(&body), "NoSuchEntity");
            assert!(body.contains("The role with name ghost cannot be found."));
        }
    }

    #[test]
    fn malformed_policies_are_refused() {
        let mut w = World::new();
        let (s, body, _) = w.call(&[
            ("Action", "CreateRole"),
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", "{not json"),
        ]);
        assert_eq!((s, code(&body)), (400, "MalformedPolicyDocument"));
        w.role("r");
        let (s, body, _) = w.call(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "p"),
            ("PolicyDocument", "{}"),
        ]);
        assert_eq!((s, code(&body)), (400, "MalformedPolicyDocument"));
        let (s, body, _) = w.call(&[("Action", "CreateRole"), ("RoleName", "bad name")]);
        assert_eq!((s, code(&body)), (400, "ValidationError"));
    }

    #[test]
    fn delete_role_conflicts_until_policies_are_gone() {
        let mut w = World::new();
        w.role("r");
        w.ok(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "ssm"),
            ("PolicyDocument", POLICY),
        ]);
        w.ok(&[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "r"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess",
            ),
        ]);
        let (s, body, _) = w.call(&[("Action", "DeleteRole"), ("RoleName", "r")]);
        assert_eq!((s, code(&body)), (409, "DeleteConflict"));
        assert!(body.contains("must delete policies first"));
        w.ok(&[
            ("Action", "DeleteRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "ssm"),
        ]);
        let (s, body, _) = w.call(&[("Action", "DeleteRole"), ("RoleName", "r")]);
        assert_eq!((s, code(&body)), (409, "DeleteConflict"));
        assert!(body.contains("must detach all policies first"));
        w.ok(&[
            ("Action", "DetachRolePolicy"),
            ("RoleName", "r"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess",
            ),
        ]);
        let body = w.ok(&[("Action", "DeleteRole"), ("RoleName", "r")]);
        assert_eq!(
            body.split("<ResponseMetadata>").next().unwrap(),
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
        );
        let (s, _, _) = w.call(&[("Action", "GetRole"), ("RoleName", "r")]);
        assert_eq!(s, 404);
    }

    #[test]
    fn inline_policies_put_get_list_delete() {
        let mut w = World::new();
        w.role("r");
        for name in ["b", "a"] {
            w.ok(&[
                ("Action", "PutRolePolicy"),
                ("RoleName", "r"),
                ("PolicyName", name),
                ("PolicyDocument", POLICY),
            ]);
        }
        let body = w.ok(&[
            ("Action", "GetRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "a"),
        ]);
        assert!(body.contains(&format!(
            "<PolicyDocument>{}</PolicyDocument>",
            url_encode(POLICY)
        )));
        let body = w.ok(&[
            ("Action", "ListRolePolicies"),
            ("RoleName", "r"),
            ("MaxItems", "1"),
        ]);
        assert!(body.contains("<PolicyNames><member>a</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>m1</Marker>"));
        let body = w.ok(&[
            ("Action", "ListRolePolicies"),
            ("RoleName", "r"),
            ("Marker", "m1"),
        ]);
        assert!(body.contains(
            "<PolicyNames><member>b</member></PolicyNames><IsTruncated>false</IsTruncated>"
        ));
        let (s, body, _) = w.call(&[
            ("Action", "GetRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "zz"),
        ]);
        assert_eq!((s, code(&body)), (404, "NoSuchEntity"));
        let (s, _, _) = w.call(&[
            ("Action", "DeleteRolePolicy"),
            ("RoleName", "r"),
            ("PolicyName", "zz"),
        ]);
        assert_eq!(s, 404);
    }

    #[test]
    fn only_aws_managed_policies_attach() {
        let mut w = World::new();
        w.role("r");
        let (s, body, _) = w.call(&[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "r"),
            ("PolicyArn", "arn:aws:iam::123456789012:policy/mine"),
        ]);
        assert_eq!((s, code(&body)), (404, "NoSuchEntity"));
        let (s, body, _) = w.call(&[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "r"),
            ("PolicyArn", "not-an-arn"),
        ]);
        assert_eq!((s, code(&body)), (400, "InvalidInput"));
        let arn = "arn:aws:iam::aws:policy/service-role/AWSElementalMediaLiveFullAccess";
        for _ in 0..2 {
            w.ok(&[
                ("Action", "AttachRolePolicy"),
                ("RoleName", "r"),
                ("PolicyArn", arn),
            ]);
        }
        let body = w.ok(&[("Action", "ListAttachedRolePolicies"), ("RoleName", "r")]);
        assert!(body.contains(&format!(
            "<AttachedPolicies><member><PolicyName>AWSElementalMediaLiveFullAccess</PolicyName><PolicyArn>{arn}</PolicyArn></member></AttachedPolicies>"
        )));
        let body = w.ok(&[
            ("Action", "ListAttachedRolePolicies"),
            ("RoleName", "r"),
            ("PathPrefix", "/other/"),
        ]);
        assert!(body.contains("<AttachedPolicies></AttachedPolicies>"));
        let (s, body, _) = w.call(&[
            ("Action", "DetachRolePolicy"),
            ("RoleName", "r"),
            ("PolicyArn", "arn:aws:iam::aws:policy/Other"),
        ]);
        assert_eq!((s, code(&body)), (404, "NoSuchEntity"));
    }

    #[test]
    fn tags_add_replace_remove_and_list() {
        let mut w = World::new();
        w.role("r");
        w.ok(&[
            ("Action", "TagRole"),
            ("RoleName", "r"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.2.Value", "2"),
        ]);
        w.ok(&[
            ("Action", "TagRole"),
            ("RoleName", "r"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "one"),
        ]);
        w.ok(&[
            ("Action", "UntagRole"),
            ("RoleName", "r"),
            ("TagKeys.member.1", "b"),
        ]);
        let body = w.ok(&[("Action", "ListRoleTags"), ("RoleName", "r")]);
        assert!(body.contains("<Tags><member><Key>a</Key><Value>one</Value></member></Tags><IsTruncated>false</IsTruncated>"));
    }

    #[test]
    fn update_assume_role_policy_replaces_trust() {
        let mut w = World::new();
        w.role("r");
        let other = TRUST.replace("medialive", "mediapackage");
        w.ok(&[
            ("Action", "UpdateAssumeRolePolicy"),
            ("RoleName", "r"),
            ("PolicyDocument", &other),
        ]);
        let body = w.ok(&[("Action", "GetRole"), ("RoleName", "r")]);
        assert!(body.contains(&url_encode(&other)));
    }

    #[test]
    fn update_role_sets_description_and_session_duration() {
        let mut w = World::new();
        w.role("r");
        let body = w.ok(&[
            ("Action", "UpdateRole"),
            ("RoleName", "r"),
            ("Description", "now described"),
            ("MaxSessionDuration", "7200"),
        ]);
        assert!(body.contains("<UpdateRoleResult></UpdateRoleResult>"));
        let body = w.ok(&[("Action", "GetRole"), ("RoleName", "r")]);
        assert!(body.contains("<Description>now described</Description>"));
        assert!(body.contains("<MaxSessionDuration>7200</MaxSessionDuration>"));
        w.ok(&[("Action", "UpdateRole"), ("RoleName", "r")]);
        let body = w.ok(&[("Action", "GetRole"), ("RoleName", "r")]);
        assert!(body.contains("<Description>now described</Description>"));
        assert!(body.contains("<MaxSessionDuration>3600</MaxSessionDuration>"));
        w.ok(&[
            ("Action", "UpdateRole"),
            ("RoleName", "r"),
            ("Description", ""),
        ]);
        let body = w.ok(&[("Action", "GetRole"), ("RoleName", "r")]);
        assert!(!body.contains("<Description>"));
        let (s, _, _) = w.call(&[("Action", "UpdateRole"), ("RoleName", "ghost")]);
        assert_eq!(s, 404);
    }

    #[test]
    fn unknown_action_and_missing_member() {
        let mut w = World::new();
        let (s, body, _) = w.call(&[("Action", "ListUsers")]);
        assert_eq!((s, code(&body)), (400, "InvalidAction"));
        let (s, body, _) = w.call(&[("Action", "GetRole")]);
        assert_eq!((s, code(&body)), (400, "ValidationError"));
        assert!(body.contains("'roleName'"));
    }
}
