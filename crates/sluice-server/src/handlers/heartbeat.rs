//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
//! Translation only (group instance id from v3).

use sluice_protocol::kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    let instance = if ctx.api_version >= 3 {
        request.group_instance_id.as_ref().map(|s| s.as_str())
    } else {
        None
    };
    let error = ctx
        .broker
        .groups
        .heartbeat(
            request.group_id.0.as_str(),
            request.member_id.as_str(),
            instance,
            request.generation_id,
        )
        .await;
    HeartbeatResponse::default().with_error_code(error)
}
