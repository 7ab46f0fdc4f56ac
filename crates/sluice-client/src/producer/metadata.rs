//! The producer's view of the cluster: partition counts and leaders per topic and broker
//! addresses, readable without awaiting (the `send` hot path) and refreshed through the
//! `Client`'s Metadata requests (with auto-creation when allowed). A topic missing from the
//! cluster is waited for up to `max.block.ms`, as Java's `waitOnMetadata` does.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::client::Client;

use super::error::ProducerError;

/// What the producer knows of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub num_partitions: i32,
    /// Leader per partition index (-1 = none).
    pub leaders: Vec<i32>,
    /// Partitions with a leader, ascending.
    pub available: Vec<i32>,
}

/// Topic and broker caches.
pub struct ProducerMetadata {
    client: Arc<Client>,
    allow_auto_create: bool,
    topics: RwLock<HashMap<String, Arc<TopicInfo>>>,
    brokers: RwLock<HashMap<i32, String>>,
    fetch: tokio::sync::Mutex<()>,
}

impl ProducerMetadata {
    pub fn new(client: Arc<Client>, allow_auto_create: bool) -> Self {
        ProducerMetadata {
            client,
            allow_auto_create,
            topics: RwLock::new(HashMap::new()),
            brokers: RwLock::new(HashMap::new()),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The cached topic, if any.
    pub fn topic(&self, topic: &str) -> Option<Arc<TopicInfo>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned()
    }

    /// Leader of a partition from the cache.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.topic(topic)?;
        t.leaders
            .get(partition as usize)
            .copied()
            .filter(|l| *l >= 0)
    }

    pub fn broker_addr(&self, id: i32) -> Option<String> {
        self.brokers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Fetches metadata for `topics` and updates the caches.
    pub async fn refresh(&self, topics: &[String]) -> Result<(), ProducerError> {
        let md = self
            .client
            .metadata_with(Some(topics), self.allow_auto_create)
            .await?;
        if !md.brokers.is_empty() {
            *self.brokers.write().unwrap_or_else(|e| e.into_inner()) =
                md.brokers.iter().map(|b| (b.id, b.addr())).collect();
        }
        let mut cache = self.topics.write().unwrap_or_else(|e| e.into_inner());
        for t in md.topics {
            if t.error_code != 0 || t.partitions.is_empty() {
                continue;
            }
            let n = t
                .partitions
                .iter()
                .map(|p| p.partition + 1)
                .max()
                .unwrap_or(0);
            let mut leaders = vec![-1; n.max(0) as usize];
            for p in &t.partitions {
                if p.partition >= 0 && p.error_code != 5 {
                    leaders[p.partition as usize] = p.leader;
                }
            }
            let available = (0..n).filter(|p| leaders[*p as usize] >= 0).collect();
            cache.insert(
                t.name,
                Arc::new(TopicInfo {
                    num_partitions: n,
                    leaders,
                    available,
                }),
            );
        }
        Ok(())
    }

    /// The topic's metadata, waiting (refreshing with backoff) until it exists or
    /// `deadline`; Java's message on timeout.
    pub async fn wait_for(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
        max_block: Duration,
        backoff: Duration,
    ) -> Result<Arc<TopicInfo>, ProducerError> {
        let fits = |t: &TopicInfo| partition.is_none_or(|p| p < t.num_partitions);
        let mut last_err = None;
        loop {
            if let Some(t) = self.topic(topic) {
                if fits(&t) {
                    return Ok(t);
                }
            }
            {
                let _one_at_a_time = self.fetch.lock().await;
                if let Some(t) = self.topic(topic).filter(|t| fits(t)) {
                    return Ok(t);
                }
                if let Err(e) = self.refresh(&[topic.to_string()]).await {
                    last_err = Some(e);
                }
            }
            if let Some(t) = self.topic(topic) {
                if fits(&t) {
                    return Ok(t);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let why = match (partition, self.topic(topic)) {
                    (Some(p), Some(t)) => format!(
                        "Partition {p} of topic {topic} with partition count {} is not present in metadata after {} ms.",
                        t.num_partitions,
                        max_block.as_millis()
                    ),
                    _ => format!(
                        "Topic {topic} not present in metadata after {} ms.",
                        max_block.as_millis()
                    ),
                };
                let why = match last_err {
                    Some(e) => format!("{why} (last error: {e})"),
                    None => why,
                };
                return Err(ProducerError::timeout(why));
            }
            tokio::time::sleep(backoff.min(deadline - now)).await;
        }
    }
}
