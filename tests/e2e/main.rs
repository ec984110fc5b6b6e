//! End to end: the real `livestack` binary against the sandbox over HTTP, with the real
//! aws-sdk clients inside it. Each test has its own sandbox and scratch directory.

mod ci_recipe;
mod day2;
mod exits;
mod harness;
mod import;
mod lifecycle;
mod partial;
mod promises;
mod pty;
mod remote_state;
mod safety;
mod scale;
mod secrets_and_faults;
mod show;
mod target;
