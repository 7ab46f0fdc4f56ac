//! AlterConfigs (legacy, whole-set replace): the given configs become the topic's complete
//! override set, or the broker's complete dynamic config set.

use std::collections::BTreeMap;

use sluice_protocol::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use sluice_protocol::kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::config_changes::{apply_config_changes, ConfigChangeError};
use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for res in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let mut wanted = BTreeMap::new();
        let mut null_value = None;
        for c in &res.configs {
            match &c.value {
                Some(v) => {
                    wanted.insert(c.name.to_string(), v.to_string());
                }
                None => null_value = Some(c.name.to_string()),
            }
        }
        let outcome = match null_value {
            Some(name) => Err(ConfigChangeError::invalid_config(format!(
                "Null value not supported for : {name}"
            ))),
            None => {
                apply_config_changes(
                    ctx,
                    res.resource_type,
                    res.resource_name.as_str(),
                    request.validate_only,
                    |_current| Ok(wanted),
                )
                .await
            }
        };
        responses.push(match outcome {
            Ok(()) => response,
            Err(e) => response
                .with_error_code(e.code)
                .with_error_message(Some(str_bytes(e.message))),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}
