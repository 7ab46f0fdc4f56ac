//! FindCoordinator: the node coordinating a group (key type 0) is the leader of the group's
//! `__consumer_offsets` partition; the topic is created on the first lookup, as Kafka does.
//! v0–3 answer one key in the top-level fields, v4+ a batch in `coordinators`. Transaction
//! coordinators (key type 1) do not exist yet: COORDINATOR_NOT_AVAILABLE. The lookup that
//! creates the topic answers COORDINATOR_NOT_AVAILABLE for groups led by another node (as
//! Kafka does), since that node may not have applied its leadership yet. Never decides group
//! ownership itself — that is the image's partition leadership.

use sluice_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::group_log::CONSUMER_OFFSETS;
use crate::replica_manager::codes;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

struct Found {
    error: i16,
    message: Option<String>,
    node_id: i32,
    host: String,
    port: i32,
}

impl Found {
    fn error(error: i16, message: impl Into<String>) -> Found {
        Found {
            error,
            message: Some(message.into()),
            node_id: -1,
            host: String::new(),
            port: -1,
        }
    }
}

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let v = ctx.api_version;
    // Whether `__consumer_offsets` existed before this request (it may create it).
    let existed = ctx.broker.image().topic(CONSUMER_OFFSETS).is_some();
    if v >= 4 {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in &request.coordinator_keys {
            let f = find(ctx, request.key_type, key, existed).await;
            coordinators.push(
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(f.node_id))
                    .with_host(str_bytes(f.host))
                    .with_port(f.port)
                    .with_error_code(f.error)
                    .with_error_message(f.message.map(str_bytes)),
            );
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let key_type = if v >= 1 { request.key_type } else { 0 };
    let f = find(ctx, key_type, &request.key, existed).await;
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(f.error)
        .with_node_id(BrokerId(f.node_id))
        .with_host(str_bytes(f.host))
        .with_port(f.port);
    if v >= 1 {
        response = response.with_error_message(f.message.map(str_bytes));
    }
    response
}

async fn find(ctx: &RequestContext<'_>, key_type: i8, key: &str, existed: bool) -> Found {
    let broker = ctx.broker;
    match key_type {
        0 => {}
        1 => {
            return Found::error(
                COORDINATOR_NOT_AVAILABLE,
                "The transaction coordinator is not available.",
            )
        }
        _ => {
            return Found::error(
                codes::INVALID_REQUEST,
                format!("Unknown key type {key_type}"),
            )
        }
    }
    if key.is_empty() {
        return Found::error(codes::INVALID_REQUEST, "The group id must not be empty.");
    }
    if let Err(e) = broker.ensure_offsets_topic().await {
        tracing::warn!(error = %e, "cannot create {CONSUMER_OFFSETS}");
        return Found::error(
            COORDINATOR_NOT_AVAILABLE,
            "The coordinator is not available.",
        );
    }
    let partition = broker.groups.partition_for(key);
    let leader = broker
        .image()
        .topic(CONSUMER_OFFSETS)
        .and_then(|t| t.partitions.get(partition as usize).map(|p| p.leader));
    let endpoint = leader.and_then(|l| {
        broker
            .broker_endpoints(&broker.image(), &ctx.connection.listener)
            .into_iter()
            .find(|(id, ..)| *id == l)
    });
    match endpoint {
        // This lookup created the topic (Kafka answers COORDINATOR_NOT_AVAILABLE then): the
        // named leader may not have applied its new leadership yet and would answer
        // NOT_COORDINATOR, which some clients (librdkafka's committed()) do not retry. The
        // client looks the coordinator up again after its backoff. On a single node the
        // leader is this node, which applied the creation already.
        Some((id, ..)) if !existed && id != broker.node_id => Found::error(
            COORDINATOR_NOT_AVAILABLE,
            "The coordinator is not available.",
        ),
        Some((id, host, port, _)) => Found {
            error: codes::NONE,
            message: None,
            node_id: id,
            host,
            port,
        },
        None => Found::error(
            COORDINATOR_NOT_AVAILABLE,
            "The coordinator is not available.",
        ),
    }
}
