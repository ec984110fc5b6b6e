//! `medialive_channel`: CreateChannel (with its RequestId token), DescribeChannel,
//! UpdateChannel, DeleteChannel; its lifecycle (start, stop, class change) and the waits for
//! its states.

use std::time::Duration;

use aws_sdk_medialive::operation::create_channel::CreateChannelError;
use aws_sdk_medialive::operation::update_channel::UpdateChannelError;
use aws_sdk_medialive::operation::update_channel_class::UpdateChannelClassError;
use aws_sdk_medialive::types::{ChannelClass, LogLevel};
use aws_sdk_medialive::Client;
use livestack_plan::{Hasher, ObservedResource};
use serde_json::{json, Map, Value as Json};

use super::{described, none_if_not_found, Calls, Found, Made, Retag};
use crate::error::{self, Error};
use crate::medialive::{reconcile_tags, unexpected};
use crate::raw::{self, Capture};
use crate::{str_member, tags, ChannelWait, Clients};

/// The members of a channel spec (see `livestack_model`).
const CHANNEL_MEMBERS: &[&str] = &[
    "Name",
    "ChannelClass",
    "RoleArn",
    "LogLevel",
    "InputSpecification",
    "InputAttachments",
    "Destinations",
    "EncoderSettings",
    "Tags",
];
/// Channel members sent through the typed builders; the rest travels raw.
const CHANNEL_TYPED: &[&str] = &["Name", "ChannelClass", "RoleArn", "LogLevel", "Tags"];

/// The `path: message` lines of a 422's `validationErrors`.
macro_rules! validation {
    ($err:expr, $ty:ident) => {{
        match $err.as_service_error() {
            Some($ty::UnprocessableEntityException(u)) => u
                .validation_errors()
                .iter()
                .map(|v| {
                    format!(
                        "{}: {}",
                        v.element_path().unwrap_or_default(),
                        v.error_message().unwrap_or_default()
                    )
                })
                .collect::<Vec<String>>(),
            _ => Vec::new(),
        }
    }};
}

pub(crate) struct MedialiveChannel;

impl Calls for MedialiveChannel {
    async fn read(&self, c: &Clients, res: &str, id: &str, hasher: &Hasher) -> Found {
        let (c, h) = (&c.ml, Some(hasher));
        let cap = Capture::default();
        let sent = c
            .describe_channel()
            .channel_id(id)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        described("DescribeChannel", res, sent, &cap, |raw| {
            observe_channel(raw, h)
        })
    }

    /// ListChannels lacks the encoder settings: each channel listed is described.
    async fn list_all(&self, c: &Clients, h: &Hasher) -> super::Listed {
        let ids = crate::medialive::channel_ids(&c.ml).await?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(o) = self
                .read(c, &format!("medialive channel {id}"), &id, h)
                .await?
            {
                if o.status.as_deref() != Some("DELETING") {
                    out.push(o);
                }
            }
        }
        Ok(Some(out))
    }

    async fn create(&self, c: &Clients, res: &str, spec: &Json, token: &str) -> Made {
        let (c, h) = (&c.ml, c.hasher.as_ref());
        let secrets = stream_names(spec.get("Destinations"));
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let cap = Capture::default();
        crate::until_visible(|| async {
            c.create_channel()
                .set_name(str_member(spec, "Name"))
                .set_channel_class(
                    str_member(spec, "ChannelClass").map(|s| ChannelClass::from(s.as_str())),
                )
                .set_role_arn(str_member(spec, "RoleArn"))
                .set_log_level(str_member(spec, "LogLevel").map(|s| LogLevel::from(s.as_str())))
                .request_id(token)
                .set_tags(Some(tags::of(spec)))
                .customize()
                .interceptor(cap.clone())
                .mutate_request(raw::patch(raw::rest_members(spec, CHANNEL_TYPED)))
                .send()
                .await
                .map_err(|e| {
                    let details = validation!(e, CreateChannelError);
                    error::with_details(
                        error::sdk("CreateChannel", res, e, &secrets),
                        &details,
                        &secrets,
                    )
                })
        })
        .await?;
        let answer = cap.json();
        observe_channel(&answer["channel"], h)
            .ok_or_else(|| unexpected("CreateChannel", res, "no channel in the answer"))
    }

    async fn update(
        &self,
        c: &Clients,
        res: &str,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Made {
        let h = c.hasher.as_ref();
        let updated = match update_channel(&c.ml, res, id, spec, h).await {
            // The SDK's retry of an update whose answer was lost meets the channel
            // UPDATING: wait for it, then send the (idempotent) update again.
            Err(e) if e.is_conflict() && channel_in(&c.ml, id, &["UPDATING"]).await => {
                wait_channel(&c.ml, id, ChannelWait::Idle, crate::LOST_ANSWER_WAIT).await?;
                update_channel(&c.ml, res, id, spec, h).await
            }
            other => other,
        }?;
        self.retag(c, res, id, updated, current, spec).await
    }

    async fn reconcile_tags(&self, c: &Clients, res: &str, t: Retag<'_>) -> Result<(), Error> {
        reconcile_tags(&c.ml, res, t.arn, t.current, t.desired).await
    }

    async fn delete(&self, c: &Clients, res: &str, id: &str) -> Result<(), Error> {
        let c = &c.ml;
        c.delete_channel()
            .channel_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::sdk("DeleteChannel", res, e, &[]))
    }
}

/// StartChannel (does not wait). A channel already STARTING or RUNNING is success: the
/// SDK's retry of a start whose answer was lost meets it so.
pub(crate) async fn start(c: &Client, id: &str) -> Result<(), Error> {
    match start_channel(c, id).await {
        Err(e) if e.is_conflict() && channel_in(c, id, &["STARTING", "RUNNING"]).await => Ok(()),
        other => other,
    }
}

/// StopChannel (does not wait). A channel already STOPPING or IDLE is success.
pub(crate) async fn stop(c: &Client, id: &str) -> Result<(), Error> {
    match stop_channel(c, id).await {
        Err(e) if e.is_conflict() && channel_in(c, id, &["STOPPING", "IDLE"]).await => Ok(()),
        other => other,
    }
}

/// UpdateChannelClass (does not wait). A conflict with a channel UPDATING (the SDK's retry
/// of a call whose answer was lost) waits for IDLE: done if the class is now `class`, else
/// sent again.
pub(crate) async fn change_class(
    c: &Client,
    id: &str,
    class: &str,
    destinations: &Json,
) -> Result<(), Error> {
    match update_channel_class(c, id, class, destinations).await {
        Err(e) if e.is_conflict() && channel_in(c, id, &["UPDATING"]).await => {
            wait_channel(c, id, ChannelWait::Idle, crate::LOST_ANSWER_WAIT).await?;
            if channel_class(c, id).await?.as_deref() == Some(class) {
                return Ok(());
            }
            update_channel_class(c, id, class, destinations).await
        }
        other => other,
    }
}

async fn channel_in(c: &Client, id: &str, states: &[&str]) -> bool {
    channel_state(c, id)
        .await
        .ok()
        .flatten()
        .is_some_and(|s| states.contains(&s.as_str()))
}

fn channel_res(id: &str) -> String {
    format!("medialive channel {id}")
}

pub(crate) async fn update_channel(
    c: &Client,
    res: &str,
    id: &str,
    spec: &Json,
    h: Option<&Hasher>,
) -> Result<ObservedResource, Error> {
    let secrets = stream_names(spec.get("Destinations"));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let cap = Capture::default();
    // UpdateChannel has no ChannelClass (UpdateChannelClass) and no Tags (CreateTags/DeleteTags).
    crate::until_visible(|| async {
        c.update_channel()
            .channel_id(id)
            .set_name(str_member(spec, "Name"))
            .set_role_arn(str_member(spec, "RoleArn"))
            .set_log_level(str_member(spec, "LogLevel").map(|s| LogLevel::from(s.as_str())))
            .customize()
            .interceptor(cap.clone())
            .mutate_request(raw::patch(raw::rest_members(spec, CHANNEL_TYPED)))
            .send()
            .await
            .map_err(|e| {
                let details = validation!(e, UpdateChannelError);
                error::with_details(
                    error::sdk("UpdateChannel", res, e, &secrets),
                    &details,
                    &secrets,
                )
            })
    })
    .await?;
    let answer = cap.json();
    observe_channel(&answer["channel"], h)
        .ok_or_else(|| unexpected("UpdateChannel", res, "no channel in the answer"))
}

pub(crate) async fn start_channel(c: &Client, id: &str) -> Result<(), Error> {
    c.start_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("StartChannel", &channel_res(id), e, &[]))
}

pub(crate) async fn stop_channel(c: &Client, id: &str) -> Result<(), Error> {
    c.stop_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error::sdk("StopChannel", &channel_res(id), e, &[]))
}

pub(crate) async fn update_channel_class(
    c: &Client,
    id: &str,
    class: &str,
    destinations: &Json,
) -> Result<(), Error> {
    let secrets = stream_names(Some(destinations));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let mut members = Map::new();
    members.insert("destinations".into(), crate::case::to_camel(destinations));
    c.update_channel_class()
        .channel_id(id)
        .channel_class(ChannelClass::from(class))
        .customize()
        .mutate_request(raw::patch(members))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let details = validation!(e, UpdateChannelClassError);
            let err = error::sdk("UpdateChannelClass", &channel_res(id), e, &secrets);
            error::with_details(err, &details, &secrets)
        })
}

/// A channel answer (DescribeChannel's body, or the `channel` of a create/update answer) as
/// an observed resource; `None` for a DELETED channel.
fn observe_channel(raw: &Json, h: Option<&Hasher>) -> Option<ObservedResource> {
    let id = raw.get("id")?.as_str()?.to_string();
    let state = raw.get("state").and_then(Json::as_str).map(String::from);
    if state.as_deref() == Some("DELETED") {
        return None;
    }
    let arn = raw.get("arn").and_then(Json::as_str).map(String::from);
    let mut spec = raw::spec_of(raw, CHANNEL_MEMBERS);
    if let Some(dests) = spec.get_mut("Destinations").and_then(Json::as_array_mut) {
        for d in dests {
            let settings = d.get_mut("Settings").and_then(Json::as_array_mut);
            for s in settings.into_iter().flatten() {
                let Some(obj) = s.as_object_mut() else {
                    continue;
                };
                match (obj.get("StreamName").and_then(Json::as_str), h) {
                    (Some(""), _) | (None, _) => {}
                    (Some(key), Some(h)) => {
                        let hashed = h.sensitive(key);
                        obj.insert("StreamName".into(), hashed);
                    }
                    (Some(_), None) => {
                        obj.remove("StreamName");
                    }
                }
            }
        }
    }
    Some(ObservedResource {
        outputs: json!({ "Id": id, "Arn": arn, "State": state }),
        id,
        arn,
        spec,
        status: state,
    })
}

/// The RTMP stream keys in a channel's Destinations (to cut out of error messages).
fn stream_names(destinations: Option<&Json>) -> Vec<String> {
    let mut out = Vec::new();
    for d in destinations.and_then(Json::as_array).into_iter().flatten() {
        for s in d
            .get("Settings")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = s.get("StreamName").and_then(Json::as_str) {
                if !k.is_empty() {
                    out.push(k.to_string());
                }
            }
        }
    }
    out
}

/// A channel's class: `None` when it is not found.
pub(crate) async fn channel_class(c: &Client, id: &str) -> Result<Option<String>, Error> {
    match c.describe_channel().channel_id(id).send().await {
        Ok(o) => Ok(o.channel_class().map(|s| s.as_str().to_string())),
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", &channel_res(id), e, &[])),
    }
}

/// A channel's state: `None` when it is not found.
pub(crate) async fn channel_state(c: &Client, id: &str) -> Result<Option<String>, Error> {
    match c.describe_channel().channel_id(id).send().await {
        Ok(o) => Ok(Some(
            o.state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        )),
        Err(e) => none_if_not_found(error::sdk("DescribeChannel", &channel_res(id), e, &[])),
    }
}

/// Waits until the channel is `want`, polling DescribeChannel on [`crate::Poll`]'s schedule
/// (a tenth of the time waited so far, 50 ms to 5 s): a transition is seen within about a
/// tenth of its length, where the SDK's waiters (3 to 5 s, then growing up to two minutes)
/// would overshoot a 60 s start by up to a minute. CREATE_FAILED and UPDATE_FAILED, or a
/// channel going away while it is waited for, are errors.
pub(crate) async fn wait_channel(
    c: &Client,
    id: &str,
    want: ChannelWait,
    timeout: Duration,
) -> Result<(), Error> {
    let res = channel_res(id);
    let failed = |state: &str| Error::FailedState {
        resource: res.clone(),
        state: state.to_string(),
        want: want.to_string(),
    };
    let mut poll = crate::Poll::new(timeout);
    loop {
        let state = channel_state(c, id).await?;
        let state = match (want, state) {
            (ChannelWait::Deleted, None) => return Ok(()),
            (_, None) => return Err(failed("not found")),
            (_, Some(s)) => s,
        };
        match (want, state.as_str()) {
            (ChannelWait::Idle, "IDLE")
            | (ChannelWait::Running, "RUNNING")
            | (ChannelWait::Deleted, "DELETED") => return Ok(()),
            (_, "CREATE_FAILED" | "UPDATE_FAILED") => return Err(failed(&state)),
            (ChannelWait::Idle | ChannelWait::Running, "DELETING" | "DELETED") => {
                return Err(failed(&state))
            }
            _ => {}
        }
        if !poll.sleep().await {
            return Err(Error::Timeout {
                resource: res.clone(),
                want: want.to_string(),
                after: timeout,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_answers_hash_stream_keys() {
        let raw = json!({
            "id": "1234", "arn": "arn:aws:medialive:us-east-1:1:channel:1234", "state": "IDLE",
            "name": "imday", "channelClass": "SINGLE_PIPELINE", "pipelinesRunningCount": 0,
            "destinations": [{ "id": "facebook", "settings": [{ "url": "rtmps://x/rtmp/", "streamName": "FB-KEY" }],
                               "mediaPackageSettings": [] }],
            "encoderSettings": { "timecodeConfig": { "source": "SYSTEMCLOCK" } },
            "tags": { "livestack:stack": "imday" }
        });
        let h = Hasher::new(b"k");
        let o = observe_channel(&raw, Some(&h)).unwrap();
        assert_eq!(
            o.spec["Destinations"][0]["Settings"][0]["StreamName"],
            h.sensitive("FB-KEY")
        );
        assert_eq!(
            o.spec["EncoderSettings"],
            json!({ "TimecodeConfig": { "Source": "SYSTEMCLOCK" } })
        );
        assert_eq!(o.spec["Tags"], json!({ "livestack:stack": "imday" }));
        assert!(o.spec.get("PipelinesRunningCount").is_none());
        assert_eq!(
            o.outputs,
            json!({ "Id": "1234", "Arn": "arn:aws:medialive:us-east-1:1:channel:1234", "State": "IDLE" })
        );
        assert_eq!(o.status.as_deref(), Some("IDLE"));
        let text = format!("{o:?}");
        assert!(!text.contains("FB-KEY"), "{text}");
        let unhashed = observe_channel(&raw, None).unwrap();
        assert!(!format!("{unhashed:?}").contains("FB-KEY"));
        let deleted = json!({ "id": "1", "state": "DELETED" });
        assert!(observe_channel(&deleted, Some(&h)).is_none());
    }
}
