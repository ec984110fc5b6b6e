//! What a state holds, for people (`livestack show STACK`) and machines (`--json`), and the
//! outputs `livestack outputs` prints. Everything here reads the state only: no AWS call.
//!
//! Secrets: the state holds keyed hashes (`{"$sensitive": ...}`) where a spec had a secret;
//! every spec shown here goes through [`livestack_plan::redact`], so neither a value nor its
//! hash is printed, and the state's `hash_key` is never shown.

use std::fmt::Write;
use std::path::Path;

use livestack_model::Kind;
use livestack_plan::{redact, Prior, PriorResource};
use serde_json::{json, Value as Json};

use crate::State;

/// The run state the last apply left a channel in (`running` of its stack), as MediaLive names
/// it; `None` for other kinds.
fn recorded_run_state(r: &PriorResource) -> Option<&'static str> {
    r.running.map(|on| if on { "RUNNING" } else { "IDLE" })
}

/// What the workshop makes you copy by hand: OBS server and key of each RTMP push input, each
/// endpoint's playback URL, each channel with the run state the last apply recorded
/// (`livestack outputs` replaces it with the state it reads from the cloud).
pub fn outputs(prior: &Prior) -> Json {
    let mut out = json!({ "inputs": [], "endpoints": [], "channels": [] });
    for (a, r) in &prior.resources {
        let (list, entry) = match a.kind {
            Kind::MedialiveInput => {
                for d in r.outputs["Destinations"].as_array().into_iter().flatten() {
                    let url = d["Url"].as_str().unwrap_or_default();
                    let (server, key) = match url.rsplit_once('/') {
                        Some((server, key)) => (format!("{server}/"), key.to_string()),
                        None => (url.to_string(), String::new()),
                    };
                    out["inputs"].as_array_mut().expect("a list").push(json!({
                        "address": a.to_string(),
                        "url": url,
                        "obs_server": server,
                        "obs_stream_key": key,
                    }));
                }
                continue;
            }
            Kind::MediapackageEndpoint => (
                "endpoints",
                json!({ "address": a.to_string(), "playback_url": r.outputs["Url"] }),
            ),
            Kind::MedialiveChannel => (
                "channels",
                json!({
                    "address": a.to_string(),
                    "id": r.id,
                    "state": recorded_run_state(r).unwrap_or("UNKNOWN"),
                }),
            ),
            _ => continue,
        };
        out[list].as_array_mut().expect("a list").push(entry);
    }
    out
}

/// [`outputs`] as the lines `livestack outputs` prints; `state_note` follows each channel's
/// state (" (as last applied)" when it was not read from the cloud).
pub fn render_outputs(out: &Json, state_note: &str) -> String {
    let mut text = String::new();
    let s = |v: &Json| v.as_str().unwrap_or("?").to_string();
    for i in out["inputs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "{}  OBS Server: {}  Stream key: {}",
            s(&i["address"]),
            s(&i["obs_server"]),
            s(&i["obs_stream_key"])
        );
    }
    for e in out["endpoints"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "{}  playback URL: {}",
            s(&e["address"]),
            s(&e["playback_url"])
        );
    }
    for c in out["channels"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "{}  channel {}: {}{state_note}",
            s(&c["address"]),
            s(&c["id"]),
            s(&c["state"])
        );
    }
    text
}

/// `livestack show STACK --json`: per resource its address, id, ARN, the spec last applied
/// (secrets as "(sensitive)"), its dependencies and, for channels, the run state recorded; the
/// old copies still to delete, the ids let go of; and the outputs.
pub fn render_json(state: &State, path: &Path) -> Json {
    let resources: Vec<Json> = state
        .prior
        .resources
        .iter()
        .map(|(a, r)| {
            let mut v = json!({
                "address": a.to_string(),
                "kind": a.kind,
                "id": r.id,
                "arn": r.arn,
                "applied": redact(&r.applied),
                "depends_on": r.depends_on.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            });
            if let Some(run) = recorded_run_state(r) {
                v["run_state"] = json!(run);
            }
            v
        })
        .collect();
    let ids = |v: &[livestack_plan::Deposed]| -> Vec<Json> {
        v.iter()
            .map(|d| json!({ "address": d.address.to_string(), "id": d.id }))
            .collect()
    };
    json!({
        "source": "state",
        "stack": state.stack,
        "state_file": path.display().to_string(),
        "serial": state.serial,
        "lineage": state.lineage,
        "target": state.target,
        "resources": resources,
        "deposed": ids(&state.prior.deposed),
        "released": ids(&state.prior.released),
        "outputs": outputs(&state.prior),
    })
}

/// `livestack show STACK`: [`render_json`] for people.
pub fn render_text(state: &State, path: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "livestack state of stack \"{}\" ({}, serial {})",
        state.stack,
        path.display(),
        state.serial
    );
    if let Some(t) = &state.target {
        let _ = writeln!(out, "Target: {t}");
    }
    let _ = writeln!(
        out,
        "What the last apply recorded; AWS was not called (`livestack plan` compares it with the \
         cloud)."
    );
    if state.prior.resources.is_empty() {
        let _ = writeln!(out, "\nNo resources: nothing applied yet.");
    }
    for (a, r) in &state.prior.resources {
        let _ = writeln!(out, "\n# {a}");
        let _ = writeln!(out, "  id:         {}", r.id);
        if let Some(arn) = &r.arn {
            let _ = writeln!(out, "  arn:        {arn}");
        }
        if let Some(run) = recorded_run_state(r) {
            let _ = writeln!(out, "  run state:  {run} (as last applied)");
        }
        if !r.depends_on.is_empty() {
            let deps: Vec<String> = r.depends_on.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(out, "  depends on: {}", deps.join(", "));
        }
        if r.applied.is_null() {
            let _ = writeln!(
                out,
                "  applied:    nothing yet (adopted; the next apply records its spec)"
            );
        } else {
            let spec = serde_json::to_string_pretty(&redact(&r.applied)).expect("json prints");
            let _ = writeln!(out, "  applied:");
            for line in spec.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    for (what, list) in [
        (
            "Old copies of replaced resources, still to delete (the next apply deletes them):",
            &state.prior.deposed,
        ),
        (
            "Let go of by `livestack state rm` (never adopted or deleted again):",
            &state.prior.released,
        ),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{what}");
            for d in list {
                let _ = writeln!(out, "  {}  id {}", d.address, d.id);
            }
        }
    }
    let outputs = render_outputs(&outputs(&state.prior), " (as last applied)");
    if !outputs.is_empty() {
        let _ = write!(out, "\nOutputs:\n{outputs}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use livestack_model::Address;

    fn state() -> State {
        let mut st = State::new("demo");
        st.lineage = "l1".into();
        st.serial = 3;
        // A state written before the key moved out of it still holds it.
        st.hash_key = Some("0123456789abcdef0123456789abcdef".into());
        let hasher = livestack_plan::Hasher::new(b"0123456789abcdef0123456789abcdef");
        let mut add = |a: &str, r: PriorResource| {
            st.prior.resources.insert(Address::parse(a).unwrap(), r);
        };
        let plain = |id: &str| PriorResource {
            id: id.into(),
            arn: None,
            applied: Json::Null,
            outputs: Json::Null,
            depends_on: vec![],
            running: None,
        };
        add(
            "ssm_parameter.pw",
            PriorResource {
                applied: json!({ "Name": "/pw", "Value": hasher.sensitive("hunter2") }),
                ..plain("/pw")
            },
        );
        add(
            "medialive_input.push",
            PriorResource {
                arn: Some("arn:input:1".into()),
                applied: json!({ "Name": "push", "Type": "RTMP_PUSH" }),
                outputs: json!({ "Destinations": [{ "Url": "rtmp://1.2.3.4:1935/app/key" }] }),
                ..plain("1")
            },
        );
        add(
            "medialive_channel.ch",
            PriorResource {
                applied: json!({ "Name": "ch", "Destinations": [{ "Id": "fb", "Settings": [{ "StreamName": { "$secret": "env:KEY" } }] }] }),
                depends_on: vec![Address::parse("medialive_input.push").unwrap()],
                running: Some(true),
                ..plain("2")
            },
        );
        add(
            "mediapackage_endpoint.hls",
            PriorResource {
                outputs: json!({ "Url": "https://example/out/index.m3u8" }),
                ..plain("hls")
            },
        );
        st.prior.deposed.push(livestack_plan::Deposed {
            address: Address::parse("medialive_channel.ch").unwrap(),
            id: "1".into(),
        });
        st
    }

    #[test]
    fn the_state_as_text_shows_no_secret_and_says_aws_was_not_called() {
        let st = state();
        let text = render_text(&st, Path::new("state/demo.json"));
        expect![[r#"
            livestack state of stack "demo" (state/demo.json, serial 3)
            What the last apply recorded; AWS was not called (`livestack plan` compares it with the cloud).

            # mediapackage_endpoint.hls
              id:         hls
              applied:    nothing yet (adopted; the next apply records its spec)

            # ssm_parameter.pw
              id:         /pw
              applied:
                {
                  "Name": "/pw",
                  "Value": "(sensitive)"
                }

            # medialive_input.push
              id:         1
              arn:        arn:input:1
              applied:
                {
                  "Name": "push",
                  "Type": "RTMP_PUSH"
                }

            # medialive_channel.ch
              id:         2
              run state:  RUNNING (as last applied)
              depends on: medialive_input.push
              applied:
                {
                  "Name": "ch",
                  "Destinations": [
                    {
                      "Id": "fb",
                      "Settings": [
                        {
                          "StreamName": "(sensitive)"
                        }
                      ]
                    }
                  ]
                }

            Old copies of replaced resources, still to delete (the next apply deletes them):
              medialive_channel.ch  id 1

            Outputs:
            medialive_input.push  OBS Server: rtmp://1.2.3.4:1935/app/  Stream key: key
            mediapackage_endpoint.hls  playback URL: https://example/out/index.m3u8
            medialive_channel.ch  channel 2: RUNNING (as last applied)
        "#]]
        .assert_eq(&text);
        let json = render_json(&st, Path::new("state/demo.json")).to_string();
        for shown in [&text, &json] {
            assert!(!shown.contains("hunter2"));
            assert!(!shown.contains("hmac"), "no keyed hash either");
            assert!(
                !shown.contains(st.hash_key.as_deref().unwrap()),
                "nor the key of the hashes"
            );
            assert!(!shown.contains("env:KEY"), "nor where a secret comes from");
        }
    }

    #[test]
    fn the_state_as_json_keeps_the_outputs_shape() {
        let st = state();
        let v = render_json(&st, Path::new("state/demo.json"));
        assert_eq!(v["source"], "state");
        let resource = |a: &str| {
            v["resources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["address"] == a)
                .unwrap_or_else(|| panic!("{a} in {v:#}"))
        };
        assert_eq!(resource("medialive_channel.ch")["run_state"], "RUNNING");
        assert_eq!(resource("medialive_input.push")["arn"], "arn:input:1");
        assert_eq!(
            resource("ssm_parameter.pw")["applied"]["Value"],
            "(sensitive)"
        );
        assert_eq!(
            v["outputs"]["channels"][0],
            json!({ "address": "medialive_channel.ch", "id": "2", "state": "RUNNING" })
        );
        assert_eq!(v["deposed"][0]["id"], "1");
    }
}
