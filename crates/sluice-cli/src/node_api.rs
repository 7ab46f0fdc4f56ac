//! The seam between `sluice server` and the broker library. Until `sluice-config` and
//! `sluice-server` are committed and building, this holds local stand-ins with the agreed
//! signatures (`BrokerConfig::load`, `Node::start`, `Node::shutdown`). To integrate, add
//! `sluice-config` and `sluice-server` to sluice-cli's Cargo.toml and replace this file's
//! body with `pub use sluice_config::{BrokerConfig, ConfigError}; pub use sluice_server::Node;`.
//! It must never grow logic of its own.

use std::path::Path;

/// Stand-in for `sluice_config::ConfigError`.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stand-in for `sluice_config::BrokerConfig`.
#[derive(Debug, Clone)]
pub struct BrokerConfig;

impl BrokerConfig {
    pub fn load(
        path: Option<&Path>,
        _overrides: &[(String, String)],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        if let Some(p) = path {
            std::fs::metadata(p).map_err(|e| ConfigError(format!("{}: {e}", p.display())))?;
        }
        Ok((BrokerConfig, Vec::new()))
    }
}

/// Stand-in for `sluice_server::Node`.
pub struct Node;

impl Node {
    pub async fn start(_config: BrokerConfig) -> anyhow::Result<Node> {
        anyhow::bail!(
            "this sluice binary was built without the broker (sluice-server is not linked yet)"
        )
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        Ok(())
    }
}
