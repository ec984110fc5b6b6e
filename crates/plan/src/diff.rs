//! The three-way field diff: desired (resolved), observed (cloud), applied (state).
//!
//! Only what the user wrote is compared, so members AWS fills with defaults are never a diff; a
//! member the user removed (in applied, not in desired) is; a member that differs from desired
//! while applied equals desired changed out of band: drift.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{map, Map, Value as Json};

/// One changed member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The member's path: object members dotted, elements of named arrays by their name
    /// (`EncoderSettings.OutputGroups["facebook"]`), others by position
    /// (`Destinations["mp"].Settings[1]`).
    pub path: String,
    /// What the cloud has (redacted); null when absent.
    pub before: Json,
    /// What the stack wants (redacted); null when removed.
    pub after: Json,
    /// Changed out of band: the state says livestack last set `after`.
    pub drift: bool,
    /// Changing it replaces the resource.
    pub forces_replacement: bool,
}

/// Resolves the `$ref`s and `$secret`s of a desired subtree (see `Builder::resolve`).
pub(crate) type Resolve<'r> = &'r dyn Fn(&Json) -> Json;

/// Diffs `desired` against `observed`, with `applied` (the last-applied spec, if any) telling
/// removals and drift apart.
pub(crate) fn diff(desired: &Json, observed: &Json, applied: Option<&Json>) -> Vec<FieldChange> {
    diff_resolving(desired, observed, applied, None)
}

/// With `resolve`, the diff of `resolve(desired)` against `observed`, made on `desired` as it
/// is, with its `$ref`/`$secret` placeholders: only the parts that hold one are copied to be
/// resolved, so a spec that matches is compared without a copy.
pub(crate) fn diff_resolving(
    desired: &Json,
    observed: &Json,
    applied: Option<&Json>,
    resolve: Option<Resolve<'_>>,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let path = &mut String::new();
    walk(desired, observed, applied, path, &mut out, resolve);
    out
}

/// `v` resolved: borrowed when nothing in it needs resolving.
fn resolved<'v>(v: &'v Json, resolve: Option<Resolve<'_>>) -> Cow<'v, Json> {
    match resolve {
        Some(resolve) if holds_reference(v) => Cow::Owned(resolve(v)),
        _ => Cow::Borrowed(v),
    }
}

/// Member `key` of `m`. The specs compared hold their members in the same order, mostly: it
/// is first looked for where `next` (the members after the last one found) starts.
fn member<'m>(m: &'m Map<String, Json>, next: &mut map::Iter<'m>, key: &str) -> Option<&'m Json> {
    let mut peek = next.clone();
    match peek.next() {
        Some((k, v)) if k == key => {
            *next = peek;
            Some(v)
        }
        _ => m.get(key),
    }
}

/// A `{"$ref": ..}` or `{"$secret": ..}` placeholder.
pub(crate) fn is_reference(v: &Json) -> bool {
    has_member(v, |k| k == "$ref" || k == "$secret")
}

/// Whether `v` is or holds a reference placeholder.
fn holds_reference(v: &Json) -> bool {
    match v {
        Json::Object(m) => m
            .iter()
            .any(|(k, v)| is_placeholder_key(k, &["$ref", "$secret"]) || holds_reference(v)),
        Json::Array(a) => a.iter().any(holds_reference),
        _ => false,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `path["key"]`: an element of an array of named objects.
fn keyed(path: &str, key: &str) -> String {
    format!("{path}[{}]", Json::String(key.to_string()))
}

/// `path[i]`: an element of an array without names.
fn indexed(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The members that name an array's elements, in the order they are tried.
const KEYS: &[&str] = &["Name", "OutputName", "InputAttachmentName", "Id", "Cidr"];

/// The member that names every element of these arrays, once each (none when an element has
/// no such name or two share one: those arrays are compared by position).
fn common_key(arrays: &[&[Json]]) -> Option<&'static str> {
    if arrays.iter().all(|a| a.is_empty()) {
        return None;
    }
    KEYS.iter().copied().find(|k| {
        arrays.iter().all(|a| {
            let mut names = Vec::with_capacity(a.len());
            for e in *a {
                match field(e, k).and_then(Json::as_str) {
                    Some(n) if !n.is_empty() => names.push(n),
                    _ => return false,
                }
            }
            names.sort_unstable();
            names.windows(2).all(|w| w[0] != w[1])
        })
    })
}

/// The name `key` gives an element of a named array.
fn name<'e>(e: &'e Json, key: &str) -> &'e str {
    field(e, key).and_then(Json::as_str).unwrap_or_default()
}

fn named<'a>(a: &'a [Json], key: &str, name: &str) -> Option<&'a Json> {
    a.iter()
        .find(|e| field(e, key).and_then(Json::as_str) == Some(name))
}

/// Member `key` of an array element, looked for name by name: they have few members.
fn field<'e>(e: &'e Json, key: &str) -> Option<&'e Json> {
    e.as_object()?
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// `path` is where `desired` sits; it is extended in place for members and restored after.
fn walk(
    desired: &Json,
    observed: &Json,
    applied: Option<&Json>,
    path: &mut String,
    out: &mut Vec<FieldChange>,
    resolve: Option<Resolve<'_>>,
) {
    if let Some(r) = resolve.filter(|_| is_reference(desired)) {
        // What a placeholder resolves to holds none.
        return walk(&r(desired), observed, applied, path, out, None);
    }
    if is_placeholder(desired) || is_placeholder(observed) {
        let desired = resolved(desired, resolve);
        if !same(&desired, observed) {
            out.push(change(path, observed, &desired, applied));
        }
        return;
    }
    match (desired, observed) {
        (Json::Object(d), Json::Object(o)) => {
            let mut o_next = o.iter();
            let mut a_next = applied.and_then(Json::as_object).map(|a| (a, a.iter()));
            for (k, dv) in d {
                let ov = member(o, &mut o_next, k).unwrap_or(&Json::Null);
                let av = a_next.as_mut().and_then(|(a, next)| member(a, next, k));
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(dv, ov, av, path, out, resolve);
                path.truncate(len);
            }
            // Members the user removed since the last apply.
            if let Some(Json::Object(a)) = applied {
                let mut d_next = d.iter();
                for (k, _) in a
                    .iter()
                    .filter(|(k, _)| member(d, &mut d_next, k).is_none())
                {
                    let ov = o.get(k).unwrap_or(&Json::Null);
                    if !is_empty(ov) {
                        out.push(FieldChange {
                            path: join(path, k),
                            before: ov.clone(),
                            after: Json::Null,
                            drift: false,
                            forces_replacement: false,
                        });
                    }
                }
            }
        }
        (Json::Array(d), Json::Array(o)) if !d.is_empty() && !o.is_empty() => {
            // Elements are matched by their names: resolved whole before.
            let d: Cow<[Json]> = match resolve {
                Some(r) if d.iter().any(holds_reference) => d.iter().map(r).collect(),
                _ => Cow::Borrowed(d),
            };
            let a = applied.and_then(Json::as_array).map(Vec::as_slice);
            walk_array(&d, o, a, path, out);
        }
        _ => {
            let desired = resolved(desired, resolve);
            if !same(&desired, observed) {
                out.push(change(path, observed, &desired, applied));
            }
        }
    }
}

/// Arrays of named objects are matched by name (an element added, removed, or changed
/// member by member; a new order of the same names is one change of the whole array); other
/// arrays position by position, with the elements one has beyond the other added or removed.
fn walk_array(d: &[Json], o: &[Json], a: Option<&[Json]>, path: &str, out: &mut Vec<FieldChange>) {
    if let Some(key) = common_key(&[d, o]) {
        for dv in d {
            let n = name(dv, key);
            let av = a.and_then(|a| named(a, key, n));
            match named(o, key, n) {
                Some(ov) => walk(dv, ov, av, &mut keyed(path, n), out, None),
                None => out.push(change(&keyed(path, n), &Json::Null, dv, av)),
            }
        }
        for ov in o {
            let n = name(ov, key);
            if named(d, key, n).is_none() {
                out.push(FieldChange {
                    path: keyed(path, n),
                    before: ov.clone(),
                    after: Json::Null,
                    drift: false,
                    forces_replacement: false,
                });
            }
        }
        let reordered = d.len() == o.len()
            && !d
                .iter()
                .map(|e| name(e, key))
                .eq(o.iter().map(|e| name(e, key)))
            && d.iter()
                .all(|dv| o.iter().any(|ov| name(ov, key) == name(dv, key)));
        if reordered {
            let order = |x: &[Json]| Json::from(x.iter().map(|e| name(e, key)).collect::<Vec<_>>());
            out.push(FieldChange {
                path: format!("{path} (order)"),
                before: order(o),
                after: order(d),
                drift: false,
                forces_replacement: false,
            });
        }
        return;
    }
    for (i, dv) in d.iter().enumerate() {
        let av = a.and_then(|a| a.get(i));
        match o.get(i) {
            Some(ov) => walk(dv, ov, av, &mut indexed(path, i), out, None),
            None => out.push(change(&indexed(path, i), &Json::Null, dv, av)),
        }
    }
    for (i, ov) in o.iter().enumerate().skip(d.len()) {
        if !is_empty(ov) {
            out.push(FieldChange {
                path: indexed(path, i),
                before: ov.clone(),
                after: Json::Null,
                drift: false,
                forces_replacement: false,
            });
        }
    }
}

fn change(path: &str, observed: &Json, desired: &Json, applied: Option<&Json>) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        before: observed.clone(),
        after: desired.clone(),
        drift: applied.is_some_and(|a| same(a, desired) && !is_unknown(desired)),
        forces_replacement: false,
    }
}

/// `{"$unknown": ..}` and `{"$sensitive": ..}` are compared whole.
fn is_placeholder(v: &Json) -> bool {
    has_member(v, |k| k == "$unknown" || k == "$sensitive")
}

pub(crate) fn is_unknown(v: &Json) -> bool {
    has_member(v, |k| k == "$unknown")
}

/// Whether `v` is an object with a member `is` picks (a look at each name costs less than
/// hashing one, for the few members of these objects). Only `$` names are placeholders: the
/// first byte rules out every member name AWS uses without comparing the rest.
fn has_member(v: &Json, is: impl Fn(&str) -> bool) -> bool {
    v.as_object()
        .is_some_and(|m| m.keys().any(|k| k.starts_with('$') && is(k)))
}

/// Whether `k` is one of the placeholder names `names` (all of which start with `$`).
fn is_placeholder_key(k: &str, names: &[&str]) -> bool {
    k.starts_with('$') && names.contains(&k)
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Equality as a user means it: absent, null, "", [] and {} are alike; 2 and 2.0 are equal;
/// a desired object matches an observed one holding at least its members.
pub(crate) fn same(desired: &Json, observed: &Json) -> bool {
    if is_unknown(desired) || is_unknown(observed) {
        return false;
    }
    match (desired, observed) {
        (a, b) if is_empty(a) && is_empty(b) => true,
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Object(d), Json::Object(o)) => d
            .iter()
            .all(|(k, dv)| same(dv, o.get(k).unwrap_or(&Json::Null))),
        (Json::Array(d), Json::Array(o)) => {
            d.len() == o.len() && d.iter().zip(o).all(|(a, b)| same(a, b))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_defaults_are_not_a_diff() {
        let d = json!({"HlsPackage": {"SegmentDurationSeconds": 6}});
        let o =
            json!({"HlsPackage": {"SegmentDurationSeconds": 6, "AdMarkers": "NONE"}, "Url": "x"});
        assert!(diff(&d, &o, None).is_empty());
    }

    #[test]
    fn a_member_the_user_removed_is_a_diff() {
        let d = json!({"Id": "a"});
        let a = json!({"Id": "a", "Description": "old"});
        let o = json!({"Id": "a", "Description": "old"});
        let c = diff(&d, &o, Some(&a));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "Description");
        assert_eq!(c[0].after, Json::Null);
    }

    #[test]
    fn drift_is_flagged_when_state_matches_desired() {
        let d = json!({"Sources": [{"Url": "a"}]});
        let o = json!({"Sources": [{"Url": "b"}]});
        let c = diff(&d, &o, Some(&d));
        assert_eq!(c[0].path, "Sources[0].Url");
        assert!(c[0].drift);
        let c = diff(&d, &o, Some(&o));
        assert!(!c[0].drift);
    }

    #[test]
    fn named_elements_are_matched_by_name() {
        let o = json!({"OutputGroups": [
            {"Name": "hls", "Outputs": [{"OutputName": "720p", "Bitrate": 3000000}]},
        ]});
        let d = json!({"OutputGroups": [
            {"Name": "hls", "Outputs": [{"OutputName": "720p", "Bitrate": 3200000}]},
            {"Name": "facebook", "Outputs": []},
        ]});
        let c = diff(&d, &o, None);
        let paths: Vec<&str> = c.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                r#"OutputGroups["hls"].Outputs["720p"].Bitrate"#,
                r#"OutputGroups["facebook"]"#
            ]
        );
        assert_eq!(c[1].before, Json::Null);
        // Removed, and a new order of the same names.
        let c = diff(
            &json!({"G": [{"Name": "b"}, {"Name": "a"}]}),
            &json!({"G": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}),
            None,
        );
        let paths: Vec<&str> = c.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [r#"G["c"]"#]);
        let c = diff(
            &json!({"G": [{"Name": "b"}, {"Name": "a"}]}),
            &json!({"G": [{"Name": "a"}, {"Name": "b"}]}),
            None,
        );
        assert_eq!(c[0].path, "G (order)");
    }

    #[test]
    fn unnamed_elements_beyond_the_other_array_are_added_or_removed() {
        let o = json!({"Destinations": [{"Id": "mp", "Settings": [{"Url": "a"}, {"Url": "b"}]}]});
        let d = json!({"Destinations": [{"Id": "mp", "Settings": [{"Url": "a"}]}]});
        let c = diff(&d, &o, None);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, r#"Destinations["mp"].Settings[1]"#);
        assert_eq!(c[0].after, Json::Null);
    }

    #[test]
    fn numbers_and_empties_compare_as_users_mean() {
        assert!(same(&json!(2), &json!(2.0)));
        assert!(same(&json!([]), &Json::Null));
        assert!(!same(&json!("a"), &json!("b")));
    }
}
