//! livestack-aws against the sandbox over HTTP: each kind created from the spec the model
//! produces for the workshop examples (`$ref`s resolved by hand from created outputs), read
//! back, updated, its channel driven through section 3's class change, deleted, and secrets
//! checked to stay out of observed specs, errors and Debug output.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use livestack_aws::{connect, ChannelWait, Clients, Error, SecretSource, Target};
use livestack_model::{Address, Kind, ValidatedStack};
use livestack_plan::{secret_key, Hasher, ObservedResource};
use livestack_sandbox::{start, Config, Running};
use serde_json::{json, Value as Json};

const WAIT: Duration = Duration::from_secs(60);
const STREAM_KEY: &str = "FB-STREAM-KEY-0123456789";

async fn sandbox() -> Running {
    start(Config {
        port: 0,
        speed: 2000.0,
        ..Config::default()
    })
    .await
    .expect("sandbox starts")
}

async fn clients(sandbox: &Running) -> Clients {
    connect(&Target {
        region: Some("us-east-1".into()),
        endpoint_url: Some(sandbox.endpoint_url()),
        dummy_credentials: true,
        profile: None,
    })
    .await
    .expect("connects")
    .with_hasher(hasher())
}

fn hasher() -> Hasher {
    Hasher::new(b"roundtrip-test-key")
}

fn example(name: &str) -> ValidatedStack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("example readable");
    livestack_model::parse(&path, &text).expect("example valid")
}

/// What the test created: observed resources by address.
#[derive(Default)]
struct World {
    observed: BTreeMap<Address, ObservedResource>,
}

impl World {
    fn id(&self, a: &Address) -> &str {
        &self.observed[a].id
    }

    /// `spec` with every `$ref` and `$secret` replaced by its value.
    async fn resolve(&self, c: &Clients, spec: &Json) -> Json {
        let mut secrets = BTreeMap::new();
        let mut found = Vec::new();
        collect_secrets(spec, &mut found);
        for s in found {
            let value = if let Some(env) = s.get("env") {
                assert_eq!(env, "FACEBOOK_STREAM_KEY");
                STREAM_KEY.to_string()
            } else if let Some(name) = s.get("ssm").and_then(Json::as_str) {
                c.secret_value(&SecretSource::Ssm(name.into()))
                    .await
                    .unwrap()
            } else {
                let a = Address::parse(s["output"].as_str().unwrap()).unwrap();
                let attr = s["attr"].as_str().unwrap();
                let index = attr
                    .strip_prefix("HlsIngest.IngestEndpoints.")
                    .and_then(|r| r.strip_suffix(".Password"))
                    .unwrap()
                    .parse()
                    .unwrap();
                let source = SecretSource::IngestPassword {
                    channel_id: self.id(&a).to_string(),
                    index,
                };
                c.secret_value(&source).await.unwrap()
            };
            secrets.insert(secret_key(&s), value);
        }
        self.substitute(spec, &secrets)
    }

    fn substitute(&self, v: &Json, secrets: &BTreeMap<String, String>) -> Json {
        match v {
            Json::Object(m) if m.contains_key("$ref") => {
                let a = Address::parse(m["$ref"].as_str().unwrap()).unwrap();
                let mut out = &self.observed[&a].outputs;
                for part in m["attr"].as_str().unwrap().split('.') {
                    out = match part.parse::<usize>() {
                        Ok(i) => &out[i],
                        Err(_) => &out[part],
                    };
                }
                assert!(!out.is_null(), "{a} has no output {}", m["attr"]);
                out.clone()
            }
            Json::Object(m) if m.contains_key("$secret") => {
                json!(secrets[&secret_key(&m["$secret"])])
            }
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.substitute(v, secrets)))
                    .collect(),
            ),
            Json::Array(a) => Json::Array(a.iter().map(|v| self.substitute(v, secrets)).collect()),
            other => other.clone(),
        }
    }
}

fn collect_secrets(v: &Json, out: &mut Vec<Json>) {
    match v {
        Json::Object(m) if m.contains_key("$secret") => out.push(m["$secret"].clone()),
        Json::Object(m) => m.values().for_each(|v| collect_secrets(v, out)),
        Json::Array(a) => a.iter().for_each(|v| collect_secrets(v, out)),
        _ => {}
    }
}

/// Every member of `want` is in `got` (objects: a subset; arrays: same length, element-wise;
/// numbers numerically; a `$sensitive` in `got` matches the hash of the string in `want`).
fn subset(want: &Json, got: &Json, path: &str) -> Result<(), String> {
    match (want, got) {
        (Json::Object(w), Json::Object(g))
            if g.contains_key("$sensitive") && !w.contains_key("$sensitive") =>
        {
            Err(format!("{path}: want {want}, got {got}"))
        }
        (Json::String(s), Json::Object(g)) if g.contains_key("$sensitive") => {
            if g["$sensitive"] == json!(hasher().hash(s)) {
                Ok(())
            } else {
                Err(format!("{path}: the hash of the secret differs"))
            }
        }
        (Json::Object(w), Json::Object(g)) => {
            for (k, wv) in w {
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k}: missing in {got}"))?;
                subset(wv, gv, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Json::Array(w), Json::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .try_for_each(|(i, (w, g))| subset(w, g, &format!("{path}[{i}]"))),
        (Json::Number(w), Json::Number(g)) if w.as_f64() == g.as_f64() => Ok(()),
        _ if want == got => Ok(()),
        _ => Err(format!("{path}: want {want}, got {got}")),
    }
}

#[track_caller]
fn assert_subset(want: &Json, got: &Json) {
    if let Err(e) = subset(want, got, "") {
        panic!("observed spec differs: {e}");
    }
}

/// Creates every resource of `stack` in create order, checking each read-back.
async fn create_all(c: &Clients, stack: &ValidatedStack, world: &mut World) {
    let h = hasher();
    for kind in Kind::ALL {
        for r in stack.resources.iter().filter(|r| r.address.kind == kind) {
            let spec = world.resolve(c, &r.spec).await;
            let token = format!("token-{}", r.address);
            let (id, created) = c
                .create(&r.address, &spec, &token)
                .await
                .unwrap_or_else(|e| panic!("create {}: {e}", r.address));
            assert_eq!(created.id, id);
            assert_subset(&spec, &created.spec);
            if kind == Kind::MedialiveChannel {
                c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
            }
            let read = c
                .read(&r.address, &id, &h)
                .await
                .unwrap()
                .expect("exists after create");
            assert_eq!(read.id, id);
            assert_subset(&spec, &read.spec);
            // Exactly the spec's members, nothing the model does not know.
            let mut members: Vec<&String> = read.spec.as_object().unwrap().keys().collect();
            members.retain(|m| r.spec.get(m.as_str()).is_none());
            assert!(
                members
                    .iter()
                    .all(|m| OPTIONAL_MEMBERS.contains(&m.as_str())),
                "{}: unexpected members {members:?}",
                r.address
            );
            world.observed.insert(r.address.clone(), read);
        }
    }
}

/// Members a read may give that an example's spec leaves out.
const OPTIONAL_MEMBERS: &[&str] = &[
    "Description",
    "Sources",
    "Destinations",
    "InputSecurityGroups",
    "StartoverWindowSeconds",
    "TimeDelaySeconds",
    "Whitelist",
    "Authorization",
];

fn no_secret_in(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret leaked into: {text}");
    }
}

#[tokio::test]
async fn s3_loop_full_life_with_section_3_edit() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    let stack = example("s3-loop.toml");
    let mut world = World::default();
    create_all(&c, &stack, &mut world).await;

    let role = Address::new(Kind::IamRole, "medialive");
    let mp = Address::new(Kind::MediapackageChannel, "imday-mp");
    let hls = Address::new(Kind::MediapackageEndpoint, "imday-hls");
    let input = Address::new(Kind::MedialiveInput, "imday-hls");
    let channel = Address::new(Kind::MedialiveChannel, "imday");
    let p1 = Address::new(Kind::SsmParameter, "imday-mp-ingest-1");
    let p2 = Address::new(Kind::SsmParameter, "imday-mp-ingest-2");

    // Outputs per kind.
    let ch = &world.observed[&channel];
    assert_eq!(ch.outputs["State"], "IDLE");
    assert_eq!(ch.status.as_deref(), Some("IDLE"));
    assert!(ch.outputs["Arn"].as_str().unwrap().contains(":channel:"));
    assert_eq!(world.observed[&input].outputs["InputClass"], "STANDARD");
    assert!(world.observed[&hls].outputs["Url"]
        .as_str()
        .unwrap()
        .starts_with("http"));
    assert!(world.observed[&role].outputs["Arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::"));
    assert_eq!(
        world.observed[&p1].outputs,
        json!({ "Name": "/livestack/imday/imday-mp/ingest-1" })
    );
    let endpoints = &world.observed[&mp].outputs["HlsIngest"]["IngestEndpoints"];
    assert_eq!(endpoints.as_array().unwrap().len(), 2);
    for e in endpoints.as_array().unwrap() {
        assert_eq!(
            e.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["Id", "Url", "Username"]
        );
    }
    let passwords = [0, 1].map(|index| SecretSource::IngestPassword {
        channel_id: world.id(&mp).to_string(),
        index,
    });
    let pw1 = c.secret_value(&passwords[0]).await.unwrap();
    let pw2 = c.secret_value(&passwords[1]).await.unwrap();
    assert_ne!(pw1, pw2);
    // The SSM parameters hold the passwords, observed only as hashes.
    assert_eq!(world.observed[&p1].spec["Value"], h.sensitive(&pw1));
    assert_eq!(
        c.secret_value(&SecretSource::Ssm(
            "/livestack/imday/imday-mp/ingest-2".into()
        ))
        .await
        .unwrap(),
        pw2
    );
    let all = format!(
        "{:?} {}",
        world.observed,
        serde_json::to_string(&world.observed.values().collect::<Vec<_>>()).unwrap()
    );
    no_secret_in(&all, &[&pw1, &pw2]);

    // A retried create with the same token returns the same channel.
    let spec = world.resolve(&c, &stack.get(&channel).unwrap().spec).await;
    let (again, _) = c
        .create(&channel, &spec, &format!("token-{channel}"))
        .await
        .unwrap();
    assert_eq!(again, world.id(&channel));

    // Discovery by tags (roles are probed by name, not listed).
    let found = c.discover("imday", &Default::default()).await.unwrap();
    let mut want: Vec<(Address, String)> = world
        .observed
        .iter()
        .filter(|(a, _)| a.kind != Kind::IamRole)
        .map(|(a, o)| (a.clone(), o.id.clone()))
        .collect();
    want.sort();
    assert_eq!(found, want);
    assert!(c
        .discover("another-stack", &Default::default())
        .await
        .unwrap()
        .is_empty());

    // Start, then section 3: stop, class change, update with the facebook group, start.
    let id = world.id(&channel).to_string();
    c.start_channel(&id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Running, WAIT)
        .await
        .unwrap();
    let running = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(running.status.as_deref(), Some("RUNNING"));
    // Editing a running channel is refused: a conflict.
    let err = c.update(&channel, &id, &spec, &running).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let edited = example("s3-loop-facebook.toml");
    let new_spec = world.resolve(&c, &edited.get(&channel).unwrap().spec).await;
    c.stop_channel(&id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    // Down to SINGLE_PIPELINE: the current destinations, one setting each.
    let mut trimmed = spec["Destinations"].clone();
    for d in trimmed.as_array_mut().unwrap() {
        if let Some(settings) = d["Settings"].as_array_mut() {
            settings.truncate(1);
        }
    }
    c.update_channel_class(&id, "SINGLE_PIPELINE", &trimmed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    let current = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(current.spec["ChannelClass"], "SINGLE_PIPELINE");
    let updated = c
        .update(&channel, &id, &new_spec, &current)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.id, id);
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    c.start_channel(&id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Running, WAIT)
        .await
        .unwrap();
    let after = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(after.id, id);
    assert_eq!(after.arn, running.arn);
    assert_subset(&new_spec, &after.spec);
    let groups = after.spec["EncoderSettings"]["OutputGroups"]
        .as_array()
        .unwrap();
    assert_eq!(groups.len(), 2);
    let fb = after.spec["Destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["Id"] == "facebook")
        .unwrap();
    assert_eq!(fb["Settings"][0]["StreamName"], h.sensitive(STREAM_KEY));
    no_secret_in(&format!("{after:?} {updated:?}"), &[STREAM_KEY]);

    // Tags alone change on the running channel, without a stop.
    let mut on_air = new_spec.clone();
    on_air["Tags"]["onair"] = json!("yes");
    let out = c.update_tags(&channel, &id, &on_air, &after).await.unwrap();
    assert_eq!(out.spec["Tags"], on_air["Tags"]);
    let read = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(read.status.as_deref(), Some("RUNNING"));
    assert_eq!(read.spec["Tags"], on_air["Tags"]);

    // A full update reconciles tags by diff too.
    let mut tagged = new_spec.clone();
    tagged["Tags"]["extra"] = json!("1");
    tagged["Tags"].as_object_mut().unwrap().remove("workshop");
    c.stop_channel(&id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    let out = c.update(&channel, &id, &tagged, &read).await.unwrap();
    assert_eq!(out.spec["Tags"], tagged["Tags"]);
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    let read = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(read.spec["Tags"], tagged["Tags"]);

    // Endpoint: UpdateOriginEndpoint gets the whole spec.
    let mut ep = world.resolve(&c, &stack.get(&hls).unwrap().spec).await;
    ep["StartoverWindowSeconds"] = json!(300);
    ep["HlsPackage"]["PlaylistWindowSeconds"] = json!(120);
    ep["Description"] = json!("edited");
    let out = c
        .update(&hls, world.id(&hls), &ep, &world.observed[&hls])
        .await
        .unwrap();
    assert_subset(&ep, &out.spec);
    let read = c.read(&hls, world.id(&hls), &h).await.unwrap().unwrap();
    assert_subset(&ep, &read.spec);

    // MediaPackage channel description and tags.
    let mut mps = world.resolve(&c, &stack.get(&mp).unwrap().spec).await;
    mps["Description"] = json!("edited");
    mps["Tags"]["team"] = json!("video");
    c.update(&mp, world.id(&mp), &mps, &world.observed[&mp])
        .await
        .unwrap();
    assert_subset(
        &mps,
        &c.read(&mp, world.id(&mp), &h).await.unwrap().unwrap().spec,
    );

    // Role: a managed policy attached, the inline one removed, a trust policy change, tags.
    let mut rs = world.resolve(&c, &stack.get(&role).unwrap().spec).await;
    rs["ManagedPolicyArns"] = json!([
        "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess",
        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"
    ]);
    rs["InlinePolicies"] = json!({ "extra": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }] } });
    rs["AssumeRolePolicyDocument"]["Statement"][0]["Sid"] = json!("MediaLive");
    rs["Tags"]["team"] = json!("video");
    c.update(&role, world.id(&role), &rs, &world.observed[&role])
        .await
        .unwrap();
    let read = c.read(&role, world.id(&role), &h).await.unwrap().unwrap();
    assert_eq!(read.spec["InlinePolicies"], rs["InlinePolicies"]);
    assert_eq!(read.spec["ManagedPolicyArns"], rs["ManagedPolicyArns"]);
    assert_eq!(
        read.spec["AssumeRolePolicyDocument"],
        rs["AssumeRolePolicyDocument"]
    );
    assert_eq!(read.spec["Tags"], rs["Tags"]);

    // SSM: a new value is a new hash; tags diffed.
    let mut ps = world.resolve(&c, &stack.get(&p1).unwrap().spec).await;
    ps["Value"] = json!("rotated-password");
    ps["Tags"]["team"] = json!("video");
    c.update(&p1, world.id(&p1), &ps, &world.observed[&p1])
        .await
        .unwrap();
    let read = c.read(&p1, world.id(&p1), &h).await.unwrap().unwrap();
    assert_eq!(read.spec["Value"], h.sensitive("rotated-password"));
    assert_eq!(read.spec["Tags"], ps["Tags"]);

    // Tags alone, on every other kind.
    for a in [&role, &mp, &hls, &p2, &input] {
        let current = c.read(a, world.id(a), &h).await.unwrap().unwrap();
        let mut want = current.spec.clone();
        want["Tags"]["tags-only"] = json!("yes");
        want["Tags"].as_object_mut().unwrap().remove("workshop");
        c.update_tags(a, world.id(a), &want, &current)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read = c.read(a, world.id(a), &h).await.unwrap().unwrap();
        assert_eq!(read.spec["Tags"], want["Tags"], "{a}");
        let mut rest = read.spec.clone();
        rest["Tags"] = current.spec["Tags"].clone();
        assert_eq!(rest, current.spec, "{a}: nothing but tags changed");
    }

    // Destroy in aws-lifecycle.md's order; each delete idempotent.
    let err = c.delete(&input, world.id(&input)).await.unwrap_err();
    assert!(
        err.is_conflict(),
        "an attached input cannot be deleted: {err}"
    );
    c.delete(&channel, &id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Deleted, WAIT)
        .await
        .unwrap();
    assert!(c.read(&channel, &id, &h).await.unwrap().is_none());
    c.wait_input_detached(world.id(&input), WAIT).await.unwrap();
    for a in [&input, &hls, &mp, &p1, &p2, &role] {
        let id = world.id(a);
        c.delete(a, id)
            .await
            .unwrap_or_else(|e| panic!("delete {a}: {e}"));
        c.wait_gone(a, id, WAIT).await.unwrap();
        assert!(
            c.read(a, id, &h).await.unwrap().is_none(),
            "{a} still there"
        );
        c.delete(a, id)
            .await
            .unwrap_or_else(|e| panic!("second delete of {a}: {e}"));
    }
    assert!(c
        .discover("imday", &Default::default())
        .await
        .unwrap()
        .is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn laptop_rtmp_push_input_and_security_group() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    let stack = example("laptop-rtmp.toml");
    let mut world = World::default();
    create_all(&c, &stack, &mut world).await;

    let sg = Address::new(Kind::MedialiveInputSecurityGroup, "open");
    let input = Address::new(Kind::MedialiveInput, "live-camera");
    let channel = Address::new(Kind::MedialiveChannel, "imday-live");

    let dests = world.observed[&input].outputs["Destinations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(dests.len(), 2);
    assert_eq!(dests[0]["StreamName"], "imday/a");
    assert!(dests[0]["Url"].as_str().unwrap().starts_with("rtmp://"));
    assert!(dests[1]["Url"].as_str().unwrap().ends_with("/imday/b"));
    assert!(world.observed[&sg].outputs["Id"].is_string());
    let sg_status = c
        .read(&sg, world.id(&sg), &h)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(sg_status.as_deref(), Some("IN_USE"));

    // Security groups are editable while in use.
    let mut sgs = world.resolve(&c, &stack.get(&sg).unwrap().spec).await;
    sgs["WhitelistRules"] = json!([{ "Cidr": "203.0.113.0/24" }, { "Cidr": "198.51.100.7/32" }]);
    sgs["Tags"]["team"] = json!("video");
    c.update(&sg, world.id(&sg), &sgs, &world.observed[&sg])
        .await
        .unwrap();
    let read = c.read(&sg, world.id(&sg), &h).await.unwrap().unwrap();
    assert_subset(&sgs, &read.spec);
    assert_eq!(read.spec["Tags"], sgs["Tags"]);

    // The input renamed (its channel is IDLE).
    let mut is = world.resolve(&c, &stack.get(&input).unwrap().spec).await;
    is["Name"] = json!("live-camera-2");
    c.update(&input, world.id(&input), &is, &world.observed[&input])
        .await
        .unwrap();
    let read = c.read(&input, world.id(&input), &h).await.unwrap().unwrap();
    assert_subset(&is, &read.spec);
    assert_eq!(
        read.outputs["Destinations"],
        json!(dests),
        "push URLs are fixed for the input's life"
    );

    // Deleting a security group in use is a conflict.
    let err = c.delete(&sg, world.id(&sg)).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let id = world.id(&channel).to_string();
    c.delete(&channel, &id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Deleted, WAIT)
        .await
        .unwrap();
    c.wait_input_detached(world.id(&input), WAIT).await.unwrap();
    c.delete(&input, world.id(&input)).await.unwrap();
    c.wait_gone(&input, world.id(&input), WAIT).await.unwrap();
    c.delete(&sg, world.id(&sg)).await.unwrap();
    c.wait_gone(&sg, world.id(&sg), WAIT).await.unwrap();
    sb.shutdown().await;
}

#[tokio::test]
async fn missing_resources_read_as_none_and_errors_name_the_call() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    for (kind, id) in [
        (Kind::IamRole, "NoSuchRole"),
        (Kind::MediapackageChannel, "no-such-channel"),
        (Kind::MediapackageEndpoint, "no-such-endpoint"),
        (Kind::SsmParameter, "/livestack/none/x/ingest-1"),
        (Kind::MedialiveInputSecurityGroup, "999999"),
        (Kind::MedialiveInput, "999999"),
        (Kind::MedialiveChannel, "999999"),
    ] {
        let a = Address::new(kind, "missing");
        assert!(c.read(&a, id, &h).await.unwrap().is_none(), "{a}");
        c.delete(&a, id)
            .await
            .unwrap_or_else(|e| panic!("deleting a missing {a}: {e}"));
        c.wait_gone(&a, id, Duration::from_secs(1)).await.unwrap();
    }
    let err = c.start_channel("999999").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string()
            .starts_with("StartChannel for medialive channel 999999: NotFoundException"),
        "{err}"
    );
    c.wait_channel("999999", ChannelWait::Deleted, WAIT)
        .await
        .unwrap();
    let err = c
        .wait_channel("999999", ChannelWait::Idle, WAIT)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedState { .. }), "{err}");

    let err = c
        .secret_value(&SecretSource::Env("LIVESTACK_TEST_SURELY_UNSET_VAR".into()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read secret env LIVESTACK_TEST_SURELY_UNSET_VAR: the variable is not set"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn rejected_channel_keeps_the_stream_key_out_of_the_error() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let address = Address::new(Kind::MedialiveChannel, "bad");
    // A STANDARD channel whose RTMP destination has one setting: MediaLive answers 422.
    let spec = json!({
        "Name": "bad", "ChannelClass": "STANDARD", "LogLevel": "DISABLED",
        "InputAttachments": [],
        "Destinations": [{ "Id": "fb", "Settings": [{ "Url": "rtmps://live-api-s.facebook.com:443/rtmp/", "StreamName": STREAM_KEY }], "MediaPackageSettings": [] }],
        "EncoderSettings": { "AudioDescriptions": [], "OutputGroups": [], "VideoDescriptions": [], "TimecodeConfig": { "Source": "SYSTEMCLOCK" } },
        "Tags": {}
    });
    let err = c.create(&address, &spec, "t1").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.starts_with("CreateChannel for medialive_channel.bad: UnprocessableEntityException"),
        "{text}"
    );
    no_secret_in(&text, &[STREAM_KEY]);

    // An unresolved placeholder never reaches AWS.
    let mut unresolved = spec.clone();
    unresolved["RoleArn"] = json!({ "$ref": "iam_role.x", "attr": "Arn" });
    let err = c.create(&address, &unresolved, "t2").await.unwrap_err();
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn encoder_settings_travel_verbatim() {
    // The escape hatch: members livestack's presets never write come back as they were sent.
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    let stack = example("laptop-rtmp.toml");
    let mut world = World::default();
    for kind in [
        Kind::IamRole,
        Kind::MediapackageChannel,
        Kind::MedialiveInputSecurityGroup,
        Kind::MedialiveInput,
    ] {
        for r in stack.resources.iter().filter(|r| r.address.kind == kind) {
            let spec = world.resolve(&c, &r.spec).await;
            let (_, o) = c
                .create(&r.address, &spec, &format!("t-{}", r.address))
                .await
                .unwrap();
            world.observed.insert(r.address.clone(), o);
        }
    }
    let channel = Address::new(Kind::MedialiveChannel, "imday-live");
    let mut spec = world.resolve(&c, &stack.get(&channel).unwrap().spec).await;
    spec["EncoderSettings"]["AvailConfiguration"] = json!({ "AvailSettings": { "Scte35SpliceInsert": { "AdAvailOffset": 0, "NoRegionalBlackoutFlag": "FOLLOW" } } });
    spec["EncoderSettings"]["VideoDescriptions"][0]["CodecSettings"]["H264Settings"]
        ["FramerateNumerator"] = json!(30000);
    spec["EncoderSettings"]["VideoDescriptions"][0]["CodecSettings"]["H264Settings"]
        ["FramerateDenominator"] = json!(1001);
    spec["InputAttachments"][0]["InputSettings"] =
        json!({ "SourceEndBehavior": "CONTINUE", "InputFilter": "AUTO", "FilterStrength": 1 });
    let (id, _) = c.create(&channel, &spec, "t-channel").await.unwrap();
    let read = c.read(&channel, &id, &h).await.unwrap().unwrap();
    assert_eq!(read.spec["EncoderSettings"], spec["EncoderSettings"]);
    assert_subset(&spec, &read.spec);
    // What went over the wire was camelCase.
    let cloud: Json = reqwest_cloud(&sb).await;
    let text = cloud.to_string();
    assert!(text.contains("\"scte35SpliceInsert\""), "{text}");
    assert!(!text.contains("\"Scte35SpliceInsert\""));
    sb.shutdown().await;
}

/// The sandbox's whole cloud (`GET /_sandbox/cloud`), over a plain HTTP/1.1 request.
async fn reqwest_cloud(sb: &Running) -> Json {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    s.write_all(b"GET /_sandbox/cloud HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).unwrap()
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

/// A bare channel: no input, no output (the sandbox accepts it; enough to drive states).
fn bare_channel(name: &str) -> Json {
    json!({
        "Name": name, "ChannelClass": "SINGLE_PIPELINE", "LogLevel": "DISABLED",
        "InputAttachments": [], "Destinations": [],
        "EncoderSettings": { "AudioDescriptions": [], "OutputGroups": [], "VideoDescriptions": [], "TimecodeConfig": { "Source": "SYSTEMCLOCK" } },
        "Tags": { "livestack:stack": "waits", "livestack:address": format!("medialive_channel.{name}") }
    })
}

#[tokio::test]
async fn long_transitions_are_polled_to_their_end_and_time_out() {
    // Speed 25: a 60 s start takes 2.4 s, seen within a tenth of that.
    let sb = start(Config {
        port: 0,
        speed: 25.0,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = clients(&sb).await;
    let a = Address::new(Kind::MedialiveChannel, "slow");
    let (id, created) = c.create(&a, &bare_channel("slow"), "t-slow").await.unwrap();
    assert_eq!(created.status.as_deref(), Some("CREATING"));
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    // Nobody started it: however slow the machine, it never gets RUNNING, so the wait
    // times out (a started channel could beat a short timeout on a loaded machine).
    let err = c
        .wait_channel(&id, ChannelWait::Running, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "timed out after 0s waiting for medialive channel ".to_string() + &id + " to be RUNNING"
    );
    c.start_channel(&id).await.unwrap();
    c.wait_channel(&id, ChannelWait::Running, WAIT)
        .await
        .unwrap();
    let h = hasher();
    assert_eq!(
        c.read(&a, &id, &h)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_deref(),
        Some("RUNNING")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let sb = start(Config {
        port: 0,
        speed: 2000.0,
        faults: livestack_sandbox::Faults {
            seed: 7,
            throttle_rate: 0.2,
            error_rate: 0.1,
            ..Default::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let c = clients(&sb).await;
    let h = hasher();
    let a = Address::new(Kind::MedialiveChannel, "flaky");
    let (id, _) = c
        .create(&a, &bare_channel("flaky"), "t-flaky")
        .await
        .unwrap();
    c.wait_channel(&id, ChannelWait::Idle, WAIT).await.unwrap();
    assert!(c.read(&a, &id, &h).await.unwrap().is_some());
    let found = c.discover("waits", &Default::default()).await.unwrap();
    assert_eq!(
        found,
        [(a.clone(), id.clone())],
        "one channel, whatever the retries"
    );
    let log = sb.requests();
    if std::env::var_os("LIVESTACK_TEST_LOG").is_some() {
        let t0 = log.first().map(|r| r.time_ms).unwrap_or(0);
        for r in &log {
            eprintln!(
                "{:>6} {} {} {}",
                r.time_ms - t0,
                r.operation,
                r.status,
                r.path
            );
        }
    }
    let faulted = log
        .iter()
        .filter(|r| r.status == 429 || r.status >= 500)
        .count();
    assert!(faulted > 0, "the faults were injected");
    sb.shutdown().await;
}

/// Waits until the sandbox has answered `operation` with `status`, then ends the consistency
/// window: the moment a "not yet visible" answer was met is the sandbox's, not a clock's.
async fn end_window_once_met(sb: &livestack_sandbox::Running, operation: &str, status: u16) {
    while !sb
        .requests()
        .iter()
        .any(|r| r.operation == operation && r.status == status)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sb.set_faults(livestack_sandbox::Faults::default()).unwrap();
}

#[tokio::test]
async fn a_mediapackage_channel_not_yet_visible_is_waited_for() {
    // A new MediaPackage channel is "not found" to CreateOriginEndpoint and unknown to
    // MediaLive's CreateChannel until the test ends the window (an hour otherwise): both
    // are tried again, not failed.
    let window = livestack_sandbox::Faults {
        consistency_ms: 3_600_000,
        ..Default::default()
    };
    let sb = start(Config {
        port: 0,
        speed: 2000.0,
        faults: window.clone(),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = clients(&sb).await;
    let stack = example("laptop-rtmp.toml");
    let mut world = World::default();
    tokio::join!(
        create_all(&c, &stack, &mut world),
        end_window_once_met(&sb, "CreateOriginEndpoint", 404)
    );
    let endpoint = sb
        .requests()
        .into_iter()
        .filter(|r| r.operation == "CreateOriginEndpoint")
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(endpoint.first(), Some(&404), "{endpoint:?}");
    assert_eq!(endpoint.last(), Some(&200), "{endpoint:?}");

    // A channel sending to a MediaPackage channel created a moment ago.
    sb.set_faults(window).unwrap();
    let mp = Address::new(Kind::MediapackageChannel, "second");
    let mp_spec = json!({ "Id": "second-mp", "Tags": {} });
    c.create(&mp, &mp_spec, "t-mp").await.unwrap();
    let mut spec = bare_channel("second");
    spec["Destinations"] = json!([{ "Id": "mp", "Settings": [], "MediaPackageSettings": [{ "ChannelId": "second-mp" }] }]);
    let a = Address::new(Kind::MedialiveChannel, "second");
    let before = sb.requests().len();
    let (created, ()) = tokio::join!(
        c.create(&a, &spec, "t-second"),
        end_window_once_met(&sb, "CreateChannel", 422)
    );
    created.unwrap();
    let channel = sb.requests()[before..]
        .iter()
        .filter(|r| r.service == "medialive" && r.operation == "CreateChannel")
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(channel.first(), Some(&422), "{channel:?}");
    assert_eq!(channel.last(), Some(&201), "{channel:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_bulk_read_shows_each_resource_exactly_as_its_read() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    let mut world = World::default();
    create_all(&c, &example("s3-loop.toml"), &mut world).await;
    create_all(&c, &example("laptop-rtmp.toml"), &mut world).await;
    for kind in Kind::ALL {
        let created: Vec<&Address> = world.observed.keys().filter(|a| a.kind == kind).collect();
        assert!(!created.is_empty(), "the examples make a {kind}");
        // What exists, and an id that does not: left out, never an error.
        let mut ids: Vec<String> = created.iter().map(|a| world.id(a).to_string()).collect();
        ids.push(match kind {
            Kind::SsmParameter => "/livestack/imday/never-made".into(),
            _ => "9999999".into(),
        });
        // The bulk reads are the ones the kind's table promises.
        let Some(bulk) = c.read_many(kind, &ids, &h).await.unwrap() else {
            assert!(!kind.info().read_in_bulk, "{kind} has no bulk read");
            continue;
        };
        assert!(kind.info().read_in_bulk, "{kind} has a bulk read");
        assert_eq!(bulk.len(), created.len(), "{kind}: {bulk:#?}");
        for a in created {
            let read = c.read(a, world.id(a), &h).await.unwrap().unwrap();
            let one = bulk.iter().find(|o| o.id == read.id);
            assert_eq!(one, Some(&read), "{a}: read in bulk as read alone");
        }
    }
    // Only what was asked for.
    let one = world
        .observed
        .keys()
        .find(|a| a.kind == Kind::MedialiveInput)
        .unwrap();
    let bulk = c
        .read_many(Kind::MedialiveInput, &[world.id(one).to_string()], &h)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bulk.len(), 1);
    sb.shutdown().await;
}

/// AWS's request quotas, as the sandbox models them: a family that meets throttles is paced
/// from then on (the calls wait for their slot) instead of each call retrying into the quota.
#[tokio::test]
async fn a_throttled_family_is_paced_and_every_call_goes_through() {
    let sb = sandbox().await;
    let c = clients(&sb).await;
    let h = hasher();
    let ids = security_groups(&c, "g", 100).await;
    assert!(c.paces().is_empty(), "nothing throttled, nothing paced");
    // MediaLive at 20 calls a second, bursts of 5; 20 reads in flight at a time.
    sb.set_faults(livestack_sandbox::Faults {
        latency_ms: 5,
        rate_limits: vec![livestack_sandbox::RateLimit {
            service: "medialive".into(),
            operations: vec![],
            rate: 20.0,
            burst: 5,
        }],
        ..Default::default()
    })
    .unwrap();
    let since = sb.requests().last().map_or(0, |r| r.seq);
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(20));
    let mut reads = tokio::task::JoinSet::new();
    for (a, id) in ids.clone() {
        let (c, h, sem) = (c.clone(), h.clone(), sem.clone());
        reads.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            c.read(&a, &id, &h).await
        });
    }
    while let Some(r) = reads.join_next().await {
        assert!(r.unwrap().unwrap().is_some(), "every read goes through");
    }
    let log: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.seq > since)
        .collect();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    // Retrying each call after its own backoff, 20 callers keep the bucket empty and about as
    // many attempts are refused as calls are made; paced, the first burst is refused (20 sent
    // at once into a bucket of 5) and the family then settles near the quota's rate.
    assert!(
        throttled < ids.len() / 2,
        "{throttled} of {} attempts throttled for {} reads",
        log.len(),
        ids.len()
    );
    let paces = c.paces();
    assert_eq!(
        paces.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        [livestack_aws::Family::MediaLive],
        "only MediaLive met throttles: {paces:?}"
    );
    sb.shutdown().await;
}

/// A call waiting for its family's slot has not gone unanswered: with more calls queued than
/// the pace lets through within one attempt's time limit, every call still goes through, and
/// no attempt is reported as unanswered (the wait counts against the whole call's budget only).
#[tokio::test]
async fn waiting_for_a_slot_is_not_an_unanswered_attempt() {
    let sb = sandbox().await;
    let retries = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = retries.clone();
    let policy = livestack_aws::CallPolicy {
        // Each attempt may take 5 s once sent; 40 calls at about 4 a second take 10 s.
        budget: Duration::from_secs(20),
        on_retry: Some(std::sync::Arc::new(move |r: &livestack_aws::Retry| {
            seen.lock().unwrap().push(r.to_string())
        })),
    };
    assert_eq!(policy.attempt_timeout(), Duration::from_secs(5));
    let c = livestack_aws::connect_with(
        &Target {
            region: Some("us-east-1".into()),
            endpoint_url: Some(sb.endpoint_url()),
            dummy_credentials: true,
            profile: None,
        },
        &policy,
    )
    .await
    .unwrap()
    .with_hasher(hasher());
    let ids = security_groups(&c, "q", 40).await;
    // MediaLive at 4 calls a second, bursts of 4: once paced, the 40 reads sent at once queue
    // for about 10 s, twice an attempt's limit.
    sb.set_faults(livestack_sandbox::Faults {
        rate_limits: vec![livestack_sandbox::RateLimit {
            service: "medialive".into(),
            operations: vec![],
            rate: 4.0,
            burst: 4,
        }],
        ..Default::default()
    })
    .unwrap();
    let h = hasher();
    let mut reads = tokio::task::JoinSet::new();
    for (a, id) in ids.clone() {
        let (c, h) = (c.clone(), h.clone());
        reads.spawn(async move { c.read(&a, &id, &h).await });
    }
    let t0 = std::time::Instant::now();
    while let Some(r) = reads.join_next().await {
        let r = r.unwrap();
        assert!(
            r.as_ref().is_ok_and(|o| o.is_some()),
            "every read goes through: {r:?}; paces {:?}",
            c.paces()
        );
    }
    // The queue was longer than an attempt's limit (else this test shows nothing).
    assert!(t0.elapsed() > Duration::from_secs(5), "{:?}", t0.elapsed());
    let retries = retries.lock().unwrap().clone();
    assert!(
        retries.iter().all(|r| !r.contains("no answer")),
        "{retries:#?}"
    );
    assert!(!c.paces().is_empty(), "MediaLive was paced");
    sb.shutdown().await;
}

/// `n` input security groups, made one after the other: (address, id).
async fn security_groups(c: &Clients, prefix: &str, n: usize) -> Vec<(Address, String)> {
    let mut ids = Vec::new();
    for i in 0..n {
        let a = Address::new(Kind::MedialiveInputSecurityGroup, format!("{prefix}{i}"));
        let spec = json!({"WhitelistRules": [{"Cidr": "10.0.0.0/8"}], "Tags": {}});
        ids.push((a.clone(), c.create(&a, &spec, "").await.unwrap().0));
    }
    ids
}

/// The first call of a run, STS GetCallerIdentity through aws-sdk-sts: the sandbox answers
/// its account and its world, which tells two sandboxes apart.
#[tokio::test]
async fn the_caller_identity_names_the_sandbox_world() {
    let sb = sandbox().await;
    let me = clients(&sb).await.caller_identity().await.unwrap();
    assert_eq!(me.account, "123456789012");
    assert_eq!(me.sandbox_world(), Some(sb.identity().world.as_str()));
    let other = sandbox().await;
    let them = clients(&other).await.caller_identity().await.unwrap();
    assert_ne!(them.sandbox_world(), me.sandbox_world());
}
