//! The API versions this broker implements end to end, and nothing more: ApiVersions
//! advertises exactly this table, and the dispatcher refuses anything outside it with
//! UNSUPPORTED_VERSION before decoding. Ranges follow what a Kafka 4.0 broker advertises for
//! the same APIs, so clients that infer "which Kafka is this" from them guess right.

use kafka_protocol::messages::ApiKey;

/// (api, min version, max version) for every implemented API.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::UnregisterBroker, 0, 0),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The supported range for `api_key`, if the broker implements it.
pub fn supported_range(api_key: i16) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k as i16 == api_key)
        .map(|(_, min, max)| (*min, *max))
}

/// True when `api_key` at `version` is implemented.
pub fn is_supported(api_key: i16, version: i16) -> bool {
    matches!(supported_range(api_key), Some((min, max)) if version >= min && version <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_what_kafka_protocol_can_decode() {
        for (key, min, max) in SUPPORTED {
            let valid = key.valid_versions();
            assert!(*min >= valid.min && *max <= valid.max, "{key:?}");
            assert!(is_supported(*key as i16, *max));
            assert!(!is_supported(*key as i16, max + 1));
        }
        assert!(supported_range(9999).is_none());
    }
}
