//! Group coordinator settings, named after Kafka's broker properties with Kafka's defaults.
//! Parsing and range checks of the properties belong to sluice-config; this is the plain
//! value the coordinator is built with.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions` (50): the N of `partition_for(group, N)`.
    pub offsets_topic_num_partitions: i32,
    /// `group.initial.rebalance.delay.ms` (3000).
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `group.max.size` (i32::MAX).
    pub max_size: usize,
    /// `offsets.retention.minutes` (7 days), in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes` (4096).
    pub offset_metadata_max_bytes: usize,
    /// `offsets.commit.timeout.ms` (5000): bound on one `GroupLog::append`.
    pub commit_timeout: Duration,
    /// Appends queued per `__consumer_offsets` partition before commits are refused with
    /// COORDINATOR_NOT_AVAILABLE (bounded memory; clients retry).
    pub max_queued_appends: usize,
    /// `group.consumer.heartbeat.interval.ms` (5000).
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.session.timeout.ms` (45000).
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.max.size` (i32::MAX).
    pub consumer_max_size: usize,
    /// `group.consumer.assignors` ("uniform,range"); the first is the default.
    pub consumer_assignors: Vec<String>,
    /// `group.coordinator.rebalance.protocols` contains "consumer".
    pub consumer_protocol_enabled: bool,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            offsets_topic_num_partitions: 50,
            initial_rebalance_delay: Duration::from_millis(3000),
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
            commit_timeout: Duration::from_millis(5000),
            max_queued_appends: 1024,
            consumer_heartbeat_interval_ms: 5000,
            consumer_session_timeout_ms: 45000,
            consumer_max_size: i32::MAX as usize,
            consumer_assignors: vec!["uniform".to_string(), "range".to_string()],
            consumer_protocol_enabled: true,
        }
    }
}

/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`: how long a brand-new member may wait
/// in JoinGroup before it is dropped (it has no member id to heartbeat with).
pub const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_millis(5 * 60 * 1000);
