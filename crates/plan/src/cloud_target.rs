//! Where a plan goes: the AWS account and region, or the livestack sandbox world, that a plan
//! and a state are bound to. A value like the rest of a plan: the caller that talked to the
//! cloud (STS GetCallerIdentity) fills it in; the planner itself never needs one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The cloud a plan's calls go to, as its text header and its JSON (`"target"`) name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CloudTarget {
    /// An AWS account in one region (or an endpoint answering as one, `endpoint_url`).
    Aws {
        /// The 12-digit account id STS answered.
        account: String,
        region: String,
        /// The profile of the AWS configuration the credentials come from, when they do.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<String>,
        /// `--endpoint-url` (or `AWS_ENDPOINT_URL`) when every call goes there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_url: Option<String>,
    },
    /// A livestack sandbox world (`--sandbox`, `--sandbox-url`).
    Sandbox {
        /// The world's random id: what tells two sandboxes apart.
        world: String,
        account: String,
        region: String,
        /// Where it serves (`--sandbox-url`); `None` for the embedded sandbox, whose port
        /// changes at every run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The embedded sandbox's data file (`--sandbox`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_file: Option<String>,
    },
}

impl CloudTarget {
    /// Whether `other` is the same cloud: the same account and region, or the same sandbox
    /// world and region (whatever the URL, profile or endpoint it is reached by). A sandbox
    /// world serves any region, but what a stack makes there (ARNs, URLs) names the region it
    /// was made for, as on AWS.
    pub fn same_cloud(&self, other: &CloudTarget) -> bool {
        match (self, other) {
            (
                CloudTarget::Aws {
                    account: a,
                    region: r,
                    ..
                },
                CloudTarget::Aws {
                    account: b,
                    region: s,
                    ..
                },
            ) => a == b && r == s,
            (
                CloudTarget::Sandbox {
                    world: a,
                    region: r,
                    ..
                },
                CloudTarget::Sandbox {
                    world: b,
                    region: s,
                    ..
                },
            ) => a == b && r == s,
            _ => false,
        }
    }
}

impl fmt::Display for CloudTarget {
    /// `AWS account 123456789012, eu-west-1, profile prod`, `sandbox at
    /// http://127.0.0.1:4566 (world 3f2a…, us-east-1)`, `embedded sandbox
    /// state/imday.sandbox.json (world 3f2a…, us-east-1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudTarget::Aws {
                account,
                region,
                profile,
                endpoint_url,
            } => {
                write!(f, "AWS account {account}, {region}")?;
                if let Some(p) = profile {
                    write!(f, ", profile {p}")?;
                }
                if let Some(u) = endpoint_url {
                    write!(f, ", endpoint {u}")?;
                }
                Ok(())
            }
            CloudTarget::Sandbox {
                world,
                region,
                url,
                data_file,
                ..
            } => match (url, data_file) {
                (Some(u), _) => write!(f, "sandbox at {u} (world {world}, {region})"),
                (None, Some(d)) => write!(f, "embedded sandbox {d} (world {world}, {region})"),
                (None, None) => write!(f, "sandbox (world {world}, {region})"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(account: &str, region: &str, profile: Option<&str>) -> CloudTarget {
        CloudTarget::Aws {
            account: account.into(),
            region: region.into(),
            profile: profile.map(String::from),
            endpoint_url: None,
        }
    }

    fn sandbox(world: &str, url: Option<&str>) -> CloudTarget {
        sandbox_in(world, url, "us-east-1")
    }

    fn sandbox_in(world: &str, url: Option<&str>, region: &str) -> CloudTarget {
        CloudTarget::Sandbox {
            world: world.into(),
            account: "123456789012".into(),
            region: region.into(),
            url: url.map(String::from),
            data_file: url.is_none().then(|| "state/imday.sandbox.json".into()),
        }
    }

    #[test]
    fn the_same_cloud_is_the_account_and_region_or_the_world() {
        let prod = aws("123456789012", "eu-west-1", Some("prod"));
        assert!(prod.same_cloud(&aws("123456789012", "eu-west-1", None)));
        assert!(!prod.same_cloud(&aws("123456789012", "us-east-1", Some("prod"))));
        assert!(!prod.same_cloud(&aws("210987654321", "eu-west-1", Some("prod"))));
        let served = sandbox("3f2a9c1b00000000", Some("http://127.0.0.1:4566"));
        assert!(served.same_cloud(&sandbox("3f2a9c1b00000000", None)));
        assert!(!served.same_cloud(&sandbox("9b1c000000000000", Some("http://127.0.0.1:4566"))));
        let url = Some("http://127.0.0.1:4566");
        assert!(!served.same_cloud(&sandbox_in("3f2a9c1b00000000", url, "eu-west-1")));
        // A sandbox answers as account 123456789012 too: still not that AWS account.
        assert!(!served.same_cloud(&aws("123456789012", "us-east-1", None)));
    }

    #[test]
    fn targets_are_named_in_one_line_and_serialized_with_their_kind() {
        assert_eq!(
            aws("123456789012", "eu-west-1", Some("prod")).to_string(),
            "AWS account 123456789012, eu-west-1, profile prod"
        );
        assert_eq!(
            sandbox("3f2a", Some("http://127.0.0.1:4566")).to_string(),
            "sandbox at http://127.0.0.1:4566 (world 3f2a, us-east-1)"
        );
        assert_eq!(
            sandbox("3f2a", None).to_string(),
            "embedded sandbox state/imday.sandbox.json (world 3f2a, us-east-1)"
        );
        let json = serde_json::to_value(aws("123456789012", "eu-west-1", None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "aws", "account": "123456789012", "region": "eu-west-1"})
        );
        let back: CloudTarget = serde_json::from_value(json).unwrap();
        assert_eq!(back, aws("123456789012", "eu-west-1", None));
    }
}
