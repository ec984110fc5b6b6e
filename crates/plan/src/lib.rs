//! The planner: desired (the stack), prior (the state file) and observed (refresh) in, an
//! ordered plan out. Pure: no I/O, not async, no aws-sdk types.

mod observed;
mod secret;

pub use observed::{Observed, ObservedResource};
pub use secret::{secret_key, Hasher};
