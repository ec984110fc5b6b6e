//! `mediapackage_channel`: CreateChannel, DescribeChannel, ListChannels, UpdateChannel,
//! DeleteChannel. Its ingest passwords are never read here (see `mediapackage`'s secrets).

use aws_sdk_mediapackage::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Value as Json};

use super::{described, only, Calls, Found, Listed, Made, Retag};
use crate::error::{self, Error};
use crate::mediapackage::{reconcile_tags, unexpected, LIST_PAGE};
use crate::raw::{self, Capture};
use crate::{str_member, tags, Clients};

pub(crate) struct MediapackageChannel;

impl Calls for MediapackageChannel {
    async fn read(&self, c: &Clients, res: &str, id: &str, _h: &Hasher) -> Found {
        let c = &c.mp;
        let cap = Capture::default();
        let sent = c
            .describe_channel()
            .id(id)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        described("DescribeChannel", res, sent, &cap, observe_channel)
    }

    async fn read_many(&self, c: &Clients, ids: &[String], _h: &Hasher) -> Listed {
        Ok(only(ids, list_channels(&c.mp).await?))
    }

    async fn list_all(&self, c: &Clients, _h: &Hasher) -> Listed {
        Ok(Some(list_channels(&c.mp).await?))
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, _token: &str) -> Made {
        let c = &c.mp;
        let cap = Capture::default();
        c.create_channel()
            .set_id(str_member(spec, "Id"))
            .set_description(str_member(spec, "Description"))
            .set_tags(Some(tags::of(spec)))
            .customize()
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| error::sdk("CreateChannel", res, e, &[]))?;
        observe_channel(&cap.json()).ok_or_else(|| unexpected("CreateChannel", res))
    }

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
        c.update_channel()
            .id(id)
            .set_description(str_member(spec, "Description").or_else(|| Some(String::new())))
            .customize()
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| error::sdk("UpdateChannel", res, e, &[]))?;
        let observed =
            observe_channel(&cap.json()).ok_or_else(|| unexpected("UpdateChannel", res))?;
        self.retag(clients, res, id, observed, current, spec).await
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.mp, res, t.arn, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error> {
        let c = &c.mp;
        c.delete_channel()
            .id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteChannel", res, e, &[]))
    }
}

/// A channel answer: the ingest endpoints' ids, URLs and usernames in the outputs, their
/// passwords nowhere.
fn observe_channel(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let endpoints: Vec<Json> = raw
        .pointer("/hlsIngest/ingestEndpoints")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|e| json!({ "Id": e.get("id"), "Url": e.get("url"), "Username": e.get("username") }))
        .collect();
    Some(ObservedResource {
        spec: raw::spec_of(raw, &["Id", "Description", "Tags"]),
        outputs: json!({ "Arn": arn, "HlsIngest": { "IngestEndpoints": endpoints } }),
        id,
        arn,
        status: None,
    })
}

/// Every MediaPackage channel, as [`read_channel`] reads each.
pub(crate) async fn list_channels(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListChannels",
        resource: "mediapackage channels",
        member: "channels",
    };
    pages
        .collect(observe_channel, |token, cap| async move {
            c.list_channels()
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
    fn channel_outputs_never_hold_passwords() {
        let raw = json!({
            "id": "imday-mp-channel", "arn": "arn:mp", "description": "d",
            "hlsIngest": { "ingestEndpoints": [
                { "id": "e1", "url": "https://a/in/v2/1/channel", "username": "u1", "password": "SECRET-ONE" },
                { "id": "e2", "url": "https://b/in/v2/2/channel", "username": "u2", "password": "SECRET-TWO" }
            ] },
            "tags": { "livestack:address": "mediapackage_channel.imday-mp" }
        });
        let o = observe_channel(&raw).unwrap();
        let text = serde_json::to_string(&o).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(
            o.outputs["HlsIngest"]["IngestEndpoints"][1]["Url"],
            "https://b/in/v2/2/channel"
        );
        assert_eq!(
            o.spec,
            json!({ "Id": "imday-mp-channel", "Description": "d", "Tags": { "livestack:address": "mediapackage_channel.imday-mp" } })
        );
    }
}
