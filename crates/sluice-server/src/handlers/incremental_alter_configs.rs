//! IncrementalAlterConfigs for topics: SET, DELETE, APPEND and SUBTRACT (list configs) applied
//! to the topic's current overrides, validated, then committed to the metadata log.

use std::collections::BTreeMap;

use sluice_protocol::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use sluice_protocol::kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::config_changes::{apply_config_changes, ConfigChangeError};
use super::str_bytes;
use crate::dispatch::RequestContext;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for res in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let ops: Vec<(String, i8, Option<String>)> = res
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        let outcome = apply_config_changes(
            ctx,
            res.resource_type,
            res.resource_name.as_str(),
            request.validate_only,
            move |current| apply_ops(current, &ops),
        )
        .await;
        responses.push(match outcome {
            Ok(()) => response,
            Err(e) => response
                .with_error_code(e.code)
                .with_error_message(Some(str_bytes(e.message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[(String, i8, Option<String>)],
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    let mut next = current.clone();
    for (name, op, value) in ops {
        match *op {
            SET => {
                let Some(v) = value else {
                    return Err(ConfigChangeError::invalid_config(format!(
                        "Null value not supported for : {name}"
                    )));
                };
                next.insert(name.clone(), v.clone());
            }
            DELETE => {
                next.remove(name);
            }
            APPEND | SUBTRACT => {
                let def = sluice_config::topic_config_def(name);
                if !def.is_some_and(|d| d.def.ty == sluice_config::ConfigType::List) {
                    return Err(ConfigChangeError::invalid_config(format!(
                        "Config value append is not allowed for config key: {name}"
                    )));
                }
                // Like Kafka, an absent override starts from the config's default value.
                let current_value = next
                    .get(name)
                    .cloned()
                    .or_else(|| def.and_then(|d| d.def.default.map(String::from)))
                    .unwrap_or_default();
                let items: Vec<String> = value
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                let mut list: Vec<String> = current_value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if *op == APPEND {
                    for i in items {
                        if !list.contains(&i) {
                            list.push(i);
                        }
                    }
                } else {
                    list.retain(|x| !items.contains(x));
                }
                next.insert(name.clone(), list.join(","));
            }
            other => {
                return Err(ConfigChangeError::invalid_request(format!(
                    "Unknown config operation {other}"
                )));
            }
        }
    }
    Ok(next)
}
