//! Admin operations: create/delete/list/describe topics, create partitions, describe and
//! incrementally alter configs, describe cluster. Translates domain arguments into
//! kafka-protocol requests and per-resource Kafka errors back; it prints nothing (output
//! formats belong to the CLI).

use sluice_protocol::kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use sluice_protocol::kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use sluice_protocol::kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use sluice_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use sluice_protocol::kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeTopicPartitionsRequest,
    IncrementalAlterConfigsRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::client::{BrokerInfo, Client};
use crate::error::{ClientError, Result};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// A topic to create. `None` = broker default (-1 on the wire).
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    pub configs: Vec<(String, String)>,
}

/// Kafka's ConfigResource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
}

/// Kafka's config sources (DescribeConfigs `config_source`).
pub fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_DEFAULT: i8 = 5;

/// A config synonym (where a value came from, most specific first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// One config entry of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    pub source: i8,
    pub sensitive: bool,
    pub synonyms: Vec<ConfigSynonym>,
}

/// IncrementalAlterConfigs operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    Delete(String),
}

/// A partition as DescribeTopicPartitions (or Metadata) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// `None` when the broker cannot report ELRs (no DescribeTopicPartitions).
    pub elr: Option<Vec<i32>>,
    pub last_known_elr: Option<Vec<i32>>,
}

/// A topic with its partitions, sorted by partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub partitions: Vec<PartitionDescription>,
}

/// DescribeCluster in domain form.
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
}

fn ids(v: &[sluice_protocol::kafka_protocol::messages::BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

impl Client {
    /// CreateTopics; one result per requested topic, in order.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<(String, Result<()>)>> {
        let conn = self.controller_connection().await?;
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32)
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(topic_name(&t.name))
                            .with_num_partitions(t.num_partitions.unwrap_or(-1))
                            .with_replication_factor(t.replication_factor.unwrap_or(-1))
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(s(k))
                                            .with_value(Some(s(v)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp = conn.send(&req).await?;
        Ok(topics
            .iter()
            .map(|t| {
                let r = resp.topics.iter().find(|r| r.name.0.as_str() == t.name);
                let res = match r {
                    None => Err(ClientError::Invalid(format!(
                        "no result for topic {}",
                        t.name
                    ))),
                    Some(r) => match ClientError::from_code(
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                    ) {
                        Some(e) => Err(e),
                        None => Ok(()),
                    },
                };
                (t.name.clone(), res)
            })
            .collect())
    }

    /// DeleteTopics by name; one result per topic.
    pub async fn delete_topics(&self, names: &[String]) -> Result<Vec<(String, Result<()>)>> {
        let conn = self.controller_connection().await?;
        let version = conn.version_for::<DeleteTopicsRequest>(None)?;
        let mut req = DeleteTopicsRequest::default()
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32);
        if version >= 6 {
            req.topics = names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                .collect();
        } else {
            req.topic_names = names.iter().map(|n| topic_name(n)).collect();
        }
        let resp = conn.send_at(&req, version).await?;
        Ok(names
            .iter()
            .map(|n| {
                let r = resp
                    .responses
                    .iter()
                    .find(|r| r.name.as_ref().is_some_and(|x| x.0.as_str() == n));
                let res = match r {
                    None => Err(ClientError::Invalid(format!("no result for topic {n}"))),
                    Some(r) => match ClientError::from_code(
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                    ) {
                        Some(e) => Err(e),
                        None => Ok(()),
                    },
                };
                (n.clone(), res)
            })
            .collect())
    }

    /// Names of all topics, sorted; internal ones only if asked.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        let md = self.metadata(None).await?;
        let mut names: Vec<String> = md
            .topics
            .into_iter()
            .filter(|t| t.error_code == 0 && (include_internal || !t.is_internal))
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Describes topics (DescribeTopicPartitions when the broker has it, so ELRs are
    /// known; Metadata otherwise). Unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION.
    pub async fn describe_topics(&self, names: &[String]) -> Result<Vec<TopicDescription>> {
        let conn = self.any_connection().await?;
        if conn.broker_range(ApiKey::DescribeTopicPartitions).is_some() {
            let mut out: Vec<TopicDescription> = Vec::new();
            let mut cursor = None;
            // Bounded paging: at most 10_000 pages of 2000 partitions.
            for _ in 0..10_000 {
                let req = DescribeTopicPartitionsRequest::default()
                    .with_topics(
                        names
                            .iter()
                            .map(|n| TopicRequest::default().with_name(topic_name(n)))
                            .collect(),
                    )
                    .with_response_partition_limit(2000)
                    .with_cursor(cursor.take());
                let resp = conn.send(&req).await?;
                for t in resp.topics {
                    if let Some(e) = ClientError::from_code(t.error_code, None) {
                        return Err(e);
                    }
                    let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
                    let parts = t.partitions.into_iter().map(|p| PartitionDescription {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: ids(&p.replica_nodes),
                        isr: ids(&p.isr_nodes),
                        elr: Some(
                            p.eligible_leader_replicas
                                .as_deref()
                                .map(ids)
                                .unwrap_or_default(),
                        ),
                        last_known_elr: Some(
                            p.last_known_elr.as_deref().map(ids).unwrap_or_default(),
                        ),
                    });
                    match out.iter_mut().find(|d| d.name == name) {
                        Some(d) => d.partitions.extend(parts),
                        None => out.push(TopicDescription {
                            name,
                            topic_id: t.topic_id,
                            is_internal: t.is_internal,
                            partitions: parts.collect(),
                        }),
                    }
                }
                match resp.next_cursor {
                    Some(c) => cursor = Some(sluice_protocol::kafka_protocol::messages::describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(c.topic_name)
                        .with_partition_index(c.partition_index)),
                    None => break,
                }
            }
            for d in &mut out {
                d.partitions.sort_by_key(|p| p.partition);
            }
            return Ok(out);
        }
        let md = self.metadata(Some(names)).await?;
        let mut out = Vec::new();
        for t in md.topics {
            if let Some(e) = ClientError::from_code(t.error_code, None) {
                return Err(e);
            }
            out.push(TopicDescription {
                name: t.name,
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionDescription {
                        partition: p.partition,
                        leader: p.leader,
                        replicas: p.replicas,
                        isr: p.isr,
                        elr: None,
                        last_known_elr: None,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// CreatePartitions: grow `topic` to `count` partitions.
    pub async fn create_partitions(
        &self,
        topic: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<()> {
        let conn = self.controller_connection().await?;
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(self.config().request_timeout.as_millis() as i32)
            .with_validate_only(validate_only)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(count)]);
        let resp = conn.send(&req).await?;
        for r in resp.results {
            if let Some(e) =
                ClientError::from_code(r.error_code, r.error_message.map(|m| m.to_string()))
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// DescribeConfigs of one resource, with synonyms. `keys = None` = all configs.
    pub async fn describe_configs(
        &self,
        rtype: ResourceType,
        name: &str,
        keys: Option<&[String]>,
    ) -> Result<Vec<ConfigEntry>> {
        let conn = self.resource_connection(rtype, name).await?;
        let req = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(rtype as i8)
                .with_resource_name(s(name))
                .with_configuration_keys(
                    keys.map(|ks| ks.iter().map(|k| s(k)).collect()),
                )]);
        let resp = conn.send(&req).await?;
        let mut out = Vec::new();
        for r in resp.results {
            if let Some(e) =
                ClientError::from_code(r.error_code, r.error_message.map(|m| m.to_string()))
            {
                return Err(e);
            }
            for c in r.configs {
                out.push(ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.map(|v| v.to_string()),
                    read_only: c.read_only,
                    source: c.config_source,
                    sensitive: c.is_sensitive,
                    synonyms: c
                        .synonyms
                        .into_iter()
                        .map(|y| ConfigSynonym {
                            name: y.name.to_string(),
                            value: y.value.map(|v| v.to_string()),
                            source: y.source,
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// IncrementalAlterConfigs (SET / DELETE) of one resource.
    pub async fn incremental_alter_configs(
        &self,
        rtype: ResourceType,
        name: &str,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let conn = self.resource_connection(rtype, name).await?;
        let configs = ops
            .iter()
            .map(|op| match op {
                AlterConfigOp::Set(k, v) => AlterableConfig::default()
                    .with_name(s(k))
                    .with_config_operation(0)
                    .with_value(Some(s(v))),
                AlterConfigOp::Delete(k) => AlterableConfig::default()
                    .with_name(s(k))
                    .with_config_operation(1)
                    .with_value(None),
            })
            .collect();
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(rtype as i8)
                .with_resource_name(s(name))
                .with_configs(configs),
        ]);
        let resp = conn.send(&req).await?;
        for r in resp.responses {
            if let Some(e) =
                ClientError::from_code(r.error_code, r.error_message.map(|m| m.to_string()))
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Broker resources go to that broker; everything else to any broker.
    async fn resource_connection(
        &self,
        rtype: ResourceType,
        name: &str,
    ) -> Result<std::sync::Arc<crate::Connection>> {
        if matches!(rtype, ResourceType::Broker | ResourceType::BrokerLogger) {
            if let Ok(id) = name.parse::<i32>() {
                return self.broker_connection(id).await;
            }
        }
        self.any_connection().await
    }

    /// DescribeCluster (Metadata when the broker lacks it).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.any_connection().await?;
        if conn.broker_range(ApiKey::DescribeCluster).is_some() {
            let resp = conn.send(&DescribeClusterRequest::default()).await?;
            if let Some(e) =
                ClientError::from_code(resp.error_code, resp.error_message.map(|m| m.to_string()))
            {
                return Err(e);
            }
            return Ok(ClusterDescription {
                cluster_id: resp.cluster_id.to_string(),
                controller_id: resp.controller_id.0,
                brokers: resp
                    .brokers
                    .into_iter()
                    .map(|b| BrokerInfo {
                        id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.map(|r| r.to_string()),
                    })
                    .collect(),
            });
        }
        let md = self.metadata(Some(&[])).await?;
        Ok(ClusterDescription {
            cluster_id: md.cluster_id.unwrap_or_default(),
            controller_id: md.controller_id,
            brokers: md.brokers,
        })
    }
}

/// Kafka's textual topic id: URL-safe base64 of the 16 bytes, no padding.
pub fn topic_id_string(id: &Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Builds a topic id from raw bytes (lets callers avoid a direct `uuid` dependency).
pub fn uuid_from_bytes(b: [u8; 16]) -> Uuid {
    Uuid::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_id_is_base64url_without_padding() {
        assert_eq!(topic_id_string(&Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        // Kafka's Uuid.toString for bytes 0xfb 0xff ... uses '-' and '_'.
        let id = Uuid::from_bytes([0xfb, 0xff, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
        let s = topic_id_string(&id);
        assert_eq!(s.len(), 22);
        assert!(s.starts_with("-_-_"));
        assert!(s.ends_with("_w"));
    }
}
