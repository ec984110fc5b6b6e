//! Pacing: a client-side rate per AWS API family, learned from throttles, shared by every call
//! the clients make (refresh and apply alike).
//!
//! AWS limits request rates per account and region, per family of operations (all of
//! MediaLive's calls share one quota; SSM's parameter reads another than its writes). A client
//! that ignores this and retries each throttled call after an exponential backoff sends as
//! fast as it can, is throttled again, and parks calls for seconds each. Instead, each family
//! here has a gate: unpaced until the first throttle, then a pace cut to three quarters of the
//! rate at which calls were being sent, raised again by a tenth a second while calls succeed
//! (additive increase, multiplicative decrease, as TCP and the SDKs' adaptive mode; one cut per
//! round trip, so the answers to calls sent before a cut do not cut again). A call waits for
//! its slot before it is sent, a retry of a throttled call included, so a throttle slows the
//! pace of the family instead of parking one call.
//!
//! The gate sits in the HTTP client ([`PacedClient`]): the SDK calls it for every attempt, and it
//! knows the family from the request (the service it was built for, the operation from the
//! `X-Amz-Target` header or the query `Action`). The interceptor [`LearnPace`] tells the gate
//! what each answer was (the body of a 400 is only read by then). The attempt's own time limit
//! starts once the call is let through: a call that waits its turn behind a hundred others of
//! a large apply has not gone unanswered (the whole call's budget still counts the wait).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

/// The slowest pace a family is cut to, in calls a second.
const MIN_RATE: f64 = 1.0;
/// A throttle cuts the pace to this share of the rate calls were sent at.
const CUT: f64 = 0.75;
/// While calls succeed, the pace rises by this share of itself a second.
const RISE: f64 = 0.1;
/// The window over which the rate calls are sent at is measured.
const WINDOW: Duration = Duration::from_secs(1);

/// Operations that share one request quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Every MediaLive call.
    MediaLive,
    /// Every MediaPackage call.
    MediaPackage,
    /// SSM's GetParameter, GetParameters and GetParametersByPath.
    SsmGet,
    /// SSM's PutParameter.
    SsmPut,
    /// SSM's other calls.
    Ssm,
    /// IAM's Get* and List*.
    IamRead,
    /// IAM's other calls.
    IamWrite,
}

impl Family {
    /// The family of `operation` (e.g. `GetParameters`) of `service` (the SDK's service name,
    /// e.g. `ssm`).
    pub fn of(service: &str, operation: &str) -> Family {
        match service.to_ascii_lowercase().as_str() {
            "medialive" => Family::MediaLive,
            "mediapackage" => Family::MediaPackage,
            "ssm" => match operation {
                "GetParameter" | "GetParameters" | "GetParametersByPath" => Family::SsmGet,
                "PutParameter" => Family::SsmPut,
                _ => Family::Ssm,
            },
            _ if operation.starts_with("Get") || operation.starts_with("List") => Family::IamRead,
            _ => Family::IamWrite,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Family::MediaLive => "MediaLive",
            Family::MediaPackage => "MediaPackage",
            Family::SsmGet => "SSM GetParameter*",
            Family::SsmPut => "SSM PutParameter",
            Family::Ssm => "SSM",
            Family::IamRead => "IAM reads",
            Family::IamWrite => "IAM writes",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One family's gate.
#[derive(Debug)]
struct Gate {
    /// Calls a second; `None` until the first throttle.
    rate: Option<f64>,
    /// When the next paced call may be sent.
    next: Instant,
    /// When the calls of the last [`WINDOW`] were (or will be) sent.
    sent: VecDeque<Instant>,
    /// When the pace was last cut.
    cut_at: Option<Instant>,
    /// When the pace last rose.
    rose_at: Instant,
}

impl Gate {
    fn new(now: Instant) -> Gate {
        Gate {
            rate: None,
            next: now,
            sent: VecDeque::new(),
            cut_at: None,
            rose_at: now,
        }
    }

    /// Takes the next slot: when this call may be sent.
    fn slot(&mut self, now: Instant) -> Instant {
        let at = match self.rate {
            None => now,
            Some(rate) => {
                let at = self.next.max(now);
                self.next = at + Duration::from_secs_f64(1.0 / rate);
                at
            }
        };
        while self.sent.front().is_some_and(|&t| t + WINDOW < now) {
            self.sent.pop_front();
        }
        self.sent.push_back(at);
        at
    }

    /// A call given its slot at `granted` was throttled: cut the pace, once per round trip
    /// (a call whose slot was given before the last cut was paced at the rate that cut
    /// corrected, even if it was sent after it).
    fn throttled(&mut self, granted: Instant, now: Instant) {
        if self.cut_at.is_some_and(|cut| granted < cut) {
            return;
        }
        let window_start = now.checked_sub(WINDOW).unwrap_or(now);
        let recent = self
            .sent
            .iter()
            .filter(|&&t| t >= window_start && t <= now)
            .count();
        let measured = recent as f64 / WINDOW.as_secs_f64();
        let from = match self.rate {
            Some(rate) => rate.min(measured.max(MIN_RATE)),
            None => measured,
        };
        let rate = (from * CUT).max(MIN_RATE);
        self.rate = Some(rate);
        self.cut_at = Some(now);
        self.rose_at = now;
        // The calls already given slots keep them; the next waits a full interval.
        self.next = self.next.max(now + Duration::from_secs_f64(1.0 / rate));
    }

    /// A call was answered without a throttle: raise the pace by [`RISE`] a second.
    fn answered(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let since = now.saturating_duration_since(self.rose_at).as_secs_f64();
            if since >= 0.05 {
                self.rate = Some(rate * (1.0 + RISE * since));
                self.rose_at = now;
            }
        }
    }
}

/// The gates of every family, shared by all the clients of one [`crate::Clients`].
#[derive(Debug, Default)]
pub struct Pacer {
    gates: Mutex<HashMap<Family, Gate>>,
}

impl Pacer {
    fn with_gate<T>(&self, family: Family, f: impl FnOnce(&mut Gate, Instant) -> T) -> T {
        let now = Instant::now();
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        f(gates.entry(family).or_insert_with(|| Gate::new(now)), now)
    }

    /// Waits for the family's next slot; returns when the slot was given.
    pub async fn admit(&self, family: Family) -> Instant {
        let (at, granted) = self.with_gate(family, |g, now| (g.slot(now), now));
        tokio::time::sleep_until(at).await;
        granted
    }

    fn throttled(&self, family: Family, granted: Instant) {
        self.with_gate(family, |g, now| g.throttled(granted, now));
    }

    fn answered(&self, family: Family) {
        self.with_gate(family, |g, now| g.answered(now));
    }

    /// Each family's pace in calls a second, for those that were throttled.
    pub fn paces(&self) -> Vec<(Family, f64)> {
        let gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = gates
            .iter()
            .filter_map(|(f, g)| g.rate.map(|r| (*f, r)))
            .collect();
        out.sort_by_key(|(f, _)| *f);
        out
    }
}

/// The HTTPS client the SDK would use by itself (hyper, rustls, the proxy from the
/// environment), for [`PacedClient`] to wrap.
pub(crate) fn default_http_client() -> Result<SharedHttpClient, crate::Error> {
    use aws_smithy_runtime::client::defaults::default_http_client_plugin_v2;
    use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;

    default_http_client_plugin_v2(BehaviorVersion::latest())
        .and_then(|plugin| {
            plugin
                .runtime_components(&RuntimeComponentsBuilder::new("livestack"))
                .http_client()
        })
        .ok_or_else(|| crate::Error::Config {
            reason: "the AWS SDK was built without its default HTTPS client".into(),
        })
}

/// Which family a sent request was in and when its slot was given, on its response.
#[derive(Debug, Clone, Copy)]
struct Sent {
    family: Family,
    granted: Instant,
}

/// An HTTP client that paces each request through the [`Pacer`] before the inner client sends
/// it.
#[derive(Debug, Clone)]
pub(crate) struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
    /// The SDK's name of the service whose client this is.
    service: &'static str,
    /// How long one attempt may take once it is let through.
    attempt_timeout: Duration,
}

impl PacedClient {
    pub(crate) fn new(
        inner: SharedHttpClient,
        pacer: Arc<Pacer>,
        service: &'static str,
        attempt_timeout: Duration,
    ) -> Self {
        PacedClient {
            inner,
            pacer,
            service,
            attempt_timeout,
        }
    }
}

/// An attempt that got no answer within its time once it was sent.
#[derive(Debug)]
pub(crate) struct NoAnswer(pub(crate) Duration);

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer within {:?}", self.0)
    }
}

impl std::error::Error for NoAnswer {}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            service: self.service,
            attempt_timeout: self.attempt_timeout,
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    service: &'static str,
    attempt_timeout: Duration,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let family = Family::of(self.service, &operation(&request));
        let (inner, pacer, limit) = (self.inner.clone(), self.pacer.clone(), self.attempt_timeout);
        HttpConnectorFuture::new(async move {
            let granted = pacer.admit(family).await;
            let mut response = match tokio::time::timeout(limit, inner.call(request)).await {
                Ok(answer) => answer?,
                Err(_) => {
                    return Err(ConnectorError::timeout(Box::new(NoAnswer(limit))));
                }
            };
            response.add_extension(Sent { family, granted });
            Ok(response)
        })
    }
}

/// The operation a request calls, where the request names it: awsJson's `X-Amz-Target`
/// (`AmazonSSM.GetParameters`) or awsQuery's `Action` (IAM); empty for REST services, whose
/// families do not depend on it.
fn operation(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    let body = request.body().bytes().unwrap_or_default();
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or_default()
        .to_string()
}

/// The interceptor that tells the [`Pacer`] what each answer was: a throttle cuts the family's
/// pace, any other answer lets it rise.
#[derive(Debug)]
pub(crate) struct LearnPace {
    pub(crate) pacer: Arc<Pacer>,
}

impl Intercept for LearnPace {
    fn name(&self) -> &'static str {
        "livestack::LearnPace"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        let Some(sent) = response.extension::<Sent>().copied() else {
            return Ok(());
        };
        let status = response.status().as_u16();
        let body = response.body().bytes().unwrap_or_default();
        if is_throttle(status, body) {
            self.pacer.throttled(sent.family, sent.granted);
        } else if status < 500 {
            self.pacer.answered(sent.family);
        }
        Ok(())
    }
}

/// Whether an answer is a throttle: HTTP 429, or a 400 whose error code says so (SSM's
/// `ThrottlingException`, IAM's `Throttling`, `RequestLimitExceeded`).
fn is_throttle(status: u16, body: &[u8]) -> bool {
    const CODES: [&[u8]; 4] = [
        b"Throttling",
        b"TooManyRequests",
        b"RequestLimitExceeded",
        b"SlowDown",
    ];
    status == 429 || (status == 400 && CODES.iter().any(|c| body.windows(c.len()).any(|w| w == *c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn families_follow_aws_quotas() {
        assert_eq!(
            Family::of("medialive", "DescribeChannel"),
            Family::MediaLive
        );
        assert_eq!(Family::of("MediaLive", "StartChannel"), Family::MediaLive);
        assert_eq!(Family::of("mediapackage", ""), Family::MediaPackage);
        assert_eq!(Family::of("ssm", "GetParameters"), Family::SsmGet);
        assert_eq!(Family::of("ssm", "PutParameter"), Family::SsmPut);
        assert_eq!(Family::of("ssm", "DescribeParameters"), Family::Ssm);
        assert_eq!(Family::of("iam", "GetRole"), Family::IamRead);
        assert_eq!(Family::of("iam", "ListRoleTags"), Family::IamRead);
        assert_eq!(Family::of("iam", "PutRolePolicy"), Family::IamWrite);
    }

    #[test]
    fn throttles_are_429s_and_400s_that_say_so() {
        assert!(is_throttle(429, b""));
        assert!(is_throttle(
            400,
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        ));
        assert!(is_throttle(
            400,
            b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
        ));
        assert!(!is_throttle(400, br#"{"__type":"ValidationException"}"#));
        assert!(!is_throttle(503, b"Throttling"));
    }

    #[test]
    fn an_unthrottled_family_is_not_paced() {
        let t0 = Instant::now();
        let mut g = Gate::new(t0);
        for _ in 0..100 {
            assert_eq!(g.slot(t0), t0);
        }
    }

    #[test]
    fn a_throttle_cuts_the_pace_to_three_quarters_of_the_sending_rate() {
        let t0 = Instant::now();
        let mut g = Gate::new(t0);
        // 40 calls in 200 ms, then one of them is throttled.
        for i in 0..40 {
            g.slot(at(t0, i * 5));
        }
        g.throttled(at(t0, 195), at(t0, 250));
        assert_eq!(g.rate, Some(30.0));
        // The next slots are a thirtieth of a second apart.
        let first = g.slot(at(t0, 250));
        let second = g.slot(at(t0, 250));
        assert!(first >= at(t0, 250));
        let gap = second - first;
        assert!(
            gap >= Duration::from_millis(33) && gap <= Duration::from_millis(34),
            "{gap:?}"
        );
    }

    #[test]
    fn answers_to_calls_sent_before_a_cut_do_not_cut_again() {
        let t0 = Instant::now();
        let mut g = Gate::new(t0);
        for i in 0..20 {
            g.slot(at(t0, i * 10));
        }
        g.throttled(at(t0, 100), at(t0, 200));
        let once = g.rate;
        g.throttled(at(t0, 150), at(t0, 210));
        assert_eq!(g.rate, once);
        // A call sent after the cut, throttled, cuts again.
        g.throttled(at(t0, 205), at(t0, 260));
        assert!(g.rate < once, "{:?} then {:?}", once, g.rate);
    }

    #[test]
    fn a_call_given_its_slot_before_a_cut_does_not_cut_again_when_sent_after_it() {
        let t0 = Instant::now();
        let mut g = Gate::new(t0);
        for i in 0..20 {
            g.slot(at(t0, i * 10));
        }
        // Throttled at 200 ms: the pace is cut then.
        g.throttled(at(t0, 150), at(t0, 200));
        let once = g.rate;
        // A call whose slot was given at 190 ms (at the old pace) is answered 429 later.
        g.throttled(at(t0, 190), at(t0, 400));
        assert_eq!(g.rate, once);
    }

    #[test]
    fn the_pace_never_falls_below_the_floor_and_rises_while_calls_succeed() {
        let t0 = Instant::now();
        let mut g = Gate::new(t0);
        g.slot(t0);
        g.throttled(t0, at(t0, 10));
        assert_eq!(g.rate, Some(MIN_RATE));
        g.answered(at(t0, 1010));
        let rate = g.rate.unwrap();
        assert!((rate - MIN_RATE * 1.1).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn a_paced_family_converges_below_a_token_bucket_and_keeps_most_of_its_rate() {
        // The sandbox's rate model, in miniature: 5 calls a second, bursts of 10; 20 calls in
        // flight, each answered 50 ms after it is sent.
        let t0 = Instant::now();
        let (rate, burst) = (5.0, 10.0);
        let mut tokens: f64 = burst;
        let mut refilled = t0;
        let mut g = Gate::new(t0);
        let mut in_flight: Vec<Instant> = vec![t0; 20];
        let (mut ok, mut throttled) = (0u32, 0u32);
        let end = at(t0, 60_000);
        let mut now = t0;
        while now < end {
            // The earliest free worker sends its next call at its slot.
            let (i, &free) = in_flight
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| **t)
                .unwrap();
            now = free;
            let sent = g.slot(now);
            if sent > refilled {
                tokens = (tokens + (sent - refilled).as_secs_f64() * rate).min(burst);
                refilled = sent;
            }
            let answered = sent + Duration::from_millis(50);
            if tokens >= 1.0 {
                tokens -= 1.0;
                ok += 1;
                g.answered(answered);
            } else {
                throttled += 1;
                g.throttled(sent, answered);
            }
            in_flight[i] = answered;
        }
        // Over a minute the bucket allows 10 + 5 x 60 = 310 calls (a few more go through in the
        // seconds after it, their slots given within the minute); unpaced, 20 callers would
        // send 24,000 and see all but those throttled.
        assert!(ok >= 250, "{ok} calls went through, {throttled} throttled");
        assert!(
            throttled <= 60,
            "{ok} calls went through, {throttled} throttled"
        );
    }
}
