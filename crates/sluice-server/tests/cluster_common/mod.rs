//! The in-process cluster harness shared by the cluster tests (included with `#[path]`):
//! N nodes on 127.0.0.1, every node broker + controller, a Raft metadata quorum of all of
//! them, short timeouts; nodes can be killed (no controlled shutdown) and restarted on the
//! same directories and controller ports.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_client::{Client, FetchOptions, FetchTarget, NewTopic, ProduceRecord};
use sluice_config::BrokerConfig;
use sluice_server::Node;

pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub dirs: Vec<tempfile::TempDir>,
    pub ports: Vec<u16>,
    pub nodes: Vec<Option<Node>>,
    /// Extra broker configs every node gets (on restart too).
    extra: Vec<Vec<(String, String)>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(
    id: usize,
    ports: &[u16],
    dir: &std::path::Path,
    extra: &[(String, String)],
) -> BrokerConfig {
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect();
    let pairs: Vec<(String, String)> = [
        ("node.id", (id + 1).to_string()),
        ("process.roles", "broker,controller".into()),
        (
            "listeners",
            format!(
                "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}",
                ports[id]
            ),
        ),
        ("controller.listener.names", "CONTROLLER".into()),
        ("controller.quorum.voters", voters.join(",")),
        ("log.dirs", dir.display().to_string()),
        ("controller.quorum.election.timeout.ms", "500".into()),
        ("broker.heartbeat.interval.ms", "200".into()),
        ("broker.session.timeout.ms", "2000".into()),
        ("replica.lag.time.max.ms", "2000".into()),
        ("replica.fetch.wait.max.ms", "100".into()),
        ("replica.fetch.backoff.ms", "100".into()),
        ("offsets.topic.replication.factor", "3".into()),
        ("group.initial.rebalance.delay.ms", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().cloned())
    .collect();
    BrokerConfig::load(None, &pairs).expect("config").0
}

impl Cluster {
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[]).await
    }

    /// A cluster whose nodes all get `extra` broker configs.
    pub async fn start_with(n: usize, extra: &[(&str, &str)]) -> Cluster {
        Cluster::start_each(n, |_| extra.to_vec()).await
    }

    /// A cluster where node `id` (1-based) gets the broker configs `extra(id)`.
    pub async fn start_each<'a>(
        n: usize,
        extra: impl Fn(i32) -> Vec<(&'a str, &'a str)>,
    ) -> Cluster {
        let extra: Vec<Vec<(String, String)>> = (1..=n as i32)
            .map(|id| {
                extra(id)
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect();
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut handles = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let c = config(i, &ports, d.path(), &extra[i]);
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
            dirs,
            ports,
            nodes,
            extra,
        }
    }

    pub fn node(&self, id: i32) -> &Node {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("node running")
    }

    pub fn any_bootstrap(&self) -> String {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.bootstrap())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub async fn kill(&mut self, id: i32) {
        let node = self.nodes[(id - 1) as usize].take().expect("running");
        node.kill().await;
    }

    pub async fn restart(&mut self, id: i32) {
        let i = (id - 1) as usize;
        let c = config(i, &self.ports, self.dirs[i].path(), &self.extra[i]);
        let node = tokio::time::timeout(DEADLINE, Node::start(c))
            .await
            .expect("restart in time")
            .expect("node restarts");
        self.nodes[i] = Some(node);
    }

    pub async fn shutdown(mut self) {
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
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn records(n: usize, prefix: &str) -> Vec<ProduceRecord> {
    (0..n)
        .map(|i| ProduceRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{prefix}-{i}"))),
            headers: vec![],
            timestamp: None,
        })
        .collect()
}

pub async fn read_values(client: &Arc<Client>, topic: &str, partition: i32) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out reading {topic}"
        );
        let fetched = client
            .fetch_many(
                &[FetchTarget {
                    topic: topic.to_string(),
                    partition,
                    offset,
                }],
                &FetchOptions::default(),
            )
            .await;
        let p = fetched.into_iter().next().expect("one partition");
        let Ok(recs) = p.records else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if recs.is_empty() {
            return out;
        }
        for r in recs {
            out.push(r.value.unwrap_or_default());
        }
        offset = p.next_offset;
    }
}

pub async fn create(client: &Arc<Client>, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let res = client
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: Some(partitions),
                replication_factor: Some(3),
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }],
            false,
        )
        .await
        .expect("create topics");
    res[0].1.as_ref().expect("topic created");
}
