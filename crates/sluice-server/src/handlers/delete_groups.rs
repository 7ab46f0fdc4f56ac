//! DeleteGroups (v0–2): deletes Empty groups and their offsets (NON_EMPTY_GROUP while members
//! remain, GROUP_ID_NOT_FOUND for unknown groups). Translation only.

use sluice_protocol::kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use sluice_protocol::kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, GroupId,
};

use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .collect();
    let results = ctx.broker.groups.delete_groups(&ids).await;
    DeleteGroupsResponse::default().with_results(
        results
            .into_iter()
            .map(|(g, e)| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(g)))
                    .with_error_code(e)
            })
            .collect(),
    )
}
