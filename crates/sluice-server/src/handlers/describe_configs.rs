//! DescribeConfigs: topic and broker configs with value, source, read-only/sensitive flags,
//! type and (when asked) synonyms, as computed by `sluice-config` from the broker's static
//! config and the topic's overrides in the metadata image.

use sluice_config::{BrokerConfig, ConfigEntry, ConfigSource};
use sluice_protocol::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use sluice_protocol::kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = ctx.broker;
    let image = broker.image();
    let results = request
        .resources
        .into_iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let entries = match res.resource_type {
                RESOURCE_TOPIC => match image.topic(&name) {
                    Some(_) => sluice_config::describe_topic_config(&broker.effective_config(), &image.topic_config(&name)),
                    None => {
                        return result
                            .with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION)
                            .with_error_message(Some(str_bytes(format!("Topic {name} does not exist"))))
                    }
                },
                RESOURCE_BROKER => {
                    if !name.is_empty() && name != broker.node_id.to_string() {
                        return result.with_error_code(codes::INVALID_REQUEST).with_error_message(
                            Some(str_bytes(format!("Unexpected broker id, expected {} or empty string, but received {name}", broker.node_id))),
                        );
                    }
                    let config = broker.effective_config();
                    let entries = sluice_config::describe_broker_config(&config);
                    if name.is_empty() {
                        cluster_defaults(entries, &config)
                    } else {
                        entries
                    }
                }
                other => {
                    return result
                        .with_error_code(codes::INVALID_REQUEST)
                        .with_error_message(Some(str_bytes(format!("Unsupported resource type {other}"))))
                }
            };
            let keys = res.configuration_keys.as_ref();
            let configs = entries
                .into_iter()
                .filter(|e| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == e.name)))
                .map(|e| to_wire(e, request.include_synonyms, request.include_documentation))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The cluster-wide default resource (name ""): only the dynamic defaults, each reported with
/// DYNAMIC_DEFAULT_BROKER_CONFIG as its source, as Kafka does.
fn cluster_defaults(entries: Vec<ConfigEntry>, config: &BrokerConfig) -> Vec<ConfigEntry> {
    let defaults = config.dynamic_defaults();
    entries
        .into_iter()
        .filter_map(|mut e| {
            let value = defaults.get(&e.name)?.clone();
            e.value = (!e.sensitive).then_some(value);
            e.source = ConfigSource::DynamicDefaultBrokerConfig;
            e.is_default = false;
            e.synonyms
                .retain(|s| s.2 != ConfigSource::DynamicBrokerConfig);
            Some(e)
        })
        .collect()
}

fn to_wire(e: ConfigEntry, synonyms: bool, documentation: bool) -> DescribeConfigsResourceResult {
    let synonyms = if synonyms {
        e.synonyms
            .iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(name.clone()))
                    .with_value(value.clone().map(str_bytes))
                    .with_source(*source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name))
        .with_value(e.value.map(str_bytes))
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms)
        .with_config_type(e.config_type.id())
        .with_documentation(if documentation {
            e.documentation.map(str_bytes)
        } else {
            None
        })
}
