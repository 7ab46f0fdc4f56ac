//! Shared path of AlterConfigs and IncrementalAlterConfigs: compute a topic's new override set
//! (or a broker's dynamic config set) from its current one, validate every entry, and commit
//! the difference as Config records.

use std::collections::BTreeMap;

use sluice_metadata::records::{
    MetadataRecord, RESOURCE_BROKER as METADATA_BROKER, RESOURCE_TOPIC,
};

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

/// Applies `change` to the current overrides of a topic (`resource_type` 2) or to the dynamic
/// configs of a broker (4; name = its id, or "" for the cluster-wide default), validates every
/// entry and commits the difference unless `validate_only`.
pub async fn apply_config_changes(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(
        &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ConfigChangeError>,
) -> Result<(), ConfigChangeError> {
    let broker = ctx.broker;
    let record_type = match resource_type {
        WIRE_TOPIC => RESOURCE_TOPIC,
        RESOURCE_BROKER => {
            if !name.is_empty() && !broker.live_brokers().iter().any(|b| b.to_string() == name) {
                return Err(ConfigChangeError::invalid_request(format!(
                    "Unexpected broker id, expected one of {:?} or empty string, but received {name}",
                    broker.live_brokers()
                )));
            }
            METADATA_BROKER
        }
        other => {
            return Err(ConfigChangeError::invalid_request(format!(
                "Unsupported resource type {other}"
            )))
        }
    };
    let outcome = broker
        .controller_write(|image| {
            let current = if record_type == RESOURCE_TOPIC {
                if image.topic(name).is_none() {
                    return Err(ConfigChangeError {
                        code: codes::UNKNOWN_TOPIC_OR_PARTITION,
                        message: format!("Topic {name} does not exist"),
                    });
                }
                image.topic_config(name)
            } else {
                image.broker_configs.get(name).cloned().unwrap_or_default()
            };
            let next = change(&current)?;
            for (k, v) in &next {
                if current.get(k) == Some(v) {
                    continue;
                }
                let checked = if record_type == RESOURCE_TOPIC {
                    sluice_config::validate_topic_config(k, v)
                } else {
                    sluice_config::validate_dynamic_broker_config(k, v)
                };
                checked.map_err(|e| ConfigChangeError::invalid_config(e.to_string()))?;
            }
            if validate_only {
                return Ok((Vec::new(), ()));
            }
            let mut records = Vec::new();
            for k in current.keys().filter(|k| !next.contains_key(*k)) {
                records.push(config_record(record_type, name, k, None));
            }
            for (k, v) in &next {
                if current.get(k) != Some(v) {
                    records.push(config_record(record_type, name, k, Some(v.clone())));
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

fn config_record(
    resource_type: i8,
    resource: &str,
    name: &str,
    value: Option<String>,
) -> MetadataRecord {
    MetadataRecord::Config {
        resource_type,
        resource_name: resource.to_string(),
        name: name.to_string(),
        value,
    }
}
