// A small program on Apache kafka-clients (3.x) driven by compat/test_java_client.py.
//
// Every mode prints one result per line, tab-separated, so the Python test can check the
// broker's answers; an unexpected exception prints its stack trace and exits 1.
//
//   admin   BOOTSTRAP TOPIC PARTITIONS            AdminClient createTopics (+ duplicate),
//                                                 describeTopics (+ unknown topic),
//                                                 listTopics, describeCluster, describeConfigs
//   produce BOOTSTRAP TOPIC COUNT TAG [K=V ...]   KafkaProducer with the client's defaults
//                                                 (enable.idempotence=true, acks=all) unless
//                                                 K=V overrides are given; keyed records
//   consume BOOTSTRAP TOPIC GROUP COUNT TIMEOUT_MS [K=V ...]
//                                                 KafkaConsumer in a group (subscribe), reads
//                                                 COUNT records, commitSync, committed()
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class SluiceJavaClient {
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            usage();
        }
        switch (args[0]) {
            case "admin":
                if (args.length != 4) usage();
                admin(args[1], args[2], Integer.parseInt(args[3]));
                break;
            case "produce":
                if (args.length < 5) usage();
                produce(args[1], args[2], Integer.parseInt(args[3]), args[4], overrides(args, 5));
                break;
            case "consume":
                if (args.length < 6) usage();
                consume(args[1], args[2], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]), overrides(args, 6));
                break;
            default:
                usage();
        }
    }

    /** K=V arguments from index `from` on, as client properties. */
    private static Properties overrides(String[] args, int from) {
        Properties p = new Properties();
        for (int i = from; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) usage();
            p.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        return p;
    }

    private static void usage() {
        System.err.println("usage: SluiceJavaClient admin BOOTSTRAP TOPIC PARTITIONS");
        System.err.println("       SluiceJavaClient produce BOOTSTRAP TOPIC COUNT TAG [K=V ...]");
        System.err.println("       SluiceJavaClient consume BOOTSTRAP TOPIC GROUP COUNT TIMEOUT_MS [K=V ...]");
        System.exit(2);
    }

    private static void out(Object... fields) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            if (i > 0) sb.append('\t');
            sb.append(fields[i]);
        }
        System.out.println(sb);
    }

    /** The simple class name of the cause of a failed admin future, or "none" when it succeeded. */
    private static String failure(Future<?> f) throws InterruptedException {
        try {
            f.get();
            return "none";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        }
    }

    private static void admin(String bootstrap, String topic, int partitions) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "sluice-compat-java-admin");
        try (Admin admin = Admin.create(props)) {
            NewTopic nt = new NewTopic(topic, partitions, (short) 1).configs(Map.of("retention.ms", "3600000"));
            admin.createTopics(List.of(nt)).all().get();
            out("CREATED", topic);
            out("DUPLICATE", failure(admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all()));

            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            out("TOPIC", d.name(), d.isInternal(), d.partitions().size(), d.topicId());
            for (TopicPartitionInfo p : d.partitions()) {
                out("PARTITION", p.partition(), p.leader() == null ? -1 : p.leader().id(), ids(p.replicas()), ids(p.isr()));
            }
            String missing = topic + "-does-not-exist";
            out("UNKNOWN", failure(admin.describeTopics(List.of(missing)).allTopicNames()));

            Set<String> names = admin.listTopics().names().get();
            out("LISTED", names.contains(topic), names.contains(missing));

            DescribeClusterResult c = admin.describeCluster();
            out("CLUSTER", c.clusterId().get(), c.controller().get().id());
            for (Node n : c.nodes().get()) {
                out("NODE", n.id(), n.host(), n.port());
            }

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
            ConfigEntry e = cfg.get("retention.ms");
            out("CONFIG", "retention.ms", e == null ? "null" : e.value(), e == null ? "null" : e.source());
            ConfigEntry cp = cfg.get("cleanup.policy");
            out("CONFIG", "cleanup.policy", cp == null ? "null" : cp.value(), cp == null ? "null" : cp.source());
        }
    }

    private static String ids(List<Node> nodes) {
        List<String> out = new ArrayList<>();
        for (Node n : nodes) out.add(Integer.toString(n.id()));
        return String.join(",", out);
    }

    private static void produce(String bootstrap, String topic, int count, String tag, Properties overrides)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "sluice-compat-java-producer");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.putAll(overrides);
        List<Future<RecordMetadata>> acks = new ArrayList<>(count);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                ProducerRecord<String, String> r =
                        new ProducerRecord<>(topic, "key-" + (i % 17), tag + "-value-" + i);
                r.headers().add("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                acks.add(producer.send(r));
            }
            producer.flush();
            for (int i = 0; i < count; i++) {
                RecordMetadata m = acks.get(i).get();
                out("ACK", i, m.partition(), m.offset());
            }
        }
    }

    private static void consume(
            String bootstrap, String topic, String group, int count, long timeoutMs, Properties overrides) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "sluice-compat-java-consumer");
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.putAll(overrides);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(Collections.singletonList(topic));
            long deadline = System.currentTimeMillis() + timeoutMs;
            int got = 0;
            while (got < count) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    out("TIMEOUT", got);
                    System.exit(3);
                }
                ConsumerRecords<String, String> recs = consumer.poll(Duration.ofMillis(Math.min(left, 500)));
                for (ConsumerRecord<String, String> r : recs) {
                    Header h = r.headers().lastHeader("idx");
                    String idx = h == null ? "null" : new String(h.value(), StandardCharsets.UTF_8);
                    out("REC", r.partition(), r.offset(), r.key(), r.value(), idx, r.leaderEpoch().orElse(-1));
                    got++;
                }
            }
            consumer.commitSync();
            Set<TopicPartition> assigned = consumer.assignment();
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
            for (TopicPartition tp : assigned) {
                OffsetAndMetadata om = committed.get(tp);
                out("COMMITTED", tp.partition(), om == null ? -1 : om.offset(), consumer.position(tp));
            }
        }
    }
}
