//! Admin operations for moving replicas and decommissioning brokers, as Kafka's AdminClient
//! offers them: alter partition reassignments (start, replace, or cancel with `None`), list
//! the ongoing ones (KIP-455), and unregister a broker (KIP-631). All go to the controller (any
//! broker forwards them). Prints nothing.

use std::collections::BTreeMap;

use sluice_protocol::kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use sluice_protocol::kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use sluice_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
    UnregisterBrokerRequest,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use crate::client::Client;
use crate::error::{ClientError, Result};

/// A topic-partition as the tools name it.
pub type TopicPartitionName = (String, i32);

/// An ongoing reassignment (ListPartitionReassignments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// Every replica of the partition now: target replicas, then those being removed.
    pub replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub removing_replicas: Vec<i32>,
}

fn topic_name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

impl Client {
    /// AlterPartitionReassignments: for each partition `Some(target replicas)` starts a
    /// reassignment, `None` cancels the ongoing one. One result per requested partition, in
    /// request order. A top-level error (e.g. NOT_CONTROLLER) fails the whole call.
    pub async fn alter_partition_reassignments(
        &self,
        reassignments: &[(TopicPartitionName, Option<Vec<i32>>)],
        allow_replication_factor_change: bool,
    ) -> Result<Vec<(TopicPartitionName, Result<()>)>> {
        let conn = self.controller_connection().await?;
        let version = conn.version_for::<AlterPartitionReassignmentsRequest>(None)?;
        if version < 1 && !allow_replication_factor_change {
            return Err(ClientError::Invalid(
                "the broker does not support refusing replication factor changes in reassignments"
                    .into(),
            ));
        }
        // Grouped by topic, preserving the first appearance order.
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for ((topic, partition), target) in reassignments {
            let p = ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(
                    target
                        .as_ref()
                        .map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32)
            .with_allow_replication_factor_change(allow_replication_factor_change)
            .with_topics(topics);
        let resp = conn.send_at(&req, version).await?;
        if let Some(e) =
            ClientError::from_code(resp.error_code, resp.error_message.map(|m| m.to_string()))
        {
            return Err(e);
        }
        // A partition named twice gets two answers, in order: match by occurrence.
        let mut seen: BTreeMap<(&str, i32), usize> = BTreeMap::new();
        Ok(reassignments
            .iter()
            .map(|((topic, partition), _)| {
                let nth = seen.entry((topic.as_str(), *partition)).or_default();
                let r = resp
                    .responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == topic)
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.partition_index == *partition)
                    .nth(*nth);
                *nth += 1;
                let res = match r {
                    None => Err(ClientError::Invalid(format!(
                        "no result for partition {topic}-{partition}"
                    ))),
                    Some(r) => match ClientError::from_code(
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                    ) {
                        Some(e) => Err(e),
                        None => Ok(()),
                    },
                };
                ((topic.clone(), *partition), res)
            })
            .collect())
    }

    /// ListPartitionReassignments: ongoing reassignments of every partition (`None`) or of the
    /// given ones.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartitionName]>,
    ) -> Result<BTreeMap<TopicPartitionName, PartitionReassignment>> {
        let conn = self.controller_connection().await?;
        let topics = partitions.map(|list| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in list {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, parts)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(parts)
                })
                .collect()
        });
        let req = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32)
            .with_topics(topics);
        let resp = conn.send(&req).await?;
        if let Some(e) =
            ClientError::from_code(resp.error_code, resp.error_message.map(|m| m.to_string()))
        {
            return Err(e);
        }
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
        let mut out = BTreeMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    PartitionReassignment {
                        replicas: ids(&p.replicas),
                        adding_replicas: ids(&p.adding_replicas),
                        removing_replicas: ids(&p.removing_replicas),
                    },
                );
            }
        }
        Ok(out)
    }

    /// UnregisterBroker: removes a decommissioned broker's registration (its replicas stay
    /// assigned; reassign them first). BROKER_ID_NOT_REGISTERED for unknown ids.
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<()> {
        let conn = self.controller_connection().await?;
        let resp = conn
            .send(&UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id)))
            .await?;
        match ClientError::from_code(resp.error_code, resp.error_message.map(|m| m.to_string())) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
