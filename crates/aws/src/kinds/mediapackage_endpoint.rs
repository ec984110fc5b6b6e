//! `mediapackage_endpoint`: CreateOriginEndpoint, DescribeOriginEndpoint,
//! ListOriginEndpoints, UpdateOriginEndpoint (sent whole), DeleteOriginEndpoint.

use aws_sdk_mediapackage::types::Origination;
use aws_sdk_mediapackage::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Value as Json};

use super::{described, only, strings, Calls, Found, Listed, Made, Retag};
use crate::error::{self, Error};
use crate::mediapackage::{reconcile_tags, unexpected, LIST_PAGE};
use crate::raw::{self, Capture};
use crate::{str_member, tags, Clients};

pub(crate) struct MediapackageEndpoint;

impl Calls for MediapackageEndpoint {
    async fn read(&self, c: &Clients, res: &str, id: &str, _h: &Hasher) -> Found {
        let c = &c.mp;
        let cap = Capture::default();
        let sent = c
            .describe_origin_endpoint()
            .id(id)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        described("DescribeOriginEndpoint", res, sent, &cap, observe_endpoint)
    }

    async fn read_many(&self, c: &Clients, ids: &[String], _h: &Hasher) -> Listed {
        Ok(only(ids, list_endpoints(&c.mp).await?))
    }

    async fn list_all(&self, c: &Clients, _h: &Hasher) -> Listed {
        Ok(Some(list_endpoints(&c.mp).await?))
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, _token: &str) -> Made {
        let c = &c.mp;
        let cap = Capture::default();
        // Right after its channel's create, the channel may not be found yet: tried again.
        crate::until_visible(|| async {
            c.create_origin_endpoint()
                .set_id(str_member(spec, "Id"))
                .set_channel_id(str_member(spec, "ChannelId"))
                .set_description(str_member(spec, "Description"))
                .set_manifest_name(str_member(spec, "ManifestName"))
                .set_startover_window_seconds(int(spec, "StartoverWindowSeconds"))
                .set_time_delay_seconds(int(spec, "TimeDelaySeconds"))
                .set_whitelist(strings(spec, "Whitelist"))
                .set_origination(
                    str_member(spec, "Origination").map(|s| Origination::from(s.as_str())),
                )
                .set_tags(Some(tags::of(spec)))
                .customize()
                .interceptor(cap.clone())
                .mutate_request(raw::patch(raw::rest_members(spec, ENDPOINT_TYPED)))
                .send()
                .await
                .map_err(|e| error::sdk("CreateOriginEndpoint", res, e, &[]))
        })
        .await?;
        observe_endpoint(&cap.json()).ok_or_else(|| unexpected("CreateOriginEndpoint", res))
    }

    /// UpdateOriginEndpoint resets what it is not given: the whole spec is sent.
    async fn update(
        &self,
        clients: &Clients,
        res: &str,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let c = &clients.mp;
        let cap = Capture::default();
        c.update_origin_endpoint()
            .id(id)
            .set_description(str_member(spec, "Description"))
            .set_manifest_name(str_member(spec, "ManifestName"))
            .set_startover_window_seconds(int(spec, "StartoverWindowSeconds"))
            .set_time_delay_seconds(int(spec, "TimeDelaySeconds"))
            .set_whitelist(strings(spec, "Whitelist"))
            .set_origination(str_member(spec, "Origination").map(|s| Origination::from(s.as_str())))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, ENDPOINT_TYPED)))
            .send()
            .await
            .map_err(|e| error::sdk("UpdateOriginEndpoint", res, e, &[]))?;
        let observed =
            observe_endpoint(&cap.json()).ok_or_else(|| unexpected("UpdateOriginEndpoint", res))?;
        self.retag(clients, res, id, observed, current, spec).await
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.mp, res, t.arn, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error> {
        let c = &c.mp;
        c.delete_origin_endpoint()
            .id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteOriginEndpoint", res, e, &[]))
    }
}

const ENDPOINT_MEMBERS: &[&str] = &[
    "Id",
    "ChannelId",
    "Description",
    "ManifestName",
    "StartoverWindowSeconds",
    "TimeDelaySeconds",
    "Whitelist",
    "Origination",
    "HlsPackage",
    "DashPackage",
    "CmafPackage",
    "MssPackage",
    "Authorization",
    "Tags",
];
/// Endpoint members sent through the typed builders; the packages travel raw.
const ENDPOINT_TYPED: &[&str] = &[
    "Id",
    "ChannelId",
    "Description",
    "ManifestName",
    "StartoverWindowSeconds",
    "TimeDelaySeconds",
    "Whitelist",
    "Origination",
    "Tags",
];

fn observe_endpoint(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    Some(ObservedResource {
        spec: raw::spec_of(raw, ENDPOINT_MEMBERS),
        outputs: json!({ "Arn": arn, "Url": raw.get("url") }),
        id,
        arn,
        status: None,
    })
}

fn int(spec: &Json, name: &str) -> Option<i32> {
    spec.get(name)?.as_i64().and_then(|v| i32::try_from(v).ok())
}

/// Every origin endpoint, as [`read_endpoint`] reads each.
pub(crate) async fn list_endpoints(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListOriginEndpoints",
        resource: "mediapackage endpoints",
        member: "originEndpoints",
    };
    pages
        .collect(observe_endpoint, |token, cap| async move {
            c.list_origin_endpoints()
                .max_results(LIST_PAGE)
                .set_next_token(token)
                .customize()
                .interceptor(cap)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::sdk(pages.operation, pages.resource, e, &[]))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_packages_come_back_pascal() {
        let raw = json!({
            "id": "hls", "channelId": "ch", "arn": "arn:e", "url": "https://x/out/v1/index.m3u8",
            "manifestName": "index", "origination": "ALLOW", "startoverWindowSeconds": 0,
            "hlsPackage": { "segmentDurationSeconds": 6, "playlistWindowSeconds": 60, "adMarkers": "NONE" },
            "tags": {}
        });
        let o = observe_endpoint(&raw).unwrap();
        assert_eq!(o.spec["HlsPackage"]["SegmentDurationSeconds"], 6);
        assert_eq!(o.spec["HlsPackage"]["AdMarkers"], "NONE");
        assert_eq!(
            o.outputs,
            json!({ "Arn": "arn:e", "Url": "https://x/out/v1/index.m3u8" })
        );
    }
}
