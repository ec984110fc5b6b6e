//! AWS STS (API version 2011-06-15) over awsQuery: GetCallerIdentity only, answering who this
//! sandbox is, so that a client can tell one sandbox world from another.
//!
//! Each world (a data file, or a sandbox kept in memory) gets a random id when it is created
//! ([`crate::Identity`]), kept in its data file and across `POST /_sandbox/reset`. The answer
//! names the sandbox's account, an assumed-role ARN whose session name is the world id
//! (`arn:aws:sts::ACCOUNT:assumed-role/livestack-sandbox/WORLD`) and a UserId
//! `AROASANDBOX:WORLD`: the world id travels in the AWS API itself, so a client needs no
//! sandbox-specific call to read it (`GET /_sandbox/identity` gives the same as JSON).
//!
//! Requests are routed here by their SigV4 credential scope's service (`sts`), as AWS's own
//! endpoints are per service. Any other action answers 400 InvalidAction. The request id in
//! the body is derived from nothing random, so an STS call leaves the seeded ids of the other
//! services unchanged.

use crate::iam::parse_form;
use crate::wire::xml_escape as esc;
use crate::wire::{Ctx, Req, Resp};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The role name in the ARN GetCallerIdentity answers.
pub const ROLE: &str = "livestack-sandbox";

/// Answers one STS request (an awsQuery form with `Action=`).
pub fn handle(cloud: &mut crate::Cloud, ctx: &mut Ctx, req: &Req) -> Resp {
    let mut pairs = req.query.clone();
    pairs.extend(parse_form(&req.body));
    let action = pairs
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let request_id = "00000000-0000-4000-8000-000000000000";
    let (status, body) = match action.as_str() {
        "GetCallerIdentity" => {
            let world = &cloud.identity.world;
            let account = ctx.account;
            (
                200,
                format!(
                    "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult>\
                     <Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>\
                     </GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}\
                     </RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                    esc(&format!(
                        "arn:aws:sts::{account}:assumed-role/{ROLE}/{world}"
                    )),
                    esc(&format!("AROASANDBOX:{world}")),
                    esc(account),
                ),
            )
        }
        _ => (
            400,
            format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type>\
                 <Code>InvalidAction</Code><Message>{}</Message></Error>\
                 <RequestId>{request_id}</RequestId></ErrorResponse>",
                esc(&format!(
                    "Could not find operation {action} for version 2011-06-15 (the sandbox \
                     serves GetCallerIdentity only)"
                ))
            ),
        ),
    };
    Resp {
        status,
        headers: vec![("content-type".into(), "text/xml".into())],
        body: body.into_bytes(),
        operation: if action.is_empty() {
            "Unknown".into()
        } else {
            action
        },
        resource: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn call(cloud: &mut crate::Cloud, body: &str) -> Resp {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut ctx = Ctx {
            now_ms: 0,
            speed: 1.0,
            account: "123456789012",
            region: "eu-west-1",
            rng: &mut rng,
            consistency_ms: 0,
        };
        let req = Req {
            method: "POST".into(),
            path: "/".into(),
            query: vec![],
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        handle(cloud, &mut ctx, &req)
    }

    #[test]
    fn get_caller_identity_names_the_account_and_the_world() {
        let mut cloud = crate::Cloud::default();
        cloud.identity.world = "3f2a9c".into();
        let r = call(&mut cloud, "Action=GetCallerIdentity&Version=2011-06-15");
        let body = String::from_utf8(r.body).unwrap();
        assert_eq!(r.status, 200, "{body}");
        assert!(body.contains("<Account>123456789012</Account>"), "{body}");
        assert!(
            body.contains(
                "<Arn>arn:aws:sts::123456789012:assumed-role/livestack-sandbox/3f2a9c</Arn>"
            ),
            "{body}"
        );
        assert!(
            body.contains("<UserId>AROASANDBOX:3f2a9c</UserId>"),
            "{body}"
        );
        let r = call(&mut cloud, "Action=AssumeRole&Version=2011-06-15");
        assert_eq!((r.status, r.operation.as_str()), (400, "AssumeRole"));
        assert!(String::from_utf8(r.body).unwrap().contains("InvalidAction"));
    }
}
