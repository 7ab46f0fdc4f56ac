//! LeaveGroup: v0–2 remove the one `member_id` and answer with a single error code; v3+
//! remove a batch of members (by member id and/or group instance id) with one result each.

use sluice_protocol::kafka_protocol::messages::leave_group_response::MemberResponse;
use sluice_protocol::kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let v = ctx.api_version;
    let group_id = request.group_id.0.to_string();
    if v < 3 {
        let r = ctx
            .broker
            .groups
            .leave_group(&group_id, vec![(request.member_id.to_string(), None)])
            .await;
        let error = if r.error != 0 {
            r.error
        } else {
            r.members.first().map(|m| m.error).unwrap_or(0)
        };
        return LeaveGroupResponse::default().with_error_code(error);
    }
    let members = request
        .members
        .into_iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.map(|s| s.to_string()),
            )
        })
        .collect();
    let r = ctx.broker.groups.leave_group(&group_id, members).await;
    LeaveGroupResponse::default()
        .with_error_code(r.error)
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_error_code(m.error)
                })
                .collect(),
        )
}
