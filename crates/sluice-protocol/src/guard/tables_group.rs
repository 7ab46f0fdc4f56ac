//! Request layouts for the consumer-group APIs (coordinator lookup, classic group protocol,
//! offsets, KIP-848 consumer groups).
//!
//! Pure data for the request guard's walker (see `schema.rs` for the field DSL). Layouts are
//! Kafka 4.1's message schemas exactly as kafka-protocol 0.18 decodes them: one row per field
//! and wire form, with the inclusive version range in which that form is read. Must never
//! contain logic; a wrong row either rejects valid clients or lets the crate see an unchecked
//! length, and `tests_roundtrip.rs` checks every row against the crate.

use super::schema::{f, Msg, Ty::*, BOOL, I32, I64, I8, NOT_FLEXIBLE, S, UUID};

/// FindCoordinator (api key 10), versions 0-6.
pub(crate) static FIND_COORDINATOR: Msg = Msg {
    api_key: 10,
    min: 0,
    max: 6,
    body: &FIND_COORDINATOR_REQUEST,
};
static FIND_COORDINATOR_REQUEST: S = S {
    name: "FindCoordinatorRequest",
    flexible: 3,
    fields: &[
        f("key", 3, 3, CStr),
        f("key", 0, 2, Str),
        f("key_type", 1, 6, I8),
        f("coordinator_keys", 4, 6, CArr(&CStr)),
    ],
};

/// JoinGroup (api key 11), versions 0-9.
pub(crate) static JOIN_GROUP: Msg = Msg {
    api_key: 11,
    min: 0,
    max: 9,
    body: &JOIN_GROUP_REQUEST,
};
static JOIN_GROUP_REQUEST: S = S {
    name: "JoinGroupRequest",
    flexible: 6,
    fields: &[
        f("group_id", 6, 9, CStr),
        f("group_id", 0, 5, Str),
        f("session_timeout_ms", 0, 9, I32),
        f("rebalance_timeout_ms", 1, 9, I32),
        f("member_id", 6, 9, CStr),
        f("member_id", 0, 5, Str),
        f("group_instance_id", 6, 9, CStr),
        f("group_instance_id", 5, 5, Str),
        f("protocol_type", 6, 9, CStr),
        f("protocol_type", 0, 5, Str),
        f(
            "protocols",
            6,
            9,
            CArr(&Struct(&JOIN_GROUP_REQUEST_PROTOCOL)),
        ),
        f(
            "protocols",
            0,
            5,
            Arr(&Struct(&JOIN_GROUP_REQUEST_PROTOCOL)),
        ),
        f("reason", 8, 9, CStr),
    ],
};
static JOIN_GROUP_REQUEST_PROTOCOL: S = S {
    name: "JoinGroupRequestProtocol",
    flexible: 6,
    fields: &[
        f("name", 6, 9, CStr),
        f("name", 0, 5, Str),
        f("metadata", 6, 9, CBytes),
        f("metadata", 0, 5, Bytes),
    ],
};

/// Heartbeat (api key 12), versions 0-4.
pub(crate) static HEARTBEAT: Msg = Msg {
    api_key: 12,
    min: 0,
    max: 4,
    body: &HEARTBEAT_REQUEST,
};
static HEARTBEAT_REQUEST: S = S {
    name: "HeartbeatRequest",
    flexible: 4,
    fields: &[
        f("group_id", 4, 4, CStr),
        f("group_id", 0, 3, Str),
        f("generation_id", 0, 4, I32),
        f("member_id", 4, 4, CStr),
        f("member_id", 0, 3, Str),
        f("group_instance_id", 4, 4, CStr),
        f("group_instance_id", 3, 3, Str),
    ],
};

/// LeaveGroup (api key 13), versions 0-5.
pub(crate) static LEAVE_GROUP: Msg = Msg {
    api_key: 13,
    min: 0,
    max: 5,
    body: &LEAVE_GROUP_REQUEST,
};
static LEAVE_GROUP_REQUEST: S = S {
    name: "LeaveGroupRequest",
    flexible: 4,
    fields: &[
        f("group_id", 4, 5, CStr),
        f("group_id", 0, 3, Str),
        f("member_id", 0, 2, Str),
        f("members", 4, 5, CArr(&Struct(&MEMBER_IDENTITY))),
        f("members", 3, 3, Arr(&Struct(&MEMBER_IDENTITY))),
    ],
};
static MEMBER_IDENTITY: S = S {
    name: "MemberIdentity",
    flexible: 4,
    fields: &[
        f("member_id", 4, 5, CStr),
        f("member_id", 3, 3, Str),
        f("group_instance_id", 4, 5, CStr),
        f("group_instance_id", 3, 3, Str),
        f("reason", 5, 5, CStr),
    ],
};

/// SyncGroup (api key 14), versions 0-5.
pub(crate) static SYNC_GROUP: Msg = Msg {
    api_key: 14,
    min: 0,
    max: 5,
    body: &SYNC_GROUP_REQUEST,
};
static SYNC_GROUP_REQUEST: S = S {
    name: "SyncGroupRequest",
    flexible: 4,
    fields: &[
        f("group_id", 4, 5, CStr),
        f("group_id", 0, 3, Str),
        f("generation_id", 0, 5, I32),
        f("member_id", 4, 5, CStr),
        f("member_id", 0, 3, Str),
        f("group_instance_id", 4, 5, CStr),
        f("group_instance_id", 3, 3, Str),
        f("protocol_type", 5, 5, CStr),
        f("protocol_name", 5, 5, CStr),
        f(
            "assignments",
            4,
            5,
            CArr(&Struct(&SYNC_GROUP_REQUEST_ASSIGNMENT)),
        ),
        f(
            "assignments",
            0,
            3,
            Arr(&Struct(&SYNC_GROUP_REQUEST_ASSIGNMENT)),
        ),
    ],
};
static SYNC_GROUP_REQUEST_ASSIGNMENT: S = S {
    name: "SyncGroupRequestAssignment",
    flexible: 4,
    fields: &[
        f("member_id", 4, 5, CStr),
        f("member_id", 0, 3, Str),
        f("assignment", 4, 5, CBytes),
        f("assignment", 0, 3, Bytes),
    ],
};

/// DescribeGroups (api key 15), versions 0-6.
pub(crate) static DESCRIBE_GROUPS: Msg = Msg {
    api_key: 15,
    min: 0,
    max: 6,
    body: &DESCRIBE_GROUPS_REQUEST,
};
static DESCRIBE_GROUPS_REQUEST: S = S {
    name: "DescribeGroupsRequest",
    flexible: 5,
    fields: &[
        f("groups", 5, 6, CArr(&CStr)),
        f("groups", 0, 4, Arr(&Str)),
        f("include_authorized_operations", 3, 6, BOOL),
    ],
};

/// ListGroups (api key 16), versions 0-5.
pub(crate) static LIST_GROUPS: Msg = Msg {
    api_key: 16,
    min: 0,
    max: 5,
    body: &LIST_GROUPS_REQUEST,
};
static LIST_GROUPS_REQUEST: S = S {
    name: "ListGroupsRequest",
    flexible: 3,
    fields: &[
        f("states_filter", 4, 5, CArr(&CStr)),
        f("types_filter", 5, 5, CArr(&CStr)),
    ],
};

/// OffsetCommit (api key 8), versions 2-9.
pub(crate) static OFFSET_COMMIT: Msg = Msg {
    api_key: 8,
    min: 2,
    max: 9,
    body: &OFFSET_COMMIT_REQUEST,
};
static OFFSET_COMMIT_REQUEST: S = S {
    name: "OffsetCommitRequest",
    flexible: 8,
    fields: &[
        f("group_id", 8, 9, CStr),
        f("group_id", 2, 7, Str),
        f("generation_id_or_member_epoch", 2, 9, I32),
        f("member_id", 8, 9, CStr),
        f("member_id", 2, 7, Str),
        f("group_instance_id", 8, 9, CStr),
        f("group_instance_id", 7, 7, Str),
        f("retention_time_ms", 2, 4, I64),
        f("topics", 8, 9, CArr(&Struct(&OFFSET_COMMIT_REQUEST_TOPIC))),
        f("topics", 2, 7, Arr(&Struct(&OFFSET_COMMIT_REQUEST_TOPIC))),
    ],
};
static OFFSET_COMMIT_REQUEST_PARTITION: S = S {
    name: "OffsetCommitRequestPartition",
    flexible: 8,
    fields: &[
        f("partition_index", 2, 9, I32),
        f("committed_offset", 2, 9, I64),
        f("committed_leader_epoch", 6, 9, I32),
        f("committed_metadata", 8, 9, CStr),
        f("committed_metadata", 2, 7, Str),
    ],
};
static OFFSET_COMMIT_REQUEST_TOPIC: S = S {
    name: "OffsetCommitRequestTopic",
    flexible: 8,
    fields: &[
        f("name", 8, 9, CStr),
        f("name", 2, 7, Str),
        f(
            "partitions",
            8,
            9,
            CArr(&Struct(&OFFSET_COMMIT_REQUEST_PARTITION)),
        ),
        f(
            "partitions",
            2,
            7,
            Arr(&Struct(&OFFSET_COMMIT_REQUEST_PARTITION)),
        ),
    ],
};

/// OffsetFetch (api key 9), versions 1-9.
pub(crate) static OFFSET_FETCH: Msg = Msg {
    api_key: 9,
    min: 1,
    max: 9,
    body: &OFFSET_FETCH_REQUEST,
};
static OFFSET_FETCH_REQUEST: S = S {
    name: "OffsetFetchRequest",
    flexible: 6,
    fields: &[
        f("group_id", 6, 7, CStr),
        f("group_id", 1, 5, Str),
        f("topics", 6, 7, CArr(&Struct(&OFFSET_FETCH_REQUEST_TOPIC))),
        f("topics", 1, 5, Arr(&Struct(&OFFSET_FETCH_REQUEST_TOPIC))),
        f("groups", 8, 9, CArr(&Struct(&OFFSET_FETCH_REQUEST_GROUP))),
        f("require_stable", 7, 9, BOOL),
    ],
};
static OFFSET_FETCH_REQUEST_GROUP: S = S {
    name: "OffsetFetchRequestGroup",
    flexible: 6,
    fields: &[
        f("group_id", 8, 9, CStr),
        f("member_id", 9, 9, CStr),
        f("member_epoch", 9, 9, I32),
        f("topics", 8, 9, CArr(&Struct(&OFFSET_FETCH_REQUEST_TOPICS))),
    ],
};
static OFFSET_FETCH_REQUEST_TOPIC: S = S {
    name: "OffsetFetchRequestTopic",
    flexible: 6,
    fields: &[
        f("name", 6, 7, CStr),
        f("name", 1, 5, Str),
        f("partition_indexes", 6, 7, CArr(&I32)),
        f("partition_indexes", 1, 5, Arr(&I32)),
    ],
};
static OFFSET_FETCH_REQUEST_TOPICS: S = S {
    name: "OffsetFetchRequestTopics",
    flexible: 6,
    fields: &[
        f("name", 8, 9, CStr),
        f("partition_indexes", 8, 9, CArr(&I32)),
    ],
};

/// DeleteGroups (api key 42), versions 0-2.
pub(crate) static DELETE_GROUPS: Msg = Msg {
    api_key: 42,
    min: 0,
    max: 2,
    body: &DELETE_GROUPS_REQUEST,
};
static DELETE_GROUPS_REQUEST: S = S {
    name: "DeleteGroupsRequest",
    flexible: 2,
    fields: &[
        f("groups_names", 2, 2, CArr(&CStr)),
        f("groups_names", 0, 1, Arr(&Str)),
    ],
};

/// OffsetDelete (api key 47), versions 0-0.
pub(crate) static OFFSET_DELETE: Msg = Msg {
    api_key: 47,
    min: 0,
    max: 0,
    body: &OFFSET_DELETE_REQUEST,
};
static OFFSET_DELETE_REQUEST: S = S {
    name: "OffsetDeleteRequest",
    flexible: NOT_FLEXIBLE,
    fields: &[
        f("group_id", 0, 0, Str),
        f("topics", 0, 0, Arr(&Struct(&OFFSET_DELETE_REQUEST_TOPIC))),
    ],
};
static OFFSET_DELETE_REQUEST_PARTITION: S = S {
    name: "OffsetDeleteRequestPartition",
    flexible: NOT_FLEXIBLE,
    fields: &[f("partition_index", 0, 0, I32)],
};
static OFFSET_DELETE_REQUEST_TOPIC: S = S {
    name: "OffsetDeleteRequestTopic",
    flexible: NOT_FLEXIBLE,
    fields: &[
        f("name", 0, 0, Str),
        f(
            "partitions",
            0,
            0,
            Arr(&Struct(&OFFSET_DELETE_REQUEST_PARTITION)),
        ),
    ],
};

/// ConsumerGroupHeartbeat (api key 68), versions 0-1.
pub(crate) static CONSUMER_GROUP_HEARTBEAT: Msg = Msg {
    api_key: 68,
    min: 0,
    max: 1,
    body: &CONSUMER_GROUP_HEARTBEAT_REQUEST,
};
static CONSUMER_GROUP_HEARTBEAT_REQUEST: S = S {
    name: "ConsumerGroupHeartbeatRequest",
    flexible: 0,
    fields: &[
        f("group_id", 0, 1, CStr),
        f("member_id", 0, 1, CStr),
        f("member_epoch", 0, 1, I32),
        f("instance_id", 0, 1, CStr),
        f("rack_id", 0, 1, CStr),
        f("rebalance_timeout_ms", 0, 1, I32),
        f("subscribed_topic_names", 0, 1, CArr(&CStr)),
        f("subscribed_topic_regex", 1, 1, CStr),
        f("server_assignor", 0, 1, CStr),
        f(
            "topic_partitions",
            0,
            1,
            CArr(&Struct(&CONSUMER_GROUP_HEARTBEAT_TOPIC_PARTITIONS)),
        ),
    ],
};
static CONSUMER_GROUP_HEARTBEAT_TOPIC_PARTITIONS: S = S {
    name: "TopicPartitions",
    flexible: 0,
    fields: &[f("topic_id", 0, 1, UUID), f("partitions", 0, 1, CArr(&I32))],
};

/// ConsumerGroupDescribe (api key 69), versions 0-1.
pub(crate) static CONSUMER_GROUP_DESCRIBE: Msg = Msg {
    api_key: 69,
    min: 0,
    max: 1,
    body: &CONSUMER_GROUP_DESCRIBE_REQUEST,
};
static CONSUMER_GROUP_DESCRIBE_REQUEST: S = S {
    name: "ConsumerGroupDescribeRequest",
    flexible: 0,
    fields: &[
        f("group_ids", 0, 1, CArr(&CStr)),
        f("include_authorized_operations", 0, 1, BOOL),
    ],
};
