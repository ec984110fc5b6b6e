//! The stacks measured: the workshop's sections 1 and 3 as the examples hold them, and N
//! copies of section 1 made from the example itself.

use std::path::Path;

use anyhow::{Context, Result};
use livestack_model::ValidatedStack;
use toml::{Table, Value};

/// Section 1 (examples/s3-loop.toml).
pub const SECTION_1: &str = include_str!("../../../examples/s3-loop.toml");
/// Section 3: section 1 edited (examples/s3-loop-facebook.toml); its stream key comes from
/// `FACEBOOK_STREAM_KEY`.
pub const SECTION_3: &str = include_str!("../../../examples/s3-loop-facebook.toml");

/// A stack file's text, validated.
pub fn parse(name: &str, text: &str) -> Result<ValidatedStack> {
    livestack_model::parse(Path::new(name), text)
        .with_context(|| format!("{name} is not a valid stack"))
}

/// `n` copies of section 1 sharing its role: copy `i` of every other resource has `-i` added
/// to its label, its `id` and its `name`, and its references follow.
pub fn copies(n: usize) -> Result<ValidatedStack> {
    let doc: Table = SECTION_1
        .parse()
        .context("examples/s3-loop.toml is not TOML")?;
    let mut out = Table::new();
    let mut copied: Vec<(&str, &Table)> = Vec::new();
    for (key, v) in &doc {
        match key.as_str() {
            "stack" | "iam_role" => {
                out.insert(key.clone(), v.clone());
            }
            kind => copied.push((
                kind,
                v.as_table()
                    .with_context(|| format!("[{kind}] is not a table"))?,
            )),
        }
    }
    for i in 0..n {
        let rename = |s: &str| {
            let (kind, label) = s.split_once('.')?;
            copied
                .iter()
                .any(|(k, labels)| *k == kind && labels.contains_key(label))
                .then(|| format!("{s}-{i}"))
        };
        for (kind, labels) in &copied {
            let dst = out
                .entry(kind.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            let Value::Table(dst) = dst else {
                unreachable!("inserted as a table")
            };
            for (label, body) in labels.iter() {
                let mut body = follow(body, &rename);
                if let Value::Table(t) = &mut body {
                    for field in ["id", "name"] {
                        if let Some(Value::String(s)) = t.get_mut(field) {
                            s.push_str(&format!("-{i}"));
                        }
                    }
                }
                dst.insert(format!("{label}-{i}"), body);
            }
        }
    }
    let text = toml::to_string(&out).context("writing the copies as TOML")?;
    parse("copies.toml", &text)
}

/// `v` with every string that is an address `rename` knows replaced by its new name.
fn follow(v: &Value, rename: &impl Fn(&str) -> Option<String>) -> Value {
    match v {
        Value::String(s) => Value::String(rename(s).unwrap_or_else(|| s.clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| follow(x, rename)).collect()),
        Value::Table(t) => Value::Table(
            t.iter()
                .map(|(k, x)| (k.clone(), follow(x, rename)))
                .collect(),
        ),
        other => other.clone(),
    }
}
