//! `k=v` flag values and Java `.properties` files as Kafka's tools read them
//! (`--property`, `--producer-property`, `--producer.config`, `--config`). Pure parsing;
//! never touches the network.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

/// Splits `key=value` (first `=`; whitespace around both trimmed).
pub fn parse_kv(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => bail!("Invalid property '{s}': expected the form key=value"),
    }
}

/// Parses many `key=value` flags into a map (later ones win).
pub fn parse_kvs(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items.iter().map(|s| parse_kv(s)).collect()
}

/// Reads a Java properties file (the same parser as server.properties).
pub fn load_properties(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let pairs = sluice_config::properties::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.reason))?;
    Ok(pairs.into_iter().collect())
}

/// Kafka's boolean parsing for tool properties ("true", case-insensitive).
pub fn is_true(props: &BTreeMap<String, String>, key: &str) -> bool {
    props
        .get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Unescapes `\t`, `\n`, `\r`, `\\` in separator properties (a shell passes them literally).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_flags() {
        assert_eq!(
            parse_kv("parse.key=true").unwrap(),
            ("parse.key".into(), "true".into())
        );
        assert_eq!(
            parse_kv("key.separator=:").unwrap(),
            ("key.separator".into(), ":".into())
        );
        assert_eq!(parse_kv("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_kv("novalue").is_err());
        assert!(parse_kv("=x").is_err());
    }

    #[test]
    fn properties_file() {
        let dir = std::env::temp_dir().join(format!("sluice-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("producer.properties");
        std::fs::write(
            &path,
            "# c\n! c\nacks=all\nlinger.ms : 5\nclient.id  x\nlong=a,\\\n  b\nempty=\n",
        )
        .unwrap();
        let p = load_properties(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(p["acks"], "all");
        assert_eq!(p["linger.ms"], "5");
        assert_eq!(p["client.id"], "x");
        assert_eq!(p["long"], "a,b");
        assert_eq!(p["empty"], "");
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(unescape("\\t"), "\t");
        assert_eq!(unescape(":"), ":");
    }
}
