//! ListOffsets: latest (-1, the high watermark), earliest (-2, the log start offset),
//! earliest-local (-4, same as earliest without tiered storage), max timestamp (-3), or the
//! first offset whose timestamp is >= the given one, through the time index.

use sluice_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use sluice_protocol::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::dispatch::RequestContext;
use crate::replica_manager::{codes, log_error_code};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let replicas = &ctx.broker.replicas;
    // leader_epoch exists from v4; earlier versions must leave it at its default.
    let with_epoch = ctx.api_version >= 4;
    let from_client = request.replica_id.0 < 0;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let Some(partition) =
                        replicas.get_by_name(topic.name.0.as_str(), p.partition_index)
                    else {
                        return base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    // Only the leader answers clients (replica_id -1); followers' logs lag. A
                    // leader epoch the client knows (v4+) must be ours.
                    if from_client {
                        if let Err(code) = partition.check_leader(p.current_leader_epoch) {
                            return base.with_error_code(code);
                        }
                    }
                    let log = &partition.log;
                    let base = if with_epoch {
                        base.with_leader_epoch(partition.leader_epoch())
                    } else {
                        base
                    };
                    match p.timestamp {
                        LATEST => base.with_offset(partition.high_watermark()),
                        EARLIEST | EARLIEST_LOCAL => base.with_offset(log.log_start_offset()),
                        MAX_TIMESTAMP => match log.max_timestamp_and_offset() {
                            Some((offset, ts)) => base.with_offset(offset).with_timestamp(ts),
                            None => base,
                        },
                        ts if ts >= 0 => match log.offset_for_timestamp(ts) {
                            Ok(Some((offset, found_ts))) => {
                                base.with_offset(offset).with_timestamp(found_ts)
                            }
                            Ok(None) => base,
                            Err(e) => base.with_error_code(log_error_code(&e)),
                        },
                        _ => base.with_error_code(codes::INVALID_REQUEST),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
