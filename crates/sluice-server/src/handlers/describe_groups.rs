//! DescribeGroups (v0–5): state, protocol and members (metadata and assignment only while
//! Stable) of each requested group; unknown groups are described as Dead with no error, as
//! Kafka < 4.1 does. Group instance ids from v4; authorized operations are not computed.

use sluice_protocol::kafka_protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use sluice_protocol::kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = ctx.api_version;
    let ids: Vec<String> = request.groups.iter().map(|g| g.0.to_string()).collect();
    let described = ctx.broker.groups.describe_groups(&ids).await;
    let groups = described
        .into_iter()
        .map(|g| {
            DescribedGroup::default()
                .with_error_code(g.error)
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_group_state(str_bytes(g.state))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_protocol_data(str_bytes(g.protocol_data))
                .with_members(
                    g.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_group_instance_id(if v >= 4 {
                                    m.group_instance_id.map(str_bytes)
                                } else {
                                    None
                                })
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
