//! A pipelined connection for Produce requests: the sender writes up to
//! `max.in.flight.requests.per.connection` requests without waiting, a reader task matches
//! responses to requests in order (Kafka answers in order per connection). The connection is
//! opened and version-negotiated through `Connection`, then handed over. A dead connection
//! fails every pending request with a network error; it never retries by itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, ProduceRequest, RequestHeader, ResponseHeader,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::connection::Connection;

use super::error::ProducerError;
use super::frame::{produce_frame, Segments};

/// Highest Produce version used (v13 addresses topics by id only).
const PRODUCE_MAX_VERSION: i16 = 12;
/// Largest response accepted.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

type Reply = oneshot::Sender<Result<Bytes, ProducerError>>;

struct Pending {
    correlation: i32,
    header_version: i16,
    reply: Reply,
}

struct Outgoing {
    frame: Segments,
    pending: Option<Pending>,
}

/// A broker connection owned by the sender task.
pub struct BrokerConn {
    pub addr: String,
    pub produce_version: i16,
    /// Requests written and not yet answered (maintained by the sender).
    pub in_flight: usize,
    tx: mpsc::UnboundedSender<Outgoing>,
    dead: Arc<AtomicBool>,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    reader: tokio::task::JoinHandle<()>,
    correlation: i32,
    client_id: StrBytes,
}

impl Drop for BrokerConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn network(addr: &str, detail: impl Into<String>) -> ProducerError {
    ProducerError::Network {
        addr: addr.to_string(),
        detail: detail.into(),
    }
}

fn fail_all(pending: &Mutex<VecDeque<Pending>>, addr: &str, why: &str) {
    let all: Vec<Pending> = pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for p in all {
        let _ = p.reply.send(Err(network(addr, why)));
    }
}

impl BrokerConn {
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<BrokerConn, ProducerError> {
        let conn = Connection::connect(addr, client_id, timeout).await?;
        let produce_version = conn.version_for::<ProduceRequest>(Some(PRODUCE_MAX_VERSION))?;
        if produce_version < 3 {
            return Err(ProducerError::Invalid(format!(
                "the broker at {addr} does not support Produce v3+ (record batches v2)"
            )));
        }
        let stream = conn
            .into_stream()
            .ok_or_else(|| network(addr, "connection closed after negotiation"))?;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let dead = Arc::new(AtomicBool::new(false));
        let pending: Arc<Mutex<VecDeque<Pending>>> = Arc::default();

        let (w_dead, w_pending, w_addr) = (dead.clone(), pending.clone(), addr.to_string());
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                if w_dead.load(Ordering::Acquire) {
                    if let Some(p) = out.pending {
                        let _ = p.reply.send(Err(network(&w_addr, "connection closed")));
                    }
                    continue;
                }
                if let Some(p) = out.pending {
                    w_pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back(p);
                }
                let mut frame = out.frame;
                if let Err(e) = wr.write_all_buf(&mut frame).await {
                    w_dead.store(true, Ordering::Release);
                    fail_all(&w_pending, &w_addr, &e.to_string());
                }
            }
        });

        let (r_dead, r_pending, r_addr) = (dead.clone(), pending.clone(), addr.to_string());
        let reader = tokio::spawn(async move {
            let why = loop {
                let len = match rd.read_i32().await {
                    Ok(l) if l >= 4 && (l as usize) <= MAX_RESPONSE => l as usize,
                    Ok(l) => break format!("response frame length {l} out of range"),
                    Err(e) => break e.to_string(),
                };
                let mut body = vec![0u8; len];
                if let Err(e) = rd.read_exact(&mut body).await {
                    break e.to_string();
                }
                let p = r_pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front();
                let Some(p) = p else {
                    break "a response arrived for no request".to_string();
                };
                let mut body = Bytes::from(body);
                match ResponseHeader::decode(&mut body, p.header_version) {
                    Ok(h) if h.correlation_id == p.correlation => {
                        let _ = p.reply.send(Ok(body));
                    }
                    Ok(h) => {
                        let why = format!(
                            "correlation id mismatch: expected {}, got {}",
                            p.correlation, h.correlation_id
                        );
                        let _ = p.reply.send(Err(network(&r_addr, why.clone())));
                        break why;
                    }
                    Err(e) => {
                        let why = format!("bad response header: {e}");
                        let _ = p.reply.send(Err(network(&r_addr, why.clone())));
                        break why;
                    }
                }
            };
            r_dead.store(true, Ordering::Release);
            fail_all(&r_pending, &r_addr, &why);
        });

        Ok(BrokerConn {
            addr: addr.to_string(),
            produce_version,
            in_flight: 0,
            tx,
            dead,
            pending,
            reader,
            correlation: 0,
            client_id: StrBytes::from_string(client_id.to_string()),
        })
    }

    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    /// Closes the connection, failing whatever is pending (after a request timeout).
    pub fn kill(&self, why: &str) {
        self.dead.store(true, Ordering::Release);
        self.reader.abort();
        fail_all(&self.pending, &self.addr, why);
    }

    /// Queues a Produce request; returns the receiver of the response body unless acks=0.
    pub fn send(
        &mut self,
        req: &ProduceRequest,
        expect_response: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Bytes, ProducerError>>>, ProducerError> {
        if !self.is_alive() {
            return Err(network(&self.addr, "connection closed"));
        }
        let version = self.produce_version;
        self.correlation = self.correlation.wrapping_add(1);
        let correlation = self.correlation;
        let key = ApiKey::Produce;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(self.client_id.clone()));
        let frame = produce_frame(&header, key.request_header_version(version), req, version)
            .map_err(|e| ProducerError::Invalid(format!("encoding Produce v{version}: {e}")))?;
        let (pending, rx) = if expect_response {
            let (tx, rx) = oneshot::channel();
            (
                Some(Pending {
                    correlation,
                    header_version: key.response_header_version(version),
                    reply: tx,
                }),
                Some(rx),
            )
        } else {
            (None, None)
        };
        self.tx
            .send(Outgoing { frame, pending })
            .map_err(|_| network(&self.addr, "connection closed"))?;
        Ok(rx)
    }
}
