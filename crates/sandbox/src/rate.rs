//! AWS's per-account request rates: a token bucket per (service, operation family), so that a
//! client's pacing can be measured against the sandbox. Off unless [`crate::Faults`] names
//! limits; `"rate_limits": "aws"` in `PUT /_sandbox/faults` (or [`RateLimit::aws`]) is the
//! table of AWS's published figures below.
//!
//! Rates are per real second and do not scale with the speed factor: the speed compresses the
//! waits AWS imposes (a channel start), while request pacing is the client's own time; a
//! 20x sandbox that allowed 100 MediaLive calls a second would hide what the model is for.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use tokio::time::Instant;

/// One token bucket: the calls of `service` whose operation matches `operations` (all of the
/// service's calls when empty) share `burst` tokens refilled at `rate` a second. A call takes
/// a token from the first limit of the table that matches it; a call no limit matches is not
/// limited. An empty bucket answers the service's own throttle (as a `throttle` fault would)
/// and the request log names the fault `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// "medialive", "mediapackage", "ssm" or "iam".
    pub service: String,
    /// Operation names, or prefixes ending in `*` ("Describe*"); empty: every operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// Tokens added per real second (0: never refilled).
    pub rate: f64,
    /// Tokens the bucket holds at most, and starts with.
    pub burst: u32,
}

impl RateLimit {
    fn new(service: &str, operations: &[&str], rate: f64, burst: u32) -> RateLimit {
        RateLimit {
            service: service.into(),
            operations: operations.iter().map(|o| o.to_string()).collect(),
            rate,
            burst,
        }
    }

    /// AWS's per-account, per-region request quotas, where AWS publishes them; the others are
    /// guesses, said so here:
    /// - MediaLive: every API call but thumbnails shares 5 a second steady, bursts of 30, not
    ///   adjustable (MediaLive User Guide, "API request limits").
    /// - MediaPackage (v1): no published API rate; 10 a second, bursts of 20 (guess).
    /// - SSM: GetParameter, GetParameters and GetParametersByPath share 40 a second at the
    ///   default throughput (Systems Manager endpoints and quotas; burst 40 is a guess);
    ///   PutParameter 3 a second, burst 3 (UNVERIFIED: from memory of the same table); every
    ///   other SSM call 10 a second, burst 10 (guess).
    /// - IAM: AWS publishes no figures (a token bucket per API, per its security blog); reads
    ///   (Get*, List*) 20 a second, burst 20, writes 5 a second, burst 10 (guesses).
    pub fn aws() -> Vec<RateLimit> {
        vec![
            RateLimit::new("medialive", &[], 5.0, 30),
            RateLimit::new("mediapackage", &[], 10.0, 20),
            RateLimit::new(
                "ssm",
                &["GetParameter", "GetParameters", "GetParametersByPath"],
                40.0,
                40,
            ),
            RateLimit::new("ssm", &["PutParameter"], 3.0, 3),
            RateLimit::new("ssm", &[], 10.0, 10),
            RateLimit::new("iam", &["Get*", "List*"], 20.0, 20),
            RateLimit::new("iam", &[], 5.0, 10),
        ]
    }

    /// Whether a call of `operation` of `service` counts against this limit (when no limit
    /// before it in the table matches).
    pub fn matches(&self, service: &str, operation: &str) -> bool {
        self.service == service
            && (self.operations.is_empty()
                || self.operations.iter().any(|o| match o.strip_suffix('*') {
                    Some(prefix) => operation.starts_with(prefix),
                    None => o == operation,
                }))
    }
}

/// Checks a table: known services, finite non-negative rates, bursts of at least one.
pub(crate) fn check(limits: &[RateLimit]) -> Result<(), String> {
    for l in limits {
        if !["medialive", "mediapackage", "ssm", "iam"].contains(&l.service.as_str()) {
            return Err(format!(
                "rate_limits: unknown service {:?} (medialive, mediapackage, ssm or iam)",
                l.service
            ));
        }
        if !(l.rate.is_finite() && l.rate >= 0.0) {
            return Err(format!(
                "rate_limits: rate must be a number of calls a second, 0 or more, got {}",
                l.rate
            ));
        }
        if l.burst == 0 {
            return Err("rate_limits: burst must be at least 1".into());
        }
    }
    Ok(())
}

/// `rate_limits` in JSON: a table, or `"aws"` for [`RateLimit::aws`].
pub(crate) fn deserialize_limits<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<RateLimit>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Named(String),
        Table(Vec<RateLimit>),
    }
    match Given::deserialize(d)? {
        Given::Table(t) => Ok(t),
        Given::Named(name) if name == "aws" => Ok(RateLimit::aws()),
        Given::Named(name) => Err(serde::de::Error::custom(format!(
            "rate_limits must be \"aws\" or a list of {{service, operations, rate, burst}}, \
             got {name:?}"
        ))),
    }
}

/// The buckets' levels, by index into the table; a bucket is full until first used.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    levels: HashMap<usize, (f64, Instant)>,
}

impl Buckets {
    /// Takes a token for this call at `now`; false when its bucket is empty.
    pub(crate) fn take(
        &mut self,
        limits: &[RateLimit],
        service: &str,
        operation: &str,
        now: Instant,
    ) -> bool {
        let Some((i, limit)) = limits
            .iter()
            .enumerate()
            .find(|(_, l)| l.matches(service, operation))
        else {
            return true;
        };
        let burst = f64::from(limit.burst);
        let (tokens, since) = self.levels.entry(i).or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*since).as_secs_f64();
        *tokens = (*tokens + elapsed * limit.rate).min(burst);
        *since = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limits = vec![RateLimit::new("medialive", &["Describe*"], 2.0, 3)];
        let mut b = Buckets::default();
        let t0 = Instant::now();
        let taken: Vec<bool> = (0..5)
            .map(|_| b.take(&limits, "medialive", "DescribeChannel", t0))
            .collect();
        assert_eq!(taken, [true, true, true, false, false]);
        // Half a second at 2 a second: one token.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(&limits, "medialive", "DescribeInput", t1));
        assert!(!b.take(&limits, "medialive", "DescribeInput", t1));
        // Never more than the burst, however long the wait.
        let t2 = t1 + Duration::from_secs(3600);
        let later: Vec<bool> = (0..4)
            .map(|_| b.take(&limits, "medialive", "DescribeChannel", t2))
            .collect();
        assert_eq!(later, [true, true, true, false]);
        // Other operations and services are not limited by it.
        assert!(b.take(&limits, "medialive", "StartChannel", t2));
        assert!(b.take(&limits, "ssm", "DescribeParameters", t2));
    }

    #[test]
    fn the_first_matching_limit_is_the_calls_bucket() {
        let limits = RateLimit::aws();
        let mut b = Buckets::default();
        let t = Instant::now();
        let put: usize = (0..10)
            .filter(|_| b.take(&limits, "ssm", "PutParameter", t))
            .count();
        assert_eq!(put, 3, "PutParameter has its own bucket of 3");
        let get: usize = (0..100)
            .filter(|_| b.take(&limits, "ssm", "GetParameter", t))
            .count();
        assert_eq!(get, 40);
        let ml: usize = (0..100)
            .filter(|i| {
                let op = if i % 2 == 0 {
                    "ListChannels"
                } else {
                    "CreateChannel"
                };
                b.take(&limits, "medialive", op, t)
            })
            .count();
        assert_eq!(ml, 30, "MediaLive reads and writes share one bucket");
    }

    #[test]
    fn the_table_is_aws_or_a_list_and_is_checked() {
        #[derive(Deserialize)]
        struct F {
            #[serde(deserialize_with = "deserialize_limits")]
            rate_limits: Vec<RateLimit>,
        }
        let f: F = serde_json::from_str(r#"{"rate_limits": "aws"}"#).unwrap();
        assert_eq!(f.rate_limits, RateLimit::aws());
        let f: F = serde_json::from_str(
            r#"{"rate_limits": [{"service": "iam", "operations": ["Get*"], "rate": 1, "burst": 2}]}"#,
        )
        .unwrap();
        assert_eq!(
            f.rate_limits,
            vec![RateLimit::new("iam", &["Get*"], 1.0, 2)]
        );
        assert!(serde_json::from_str::<F>(r#"{"rate_limits": "azure"}"#).is_err());
        assert!(check(&RateLimit::aws()).is_ok());
        assert!(check(&[RateLimit::new("s3", &[], 1.0, 1)]).is_err());
        assert!(check(&[RateLimit::new("ssm", &[], -1.0, 1)]).is_err());
        assert!(check(&[RateLimit::new("ssm", &[], 1.0, 0)]).is_err());
    }
}
