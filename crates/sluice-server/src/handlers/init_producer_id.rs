//! InitProducerId (non-transactional): hands out a fresh producer id with epoch 0. Ids come
//! from blocks reserved in the metadata log, so they are unique across restarts. Transactional
//! ids are refused until the transaction coordinator exists.

use sluice_protocol::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};

use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

/// Kafka's code when a transactional id is used but transactions are unavailable.
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED_OR_UNSUPPORTED: i16 = codes::UNSUPPORTED_VERSION;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(TRANSACTIONAL_ID_AUTHORIZATION_FAILED_OR_UNSUPPORTED);
    }
    match ctx.broker.next_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "failed to allocate a producer id");
            response.with_error_code(codes::UNKNOWN_SERVER_ERROR)
        }
    }
}
