//! sluice-client: a Rust client for Kafka-protocol brokers. `Client::connect(bootstrap)`
//! gives a connection pool with a metadata cache; produce, fetch, list-offsets and admin
//! operations hang off it. It depends only on `sluice-protocol` (kafka-protocol types) and
//! never prints: formatting is the CLI's job.

pub mod admin;
pub mod client;
pub mod connection;
pub mod error;
pub mod fetch;
pub mod partitioner;
pub mod produce;

pub use admin::{
    config_source_name, topic_id_string, AlterConfigOp, ClusterDescription, ConfigEntry,
    ConfigSynonym, NewTopic, PartitionDescription, ResourceType, TopicDescription,
};
pub use client::{BrokerInfo, Client, ClientConfig, Metadata, PartitionMetadata, TopicMetadata};
pub use connection::Connection;
pub use error::{error_name, ClientError, Result};
pub use fetch::{
    ConsumerRecord, FetchOptions, FetchTarget, PartitionFetch, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP, MAX_TIMESTAMP,
};
pub use partitioner::{murmur2, partition_for_key, StickyPartitioner};
pub use produce::{
    parse_compression, PartitionBatch, PartitionResult, ProduceOptions, ProduceRecord,
};
pub use sluice_protocol::kafka_protocol::records::Compression;
