//! Fetch: reads whole stored batches from each requested partition below the high watermark,
//! honouring max_bytes and per-partition max bytes (always at least one batch for the first
//! partition with data, KIP-74). When fewer than min_bytes are available it becomes a delayed
//! operation woken by appends to any of its partitions, until max_wait_ms — never polling.
//! Sessionless per KIP-227: every answer carries session_id 0, which clients treat as "no
//! session" and keep sending full fetch requests. Records are returned as file regions
//! (`FetchReply::files`) that the connection writes with sendfile; only small reads are
//! copied inline, where one write beats a sendfile per partition.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use sluice_protocol::kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use sluice_storage::{FileRead, LogError};
use tokio::sync::watch;

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::fetch_response::FetchReply;
use crate::replica_manager::{codes, log_error_code, Partition};

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

/// Reads smaller than this are copied into the response instead of sent as file regions.
const SENDFILE_MIN_BYTES: usize = 16 * 1024;

/// One requested partition, resolved once.
struct Wanted {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    hosted: Result<Arc<Partition>, i16>,
    /// KIP-320: the follower's last fetched epoch (replica fetches, v12+), else -1.
    last_fetched_epoch: i32,
}

/// Kafka's leadership checks for a fetch: only the leader serves, and a leader epoch the
/// client knows (v9+) must be ours.
fn check_leader(p: &Arc<Partition>, current_leader_epoch: i32) -> Result<Arc<Partition>, i16> {
    p.check_leader(current_leader_epoch).map(|_| p.clone())
}

pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> FetchReply {
    let version = ctx.api_version;
    if request.session_id != 0 {
        return FetchReply {
            response: FetchResponse::default().with_error_code(FETCH_SESSION_ID_NOT_FOUND),
            files: Vec::new(),
        };
    }
    let image = ctx.broker.image();
    let replicas = &ctx.broker.replicas;
    // A broker's replica fetch (its id; -1 for consumers).
    let replica_id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    let follower = replica_id >= 0;
    let mut topics: Vec<FetchableTopicResponse> = Vec::with_capacity(request.topics.len());
    let mut wanted = Vec::new();
    for topic in &request.topics {
        let (name, missing_code) = if version >= 13 {
            match image.topic_by_id(&topic.topic_id) {
                Some(t) => (Some(t.name.clone()), codes::UNKNOWN_TOPIC_ID),
                None => (None, codes::UNKNOWN_TOPIC_ID),
            }
        } else {
            (
                Some(topic.topic.0.to_string()),
                codes::UNKNOWN_TOPIC_OR_PARTITION,
            )
        };
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(TopicName(str_bytes(name.clone().unwrap_or_default())))
                .with_topic_id(topic.topic_id),
        );
        for p in &topic.partitions {
            let hosted = name
                .as_deref()
                .and_then(|n| replicas.get_by_name(n, p.partition))
                .ok_or(missing_code)
                .and_then(|h| check_leader(&h, p.current_leader_epoch));
            if follower {
                if let Ok(h) = &hosted {
                    if h.record_follower_fetch(replica_id, p.fetch_offset) {
                        let mut isr = h.state().isr;
                        isr.push(replica_id);
                        crate::isr::request_isr_change(ctx.broker, h, isr);
                    }
                }
            }
            wanted.push(Wanted {
                topic_index: topics.len() - 1,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                hosted,
                last_fetched_epoch: if follower && version >= 12 {
                    p.last_fetched_epoch
                } else {
                    -1
                },
            });
        }
    }
    let max_bytes = if version >= 3 {
        request.max_bytes.max(0) as usize
    } else {
        usize::MAX
    };
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    // Subscribe before the first read so an append between read and wait is not missed.
    let mut receivers: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.hosted.as_ref().ok())
        .map(|p| p.subscribe())
        .collect();
    loop {
        let (results, files, total, errors) = read_all(ctx, &wanted, max_bytes, follower);
        let done = total >= min_bytes.max(1)
            || errors
            || receivers.is_empty()
            || tokio::time::Instant::now() >= deadline;
        if done {
            for (w, data) in wanted.iter().zip(results) {
                if let Some(t) = topics.get_mut(w.topic_index) {
                    t.partitions.push(data);
                }
            }
            // `wanted` is in response order (topic by topic), so `files` is too.
            return FetchReply {
                response: FetchResponse::default()
                    .with_session_id(0)
                    .with_responses(topics),
                files,
            };
        }
        match tokio::time::timeout_at(deadline, any_changed(&mut receivers)).await {
            Ok(Some(closed)) => {
                receivers.swap_remove(closed);
            }
            Ok(None) => {}
            // Deadline: one last read below returns whatever is there.
            Err(_) => receivers.clear(),
        }
    }
}

/// Completes when any partition's watch changed (append, HW move, leadership change): None,
/// or Some(i) when receiver i's partition is gone. Every call waits on every receiver afresh:
/// a partition that woke an earlier wait without enough data to answer can wake it again.
/// (It used to be replaced by a never-ready future, so a follower fetch woken by an HW move
/// slept through the next append until max_wait_ms — 500 ms per acks=all produce.)
async fn any_changed(receivers: &mut [watch::Receiver<i64>]) -> Option<usize> {
    let mut waits: Vec<_> = receivers
        .iter_mut()
        .map(|rx| Box::pin(rx.changed()))
        .collect();
    std::future::poll_fn(|cx| {
        for (i, w) in waits.iter_mut().enumerate() {
            if let Poll::Ready(r) = w.as_mut().poll(cx) {
                return Poll::Ready(r.err().map(|_| i));
            }
        }
        Poll::Pending
    })
    .await
}

/// Per partition: the response entry (records inline, or None when they are in `files`) and
/// the file regions; plus total record bytes and whether any partition failed.
type ReadAll = (Vec<PartitionData>, Vec<Option<FileRead>>, usize, bool);

fn read_all(
    ctx: &RequestContext<'_>,
    wanted: &[Wanted],
    max_bytes: usize,
    follower: bool,
) -> ReadAll {
    let mut out = Vec::with_capacity(wanted.len());
    let mut files = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut errors = false;
    for w in wanted {
        let base = PartitionData::default()
            .with_partition_index(w.partition)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_preferred_read_replica(BrokerId(-1));
        let partition = match &w.hosted {
            Ok(p) => p,
            Err(code) => {
                errors = true;
                out.push(base.with_error_code(*code));
                files.push(None);
                continue;
            }
        };
        let hw = partition.high_watermark();
        let log_start = partition.log.log_start_offset();
        let base = base
            .with_high_watermark(hw)
            .with_last_stable_offset(hw)
            .with_log_start_offset(log_start);
        if w.last_fetched_epoch >= 0 {
            // KIP-320: the follower's log diverged from ours → tell it where to truncate.
            if let Some(d) = partition
                .log
                .diverging_epoch(w.last_fetched_epoch, w.fetch_offset)
            {
                errors = true; // answer at once
                out.push(
                    base.with_diverging_epoch(
                        EpochEndOffset::default()
                            .with_epoch(d.epoch)
                            .with_end_offset(d.end_offset),
                    )
                    .with_records(Some(Bytes::new())),
                );
                files.push(None);
                continue;
            }
        }
        let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
        let min_one = total == 0;
        if budget == 0 && !min_one {
            out.push(base.with_records(Some(Bytes::new())));
            files.push(None);
            continue;
        }
        let replicas = &ctx.broker.replicas;
        let read = if follower {
            replicas.read_slices_for_follower(partition, w.fetch_offset, budget, min_one)
        } else {
            replicas.read_slices(partition, w.fetch_offset, budget, min_one)
        }
        .and_then(|r| {
            if r.len >= SENDFILE_MIN_BYTES {
                Ok((None, Some(r)))
            } else if r.len == 0 {
                Ok((Some(Bytes::new()), None))
            } else {
                Ok((Some(Bytes::from(r.to_vec()?)), None))
            }
        });
        match read {
            Ok((inline, file)) => {
                total +=
                    inline.as_ref().map_or(0, |b| b.len()) + file.as_ref().map_or(0, |f| f.len);
                out.push(base.with_records(inline));
                files.push(file);
            }
            Err(e) => {
                errors = true;
                if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                    tracing::warn!(partition = %partition.tp, error = %e, "fetch read failed");
                }
                out.push(base.with_error_code(log_error_code(&e)));
                files.push(None);
            }
        }
    }
    (out, files, total, errors)
}
