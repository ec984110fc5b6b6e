//! Tags: a map in specs (`"Tags": {"k": "v"}`), whatever each service wants on the wire.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

/// The `Tags` member of a spec (absent or malformed: none).
pub(crate) fn of(spec: &Json) -> HashMap<String, String> {
    spec.get("Tags")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// What to set (added or changed) and what to remove to go from `current` to `desired`.
/// Both sorted, so calls are reproducible.
pub(crate) struct Diff {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl Diff {
    pub(crate) fn new(current: &Json, desired: &Json) -> Diff {
        let (cur, want) = (of(current), of(desired));
        let mut set: Vec<_> = want
            .iter()
            .filter(|(k, v)| cur.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        set.sort();
        let mut remove: Vec<_> = cur
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        remove.sort();
        Diff { set, remove }
    }

    pub(crate) fn set_map(&self) -> HashMap<String, String> {
        self.set.iter().cloned().collect()
    }
}

/// Tags as a spec member (sorted by key).
/// `spec`'s Tags as an observed spec holds them.
pub(crate) fn desired(spec: &Json) -> Json {
    to_json(of(spec).iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub(crate) fn to_json<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Json {
    let mut v: Vec<_> = pairs.into_iter().collect();
    v.sort();
    Json::Object(
        v.into_iter()
            .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// A wire `tags` object (raw JSON answer) as a spec member, keys untouched.
pub(crate) fn from_raw(raw: Option<&Json>) -> Json {
    match raw.and_then(Json::as_object) {
        Some(m) => to_json(
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        ),
        None => Json::Object(Map::new()),
    }
}

/// The address of a resource whose tags say it belongs to `stack` and is of `kind`.
pub(crate) fn owned(
    tags: Option<&HashMap<String, String>>,
    stack: &str,
    kind: livestack_model::Kind,
) -> Option<livestack_model::Address> {
    let tags = tags?;
    if tags.get(livestack_model::STACK_TAG).map(String::as_str) != Some(stack) {
        return None;
    }
    let address = livestack_model::Address::parse(tags.get(livestack_model::ADDRESS_TAG)?)?;
    (address.kind == kind).then_some(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_sets_changed_and_new_and_removes_gone() {
        let cur = json!({ "Tags": { "a": "1", "b": "2", "c": "3" } });
        let want = json!({ "Tags": { "a": "1", "b": "20", "d": "4" } });
        let d = Diff::new(&cur, &want);
        assert_eq!(d.set, [("b".into(), "20".into()), ("d".into(), "4".into())]);
        assert_eq!(d.remove, ["c"]);
        let none = Diff::new(&want, &want);
        assert!(none.set.is_empty() && none.remove.is_empty());
    }
}
