//! The calls of a state kept in S3 (`--state s3://bucket/key`): the [`Objects`] that
//! `livestack_state::Remote` builds its lock, conditional writes and journal on.
//!
//! The state crate's calls are blocking (a state file is written with blocking I/O too), so
//! the S3 client runs on a thread of its own with a runtime of its own, and each call is sent
//! there and waited for: it never needs the caller's runtime, whatever thread calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::RequestId;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use livestack_state::{Condition, Object, ObjectError, Objects, Outcome};

use crate::error::chain;
use crate::{Error, Target};

/// `s3://bucket/key` split, or why it is not one.
pub fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{url}` is not an s3://bucket/key URL"))?;
    let (bucket, key) = rest
        .split_once('/')
        .ok_or_else(|| format!("`{url}`: names no object key after the bucket"))?;
    if let Some(why) = livestack_model::state_location_problem(url) {
        return Err(format!("`{url}`: {why}"));
    }
    Ok((bucket.to_string(), key.to_string()))
}

type Job = Box<dyn FnOnce(aws_sdk_s3::Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A bucket's objects through the S3 API, for a state kept there.
#[derive(Debug)]
pub struct S3Objects {
    bucket: String,
    /// SSE-KMS with this key for what is written, when named.
    kms_key: Option<String>,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

impl S3Objects {
    /// The S3 client of `target` (its region, endpoint and credentials) on a thread of its
    /// own; checks that the bucket is there (following it to its own region when S3 says it
    /// is elsewhere).
    pub fn connect(
        target: &Target,
        bucket: &str,
        kms_key: Option<String>,
    ) -> Result<S3Objects, Error> {
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready, started) = mpsc::channel::<Result<(), Error>>();
        let target = target.clone();
        let name = bucket.to_string();
        std::thread::Builder::new()
            .name("livestack-s3-state".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready.send(Err(Error::Config {
                            reason: format!("cannot start the S3 client's runtime: {e}"),
                        }));
                        return;
                    }
                };
                rt.block_on(async move {
                    let client = match client_for(&target, &name).await {
                        Ok(c) => {
                            let _ = ready.send(Ok(()));
                            c
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    while let Some(job) = queue.recv().await {
                        job(client.clone()).await;
                    }
                });
            })
            .map_err(|e| Error::Config {
                reason: format!("cannot start the S3 client's thread: {e}"),
            })?;
        started.recv().map_err(|_| Error::Config {
            reason: "the S3 client's thread stopped while starting".into(),
        })??;
        Ok(S3Objects {
            bucket: bucket.to_string(),
            kms_key,
            jobs,
        })
    }

    /// Runs `f` on the S3 thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        call: &'static str,
        name: &str,
        f: impl FnOnce(
                aws_sdk_s3::Client,
            ) -> Pin<Box<dyn Future<Output = Result<T, ObjectError>> + Send>>
            + Send
            + 'static,
    ) -> Result<T, ObjectError> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                let _ = tx.send(f(c).await);
            })
        });
        let gone = || ObjectError {
            call,
            url: self.url(name),
            message: "the S3 client's thread has stopped".into(),
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// The S3 client for `bucket`: path-style addressing on a custom endpoint (the sandbox);
/// the bucket's own region when S3 says it lives elsewhere.
async fn client_for(target: &Target, bucket: &str) -> Result<aws_sdk_s3::Client, Error> {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_max_backoff(std::time::Duration::from_secs(
            if target.dummy_credentials { 1 } else { 5 },
        ));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .operation_timeout(std::time::Duration::from_secs(120))
        .build();
    let conf = crate::sdk_config(target, retry, timeouts).await?;
    let build = |region: Option<String>| {
        let mut b = aws_sdk_s3::config::Builder::from(&conf);
        // A custom endpoint (the sandbox, a proxy) serves buckets by path, not by host name.
        let custom = target.endpoint_url.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        if custom {
            b = b.force_path_style(true);
        }
        if let Some(r) = region {
            b = b.region(aws_sdk_s3::config::Region::new(r));
        }
        aws_sdk_s3::Client::from_conf(b.build())
    };
    let client = build(None);
    let url = format!("s3://{bucket}");
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(client),
        Err(e) => {
            let elsewhere = e
                .raw_response()
                .filter(|r| r.status().as_u16() == 301)
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string);
            if let Some(region) = elsewhere {
                return Ok(build(Some(region)));
            }
            let status = e.raw_response().map(|r| r.status().as_u16());
            Err(Error::Config {
                reason: match status {
                    Some(404) => format!("{url}: no such bucket (HeadBucket: HTTP 404); create it, with versioning, before keeping a state there"),
                    Some(403) => format!("{url}: access denied to the bucket (HeadBucket: HTTP 403)"),
                    Some(s) => format!("{url}: HeadBucket: HTTP {s}"),
                    None => format!("{url}: HeadBucket: {}", chain(&e)),
                },
            })
        }
    }
}

/// One line for a failed S3 call: the HTTP status, S3's code and message, or the cause.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let mut s = format!("HTTP {}", ctx.raw().status().as_u16());
            if let Some(code) = e.code() {
                s.push_str(&format!(" {code}"));
            }
            if let Some(m) = e.message().filter(|m| !m.is_empty()) {
                s.push_str(&format!(": {m}"));
            }
            s
        }
        other => chain(other),
    }
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

impl Objects for S3Objects {
    fn url(&self, name: &str) -> String {
        format!("s3://{}/{name}", self.bucket)
    }

    fn get(&self, name: &str) -> Result<Option<Object>, ObjectError> {
        let (bucket, key, url) = (self.bucket.clone(), name.to_string(), self.url(name));
        self.call("GetObject", name, move |c| {
            Box::pin(async move {
                let fail = |message| ObjectError {
                    call: "GetObject",
                    url: url.clone(),
                    message,
                };
                match c.get_object().bucket(bucket).key(key).send().await {
                    Ok(out) => {
                        let etag = out.e_tag().unwrap_or_default().to_string();
                        let bytes = out
                            .body
                            .collect()
                            .await
                            .map_err(|e| fail(format!("reading the object: {e}")))?
                            .into_bytes()
                            .to_vec();
                        Ok(Some(Object { bytes, etag }))
                    }
                    Err(e) if status(&e) == Some(404) => Ok(None),
                    Err(e) => Err(fail(describe(&e))),
                }
            })
        })
    }

    fn head(&self, name: &str) -> Result<Option<String>, ObjectError> {
        let (bucket, key, url) = (self.bucket.clone(), name.to_string(), self.url(name));
        self.call("HeadObject", name, move |c| {
            Box::pin(async move {
                match c.head_object().bucket(bucket).key(key).send().await {
                    Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
                    Err(e) if status(&e) == Some(404) => Ok(None),
                    Err(e) => Err(ObjectError {
                        call: "HeadObject",
                        url,
                        message: describe(&e),
                    }),
                }
            })
        })
    }

    fn put(&self, name: &str, bytes: Vec<u8>, when: Condition) -> Result<Outcome, ObjectError> {
        let (bucket, key, url) = (self.bucket.clone(), name.to_string(), self.url(name));
        let kms = self.kms_key.clone();
        self.call("PutObject", name, move |c| {
            Box::pin(async move {
                let mut req = c
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json")
                    .body(bytes.into());
                let if_match = matches!(when, Condition::Matches(_));
                req = match when {
                    Condition::Always => req,
                    Condition::Absent => req.if_none_match("*"),
                    Condition::Matches(etag) => req.if_match(etag),
                };
                if let Some(k) = kms {
                    req = req
                        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                        .ssekms_key_id(k);
                }
                match req.send().await {
                    Ok(out) => Ok(Outcome::Done(out.e_tag().unwrap_or_default().to_string())),
                    // 412: the condition failed; 409: a conditional write raced another one;
                    // 404 NoSuchKey: If-Match on an object deleted since (not a missing bucket).
                    Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(Outcome::Refused),
                    Err(e) if if_match && e.code() == Some("NoSuchKey") => Ok(Outcome::Refused),
                    Err(e) => Err(ObjectError {
                        call: "PutObject",
                        url,
                        message: format!(
                            "{}{}",
                            describe(&e),
                            e.as_service_error()
                                .and_then(|s| s.request_id())
                                .map(|id| format!(" (request id {id})"))
                                .unwrap_or_default()
                        ),
                    }),
                }
            })
        })
    }

    fn delete(&self, name: &str, if_match: Option<&str>) -> Result<Outcome, ObjectError> {
        let (bucket, key, url) = (self.bucket.clone(), name.to_string(), self.url(name));
        let if_match = if_match.map(str::to_string);
        self.call("DeleteObject", name, move |c| {
            Box::pin(async move {
                let mut req = c.delete_object().bucket(bucket).key(key);
                if let Some(etag) = if_match {
                    req = req.if_match(etag);
                }
                match req.send().await {
                    Ok(_) => Ok(Outcome::Done(String::new())),
                    Err(e) if status(&e) == Some(404) => Ok(Outcome::Done(String::new())),
                    Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(Outcome::Refused),
                    Err(e) => Err(ObjectError {
                        call: "DeleteObject",
                        url,
                        message: describe(&e),
                    }),
                }
            })
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let (bucket, p, url) = (self.bucket.clone(), prefix.to_string(), self.url(prefix));
        self.call("ListObjectsV2", prefix, move |c| {
            Box::pin(async move {
                let mut names = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let out = c
                        .list_objects_v2()
                        .bucket(&bucket)
                        .prefix(&p)
                        .set_continuation_token(token.take())
                        .send()
                        .await
                        .map_err(|e| ObjectError {
                            call: "ListObjectsV2",
                            url: url.clone(),
                            message: describe(&e),
                        })?;
                    names.extend(
                        out.contents()
                            .iter()
                            .filter_map(|o| o.key().map(str::to_string)),
                    );
                    match out.next_continuation_token() {
                        Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                        _ => break,
                    }
                }
                names.sort();
                Ok(names)
            })
        })
    }

    fn versioned(&self) -> Result<bool, ObjectError> {
        let (bucket, url) = (self.bucket.clone(), format!("s3://{}", self.bucket));
        self.call("GetBucketVersioning", "", move |c| {
            Box::pin(async move {
                let out = c
                    .get_bucket_versioning()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| ObjectError {
                        call: "GetBucketVersioning",
                        url,
                        message: describe(&e),
                    })?;
                Ok(out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_an_object() {
        assert_eq!(
            parse_s3_url("s3://team-state/live/imday.json").unwrap(),
            ("team-state".into(), "live/imday.json".into())
        );
        for bad in [
            "state/imday.json",
            "s3://team-state",
            "s3://team-state/",
            "s3://Team_State/x.json",
            "s3://ab/x.json",
            "s3://team-state/dir/",
        ] {
            assert!(parse_s3_url(bad).is_err(), "{bad}");
        }
    }
}
