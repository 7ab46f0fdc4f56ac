//! The table of broker config keys Sluice accepts: Kafka's name, type, default (as Kafka 3.9
//! prints it) and validator, plus whether Kafka can reconfigure it at runtime. Keys listed
//! here are accepted without a warning even where Sluice does not act on them yet. Data only.

use crate::def::ConfigType::String as Str;
use crate::def::ConfigType::{Boolean, Class, Double, Int, List, Long, Password, Short};
use crate::def::Validator::{
    AtLeast, Between, BetweenF, ListOf, MinusOneOrBetween, None as Any, OneOf,
};
use crate::def::{ConfigDef, Validator};

const fn d(
    name: &'static str,
    ty: crate::def::ConfigType,
    default: Option<&'static str>,
    validator: Validator,
) -> ConfigDef {
    ConfigDef::new(name, ty, default, validator)
}

pub(crate) const INT_MAX: &str = "2147483647";
pub(crate) const LONG_MAX: &str = "9223372036854775807";
pub(crate) const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Keys accepted silently that are not broker configs Kafka describes (authorizer and
/// bootstrap settings), and prefixes of per-listener overrides.
pub(crate) const ACCEPTED_EXTRA: &[&str] = &[
    "cluster.id",
    "super.users",
    "allow.everyone.if.no.acl.found",
];
pub(crate) const ACCEPTED_PREFIXES: &[&str] = &["listener.name."];

/// Sorted by name.
pub(crate) static BROKER_DEFS: &[ConfigDef] = &[
    d("advertised.listeners", Str, None, Any).dynamic(),
    d("authorizer.class.name", Str, Some(""), Any),
    d("auto.create.topics.enable", Boolean, Some("true"), Any),
    d("auto.leader.rebalance.enable", Boolean, Some("true"), Any),
    d("background.threads", Int, Some("10"), AtLeast(1)).dynamic(),
    d("broker.heartbeat.interval.ms", Int, Some("2000"), Any),
    d("broker.id", Int, Some("-1"), Any),
    d("broker.id.generation.enable", Boolean, Some("true"), Any),
    d("broker.rack", Str, None, Any),
    d("broker.session.timeout.ms", Int, Some("9000"), Any),
    d(
        "compression.gzip.level",
        Int,
        Some("-1"),
        MinusOneOrBetween(1, 9),
    )
    .dynamic(),
    d("compression.lz4.level", Int, Some("9"), Between(1, 17)).dynamic(),
    d(
        "compression.type",
        Str,
        Some("producer"),
        OneOf(COMPRESSION_TYPES),
    )
    .dynamic(),
    d(
        "compression.zstd.level",
        Int,
        Some("3"),
        Between(-131072, 22),
    )
    .dynamic(),
    d("connections.max.idle.ms", Long, Some("600000"), Any),
    d("connections.max.reauth.ms", Long, Some("0"), Any),
    d("controlled.shutdown.enable", Boolean, Some("true"), Any),
    d("controlled.shutdown.max.retries", Int, Some("3"), Any),
    d(
        "controlled.shutdown.retry.backoff.ms",
        Long,
        Some("5000"),
        Any,
    ),
    d("controller.listener.names", Str, None, Any),
    d("controller.quorum.append.linger.ms", Int, Some("25"), Any),
    d("controller.quorum.bootstrap.servers", List, Some(""), Any),
    d(
        "controller.quorum.election.backoff.max.ms",
        Int,
        Some("1000"),
        Any,
    ),
    d(
        "controller.quorum.election.timeout.ms",
        Int,
        Some("1000"),
        Any,
    ),
    d("controller.quorum.fetch.timeout.ms", Int, Some("2000"), Any),
    d(
        "controller.quorum.request.timeout.ms",
        Int,
        Some("2000"),
        Any,
    ),
    d("controller.quorum.retry.backoff.ms", Int, Some("20"), Any),
    d("controller.quorum.voters", List, Some(""), Any),
    d("controller.socket.timeout.ms", Int, Some("30000"), Any),
    d("default.replication.factor", Int, Some("1"), AtLeast(1)),
    d(
        "delete.records.purgatory.purge.interval.requests",
        Int,
        Some("1"),
        Any,
    ),
    d("delete.topic.enable", Boolean, Some("true"), Any),
    d("early.start.listeners", Str, None, Any),
    d("fetch.max.bytes", Int, Some("57671680"), AtLeast(1024)),
    d(
        "fetch.purgatory.purge.interval.requests",
        Int,
        Some("1000"),
        Any,
    ),
    d(
        "group.consumer.assignors",
        List,
        Some("uniform,range"),
        ListOf(&["uniform", "range"]),
    ),
    d(
        "group.consumer.heartbeat.interval.ms",
        Int,
        Some("5000"),
        AtLeast(1),
    ),
    d("group.consumer.max.size", Int, Some(INT_MAX), AtLeast(1)),
    d(
        "group.consumer.session.timeout.ms",
        Int,
        Some("45000"),
        AtLeast(1),
    ),
    d(
        "group.coordinator.rebalance.protocols",
        List,
        Some("classic,consumer"),
        ListOf(&["classic", "consumer"]),
    ),
    d("group.coordinator.threads", Int, Some("1"), AtLeast(1)),
    d("group.initial.rebalance.delay.ms", Int, Some("3000"), Any),
    d("group.max.session.timeout.ms", Int, Some("1800000"), Any),
    d("group.max.size", Int, Some(INT_MAX), AtLeast(1)),
    d("group.min.session.timeout.ms", Int, Some("6000"), Any),
    d(
        "initial.broker.registration.timeout.ms",
        Int,
        Some("60000"),
        Any,
    ),
    d("inter.broker.listener.name", Str, None, Any),
    d("inter.broker.protocol.version", Str, None, Any),
    d(
        "leader.imbalance.check.interval.seconds",
        Long,
        Some("300"),
        AtLeast(1),
    ),
    d(
        "leader.imbalance.per.broker.percentage",
        Int,
        Some("10"),
        Any,
    ),
    d(
        "listener.security.protocol.map",
        Str,
        Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"),
        Any,
    )
    .dynamic(),
    d("listeners", Str, Some("PLAINTEXT://:9092"), Any).dynamic(),
    d("log.cleaner.backoff.ms", Long, Some("15000"), AtLeast(0)).dynamic(),
    d(
        "log.cleaner.dedupe.buffer.size",
        Long,
        Some("134217728"),
        Any,
    )
    .dynamic(),
    d(
        "log.cleaner.delete.retention.ms",
        Long,
        Some("86400000"),
        AtLeast(0),
    )
    .dynamic(),
    d("log.cleaner.enable", Boolean, Some("true"), Any),
    d(
        "log.cleaner.io.buffer.load.factor",
        Double,
        Some("0.9"),
        Any,
    )
    .dynamic(),
    d(
        "log.cleaner.io.buffer.size",
        Int,
        Some("524288"),
        AtLeast(0),
    )
    .dynamic(),
    d(
        "log.cleaner.io.max.bytes.per.second",
        Double,
        Some("1.7976931348623157E308"),
        Any,
    )
    .dynamic(),
    d(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        Some(LONG_MAX),
        AtLeast(1),
    )
    .dynamic(),
    d(
        "log.cleaner.min.cleanable.ratio",
        Double,
        Some("0.5"),
        BetweenF(0.0, 1.0),
    )
    .dynamic(),
    d(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        Some("0"),
        AtLeast(0),
    )
    .dynamic(),
    d("log.cleaner.threads", Int, Some("1"), AtLeast(0)).dynamic(),
    d(
        "log.cleanup.policy",
        List,
        Some("delete"),
        ListOf(CLEANUP_POLICIES),
    )
    .dynamic(),
    d("log.dir", Str, Some("/tmp/kafka-logs"), Any),
    d("log.dirs", Str, None, Any),
    d(
        "log.flush.interval.messages",
        Long,
        Some(LONG_MAX),
        AtLeast(1),
    )
    .dynamic(),
    d("log.flush.interval.ms", Long, None, Any).dynamic(),
    d(
        "log.flush.offset.checkpoint.interval.ms",
        Int,
        Some("60000"),
        AtLeast(0),
    ),
    d("log.flush.scheduler.interval.ms", Long, Some(LONG_MAX), Any),
    d(
        "log.flush.start.offset.checkpoint.interval.ms",
        Int,
        Some("60000"),
        AtLeast(0),
    ),
    d("log.index.interval.bytes", Int, Some("4096"), AtLeast(0)).dynamic(),
    d(
        "log.index.size.max.bytes",
        Int,
        Some("10485760"),
        AtLeast(4),
    )
    .dynamic(),
    d("log.initial.task.delay.ms", Long, Some("30000"), AtLeast(0)),
    d("log.local.retention.bytes", Long, Some("-2"), AtLeast(-2)).dynamic(),
    d("log.local.retention.ms", Long, Some("-2"), AtLeast(-2)).dynamic(),
    d(
        "log.message.downconversion.enable",
        Boolean,
        Some("true"),
        Any,
    )
    .dynamic(),
    d(
        "log.message.timestamp.after.max.ms",
        Long,
        Some(LONG_MAX),
        AtLeast(0),
    )
    .dynamic(),
    d(
        "log.message.timestamp.before.max.ms",
        Long,
        Some(LONG_MAX),
        AtLeast(0),
    )
    .dynamic(),
    d(
        "log.message.timestamp.type",
        Str,
        Some("CreateTime"),
        OneOf(TIMESTAMP_TYPES),
    )
    .dynamic(),
    d("log.preallocate", Boolean, Some("false"), Any).dynamic(),
    d("log.retention.bytes", Long, Some("-1"), Any).dynamic(),
    d(
        "log.retention.check.interval.ms",
        Long,
        Some("300000"),
        AtLeast(1),
    ),
    d("log.retention.hours", Int, Some("168"), Any),
    d("log.retention.minutes", Int, None, Any),
    d("log.retention.ms", Long, None, Any).dynamic(),
    d("log.roll.hours", Int, Some("168"), AtLeast(1)),
    d("log.roll.jitter.hours", Int, Some("0"), AtLeast(0)),
    d("log.roll.jitter.ms", Long, None, Any).dynamic(),
    d("log.roll.ms", Long, None, Any).dynamic(),
    d("log.segment.bytes", Int, Some("1073741824"), AtLeast(14)).dynamic(),
    d(
        "log.segment.delete.delay.ms",
        Long,
        Some("60000"),
        AtLeast(0),
    )
    .dynamic(),
    d(
        "max.connection.creation.rate",
        Int,
        Some(INT_MAX),
        AtLeast(0),
    )
    .dynamic(),
    d("max.connections", Int, Some(INT_MAX), AtLeast(0)).dynamic(),
    d("max.connections.per.ip", Int, Some(INT_MAX), AtLeast(0)).dynamic(),
    d("max.connections.per.ip.overrides", Str, Some(""), Any).dynamic(),
    d(
        "max.incremental.fetch.session.cache.slots",
        Int,
        Some("1000"),
        AtLeast(0),
    ),
    d("message.max.bytes", Int, Some("1048588"), AtLeast(0)).dynamic(),
    d("metadata.log.dir", Str, None, Any),
    d(
        "metadata.log.max.record.bytes.between.snapshots",
        Long,
        Some("20971520"),
        AtLeast(1),
    ),
    d(
        "metadata.log.max.snapshot.interval.ms",
        Long,
        Some("3600000"),
        AtLeast(0),
    ),
    d(
        "metadata.log.segment.bytes",
        Int,
        Some("1073741824"),
        AtLeast(12),
    ),
    d("metadata.log.segment.ms", Long, Some("604800000"), Any),
    d(
        "metadata.max.idle.interval.ms",
        Int,
        Some("500"),
        AtLeast(0),
    ),
    d("metadata.max.retention.bytes", Long, Some("104857600"), Any),
    d("metadata.max.retention.ms", Long, Some("604800000"), Any),
    d("metric.reporters", List, Some(""), Any).dynamic(),
    d("metrics.num.samples", Int, Some("2"), AtLeast(1)),
    d(
        "metrics.recording.level",
        Str,
        Some("INFO"),
        OneOf(&["INFO", "DEBUG", "TRACE"]),
    ),
    d("metrics.sample.window.ms", Long, Some("30000"), AtLeast(1)),
    d("min.insync.replicas", Int, Some("1"), AtLeast(1)).dynamic(),
    d("node.id", Int, Some("-1"), Any),
    d("num.io.threads", Int, Some("8"), AtLeast(1)).dynamic(),
    d("num.network.threads", Int, Some("3"), AtLeast(1)).dynamic(),
    d("num.partitions", Int, Some("1"), AtLeast(1)),
    d(
        "num.recovery.threads.per.data.dir",
        Int,
        Some("1"),
        AtLeast(1),
    )
    .dynamic(),
    d("num.replica.alter.log.dirs.threads", Int, None, Any),
    d("num.replica.fetchers", Int, Some("1"), AtLeast(1)).dynamic(),
    d("offset.metadata.max.bytes", Int, Some("4096"), Any),
    d("offsets.commit.timeout.ms", Int, Some("5000"), AtLeast(1)),
    d("offsets.load.buffer.size", Int, Some("5242880"), AtLeast(1)),
    d(
        "offsets.retention.check.interval.ms",
        Long,
        Some("600000"),
        AtLeast(1),
    ),
    d("offsets.retention.minutes", Int, Some("10080"), AtLeast(1)),
    d("offsets.topic.compression.codec", Int, Some("0"), Any),
    d("offsets.topic.num.partitions", Int, Some("50"), AtLeast(1)),
    d(
        "offsets.topic.replication.factor",
        Short,
        Some("3"),
        AtLeast(1),
    ),
    d(
        "offsets.topic.segment.bytes",
        Int,
        Some("104857600"),
        AtLeast(1),
    ),
    d(
        "principal.builder.class",
        Class,
        Some("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"),
        Any,
    ),
    d(
        "process.roles",
        List,
        Some(""),
        ListOf(&["broker", "controller"]),
    ),
    d(
        "producer.id.expiration.check.interval.ms",
        Int,
        Some("600000"),
        AtLeast(1),
    ),
    d(
        "producer.id.expiration.ms",
        Int,
        Some("86400000"),
        AtLeast(1),
    )
    .dynamic(),
    d(
        "producer.purgatory.purge.interval.requests",
        Int,
        Some("1000"),
        Any,
    ),
    d("queued.max.request.bytes", Long, Some("-1"), Any),
    d("queued.max.requests", Int, Some("500"), AtLeast(1)),
    d("quota.window.num", Int, Some("11"), AtLeast(1)),
    d("quota.window.size.seconds", Int, Some("1"), AtLeast(1)),
    d(
        "remote.log.storage.system.enable",
        Boolean,
        Some("false"),
        Any,
    ),
    d("replica.fetch.backoff.ms", Int, Some("1000"), AtLeast(0)),
    d("replica.fetch.max.bytes", Int, Some("1048576"), AtLeast(0)),
    d("replica.fetch.min.bytes", Int, Some("1"), Any),
    d(
        "replica.fetch.response.max.bytes",
        Int,
        Some("10485760"),
        AtLeast(0),
    ),
    d("replica.fetch.wait.max.ms", Int, Some("500"), Any),
    d(
        "replica.high.watermark.checkpoint.interval.ms",
        Long,
        Some("5000"),
        Any,
    ),
    d("replica.lag.time.max.ms", Long, Some("30000"), Any),
    d("replica.selector.class", Str, None, Any),
    d(
        "replica.socket.receive.buffer.bytes",
        Int,
        Some("65536"),
        Any,
    ),
    d("replica.socket.timeout.ms", Int, Some("30000"), Any),
    d("request.timeout.ms", Int, Some("30000"), Any),
    d("reserved.broker.max.id", Int, Some("1000"), AtLeast(0)),
    d("sasl.enabled.mechanisms", List, Some("GSSAPI"), Any).dynamic(),
    d("sasl.jaas.config", Password, None, Any).dynamic(),
    d("sasl.kerberos.service.name", Str, None, Any).dynamic(),
    d(
        "sasl.mechanism.controller.protocol",
        Str,
        Some("GSSAPI"),
        Any,
    ),
    d(
        "sasl.mechanism.inter.broker.protocol",
        Str,
        Some("GSSAPI"),
        Any,
    )
    .dynamic(),
    d(
        "security.inter.broker.protocol",
        Str,
        Some("PLAINTEXT"),
        OneOf(PROTOCOLS),
    ),
    d(
        "socket.connection.setup.timeout.max.ms",
        Long,
        Some("30000"),
        Any,
    ),
    d(
        "socket.connection.setup.timeout.ms",
        Long,
        Some("10000"),
        Any,
    ),
    d("socket.listen.backlog.size", Int, Some("50"), AtLeast(1)),
    d("socket.receive.buffer.bytes", Int, Some("102400"), Any),
    d(
        "socket.request.max.bytes",
        Int,
        Some("104857600"),
        AtLeast(1),
    ),
    d("socket.send.buffer.bytes", Int, Some("102400"), Any),
    d(
        "ssl.client.auth",
        Str,
        Some("none"),
        OneOf(&["required", "requested", "none"]),
    )
    .dynamic(),
    d("ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"), Any).dynamic(),
    d(
        "ssl.endpoint.identification.algorithm",
        Str,
        Some("https"),
        Any,
    )
    .dynamic(),
    d("ssl.key.password", Password, None, Any).dynamic(),
    d("ssl.keystore.certificate.chain", Password, None, Any).dynamic(),
    d("ssl.keystore.key", Password, None, Any).dynamic(),
    d("ssl.keystore.location", Str, None, Any).dynamic(),
    d("ssl.keystore.password", Password, None, Any).dynamic(),
    d("ssl.keystore.type", Str, Some("JKS"), Any).dynamic(),
    d("ssl.protocol", Str, Some("TLSv1.3"), Any).dynamic(),
    d("ssl.truststore.certificates", Password, None, Any).dynamic(),
    d("ssl.truststore.location", Str, None, Any).dynamic(),
    d("ssl.truststore.password", Password, None, Any).dynamic(),
    d("ssl.truststore.type", Str, Some("JKS"), Any).dynamic(),
    d(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Int,
        Some("10000"),
        AtLeast(1),
    ),
    d(
        "transaction.max.timeout.ms",
        Int,
        Some("900000"),
        AtLeast(1),
    ),
    d(
        "transaction.partition.verification.enable",
        Boolean,
        Some("true"),
        Any,
    )
    .dynamic(),
    d(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Int,
        Some("3600000"),
        AtLeast(1),
    ),
    d(
        "transaction.state.log.load.buffer.size",
        Int,
        Some("5242880"),
        AtLeast(1),
    ),
    d("transaction.state.log.min.isr", Int, Some("2"), AtLeast(1)),
    d(
        "transaction.state.log.num.partitions",
        Int,
        Some("50"),
        AtLeast(1),
    ),
    d(
        "transaction.state.log.replication.factor",
        Short,
        Some("3"),
        AtLeast(1),
    ),
    d(
        "transaction.state.log.segment.bytes",
        Int,
        Some("104857600"),
        AtLeast(1),
    ),
    d(
        "transactional.id.expiration.ms",
        Int,
        Some("604800000"),
        AtLeast(1),
    ),
    d(
        "unclean.leader.election.enable",
        Boolean,
        Some("false"),
        Any,
    )
    .dynamic(),
    d("zookeeper.connect", Str, None, Any),
];

/// The definition of a broker key, if Kafka has one.
pub(crate) fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_DEFS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .and_then(|i| BROKER_DEFS.get(i))
}

/// Kafka's `brokerConfigSynonyms`: the keys that together decide one broker setting, highest
/// precedence first.
pub(crate) fn broker_synonyms(name: &str) -> &'static [&'static str] {
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    match name {
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        "log.roll.ms" | "log.roll.hours" => ROLL,
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => JITTER,
        "log.flush.interval.ms" => FLUSH,
        _ => match broker_def(name) {
            Some(def) => std::slice::from_ref(&def.name),
            None => &[],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_defaults_parse() {
        for pair in BROKER_DEFS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} out of order", pair[1].name);
        }
        for def in BROKER_DEFS {
            def.default_value()
                .unwrap_or_else(|e| panic!("default of {}: {e}", def.name));
        }
        assert!(broker_def("num.partitions").is_some());
        assert!(broker_def("nope").is_none());
    }
}
