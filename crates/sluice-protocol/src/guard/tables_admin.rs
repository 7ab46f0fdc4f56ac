//! Request layouts for the admin APIs (topics, partitions, configs, leader election,
//! reassignments, log dirs, producers, ACLs).
//!
//! Pure data for the request guard's walker (see `schema.rs` for the field DSL). Layouts are
//! Kafka 4.1's message schemas exactly as kafka-protocol 0.18 decodes them: one row per field
//! and wire form, with the inclusive version range in which that form is read. Must never
//! contain logic; a wrong row either rejects valid clients or lets the crate see an unchecked
//! length, and `tests_roundtrip.rs` checks every row against the crate.

use super::schema::{f, Msg, Ty::*, BOOL, I16, I32, I8, S, UUID};

/// CreateTopics (api key 19), versions 2-7.
pub(crate) static CREATE_TOPICS: Msg = Msg {
    api_key: 19,
    min: 2,
    max: 7,
    body: &CREATE_TOPICS_REQUEST,
};
static CREATABLE_REPLICA_ASSIGNMENT: S = S {
    name: "CreatableReplicaAssignment",
    flexible: 5,
    fields: &[
        f("partition_index", 2, 7, I32),
        f("broker_ids", 5, 7, CArr(&I32)),
        f("broker_ids", 2, 4, Arr(&I32)),
    ],
};
static CREATABLE_TOPIC: S = S {
    name: "CreatableTopic",
    flexible: 5,
    fields: &[
        f("name", 5, 7, CStr),
        f("name", 2, 4, Str),
        f("num_partitions", 2, 7, I32),
        f("replication_factor", 2, 7, I16),
        f(
            "assignments",
            5,
            7,
            CArr(&Struct(&CREATABLE_REPLICA_ASSIGNMENT)),
        ),
        f(
            "assignments",
            2,
            4,
            Arr(&Struct(&CREATABLE_REPLICA_ASSIGNMENT)),
        ),
        f("configs", 5, 7, CArr(&Struct(&CREATABLE_TOPIC_CONFIG))),
        f("configs", 2, 4, Arr(&Struct(&CREATABLE_TOPIC_CONFIG))),
    ],
};
static CREATABLE_TOPIC_CONFIG: S = S {
    name: "CreatableTopicConfig",
    flexible: 5,
    fields: &[
        f("name", 5, 7, CStr),
        f("name", 2, 4, Str),
        f("value", 5, 7, CStr),
        f("value", 2, 4, Str),
    ],
};
static CREATE_TOPICS_REQUEST: S = S {
    name: "CreateTopicsRequest",
    flexible: 5,
    fields: &[
        f("topics", 5, 7, CArr(&Struct(&CREATABLE_TOPIC))),
        f("topics", 2, 4, Arr(&Struct(&CREATABLE_TOPIC))),
        f("timeout_ms", 2, 7, I32),
        f("validate_only", 2, 7, BOOL),
    ],
};

/// DeleteTopics (api key 20), versions 1-6.
pub(crate) static DELETE_TOPICS: Msg = Msg {
    api_key: 20,
    min: 1,
    max: 6,
    body: &DELETE_TOPICS_REQUEST,
};
static DELETE_TOPIC_STATE: S = S {
    name: "DeleteTopicState",
    flexible: 4,
    fields: &[f("name", 6, 6, CStr), f("topic_id", 6, 6, UUID)],
};
static DELETE_TOPICS_REQUEST: S = S {
    name: "DeleteTopicsRequest",
    flexible: 4,
    fields: &[
        f("topics", 6, 6, CArr(&Struct(&DELETE_TOPIC_STATE))),
        f("topic_names", 4, 5, CArr(&CStr)),
        f("topic_names", 1, 3, Arr(&Str)),
        f("timeout_ms", 1, 6, I32),
    ],
};

/// CreatePartitions (api key 37), versions 0-3.
pub(crate) static CREATE_PARTITIONS: Msg = Msg {
    api_key: 37,
    min: 0,
    max: 3,
    body: &CREATE_PARTITIONS_REQUEST,
};
static CREATE_PARTITIONS_ASSIGNMENT: S = S {
    name: "CreatePartitionsAssignment",
    flexible: 2,
    fields: &[
        f("broker_ids", 2, 3, CArr(&I32)),
        f("broker_ids", 0, 1, Arr(&I32)),
    ],
};
static CREATE_PARTITIONS_REQUEST: S = S {
    name: "CreatePartitionsRequest",
    flexible: 2,
    fields: &[
        f("topics", 2, 3, CArr(&Struct(&CREATE_PARTITIONS_TOPIC))),
        f("topics", 0, 1, Arr(&Struct(&CREATE_PARTITIONS_TOPIC))),
        f("timeout_ms", 0, 3, I32),
        f("validate_only", 0, 3, BOOL),
    ],
};
static CREATE_PARTITIONS_TOPIC: S = S {
    name: "CreatePartitionsTopic",
    flexible: 2,
    fields: &[
        f("name", 2, 3, CStr),
        f("name", 0, 1, Str),
        f("count", 0, 3, I32),
        f(
            "assignments",
            2,
            3,
            CArr(&Struct(&CREATE_PARTITIONS_ASSIGNMENT)),
        ),
        f(
            "assignments",
            0,
            1,
            Arr(&Struct(&CREATE_PARTITIONS_ASSIGNMENT)),
        ),
    ],
};

/// DescribeConfigs (api key 32), versions 1-4.
pub(crate) static DESCRIBE_CONFIGS: Msg = Msg {
    api_key: 32,
    min: 1,
    max: 4,
    body: &DESCRIBE_CONFIGS_REQUEST,
};
static DESCRIBE_CONFIGS_REQUEST: S = S {
    name: "DescribeConfigsRequest",
    flexible: 4,
    fields: &[
        f("resources", 4, 4, CArr(&Struct(&DESCRIBE_CONFIGS_RESOURCE))),
        f("resources", 1, 3, Arr(&Struct(&DESCRIBE_CONFIGS_RESOURCE))),
        f("include_synonyms", 1, 4, BOOL),
        f("include_documentation", 3, 4, BOOL),
    ],
};
static DESCRIBE_CONFIGS_RESOURCE: S = S {
    name: "DescribeConfigsResource",
    flexible: 4,
    fields: &[
        f("resource_type", 1, 4, I8),
        f("resource_name", 4, 4, CStr),
        f("resource_name", 1, 3, Str),
        f("configuration_keys", 4, 4, CArr(&CStr)),
        f("configuration_keys", 1, 3, Arr(&Str)),
    ],
};

/// AlterConfigs (api key 33), versions 0-2.
pub(crate) static ALTER_CONFIGS: Msg = Msg {
    api_key: 33,
    min: 0,
    max: 2,
    body: &ALTER_CONFIGS_REQUEST,
};
static ALTER_CONFIGS_REQUEST: S = S {
    name: "AlterConfigsRequest",
    flexible: 2,
    fields: &[
        f(
            "resources",
            2,
            2,
            CArr(&Struct(&ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE)),
        ),
        f(
            "resources",
            0,
            1,
            Arr(&Struct(&ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE)),
        ),
        f("validate_only", 0, 2, BOOL),
    ],
};
static ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE: S = S {
    name: "AlterConfigsResource",
    flexible: 2,
    fields: &[
        f("resource_type", 0, 2, I8),
        f("resource_name", 2, 2, CStr),
        f("resource_name", 0, 1, Str),
        f(
            "configs",
            2,
            2,
            CArr(&Struct(&ALTER_CONFIGS_ALTERABLE_CONFIG)),
        ),
        f(
            "configs",
            0,
            1,
            Arr(&Struct(&ALTER_CONFIGS_ALTERABLE_CONFIG)),
        ),
    ],
};
static ALTER_CONFIGS_ALTERABLE_CONFIG: S = S {
    name: "AlterableConfig",
    flexible: 2,
    fields: &[
        f("name", 2, 2, CStr),
        f("name", 0, 1, Str),
        f("value", 2, 2, CStr),
        f("value", 0, 1, Str),
    ],
};

/// IncrementalAlterConfigs (api key 44), versions 0-1.
pub(crate) static INCREMENTAL_ALTER_CONFIGS: Msg = Msg {
    api_key: 44,
    min: 0,
    max: 1,
    body: &INCREMENTAL_ALTER_CONFIGS_REQUEST,
};
static INCREMENTAL_ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE: S = S {
    name: "AlterConfigsResource",
    flexible: 1,
    fields: &[
        f("resource_type", 0, 1, I8),
        f("resource_name", 1, 1, CStr),
        f("resource_name", 0, 0, Str),
        f(
            "configs",
            1,
            1,
            CArr(&Struct(&INCREMENTAL_ALTER_CONFIGS_ALTERABLE_CONFIG)),
        ),
        f(
            "configs",
            0,
            0,
            Arr(&Struct(&INCREMENTAL_ALTER_CONFIGS_ALTERABLE_CONFIG)),
        ),
    ],
};
static INCREMENTAL_ALTER_CONFIGS_ALTERABLE_CONFIG: S = S {
    name: "AlterableConfig",
    flexible: 1,
    fields: &[
        f("name", 1, 1, CStr),
        f("name", 0, 0, Str),
        f("config_operation", 0, 1, I8),
        f("value", 1, 1, CStr),
        f("value", 0, 0, Str),
    ],
};
static INCREMENTAL_ALTER_CONFIGS_REQUEST: S = S {
    name: "IncrementalAlterConfigsRequest",
    flexible: 1,
    fields: &[
        f(
            "resources",
            1,
            1,
            CArr(&Struct(&INCREMENTAL_ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE)),
        ),
        f(
            "resources",
            0,
            0,
            Arr(&Struct(&INCREMENTAL_ALTER_CONFIGS_ALTER_CONFIGS_RESOURCE)),
        ),
        f("validate_only", 0, 1, BOOL),
    ],
};

/// ElectLeaders (api key 43), versions 0-2.
pub(crate) static ELECT_LEADERS: Msg = Msg {
    api_key: 43,
    min: 0,
    max: 2,
    body: &ELECT_LEADERS_REQUEST,
};
static ELECT_LEADERS_REQUEST: S = S {
    name: "ElectLeadersRequest",
    flexible: 2,
    fields: &[
        f("election_type", 1, 2, I8),
        f(
            "topic_partitions",
            2,
            2,
            CArr(&Struct(&ELECT_LEADERS_TOPIC_PARTITIONS)),
        ),
        f(
            "topic_partitions",
            0,
            1,
            Arr(&Struct(&ELECT_LEADERS_TOPIC_PARTITIONS)),
        ),
        f("timeout_ms", 0, 2, I32),
    ],
};
static ELECT_LEADERS_TOPIC_PARTITIONS: S = S {
    name: "TopicPartitions",
    flexible: 2,
    fields: &[
        f("topic", 2, 2, CStr),
        f("topic", 0, 1, Str),
        f("partitions", 2, 2, CArr(&I32)),
        f("partitions", 0, 1, Arr(&I32)),
    ],
};

/// AlterPartitionReassignments (api key 45), versions 0-1.
pub(crate) static ALTER_PARTITION_REASSIGNMENTS: Msg = Msg {
    api_key: 45,
    min: 0,
    max: 1,
    body: &ALTER_PARTITION_REASSIGNMENTS_REQUEST,
};
static ALTER_PARTITION_REASSIGNMENTS_REQUEST: S = S {
    name: "AlterPartitionReassignmentsRequest",
    flexible: 0,
    fields: &[
        f("timeout_ms", 0, 1, I32),
        f("allow_replication_factor_change", 1, 1, BOOL),
        f("topics", 0, 1, CArr(&Struct(&REASSIGNABLE_TOPIC))),
    ],
};
static REASSIGNABLE_PARTITION: S = S {
    name: "ReassignablePartition",
    flexible: 0,
    fields: &[
        f("partition_index", 0, 1, I32),
        f("replicas", 0, 1, CArr(&I32)),
    ],
};
static REASSIGNABLE_TOPIC: S = S {
    name: "ReassignableTopic",
    flexible: 0,
    fields: &[
        f("name", 0, 1, CStr),
        f("partitions", 0, 1, CArr(&Struct(&REASSIGNABLE_PARTITION))),
    ],
};

/// ListPartitionReassignments (api key 46), versions 0-0.
pub(crate) static LIST_PARTITION_REASSIGNMENTS: Msg = Msg {
    api_key: 46,
    min: 0,
    max: 0,
    body: &LIST_PARTITION_REASSIGNMENTS_REQUEST,
};
static LIST_PARTITION_REASSIGNMENTS_REQUEST: S = S {
    name: "ListPartitionReassignmentsRequest",
    flexible: 0,
    fields: &[
        f("timeout_ms", 0, 0, I32),
        f(
            "topics",
            0,
            0,
            CArr(&Struct(&LIST_PARTITION_REASSIGNMENTS_TOPICS)),
        ),
    ],
};
static LIST_PARTITION_REASSIGNMENTS_TOPICS: S = S {
    name: "ListPartitionReassignmentsTopics",
    flexible: 0,
    fields: &[
        f("name", 0, 0, CStr),
        f("partition_indexes", 0, 0, CArr(&I32)),
    ],
};

/// DescribeLogDirs (api key 35), versions 1-4.
pub(crate) static DESCRIBE_LOG_DIRS: Msg = Msg {
    api_key: 35,
    min: 1,
    max: 4,
    body: &DESCRIBE_LOG_DIRS_REQUEST,
};
static DESCRIBABLE_LOG_DIR_TOPIC: S = S {
    name: "DescribableLogDirTopic",
    flexible: 2,
    fields: &[
        f("topic", 2, 4, CStr),
        f("topic", 1, 1, Str),
        f("partitions", 2, 4, CArr(&I32)),
        f("partitions", 1, 1, Arr(&I32)),
    ],
};
static DESCRIBE_LOG_DIRS_REQUEST: S = S {
    name: "DescribeLogDirsRequest",
    flexible: 2,
    fields: &[
        f("topics", 2, 4, CArr(&Struct(&DESCRIBABLE_LOG_DIR_TOPIC))),
        f("topics", 1, 1, Arr(&Struct(&DESCRIBABLE_LOG_DIR_TOPIC))),
    ],
};

/// DescribeProducers (api key 61), versions 0-0.
pub(crate) static DESCRIBE_PRODUCERS: Msg = Msg {
    api_key: 61,
    min: 0,
    max: 0,
    body: &DESCRIBE_PRODUCERS_REQUEST,
};
static DESCRIBE_PRODUCERS_REQUEST: S = S {
    name: "DescribeProducersRequest",
    flexible: 0,
    fields: &[f("topics", 0, 0, CArr(&Struct(&TOPIC_REQUEST)))],
};
static TOPIC_REQUEST: S = S {
    name: "TopicRequest",
    flexible: 0,
    fields: &[
        f("name", 0, 0, CStr),
        f("partition_indexes", 0, 0, CArr(&I32)),
    ],
};

/// DescribeAcls (api key 29), versions 1-3.
pub(crate) static DESCRIBE_ACLS: Msg = Msg {
    api_key: 29,
    min: 1,
    max: 3,
    body: &DESCRIBE_ACLS_REQUEST,
};
static DESCRIBE_ACLS_REQUEST: S = S {
    name: "DescribeAclsRequest",
    flexible: 2,
    fields: &[
        f("resource_type_filter", 1, 3, I8),
        f("resource_name_filter", 2, 3, CStr),
        f("resource_name_filter", 1, 1, Str),
        f("pattern_type_filter", 1, 3, I8),
        f("principal_filter", 2, 3, CStr),
        f("principal_filter", 1, 1, Str),
        f("host_filter", 2, 3, CStr),
        f("host_filter", 1, 1, Str),
        f("operation", 1, 3, I8),
        f("permission_type", 1, 3, I8),
    ],
};

/// CreateAcls (api key 30), versions 1-3.
pub(crate) static CREATE_ACLS: Msg = Msg {
    api_key: 30,
    min: 1,
    max: 3,
    body: &CREATE_ACLS_REQUEST,
};
static ACL_CREATION: S = S {
    name: "AclCreation",
    flexible: 2,
    fields: &[
        f("resource_type", 1, 3, I8),
        f("resource_name", 2, 3, CStr),
        f("resource_name", 1, 1, Str),
        f("resource_pattern_type", 1, 3, I8),
        f("principal", 2, 3, CStr),
        f("principal", 1, 1, Str),
        f("host", 2, 3, CStr),
        f("host", 1, 1, Str),
        f("operation", 1, 3, I8),
        f("permission_type", 1, 3, I8),
    ],
};
static CREATE_ACLS_REQUEST: S = S {
    name: "CreateAclsRequest",
    flexible: 2,
    fields: &[
        f("creations", 2, 3, CArr(&Struct(&ACL_CREATION))),
        f("creations", 1, 1, Arr(&Struct(&ACL_CREATION))),
    ],
};

/// DeleteAcls (api key 31), versions 1-3.
pub(crate) static DELETE_ACLS: Msg = Msg {
    api_key: 31,
    min: 1,
    max: 3,
    body: &DELETE_ACLS_REQUEST,
};
static DELETE_ACLS_FILTER: S = S {
    name: "DeleteAclsFilter",
    flexible: 2,
    fields: &[
        f("resource_type_filter", 1, 3, I8),
        f("resource_name_filter", 2, 3, CStr),
        f("resource_name_filter", 1, 1, Str),
        f("pattern_type_filter", 1, 3, I8),
        f("principal_filter", 2, 3, CStr),
        f("principal_filter", 1, 1, Str),
        f("host_filter", 2, 3, CStr),
        f("host_filter", 1, 1, Str),
        f("operation", 1, 3, I8),
        f("permission_type", 1, 3, I8),
    ],
};
static DELETE_ACLS_REQUEST: S = S {
    name: "DeleteAclsRequest",
    flexible: 2,
    fields: &[
        f("filters", 2, 3, CArr(&Struct(&DELETE_ACLS_FILTER))),
        f("filters", 1, 1, Arr(&Struct(&DELETE_ACLS_FILTER))),
    ],
};
