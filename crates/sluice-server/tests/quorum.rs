//! The metadata quorum seen from outside: DescribeQuorum on a 3-voter cluster (voters,
//! leader, epoch, a new leader and epoch after the leader is killed), and a mixed cluster with
//! a controller-only voter and a broker-only node that follows the log as a learner (an
//! observer), found through `controller.quorum.bootstrap.servers`: it hosts replicas of a
//! topic created after it joined, and serves produce and fetch. Plus the configurations that
//! are refused with a message. In-process nodes on 127.0.0.1.

use std::time::Duration;

use sluice_client::quorum::{describe_quorum, QuorumInfo};
use sluice_client::{Client, Connection, NewTopic, ProduceOptions};
use sluice_config::BrokerConfig;
use sluice_server::Node;

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use cluster_common::{eventually, free_port, read_values, records, DEADLINE};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// process.roles=broker,controller, a voter.
    Combined,
    /// process.roles=controller, a voter.
    Controller,
    /// process.roles=broker with controller.quorum.voters.
    Broker,
    /// process.roles=broker with controller.quorum.bootstrap.servers only.
    BrokerViaBootstrap,
}

impl Role {
    fn voter(self) -> bool {
        matches!(self, Role::Combined | Role::Controller)
    }
}

struct Cluster {
    roles: Vec<Role>,
    dirs: Vec<tempfile::TempDir>,
    /// (client port, controller port) of every node.
    ports: Vec<(u16, u16)>,
    nodes: Vec<Option<Node>>,
}

fn config(id: usize, roles: &[Role], ports: &[(u16, u16)], dir: &std::path::Path) -> BrokerConfig {
    let role = roles[id];
    let voters: Vec<String> = roles
        .iter()
        .zip(ports)
        .enumerate()
        .filter(|(_, (r, _))| r.voter())
        .map(|(i, (_, (_, c)))| format!("{}@127.0.0.1:{c}", i + 1))
        .collect();
    let bootstrap: Vec<String> = roles
        .iter()
        .zip(ports)
        .filter(|(r, _)| r.voter())
        .map(|(_, (_, c))| format!("127.0.0.1:{c}"))
        .collect();
    let (client, controller) = ports[id];
    let (process_roles, listeners) = match role {
        Role::Combined => (
            "broker,controller",
            format!("PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"),
        ),
        Role::Controller => ("controller", format!("CONTROLLER://127.0.0.1:{controller}")),
        Role::Broker | Role::BrokerViaBootstrap => {
            ("broker", format!("PLAINTEXT://127.0.0.1:{client}"))
        }
    };
    let mut pairs: Vec<(String, String)> = [
        ("node.id", (id + 1).to_string()),
        ("process.roles", process_roles.into()),
        ("listeners", listeners),
        ("controller.listener.names", "CONTROLLER".into()),
        ("log.dirs", dir.display().to_string()),
        ("controller.quorum.election.timeout.ms", "500".into()),
        ("broker.heartbeat.interval.ms", "200".into()),
        ("broker.session.timeout.ms", "2000".into()),
        ("replica.lag.time.max.ms", "2000".into()),
        ("replica.fetch.wait.max.ms", "100".into()),
        ("replica.fetch.backoff.ms", "100".into()),
        ("group.initial.rebalance.delay.ms", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if role == Role::BrokerViaBootstrap {
        pairs.push((
            "controller.quorum.bootstrap.servers".into(),
            bootstrap.join(","),
        ));
    } else {
        pairs.push(("controller.quorum.voters".into(), voters.join(",")));
    }
    BrokerConfig::load(None, &pairs).expect("config").0
}

impl Cluster {
    async fn start(roles: &[Role]) -> Cluster {
        let dirs: Vec<_> = roles.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let ports: Vec<(u16, u16)> = roles.iter().map(|_| (free_port(), free_port())).collect();
        let mut handles = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let c = config(i, roles, &ports, d.path());
            handles.push(tokio::spawn(async move { Node::start(c).await }));
        }
        let mut nodes = Vec::new();
        for h in handles {
            let node = tokio::time::timeout(DEADLINE, h)
                .await
                .expect("cluster starts in time")
                .unwrap()
                .expect("node starts");
            nodes.push(Some(node));
        }
        Cluster {
            roles: roles.to_vec(),
            dirs,
            ports,
            nodes,
        }
    }

    fn node(&self, id: i32) -> &Node {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("node running")
    }

    /// Client listeners of the running brokers.
    fn brokers_bootstrap(&self) -> String {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.bootstrap())
            .filter(|b| !b.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn controller_addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.ports[(id - 1) as usize].1)
    }

    async fn kill(&mut self, id: i32) {
        let node = self.nodes[(id - 1) as usize].take().expect("running");
        node.kill().await;
    }

    async fn restart(&mut self, id: i32) {
        let i = (id - 1) as usize;
        let c = config(i, &self.roles, &self.ports, self.dirs[i].path());
        let node = tokio::time::timeout(DEADLINE, Node::start(c))
            .await
            .expect("restart in time")
            .expect("node restarts");
        self.nodes[i] = Some(node);
    }

    async fn shutdown(mut self) {
        let mut handles = Vec::new();
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            handles.push(tokio::spawn(async move { n.shutdown().await }));
        }
        for h in handles {
            let _ = tokio::time::timeout(DEADLINE, h).await;
        }
    }
}

/// Polls `f` until it returns Some, failing the test after DEADLINE.
async fn quorum_via(addr: &str) -> Option<QuorumInfo> {
    let conn = Connection::connect(addr, "quorum-test", Duration::from_secs(5))
        .await
        .ok()?;
    describe_quorum(&conn).await.ok()
}

fn ids(replicas: &[sluice_client::quorum::QuorumReplica]) -> Vec<i32> {
    replicas.iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn describe_quorum_reports_voters_leader_and_a_new_epoch_after_failover() {
    let mut cluster = Cluster::start(&[Role::Combined; 3]).await;
    let raft_leader = cluster.node(1).broker().quorum.leader().expect("a leader") as i32;
    let term = cluster.node(raft_leader).broker().quorum.status().term as i32;
    // Through a broker that is not the leader (forwarded) and on a controller listener.
    let follower = if raft_leader == 1 { 2 } else { 1 };
    let bootstrap = cluster.node(follower).bootstrap();
    let info = eventually("every voter caught up", || {
        let bootstrap = bootstrap.clone();
        async move {
            let q = quorum_via(&bootstrap).await?;
            q.voters
                .iter()
                .all(|v| {
                    v.log_end_offset == q.high_watermark
                        && v.last_fetch_timestamp.is_some()
                        && v.last_caught_up_timestamp.is_some()
                })
                .then_some(q)
        }
    })
    .await;
    assert_eq!(info.leader_id, raft_leader, "{info:?}");
    assert!(info.leader_epoch >= term && term >= 1, "{info:?}");
    assert_eq!(ids(&info.voters), vec![1, 2, 3], "{info:?}");
    assert!(info.observers.is_empty(), "{info:?}");
    assert!(info.high_watermark > 0, "{info:?}");
    // v2: every voter's controller endpoint.
    for (id, (_, c)) in cluster.ports.iter().enumerate() {
        assert_eq!(
            info.endpoints.get(&(id as i32 + 1)),
            Some(&vec![format!("CONTROLLER://127.0.0.1:{c}")]),
            "{info:?}"
        );
    }
    let via_controller = quorum_via(&cluster.controller_addr(follower))
        .await
        .expect("DescribeQuorum on a controller listener");
    assert_eq!(via_controller.leader_id, raft_leader);

    // A wrong partition is refused with UNKNOWN_TOPIC_OR_PARTITION.
    {
        use sluice_protocol::kafka_protocol::messages::describe_quorum_request::{
            PartitionData, TopicData,
        };
        use sluice_protocol::kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
        use sluice_protocol::kafka_protocol::protocol::StrBytes;
        let conn = Connection::connect(&bootstrap, "t", Duration::from_secs(5))
            .await
            .unwrap();
        let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(1)])]);
        let resp = conn.send_at(&req, 1).await.unwrap();
        assert_eq!(resp.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    }

    // Kill the leader: the survivors report a new leader in a later epoch.
    cluster.kill(raft_leader).await;
    let survivor = if raft_leader == 3 { 2 } else { 3 };
    let bootstrap = cluster.node(survivor).bootstrap();
    let after = eventually("a new leader reported", || {
        let bootstrap = bootstrap.clone();
        async move {
            let q = quorum_via(&bootstrap).await?;
            (q.leader_id >= 0 && q.leader_id != raft_leader).then_some(q)
        }
    })
    .await;
    assert!(
        after.leader_epoch > info.leader_epoch,
        "{after:?} vs {info:?}"
    );
    assert_eq!(ids(&after.voters), vec![1, 2, 3], "{after:?}");
    let dead = after.voters.iter().find(|v| v.id == raft_leader).unwrap();
    assert!(
        dead.log_end_offset < after.high_watermark,
        "the dead voter lags: {after:?}"
    );
    // It comes back and catches up.
    cluster.restart(raft_leader).await;
    eventually("the old leader catches up", || {
        let bootstrap = bootstrap.clone();
        async move {
            let q = quorum_via(&bootstrap).await?;
            q.voters
                .iter()
                .all(|v| v.log_end_offset == q.high_watermark)
                .then_some(())
        }
    })
    .await;
    cluster.shutdown().await;
}

/// Voters 1, 2 (broker+controller) and 3 (controller only); nodes 4 and 5 are broker-only:
/// node 4 finds the controllers through `controller.quorum.bootstrap.servers`, node 5 through
/// `controller.quorum.voters`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_only_node_follows_the_log_and_hosts_replicas() {
    let mut cluster = Cluster::start(&[
        Role::Combined,
        Role::Combined,
        Role::Controller,
        Role::BrokerViaBootstrap,
        Role::Broker,
    ])
    .await;
    assert!(cluster.node(4).broker().quorum.is_learner());
    assert!(cluster.node(5).broker().quorum.is_learner());
    // Brokers are 1, 2, 4, 5: the controller-only node is not listed.
    let client = Client::connect(&cluster.brokers_bootstrap()).await.unwrap();
    let desc = client.describe_cluster().await.unwrap();
    let mut brokers: Vec<i32> = desc.brokers.iter().map(|b| b.id).collect();
    brokers.sort();
    assert_eq!(brokers, vec![1, 2, 4, 5], "{desc:?}");
    // DescribeQuorum: voters 1-3, nodes 4 and 5 observers that caught up.
    let addr4 = cluster.node(4).bootstrap();
    let info = eventually("the observer caught up", || {
        let addr4 = addr4.clone();
        async move {
            let q = quorum_via(&addr4).await?;
            (q.observers.len() == 2
                && q.observers.iter().all(|o| {
                    o.log_end_offset == q.high_watermark && o.last_fetch_timestamp.is_some()
                }))
            .then_some(q)
        }
    })
    .await;
    assert_eq!(ids(&info.voters), vec![1, 2, 3], "{info:?}");
    assert_eq!(ids(&info.observers), vec![4, 5], "{info:?}");

    // A topic created (through a broker-only node, forwarded) after they joined: 4 partitions
    // over 4 brokers, so round-robin placement makes each broker lead one.
    let c4 = Client::connect(&addr4).await.unwrap();
    let res = c4
        .create_topics(
            &[NewTopic {
                name: "mixed".into(),
                num_partitions: Some(4),
                replication_factor: Some(3),
                configs: Default::default(),
            }],
            false,
        )
        .await
        .expect("create topics");
    res[0].1.as_ref().expect("topic created");
    let meta = eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("mixed", true).await.ok()?;
            (m.partitions.len() == 4 && m.partitions.iter().all(|p| p.isr.len() == 3)).then_some(m)
        }
    })
    .await;
    let mut leaders: Vec<i32> = meta.partitions.iter().map(|p| p.leader).collect();
    leaders.sort();
    assert_eq!(leaders, vec![1, 2, 4, 5], "{meta:?}");
    assert!(meta.partitions.iter().all(|p| !p.replicas.contains(&3)));
    // The broker-only nodes applied the topic themselves and host their replicas.
    for id in [4, 5] {
        let b = cluster.node(id).broker();
        // The leader may count a replica in sync a moment before that node's applier has
        // published the image it acted on.
        eventually("broker-only node applied the topic", || {
            let b = b.clone();
            async move { b.image().topic("mixed").is_some().then_some(()) }
        })
        .await;
        for p in meta.partitions.iter().filter(|p| p.replicas.contains(&id)) {
            assert!(b.replicas.get_by_name("mixed", p.partition).is_some());
        }
    }
    let mut expected = vec![Vec::new(); 4];
    for p in 0..4 {
        let recs = records(20, &format!("p{p}"));
        expected[p as usize] = recs.iter().map(|r| r.value.clone().unwrap()).collect();
        client
            .produce("mixed", p, recs, &ProduceOptions::default())
            .await
            .expect("acks=all produce");
    }
    for p in 0..4 {
        assert_eq!(read_values(&client, "mixed", p).await, expected[p as usize]);
    }

    // The controller moves: the broker-only node keeps following (new leader replicates to
    // its learners) and gets later changes.
    let leader = cluster.node(1).broker().quorum.leader().unwrap() as i32;
    cluster.kill(leader).await;
    let other = if leader == 1 { 2 } else { 1 };
    let bootstrap = cluster.node(other).bootstrap();
    let c = Client::connect(&bootstrap).await.unwrap();
    eventually("topic created after failover", || {
        let c = c.clone();
        async move {
            let r = c
                .create_topics(
                    &[NewTopic {
                        name: "after".into(),
                        num_partitions: Some(1),
                        replication_factor: Some(1),
                        configs: Default::default(),
                    }],
                    false,
                )
                .await
                .ok()?;
            match &r[0].1 {
                Ok(()) => Some(()),
                Err(e) if e.code() == Some(36) => Some(()),
                Err(_) => None,
            }
        }
    })
    .await;
    eventually("nodes 4 and 5 apply the new topic", || async {
        [4, 5]
            .iter()
            .all(|id| cluster.node(*id).broker().image().topic("after").is_some())
            .then_some(())
    })
    .await;
    let q = eventually("observer under the new leader", || {
        let addr4 = addr4.clone();
        async move {
            let q = quorum_via(&addr4).await?;
            (q.leader_id >= 0 && q.leader_id != leader && q.observers.len() == 2).then_some(q)
        }
    })
    .await;
    assert_eq!(ids(&q.voters), vec![1, 2, 3], "{q:?}");

    // A broker-only node that is gone and unregistered stops being a learner: the controller
    // no longer replicates to it and DescribeQuorum lists only the remaining observer.
    cluster.kill(5).await;
    eventually("broker 5 unregistered", || {
        let c = c.clone();
        async move { c.unregister_broker(5).await.ok() }
    })
    .await;
    let q = eventually("observer 5 removed", || {
        let addr4 = addr4.clone();
        async move {
            let q = quorum_via(&addr4).await?;
            (ids(&q.observers) == vec![4]).then_some(q)
        }
    })
    .await;
    assert_eq!(ids(&q.voters), vec![1, 2, 3], "{q:?}");
    eventually("membership without node 5 everywhere", || async {
        [other, 4]
            .iter()
            .all(|id| !cluster.node(*id).broker().quorum.members().contains_key(&5))
            .then_some(())
    })
    .await;
    cluster.restart(leader).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_quorum_configurations_are_refused_with_a_message() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let load = |pairs: &[(&str, String)]| {
        let dir = &dirs[pairs[0].1.parse::<usize>().unwrap() - 1];
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        v.push(("log.dirs".into(), dir.path().display().to_string()));
        v.push(("controller.listener.names".into(), "CONTROLLER".into()));
        BrokerConfig::load(None, &v).expect("config").0
    };
    let port = free_port();
    // A controller with bootstrap servers only (dynamic quorum).
    let c = load(&[
        ("node.id", "1".into()),
        ("process.roles", "broker,controller".into()),
        (
            "listeners",
            format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}"),
        ),
        (
            "controller.quorum.bootstrap.servers",
            format!("127.0.0.1:{port}"),
        ),
    ]);
    let e = Node::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("dynamic quorum"), "{e}");
    // A broker-only node listed as a voter.
    let c = load(&[
        ("node.id", "2".into()),
        ("process.roles", "broker".into()),
        ("listeners", "PLAINTEXT://127.0.0.1:0".into()),
        ("controller.quorum.voters", format!("2@127.0.0.1:{port}")),
    ]);
    let e = Node::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("process.roles=broker"), "{e}");
    // A controller that is not a voter.
    let c = load(&[
        ("node.id", "3".into()),
        ("process.roles", "controller".into()),
        ("listeners", format!("CONTROLLER://127.0.0.1:{port}")),
        ("controller.quorum.voters", format!("1@127.0.0.1:{port}")),
    ]);
    let e = Node::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("not in controller.quorum.voters"), "{e}");
}
