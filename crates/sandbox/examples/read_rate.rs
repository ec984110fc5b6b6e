//! Requests per second the sandbox answers with 1,000 channels in it, through the real
//! aws-sdk-medialive client: DescribeChannel, ListChannels (every page) and DescribeInput,
//! with the cloud in memory and with a data file. Prints figures; asserts nothing.
//!
//! `cargo run --release -p livestack-sandbox --example read_rate -- [CHANNELS] [SECONDS] [CONCURRENCY]`
//! (defaults 1000, 3, 8). Channels carry AWS's own 720p encoder settings
//! (`tests/e2e/fixtures`), so the cloud is as large as a real one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_medialive::types::{InputDestinationRequest, InputType, InputWhitelistRuleCidr};
use aws_sdk_medialive::Client;
use livestack_sandbox::{start, Config};
use serde_json::{json, Value};

// The tests' helpers: an SDK config for the sandbox and raw HTTP calls.
#[path = "../tests/common/mod.rs"]
mod common;

const ENCODER_SETTINGS: &str =
    include_str!("../../../tests/e2e/fixtures/lsoa-v4.2.17_hd-720p_mediapackage-group.json");

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|a| a.parse().expect("arguments are numbers"))
            .unwrap_or(default)
    };
    let (channels, seconds, concurrency) = (arg(0, 1000), arg(1, 3), arg(2, 8));
    let settings = lower_camel(serde_json::from_str(ENCODER_SETTINGS).expect("fixture is JSON"));
    for with_data in [false, true] {
        let dir = std::env::temp_dir().join(format!("sandbox-read-rate-{}", std::process::id()));
        let data = with_data.then(|| dir.join("cloud.json"));
        let sandbox = start(Config {
            data: data.clone(),
            speed: 2000.0,
            ..Config::default()
        })
        .await
        .expect("sandbox starts");
        let url = sandbox.endpoint_url();
        let ml = Client::new(&common::sdk_config(&url).await);
        let label = if with_data { "data file" } else { "in memory" };
        let began = Instant::now();
        let (channel_ids, input_ids) = populate(&url, &ml, channels, &settings).await;
        let took = began.elapsed().as_secs_f64();
        println!(
            "[{label}] created {channels} inputs and {channels} channels in {took:.1} s \
             ({:.0} creates/s)",
            (2 * channels) as f64 / took
        );
        if let Some(path) = &data {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            println!("[{label}] data file {:.1} MB", size as f64 / 1e6);
        }
        let channel_ids = Arc::new(channel_ids);
        let input_ids = Arc::new(input_ids);
        for op in ["DescribeChannel", "ListChannels", "DescribeInput"] {
            let (ml, channel_ids, input_ids) = (ml.clone(), channel_ids.clone(), input_ids.clone());
            let rate = measure(seconds, concurrency, move |n| {
                let ml = ml.clone();
                let (channel_ids, input_ids) = (channel_ids.clone(), input_ids.clone());
                async move {
                    match op {
                        "DescribeChannel" => {
                            let id = &channel_ids[n % channel_ids.len()];
                            let sent = ml.describe_channel().channel_id(id).send().await;
                            sent.map(|_| 1).map_err(|e| format!("{e:?}"))
                        }
                        "DescribeInput" => {
                            let id = &input_ids[n % input_ids.len()];
                            let sent = ml.describe_input().input_id(id).send().await;
                            sent.map(|_| 1).map_err(|e| format!("{e:?}"))
                        }
                        _ => list_all(&ml).await.map_err(|e| format!("{e:?}")),
                    }
                }
            })
            .await;
            println!("[{label}] {op}: {rate:.0} requests/s ({concurrency} in flight)");
        }
        sandbox.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Every page of ListChannels; answers how many requests it took.
async fn list_all(
    ml: &Client,
) -> Result<
    u64,
    aws_sdk_medialive::error::SdkError<
        aws_sdk_medialive::operation::list_channels::ListChannelsError,
    >,
> {
    let mut pages = ml.list_channels().into_paginator().send();
    let mut requests = 0;
    while let Some(page) = pages.next().await {
        page?;
        requests += 1;
    }
    Ok(requests)
}

/// Runs `call` from `concurrency` tasks for `seconds`; answers requests per second.
async fn measure<F, Fut, E>(seconds: u64, concurrency: u64, call: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64, E>> + Send,
    E: std::fmt::Debug,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let until = began + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = t as usize * 7919;
                while Instant::now() < until {
                    let requests = call(n).await.expect("call succeeds");
                    done.fetch_add(requests, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("bench task");
    }
    done.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64()
}

/// One security group, `n` RTMP push inputs and `n` STANDARD channels (one per input), eight
/// creates in flight; answers the channel ids and input ids.
async fn populate(url: &str, ml: &Client, n: u64, settings: &Value) -> (Vec<String>, Vec<String>) {
    let group = ml
        .create_input_security_group()
        .whitelist_rules(InputWhitelistRuleCidr::builder().cidr("0.0.0.0/0").build())
        .send()
        .await
        .expect("create security group");
    let group = group
        .security_group()
        .and_then(|g| g.id())
        .unwrap_or_default()
        .to_string();
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (ml, group, next, settings, url) = (
                ml.clone(),
                group.clone(),
                next.clone(),
                settings.clone(),
                url.to_string(),
            );
            tokio::spawn(async move {
                let mut made = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let input = ml
                        .create_input()
                        .name("studio")
                        .r#type(InputType::RtmpPush)
                        .input_security_groups(&group)
                        .destinations(
                            InputDestinationRequest::builder()
                                .stream_name("live/a")
                                .build(),
                        )
                        .destinations(
                            InputDestinationRequest::builder()
                                .stream_name("live/b")
                                .build(),
                        )
                        .send()
                        .await
                        .expect("create input");
                    let input = input
                        .input()
                        .and_then(|i| i.id())
                        .unwrap_or_default()
                        .to_string();
                    let channel = create_channel(&url, &input, &settings).await;
                    made.push((channel, input));
                }
                made
            })
        })
        .collect();
    let mut channels = Vec::new();
    let mut inputs = Vec::new();
    for t in tasks {
        for (c, i) in t.await.expect("populate task") {
            channels.push(c);
            inputs.push(i);
        }
    }
    (channels, inputs)
}

/// CreateChannel over plain HTTP: the SDK has no way to send encoder settings given as JSON.
async fn create_channel(url: &str, input: &str, settings: &Value) -> String {
    let destination = |p: u32| {
        json!({ "url": format!("https://mediapackage.example/in/{p}"), "username": "u",
                "passwordParam": format!("/bench/ingest{p}") })
    };
    let body = json!({
        "name": "bench",
        "channelClass": "STANDARD",
        "destinations": [{ "id": "destination1", "settings": [destination(1), destination(2)] }],
        "encoderSettings": settings,
        "inputAttachments": [{ "inputId": input, "inputAttachmentName": "studio" }],
        "roleArn": "arn:aws:iam::123456789012:role/MediaLiveAccessRole",
    });
    let (status, answer) = common::http(url, "POST", "/prod/channels", &body.to_string()).await;
    assert_eq!(status, 201, "create channel: {answer}");
    let value: Value = serde_json::from_str(&answer).expect("JSON answer");
    value["channel"]["id"]
        .as_str()
        .expect("channel id")
        .to_string()
}

/// The fixture's PascalCase members (CloudFormation's spelling) in the API's lowerCamel.
fn lower_camel(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = chars
                        .next()
                        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                        .unwrap_or_default();
                    (key, lower_camel(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_camel).collect()),
        other => other,
    }
}
