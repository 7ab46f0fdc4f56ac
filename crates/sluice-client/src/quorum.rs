//! DescribeQuorum (api key 55): the state of the metadata quorum, as Kafka's
//! `Admin.describeMetadataQuorum` returns it (`QuorumInfo`). Brokers forward the request to the
//! active controller; a controller listener answers directly.

use std::collections::BTreeMap;

use sluice_protocol::kafka_protocol::messages::describe_quorum_request::{
    PartitionData, TopicData,
};
use sluice_protocol::kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use crate::connection::Connection;
use crate::error::{ClientError, Result};

pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// One replica of the metadata log; `None` where the leader reported -1 (unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub id: i32,
    pub log_end_offset: i64,
    pub last_fetch_timestamp: Option<i64>,
    pub last_caught_up_timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
    /// Voter id → its endpoints as `LISTENER://host:port` (DescribeQuorum v2 only).
    pub endpoints: BTreeMap<i32, Vec<String>>,
}

/// Sends DescribeQuorum for `__cluster_metadata` partition 0 at the highest common version.
pub async fn describe_quorum(conn: &Connection) -> Result<QuorumInfo> {
    let version = conn.version_for::<DescribeQuorumRequest>(Some(2))?;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp = conn.send_at(&request, version).await?;
    if let Some(e) = ClientError::from_code(
        resp.error_code,
        resp.error_message.as_ref().map(|m| m.to_string()),
    ) {
        return Err(e);
    }
    let p = resp
        .topics
        .iter()
        .find(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
        .ok_or_else(|| {
            ClientError::Invalid(format!(
                "DescribeQuorum response without {METADATA_TOPIC}-0"
            ))
        })?;
    if let Some(e) = ClientError::from_code(
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    ) {
        return Err(e);
    }
    let known = |t: i64| (t >= 0).then_some(t);
    let replica =
        |r: &sluice_protocol::kafka_protocol::messages::describe_quorum_response::ReplicaState| {
            QuorumReplica {
                id: r.replica_id.0,
                log_end_offset: r.log_end_offset,
                last_fetch_timestamp: known(r.last_fetch_timestamp),
                last_caught_up_timestamp: known(r.last_caught_up_timestamp),
            }
        };
    Ok(QuorumInfo {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: p.current_voters.iter().map(replica).collect(),
        observers: p.observers.iter().map(replica).collect(),
        endpoints: resp
            .nodes
            .iter()
            .map(|n| {
                (
                    n.node_id.0,
                    n.listeners
                        .iter()
                        .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
                        .collect(),
                )
            })
            .collect(),
    })
}

/// The cluster id, from DescribeCluster on `conn` (brokers and controllers answer it).
pub async fn cluster_id(conn: &Connection) -> Result<String> {
    let resp = conn
        .send(&sluice_protocol::kafka_protocol::messages::DescribeClusterRequest::default())
        .await?;
    if let Some(e) = ClientError::from_code(
        resp.error_code,
        resp.error_message.as_ref().map(|m| m.to_string()),
    ) {
        return Err(e);
    }
    Ok(resp.cluster_id.to_string())
}
