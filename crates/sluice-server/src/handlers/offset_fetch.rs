//! OffsetFetch: v1–7 fetch one group (v2+: a null topic list means every committed
//! partition, and a top-level error code exists), v8+ a batch of groups. Unknown groups and
//! uncommitted partitions answer offset -1 with no error (clients treat GROUP_ID_NOT_FOUND
//! as fatal). v9: members of KIP-848 consumer groups are checked (UNKNOWN_MEMBER_ID,
//! STALE_MEMBER_EPOCH) before their offsets are returned. v1 has no group-level error: it is reported on every requested partition.

use sluice_group::OffsetFetchResult;
use sluice_protocol::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use sluice_protocol::kafka_protocol::messages::{
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let v = ctx.api_version;
    let require_stable = v >= 7 && request.require_stable;
    if v >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            let wanted = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .map(|p| (t.name.0.to_string(), *p))
                    })
                    .collect::<Vec<_>>()
            });
            // v9: members of consumer-protocol groups fetch with their member epoch.
            let member_error = if v >= 9 {
                ctx.broker.groups.validate_offset_fetch(
                    g.group_id.0.as_str(),
                    g.member_id.as_ref().map(|m| m.as_str()),
                    g.member_epoch,
                )
            } else {
                0
            };
            if member_error != 0 {
                groups.push(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(member_error),
                );
                continue;
            }
            let r = ctx
                .broker
                .groups
                .fetch_offsets(g.group_id.0.as_str(), wanted, require_stable)
                .await;
            let topics = group_by_topic(&r)
                .into_iter()
                .map(|(name, parts)| {
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(str_bytes(name)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|p| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p.partition)
                                        .with_committed_offset(p.offset)
                                        .with_committed_leader_epoch(p.leader_epoch)
                                        .with_metadata(Some(str_bytes(p.metadata.clone())))
                                        .with_error_code(p.error)
                                })
                                .collect(),
                        )
                })
                .collect();
            groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
                    .with_error_code(r.error),
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let requested: Option<Vec<(String, i32)>> = match &request.topics {
        // v1 has no null topic list.
        None if v < 2 => Some(Vec::new()),
        None => None,
        Some(ts) => Some(
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect(),
        ),
    };
    let mut r = ctx
        .broker
        .groups
        .fetch_offsets(
            request.group_id.0.as_str(),
            requested.clone(),
            require_stable,
        )
        .await;
    if r.error != 0 && v < 2 {
        // No group-level error field: report it on each requested partition.
        r.partitions = requested
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partition)| sluice_group::FetchedOffset {
                topic,
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: r.error,
            })
            .collect();
    }
    let topics = group_by_topic(&r)
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(name)))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|p| {
                            let mut out = OffsetFetchResponsePartition::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(p.offset)
                                .with_metadata(Some(str_bytes(p.metadata.clone())))
                                .with_error_code(p.error);
                            if v >= 5 {
                                out = out.with_committed_leader_epoch(p.leader_epoch);
                            }
                            out
                        })
                        .collect(),
                )
        })
        .collect();
    let mut response = OffsetFetchResponse::default().with_topics(topics);
    if v >= 2 {
        response = response.with_error_code(r.error);
    }
    response
}

/// Partitions grouped by topic, topics in first-seen order.
fn group_by_topic(r: &OffsetFetchResult) -> Vec<(String, Vec<&sluice_group::FetchedOffset>)> {
    let mut out: Vec<(String, Vec<&sluice_group::FetchedOffset>)> = Vec::new();
    for p in &r.partitions {
        match out.iter_mut().find(|(t, _)| *t == p.topic) {
            Some((_, v)) => v.push(p),
            None => out.push((p.topic.clone(), vec![p])),
        }
    }
    out
}
