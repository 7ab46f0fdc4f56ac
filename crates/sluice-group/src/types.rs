//! The coordinator's request and result types: plain domain values that the JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups, OffsetCommit,
//! OffsetFetch and OffsetDelete handlers translate to and from the wire. Error fields hold
//! Kafka error codes (`crate::codes`). No logic lives here.

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct JoinGroupParams {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 requests have none: pass the session timeout, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member gets MEMBER_ID_REQUIRED and must rejoin with the
    /// id it was given (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader rejoining a Stable group may be told to skip the
    /// assignment (`skip_assignment`).
    pub supports_skip_assignment: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResult {
    pub error: i16,
    /// -1 on error.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled only in the leader's response.
    pub members: Vec<JoinGroupMember>,
    pub skip_assignment: bool,
}

impl JoinGroupResult {
    pub(crate) fn error(member_id: &str, error: i16) -> Self {
        JoinGroupResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncGroupParams {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment (member id, assignment bytes); empty for followers.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncGroupResult {
    pub(crate) fn error(error: i16) -> Self {
        SyncGroupResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupMemberResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResult {
    /// Group-level error; when set, `members` is empty.
    pub error: i16,
    pub members: Vec<LeaveGroupMemberResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The metadata of the selected protocol; empty unless the group is Stable.
    pub metadata: Bytes,
    /// Empty unless the group is Stable.
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub group_id: String,
    /// NONE for an unknown group, described as Dead with no members (Kafka < 4 behaviour;
    /// DescribeGroups v6+ handlers answer GROUP_ID_NOT_FOUND when `state == "Dead"` and
    /// the group has no protocol type).
    pub error: i16,
    pub state: String,
    pub protocol_type: String,
    /// The selected protocol when Stable, else empty.
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResult {
    /// COORDINATOR_LOAD_IN_PROGRESS while any owned partition is loading.
    pub error: i16,
    pub groups: Vec<ListedGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    /// `None` (null on the wire) is stored as "".
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    pub topic: String,
    pub partition: i32,
    pub error: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub error: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResult {
    /// Group-level error (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...).
    pub error: i16,
    pub partitions: Vec<FetchedOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResult {
    /// Group-level error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, NOT_COORDINATOR, ...).
    pub error: i16,
    pub partitions: Vec<PartitionError>,
}

/// A topic as the consumer-group coordinator sees it (from the broker's metadata image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: uuid::Uuid,
    pub partitions: i32,
}

/// ConsumerGroupHeartbeat (KIP-848). `None` fields were null on the wire ("unchanged").
#[derive(Debug, Clone, Default)]
pub struct ConsumerHeartbeatParams {
    pub api_version: i16,
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// What the member owns, by topic id; `None` when unchanged since the last heartbeat.
    pub owned_topic_partitions: Option<Vec<crate::consumer_records::TopicPartitions>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerHeartbeatResult {
    pub error: i16,
    pub error_message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assigned partitions, when it must (re)learn them.
    pub assignment: Option<Vec<crate::consumer_records::TopicPartitions>>,
}

impl ConsumerHeartbeatResult {
    pub(crate) fn error(error: i16, message: Option<String>) -> Self {
        ConsumerHeartbeatResult {
            error,
            error_message: message,
            member_id: None,
            member_epoch: 0,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

/// Partitions of one topic with its name (ConsumerGroupDescribe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedTopicPartitions {
    pub topic_id: uuid::Uuid,
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: Vec<NamedTopicPartitions>,
    pub target_assignment: Vec<NamedTopicPartitions>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub error: i16,
    pub error_message: Option<String>,
    pub state: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<ConsumerMemberDescription>,
}
