//! The pure planner and the model at broadcaster scale: a stack of N copies of the workshop's
//! section 1 (a MediaPackage channel, its HLS endpoint, two ingest-password parameters, an
//! input and a running channel per copy, one shared role). `cargo bench -p livestack-plan`
//! prints the figures; the issue's bound is 200 ms to plan 10,000 resources (1,700 copies).

use std::path::Path;

use livestack_model::{Address, Kind, ValidatedStack};
use livestack_plan::{
    lookup, plan, secret_key, Hasher, Mode, Observed, ObservedResource, Prior, PriorResource,
};
use serde_json::{json, Value as Json};

fn main() {
    divan::main();
}

/// The stack file text of `copies` copies of section 1.
fn stack_text(copies: usize) -> String {
    let mut t = String::from(
        "[stack]\nname = \"scale\"\nregion = \"us-east-1\"\n\n[iam_role.medialive]\nname = \"ScaleRole\"\npreset = \"medialive-access\"\n",
    );
    for i in 0..copies {
        t.push_str(&format!(
            r#"
[mediapackage_channel.mp-{i}]
id = "scale-mp-{i}"

[mediapackage_endpoint.hls-{i}]
id = "scale-hls-{i}"
channel = "mediapackage_channel.mp-{i}"
packaging = "hls"

[medialive_input.in-{i}]
name = "scale-in-{i}"
type = "url_pull"
sources = ["https://example.com/{i}/a.m3u8", "https://example.com/{i}/b.m3u8"]

[medialive_channel.ch-{i}]
name = "scale-ch-{i}"
class = "standard"
role = "iam_role.medialive"
inputs = [{{ input = "medialive_input.in-{i}", source_end_behavior = "loop" }}]
output_groups = [{{ name = "hls", type = "hls", destination = "mediapackage_channel.mp-{i}", ladder = "720p" }}]
"#
        ));
    }
    t
}

fn stack(copies: usize) -> ValidatedStack {
    livestack_model::parse(Path::new("scale.toml"), &stack_text(copies)).expect("valid")
}

/// The state and cloud an apply of `stack` leaves (no server defaults).
fn applied(stack: &ValidatedStack) -> (Prior, Observed) {
    let hasher = Hasher::new(b"bench");
    let mut prior = Prior::default();
    let mut observed = Observed::default();
    // Declaration order puts what a resource refers to before it, but for derived
    // parameters, which follow their MediaPackage channel.
    for (n, r) in (1_000_001u64..).zip(&stack.resources) {
        let info = r.address.kind.info();
        let id = info.natural_id(&r.spec).unwrap_or_else(|| n.to_string());
        let outputs = match r.address.kind {
            Kind::MediapackageChannel => {
                json!({ "Arn": format!("arn:{id}"), "HlsIngest": { "IngestEndpoints": [
                { "Id": "1", "Url": format!("https://mp/{id}/1"), "Username": "u1" },
                { "Id": "2", "Url": format!("https://mp/{id}/2"), "Username": "u2" },
            ] } })
            }
            _ => json!({ "Arn": format!("arn:{id}"), "Id": id, "Name": id }),
        };
        let spec = resolve(&r.spec, &observed, &hasher);
        observed.resources.insert(
            r.address.clone(),
            ObservedResource {
                id: id.clone(),
                arn: Some(format!("arn:{id}")),
                spec: spec.clone(),
                outputs: outputs.clone(),
                status: info.run_state.then(|| "RUNNING".into()),
            },
        );
        prior.resources.insert(
            r.address.clone(),
            PriorResource {
                id,
                arn: None,
                applied: spec,
                outputs,
                depends_on: r.depends_on.clone(),
                running: r.running,
            },
        );
    }
    for r in &stack.resources {
        collect_secrets(&r.spec, &hasher, &mut observed);
    }
    (prior, observed)
}

fn resolve(v: &Json, observed: &Observed, hasher: &Hasher) -> Json {
    match v {
        Json::Object(m) if m.contains_key("$ref") => {
            let a = Address::parse(m["$ref"].as_str().unwrap()).unwrap();
            observed
                .resources
                .get(&a)
                .and_then(|o| lookup(&o.outputs, m["attr"].as_str().unwrap_or("")))
                .cloned()
                .unwrap_or(Json::Null)
        }
        Json::Object(m) if m.contains_key("$secret") => {
            hasher.sensitive(&secret_key(&m["$secret"]))
        }
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, observed, hasher)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(|v| resolve(v, observed, hasher)).collect()),
        o => o.clone(),
    }
}

fn collect_secrets(v: &Json, hasher: &Hasher, observed: &mut Observed) {
    match v {
        Json::Object(m) if m.contains_key("$secret") => {
            let key = secret_key(&m["$secret"]);
            observed.secrets.insert(key.clone(), hasher.hash(&key));
        }
        Json::Object(m) => m
            .values()
            .for_each(|v| collect_secrets(v, hasher, observed)),
        Json::Array(a) => a.iter().for_each(|v| collect_secrets(v, hasher, observed)),
        _ => {}
    }
}

/// 1,700 copies: 10,201 resources.
const COPIES: &[usize] = &[100, 1700];

#[divan::bench(args = COPIES, sample_count = 5)]
fn validate(bencher: divan::Bencher, copies: usize) {
    let text = stack_text(copies);
    bencher.bench(|| livestack_model::parse(Path::new("scale.toml"), &text).unwrap());
}

#[divan::bench(args = COPIES, sample_count = 5)]
fn plan_from_empty(bencher: divan::Bencher, copies: usize) {
    let s = stack(copies);
    let (prior, observed) = (Prior::default(), Observed::default());
    bencher.bench(|| plan(&s, &prior, &observed, Mode::Apply).unwrap());
}

#[divan::bench(args = COPIES, sample_count = 5)]
fn plan_no_changes(bencher: divan::Bencher, copies: usize) {
    let s = stack(copies);
    let (prior, observed) = applied(&s);
    let p = plan(&s, &prior, &observed, Mode::Apply).unwrap();
    assert!(p.is_empty(), "a no-op: {:?}", p.steps.first());
    bencher.bench(|| plan(&s, &prior, &observed, Mode::Apply).unwrap());
}

#[divan::bench(args = COPIES, sample_count = 5)]
fn plan_destroy(bencher: divan::Bencher, copies: usize) {
    let s = stack(copies);
    let (prior, observed) = applied(&s);
    bencher.bench(|| plan(&s, &prior, &observed, Mode::Destroy).unwrap());
}
