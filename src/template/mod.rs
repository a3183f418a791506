//! The template language of webhook templates and workflow steps: `{{ #key }}` (a secret),
//! `{{ initial.path }}`, `{{ path }}`, `{{ step.response.path }}`, `{{ step.<id>.... }}`.
//!
//! This module only parses: it finds placeholders in strings and JSON values. Whitespace inside
//! the braces is ignored. Rendering (substitution at delivery time) builds on [`scan`].

pub mod render;

use serde_json::Value;

/// One `{{ ... }}` occurrence in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// Byte range of the whole `{{ ... }}` in the scanned string.
    pub start: usize,
    pub end: usize,
    pub kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `{{ #name }}`
    Secret(&'a str),
    /// Any other expression, trimmed: `initial.x`, `x.y`, `step.response.z`.
    Path(&'a str),
}

/// Characters allowed in a secret name (`{{ #name }}`) and in path segments.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Finds every placeholder in `s`, left to right. Text that merely looks like an opening brace
/// pair without a closing one is not a placeholder.
pub fn scan(s: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| from + i) {
        let Some(close) = s[open + 2..].find("}}").map(|i| open + 2 + i) else {
            break;
        };
        let inner = s[open + 2..close].trim();
        let kind = match inner.strip_prefix('#') {
            Some(name) => Kind::Secret(name.trim()),
            None => Kind::Path(inner),
        };
        out.push(Placeholder { start: open, end: close + 2, kind });
        from = close + 2;
    }
    out
}

/// Calls `f` on every string inside a JSON value (object keys excluded).
pub fn for_each_string<'v>(v: &'v Value, f: &mut impl FnMut(&'v str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| for_each_string(x, f)),
        Value::Object(o) => o.values().for_each(|x| for_each_string(x, f)),
        _ => {}
    }
}

/// Secret names referenced by `{{ #name }}` in the given strings, in order of first use.
pub fn secret_names<'a>(strings: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in strings {
        for p in scan(s) {
            if let Kind::Secret(name) = p.kind
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_all_placeholder_forms_with_any_spacing() {
        let s = "a{{ #key }}b{{initial.x}}c{{   step.s1.response.id  }}{{ #key}}";
        let kinds: Vec<_> = scan(s).into_iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![Kind::Secret("key"), Kind::Path("initial.x"), Kind::Path("step.s1.response.id"), Kind::Secret("key")]
        );
    }

    #[test]
    fn unclosed_braces_are_text() {
        assert!(scan("{{ #key").is_empty());
        assert_eq!(scan("}} {{ a }}").len(), 1);
    }

    #[test]
    fn secret_names_are_unique_in_first_use_order() {
        let body = serde_json::json!({"a": "{{ #b_key }}", "n": [1, "x {{#a_key}}"], "k": {"z": "{{ #b_key }}"}});
        let mut strings = vec!["/p/{{ #path_key }}"];
        for_each_string(&body, &mut |s| strings.push(s));
        assert_eq!(secret_names(strings), vec!["path_key", "b_key", "a_key"]);
    }
}
