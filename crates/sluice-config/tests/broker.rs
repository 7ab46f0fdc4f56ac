//! Loading `server.properties` into a `BrokerConfig`: the embedded default, Kafka's defaults,
//! precedence rules, error messages for invalid values, unknown-key warnings, the LogConfig
//! mapping and DescribeConfigs for the broker.

use sluice_config::{
    describe_broker_config, BrokerConfig, ConfigError, ConfigSource, ConfigType, ProcessRole,
    SecurityProtocol,
};
use sluice_storage::{LogConfig, TimestampType};
use std::io::Write;
use std::path::PathBuf;

const MINIMAL: &str = "process.roles=broker,controller\nnode.id=1\n";

fn load_text(
    text: &str,
    overrides: &[(&str, &str)],
) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BrokerConfig::load(Some(file.path()), &overrides)
}

fn load_ok(text: &str) -> BrokerConfig {
    let (config, warnings) = load_text(text, &[]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    config
}

fn err(text: &str) -> String {
    load_text(text, &[]).unwrap_err().to_string()
}

#[test]
fn embedded_default_is_one_combined_node_on_localhost() {
    let (c, warnings) = BrokerConfig::load(None, &[]).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.process_roles,
        vec![ProcessRole::Broker, ProcessRole::Controller]
    );
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].listener_name, "PLAINTEXT");
    assert_eq!(c.listeners[0].host, "127.0.0.1");
    assert_eq!(c.listeners[0].port, 9092);
    assert_eq!(
        c.listeners[0].security_protocol,
        SecurityProtocol::Plaintext
    );
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.log_dirs, vec![PathBuf::from("./sluice-data")]);
    assert_eq!(c.metadata_log_dir, PathBuf::from("./sluice-data"));
    assert_eq!(c.path, None);
}

#[test]
fn kafka_defaults_apply_to_unset_keys() {
    let c = load_ok(MINIMAL);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert_eq!(c.min_insync_replicas, 1);
    assert!(c.auto_create_topics_enable && c.delete_topic_enable);
    assert!(!c.unclean_leader_election_enable);
    assert_eq!(c.log_segment_bytes, 1 << 30);
    assert_eq!(c.log_roll_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_bytes, -1);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(c.log_index_interval_bytes, 4096);
    assert_eq!(c.log_index_size_max_bytes, 10 * 1024 * 1024);
    assert_eq!(c.log_flush_interval_messages, i64::MAX);
    assert_eq!(
        c.log_flush_interval_ms,
        i64::MAX,
        "falls back to the scheduler interval"
    );
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.socket_send_buffer_bytes, 102_400);
    assert_eq!(c.num_network_threads, 3);
    assert_eq!(c.num_io_threads, 8);
    assert_eq!(c.queued_max_requests, 500);
    assert_eq!(c.log_cleanup_policy, vec!["delete".to_string()]);
    assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(c.compression_type, "producer");
    assert_eq!(c.offsets_topic_num_partitions, 50);
    assert_eq!(c.offsets_topic_replication_factor, 3);
    assert_eq!(c.transaction_state_log_num_partitions, 50);
    assert_eq!(c.transaction_state_log_replication_factor, 3);
    assert_eq!(c.transaction_state_log_min_isr, 2);
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(c.broker_rack, None);
    // Kafka's default listener: all interfaces, port 9092.
    assert_eq!(c.listeners[0].host, "0.0.0.0");
    assert_eq!(c.listeners[0].port, 9092);
    // A file without log.dirs / log.dir uses the KRaft sample directory.
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    // Keys Sluice does not type are still readable with their defaults.
    assert_eq!(c.get_i64("replica.fetch.max.bytes"), Some(1_048_576));
    assert_eq!(c.get_bool("controlled.shutdown.enable"), Some(true));
    assert_eq!(c.value("log.retention.hours").as_deref(), Some("168"));
    assert_eq!(c.value("log.retention.ms"), None);
}

#[test]
fn a_typical_kraft_server_properties() {
    let text = "\
# KRaft combined node
process.roles=broker,controller
node.id=3
controller.quorum.voters=1@host1:9093,2@host2:9093,3@host3:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://host3:9092,CONTROLLER://host3:9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
log.dirs=/data/a, /data/b
num.partitions=3
broker.rack=rack-1
";
    let c = load_ok(text);
    assert_eq!(c.node_id, 3);
    assert_eq!(c.controller_quorum_voters.len(), 3);
    assert_eq!(c.controller_quorum_voters[2].host, "host3");
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER".to_string()]);
    assert_eq!(c.listeners.len(), 2);
    // Controller listeners are not advertised to clients.
    assert_eq!(c.advertised_listeners.len(), 1);
    assert_eq!(c.advertised_listeners[0].host, "host3");
    assert_eq!(
        c.log_dirs,
        vec![PathBuf::from("/data/a"), PathBuf::from("/data/b")]
    );
    assert_eq!(c.metadata_log_dir, PathBuf::from("/data/a"));
    assert_eq!(c.num_partitions, 3);
    assert_eq!(c.broker_rack.as_deref(), Some("rack-1"));
    assert_eq!(c.get("num.partitions"), Some("3"));
    assert_eq!(c.raw().len(), 11);
}

#[test]
fn overrides_apply_last() {
    let (c, _) = load_text(
        &format!("{MINIMAL}num.partitions=3\n"),
        &[("num.partitions", "7"), ("log.dirs", "/x")],
    )
    .unwrap();
    assert_eq!(c.num_partitions, 7);
    assert_eq!(c.get("num.partitions"), Some("7"));
    assert_eq!(c.log_dirs, vec![PathBuf::from("/x")]);
    let overrides = vec![(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    )];
    let (c, _) = BrokerConfig::load(None, &overrides).unwrap();
    assert_eq!(c.listeners[0].port, 0);
}

#[test]
fn retention_and_roll_precedence() {
    let c = load_ok(&format!("{MINIMAL}log.retention.hours=1\n"));
    assert_eq!(c.log_retention_ms, 3_600_000);
    let c = load_ok(&format!(
        "{MINIMAL}log.retention.hours=1\nlog.retention.minutes=2\n"
    ));
    assert_eq!(c.log_retention_ms, 120_000);
    let c = load_ok(&format!(
        "{MINIMAL}log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=5000\n"
    ));
    assert_eq!(c.log_retention_ms, 5000);
    let c = load_ok(&format!("{MINIMAL}log.retention.ms=-1\n"));
    assert_eq!(c.log_retention_ms, -1);
    let c = load_ok(&format!("{MINIMAL}log.retention.hours=-1\n"));
    assert_eq!(c.log_retention_ms, -1);
    let c = load_ok(&format!("{MINIMAL}log.roll.hours=2\n"));
    assert_eq!(c.log_roll_ms, 7_200_000);
    let c = load_ok(&format!("{MINIMAL}log.roll.hours=2\nlog.roll.ms=10\n"));
    assert_eq!(c.log_roll_ms, 10);
    let c = load_ok(&format!("{MINIMAL}log.flush.scheduler.interval.ms=3000\n"));
    assert_eq!(c.log_flush_interval_ms, 3000);
    let c = load_ok(&format!("{MINIMAL}log.dir=/one\n"));
    assert_eq!(c.log_dirs, vec![PathBuf::from("/one")]);
    let c = load_ok(&format!("{MINIMAL}log.dir=/one\nlog.dirs=/two\n"));
    assert_eq!(c.log_dirs, vec![PathBuf::from("/two")]);
}

#[test]
fn broker_id_is_an_alias_of_node_id() {
    let c = load_ok("process.roles=broker\nbroker.id=4\n");
    assert_eq!(c.node_id, 4);
    let c = load_ok("process.roles=broker\nbroker.id=4\nnode.id=4\n");
    assert_eq!(c.node_id, 4);
    assert!(err("process.roles=broker\nbroker.id=4\nnode.id=5\n").contains("broker.id"));
    assert!(err("process.roles=broker\n").contains("node.id"));
    assert!(err("node.id=1\n").contains("process.roles"));
}

#[test]
fn invalid_values_name_key_value_and_range() {
    assert_eq!(
        err(&format!("{MINIMAL}num.partitions=-5\n")),
        "Invalid value -5 for configuration num.partitions: Value must be at least 1"
    );
    assert_eq!(
        err(&format!("{MINIMAL}num.partitions=many\n")),
        "Invalid value many for configuration num.partitions: Not a number of type INT (accepted: [1,...])"
    );
    assert_eq!(
        err(&format!("{MINIMAL}log.segment.bytes=13\n")),
        "Invalid value 13 for configuration log.segment.bytes: Value must be at least 14"
    );
    assert_eq!(
        err(&format!("{MINIMAL}auto.create.topics.enable=yes\n")),
        "Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false"
    );
    assert_eq!(
        err(&format!("{MINIMAL}log.cleanup.policy=delete,archive\n")),
        "Invalid value delete,archive for configuration log.cleanup.policy: String must be one of: compact, delete"
    );
    assert_eq!(
        err(&format!("{MINIMAL}compression.type=brotli\n")),
        "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
    );
    assert!(err(&format!("{MINIMAL}offsets.topic.replication.factor=70000\n"))
        .starts_with("Invalid value 70000 for configuration offsets.topic.replication.factor: Not a number of type SHORT"));
    let e = err(&format!("{MINIMAL}listeners=PLAINTEXT://localhost\n"));
    assert!(
        e.starts_with("Invalid value PLAINTEXT://localhost for configuration listeners: "),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}listeners=CLIENT://:9092\n"));
    assert!(
        e.contains("no security protocol defined for listener CLIENT"),
        "{e}"
    );
    let e = err(&format!(
        "{MINIMAL}advertised.listeners=PLAINTEXT://0.0.0.0:9092\n"
    ));
    assert!(e.contains("0.0.0.0"), "{e}");
    let e = err(&format!("{MINIMAL}inter.broker.listener.name=OTHER\n"));
    assert!(e.contains("inter.broker.listener.name"), "{e}");
    let e = err(&format!("{MINIMAL}controller.quorum.voters=1@host\n"));
    assert!(
        e.starts_with("Invalid value 1@host for configuration controller.quorum.voters"),
        "{e}"
    );
    let e = load_text("node.id=1\nbad=\\u00zz\n", &[]).unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
    let missing = BrokerConfig::load(
        Some(std::path::Path::new("/nonexistent/server.properties")),
        &[],
    );
    assert!(matches!(missing, Err(ConfigError::Io { .. })));
}

#[test]
fn unknown_keys_warn_and_known_unused_keys_do_not() {
    let text = format!(
        "{MINIMAL}log.retension.hours=1\nzookeeper.connect=localhost:2181\nssl.keystore.type=PKCS12\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=x\nsuper.users=User:admin\n"
    );
    let (c, warnings) = load_text(&text, &[("also.unknown", "1")]).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("'also.unknown'"));
    assert!(warnings[1].contains("'log.retension.hours'"));
    assert_eq!(
        c.get("log.retension.hours"),
        Some("1"),
        "unknown keys are kept raw"
    );
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
}

#[test]
fn log_config_maps_broker_defaults() {
    let c = load_ok(MINIMAL);
    assert_eq!(c.log_config(), LogConfig::default());
    let c = load_ok(&format!(
        "{MINIMAL}log.segment.bytes=1048576\nlog.roll.ms=1000\nlog.retention.minutes=10\n\
         log.retention.bytes=5000\nlog.index.interval.bytes=100\nlog.index.size.max.bytes=4096\n\
         log.flush.interval.messages=1\nlog.flush.interval.ms=50\nlog.segment.delete.delay.ms=0\n\
         message.max.bytes=2000\nlog.message.timestamp.type=LogAppendTime\n\
         log.cleanup.policy=compact,delete\n"
    ));
    let l = c.log_config();
    assert_eq!(l.segment_bytes, 1_048_576);
    assert_eq!(l.segment_ms, 1000);
    assert_eq!(l.retention_ms, 600_000);
    assert_eq!(l.retention_bytes, 5000);
    assert_eq!(l.index_interval_bytes, 100);
    assert_eq!(l.segment_index_bytes, 4096);
    assert_eq!(l.flush_messages, 1);
    assert_eq!(l.flush_ms, 50);
    assert_eq!(l.file_delete_delay_ms, 0);
    assert_eq!(l.max_message_bytes, 2000);
    assert_eq!(l.timestamp_type, TimestampType::LogAppendTime);
    assert!(l.cleanup_compact && l.cleanup_delete);
}

#[test]
fn describe_broker_reports_every_key_with_source_and_synonyms() {
    let c = load_ok(&format!(
        "{MINIMAL}num.partitions=4\nlog.retention.hours=24\nssl.keystore.password=secret\n"
    ));
    let entries = describe_broker_config(&c);
    let find = |n: &str| {
        entries
            .iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert!(entries.len() > 150);
    assert!(entries.windows(2).all(|w| w[0].name < w[1].name));

    let np = find("num.partitions");
    assert_eq!(np.value.as_deref(), Some("4"));
    assert_eq!(np.source, ConfigSource::StaticBrokerConfig);
    assert!(!np.is_default && np.read_only);
    assert_eq!(np.config_type, ConfigType::Int);
    assert_eq!(
        np.synonyms,
        vec![
            (
                "num.partitions".to_string(),
                Some("4".to_string()),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "num.partitions".to_string(),
                Some("1".to_string()),
                ConfigSource::DefaultConfig
            ),
        ]
    );

    let mmb = find("message.max.bytes");
    assert_eq!(mmb.value.as_deref(), Some("1048588"));
    assert_eq!(mmb.source, ConfigSource::DefaultConfig);
    assert!(mmb.is_default && !mmb.read_only);

    let hours = find("log.retention.hours");
    assert_eq!(hours.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(
        hours.synonyms,
        vec![
            (
                "log.retention.hours".to_string(),
                Some("24".to_string()),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "log.retention.hours".to_string(),
                Some("168".to_string()),
                ConfigSource::DefaultConfig
            ),
        ]
    );
    // log.retention.ms has no value of its own; Kafka reports null, DEFAULT_CONFIG, and
    // drops the lower-precedence synonyms that precede nothing named log.retention.ms.
    let ms = find("log.retention.ms");
    assert_eq!(ms.value, None);
    assert_eq!(ms.source, ConfigSource::DefaultConfig);
    assert!(ms.synonyms.is_empty());

    let pw = find("ssl.keystore.password");
    assert!(pw.sensitive);
    assert_eq!(pw.value, None);
    assert_eq!(pw.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(pw.synonyms[0].1, None);
    assert_eq!(pw.config_type, ConfigType::Password);

    assert_eq!(find("log.cleanup.policy").config_type, ConfigType::List);
    assert_eq!(
        find("log.cleaner.min.cleanable.ratio").value.as_deref(),
        Some("0.5")
    );
    assert_eq!(
        find("log.flush.scheduler.interval.ms").value.as_deref(),
        Some("9223372036854775807")
    );
    assert_eq!(ConfigSource::StaticBrokerConfig.id(), 4);
    assert_eq!(ConfigType::Password.id(), 9);
}

#[test]
fn dynamic_configs_layer_over_static_ones_in_kafkas_order() {
    use sluice_config::{describe_broker_config, validate_dynamic_broker_config, ConfigSource};
    use std::collections::BTreeMap;
    let (base, _) = BrokerConfig::load(
        None,
        &[("log.retention.hours".to_string(), "170".to_string())],
    )
    .unwrap();
    let defaults = BTreeMap::from([("log.retention.ms".to_string(), "3600000".to_string())]);
    let mine = BTreeMap::from([("log.retention.ms".to_string(), "7200000".to_string())]);
    let eff = base.with_dynamic(&defaults, &mine).unwrap();
    assert_eq!(eff.log_retention_ms, 7_200_000);
    assert_eq!(eff.log_config().retention_ms, 7_200_000);
    let entry = describe_broker_config(&eff)
        .into_iter()
        .find(|e| e.name == "log.retention.ms")
        .unwrap();
    assert_eq!(entry.source, ConfigSource::DynamicBrokerConfig);
    let sources: Vec<_> = entry.synonyms.iter().map(|s| s.2).collect();
    assert_eq!(
        sources[..3],
        [
            ConfigSource::DynamicBrokerConfig,
            ConfigSource::DynamicDefaultBrokerConfig,
            ConfigSource::StaticBrokerConfig
        ]
    );
    // Only the cluster default left: it wins over the static hours.
    let eff = base.with_dynamic(&defaults, &BTreeMap::new()).unwrap();
    assert_eq!(eff.log_retention_ms, 3_600_000);
    // Back to static.
    let eff = base
        .with_dynamic(&BTreeMap::new(), &BTreeMap::new())
        .unwrap();
    assert_eq!(eff.log_retention_ms, 170 * 3_600_000);
    assert!(validate_dynamic_broker_config("log.retention.ms", "1000").is_ok());
    assert!(validate_dynamic_broker_config("node.id", "2").is_err());
    assert!(validate_dynamic_broker_config("log.retention.ms", "abc").is_err());
}

#[test]
fn replica_fetcher_settings_are_validated_as_kafka_does() {
    let c = load_ok(MINIMAL);
    assert_eq!(c.get_i64("num.replica.fetchers"), Some(1));
    assert_eq!(c.get_i64("replica.fetch.min.bytes"), Some(1));
    assert_eq!(
        c.get_i64("replica.fetch.response.max.bytes"),
        Some(10_485_760)
    );
    assert_eq!(c.get_i64("replica.fetch.wait.max.ms"), Some(500));
    assert_eq!(c.get_i64("replica.fetch.backoff.ms"), Some(1000));
    assert_eq!(c.get_i64("replica.socket.timeout.ms"), Some(30_000));
    assert_eq!(
        c.get_i64("replica.socket.receive.buffer.bytes"),
        Some(65_536)
    );
    let c = load_ok(&format!("{MINIMAL}num.replica.fetchers=4\n"));
    assert_eq!(c.get_i64("num.replica.fetchers"), Some(4));
    assert_eq!(
        err(&format!("{MINIMAL}num.replica.fetchers=0\n")),
        "Invalid value 0 for configuration num.replica.fetchers: Value must be at least 1"
    );
    // Kafka's cross-key requirements.
    assert_eq!(
        err(&format!(
            "{MINIMAL}replica.fetch.wait.max.ms=5000\nreplica.socket.timeout.ms=4000\n"
        )),
        "Invalid value 4000 for configuration replica.socket.timeout.ms: replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts"
    );
    assert_eq!(
        err(&format!(
            "{MINIMAL}replica.fetch.wait.max.ms=3000\nreplica.lag.time.max.ms=2000\n"
        )),
        "Invalid value 3000 for configuration replica.fetch.wait.max.ms: replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR"
    );
    load_ok(&format!(
        "{MINIMAL}replica.fetch.wait.max.ms=2000\nreplica.lag.time.max.ms=2000\nreplica.socket.timeout.ms=2000\n"
    ));
    // Dynamically alterable (per broker or cluster-wide), at least 1.
    use sluice_config::validate_dynamic_broker_config;
    assert!(validate_dynamic_broker_config("num.replica.fetchers", "3").is_ok());
    assert!(validate_dynamic_broker_config("num.replica.fetchers", "0").is_err());
    assert!(validate_dynamic_broker_config("replica.fetch.max.bytes", "10").is_err());
    let base = load_ok(MINIMAL);
    let defaults =
        std::collections::BTreeMap::from([("num.replica.fetchers".to_string(), "2".to_string())]);
    let eff = base
        .with_dynamic(&defaults, &std::collections::BTreeMap::new())
        .unwrap();
    assert_eq!(eff.get_i64("num.replica.fetchers"), Some(2));
}
