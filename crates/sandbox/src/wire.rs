//! Types shared by the service modules: a request as the server received it, the answer a
//! handler gives, and the context (clock, speed, account, region, randomness) it runs in.

use rand::rngs::StdRng;

/// An HTTP request, already read whole.
#[derive(Debug, Clone)]
pub struct Req {
    /// Upper-case method, e.g. "GET".
    pub method: String,
    /// Path without the query string, percent-decoded (an ARN in `/tags/{arn}` arrives decoded).
    pub path: String,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Path split on '/', empty segments dropped.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// A handler's answer. `operation` and `resource` feed the request log.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The AWS operation name, e.g. "CreateChannel".
    pub operation: String,
    /// The id of the resource the call was about, when there is one.
    pub resource: Option<String>,
}

impl Resp {
    /// A JSON answer (restJson1 / awsJson1_1).
    pub fn json(status: u16, operation: &str, body: &serde_json::Value) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("json value serializes"),
            operation: operation.into(),
            resource: None,
        }
    }
    /// A restJson1 error: `x-amzn-errortype` header plus `{"message": ..}` body
    /// (plus `validationErrors` for 422 when given).
    pub fn rest_error(status: u16, operation: &str, error_type: &str, message: &str) -> Resp {
        let mut r = Resp::json(
            status,
            operation,
            &serde_json::json!({ "message": message }),
        );
        r.headers
            .push(("x-amzn-errortype".into(), error_type.to_string()));
        r
    }
    pub fn with_resource(mut self, id: impl Into<String>) -> Resp {
        self.resource = Some(id.into());
        self
    }
}

/// What a handler may use besides the cloud: time, speed, identity, randomness.
pub struct Ctx<'a> {
    /// Milliseconds since the Unix epoch (real time).
    pub now_ms: u64,
    /// Divides every modelled duration (20.0 by default: a 60 s start takes 3 s).
    pub speed: f64,
    pub account: &'a str,
    pub region: &'a str,
    /// Seeded, so ids and passwords are reproducible for a given seed and call order.
    pub rng: &'a mut StdRng,
    /// How long a new MediaPackage channel stays invisible to MediaLive (eventual consistency).
    pub consistency_ms: u64,
}

impl Ctx<'_> {
    /// A modelled AWS duration in seconds, scaled by the speed factor, in ms.
    pub fn scaled_ms(&self, aws_seconds: f64) -> u64 {
        ((aws_seconds * 1000.0) / self.speed.max(0.001)).round() as u64
    }
    /// `n` random lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        use rand::Rng;
        (0..n)
            .map(|_| char::from_digit(self.rng.random_range(0..16), 16).unwrap())
            .collect()
    }
    /// A random decimal id of `n` digits, not starting with 0 (MediaLive style).
    pub fn numeric_id(&mut self, n: usize) -> String {
        use rand::Rng;
        let mut s = String::new();
        s.push(char::from_digit(self.rng.random_range(1..10), 10).unwrap());
        for _ in 1..n {
            s.push(char::from_digit(self.rng.random_range(0..10), 10).unwrap());
        }
        s
    }
}

/// The service a SigV4-signed request was signed for: the fourth part of its credential
/// scope (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request,
/// ...`, or the `X-Amz-Credential` query parameter of a presigned URL). `None` for an unsigned
/// request or another scheme. Services that share a wire protocol (STS and IAM both send
/// `Action=` forms) are told apart by it, as AWS tells them apart by host.
pub fn scope_service(req: &Req) -> Option<&str> {
    let credential = match req.header("authorization") {
        Some(auth) => auth
            .strip_prefix("AWS4-HMAC-SHA256")?
            .split(',')
            .find_map(|part| part.trim().strip_prefix("Credential="))?,
        None => req.query_param("X-Amz-Credential")?,
    };
    // AKID/DATE/REGION/SERVICE/aws4_request
    let mut parts = credential.rsplit('/');
    (parts.next()? == "aws4_request").then_some(())?;
    parts.next().filter(|s| !s.is_empty())
}

/// Whether an operation only reads (Describe*, Get*, Head*, List*): such a call changes
/// nothing the data file must record, and its answer is not held back for a write.
pub(crate) fn reads_only(operation: &str) -> bool {
    ["Describe", "Get", "Head", "List"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// A UTC calendar time, for the services' date formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub millis: u64,
    /// 0 for Sunday, 1 for Monday, ...
    pub weekday: u32,
}

impl Utc {
    /// `ms` since the Unix epoch.
    pub fn from_ms(ms: u64) -> Utc {
        let secs = ms / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        Utc {
            year: yoe + era * 400 + i64::from(m <= 2),
            month: m as u32,
            day: d as u32,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis: ms % 1000,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4).rem_euclid(7)) as u32,
        }
    }
}

/// XML text escaping (element content only: quotes need no escape there).
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], query: &[(&str, &str)]) -> Req {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Req {
            method: "POST".into(),
            path: "/".into(),
            query: pairs(query),
            headers: pairs(headers),
            body: vec![],
        }
    }

    #[test]
    fn the_scope_service_is_read_from_the_signature_or_a_presigned_query() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/20261201/us-east-1/sts/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(
            scope_service(&req(&[("authorization", auth)], &[])),
            Some("sts")
        );
        let presigned = [(
            "X-Amz-Credential",
            "AKID/20261201/eu-west-1/s3/aws4_request",
        )];
        assert_eq!(scope_service(&req(&[], &presigned)), Some("s3"));
        assert_eq!(scope_service(&req(&[], &[])), None);
        for bad in [
            "AWS AKID:signature",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1//aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/sts/other",
        ] {
            assert_eq!(
                scope_service(&req(&[("authorization", bad)], &[])),
                None,
                "{bad}"
            );
        }
    }
}
