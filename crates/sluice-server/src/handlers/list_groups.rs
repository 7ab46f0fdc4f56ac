//! ListGroups (v0–5): the groups of the `__consumer_offsets` partitions this node leads;
//! v4+ filter by state, v5+ by group type ("classic" or "consumer", KIP-848). State from v4
//! (consumer groups: Empty/Assigning/Reconciling/Stable), type from v5.

use sluice_protocol::kafka_protocol::messages::list_groups_response::ListedGroup;
use sluice_protocol::kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let v = ctx.api_version;
    let states: Vec<String> = if v >= 4 {
        request
            .states_filter
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if v >= 5 {
        request.types_filter.iter().map(|t| t.to_string()).collect()
    } else {
        Vec::new()
    };
    let r = ctx.broker.groups.list_groups(&states).await;
    let groups: Vec<_> = r
        .groups
        .into_iter()
        .filter(|g| types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(&g.group_type)))
        .collect();
    ListGroupsResponse::default()
        .with_error_code(r.error)
        .with_groups(
            groups
                .into_iter()
                .map(|g| {
                    let mut out = ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(g.group_id)))
                        .with_protocol_type(str_bytes(g.protocol_type));
                    if v >= 4 {
                        out = out.with_group_state(str_bytes(g.state));
                    }
                    if v >= 5 {
                        out = out.with_group_type(str_bytes(g.group_type));
                    }
                    out
                })
                .collect(),
        )
}
