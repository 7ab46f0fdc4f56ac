//! Java `.properties` text, as `java.util.Properties.load` reads it: `#`/`!` comment lines,
//! `key=value`, `key: value` and `key value`, backslash line continuation and `\` escapes
//! (`\t \n \r \f \uXXXX`, any other `\c` is `c`). Values are trimmed at both ends (Kafka trims
//! every non-password value anyway). It only turns text into ordered pairs; it never
//! interprets keys.

/// A syntax error at a (1-based) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub reason: String,
}

const WS: [char; 3] = [' ', '\t', '\x0c'];

/// Parses properties text into `(key, value)` pairs in file order (a later duplicate wins
/// when collected into a map).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, SyntaxError> {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let first = lines[i].trim_start_matches(WS);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(i) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(WS));
                    i += 1;
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let err = |reason: String| SyntaxError {
            line: line_no,
            reason,
        };
        let key = unescape(key).map_err(err)?;
        let value = unescape(trim_unescaped_end(value)).map_err(err)?;
        out.push((key, value));
    }
    Ok(out)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or whitespace.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (pos, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if c == '=' || c == ':' || WS.contains(&c) {
            let key = &line[..pos];
            let mut rest = line[pos..].trim_start_matches(WS);
            if !WS.contains(&c) || rest.starts_with(['=', ':']) {
                rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                rest = rest.trim_start_matches(WS);
            }
            return (key, rest);
        }
    }
    (line, "")
}

/// Trims trailing whitespace that is not escaped (`a\ ` keeps its space).
fn trim_unescaped_end(mut s: &str) -> &str {
    while let Some(last) = s.chars().last() {
        if !WS.contains(&last) {
            break;
        }
        let body = &s[..s.len() - last.len_utf8()];
        if ends_with_odd_backslashes(body) {
            break;
        }
        s = body;
    }
    s
}

fn unescape(s: &str) -> Result<String, String> {
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
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("Malformed \\uxxxx encoding: \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n  a=1\nb: 2\nc 3\nd = 4 \ne\t:\t5\nf\ng=\n";
        assert_eq!(
            pairs(text),
            vec![
                p("a", "1"),
                p("b", "2"),
                p("c", "3"),
                p("d", "4"),
                p("e", "5"),
                p("f", ""),
                p("g", "")
            ]
        );
    }

    #[test]
    fn separator_inside_value_is_kept() {
        assert_eq!(
            pairs("listeners=PLAINTEXT://:9092,CONTROLLER://:9093"),
            vec![p("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093")]
        );
        assert_eq!(pairs("k = a=b"), vec![p("k", "a=b")]);
    }

    #[test]
    fn continuation_lines() {
        let text = "log.dirs=/a,\\\n      /b,\\\n   /c\nnext=1\r\nlast=\\\n";
        assert_eq!(
            pairs(text),
            vec![p("log.dirs", "/a,/b,/c"), p("next", "1"), p("last", "")]
        );
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(pairs("k=a\\\\\nj=b"), vec![p("k", "a\\"), p("j", "b")]);
        // A comment line never continues.
        assert_eq!(pairs("# x \\\nk=v"), vec![p("k", "v")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            pairs(r"my\ key\=x\:y=tab\there\u0041\\ \z"),
            vec![p("my key=x:y", "tab\thereA\\ z")]
        );
        assert_eq!(pairs("k=trailing\\ "), vec![p("k", "trailing ")]);
        let err = parse("ok=1\nbad=\\u12").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("Malformed"));
    }
}
