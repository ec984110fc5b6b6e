//! A JSON Schema of the stack file, for editors (taplo, Even Better TOML): every table and key
//! the model accepts ([`crate::reference`]), each key's type, enum, default and description
//! taken from the README's stack file reference, the same rows users read. The README and the
//! model cannot disagree on a key (`tests/reference.rs`); the type column is read here as
//! loosely as it is written: a type this reader does not recognise constrains nothing, so
//! the schema never refuses a file `validate` accepts (`tests/schema.rs` checks both ways on
//! the examples and on the convergence suite's generated stacks).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use crate::{reference, Kind};

/// The README, whose `## Stack file reference` is read.
const README: &str = include_str!("../../../README.md");

/// One row of the reference: a key of a table.
struct Row {
    key: String,
    ty: String,
    required: bool,
    default: String,
    member: String,
}

/// The rows of each table path of the README's reference (a heading naming several paths
/// gives each of them the rows).
fn rows() -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let Some(start) = README.find("## Stack file reference") else {
        return out;
    };
    let section = &README[start..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut paths: Vec<String> = Vec::new();
    for line in section.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            paths = h
                .split(", ")
                .map(|p| p.trim().trim_matches('`').to_string())
                .collect();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| key | type | required | default | member |`: 7 pieces with the outer empties.
        if cells.len() != 7 || !cells[1].starts_with('`') {
            continue;
        }
        for p in &paths {
            out.entry(p.clone()).or_default().push(Row {
                key: cells[1].trim_matches('`').to_string(),
                ty: cells[2].to_string(),
                required: cells[3] == "yes",
                default: cells[4].to_string(),
                member: cells[5].to_string(),
            });
        }
    }
    out
}

/// The literals written in backticks in `text`, as JSON values (`"hls"` a string, `25` a
/// number); what is not a JSON literal is left out.
fn literals(text: &str) -> Vec<Json> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|t| serde_json::from_str::<Json>(t).ok())
        .filter(|v| v.is_string() || v.is_number() || v.is_boolean())
        .collect()
}

/// `N to M` in `text`: the bounds of a number.
fn bounds(text: &str) -> Option<(f64, f64)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(3).find_map(|w| {
        let n = |s: &str| s.trim_end_matches([',', ';']).parse::<f64>().ok();
        (w[1] == "to").then(|| Some((n(w[0])?, n(w[2])?)))?
    })
}

/// The schema of one key from its type cell; `table(path)` gives the schema of a table the
/// key holds (`table (below)`), `path` being where that table is in the reference.
fn key_schema(path: &str, row: &Row, table: &mut dyn FnMut(&str) -> Json) -> Json {
    let ty = row.ty.as_str();
    let child = |suffix: &str| format!("{path}.{}{suffix}", row.key);
    let mut s = if ty.starts_with("array of tables") {
        json!({ "type": "array", "items": table(&child("[]")) })
    } else if ty.starts_with("table (below)") {
        table(&child(""))
    } else if ty.starts_with("table") {
        json!({ "type": "object", "additionalProperties": { "type": "string" } })
    } else if ty.starts_with("array of integers") {
        json!({ "type": "array", "items": { "type": "integer" } })
    } else if ty.starts_with("array of") {
        json!({ "type": "array", "items": { "type": "string" } })
    } else if ty.starts_with("one of `") && !ty.contains("attachment's") {
        let mut values = literals(ty.split(';').next().unwrap_or(ty));
        if ty.contains("number or string") {
            // `framerate = 25` or `"25"`.
            let strings: Vec<Json> = values
                .iter()
                .filter(|v| v.is_number())
                .map(|v| Json::String(v.to_string()))
                .collect();
            values.extend(strings);
        }
        json!({ "enum": values })
    } else if ty.starts_with("`\"") && literals(ty).len() == 1 {
        json!({ "enum": literals(ty) })
    } else if ty == "boolean" {
        json!({ "type": "boolean" })
    } else if ty.starts_with("integer") || ty.starts_with("even integer") {
        let mut s = json!({ "type": "integer" });
        if let Some((lo, hi)) = bounds(ty) {
            s["minimum"] = json!(lo as i64);
            s["maximum"] = json!(hi as i64);
        }
        s
    } else if ty.starts_with("number") {
        let mut s = json!({ "type": "number" });
        if let Some((lo, hi)) = bounds(ty) {
            s["minimum"] = json!(lo);
            s["maximum"] = json!(hi);
        }
        s
    } else if ty.starts_with("ISO 639-2") {
        json!({ "type": "string", "pattern": "^[a-z]{3}$" })
    } else if ty.starts_with("reference to") {
        json!({ "type": "string", "pattern": "^[a-z_]+\\.[A-Za-z0-9][A-Za-z0-9_-]*$" })
    } else if ty.starts_with("string") || ty.contains("URL") || ty.starts_with("six hex") {
        json!({ "type": "string" })
    } else {
        // Read loosely: nothing this reader cannot be sure of is refused.
        json!({})
    };
    let mut description = row.member.clone();
    if row.default != "—" && !row.default.is_empty() {
        description.push_str(&format!(" (default: {})", row.default));
    }
    if let Some(o) = s.as_object_mut() {
        o.insert("description".into(), Json::String(description));
        if let [v] = literals(&row.default).as_slice() {
            o.insert("default".into(), v.clone());
        }
    }
    s
}

/// The JSON Schema (draft 2020-12) of a stack file.
pub fn schema() -> Json {
    let rows = rows();
    let keys: BTreeMap<&str, &[&str]> = reference().iter().map(|t| (t.path, t.keys)).collect();
    // Build each table from its rows, for the keys the model accepts, in the model's order.
    fn table(
        path: &str,
        rows: &BTreeMap<String, Vec<Row>>,
        keys: &BTreeMap<&str, &[&str]>,
    ) -> Json {
        let mut properties = Map::new();
        let mut required = Vec::new();
        let own = rows.get(path).map(Vec::as_slice).unwrap_or_default();
        // "As the group's": a rendition's key reads its group's row.
        let group = rows.get("medialive_channel.<label>.output_groups[]");
        for key in keys.get(path).copied().unwrap_or_default() {
            let Some(row) = own.iter().find(|r| r.key == *key) else {
                properties.insert(key.to_string(), json!({}));
                continue;
            };
            let source = match (row.ty.starts_with("as the group's"), group) {
                (true, Some(g)) => g.iter().find(|r| r.key == *key).unwrap_or(row),
                _ => row,
            };
            let mut nested = |p: &str| table(p, rows, keys);
            let mut s = key_schema(path, source, &mut nested);
            if !std::ptr::eq(source, row) {
                // The group's type; this key's own words, and no default (it is the group's).
                s["description"] = Json::String(row.member.clone());
                if let Some(o) = s.as_object_mut() {
                    o.remove("default");
                }
            }
            properties.insert(key.to_string(), s);
            if row.required {
                required.push(json!(key));
            }
        }
        let mut t = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            t["required"] = Json::Array(required);
        }
        t
    }
    let mut top = Map::new();
    top.insert("stack".into(), table("stack", &rows, &keys));
    top.insert(
        "ladder".into(),
        json!({
            "type": "object",
            "description": "Custom ABR ladders, used by name as `ladder = \"<name>\"`",
            "additionalProperties": table("ladder.<name>", &rows, &keys),
        }),
    );
    for kind in Kind::ALL.into_iter().filter(|k| k.user_written()) {
        let path = format!("{kind}.<label>");
        top.insert(
            kind.as_str().into(),
            json!({
                "type": "object",
                "description": format!("[{kind}.<label>] tables"),
                "propertyNames": { "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$" },
                "additionalProperties": table(&path, &rows, &keys),
            }),
        );
    }
    top.insert(
        "moved".into(),
        json!({ "type": "array", "items": table("moved[]", &rows, &keys) }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "livestack stack file",
        "description": "MediaLive and MediaPackage topologies for livestack (README: Stack file reference)",
        "type": "object",
        "properties": top,
        "required": ["stack"],
        "additionalProperties": false,
    })
}
