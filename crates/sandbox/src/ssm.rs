//! AWS Systems Manager Parameter Store (API version 2014-11-06) over awsJson1_1: parameters
//! and their tags.
//!
//! Requests are `POST /` with `x-amz-target: AmazonSSM.<Operation>` and a PascalCase JSON
//! body; errors are status 400 with `{"__type": "ParameterNotFound", "message": ..}`.
//!
//! Served: PutParameter, GetParameter, GetParameters, DeleteParameter, DeleteParameters,
//! DescribeParameters, AddTagsToResource, RemoveTagsFromResource, ListTagsForResource.
//!
//! Rules enforced, as AWS does:
//! - A new parameter needs a Type; an existing one is replaced only with `Overwrite: true`
//!   (else ParameterAlreadyExists), and every put bumps Version. Tags are given at creation
//!   only: Tags together with Overwrite is a ValidationException.
//! - A SecureString answers its value only `WithDecryption: true`; otherwise it answers an
//!   opaque base64 ciphertext (stable until the next put), as AWS answers the KMS blob.
//! - Names: letters, digits and `_.-/`; a hierarchical name starts with `/`; no `aws`/`ssm`
//!   prefix; at most 15 levels. Values: at most 4096 characters (Standard) or 8192
//!   (Advanced; Intelligent-Tiering picks the tier that fits).
//! - Tags: at most 50 per parameter (TooManyTagsError); unknown parameter InvalidResourceId.
//!
//! # Deviations from AWS
//! - No encryption happens: the ciphertext is random, KeyId is only echoed (default
//!   `alias/aws/ssm`); AllowedPattern is stored but not checked (no regex engine here);
//!   Policies, labels, version history and `name:version` selectors are not modelled;
//!   StringList values are not split.
//! - DescribeParameters sorts by name and supports ParameterFilters Name
//!   (Equals/BeginsWith/Contains), Path (OneLevel/Recursive), Type, KeyId, Tier, DataType and
//!   `tag:KEY`, and the legacy Filters Name/Type/KeyId; NextToken is an opaque hex string.
//! - LastModifiedUser is `arn:aws:iam::ACCOUNT:user/sandbox`.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::wire::{Ctx, Req, Resp};

/// Parameter Store's part of the cloud: parameters by name.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Ssm {
    pub parameters: BTreeMap<String, Parameter>,
}

/// One SSM parameter (its current version only).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Parameter {
    pub name: String,
    /// "String", "StringList" or "SecureString".
    pub kind: String,
    pub value: String,
    /// What GetParameter answers for a SecureString without decryption.
    pub ciphertext: Option<String>,
    pub key_id: Option<String>,
    pub version: i64,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub last_modified_ms: u64,
    pub tags: BTreeMap<String, String>,
}

/// Answers one SSM request (`x-amz-target: AmazonSSM.*`).
pub fn handle(cloud: &mut crate::Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    let target = req.header("x-amz-target").unwrap_or("");
    let op = target
        .strip_prefix("AmazonSSM.")
        .unwrap_or(target)
        .to_string();
    let ssm = &mut cloud.ssm;
    let body = match parse_body(req) {
        Ok(b) => b,
        Err(f) => return answer(&op, None, Err(f)),
    };
    let resource = body
        .get("Name")
        .or_else(|| body.get("ResourceId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let result = match op.as_str() {
        "PutParameter" => put_parameter(ssm, ctx, &body),
        "GetParameter" => get_parameter(ssm, ctx, &body),
        "GetParameters" => get_parameters(ssm, ctx, &body),
        "DeleteParameter" => delete_parameter(ssm, &body),
        "DeleteParameters" => delete_parameters(ssm, &body),
        "DescribeParameters" => describe_parameters(ssm, ctx, &body),
        "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource" => {
            tags(ssm, &op, &body)
        }
        _ => Err(fail(
            "InvalidAction",
            format!("operation {target:?} is not supported by this endpoint"),
        )),
    };
    answer(
        if op.is_empty() { "Unknown" } else { &op },
        resource,
        result,
    )
}

#[derive(Debug)]
struct Fail {
    kind: &'static str,
    message: String,
}

fn fail(kind: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        kind,
        message: message.into(),
    }
}

fn validation(message: impl Into<String>) -> Fail {
    fail("ValidationException", message)
}

fn answer(op: &str, resource: Option<String>, result: Result<Value, Fail>) -> Resp {
    let (status, body) = match result {
        Ok(v) => (200, v),
        Err(f) => (400, json!({"__type": f.kind, "message": f.message})),
    };
    let mut r = Resp::json(status, op, &body);
    r.headers = vec![("content-type".into(), "application/x-amz-json-1.1".into())];
    r.resource = resource;
    r
}

fn parse_body(req: &Req) -> Result<Value, Fail> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(fail(
            "SerializationException",
            "the request body is not a JSON object",
        )),
    }
}

fn opt_str<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, Fail> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(fail(
            "SerializationException",
            format!("{name} must be a string"),
        )),
    }
}

fn req_str<'a>(body: &'a Value, name: &str) -> Result<&'a str, Fail> {
    opt_str(body, name)?.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn str_list<'a>(body: &'a Value, name: &str) -> Result<Vec<&'a str>, Fail> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    fail(
                        "SerializationException",
                        format!("{name} must hold strings"),
                    )
                })
            })
            .collect(),
        Some(_) => Err(fail(
            "SerializationException",
            format!("{name} must be a list"),
        )),
    }
}

fn tag_list(body: &Value) -> Result<Vec<(String, String)>, Fail> {
    let Some(list) = body.get("Tags").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| fail("SerializationException", "Tags must be a list"))?;
    list.iter()
        .map(|t| {
            let k = req_str(t, "Key")?;
            let v = req_str(t, "Value")?;
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
                return Err(validation(format!(
                    "tag key {k:?} must be 1 to 128 characters and its value at most 256"
                )));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The parameter named `given`, which may also be its ARN.
fn find<'a>(ssm: &'a Ssm, ctx: &Ctx, given: &str) -> Option<&'a Parameter> {
    if let Some(p) = ssm.parameters.get(given) {
        return Some(p);
    }
    let prefix = format!("arn:aws:ssm:{}:{}:parameter", ctx.region, ctx.account);
    // `parameter/a/b` is `/a/b`; `parameter/name` is `name` (or `/name`).
    let rest = given.strip_prefix(prefix.as_str())?;
    ssm.parameters
        .get(rest.strip_prefix('/').unwrap_or(rest))
        .or_else(|| ssm.parameters.get(rest))
}

fn arn(ctx: &Ctx, name: &str) -> String {
    if name.starts_with('/') {
        format!("arn:aws:ssm:{}:{}:parameter{name}", ctx.region, ctx.account)
    } else {
        format!(
            "arn:aws:ssm:{}:{}:parameter/{name}",
            ctx.region, ctx.account
        )
    }
}

fn check_name(name: &str) -> Result<(), Fail> {
    let bare = name.trim_start_matches('/');
    if name.is_empty()
        || name.len() > 1011
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err(validation(format!(
            "Parameter name {name:?} is invalid: use letters, numbers and the symbols _ . - /, at most 1011 characters"
        )));
    }
    let lower = bare.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(validation(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).",
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(validation(
            "Parameter name must be a fully qualified name: a name with / must begin with /",
        ));
    }
    if name.matches('/').count() > 15 {
        return Err(fail(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels.",
        ));
    }
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A KMS-ciphertext-looking blob (KMS blobs start with the bytes 01 02 02 00 78).
fn ciphertext(ctx: &mut Ctx, value: &str) -> String {
    use rand::Rng;
    let mut bytes = vec![1u8, 2, 2, 0, 0x78];
    for _ in 0..(value.len() + 160) {
        bytes.push(ctx.rng.random());
    }
    base64(&bytes)
}

fn parameter_json(ctx: &Ctx, p: &Parameter, decrypt: bool) -> Value {
    let value = match (&p.ciphertext, decrypt) {
        (Some(c), false) => c.clone(),
        _ => p.value.clone(),
    };
    json!({
        "Name": p.name,
        "Type": p.kind,
        "Value": value,
        "Version": p.version,
        "LastModifiedDate": p.last_modified_ms as f64 / 1000.0,
        "ARN": arn(ctx, &p.name),
        "DataType": p.data_type,
    })
}

fn metadata_json(ctx: &Ctx, p: &Parameter) -> Value {
    let mut o = Map::new();
    o.insert("Name".into(), json!(p.name));
    o.insert("ARN".into(), json!(arn(ctx, &p.name)));
    o.insert("Type".into(), json!(p.kind));
    if let Some(k) = &p.key_id {
        o.insert("KeyId".into(), json!(k));
    }
    o.insert(
        "LastModifiedDate".into(),
        json!(p.last_modified_ms as f64 / 1000.0),
    );
    o.insert(
        "LastModifiedUser".into(),
        json!(format!("arn:aws:iam::{}:user/sandbox", ctx.account)),
    );
    if let Some(d) = &p.description {
        o.insert("Description".into(), json!(d));
    }
    if let Some(a) = &p.allowed_pattern {
        o.insert("AllowedPattern".into(), json!(a));
    }
    o.insert("Version".into(), json!(p.version));
    o.insert("Tier".into(), json!(p.tier));
    o.insert("Policies".into(), json!([]));
    o.insert("DataType".into(), json!(p.data_type));
    Value::Object(o)
}

fn put_parameter(ssm: &mut Ssm, ctx: &mut Ctx, body: &Value) -> Result<Value, Fail> {
    let name = req_str(body, "Name")?;
    let value = req_str(body, "Value")?;
    check_name(name)?;
    let overwrite = body
        .get("Overwrite")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tags = tag_list(body)?;
    if overwrite && !tags.is_empty() {
        return Err(validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    if tags.len() > 50 {
        return Err(fail(
            "TooManyTagsError",
            "A parameter can have at most 50 tags.",
        ));
    }
    let existing = ssm.parameters.get(name);
    if existing.is_some() && !overwrite {
        return Err(fail(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let kind = match (opt_str(body, "Type")?, existing) {
        (Some(t), _) => t.to_string(),
        (None, Some(p)) => p.kind.clone(),
        (None, None) => {
            return Err(validation(
                "A parameter type is required when you create a parameter.",
            ))
        }
    };
    if !["String", "StringList", "SecureString"].contains(&kind.as_str()) {
        return Err(validation(format!(
            "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
        )));
    }
    let key_id = opt_str(body, "KeyId")?;
    if key_id.is_some() && kind != "SecureString" {
        return Err(validation(
            "KeyId is required for SecureString type parameter only.",
        ));
    }
    let data_type = opt_str(body, "DataType")?.unwrap_or("text");
    if !["text", "aws:ec2:image", "aws:ssm:integration"].contains(&data_type) {
        return Err(validation(format!(
            "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
        )));
    }
    let len = value.chars().count();
    let requested_tier = opt_str(body, "Tier")?
        .map(str::to_string)
        .or_else(|| existing.map(|p| p.tier.clone()))
        .unwrap_or_else(|| "Standard".into());
    let tier = match requested_tier.as_str() {
        "Standard" if len <= 4096 => "Standard",
        "Advanced" | "Intelligent-Tiering" if len <= 8192 => {
            if requested_tier == "Advanced" || len > 4096 {
                "Advanced"
            } else {
                "Standard"
            }
        }
        "Standard" | "Advanced" | "Intelligent-Tiering" => {
            return Err(validation(format!(
                "Parameter value of {len} characters exceeds the {requested_tier} tier limit"
            )))
        }
        other => return Err(validation(format!("Tier {other} is not supported"))),
    };
    if value.is_empty() {
        return Err(validation(
            "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let previous = existing.cloned();
    let secure = kind == "SecureString";
    let p = Parameter {
        name: name.to_string(),
        kind: kind.clone(),
        value: value.to_string(),
        ciphertext: secure.then(|| ciphertext(ctx, value)),
        key_id: secure.then(|| {
            key_id
                .map(str::to_string)
                .or_else(|| previous.as_ref().and_then(|p| p.key_id.clone()))
                .unwrap_or_else(|| "alias/aws/ssm".into())
        }),
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        description: opt_str(body, "Description")?
            .map(str::to_string)
            .or_else(|| previous.as_ref().and_then(|p| p.description.clone())),
        allowed_pattern: opt_str(body, "AllowedPattern")?
            .map(str::to_string)
            .or_else(|| previous.as_ref().and_then(|p| p.allowed_pattern.clone())),
        tier: tier.to_string(),
        data_type: data_type.to_string(),
        last_modified_ms: ctx.now_ms,
        tags: match &previous {
            Some(p) => p.tags.clone(),
            None => tags.into_iter().collect(),
        },
    };
    let answer = json!({"Version": p.version, "Tier": p.tier});
    ssm.parameters.insert(name.to_string(), p);
    Ok(answer)
}

fn not_found(name: &str) -> Fail {
    fail("ParameterNotFound", format!("Parameter {name} not found."))
}

fn get_parameter(ssm: &Ssm, ctx: &Ctx, body: &Value) -> Result<Value, Fail> {
    let given = req_str(body, "Name")?;
    let decrypt = body
        .get("WithDecryption")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let p = find(ssm, ctx, given).ok_or_else(|| not_found(given))?;
    Ok(json!({ "Parameter": parameter_json(ctx, p, decrypt) }))
}

fn get_parameters(ssm: &Ssm, ctx: &Ctx, body: &Value) -> Result<Value, Fail> {
    let names = str_list(body, "Names")?;
    if names.is_empty() || names.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1",
        ));
    }
    let decrypt = body
        .get("WithDecryption")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut found = Vec::new();
    let mut invalid = Vec::new();
    for given in names {
        match find(ssm, ctx, given) {
            Some(p) => found.push(parameter_json(ctx, p, decrypt)),
            None => invalid.push(given),
        }
    }
    Ok(json!({"Parameters": found, "InvalidParameters": invalid}))
}

fn delete_parameter(ssm: &mut Ssm, body: &Value) -> Result<Value, Fail> {
    let name = req_str(body, "Name")?;
    match ssm.parameters.remove(name) {
        Some(_) => Ok(json!({})),
        None => Err(not_found(name)),
    }
}

fn delete_parameters(ssm: &mut Ssm, body: &Value) -> Result<Value, Fail> {
    let names = str_list(body, "Names")?;
    if names.is_empty() || names.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1",
        ));
    }
    let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
    for n in names {
        match ssm.parameters.remove(n) {
            Some(_) => deleted.push(n),
            None => invalid.push(n),
        }
    }
    Ok(json!({"DeletedParameters": deleted, "InvalidParameters": invalid}))
}

/// One describe filter, normalised from either filter syntax.
struct Filter {
    key: String,
    option: String,
    values: Vec<String>,
}

fn filters(body: &Value) -> Result<Vec<Filter>, Fail> {
    let legacy = body.get("Filters").and_then(Value::as_array);
    let modern = body.get("ParameterFilters").and_then(Value::as_array);
    if legacy.is_some_and(|l| !l.is_empty()) && modern.is_some_and(|m| !m.is_empty()) {
        return Err(validation(
            "You can use either Filters or ParameterFilters in a single request.",
        ));
    }
    let mut out = Vec::new();
    for f in legacy.into_iter().flatten() {
        let key = req_str(f, "Key")?;
        if !["Name", "Type", "KeyId"].contains(&key) {
            return Err(fail(
                "InvalidFilterKey",
                format!("The filter key {key} is not valid."),
            ));
        }
        let values: Vec<String> = str_list(f, "Values")?
            .into_iter()
            .map(str::to_string)
            .collect();
        let option = if key == "Name" {
            "BeginsWith"
        } else {
            "Equals"
        };
        out.push(Filter {
            key: key.to_string(),
            option: option.to_string(),
            values,
        });
    }
    for f in modern.into_iter().flatten() {
        let key = req_str(f, "Key")?;
        let values: Vec<String> = str_list(f, "Values")?
            .into_iter()
            .map(str::to_string)
            .collect();
        let allowed: &[&str] = match key {
            "Name" => &["Equals", "BeginsWith", "Contains"],
            "Path" => &["OneLevel", "Recursive"],
            "Type" | "KeyId" | "Tier" | "DataType" => &["Equals"],
            k if k.starts_with("tag:") && k.len() > 4 => &["Equals"],
            _ => {
                return Err(fail(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ))
            }
        };
        let option = opt_str(f, "Option")?.unwrap_or(allowed[0]);
        if !allowed.contains(&option) {
            return Err(fail(
                "InvalidFilterOption",
                format!(
                    "The filter option {option} is not valid for key {key}. Valid options are: {}.",
                    allowed.join(", ")
                ),
            ));
        }
        if values.is_empty() && !key.starts_with("tag:") {
            return Err(fail(
                "InvalidFilterValue",
                format!("The filter {key} needs at least one value."),
            ));
        }
        out.push(Filter {
            key: key.to_string(),
            option: option.to_string(),
            values,
        });
    }
    Ok(out)
}

fn matches(f: &Filter, p: &Parameter) -> bool {
    let any = |field: &str| f.values.iter().any(|v| v == field);
    match f.key.as_str() {
        "Name" => f.values.iter().any(|v| match f.option.as_str() {
            "Equals" => p.name == *v,
            "Contains" => p.name.contains(v.as_str()),
            _ => p.name.starts_with(v.as_str()),
        }),
        "Path" => f.values.iter().any(|v| {
            let dir = if v.ends_with('/') {
                v.clone()
            } else {
                format!("{v}/")
            };
            match p.name.strip_prefix(dir.as_str()) {
                Some(rest) => f.option == "Recursive" || !rest.contains('/'),
                None => false,
            }
        }),
        "Type" => any(&p.kind),
        "KeyId" => p.key_id.as_deref().is_some_and(any),
        "Tier" => any(&p.tier),
        "DataType" => any(&p.data_type),
        key => {
            let tag = &key[4..];
            match p.tags.get(tag) {
                Some(v) => f.values.is_empty() || any(v),
                None => false,
            }
        }
    }
}

fn describe_parameters(ssm: &Ssm, ctx: &Ctx, body: &Value) -> Result<Value, Fail> {
    let filters = filters(body)?;
    let max = match body.get("MaxResults").and_then(Value::as_i64) {
        None => 10,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50"
            )))
        }
    };
    let start = match opt_str(body, "NextToken")? {
        None | Some("") => Bound::Unbounded,
        Some(t) => Bound::Excluded(
            unhex(t)
                .ok_or_else(|| fail("InvalidNextToken", "The specified token is not valid."))?,
        ),
    };
    let mut page: Vec<&Parameter> = ssm
        .parameters
        .range::<String, _>((start, Bound::Unbounded))
        .map(|(_, p)| p)
        .filter(|p| filters.iter().all(|f| matches(f, p)))
        .take(max + 1)
        .collect();
    let mut o = Map::new();
    let next = if page.len() > max {
        page.truncate(max);
        page.last().map(|p| hex(&p.name))
    } else {
        None
    };
    o.insert(
        "Parameters".into(),
        Value::Array(page.into_iter().map(|p| metadata_json(ctx, p)).collect()),
    );
    if let Some(t) = next {
        o.insert("NextToken".into(), json!(t));
    }
    Ok(Value::Object(o))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn tags(ssm: &mut Ssm, op: &str, body: &Value) -> Result<Value, Fail> {
    let kind = req_str(body, "ResourceType")?;
    let id = req_str(body, "ResourceId")?;
    if kind != "Parameter" {
        return Err(fail(
            "InvalidResourceType",
            format!("the resource type {kind} is not supported by this endpoint"),
        ));
    }
    let p = ssm.parameters.get_mut(id).ok_or_else(|| {
        fail(
            "InvalidResourceId",
            "The resource ID is not valid. Verify that you entered the correct ID and try again.",
        )
    })?;
    match op {
        "AddTagsToResource" => {
            let given = tag_list(body)?;
            if given.is_empty() {
                return Err(validation(
                    "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
                ));
            }
            let mut merged = p.tags.clone();
            merged.extend(given);
            if merged.len() > 50 {
                return Err(fail(
                    "TooManyTagsError",
                    "A parameter can have at most 50 tags.",
                ));
            }
            p.tags = merged;
            Ok(json!({}))
        }
        "RemoveTagsFromResource" => {
            for k in str_list(body, "TagKeys")? {
                p.tags.remove(k);
            }
            Ok(json!({}))
        }
        _ => {
            let list: Vec<Value> = p
                .tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({ "TagList": list }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    struct World {
        cloud: crate::Cloud,
        rng: rand::rngs::StdRng,
        now_ms: u64,
    }

    impl World {
        fn new() -> World {
            World {
                cloud: crate::Cloud::default(),
                rng: rand::rngs::StdRng::seed_from_u64(5),
                now_ms: 1_700_000_000_250,
            }
        }
        fn call(&mut self, op: &str, body: Value) -> (u16, Value, Resp) {
            let req = Req {
                method: "POST".into(),
                path: "/".into(),
                query: Vec::new(),
                headers: vec![
                    ("x-amz-target".into(), format!("AmazonSSM.{op}")),
                    ("content-type".into(), "application/x-amz-json-1.1".into()),
                ],
                body: serde_json::to_vec(&body).unwrap(),
            };
            let mut ctx = Ctx {
                now_ms: self.now_ms,
                speed: 1.0,
                account: "123456789012",
                region: "eu-west-1",
                rng: &mut self.rng,
                consistency_ms: 0,
            };
            let resp = handle(&mut self.cloud, &mut ctx, &req);
            let v = serde_json::from_slice(&resp.body).unwrap();
            (resp.status, v, resp)
        }
        fn ok(&mut self, op: &str, body: Value) -> Value {
            let (s, v, _) = self.call(op, body);
            assert_eq!(s, 200, "{op}: {v}");
            v
        }
    }

    #[test]
    fn put_get_overwrite_bumps_version() {
        let mut w = World::new();
        let v = w.ok(
            "PutParameter",
            json!({"Name": "/live/a", "Value": "1", "Type": "String"}),
        );
        assert_eq!(v, json!({"Version": 1, "Tier": "Standard"}));
        let (s, v, resp) = w.call("PutParameter", json!({"Name": "/live/a", "Value": "2"}));
        assert_eq!(s, 400);
        assert_eq!(v["__type"], "ParameterAlreadyExists");
        assert_eq!(resp.operation, "PutParameter");
        assert_eq!(resp.resource.as_deref(), Some("/live/a"));
        let v = w.ok(
            "PutParameter",
            json!({"Name": "/live/a", "Value": "2", "Overwrite": true}),
        );
        assert_eq!(v["Version"], 2);
        let v = w.ok("GetParameter", json!({"Name": "/live/a"}));
        let p = &v["Parameter"];
        assert_eq!(p["Value"], "2");
        assert_eq!(p["Type"], "String");
        assert_eq!(p["Version"], 2);
        assert_eq!(
            p["ARN"],
            "arn:aws:ssm:eu-west-1:123456789012:parameter/live/a"
        );
        assert_eq!(p["LastModifiedDate"], json!(1_700_000_000.25));
        let by_arn = w.ok(
            "GetParameter",
            json!({"Name": "arn:aws:ssm:eu-west-1:123456789012:parameter/live/a"}),
        );
        assert_eq!(by_arn["Parameter"]["Value"], "2");
    }

    #[test]
    fn secure_string_needs_decryption() {
        let mut w = World::new();
        w.ok(
            "PutParameter",
            json!({"Name": "pw", "Value": "hunter2", "Type": "SecureString"}),
        );
        let v = w.ok("GetParameter", json!({"Name": "pw"}));
        let blob = v["Parameter"]["Value"].as_str().unwrap().to_string();
        assert_ne!(blob, "hunter2");
        assert!(blob.starts_with("AQICA"), "{blob}");
        assert_eq!(
            w.ok("GetParameter", json!({"Name": "pw"}))["Parameter"]["Value"],
            json!(blob)
        );
        let v = w.ok(
            "GetParameter",
            json!({"Name": "pw", "WithDecryption": true}),
        );
        assert_eq!(v["Parameter"]["Value"], "hunter2");
        let v = w.ok(
            "GetParameters",
            json!({"Names": ["pw", "nope"], "WithDecryption": true}),
        );
        assert_eq!(v["Parameters"][0]["Value"], "hunter2");
        assert_eq!(v["InvalidParameters"], json!(["nope"]));
        let v = w.ok("DescribeParameters", json!({}));
        assert_eq!(v["Parameters"][0]["KeyId"], "alias/aws/ssm");
    }

    #[test]
    fn missing_parameter_is_parameter_not_found() {
        let mut w = World::new();
        for op in ["GetParameter", "DeleteParameter"] {
            let (s, v, _) = w.call(op, json!({"Name": "/x"}));
            assert_eq!(s, 400);
            assert_eq!(v["__type"], "ParameterNotFound");
        }
    }

    #[test]
    fn names_types_and_tags_are_validated() {
        let mut w = World::new();
        let cases = [
            json!({"Name": "/a", "Value": "v"}),
            json!({"Name": "awsThing", "Value": "v", "Type": "String"}),
            json!({"Name": "a/b", "Value": "v", "Type": "String"}),
            json!({"Name": "bad name", "Value": "v", "Type": "String"}),
            json!({"Name": "/a", "Value": "v", "Type": "Blob"}),
            json!({"Name": "/a", "Value": "v", "Type": "String", "Overwrite": true,
                   "Tags": [{"Key": "k", "Value": "v"}]}),
            json!({"Name": "/a", "Value": "x".repeat(4097), "Type": "String"}),
        ];
        for body in cases {
            let (s, v, _) = w.call("PutParameter", body.clone());
            assert_eq!(s, 400, "{body}");
            assert_eq!(v["__type"], "ValidationException", "{body}");
        }
        let v = w.ok(
            "PutParameter",
            json!({"Name": "/big", "Value": "x".repeat(5000), "Type": "String", "Tier": "Intelligent-Tiering"}),
        );
        assert_eq!(v["Tier"], "Advanced");
    }

    #[test]
    fn describe_filters_and_paginates() {
        let mut w = World::new();
        for n in ["/live/a", "/live/b", "/live/deep/c", "/other/d", "plain"] {
            w.ok(
                "PutParameter",
                json!({"Name": n, "Value": "v", "Type": "String"}),
            );
        }
        let names = |v: &Value| -> Vec<String> {
            v["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["Name"].as_str().unwrap().to_string())
                .collect()
        };
        let f = |key: &str, option: &str, value: &str| json!({"ParameterFilters": [{"Key": key, "Option": option, "Values": [value]}]});
        let v = w.ok("DescribeParameters", f("Name", "BeginsWith", "/live/"));
        assert_eq!(names(&v), ["/live/a", "/live/b", "/live/deep/c"]);
        let v = w.ok("DescribeParameters", f("Name", "Equals", "/live/b"));
        assert_eq!(names(&v), ["/live/b"]);
        let v = w.ok("DescribeParameters", f("Path", "OneLevel", "/live"));
        assert_eq!(names(&v), ["/live/a", "/live/b"]);
        let v = w.ok("DescribeParameters", f("Path", "Recursive", "/live"));
        assert_eq!(names(&v).len(), 3);
        let (s, v, _) = w.call("DescribeParameters", f("Name", "Recursive", "/live"));
        assert_eq!(
            (s, v["__type"].as_str().unwrap()),
            (400, "InvalidFilterOption")
        );
        let (s, v, _) = w.call("DescribeParameters", f("Colour", "Equals", "x"));
        assert_eq!(
            (s, v["__type"].as_str().unwrap()),
            (400, "InvalidFilterKey")
        );

        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"MaxResults": 2});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let v = w.ok("DescribeParameters", body);
            all.extend(names(&v));
            match v.get("NextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(
            all,
            ["/live/a", "/live/b", "/live/deep/c", "/other/d", "plain"]
        );
        let (s, v, _) = w.call("DescribeParameters", json!({"NextToken": "xyz"}));
        assert_eq!(
            (s, v["__type"].as_str().unwrap()),
            (400, "InvalidNextToken")
        );
    }

    #[test]
    fn tags_add_remove_list() {
        let mut w = World::new();
        w.ok(
            "PutParameter",
            json!({"Name": "/p", "Value": "v", "Type": "String", "Tags": [{"Key": "a", "Value": "1"}]}),
        );
        let target = json!({"ResourceType": "Parameter", "ResourceId": "/p"});
        let mut add = target.clone();
        add["Tags"] = json!([{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "one"}]);
        w.ok("AddTagsToResource", add);
        let mut remove = target.clone();
        remove["TagKeys"] = json!(["b"]);
        w.ok("RemoveTagsFromResource", remove);
        let v = w.ok("ListTagsForResource", target);
        assert_eq!(v["TagList"], json!([{"Key": "a", "Value": "one"}]));
        let (s, v, _) = w.call(
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/nope"}),
        );
        assert_eq!(
            (s, v["__type"].as_str().unwrap()),
            (400, "InvalidResourceId")
        );
        let (s, v, _) = w.call(
            "ListTagsForResource",
            json!({"ResourceType": "Document", "ResourceId": "/p"}),
        );
        assert_eq!(
            (s, v["__type"].as_str().unwrap()),
            (400, "InvalidResourceType")
        );
        let v = w.ok(
            "PutParameter",
            json!({"Name": "/p", "Value": "w", "Overwrite": true}),
        );
        assert_eq!(v["Version"], 2);
        let v = w.ok(
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/p"}),
        );
        assert_eq!(
            v["TagList"].as_array().unwrap().len(),
            1,
            "overwrite keeps tags"
        );
    }

    #[test]
    fn delete_parameters_reports_both_lists() {
        let mut w = World::new();
        w.ok(
            "PutParameter",
            json!({"Name": "a", "Value": "v", "Type": "String"}),
        );
        let v = w.ok("DeleteParameters", json!({"Names": ["a", "b"]}));
        assert_eq!(
            v,
            json!({"DeletedParameters": ["a"], "InvalidParameters": ["b"]})
        );
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
