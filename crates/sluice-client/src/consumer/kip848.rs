//! The KIP-848 consumer group member (`group.protocol=consumer`). Placeholder until the
//! ConsumerGroupHeartbeat loop lands: creating one fails with a clear error.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::client::Client;
use crate::consumer::config::ConsumerConfig;
use crate::consumer::Subscription;
use crate::consumer_protocol::TopicPartition;
use crate::error::{ClientError, Result};

pub(crate) struct Kip848Member {
    notify: Arc<Notify>,
}

#[derive(Clone)]
pub(crate) struct Kip848Committer;

impl Kip848Committer {
    pub async fn commit(&self, _offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        Err(ClientError::Invalid(
            "group.protocol=consumer is not supported yet".into(),
        ))
    }
}

impl Kip848Member {
    pub fn new(
        _client: Arc<Client>,
        _config: &ConsumerConfig,
        _topics: Vec<String>,
        _sub: &Subscription,
    ) -> Result<Self> {
        Err(ClientError::Invalid(
            "group.protocol=consumer is not supported yet".into(),
        ))
    }
    pub fn set_subscription(&mut self, _topics: Vec<String>, _sub: &Subscription) {}
    pub fn topics(&self) -> Vec<String> {
        Vec::new()
    }
    pub fn member_id(&self) -> String {
        String::new()
    }
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }
    pub fn poll_target(&mut self) -> Result<Option<(Vec<TopicPartition>, bool)>> {
        Ok(None)
    }
    pub fn ack_owned(&mut self, _owned: Vec<TopicPartition>) {}
    pub fn joined(&self) -> bool {
        false
    }
    pub fn committer(&self) -> Kip848Committer {
        Kip848Committer
    }
    pub async fn leave(self) {}
}
