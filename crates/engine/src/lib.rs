//! livestack's engine: refresh (what the cloud holds of a stack) and execute (a plan's steps,
//! in graph order, concurrently, the state saved as they finish), against any cloud that
//! implements [`Cloud`]. The CLI drives it; a test or another program (a CI action, an
//! operator) can embed it.
//!
//! It names no aws-sdk type: `livestack_aws::Clients` implements [`Cloud`]. It prints
//! nothing: progress reaches the caller as [`Event`]s, a stop request comes in through
//! [`Interrupts`], and every failure is an [`Error`] naming the resource, step or call.

mod cloud;
mod error;
mod events;
mod exec;
pub mod import;
mod off_air;
mod refresh;

use livestack_model::ValidatedStack;
use livestack_plan::{Mode, Observed, Plan};
use livestack_state::{State, Store};

pub use cloud::{ChannelWait, Cloud, CloudError, SecretSource};
pub use error::{CloudErr, Error};
pub use events::{Event, Interrupts, Observer, Quiet, Received, Signal, Uninterrupted};
pub use off_air::Again;
pub use refresh::{not_owned_hint, old_addresses, owned_by, source};

/// A stack, its state and the cloud it is reconciled against.
pub struct Engine<C: Cloud> {
    pub desired: ValidatedStack,
    /// Where the state is kept (a file, or a bucket).
    pub store: Store,
    pub state: State,
    /// Hashes secrets with the stack's key (kept outside the state).
    pub hasher: livestack_plan::Hasher,
    pub cloud: C,
    /// Reads in flight at once during refresh.
    pub parallelism: usize,
}

impl<C: Cloud> Engine<C> {
    /// What the cloud holds of the stack, read concurrently (at most `parallelism` reads in
    /// flight), with the resources found by ownership tags adopted.
    pub async fn refresh(&self, mode: Mode) -> Result<Observed, Error> {
        refresh::refresh(self, mode).await
    }

    /// Refresh, then the plan from the stack, the state and what refresh found.
    pub async fn plan(&self, mode: Mode) -> Result<(Plan, Observed), Error> {
        self.plan_targets(mode, &[]).await
    }

    /// [`Engine::plan`], cut down to the `targets` (`kind.label`) and what they need when
    /// there are any (`-target`: [`livestack_plan::restrict`]). An unknown target is refused
    /// before the cloud is read.
    pub async fn plan_targets(
        &self,
        mode: Mode,
        targets: &[String],
    ) -> Result<(Plan, Observed), Error> {
        if !targets.is_empty() {
            livestack_plan::needed(&self.desired, targets)?;
        }
        let observed = self.refresh(mode).await?;
        let plan = livestack_plan::plan(&self.desired, &self.state.prior, &observed, mode)?;
        let plan = match targets {
            [] => plan,
            t => livestack_plan::restrict(plan, &self.desired, t)?,
        };
        Ok((plan, observed))
    }

    /// Brings the state to what refresh found before anything runs (renames, forgotten and
    /// adopted resources) and saves it if that changed it.
    pub async fn remember(&mut self, plan: &Plan, observed: &Observed) -> Result<(), Error> {
        exec::remember(self, plan, observed).await
    }

    /// Runs the plan's steps: first `remember` (a stop request meanwhile ends the run with
    /// [`Error::Stopped`], nothing changed), then every step whose predecessors are done, at
    /// once. A first Ctrl-C starts no new step and lets the ones in flight finish; a second
    /// one, SIGTERM or SIGHUP leaves at once. A run that does not finish is an
    /// [`Error::Unfinished`] that names the channels it left off air.
    pub async fn execute(
        &mut self,
        plan: &Plan,
        observed: &Observed,
        observer: &std::sync::Arc<dyn Observer>,
        interrupts: &mut impl Interrupts,
        again: &Again<'_>,
    ) -> Result<(), Error> {
        exec::execute(self, plan, observed, observer, interrupts, again).await
    }
}
