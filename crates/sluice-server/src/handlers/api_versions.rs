//! ApiVersions: lists exactly the versions in `sluice_protocol::versions::SUPPORTED`.

use sluice_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use sluice_protocol::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use sluice_protocol::versions::SUPPORTED;

use crate::dispatch::RequestContext;

/// The response every ApiVersions request gets (error code aside).
pub fn supported() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        SUPPORTED
            .iter()
            .map(|(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(*key as i16)
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect(),
    )
}

pub fn handle(_ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    supported()
}
