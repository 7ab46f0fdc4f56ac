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

/// Parses Java properties text: `#`/`!` comments, `=`, `:` or whitespace separators,
/// trailing-backslash continuation lines. Unicode escapes are kept literally.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            logical.push_str(stripped);
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        let idx = entry.find(['=', ':', ' ', '\t']);
        let (k, v) = match idx {
            Some(i) => {
                let v = entry[i + 1..].trim_start();
                let v = v.strip_prefix(['=', ':']).map(str::trim_start).unwrap_or(v);
                (&entry[..i], v)
            }
            None => (entry.as_str(), ""),
        };
        out.insert(k.trim().to_string(), v.trim_end().to_string());
    }
    out
}

/// Reads a properties file.
pub fn load_properties(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_properties(&text))
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
        let p = parse_properties(
            "# c\n! c\nacks=all\nlinger.ms : 5\nclient.id  x\nlong=a,\\\n  b\nempty=\n",
        );
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
