//! The raw layer: the TOML document as an owned tree where every key and value keeps its byte
//! span, and a reader that takes keys out of a table while recording every problem (missing,
//! wrong type, unknown key) instead of stopping at the first.

use std::ops::Range;

use crate::{Diagnostic, Span};

/// A TOML value with its span.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(#[allow(dead_code)] f64),
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<(Key, Node)>),
}

/// A table key with its span.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime => "a datetime",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses `text` into a tree. A syntax error is one diagnostic at its position.
pub(crate) fn parse(text: &str) -> Result<Node, Diagnostic> {
    match toml::de::DeTable::parse(text) {
        Ok(table) => {
            let span = to_span(table.span());
            Ok(Node {
                span,
                value: Value::Table(convert_table(table.get_ref())),
            })
        }
        Err(e) => {
            let span = e.span().map(to_span).unwrap_or(Span { start: 0, end: 0 });
            let message = e.message().lines().next().unwrap_or("invalid TOML").trim();
            Err(Diagnostic::new(span, format!("invalid TOML: {message}")))
        }
    }
}

fn to_span(r: Range<usize>) -> Span {
    Span {
        start: r.start,
        end: r.end,
    }
}

fn convert_table(t: &toml::de::DeTable<'_>) -> Vec<(Key, Node)> {
    t.iter()
        .map(|(k, v)| {
            (
                Key {
                    name: k.get_ref().to_string(),
                    span: to_span(k.span()),
                },
                convert(v),
            )
        })
        .collect()
}

fn convert(v: &toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let value = match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Int(n),
            // Out of i64 range: keep it as a float so range checks report it.
            Err(_) => Value::Float(f64::INFINITY),
        },
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(_) => Value::Datetime,
        DeValue::Array(a) => Value::Array(a.iter().map(convert).collect()),
        DeValue::Table(t) => Value::Table(convert_table(t)),
    };
    Node {
        span: to_span(v.span()),
        value,
    }
}

/// Reads the keys of one table, recording problems in `diags`. Call [`Table::finish`] to report
/// the keys nobody asked for.
pub(crate) struct Table<'a> {
    pub span: Span,
    entries: &'a [(Key, Node)],
    taken: Vec<bool>,
    /// What the table is, for messages: "medialive_channel.imday".
    pub what: String,
}

impl<'a> Table<'a> {
    pub fn new(
        node: &'a Node,
        what: impl Into<String>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Self> {
        let what = what.into();
        match &node.value {
            Value::Table(entries) => Some(Table {
                span: node.span,
                entries,
                taken: vec![false; entries.len()],
                what,
            }),
            _ => {
                diags.push(Diagnostic::new(
                    node.span,
                    format!("{what} must be a table, found {}", node.type_name()),
                ));
                None
            }
        }
    }

    /// The raw node of `key`, marking it as known.
    pub fn get(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.taken[i] = true;
        Some(&self.entries[i].1)
    }

    pub fn req<T>(
        &mut self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
        f: impl Fn(&'a Node, &mut Vec<Diagnostic>) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some(n) => f(n, diags),
            None => {
                diags.push(
                    Diagnostic::new(
                        self.span,
                        format!("{}: missing required key `{key}`", self.what),
                    )
                    .at_table_header(),
                );
                None
            }
        }
    }

    pub fn opt<T>(
        &mut self,
        key: &str,
        diags: &mut Vec<Diagnostic>,
        f: impl Fn(&'a Node, &mut Vec<Diagnostic>) -> Option<T>,
    ) -> Option<T> {
        self.get(key).and_then(|n| f(n, diags))
    }

    /// Reports every key not taken, with a "did you mean" hint among `known`.
    pub fn finish(&self, known: &[&str], diags: &mut Vec<Diagnostic>) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if !self.taken[i] {
                let mut d =
                    Diagnostic::new(k.span, format!("{}: unknown key `{}`", self.what, k.name));
                d.hint = Some(match closest(&k.name, known) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("known keys: {}", known.join(", ")),
                });
                diags.push(d);
            }
        }
    }
}

/// The known word closest to `word`, when it is close enough to be a likely typo.
pub(crate) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

// Typed readers: each reports a wrong type as a diagnostic at the value.

pub(crate) fn string(n: &Node, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match &n.value {
        Value::Str(s) => Some(s.clone()),
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected a string, found {}", n.type_name()),
            ));
            None
        }
    }
}

pub(crate) fn boolean(n: &Node, diags: &mut Vec<Diagnostic>) -> Option<bool> {
    match &n.value {
        Value::Bool(b) => Some(*b),
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected true or false, found {}", n.type_name()),
            ));
            None
        }
    }
}

/// An integer within `min..=max`.
pub(crate) fn int_in(min: i64, max: i64) -> impl Fn(&Node, &mut Vec<Diagnostic>) -> Option<i64> {
    move |n, diags| match &n.value {
        Value::Int(i) if (min..=max).contains(i) => Some(*i),
        Value::Int(i) => {
            diags.push(Diagnostic::new(
                n.span,
                format!("{i} is out of range: expected {min} to {max}"),
            ));
            None
        }
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected an integer, found {}", n.type_name()),
            ));
            None
        }
    }
}

/// One of `choices`, case-sensitive.
pub(crate) fn one_of(
    choices: &'static [&'static str],
) -> impl Fn(&Node, &mut Vec<Diagnostic>) -> Option<String> {
    move |n, diags| {
        let s = string(n, diags)?;
        if choices.contains(&s.as_str()) {
            Some(s)
        } else {
            let mut d = Diagnostic::new(
                n.span,
                format!("`{s}` is not one of: {}", choices.join(", ")),
            );
            let lower = s.to_ascii_lowercase();
            d.hint = choices
                .iter()
                .find(|c| **c == lower)
                .or_else(|| {
                    closest(&s, choices)
                        .as_ref()
                        .and_then(|c| choices.iter().find(|x| *x == c))
                })
                .map(|c| format!("did you mean `{c}`?"));
            diags.push(d);
            None
        }
    }
}

pub(crate) fn array<'n>(n: &'n Node, diags: &mut Vec<Diagnostic>) -> Option<&'n [Node]> {
    match &n.value {
        Value::Array(a) => Some(a),
        _ => {
            diags.push(Diagnostic::new(
                n.span,
                format!("expected an array, found {}", n.type_name()),
            ));
            None
        }
    }
}

pub(crate) fn strings(n: &Node, diags: &mut Vec<Diagnostic>) -> Option<Vec<(String, Span)>> {
    let items = array(n, diags)?;
    let mut out = Vec::new();
    let mut ok = true;
    for it in items {
        match string(it, diags) {
            Some(s) => out.push((s, it.span)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A string kept with its span (for later reference checks).
pub(crate) fn spanned_string(n: &Node, diags: &mut Vec<Diagnostic>) -> Option<(String, Span)> {
    string(n, diags).map(|s| (s, n.span))
}
