//! Shared path of AlterConfigs and IncrementalAlterConfigs: compute a topic's new override set
//! from its current one, validate every entry, and commit the difference as Config records.

use std::collections::BTreeMap;

use sluice_metadata::records::{MetadataRecord, RESOURCE_TOPIC};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC as WIRE_TOPIC};
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

const INVALID_CONFIG: i16 = 40;

/// An error code and message for one resource of an alter request.
#[derive(Debug)]
pub struct ConfigChangeError {
    pub code: i16,
    pub message: String,
}

impl ConfigChangeError {
    pub fn invalid_config(message: String) -> Self {
        ConfigChangeError {
            code: INVALID_CONFIG,
            message,
        }
    }
    pub fn invalid_request(message: String) -> Self {
        ConfigChangeError {
            code: codes::INVALID_REQUEST,
            message,
        }
    }
}

/// Applies `change` to the overrides of topic `name` (validated, committed unless
/// `validate_only`). Broker resources are refused: dynamic broker configs are not supported.
pub async fn apply_topic_overrides(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(
        &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ConfigChangeError>,
) -> Result<(), ConfigChangeError> {
    match resource_type {
        WIRE_TOPIC => {}
        RESOURCE_BROKER => return Err(ConfigChangeError::invalid_request(
            "Dynamic broker configs are not supported by Sluice yet; set them in server.properties"
                .into(),
        )),
        other => {
            return Err(ConfigChangeError::invalid_request(format!(
                "Unsupported resource type {other}"
            )))
        }
    }
    let broker = ctx.broker;
    let outcome = broker
        .controller_write(|image| {
            if image.topic(name).is_none() {
                return Err(ConfigChangeError {
                    code: codes::UNKNOWN_TOPIC_OR_PARTITION,
                    message: format!("Topic {name} does not exist"),
                });
            }
            let current = image.topic_config(name);
            let next = change(&current)?;
            for (k, v) in &next {
                sluice_config::validate_topic_config(k, v)
                    .map_err(|e| ConfigChangeError::invalid_config(e.to_string()))?;
            }
            if validate_only {
                return Ok((Vec::new(), ()));
            }
            let mut records = Vec::new();
            for k in current.keys().filter(|k| !next.contains_key(*k)) {
                records.push(config_record(name, k, None));
            }
            for (k, v) in &next {
                if current.get(k) != Some(v) {
                    records.push(config_record(name, k, Some(v.clone())));
                }
            }
            Ok((records, ()))
        })
        .await;
    match outcome {
        Ok(r) => r,
        Err(e) => Err(ConfigChangeError {
            code: codes::UNKNOWN_SERVER_ERROR,
            message: e.to_string(),
        }),
    }
}

fn config_record(topic: &str, name: &str, value: Option<String>) -> MetadataRecord {
    MetadataRecord::Config {
        resource_type: RESOURCE_TOPIC,
        resource_name: topic.to_string(),
        name: name.to_string(),
        value,
    }
}
