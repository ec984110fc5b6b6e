//! A local endpoint for the parts of AWS Elemental MediaLive, MediaPackage (v1), SSM and IAM
//! that livestack uses, speaking each service's own wire protocol so that the official
//! aws-sdk-* clients and the AWS CLI talk to it unchanged, and enforcing the lifecycle rules of
//! `shared/design/aws-lifecycle.md` (states with timed transitions, 409/422/404 answers).
//!
//! This crate depends on no other livestack crate.
//!
//! # Documented deviations from AWS
//! (kept up to date by whoever changes a service module; see each module's docs)

pub mod iam;
pub mod mediapackage;
pub mod medialive;
pub mod server;
pub mod ssm;
pub mod wire;

pub use server::{serve, start, Config, Faults, Running};

use serde::{Deserialize, Serialize};

/// The whole simulated cloud: what the data file persists.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Cloud {
    pub medialive: medialive::MediaLive,
    pub mediapackage: mediapackage::MediaPackage,
    pub ssm: ssm::Ssm,
    pub iam: iam::Iam,
    /// Counter from which numeric ids and random-looking hex ids are derived.
    pub next_id: u64,
}
