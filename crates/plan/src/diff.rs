//! The three-way field diff: desired (resolved), observed (cloud), applied (state).
//!
//! Only what the user wrote is compared, so members AWS fills with defaults are never a diff; a
//! member the user removed (in applied, not in desired) is; a member that differs from desired
//! while applied equals desired changed out of band: drift.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One changed member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path with numeric indices: `EncoderSettings.OutputGroups`.
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

/// Diffs `desired` against `observed`, with `applied` (the last-applied spec, if any) telling
/// removals and drift apart.
pub fn diff(desired: &Json, observed: &Json, applied: Option<&Json>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(desired, observed, applied, String::new(), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(
    desired: &Json,
    observed: &Json,
    applied: Option<&Json>,
    path: String,
    out: &mut Vec<FieldChange>,
) {
    if is_placeholder(desired) || is_placeholder(observed) {
        if !same(desired, observed) {
            out.push(change(&path, observed, desired, applied));
        }
        return;
    }
    match (desired, observed) {
        (Json::Object(d), Json::Object(o)) => {
            for (k, dv) in d {
                let ov = o.get(k).unwrap_or(&Json::Null);
                let av = applied.and_then(|a| a.get(k));
                walk(dv, ov, av, join(&path, k), out);
            }
            // Members the user removed since the last apply.
            if let Some(Json::Object(a)) = applied {
                for (k, _) in a.iter().filter(|(k, _)| !d.contains_key(*k)) {
                    let ov = o.get(k).unwrap_or(&Json::Null);
                    if !is_empty(ov) {
                        out.push(FieldChange {
                            path: join(&path, k),
                            before: ov.clone(),
                            after: Json::Null,
                            drift: false,
                            forces_replacement: false,
                        });
                    }
                }
            }
        }
        (Json::Array(d), Json::Array(o)) if d.len() == o.len() => {
            for (i, (dv, ov)) in d.iter().zip(o).enumerate() {
                let av = applied.and_then(|a| a.get(i));
                walk(dv, ov, av, join(&path, &i.to_string()), out);
            }
        }
        _ => {
            if !same(desired, observed) {
                out.push(change(&path, observed, desired, applied));
            }
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
    v.get("$unknown").is_some() || v.get("$sensitive").is_some()
}

pub(crate) fn is_unknown(v: &Json) -> bool {
    v.get("$unknown").is_some()
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
        assert_eq!(c[0].path, "Sources.0.Url");
        assert!(c[0].drift);
        let c = diff(&d, &o, Some(&o));
        assert!(!c[0].drift);
    }

    #[test]
    fn numbers_and_empties_compare_as_users_mean() {
        assert!(same(&json!(2), &json!(2.0)));
        assert!(same(&json!([]), &Json::Null));
        assert!(!same(&json!("a"), &json!("b")));
    }
}
