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

/// Where a request came from.
pub struct ConnectionContext {
    pub listener: String,
    pub peer: SocketAddr,
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
        RequestKind::DeleteRecords(r) => Some(ResponseKind::DeleteRecords(
            handlers::delete_records::handle(&ctx, r).await,
        )),
        RequestKind::DescribeCluster(r) => Some(ResponseKind::DescribeCluster(
            handlers::describe_cluster::handle(&ctx, r),
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
