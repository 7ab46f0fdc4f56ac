//! Delivery reporting: one `DeliveryShared` per batch holds the batch's outcome and the wakers
//! of the `DeliveryFuture`s waiting on it, so a record costs no allocation of its own unless
//! it has a callback. Dropping a `DeliveryFuture` is fire-and-forget; the record is still sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::error::ProducerError;
use super::record::RecordMetadata;

/// A per-record callback (Java's `Callback.onCompletion`), run on the producer's sender task.
pub type Callback = Box<dyn FnOnce(Result<&RecordMetadata, &ProducerError>) + Send>;

/// What is needed to build a record's `RecordMetadata` once its batch is acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct RecordInfo {
    pub index: u32,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
}

/// A batch's acknowledgement.
#[derive(Debug, Clone, Copy)]
pub struct BatchOk {
    /// -1 when unknown (acks=0).
    pub base_offset: i64,
    /// -1 for CreateTime topics.
    pub log_append_time: i64,
}

impl BatchOk {
    pub fn metadata(&self, topic: &str, partition: i32, info: &RecordInfo) -> RecordMetadata {
        RecordMetadata {
            topic: topic.to_string(),
            partition,
            offset: if self.base_offset < 0 {
                -1
            } else {
                self.base_offset + info.index as i64
            },
            timestamp: if self.log_append_time >= 0 {
                self.log_append_time
            } else {
                info.timestamp
            },
            serialized_key_size: info.key_size,
            serialized_value_size: info.value_size,
        }
    }
}

#[derive(Default)]
struct SharedState {
    outcome: Option<Result<BatchOk, ProducerError>>,
    wakers: Vec<Option<Waker>>,
}

/// The outcome of one batch, shared by the futures of its records.
#[derive(Default)]
pub struct DeliveryShared {
    state: Mutex<SharedState>,
}

impl DeliveryShared {
    /// Records the outcome and wakes every waiting future (first call wins).
    pub fn complete(&self, outcome: Result<BatchOk, ProducerError>) {
        let wakers = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.outcome.is_some() {
                return;
            }
            s.outcome = Some(outcome);
            std::mem::take(&mut s.wakers)
        };
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }
}

enum State {
    Ready(Option<Result<RecordMetadata, ProducerError>>),
    Waiting {
        shared: Arc<DeliveryShared>,
        topic: Arc<str>,
        partition: i32,
        info: RecordInfo,
        slot: Option<usize>,
    },
}

/// Resolves to where the record was written, or why it was not. Returned by `send`; await it
/// for a synchronous send, drop it to fire and forget.
#[must_use = "dropping a DeliveryFuture is fire-and-forget: errors go unnoticed"]
pub struct DeliveryFuture {
    state: State,
}

impl DeliveryFuture {
    pub(crate) fn failed(e: ProducerError) -> Self {
        DeliveryFuture {
            state: State::Ready(Some(Err(e))),
        }
    }

    pub(crate) fn waiting(
        shared: Arc<DeliveryShared>,
        topic: Arc<str>,
        partition: i32,
        info: RecordInfo,
    ) -> Self {
        DeliveryFuture {
            state: State::Waiting {
                shared,
                topic,
                partition,
                info,
                slot: None,
            },
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProducerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(r) => Poll::Ready(r.take().unwrap_or_else(|| {
                Err(ProducerError::Invalid(
                    "DeliveryFuture polled after completion".into(),
                ))
            })),
            State::Waiting {
                shared,
                topic,
                partition,
                info,
                slot,
            } => {
                let mut s = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                match &s.outcome {
                    Some(Ok(ok)) => Poll::Ready(Ok(ok.metadata(topic, *partition, info))),
                    Some(Err(e)) => Poll::Ready(Err(e.clone())),
                    None => {
                        match slot {
                            Some(i) if *i < s.wakers.len() => {
                                s.wakers[*i] = Some(cx.waker().clone())
                            }
                            _ => {
                                *slot = Some(s.wakers.len());
                                s.wakers.push(Some(cx.waker().clone()));
                            }
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }
}
