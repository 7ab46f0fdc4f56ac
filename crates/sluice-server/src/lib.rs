//! A Sluice node: listeners and connections speaking the Kafka protocol, request dispatch to
//! one handler per API, the replica manager over the partition logs, and the metadata image.
//! `Node::start` brings it up; `Node::shutdown` takes it down gracefully.

pub mod broker;
pub mod controller;
pub mod dispatch;
pub mod fetch_response;
pub mod fetcher;
pub mod group_log;
pub mod handlers;
pub mod isr;
pub mod lifecycle;
pub mod network;
pub mod node;
pub mod rebalance;
pub mod replica_manager;
pub mod rpc;
mod sendfile;

pub use node::Node;
