//! ElectLeaders (key 43, v0–2): preferred or unclean leader elections on the active controller
//! (other brokers forward the request). The decisions are `sluice_metadata::election`'s; a
//! null topic list means every partition (and then partitions needing no election are left
//! out, as Kafka does). v0 has no election type: it is a preferred election.

use std::collections::BTreeMap;

use sluice_metadata::election::{self, ElectionType, PartitionElection};
use sluice_protocol::kafka_protocol::messages::elect_leaders_response::{
    PartitionResult, ReplicaElectionResult,
};
use sluice_protocol::kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

/// INVALID_REQUEST: an election type other than 0 or 1.
const INVALID_REQUEST: i16 = 42;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let only: Option<Vec<(String, i32)>> = request.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic.0.to_string(), *p))
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let Some(kind) = ElectionType::from_i8(request.election_type) else {
        let message = format!("Unknown election type {}", request.election_type);
        let results = only
            .unwrap_or_default()
            .into_iter()
            .map(|(topic, partition)| PartitionElection {
                topic,
                partition,
                result: Ok(()),
            })
            .collect::<Vec<_>>();
        return response(&results, Some((INVALID_REQUEST, message)))
            .with_error_code(INVALID_REQUEST);
    };
    let outcome = ctx
        .broker
        .controller_write(|image| {
            let e = election::elect_leaders(image, kind, only.as_deref());
            Ok::<_, std::convert::Infallible>((e.records, e.results))
        })
        .await;
    match outcome {
        Ok(Ok(results)) => response(&results, None),
        Ok(Err(never)) => match never {},
        Err(e) => {
            tracing::warn!(error = %e, "ElectLeaders commit failed");
            let code = if e.downcast_ref::<crate::broker::NotController>().is_some() {
                crate::controller::NOT_CONTROLLER
            } else {
                codes::UNKNOWN_SERVER_ERROR
            };
            // Every asked-for partition gets the error (v0 has no top-level code).
            let results: Vec<_> = only
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, partition)| PartitionElection {
                    topic,
                    partition,
                    result: Ok(()),
                })
                .collect();
            response(&results, Some((code, e.to_string()))).with_error_code(code)
        }
    }
}

/// The response for per-partition outcomes; `override_error` replaces every outcome.
fn response(
    results: &[PartitionElection],
    override_error: Option<(i16, String)>,
) -> ElectLeadersResponse {
    let mut by_topic: BTreeMap<&str, Vec<PartitionResult>> = BTreeMap::new();
    for r in results {
        let (code, message) = match (&override_error, &r.result) {
            (Some((code, m)), _) => (*code, Some(m.clone())),
            (None, Ok(())) => (0, None),
            (None, Err(e)) => (e.kafka_code(), Some(e.to_string())),
        };
        by_topic.entry(&r.topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(r.partition)
                .with_error_code(code)
                .with_error_message(message.map(str_bytes)),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partition_result(partitions)
            })
            .collect(),
    )
}
