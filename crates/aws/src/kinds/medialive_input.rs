//! `medialive_input`: CreateInput (with its RequestId token), DescribeInput, ListInputs,
//! UpdateInput, DeleteInput, and the wait for DETACHED before a delete.

use std::time::Duration;

use aws_sdk_medialive::types::InputType;
use aws_sdk_medialive::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Map, Value as Json};

use super::{described, only, strings, Calls, Found, Listed, Made, Retag};
use crate::error::{self, Error};
use crate::medialive::{reconcile_tags, unexpected, LIST_PAGE};
use crate::raw::{self, Capture};
use crate::{str_member, tags, Clients};

pub(crate) struct MedialiveInput;

impl Calls for MedialiveInput {
    async fn read(&self, c: &Clients, res: &str, id: &str, _h: &Hasher) -> Found {
        let c = &c.ml;
        let cap = Capture::default();
        let sent = c
            .describe_input()
            .input_id(id)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        described("DescribeInput", res, sent, &cap, observe_input)
    }

    async fn read_many(&self, c: &Clients, ids: &[String], _h: &Hasher) -> Listed {
        Ok(only(ids, list_inputs(&c.ml).await?))
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, token: &str) -> Made {
        let c = &c.ml;
        let cap = Capture::default();
        c.create_input()
            .set_name(str_member(spec, "Name"))
            .set_type(str_member(spec, "Type").map(|s| InputType::from(s.as_str())))
            .set_input_security_groups(strings(spec, "InputSecurityGroups"))
            .request_id(token)
            .set_tags(Some(tags::of(spec)))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, INPUT_TYPED)))
            .send()
            .await
            .map_err(|e| error::sdk("CreateInput", res, e, &[]))?;
        observe_input(&cap.json()["input"])
            .ok_or_else(|| unexpected("CreateInput", res, "no input in the answer"))
    }

    async fn update(
        &self,
        clients: &Clients,
        res: &str,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let c = &clients.ml;
        let cap = Capture::default();
        c.update_input()
            .input_id(id)
            .set_name(str_member(spec, "Name"))
            .set_input_security_groups(strings(spec, "InputSecurityGroups"))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, INPUT_TYPED)))
            .send()
            .await
            .map_err(|e| error::sdk("UpdateInput", res, e, &[]))?;
        let observed = observe_input(&cap.json()["input"])
            .ok_or_else(|| unexpected("UpdateInput", res, "no input in the answer"))?;
        self.retag(clients, res, id, observed, current, spec).await
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.ml, res, t.arn, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error> {
        let c = &c.ml;
        c.delete_input()
            .input_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteInput", res, e, &[]))
    }
}

const INPUT_TYPED: &[&str] = &["Name", "Type", "InputSecurityGroups", "Tags"];

fn input_res(id: &str) -> String {
    format!("medialive input {id}")
}

fn observe_input(raw: &Json) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let state = raw.get("state").and_then(Json::as_str).map(String::from);
    if state.as_deref() == Some("DELETED") {
        return None;
    }
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let p = raw::pascal_object(raw);
    let mut spec = Map::new();
    for m in ["Name", "Type", "Sources"] {
        if let Some(v) = p.get(m) {
            spec.insert(m.into(), v.clone());
        }
    }
    // DescribeInput answers `destinations[{url, ip, port}]`: the StreamName the spec gives is
    // the URL's path (`rtmp://IP:1935/app/instance` -> `app/instance`).
    let mut out_dests = Vec::new();
    if let Some(dests) = p.get("Destinations").and_then(Json::as_array) {
        let mut with_names = Vec::new();
        for d in dests {
            let mut d = d.clone();
            let url = d.get("Url").and_then(Json::as_str).map(String::from);
            if d.get("StreamName").is_none() {
                if let Some(name) = url.as_deref().and_then(stream_name_of_url) {
                    d["StreamName"] = json!(name);
                }
            }
            out_dests.push(json!({ "StreamName": d.get("StreamName"), "Url": url }));
            with_names.push(d);
        }
        spec.insert("Destinations".into(), Json::Array(with_names));
    }
    // DescribeInput calls them `securityGroups`; CreateInput `inputSecurityGroups`.
    if let Some(v) = p
        .get("InputSecurityGroups")
        .or_else(|| p.get("SecurityGroups"))
    {
        spec.insert("InputSecurityGroups".into(), v.clone());
    }
    spec.insert("Tags".into(), tags::from_raw(raw.get("tags")));
    Some(ObservedResource {
        outputs: json!({
            "Id": id,
            "Arn": arn,
            "InputClass": p.get("InputClass"),
            "Destinations": out_dests,
        }),
        id,
        arn,
        spec: Json::Object(spec),
        status: state,
    })
}

/// `rtmp://203.0.113.1:1935/imday/a` -> `imday/a`.
fn stream_name_of_url(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    (!path.is_empty()).then(|| path.to_string())
}

pub(crate) async fn wait_input_detached(
    c: &Client,
    id: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let res = input_res(id);
    let mut poll = crate::Poll::new(timeout);
    loop {
        let state = match c.describe_input().input_id(id).send().await {
            Ok(o) => o
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            Err(e) => {
                let e = error::sdk("DescribeInput", &res, e, &[]);
                return if e.is_not_found() { Ok(()) } else { Err(e) };
            }
        };
        if matches!(state.as_str(), "DETACHED" | "DELETED" | "DELETING") {
            return Ok(());
        }
        if !poll.sleep().await {
            return Err(Error::Timeout {
                resource: res.clone(),
                want: "DETACHED".into(),
                after: timeout,
            });
        }
    }
}

/// Every input, as [`read_input`] reads each (DELETED ones left out).
pub(crate) async fn list_inputs(c: &Client) -> Result<Vec<ObservedResource>, Error> {
    let pages = crate::Pages {
        operation: "ListInputs",
        resource: "medialive inputs",
        member: "inputs",
    };
    pages
        .collect(observe_input, |token, cap| async move {
            c.list_inputs()
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
    fn stream_names_come_from_push_urls() {
        assert_eq!(
            stream_name_of_url("rtmp://10.0.0.1:1935/imday/a").as_deref(),
            Some("imday/a")
        );
        assert_eq!(stream_name_of_url("rtmp://10.0.0.1:1935/"), None);
        assert_eq!(stream_name_of_url("nonsense"), None);
    }

    #[test]
    fn input_answers_give_stream_names_and_security_groups() {
        let raw = json!({
            "id": "77", "arn": "arn:x", "state": "DETACHED", "name": "live-camera", "type": "RTMP_PUSH",
            "inputClass": "STANDARD", "sources": [], "securityGroups": ["5"],
            "destinations": [{ "url": "rtmp://1.2.3.4:1935/imday/a", "ip": "1.2.3.4", "port": "1935" }],
            "tags": {}
        });
        let o = observe_input(&raw).unwrap();
        assert_eq!(o.spec["Destinations"][0]["StreamName"], "imday/a");
        assert_eq!(o.spec["InputSecurityGroups"], json!(["5"]));
        assert_eq!(
            o.outputs["Destinations"],
            json!([{ "StreamName": "imday/a", "Url": "rtmp://1.2.3.4:1935/imday/a" }])
        );
        assert_eq!(o.outputs["InputClass"], "STANDARD");
    }
}
