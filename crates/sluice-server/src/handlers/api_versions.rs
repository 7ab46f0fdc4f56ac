//! ApiVersions: lists exactly the versions in `sluice_protocol::versions::SUPPORTED` (minus
//! the KIP-848 APIs when `group.coordinator.rebalance.protocols` excludes "consumer").

use sluice_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use sluice_protocol::kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
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

pub fn handle(ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut response = supported();
    if !ctx.broker.groups.config().consumer_protocol_enabled {
        // `group.coordinator.rebalance.protocols` without "consumer": like Kafka, do not
        // offer the KIP-848 APIs.
        response.api_keys.retain(|k| {
            k.api_key != ApiKey::ConsumerGroupHeartbeat as i16
                && k.api_key != ApiKey::ConsumerGroupDescribe as i16
        });
    }
    response
}
