//! SyncGroup: the leader hands in the assignment, every member gets its own once it is
//! stored. v5+ carries (and checks) the protocol type and name. Translation only.

use sluice_group::SyncGroupParams;
use sluice_protocol::kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    let v = ctx.api_version;
    let params = SyncGroupParams {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: if v >= 3 {
            request.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        protocol_type: if v >= 5 {
            request.protocol_type.map(|s| s.to_string())
        } else {
            None
        },
        protocol_name: if v >= 5 {
            request.protocol_name.map(|s| s.to_string())
        } else {
            None
        },
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let r = ctx.broker.groups.sync_group(params).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_assignment(r.assignment);
    if v >= 5 {
        response = response
            .with_protocol_type(r.protocol_type.map(str_bytes))
            .with_protocol_name(r.protocol_name.map(str_bytes));
    }
    response
}
