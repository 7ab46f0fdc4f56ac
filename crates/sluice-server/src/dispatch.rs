//! Request dispatch: safely decodes the request header and body (through the protocol guard),
//! refuses versions the broker does not implement, routes to the one handler file per API and
//! encodes the response with the right header version. ApiVersions at an unknown version is
//! answered in the v0 layout with UNSUPPORTED_VERSION (KIP-511), as clients rely on.
//! Fetch responses are encoded as chunks whose records stay in the segment files
//! (`fetch_response.rs`); every other response is one buffer from `kafka-protocol`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::guard::{self, GuardError};
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use sluice_protocol::kafka_protocol::protocol::Encodable;
use sluice_protocol::versions;

use crate::broker::Broker;
use crate::fetch_response::{self, Chunk, FetchReply};
use crate::handlers;
use crate::replica_manager::codes;
use crate::rpc;
use sluice_metadata::quorum::{handle_rpc, RAFT_API_KEYS};

/// Where a request came from.
pub struct ConnectionContext {
    pub listener: String,
    pub peer: SocketAddr,
    /// A controller listener: the private broker↔controller and Raft APIs are served here.
    pub controller: bool,
    /// A request another broker forwarded to us as the active controller: never forward it
    /// again.
    pub forwarded: bool,
}

/// APIs whose work is the active controller's: other brokers forward them (Kafka's
/// forwarding, KIP-590). InitProducerId is forwarded because the controller hands out
/// producer id blocks; DescribeQuorum because only the Raft leader knows the replicas' state.
fn is_controller_api(api_key: i16) -> bool {
    [
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::CreatePartitions,
        ApiKey::ElectLeaders,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::InitProducerId,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ListPartitionReassignments,
        ApiKey::UnregisterBroker,
        ApiKey::DescribeQuorum,
    ]
    .iter()
    .any(|k| *k as i16 == api_key)
}

/// What the connection should do with a request.
pub enum Outcome {
    /// Write these chunks (size prefix, header, body; file regions for Fetch records) in
    /// order. The size prefix equals the sum of the chunk lengths minus 4.
    Respond(Vec<Chunk>),
    /// acks=0 produce: send nothing.
    NoResponse,
    /// Close the connection, logging the reason.
    Close(String),
}

/// Per-request context handed to handlers.
pub struct RequestContext<'a> {
    pub broker: &'a Arc<Broker>,
    pub connection: &'a ConnectionContext,
    pub header: &'a RequestHeader,
    pub api_version: i16,
}

pub async fn handle_frame(broker: &Arc<Broker>, conn: &ConnectionContext, frame: Bytes) -> Outcome {
    if frame.len() >= 2 && rpc::is_private(i16::from_be_bytes([frame[0], frame[1]])) {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        // A broker-only node follows the metadata log as a learner: the active controller
        // sends it Raft RPCs on its inter-broker listener (it has no controller listener).
        let learner_raft = broker.quorum.is_learner()
            && RAFT_API_KEYS.contains(&key)
            && conn.listener == broker.config.inter_broker_listener_name;
        if !conn.controller && !learner_raft {
            return Outcome::Close("private api key on a client listener".into());
        }
        return handle_private(broker, conn, &frame).await;
    }
    let (header, header_len) = match guard::decode_request_header(&frame) {
        Ok(h) => h,
        Err(e @ (GuardError::UnsupportedApiKey { .. } | GuardError::UnsupportedVersion { .. })) => {
            let (api_key, correlation_id) = match &e {
                GuardError::UnsupportedApiKey {
                    api_key,
                    correlation_id,
                    ..
                }
                | GuardError::UnsupportedVersion {
                    api_key,
                    correlation_id,
                    ..
                } => (*api_key, *correlation_id),
                _ => (-1, None),
            };
            if api_key == ApiKey::ApiVersions as i16 {
                if let Some(id) = correlation_id {
                    return unsupported_api_versions(id);
                }
            }
            return Outcome::Close(e.to_string());
        }
        Err(e) => return Outcome::Close(format!("malformed request header: {e}")),
    };
    let api_key = header.request_api_key;
    let version = header.request_api_version;
    if !versions::is_supported(api_key, version) {
        if api_key == ApiKey::ApiVersions as i16 {
            return unsupported_api_versions(header.correlation_id);
        }
        return Outcome::Close(format!(
            "unsupported api key {api_key} version {version} (client {:?})",
            header.client_id.as_deref()
        ));
    }
    if is_controller_api(api_key) && !conn.forwarded && !broker.is_active_controller() {
        match broker.forward(&frame).await {
            Ok(response) => return Outcome::Respond(vec![Chunk::Bytes(Bytes::from(response))]),
            // Leadership came to us while we were looking for the controller: run it here.
            Err(_) if broker.is_active_controller() => {}
            Err(e) => {
                tracing::warn!(api_key, error = %e, "forwarding to the controller failed");
                return Outcome::Close(format!("forwarding to the controller failed: {e}"));
            }
        }
    }
    let body = frame.slice(header_len.min(frame.len())..);
    let request = match guard::decode_request(api_key, version, body) {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Close(format!(
                "malformed {:?} v{version} request: {e}",
                ApiKey::try_from(api_key).ok()
            ))
        }
    };
    let ctx = RequestContext {
        broker,
        connection: conn,
        header: &header,
        api_version: version,
    };
    let response = match request {
        RequestKind::ApiVersions(r) => Some(ResponseKind::ApiVersions(
            handlers::api_versions::handle(&ctx, r),
        )),
        RequestKind::Metadata(r) => Some(ResponseKind::Metadata(
            handlers::metadata::handle(&ctx, r).await,
        )),
        RequestKind::Produce(r) => handlers::produce::handle(&ctx, r)
            .await
            .map(ResponseKind::Produce),
        RequestKind::Fetch(r) => {
            let reply = handlers::fetch::handle(&ctx, r).await;
            return encode_fetch(version, header.correlation_id, &reply);
        }
        RequestKind::ListOffsets(r) => Some(ResponseKind::ListOffsets(
            handlers::list_offsets::handle(&ctx, r),
        )),
        RequestKind::OffsetForLeaderEpoch(r) => Some(ResponseKind::OffsetForLeaderEpoch(
            handlers::offset_for_leader_epoch::handle(&ctx, r),
        )),
        RequestKind::CreateTopics(r) => Some(ResponseKind::CreateTopics(
            handlers::create_topics::handle(&ctx, r).await,
        )),
        RequestKind::InitProducerId(r) => Some(ResponseKind::InitProducerId(
            handlers::init_producer_id::handle(&ctx, r).await,
        )),
        RequestKind::DeleteTopics(r) => Some(ResponseKind::DeleteTopics(
            handlers::delete_topics::handle(&ctx, r).await,
        )),
        RequestKind::CreatePartitions(r) => Some(ResponseKind::CreatePartitions(
            handlers::create_partitions::handle(&ctx, r).await,
        )),
        RequestKind::ElectLeaders(r) => Some(ResponseKind::ElectLeaders(
            handlers::elect_leaders::handle(&ctx, r).await,
        )),
        RequestKind::DeleteRecords(r) => Some(ResponseKind::DeleteRecords(
            handlers::delete_records::handle(&ctx, r).await,
        )),
        RequestKind::AlterPartitionReassignments(r) => {
            Some(ResponseKind::AlterPartitionReassignments(
                handlers::alter_partition_reassignments::handle(&ctx, r).await,
            ))
        }
        RequestKind::ListPartitionReassignments(r) => {
            Some(ResponseKind::ListPartitionReassignments(
                handlers::list_partition_reassignments::handle(&ctx, r),
            ))
        }
        RequestKind::UnregisterBroker(r) => Some(ResponseKind::UnregisterBroker(
            handlers::unregister_broker::handle(&ctx, r).await,
        )),
        RequestKind::DescribeCluster(r) => Some(ResponseKind::DescribeCluster(
            handlers::describe_cluster::handle(&ctx, r),
        )),
        RequestKind::DescribeQuorum(r) => Some(ResponseKind::DescribeQuorum(
            handlers::describe_quorum::handle(&ctx, r),
        )),
        RequestKind::DescribeConfigs(r) => Some(ResponseKind::DescribeConfigs(
            handlers::describe_configs::handle(&ctx, r),
        )),
        RequestKind::AlterConfigs(r) => Some(ResponseKind::AlterConfigs(
            handlers::alter_configs::handle(&ctx, r).await,
        )),
        RequestKind::IncrementalAlterConfigs(r) => Some(ResponseKind::IncrementalAlterConfigs(
            handlers::incremental_alter_configs::handle(&ctx, r).await,
        )),
        RequestKind::FindCoordinator(r) => Some(ResponseKind::FindCoordinator(
            handlers::find_coordinator::handle(&ctx, r).await,
        )),
        RequestKind::JoinGroup(r) => Some(ResponseKind::JoinGroup(
            handlers::join_group::handle(&ctx, r).await,
        )),
        RequestKind::SyncGroup(r) => Some(ResponseKind::SyncGroup(
            handlers::sync_group::handle(&ctx, r).await,
        )),
        RequestKind::Heartbeat(r) => Some(ResponseKind::Heartbeat(
            handlers::heartbeat::handle(&ctx, r).await,
        )),
        RequestKind::LeaveGroup(r) => Some(ResponseKind::LeaveGroup(
            handlers::leave_group::handle(&ctx, r).await,
        )),
        RequestKind::OffsetCommit(r) => Some(ResponseKind::OffsetCommit(
            handlers::offset_commit::handle(&ctx, r).await,
        )),
        RequestKind::OffsetFetch(r) => Some(ResponseKind::OffsetFetch(
            handlers::offset_fetch::handle(&ctx, r).await,
        )),
        RequestKind::DescribeGroups(r) => Some(ResponseKind::DescribeGroups(
            handlers::describe_groups::handle(&ctx, r).await,
        )),
        RequestKind::ListGroups(r) => Some(ResponseKind::ListGroups(
            handlers::list_groups::handle(&ctx, r).await,
        )),
        RequestKind::DeleteGroups(r) => Some(ResponseKind::DeleteGroups(
            handlers::delete_groups::handle(&ctx, r).await,
        )),
        RequestKind::OffsetDelete(r) => Some(ResponseKind::OffsetDelete(
            handlers::offset_delete::handle(&ctx, r).await,
        )),
        RequestKind::ConsumerGroupHeartbeat(r) => Some(ResponseKind::ConsumerGroupHeartbeat(
            handlers::consumer_group_heartbeat::handle(&ctx, r).await,
        )),
        RequestKind::ConsumerGroupDescribe(r) => Some(ResponseKind::ConsumerGroupDescribe(
            handlers::consumer_group_describe::handle(&ctx, r).await,
        )),
        other => {
            // Advertised but not routed would be a bug in the version table.
            tracing::error!(
                api_key,
                "no handler for advertised request {:?}",
                std::mem::discriminant(&other)
            );
            return Outcome::Close(format!("no handler for api key {api_key}"));
        }
    };
    match response {
        Some(r) => encode_response(api_key, version, header.correlation_id, &r),
        None => Outcome::NoResponse,
    }
}

/// The private broker↔controller APIs (`rpc.rs`) and Raft RPCs, on controller listeners.
async fn handle_private(broker: &Arc<Broker>, conn: &ConnectionContext, frame: &[u8]) -> Outcome {
    let Some((api_key, correlation, payload)) = rpc::parse_request(frame) else {
        return Outcome::Close("malformed private request".into());
    };
    let ok = |payload: Vec<u8>| {
        Outcome::Respond(vec![Chunk::Bytes(Bytes::from(rpc::response_frame(
            correlation,
            rpc::STATUS_OK,
            &payload,
        )))])
    };
    let err = |msg: String| {
        Outcome::Respond(vec![Chunk::Bytes(Bytes::from(rpc::response_frame(
            correlation,
            rpc::STATUS_ERROR,
            msg.as_bytes(),
        )))])
    };
    if RAFT_API_KEYS.contains(&api_key) {
        let body = handle_rpc(broker.quorum.raft(), api_key, payload).await;
        let mut out = Vec::with_capacity(body.len() + 8);
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&correlation.to_be_bytes());
        out.extend_from_slice(&body);
        return Outcome::Respond(vec![Chunk::Bytes(Bytes::from(out))]);
    }
    match api_key {
        rpc::API_FORWARD => {
            if !broker.is_active_controller() {
                return err(rpc::NOT_CONTROLLER.into());
            }
            let inner = ConnectionContext {
                listener: broker
                    .advertised
                    .first()
                    .map(|e| e.listener.clone())
                    .unwrap_or_default(),
                peer: conn.peer,
                controller: false,
                forwarded: true,
            };
            let outcome = Box::pin(handle_frame(
                broker,
                &inner,
                Bytes::copy_from_slice(payload),
            ))
            .await;
            match outcome {
                Outcome::Respond(chunks) => {
                    let mut out = broker.image().last_offset.to_be_bytes().to_vec();
                    for c in chunks {
                        match c {
                            Chunk::Bytes(b) => out.extend_from_slice(&b),
                            Chunk::File(_) => return err("file chunks cannot be forwarded".into()),
                        }
                    }
                    ok(out)
                }
                Outcome::NoResponse => err("forwarded request has no response".into()),
                Outcome::Close(reason) => err(reason),
            }
        }
        rpc::API_BROKER_HEARTBEAT => match rpc::decode(payload) {
            Ok(req) => ok(rpc::encode(
                &crate::controller::handle_heartbeat(broker, req).await,
            )),
            Err(e) => err(format!("bad heartbeat: {e}")),
        },
        rpc::API_ALTER_PARTITION => match rpc::decode(payload) {
            Ok(req) => ok(rpc::encode(
                &crate::controller::handle_alter_partition(broker, req).await,
            )),
            Err(e) => err(format!("bad AlterPartition: {e}")),
        },
        other => Outcome::Close(format!("unknown private api key {other}")),
    }
}

fn encode_response(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Outcome {
    let header_version = match ApiKey::try_from(api_key) {
        Ok(k) => k.response_header_version(version),
        Err(_) => 0,
    };
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    if let Err(e) = header.encode(&mut buf, header_version) {
        return Outcome::Close(format!("failed to encode response header: {e}"));
    }
    if let Err(e) = response.encode(&mut buf, version) {
        return Outcome::Close(format!("failed to encode response: {e}"));
    }
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Outcome::Respond(vec![Chunk::Bytes(buf.freeze())])
}

/// Fetch: metadata encoded here, records left in the files (written with sendfile).
fn encode_fetch(version: i16, correlation_id: i32, reply: &FetchReply) -> Outcome {
    let header_version = ApiKey::Fetch.response_header_version(version);
    match fetch_response::encode_frame(reply, version, header_version, correlation_id) {
        Ok(chunks) => Outcome::Respond(chunks),
        Err(e) => Outcome::Close(e.to_string()),
    }
}

/// KIP-511: an ApiVersions request at a version we don't know gets UNSUPPORTED_VERSION in the
/// v0 layout, still listing what we support, so the client can retry at a shared version.
fn unsupported_api_versions(correlation_id: i32) -> Outcome {
    let mut response = handlers::api_versions::supported();
    response.error_code = codes::UNSUPPORTED_VERSION;
    encode_response(
        ApiKey::ApiVersions as i16,
        0,
        correlation_id,
        &ResponseKind::ApiVersions(response),
    )
}
