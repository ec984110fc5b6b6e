//! The raw JSON of restJson1 calls, next to the SDK's typed builders and outputs.
//!
//! Why: a channel's EncoderSettings (and the other deep members: InputAttachments,
//! Destinations, a MediaPackage endpoint's package) is a tree of hundreds of SDK types the user
//! may write verbatim. Converting it by hand to builders and back would be thousands of lines
//! that drop whatever they do not know. Instead the typed builder carries the scalar members
//! (ids, names, enums, tags, the idempotency token) and [`patch`] adds the deep members to the
//! serialized body, camelCased, before signing; reads take the answer's body from [`Capture`]
//! and PascalCase it. The real SDK client still does endpoints, signing, retries, error
//! parsing and waiters.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Map, Value as Json};

/// Keeps the body of a successful answer (an operation-level interceptor: add it with
/// `.customize().interceptor(capture.clone())`). The orchestrator has read a non-streaming
/// body into memory before deserializing, so `read_after_deserialization` sees it whole.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl std::fmt::Debug for Capture {
    // The body can hold secrets (ingest passwords, stream keys): never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture(..)")
    }
}

impl Capture {
    /// The captured body as JSON (`{}` when there was none or it is not JSON).
    pub(crate) fn json(&self) -> Json {
        let body = self.0.lock().expect("capture lock").take();
        body.and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| Json::Object(Map::new()))
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "livestack-capture-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.output_or_error().is_ok() {
            if let Some(bytes) = context.response().body().bytes() {
                *self.0.lock().expect("capture lock") = Some(bytes.to_vec());
            }
        }
        Ok(())
    }
}

/// A `mutate_request` function that sets `members` (already in wire case) in the request's
/// JSON body and fixes Content-Length. Runs before signing, on every attempt.
pub(crate) fn patch(
    members: Map<String, Json>,
) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    move |req: &mut HttpRequest| {
        if members.is_empty() {
            return;
        }
        let mut body: Map<String, Json> = req
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        for (k, v) in &members {
            body.insert(k.clone(), v.clone());
        }
        let bytes = serde_json::to_vec(&Json::Object(body)).expect("json serializes");
        let len = bytes.len();
        *req.body_mut() = SdkBody::from(bytes);
        req.headers_mut().insert("content-length", len.to_string());
        if req.headers().get("content-type").is_none() {
            req.headers_mut().insert("content-type", "application/json");
        }
    }
}

/// The members `names` of a PascalCase spec, camelCased for the wire (absent ones skipped).
pub(crate) fn wire_members(spec: &Json, names: &[&str]) -> Map<String, Json> {
    names
        .iter()
        .filter_map(|n| {
            let v = spec.get(*n)?;
            Some((
                crate::case::key(n, |c| c.to_ascii_lowercase()),
                crate::case::to_camel(v),
            ))
        })
        .collect()
}

/// Every member of a PascalCase spec but `typed` (sent by the typed builder), camelCased.
pub(crate) fn rest_members(spec: &Json, typed: &[&str]) -> Map<String, Json> {
    let names: Vec<&str> = spec
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|k| !typed.contains(k))
        .collect();
    wire_members(spec, &names)
}

/// The members `names` of a wire answer object, PascalCased; `Tags` always present (a map,
/// keys untouched).
pub(crate) fn spec_of(raw: &Json, names: &[&str]) -> Json {
    let p = pascal_object(raw);
    let mut out = Map::new();
    for n in names {
        if *n == "Tags" {
            out.insert("Tags".into(), crate::tags::from_raw(raw.get("tags")));
        } else if let Some(v) = p.get(*n) {
            out.insert((*n).into(), v.clone());
        }
    }
    Json::Object(out)
}

/// A wire answer object PascalCased, except the keys under `tags` (user keys).
pub(crate) fn pascal_object(raw: &Json) -> Map<String, Json> {
    let mut out = Map::new();
    if let Json::Object(m) = raw {
        for (k, v) in m {
            let pk = crate::case::key(k, |c| c.to_ascii_uppercase());
            let v = if k == "tags" {
                v.clone()
            } else {
                crate::case::to_pascal(v)
            };
            out.insert(pk, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_replaces_members_and_fixes_content_length() {
        let mut req = HttpRequest::new(SdkBody::from(r#"{"name":"imday","encoderSettings":{}}"#));
        req.headers_mut().insert("content-length", "37");
        let spec = json!({ "EncoderSettings": { "TimecodeConfig": { "Source": "EMBEDDED" } }, "Name": "x" });
        let f = patch(wire_members(&spec, &["EncoderSettings", "Destinations"]));
        f(&mut req);
        f(&mut req); // a retry runs it again: same result
        let body: Json = serde_json::from_slice(req.body().bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({ "name": "imday", "encoderSettings": { "timecodeConfig": { "source": "EMBEDDED" } } })
        );
        let len = req.body().bytes().unwrap().len().to_string();
        assert_eq!(req.headers().get("content-length"), Some(len.as_str()));
    }

    #[test]
    fn pascal_object_keeps_tag_keys() {
        let raw = json!({ "name": "n", "tags": { "livestack:stack": "s", "env": "x" }, "inputSpecification": { "codec": "AVC" } });
        assert_eq!(
            Json::Object(pascal_object(&raw)),
            json!({ "Name": "n", "Tags": { "livestack:stack": "s", "env": "x" }, "InputSpecification": { "Codec": "AVC" } })
        );
    }
}
