//! `Client`: bootstrap, the metadata cache (brokers, topics, partitions, leaders), one
//! connection per broker id, and routing of partition requests to leaders with bounded
//! metadata-refresh retries. Tools and (later) the producer/consumer are built on it. It
//! must never loop without a bound or hold the cache lock across network I/O.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use sluice_protocol::kafka_protocol::messages::{MetadataRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::connection::Connection;
use crate::error::{ClientError, Result};

/// Client settings; `Default` suits the command-line tools.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub client_id: String,
    /// Timeout of every single request (connect, write, response).
    pub request_timeout: Duration,
    /// How many times a request is retried after refreshing metadata.
    pub retries: u32,
    /// Pause between retries (doubles each time).
    pub retry_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_id: "sluice-client".into(),
            request_timeout: Duration::from_secs(30),
            retries: 5,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// A broker as listed in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition of a topic as listed in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub error_code: i16,
    /// -1 when there is no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

/// A topic as listed in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub error_code: i16,
    pub is_internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

/// A Metadata response in domain form.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicMetadata>,
}

impl Metadata {
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.iter().find(|t| t.name == name)
    }
}

#[derive(Default)]
struct Cache {
    brokers: HashMap<i32, BrokerInfo>,
    controller_id: i32,
    topics: HashMap<String, TopicMetadata>,
}

/// A connection pool plus metadata cache for one cluster. Cheap to share (`Arc<Client>`).
pub struct Client {
    bootstrap: Vec<String>,
    config: ClientConfig,
    cache: Mutex<Cache>,
    conns: Mutex<HashMap<i32, Arc<Connection>>>,
    bootstrap_conn: Mutex<Option<Arc<Connection>>>,
}

impl Client {
    /// Connects to the first reachable server of `host:port[,host:port...]` and loads the
    /// broker list.
    pub async fn connect(bootstrap: &str) -> Result<Arc<Client>> {
        Self::connect_with(bootstrap, ClientConfig::default()).await
    }

    /// [`Client::connect`] with explicit settings.
    pub async fn connect_with(bootstrap: &str, config: ClientConfig) -> Result<Arc<Client>> {
        let servers: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(ClientError::Invalid(
                "the bootstrap server list is empty".into(),
            ));
        }
        let client = Arc::new(Client {
            bootstrap: servers,
            config,
            cache: Mutex::new(Cache::default()),
            conns: Mutex::new(HashMap::new()),
            bootstrap_conn: Mutex::new(None),
        });
        client.metadata(Some(&[])).await?;
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A connection to any broker: the bootstrap one if still usable, else the first
    /// bootstrap server or known broker that answers.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        if let Some(c) = self.bootstrap_conn.lock().await.clone() {
            if c.is_usable().await {
                return Ok(c);
            }
        }
        let mut candidates = self.bootstrap.clone();
        candidates.extend(self.cache.lock().await.brokers.values().map(|b| b.addr()));
        let mut last = String::from("no address to try");
        for addr in candidates {
            match Connection::connect(&addr, &self.config.client_id, self.config.request_timeout)
                .await
            {
                Ok(c) => {
                    let c = Arc::new(c);
                    *self.bootstrap_conn.lock().await = Some(c.clone());
                    return Ok(c);
                }
                Err(e) => {
                    tracing::debug!("bootstrap {addr}: {e}");
                    last = e.to_string();
                }
            }
        }
        Err(ClientError::NoBrokerAvailable {
            servers: self.bootstrap.join(","),
            last,
        })
    }

    /// The connection to broker `id` (opened on first use, reopened after a failure).
    pub async fn broker_connection(&self, id: i32) -> Result<Arc<Connection>> {
        if let Some(c) = self.conns.lock().await.get(&id).cloned() {
            if c.is_usable().await {
                return Ok(c);
            }
        }
        let conn = Arc::new(self.dedicated_connection(id).await?);
        self.conns.lock().await.insert(id, conn.clone());
        Ok(conn)
    }

    /// A new connection to broker `id`, outside the pool: for long-polling requests (the
    /// consumer's fetches) that must not hold up other requests to that broker.
    pub async fn dedicated_connection(&self, id: i32) -> Result<Connection> {
        let addr = {
            let cache = self.cache.lock().await;
            cache.brokers.get(&id).map(|b| b.addr())
        };
        let addr = match addr {
            Some(a) => a,
            None => {
                self.metadata(Some(&[])).await?;
                let cache = self.cache.lock().await;
                cache.brokers.get(&id).map(|b| b.addr()).ok_or_else(|| {
                    ClientError::Invalid(format!("broker {id} is not in the cluster metadata"))
                })?
            }
        };
        Connection::connect(&addr, &self.config.client_id, self.config.request_timeout).await
    }

    /// The connection to the active controller as reported by Metadata, else any broker.
    pub async fn controller_connection(&self) -> Result<Arc<Connection>> {
        let id = self.cache.lock().await.controller_id;
        if id >= 0 {
            if let Ok(c) = self.broker_connection(id).await {
                return Ok(c);
            }
        }
        self.any_connection().await
    }

    /// Fetches Metadata. `None` = all topics, `Some(&[])` = brokers only.
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<Metadata> {
        self.metadata_with(topics, false).await
    }

    /// Metadata that lets the broker auto-create the named topics (as producers do when
    /// `auto.create.topics.enable` is on).
    pub async fn metadata_with(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<Metadata> {
        let conn = self.any_connection().await?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(allow_auto_create);
        let resp = match conn.send(&req).await {
            Ok(r) => r,
            Err(e) => {
                *self.bootstrap_conn.lock().await = None;
                return Err(e);
            }
        };
        let md = Metadata {
            cluster_id: resp.cluster_id.map(|s| s.to_string()),
            controller_id: resp.controller_id.0,
            brokers: resp
                .brokers
                .into_iter()
                .map(|b| BrokerInfo {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                })
                .collect(),
            topics: resp
                .topics
                .into_iter()
                .map(|t| {
                    let mut partitions: Vec<PartitionMetadata> = t
                        .partitions
                        .into_iter()
                        .map(|p| PartitionMetadata {
                            partition: p.partition_index,
                            error_code: p.error_code,
                            leader: p.leader_id.0,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.partition);
                    TopicMetadata {
                        name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                        topic_id: t.topic_id,
                        error_code: t.error_code,
                        is_internal: t.is_internal,
                        partitions,
                    }
                })
                .collect(),
        };
        let mut cache = self.cache.lock().await;
        if !md.brokers.is_empty() {
            cache.brokers = md.brokers.iter().map(|b| (b.id, b.clone())).collect();
        }
        cache.controller_id = md.controller_id;
        for t in &md.topics {
            if t.error_code == 0 {
                cache.topics.insert(t.name.clone(), t.clone());
            } else {
                cache.topics.remove(&t.name);
            }
        }
        Ok(md)
    }

    /// The topic's metadata, from the cache or freshly fetched. Fails with
    /// UNKNOWN_TOPIC_OR_PARTITION (or the topic's error) when it does not exist.
    pub async fn topic_metadata(&self, topic: &str, refresh: bool) -> Result<TopicMetadata> {
        if !refresh {
            if let Some(t) = self.cache.lock().await.topics.get(topic).cloned() {
                return Ok(t);
            }
        }
        let md = self.metadata(Some(&[topic.to_string()])).await?;
        let t = md
            .topics
            .into_iter()
            .find(|t| t.name == topic)
            .ok_or(ClientError::Kafka {
                code: 3,
                message: None,
            })?;
        if let Some(e) = ClientError::from_code(t.error_code, None) {
            return Err(e);
        }
        Ok(t)
    }

    /// Topic metadata for a producer: asks the broker to auto-create the topic and waits
    /// (bounded retries) while its leaders are being elected.
    pub async fn topic_metadata_for_produce(&self, topic: &str) -> Result<TopicMetadata> {
        let mut attempt = 0;
        loop {
            let md = self.metadata_with(Some(&[topic.to_string()]), true).await?;
            let res = match md.topics.into_iter().find(|t| t.name == topic) {
                None => Err(ClientError::Kafka {
                    code: 3,
                    message: None,
                }),
                Some(t) => match ClientError::from_code(t.error_code, None) {
                    Some(e) => Err(e),
                    None if t.partitions.iter().any(|p| p.leader < 0)
                        || t.partitions.is_empty() =>
                    {
                        Err(ClientError::Kafka {
                            code: 5,
                            message: None,
                        })
                    }
                    None => Ok(t),
                },
            };
            match res {
                Err(e) if e.needs_metadata_refresh() && attempt < self.config.retries + 5 => {
                    self.backoff(attempt.min(3)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    /// The current leader of a partition (from the cache unless `refresh`).
    pub async fn leader_for(&self, topic: &str, partition: i32, refresh: bool) -> Result<i32> {
        let t = self.topic_metadata(topic, refresh).await?;
        let p = t
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| ClientError::Kafka {
                code: 3,
                message: Some(format!("Partition {topic}-{partition} does not exist")),
            })?;
        if p.leader < 0 {
            return Err(ClientError::Kafka {
                code: 5,
                message: None,
            });
        }
        Ok(p.leader)
    }

    /// Sleeps before retry number `attempt` (0-based) with exponential backoff.
    pub(crate) async fn backoff(&self, attempt: u32) {
        let factor = 1u32 << attempt.min(6);
        tokio::time::sleep(self.config.retry_backoff * factor).await;
    }

    /// Drops the cached connection to `broker` after a transport error.
    pub(crate) async fn forget_broker(&self, broker: i32) {
        self.conns.lock().await.remove(&broker);
    }
}
