//! The seam between `sluice server` and the broker library: the agreed entry points
//! `BrokerConfig::load`, `Node::start` and `Node::shutdown`. It must never grow logic of its
//! own; if the broker API changes, only this file follows it.

pub use sluice_config::BrokerConfig;
pub use sluice_server::Node;
