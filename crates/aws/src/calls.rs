//! How long one call may take, and who hears of its retries.
//!
//! A server that stops answering must not hold a plan for minutes with nothing on the screen:
//! every call has a budget (connect, each attempt, and the whole call with its retries), and
//! each retry is told to an observer (the CLI shows it) with the resource the call was about,
//! the call, the attempt and what went wrong with the previous one.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::RetryConfig;

/// The limits of every call, and the observer of retries.
#[derive(Clone)]
pub struct CallPolicy {
    /// The most one call may take, its retries included.
    pub budget: Duration,
    /// Told of every retry, before it is sent.
    pub on_retry: Option<OnRetry>,
}

/// An observer of retries.
pub type OnRetry = Arc<dyn Fn(&Retry) + Send + Sync>;

/// The budget of a call unless told otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(120);

impl Default for CallPolicy {
    fn default() -> CallPolicy {
        CallPolicy {
            budget: DEFAULT_BUDGET,
            on_retry: None,
        }
    }
}

impl fmt::Debug for CallPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPolicy")
            .field("budget", &self.budget)
            .field("on_retry", &self.on_retry.is_some())
            .finish()
    }
}

impl CallPolicy {
    /// Each attempt gets a quarter of the budget (so that a call that is not answered is
    /// tried more than once), at least 1 s and at most 30 s.
    pub fn attempt_timeout(&self) -> Duration {
        (self.budget / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// Connecting takes at most 5 s, or the attempt's time if that is shorter.
    pub fn connect_timeout(&self) -> Duration {
        self.attempt_timeout().min(Duration::from_secs(5))
    }
}

/// A call about to be sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// What the call is about (an address such as `medialive_channel.imday`), as set by
    /// [`about`]; else the service.
    pub resource: String,
    /// The API call, e.g. `DescribeChannel`.
    pub operation: String,
    /// The attempt about to be sent (2 for the first retry).
    pub attempt: u32,
    pub max_attempts: u32,
    /// What went wrong with the previous attempt (no answer, a refused connection, an HTTP
    /// status); never a body.
    pub error: String,
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} attempt {} failed ({}); retrying, attempt {} of {}",
            self.resource,
            self.operation,
            self.attempt - 1,
            self.error,
            self.attempt,
            self.max_attempts
        )
    }
}

tokio::task_local! {
    static RESOURCE: String;
}

/// Runs `work` with its calls' retries reported as being about `resource`.
pub async fn about<F: Future>(resource: impl Into<String>, work: F) -> F::Output {
    RESOURCE.scope(resource.into(), work).await
}

/// What went wrong with the last attempt, kept between attempts in the call's config bag.
#[derive(Debug, Clone)]
struct LastError(String);

impl Storable for LastError {
    type Storer = StoreReplace<Self>;
}

/// The interceptor that tells the observer of retries.
pub(crate) struct ReportRetries {
    pub(crate) policy: CallPolicy,
}

impl fmt::Debug for ReportRetries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReportRetries")
    }
}

impl Intercept for ReportRetries {
    fn name(&self) -> &'static str {
        "livestack::ReportRetries"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(e)) = context.output_or_error() else {
            return Ok(());
        };
        let status = context.response().map(|r| r.status().as_u16());
        let text = if e.is_timeout_error() {
            format!(
                "no answer within {}",
                seconds(self.policy.attempt_timeout())
            )
        } else if let Some(c) = e.as_connector_error() {
            let no_answer = std::error::Error::source(c)
                .is_some_and(|s| s.downcast_ref::<crate::pace::NoAnswer>().is_some());
            if no_answer {
                format!(
                    "no answer within {}",
                    seconds(self.policy.attempt_timeout())
                )
            } else if c.is_timeout() {
                format!(
                    "no connection within {}",
                    seconds(self.policy.connect_timeout())
                )
            } else {
                one_line(&crate::error::chain(c))
            }
        } else if let Some(s) = status {
            format!("HTTP {s}")
        } else {
            e.to_string()
        };
        cfg.interceptor_state().store_put(LastError(text));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(observer) = &self.policy.on_retry else {
            return Ok(());
        };
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        if attempt < 2 {
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let retry = Retry {
            resource: RESOURCE.try_with(Clone::clone).unwrap_or(service),
            operation,
            attempt,
            max_attempts: cfg.load::<RetryConfig>().map_or(1, |r| r.max_attempts()),
            error: cfg
                .load::<LastError>()
                .map_or_else(|| "unknown error".to_string(), |e| e.0.clone()),
        };
        observer(&retry);
        Ok(())
    }
}

/// `1s`, `2.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.1}s")
    }
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_gets_a_quarter_of_the_budget_within_bounds() {
        let p = |s| CallPolicy {
            budget: Duration::from_secs(s),
            on_retry: None,
        };
        assert_eq!(p(120).attempt_timeout(), Duration::from_secs(30));
        assert_eq!(p(600).attempt_timeout(), Duration::from_secs(30));
        assert_eq!(p(8).attempt_timeout(), Duration::from_secs(2));
        assert_eq!(p(2).attempt_timeout(), Duration::from_secs(1));
        assert_eq!(p(120).connect_timeout(), Duration::from_secs(5));
        assert_eq!(p(8).connect_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn a_retry_reads_as_one_line_naming_resource_call_attempt_and_error() {
        let r = Retry {
            resource: "medialive_channel.imday".into(),
            operation: "DescribeChannel".into(),
            attempt: 3,
            max_attempts: 8,
            error: "no answer within 1s".into(),
        };
        assert_eq!(
            r.to_string(),
            "medialive_channel.imday: DescribeChannel attempt 2 failed (no answer within 1s); retrying, attempt 3 of 8"
        );
    }
}
