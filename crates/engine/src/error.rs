//! The engine's errors: each names the resource, the step or the call, and keeps its cause
//! (the cloud's error, the state file's) as its `source`, so that a caller printing the chain
//! prints one line that says it all.

use livestack_model::Address;

use crate::events::Signal;

/// A cloud's error, as the engine keeps it.
pub type CloudErr = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("refresh: reading {address}")]
    Read {
        address: Address,
        #[source]
        source: CloudErr,
    },
    #[error("refresh: reading the {kind} resources in bulk")]
    List {
        kind: &'static str,
        #[source]
        source: CloudErr,
    },
    #[error("refresh: finding resources by ownership tags")]
    Discover {
        #[source]
        source: CloudErr,
    },
    #[error("refresh: {address}: `{id}` was let go of with `livestack state rm`; rename it in the stack, or delete `{id}` in the cloud")]
    Released { address: Address, id: String },
    #[error("refresh: {address}: `{id}` belongs to {other} of this stack, which wants it too")]
    ClaimedTwice {
        address: Address,
        id: String,
        other: Address,
    },
    #[error("refresh: {address}: `{id}` already exists and is not livestack's ({hint})")]
    NotOwned {
        address: Address,
        id: String,
        hint: String,
    },
    #[error("{owner}: resolving secret {name}")]
    Secret {
        owner: String,
        name: String,
        #[source]
        source: CloudErr,
    },
    /// A cloud call's error, as the cloud says it.
    #[error(transparent)]
    Call(CloudErr),
    /// A step's own failure: what it could not do, and why.
    #[error("{what}")]
    Cloud {
        what: String,
        #[source]
        source: CloudErr,
    },
    /// Something a step needs is not there (an id, an output, a spec).
    #[error("{0}")]
    Missing(String),
    #[error("{exists}: it is not livestack's ({hint})")]
    NotOursToTake { exists: String, hint: String },
    /// `import` into the name of a stack that already has resources in the account: its plan
    /// would take them as its own and delete those its file does not declare.
    #[error("import: stack `{stack}` already has resources in this account ({found}): import into another stack name (--stack NAME); a stack's plan deletes what carries its tags and its file does not declare")]
    StackInUse { stack: String, found: String },
    #[error("step {id} ({op} {address}) failed")]
    Step {
        id: usize,
        op: &'static str,
        address: Address,
        #[source]
        source: Box<Error>,
    },
    #[error("a step's task failed: {0}")]
    Task(String),
    #[error("steps {0} could never start: they wait for each other")]
    StepCycle(String),
    #[error("interrupted ({0})")]
    Interrupted(&'static str),
    /// Stopped before anything changed.
    #[error("{what} by {}; nothing was changed and the lock is released", signal.name())]
    Stopped { signal: Signal, what: String },
    #[error(transparent)]
    State(#[from] livestack_state::Error),
    #[error(transparent)]
    Plan(#[from] livestack_plan::Error),
    /// An apply or destroy that stopped before its last step: `summary` first, then the
    /// cause; `off_air` are the lines that say which channels it left off air.
    #[error("{summary}")]
    Unfinished {
        summary: String,
        /// The signal that stopped it, if one did (the exit code is 128 + its number).
        signal: Option<Signal>,
        off_air: Vec<String>,
        #[source]
        cause: Box<Error>,
    },
}

impl Error {
    pub(crate) fn call(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Call(Box::new(e))
    }

    pub(crate) fn cloud(
        what: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Cloud {
            what: what.into(),
            source: Box::new(e),
        }
    }
}

/// `Option`'s missing value as [`Error::Missing`].
pub(crate) trait OrMissing<T> {
    fn or_missing(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> OrMissing<T> for Option<T> {
    fn or_missing(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.ok_or_else(|| Error::Missing(what()))
    }
}
