//! UnregisterBroker (KIP-631, `kafka-cluster.sh unregister`): removes a decommissioned broker's
//! registration on the active controller (other brokers forward it). The broker leaves every
//! ISR and leadership first; its replica assignments stay, so reassign them away beforehand.
//! Unknown ids get BROKER_ID_NOT_REGISTERED. A broker still running registers again with its
//! next heartbeat, as in Kafka.

use sluice_metadata::decommission;
use sluice_protocol::kafka_protocol::messages::{
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};

use super::str_bytes;
use crate::controller::unclean_allowed;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let broker = ctx.broker;
    let id = request.broker_id.0;
    let outcome = broker
        .controller_write(|image| {
            decommission::unregister_broker(image, id, |t| unclean_allowed(broker, image, t))
                .map(|records| (records, ()))
        })
        .await;
    let response = UnregisterBrokerResponse::default();
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(broker = id, "broker unregistered");
            // A broker-only node stops being a learner of the metadata log (it is added again
            // if it ever registers again).
            if id >= 0 {
                if let Err(e) = broker.quorum.remove_learner(id as u64).await {
                    tracing::warn!(broker = id, error = %e, "could not remove the learner");
                }
            }
            response
        }
        Ok(Err((code, message))) => response
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message))),
        Err(e) => response
            .with_error_code(codes::UNKNOWN_SERVER_ERROR)
            .with_error_message(Some(str_bytes(e.to_string()))),
    }
}
