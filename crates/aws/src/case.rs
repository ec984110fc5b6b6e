//! PascalCase (the spec, as `aws ... describe-*` prints it) <-> lowerCamel (MediaLive's and
//! MediaPackage's restJson1 wire names).
//!
//! Every member of those two service models is sent as the lowerCamel form of its PascalCase
//! name (checked against botocore's `service-2.json` of both services: no `locationName`
//! exceptions). Only object *keys* are converted, recursively; values never are. A map-typed
//! value has user keys that must stay as they are: the shapes converted here (EncoderSettings,
//! InputAttachments, Destinations, InputSpecification, input Sources/Destinations, the
//! MediaPackage packages) hold no map, and `Tags` never goes through this module.

use serde_json::{Map, Value as Json};

/// `v` with every object key's first character lower-cased (PascalCase -> wire).
pub fn to_camel(v: &Json) -> Json {
    convert(v, &|c| c.to_ascii_lowercase())
}

/// `v` with every object key's first character upper-cased (wire -> PascalCase).
pub fn to_pascal(v: &Json) -> Json {
    convert(v, &|c| c.to_ascii_uppercase())
}

/// One key: its first character mapped.
pub fn key(k: &str, f: impl Fn(char) -> char) -> String {
    let mut chars = k.chars();
    match chars.next() {
        Some(first) => std::iter::once(f(first)).chain(chars).collect(),
        None => String::new(),
    }
}

fn convert(v: &Json, f: &dyn Fn(char) -> char) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (key(k, f), convert(v, f)))
                .collect::<Map<String, Json>>(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|v| convert(v, f)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pascal_to_camel_converts_nested_keys_not_values() {
        let spec = json!({
            "OutputGroups": [{
                "Name": "TN2224",
                "OutputGroupSettings": { "HlsGroupSettings": {
                    "Destination": { "DestinationRefId": "tn2224" },
                    "HlsCdnSettings": { "HlsWebdavSettings": { "HttpTransferMode": "NON_CHUNKED" } }
                } },
                "Outputs": [{ "OutputSettings": { "HlsOutputSettings": { "NameModifier": "_1080p" } } }]
            }],
            "TimecodeConfig": { "Source": "SYSTEMCLOCK" },
            "VideoDescriptions": [{ "CodecSettings": { "H264Settings": { "GopSize": 2.0, "Bitrate": 4100000 } } }]
        });
        let camel = to_camel(&spec);
        assert_eq!(
            camel,
            json!({
                "outputGroups": [{
                    "name": "TN2224",
                    "outputGroupSettings": { "hlsGroupSettings": {
                        "destination": { "destinationRefId": "tn2224" },
                        "hlsCdnSettings": { "hlsWebdavSettings": { "httpTransferMode": "NON_CHUNKED" } }
                    } },
                    "outputs": [{ "outputSettings": { "hlsOutputSettings": { "nameModifier": "_1080p" } } }]
                }],
                "timecodeConfig": { "source": "SYSTEMCLOCK" },
                "videoDescriptions": [{ "codecSettings": { "h264Settings": { "gopSize": 2.0, "bitrate": 4100000 } } }]
            })
        );
        assert_eq!(to_pascal(&camel), spec);
    }

    #[test]
    fn digits_and_acronyms_round_trip() {
        for (pascal, camel) in [
            ("H265Settings", "h265Settings"),
            ("Scte35SpliceInsert", "scte35SpliceInsert"),
            ("Id", "id"),
            ("AfdSignaling", "afdSignaling"),
            ("", ""),
        ] {
            assert_eq!(key(pascal, |c| c.to_ascii_lowercase()), camel);
            assert_eq!(key(camel, |c| c.to_ascii_uppercase()), pascal);
        }
    }

    #[test]
    fn scalars_and_order_are_kept() {
        let v = json!({ "B": [1, "X", null, true], "A": { "Z": 1.5 } });
        let keys: Vec<_> = to_camel(&v).as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(to_camel(&v)["b"], json!([1, "X", null, true]));
        assert_eq!(to_camel(&json!("Value")), json!("Value"));
    }
}
