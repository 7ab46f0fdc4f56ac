//! JoinGroup: translates the request into `JoinGroupParams` (v0: the rebalance timeout is the
//! session timeout; v4+: new members must rejoin with their assigned id, KIP-394; v9: the
//! leader may be told to skip the assignment) and waits for the coordinator's answer, which
//! arrives when the rebalance completes. Only fields of the negotiated version are set.

use sluice_group::JoinGroupParams;
use sluice_protocol::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use sluice_protocol::kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let v = ctx.api_version;
    let params = JoinGroupParams {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: if v >= 5 {
            request.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        client_id: client_id(ctx),
        client_host: client_host(ctx),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if v >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
        reason: if v >= 8 {
            request.reason.map(|s| s.to_string())
        } else {
            None
        },
    };
    let r = ctx.broker.groups.join_group(params).await;
    let mut response = JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation_id)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(if v >= 5 {
                            m.group_instance_id.map(str_bytes)
                        } else {
                            None
                        })
                        .with_metadata(m.metadata)
                })
                .collect(),
        );
    if v >= 7 {
        response = response
            .with_protocol_type(r.protocol_type.map(str_bytes))
            .with_protocol_name(r.protocol_name.map(str_bytes));
    } else {
        // Not nullable before v7.
        response =
            response.with_protocol_name(Some(str_bytes(r.protocol_name.unwrap_or_default())));
    }
    if v >= 9 {
        response = response.with_skip_assignment(r.skip_assignment);
    }
    response
}

pub(crate) fn client_id(ctx: &RequestContext<'_>) -> String {
    ctx.header
        .client_id
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Kafka reports the client's address as `/<ip>`.
pub(crate) fn client_host(ctx: &RequestContext<'_>) -> String {
    format!("/{}", ctx.connection.peer.ip())
}
