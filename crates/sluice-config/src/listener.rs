//! Listener and address syntax: `listeners`/`advertised.listeners` (`NAME://host:port`),
//! `listener.security.protocol.map` (`NAME:PROTOCOL`), `controller.quorum.voters`
//! (`id@host:port`) and `controller.quorum.bootstrap.servers` (`host:port`). Parsing only;
//! nothing here binds or resolves.

use crate::ConfigError;
use std::collections::BTreeMap;
use std::fmt;

/// Kafka's security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's protocol id (as in the Metadata/RegisterBroker records).
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Parses a protocol name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One listener endpoint. `host` is `0.0.0.0` when the listener was written with an empty
/// host (`PLAINTEXT://:9092`, bind all interfaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Upper-cased listener name (`PLAINTEXT`, `CONTROLLER`, ...).
    pub listener_name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: SecurityProtocol,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.listener_name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.listener_name, self.host, self.port)
        }
    }
}

/// `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// One `controller.quorum.voters` entry, `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Splits `host:port` or `[v6]:port`; the host may be empty.
fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        s.rsplit_once(':')?
    };
    if host.contains(['/', '@', ' ']) {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

/// Parses `listener.security.protocol.map`.
pub fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in split_list(value) {
        let bad = || {
            ConfigError::invalid(
                key,
                value,
                format!(
                    "entry '{entry}' is not of the form LISTENER_NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                ),
            )
        };
        let (name, proto) = entry.split_once(':').ok_or_else(bad)?;
        let proto = SecurityProtocol::from_name(proto).ok_or_else(bad)?;
        if name.trim().is_empty() {
            return Err(bad());
        }
        map.insert(name.trim().to_ascii_uppercase(), proto);
    }
    Ok(map)
}

/// Parses a listener list (`NAME://host:port,...`), looking each name up in the protocol map.
pub fn parse_listeners(
    key: &str,
    value: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<Endpoint>, ConfigError> {
    let mut out: Vec<Endpoint> = Vec::new();
    for entry in split_list(value) {
        let bad = |why: String| ConfigError::invalid(key, value, why);
        let (name, rest) = entry.split_once("://").ok_or_else(|| {
            bad(format!(
                "listener '{entry}' is not of the form NAME://host:port"
            ))
        })?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(bad(format!("listener '{entry}' has no name")));
        }
        let (host, port) = parse_host_port(rest).ok_or_else(|| {
            bad(format!(
                "listener '{entry}' is not of the form NAME://host:port with port in [0,...,65535]"
            ))
        })?;
        let security_protocol = *protocols.get(&name).ok_or_else(|| {
            bad(format!(
                "no security protocol defined for listener {name} (add it to listener.security.protocol.map)"
            ))
        })?;
        if out.iter().any(|e| e.listener_name == name) {
            return Err(bad(format!(
                "each listener must have a different name, {name} appears twice"
            )));
        }
        out.push(Endpoint {
            listener_name: name,
            host: if host.is_empty() {
                "0.0.0.0".to_string()
            } else {
                host
            },
            port,
            security_protocol,
        });
    }
    Ok(out)
}

/// Parses `controller.quorum.voters`.
pub fn parse_quorum_voters(key: &str, value: &str) -> Result<Vec<QuorumVoter>, ConfigError> {
    split_list(value)
        .map(|entry| {
            let bad = || {
                ConfigError::invalid(
                    key,
                    value,
                    format!("entry '{entry}' is not of the form {{id}}@{{host}}:{{port}}"),
                )
            };
            let (id, addr) = entry.split_once('@').ok_or_else(bad)?;
            let id: i32 = id.trim().parse().map_err(|_| bad())?;
            let (host, port) = parse_host_port(addr).ok_or_else(bad)?;
            if id < 0 || host.is_empty() {
                return Err(bad());
            }
            Ok(QuorumVoter { id, host, port })
        })
        .collect()
}

/// Parses a `host:port` list such as `controller.quorum.bootstrap.servers`.
pub fn parse_host_ports(key: &str, value: &str) -> Result<Vec<HostPort>, ConfigError> {
    split_list(value)
        .map(|entry| match parse_host_port(entry) {
            Some((host, port)) if !host.is_empty() => Ok(HostPort { host, port }),
            _ => Err(ConfigError::invalid(
                key,
                value,
                format!("entry '{entry}' is not of the form host:port"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_map() -> BTreeMap<String, SecurityProtocol> {
        parse_protocol_map("m", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL").unwrap()
    }

    #[test]
    fn listeners() {
        let l = parse_listeners(
            "listeners",
            "PLAINTEXT://:9092, controller://127.0.0.1:9093,SSL://[::1]:9094",
            &default_map(),
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].host, "0.0.0.0");
        assert_eq!(l[0].port, 9092);
        assert_eq!(l[1].listener_name, "CONTROLLER");
        assert_eq!(l[2].host, "::1");
        assert_eq!(l[2].security_protocol, SecurityProtocol::Ssl);
        assert_eq!(l[2].to_string(), "SSL://[::1]:9094");
        for bad in [
            "PLAINTEXT:9092",
            "PLAINTEXT://host:99999",
            "PLAINTEXT://host",
            "FOO://h:1",
            "PLAINTEXT://:1,PLAINTEXT://:2",
        ] {
            let e = parse_listeners("listeners", bad, &default_map()).unwrap_err();
            assert!(e.to_string().starts_with(&format!(
                "Invalid value {bad} for configuration listeners: "
            )));
        }
    }

    #[test]
    fn voters_and_bootstrap() {
        let v = parse_quorum_voters("v", "1@localhost:9093, 2@[::1]:9094").unwrap();
        assert_eq!(
            v[0],
            QuorumVoter {
                id: 1,
                host: "localhost".into(),
                port: 9093
            }
        );
        assert_eq!(v[1].host, "::1");
        assert!(parse_quorum_voters("v", "x@h:1").is_err());
        assert!(parse_quorum_voters("v", "1@:1").is_err());
        let b = parse_host_ports("b", "a:1,b:2").unwrap();
        assert_eq!(b[1].host, "b");
        assert!(parse_host_ports("b", "a").is_err());
    }
}
