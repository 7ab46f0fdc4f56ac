//! Request layouts for the core data-path and cluster APIs (ApiVersions, Metadata, Produce,
//! Fetch, ListOffsets, DeleteRecords, OffsetForLeaderEpoch, InitProducerId, DescribeCluster,
//! DescribeQuorum, SaslHandshake, SaslAuthenticate).
//!
//! Pure data for the request guard's walker (see `schema.rs` for the field DSL). Layouts are
//! Kafka 4.1's message schemas exactly as kafka-protocol 0.18 decodes them: one row per field
//! and wire form, with the inclusive version range in which that form is read. Must never
//! contain logic; a wrong row either rejects valid clients or lets the crate see an unchecked
//! length, and `tests_roundtrip.rs` checks every row against the crate.

use super::schema::{f, tagged, Msg, Ty::*, BOOL, I16, I32, I64, I8, NOT_FLEXIBLE, S, UUID};

/// ApiVersions (api key 18), versions 0-4.
pub(crate) static API_VERSIONS: Msg = Msg {
    api_key: 18,
    min: 0,
    max: 4,
    body: &API_VERSIONS_REQUEST,
};
static API_VERSIONS_REQUEST: S = S {
    name: "ApiVersionsRequest",
    flexible: 3,
    fields: &[
        f("client_software_name", 3, 4, CStr),
        f("client_software_version", 3, 4, CStr),
    ],
};

/// Metadata (api key 3), versions 0-13.
pub(crate) static METADATA: Msg = Msg {
    api_key: 3,
    min: 0,
    max: 13,
    body: &METADATA_REQUEST,
};
static METADATA_REQUEST: S = S {
    name: "MetadataRequest",
    flexible: 9,
    fields: &[
        f("topics", 9, 13, CArr(&Struct(&METADATA_REQUEST_TOPIC))),
        f("topics", 0, 8, Arr(&Struct(&METADATA_REQUEST_TOPIC))),
        f("allow_auto_topic_creation", 4, 13, BOOL),
        f("include_cluster_authorized_operations", 8, 10, BOOL),
        f("include_topic_authorized_operations", 8, 13, BOOL),
    ],
};
static METADATA_REQUEST_TOPIC: S = S {
    name: "MetadataRequestTopic",
    flexible: 9,
    fields: &[
        f("topic_id", 10, 13, UUID),
        f("name", 9, 13, CStr),
        f("name", 0, 8, Str),
    ],
};

/// Produce (api key 0), versions 3-13.
pub(crate) static PRODUCE: Msg = Msg {
    api_key: 0,
    min: 3,
    max: 13,
    body: &PRODUCE_REQUEST,
};
static PARTITION_PRODUCE_DATA: S = S {
    name: "PartitionProduceData",
    flexible: 9,
    fields: &[
        f("index", 3, 13, I32),
        f("records", 9, 13, CBytes),
        f("records", 3, 8, Bytes),
    ],
};
static PRODUCE_REQUEST: S = S {
    name: "ProduceRequest",
    flexible: 9,
    fields: &[
        f("transactional_id", 9, 13, CStr),
        f("transactional_id", 3, 8, Str),
        f("acks", 3, 13, I16),
        f("timeout_ms", 3, 13, I32),
        f("topic_data", 9, 13, CArr(&Struct(&TOPIC_PRODUCE_DATA))),
        f("topic_data", 3, 8, Arr(&Struct(&TOPIC_PRODUCE_DATA))),
    ],
};
static TOPIC_PRODUCE_DATA: S = S {
    name: "TopicProduceData",
    flexible: 9,
    fields: &[
        f("name", 9, 12, CStr),
        f("name", 3, 8, Str),
        f("topic_id", 13, 13, UUID),
        f(
            "partition_data",
            9,
            13,
            CArr(&Struct(&PARTITION_PRODUCE_DATA)),
        ),
        f(
            "partition_data",
            3,
            8,
            Arr(&Struct(&PARTITION_PRODUCE_DATA)),
        ),
    ],
};

/// Fetch (api key 1), versions 4-18.
pub(crate) static FETCH: Msg = Msg {
    api_key: 1,
    min: 4,
    max: 18,
    body: &FETCH_REQUEST,
};
static FETCH_PARTITION: S = S {
    name: "FetchPartition",
    flexible: 12,
    fields: &[
        f("partition", 4, 18, I32),
        f("current_leader_epoch", 9, 18, I32),
        f("fetch_offset", 4, 18, I64),
        f("last_fetched_epoch", 12, 18, I32),
        f("log_start_offset", 5, 18, I64),
        f("partition_max_bytes", 4, 18, I32),
        tagged("replica_directory_id", 0, 17, 18, UUID),
        tagged("high_watermark", 1, 18, 18, I64),
    ],
};
static FETCH_REQUEST: S = S {
    name: "FetchRequest",
    flexible: 12,
    fields: &[
        f("replica_id", 4, 14, I32),
        f("max_wait_ms", 4, 18, I32),
        f("min_bytes", 4, 18, I32),
        f("max_bytes", 4, 18, I32),
        f("isolation_level", 4, 18, I8),
        f("session_id", 7, 18, I32),
        f("session_epoch", 7, 18, I32),
        f("topics", 12, 18, CArr(&Struct(&FETCH_TOPIC))),
        f("topics", 4, 11, Arr(&Struct(&FETCH_TOPIC))),
        f(
            "forgotten_topics_data",
            12,
            18,
            CArr(&Struct(&FORGOTTEN_TOPIC)),
        ),
        f(
            "forgotten_topics_data",
            7,
            11,
            Arr(&Struct(&FORGOTTEN_TOPIC)),
        ),
        f("rack_id", 12, 18, CStr),
        f("rack_id", 11, 11, Str),
        tagged("cluster_id", 0, 12, 18, CStr),
        tagged("replica_state", 1, 15, 18, Struct(&REPLICA_STATE)),
    ],
};
static FETCH_TOPIC: S = S {
    name: "FetchTopic",
    flexible: 12,
    fields: &[
        f("topic", 12, 12, CStr),
        f("topic", 4, 11, Str),
        f("topic_id", 13, 18, UUID),
        f("partitions", 12, 18, CArr(&Struct(&FETCH_PARTITION))),
        f("partitions", 4, 11, Arr(&Struct(&FETCH_PARTITION))),
    ],
};
static FORGOTTEN_TOPIC: S = S {
    name: "ForgottenTopic",
    flexible: 12,
    fields: &[
        f("topic", 12, 12, CStr),
        f("topic", 7, 11, Str),
        f("topic_id", 13, 18, UUID),
        f("partitions", 12, 18, CArr(&I32)),
        f("partitions", 7, 11, Arr(&I32)),
    ],
};
static REPLICA_STATE: S = S {
    name: "ReplicaState",
    flexible: 12,
    fields: &[
        f("replica_id", 15, 18, I32),
        f("replica_epoch", 15, 18, I64),
    ],
};

/// ListOffsets (api key 2), versions 1-10.
pub(crate) static LIST_OFFSETS: Msg = Msg {
    api_key: 2,
    min: 1,
    max: 10,
    body: &LIST_OFFSETS_REQUEST,
};
static LIST_OFFSETS_PARTITION: S = S {
    name: "ListOffsetsPartition",
    flexible: 6,
    fields: &[
        f("partition_index", 1, 10, I32),
        f("current_leader_epoch", 4, 10, I32),
        f("timestamp", 1, 10, I64),
    ],
};
static LIST_OFFSETS_REQUEST: S = S {
    name: "ListOffsetsRequest",
    flexible: 6,
    fields: &[
        f("replica_id", 1, 10, I32),
        f("isolation_level", 2, 10, I8),
        f("topics", 6, 10, CArr(&Struct(&LIST_OFFSETS_TOPIC))),
        f("topics", 1, 5, Arr(&Struct(&LIST_OFFSETS_TOPIC))),
        f("timeout_ms", 10, 10, I32),
    ],
};
static LIST_OFFSETS_TOPIC: S = S {
    name: "ListOffsetsTopic",
    flexible: 6,
    fields: &[
        f("name", 6, 10, CStr),
        f("name", 1, 5, Str),
        f("partitions", 6, 10, CArr(&Struct(&LIST_OFFSETS_PARTITION))),
        f("partitions", 1, 5, Arr(&Struct(&LIST_OFFSETS_PARTITION))),
    ],
};

/// DeleteRecords (api key 21), versions 0-2.
pub(crate) static DELETE_RECORDS: Msg = Msg {
    api_key: 21,
    min: 0,
    max: 2,
    body: &DELETE_RECORDS_REQUEST,
};
static DELETE_RECORDS_PARTITION: S = S {
    name: "DeleteRecordsPartition",
    flexible: 2,
    fields: &[f("partition_index", 0, 2, I32), f("offset", 0, 2, I64)],
};
static DELETE_RECORDS_REQUEST: S = S {
    name: "DeleteRecordsRequest",
    flexible: 2,
    fields: &[
        f("topics", 2, 2, CArr(&Struct(&DELETE_RECORDS_TOPIC))),
        f("topics", 0, 1, Arr(&Struct(&DELETE_RECORDS_TOPIC))),
        f("timeout_ms", 0, 2, I32),
    ],
};
static DELETE_RECORDS_TOPIC: S = S {
    name: "DeleteRecordsTopic",
    flexible: 2,
    fields: &[
        f("name", 2, 2, CStr),
        f("name", 0, 1, Str),
        f("partitions", 2, 2, CArr(&Struct(&DELETE_RECORDS_PARTITION))),
        f("partitions", 0, 1, Arr(&Struct(&DELETE_RECORDS_PARTITION))),
    ],
};

/// OffsetForLeaderEpoch (api key 23), versions 2-4.
pub(crate) static OFFSET_FOR_LEADER_EPOCH: Msg = Msg {
    api_key: 23,
    min: 2,
    max: 4,
    body: &OFFSET_FOR_LEADER_EPOCH_REQUEST,
};
static OFFSET_FOR_LEADER_EPOCH_REQUEST: S = S {
    name: "OffsetForLeaderEpochRequest",
    flexible: 4,
    fields: &[
        f("replica_id", 3, 4, I32),
        f("topics", 4, 4, CArr(&Struct(&OFFSET_FOR_LEADER_TOPIC))),
        f("topics", 2, 3, Arr(&Struct(&OFFSET_FOR_LEADER_TOPIC))),
    ],
};
static OFFSET_FOR_LEADER_PARTITION: S = S {
    name: "OffsetForLeaderPartition",
    flexible: 4,
    fields: &[
        f("partition", 2, 4, I32),
        f("current_leader_epoch", 2, 4, I32),
        f("leader_epoch", 2, 4, I32),
    ],
};
static OFFSET_FOR_LEADER_TOPIC: S = S {
    name: "OffsetForLeaderTopic",
    flexible: 4,
    fields: &[
        f("topic", 4, 4, CStr),
        f("topic", 2, 3, Str),
        f(
            "partitions",
            4,
            4,
            CArr(&Struct(&OFFSET_FOR_LEADER_PARTITION)),
        ),
        f(
            "partitions",
            2,
            3,
            Arr(&Struct(&OFFSET_FOR_LEADER_PARTITION)),
        ),
    ],
};

/// InitProducerId (api key 22), versions 0-5.
pub(crate) static INIT_PRODUCER_ID: Msg = Msg {
    api_key: 22,
    min: 0,
    max: 5,
    body: &INIT_PRODUCER_ID_REQUEST,
};
static INIT_PRODUCER_ID_REQUEST: S = S {
    name: "InitProducerIdRequest",
    flexible: 2,
    fields: &[
        f("transactional_id", 2, 5, CStr),
        f("transactional_id", 0, 1, Str),
        f("transaction_timeout_ms", 0, 5, I32),
        f("producer_id", 3, 5, I64),
        f("producer_epoch", 3, 5, I16),
    ],
};

/// DescribeCluster (api key 60), versions 0-2.
pub(crate) static DESCRIBE_CLUSTER: Msg = Msg {
    api_key: 60,
    min: 0,
    max: 2,
    body: &DESCRIBE_CLUSTER_REQUEST,
};
static DESCRIBE_CLUSTER_REQUEST: S = S {
    name: "DescribeClusterRequest",
    flexible: 0,
    fields: &[
        f("include_cluster_authorized_operations", 0, 2, BOOL),
        f("endpoint_type", 1, 2, I8),
        f("include_fenced_brokers", 2, 2, BOOL),
    ],
};

/// UnregisterBroker (api key 64), version 0.
pub(crate) static UNREGISTER_BROKER: Msg = Msg {
    api_key: 64,
    min: 0,
    max: 0,
    body: &UNREGISTER_BROKER_REQUEST,
};
static UNREGISTER_BROKER_REQUEST: S = S {
    name: "UnregisterBrokerRequest",
    flexible: 0,
    fields: &[f("broker_id", 0, 0, I32)],
};

/// DescribeQuorum (api key 55), versions 0-2.
pub(crate) static DESCRIBE_QUORUM: Msg = Msg {
    api_key: 55,
    min: 0,
    max: 2,
    body: &DESCRIBE_QUORUM_REQUEST,
};
static DESCRIBE_QUORUM_REQUEST: S = S {
    name: "DescribeQuorumRequest",
    flexible: 0,
    fields: &[f("topics", 0, 2, CArr(&Struct(&TOPIC_DATA)))],
};
static PARTITION_DATA: S = S {
    name: "PartitionData",
    flexible: 0,
    fields: &[f("partition_index", 0, 2, I32)],
};
static TOPIC_DATA: S = S {
    name: "TopicData",
    flexible: 0,
    fields: &[
        f("topic_name", 0, 2, CStr),
        f("partitions", 0, 2, CArr(&Struct(&PARTITION_DATA))),
    ],
};

/// SaslHandshake (api key 17), versions 0-1.
pub(crate) static SASL_HANDSHAKE: Msg = Msg {
    api_key: 17,
    min: 0,
    max: 1,
    body: &SASL_HANDSHAKE_REQUEST,
};
static SASL_HANDSHAKE_REQUEST: S = S {
    name: "SaslHandshakeRequest",
    flexible: NOT_FLEXIBLE,
    fields: &[f("mechanism", 0, 1, Str)],
};

/// SaslAuthenticate (api key 36), versions 0-2.
pub(crate) static SASL_AUTHENTICATE: Msg = Msg {
    api_key: 36,
    min: 0,
    max: 2,
    body: &SASL_AUTHENTICATE_REQUEST,
};
static SASL_AUTHENTICATE_REQUEST: S = S {
    name: "SaslAuthenticateRequest",
    flexible: 2,
    fields: &[f("auth_bytes", 2, 2, CBytes), f("auth_bytes", 0, 1, Bytes)],
};
