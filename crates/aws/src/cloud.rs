//! [`livestack_engine::Cloud`] for the aws-sdk clients: every call runs with its retry reports
//! said to be about its resource ([`crate::about`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use livestack_engine::{ChannelWait, Cloud, CloudError, SecretSource};
use livestack_model::{Address, Kind};
use livestack_plan::{Hasher, ObservedResource};
use serde_json::Value as Json;

use crate::{Clients, Error};

impl CloudError for Error {
    fn is_already_exists(&self) -> bool {
        Error::is_already_exists(self)
    }
}

impl Cloud for Clients {
    type Error = Error;

    fn about<F: Future + Send>(
        resource: String,
        work: F,
    ) -> impl Future<Output = F::Output> + Send {
        crate::about(resource, work)
    }

    async fn read(
        &self,
        address: &Address,
        id: &str,
        hasher: &Hasher,
    ) -> Result<Option<ObservedResource>, Error> {
        Clients::read(self, address, id, hasher).await
    }

    async fn read_many(
        &self,
        kind: Kind,
        ids: &[String],
        hasher: &Hasher,
    ) -> Result<Option<Vec<ObservedResource>>, Error> {
        Clients::read_many(self, kind, ids, hasher).await
    }

    async fn list_all(
        &self,
        kind: Kind,
        hasher: &Hasher,
    ) -> Result<Option<Vec<ObservedResource>>, Error> {
        Clients::list_all(self, kind, hasher).await
    }

    async fn discover(
        &self,
        stack: &str,
        known: &BTreeSet<String>,
    ) -> Result<Vec<(Address, String)>, Error> {
        Clients::discover(self, stack, known).await
    }

    async fn create(
        &self,
        address: &Address,
        spec: &Json,
        token: &str,
    ) -> Result<(String, ObservedResource), Error> {
        Clients::create(self, address, spec, token).await
    }

    async fn update(
        &self,
        address: &Address,
        id: &str,
        spec: &Json,
        current: &ObservedResource,
    ) -> Result<ObservedResource, Error> {
        Clients::update(self, address, id, spec, current).await
    }

    async fn update_tags(
        &self,
        address: &Address,
        id: &str,
        desired: &Json,
        current: &ObservedResource,
    ) -> Result<ObservedResource, Error> {
        Clients::update_tags(self, address, id, desired, current).await
    }

    async fn delete(&self, address: &Address, id: &str) -> Result<(), Error> {
        Clients::delete(self, address, id).await
    }

    async fn start_channel(&self, id: &str) -> Result<(), Error> {
        Clients::start_channel(self, id).await
    }

    async fn stop_channel(&self, id: &str) -> Result<(), Error> {
        Clients::stop_channel(self, id).await
    }

    async fn update_channel_class(
        &self,
        id: &str,
        class: &str,
        destinations: &Json,
    ) -> Result<(), Error> {
        Clients::update_channel_class(self, id, class, destinations).await
    }

    async fn wait_channel(
        &self,
        id: &str,
        want: ChannelWait,
        timeout: Duration,
    ) -> Result<(), Error> {
        Clients::wait_channel(self, id, want, timeout).await
    }

    async fn wait_input_detached(&self, id: &str, timeout: Duration) -> Result<(), Error> {
        Clients::wait_input_detached(self, id, timeout).await
    }

    async fn wait_gone(&self, address: &Address, id: &str, timeout: Duration) -> Result<(), Error> {
        Clients::wait_gone(self, address, id, timeout).await
    }

    async fn secret_value(&self, source: &SecretSource) -> Result<String, Error> {
        Clients::secret_value(self, source).await
    }

    async fn secret_values(&self, sources: &[SecretSource]) -> Vec<Result<String, Error>> {
        Clients::secret_values(self, sources).await
    }
}
