//! Strict YAML: the traps that make a config mean something other than it says are errors.
//!
//! serde-saphyr is pure Rust and reports positions. We turn on what a demanding operator wants:
//! duplicate keys rejected (its default), YAML tags rejected (an unquoted `!foo` is a tag, not
//! text), and no YAML 1.1 booleans (`yes`/`no`/`on`). Structural errors are mapped to
//! [`ConfigError`] with the field named from the message or, failing that, from the key written
//! on the offending line.

use serde::de::DeserializeOwned;
use serde_saphyr::{DefaultMessageFormatter, DuplicateKeyPolicy, MessageFormatter};

use crate::ConfigError;

/// Parses `src` (the text of `file`) into `T` with Warren's strict YAML rules.
pub fn from_yaml<T: DeserializeOwned>(src: &str, file: &str) -> Result<T, ConfigError> {
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
        reject_unsupported_tags: true,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(src, options).map_err(|err| {
        let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let mut reason = DefaultMessageFormatter.format_message(&err).escape_debug().to_string();
        // The parser's advice is for programmers ("set DuplicateKeyPolicy"); users get the fact.
        if reason.to_ascii_lowercase().contains("duplicate") {
            reason = format!("duplicate key `{}`: each key may appear once", key_on_line(src, line));
        }
        if src.trim().is_empty() {
            reason = "the file is empty".to_owned();
        }
        let key = field_from_message(&reason).unwrap_or_else(|| key_on_line(src, line));
        let field = if key == "-" { key } else { qualified(src, line, &key) };
        ConfigError { file: file.to_owned(), line, column, field, reason }
    })
}

/// `key` as a dotted path (`listen.http`): the keys of the enclosing blocks, found by walking
/// up from `line` to lines indented less. Flow mappings on one line (`{ a: 1 }`) keep the key.
fn qualified(src: &str, line: u64, key: &str) -> String {
    let lines: Vec<&str> = src.lines().collect();
    let Some(start) = line.checked_sub(1).map(|l| (l as usize).min(lines.len().saturating_sub(1))) else {
        return key.to_owned();
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut path = vec![key.to_owned()];
    let mut level = lines.get(start).map_or(0, |l| indent(l));
    for l in lines[..start].iter().rev() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') || indent(l) >= level {
            continue;
        }
        level = indent(l);
        if let Some((k, _)) = t.trim_start_matches("- ").split_once(':')
            && !k.contains(' ')
            && !k.is_empty()
        {
            path.push(k.trim_matches(['"', '\'']).to_owned());
        }
        if level == 0 {
            break;
        }
    }
    path.reverse();
    path.join(".")
}

/// `unknown field `foo`` and `missing field `bar`` name the field in the message itself.
fn field_from_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    let prefix = &msg[..start];
    (prefix.contains("field") || prefix.contains("key")).then(|| msg[start..start + len].to_owned())
}

/// The key written on a 1-based source line (`  admin: x` → `admin`), or `-`.
pub(crate) fn key_on_line(src: &str, line: u64) -> String {
    let Some(text) = line.checked_sub(1).and_then(|i| src.lines().nth(i as usize)) else {
        return "-".to_owned();
    };
    let text = text.trim_start().trim_start_matches("- ").trim_start_matches('{').trim();
    match text.split_once(':') {
        Some((key, _)) if !key.is_empty() && !key.contains(' ') => key.trim_matches(['"', '\'']).to_owned(),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        #[serde(default)]
        b: Option<String>,
        #[serde(default)]
        c: Option<bool>,
    }

    #[test]
    fn unknown_field_is_named_with_position() {
        let err = from_yaml::<T>("a: 1\nzz: 2\n", "t.yaml").unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "zz"), "{err}");
        assert!(err.to_string().starts_with("t.yaml:2:"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = from_yaml::<T>("a: 1\na: 2\n", "t.yaml").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.reason.contains("duplicate"), "{err}");
    }

    #[test]
    fn tags_and_yaml11_booleans_are_errors() {
        assert!(from_yaml::<T>("a: 1\nb: !expr x\n", "t.yaml").is_err());
        let err = from_yaml::<T>("a: 1\nc: yes\n", "t.yaml").unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "c"), "{err}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let err = from_yaml::<T>("b: x\na: many\n", "t.yaml").unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "a"), "{err}");
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            port: u16,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            listen: Inner,
        }
        let err = from_yaml::<Outer>("listen:\n  port: many\n", "t.yaml").unwrap_err();
        assert_eq!((err.line, err.field.as_str()), (2, "listen.port"), "{err}");
        let err = from_yaml::<Outer>("", "t.yaml").unwrap_err();
        assert_eq!(err.reason, "the file is empty");
    }

    #[test]
    fn key_on_line_handles_lists_and_flow() {
        let src = "x:\n  - { cidr: 1 }\n  - name: y\n";
        assert_eq!(key_on_line(src, 2), "cidr");
        assert_eq!(key_on_line(src, 3), "name");
        assert_eq!(key_on_line(src, 9), "-");
    }
}
