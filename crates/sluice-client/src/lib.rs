//! sluice-client: a Rust client for Kafka-protocol brokers. `Client::connect(bootstrap)`
//! gives a connection pool with a metadata cache; produce, fetch, list-offsets and admin
//! operations hang off it. It depends only on `sluice-protocol` (kafka-protocol types) and
//! never prints: formatting is the CLI's job.

pub mod admin;
pub mod admin_elect;
pub mod admin_groups;
pub mod admin_reassign;
pub mod client;
pub mod connection;
pub mod consumer;
pub mod consumer_protocol;
pub mod error;
pub mod fetch;
pub mod group_member;
pub mod partitioner;
pub mod produce;
pub mod producer;
pub mod quorum;
mod recv_pool;

pub use admin::{
    config_source_name, topic_id_string, AlterConfigOp, ClusterDescription, ConfigEntry,
    ConfigSynonym, NewTopic, PartitionDescription, ResourceType, TopicDescription,
};
pub use admin_elect::{ElectionResult, ElectionType, ELECTION_NOT_NEEDED};
pub use admin_groups::{
    CommitIdentity, CommittedOffset, Coordinator, GroupDescription, GroupListing,
    MemberDescription, PartitionResults,
};
pub use client::{BrokerInfo, Client, ClientConfig, Metadata, PartitionMetadata, TopicMetadata};
pub use connection::Connection;
pub use consumer::{
    ConsumerConfig, ConsumerRebalanceListener, GroupProtocol, IsolationLevel, OffsetReset,
    RebalanceContext, WakeupHandle,
};
pub use consumer_protocol::TopicPartition;
pub use error::{error_name, ClientError, Result};
pub use fetch::{
    ConsumerRecord, FetchOptions, FetchTarget, PartitionFetch, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP, MAX_TIMESTAMP,
};
pub use group_member::{range_assign, GroupCommitter, GroupMember, GroupMemberConfig};
pub use partitioner::{murmur2, partition_for_key, StickyPartitioner};
pub use produce::{
    parse_compression, PartitionBatch, PartitionResult, ProduceOptions, ProduceRecord,
};
pub use producer::{
    Producer, ProducerConfig, ProducerError, ProducerRecord, RecordMetadata, TypedProducer,
};
pub use sluice_protocol::kafka_protocol::records::Compression;
