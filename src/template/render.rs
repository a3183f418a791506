//! Rendering: substitutes placeholders in strings and JSON values.
//!
//! A string that is exactly one placeholder takes the referenced JSON value with its type
//! (`"{{ initial.count }}"` → `5`); placeholders inside longer strings are replaced by their
//! text. `{{ #key }}` is a secret, `{{ initial.path }}` and `{{ path }}` read the context. An
//! unresolvable variable is an error naming it: the execution fails before any request.

use serde_json::{Map, Value};

use super::{Kind, scan};

/// Where placeholder values come from.
pub trait Resolver {
    /// The value of secret `name`, or `None` if the brand has no such secret.
    fn secret(&mut self, name: &str) -> Option<String>;
    /// The value at a dotted path in the context (`initial.a.b`, `a.b`, `step.…`).
    fn path(&mut self, path: &str) -> Option<Value>;
}

/// A variable that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved(pub String);

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unresolved template variable {{{{ {} }}}}", self.0)
    }
}

impl std::error::Error for Unresolved {}

/// Looks up a dotted path (`a.b.0.c`) in a JSON value.
pub fn lookup<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = root;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Resolves paths against the initial context only: `initial.x` and `x` are the same.
pub struct ContextResolver<'a, S: FnMut(&str) -> Option<String>> {
    pub initial: &'a Map<String, Value>,
    pub secrets: S,
}

impl<S: FnMut(&str) -> Option<String>> Resolver for ContextResolver<'_, S> {
    fn secret(&mut self, name: &str) -> Option<String> {
        (self.secrets)(name)
    }
    fn path(&mut self, path: &str) -> Option<Value> {
        // Looked up in place: only the value found is cloned, not the whole context (which for
        // an event's execution holds the event's headers and body).
        let p = path.strip_prefix("initial.").unwrap_or(path).trim_start_matches('.');
        if p.is_empty() {
            return Some(Value::Object(self.initial.clone()));
        }
        let (first, rest) = p.split_once('.').unwrap_or((p, ""));
        lookup(self.initial.get(first)?, rest).cloned()
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn resolve(r: &mut impl Resolver, kind: &Kind<'_>) -> Result<Value, Unresolved> {
    match kind {
        Kind::Secret(name) => r.secret(name).map(Value::String).ok_or_else(|| Unresolved(format!("#{name}"))),
        Kind::Path(p) => r.path(p).ok_or_else(|| Unresolved((*p).to_string())),
    }
}

/// Renders a string to text.
pub fn render_str(s: &str, r: &mut impl Resolver) -> Result<String, Unresolved> {
    render_str_with(s, r, |_, text| text)
}

/// Renders a string to text, passing the text of each substituted value through `f` (with the
/// placeholder's kind) before it is inserted; the template's own text is kept as written. Used
/// to percent-encode values that go into a URL path.
pub fn render_str_with(
    s: &str,
    r: &mut impl Resolver,
    mut f: impl FnMut(&Kind<'_>, String) -> String,
) -> Result<String, Unresolved> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for p in scan(s) {
        out.push_str(&s[last..p.start]);
        out.push_str(&f(&p.kind, as_text(&resolve(r, &p.kind)?)));
        last = p.end;
    }
    out.push_str(&s[last..]);
    Ok(out)
}

/// True when `s` is exactly one placeholder (its value then stands for the whole field).
pub fn is_whole_placeholder(s: &str) -> bool {
    matches!(scan(s).as_slice(), [only] if only.start == 0 && only.end == s.len())
}

/// Renders every string inside a JSON value (object keys are left alone).
pub fn render_value(v: &Value, r: &mut impl Resolver) -> Result<Value, Unresolved> {
    Ok(match v {
        Value::String(s) => match scan(s).as_slice() {
            [only] if only.start == 0 && only.end == s.len() => resolve(r, &only.kind)?,
            _ => Value::String(render_str(s, r)?),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| render_value(x, r)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            let mut m = Map::with_capacity(o.len());
            for (k, x) in o {
                m.insert(k.clone(), render_value(x, r)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

/// A resolver wrapper that shows secrets as their placeholder (for stored request copies).
pub struct Masked<'a, R: Resolver>(pub &'a mut R);

impl<R: Resolver> Resolver for Masked<'_, R> {
    fn secret(&mut self, name: &str) -> Option<String> {
        self.0.secret(name).map(|_| format!("{{{{ #{name} }}}}"))
    }
    fn path(&mut self, path: &str) -> Option<Value> {
        self.0.path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Map<String, Value> {
        json!({"n": 5, "user": {"email": "a@b.c", "tags": ["x", "y"]}, "flag": true}).as_object().unwrap().clone()
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_embedded_ones_become_text() {
        let initial = ctx();
        let mut r = ContextResolver { initial: &initial, secrets: |k: &str| (k == "tok").then(|| "S3".to_string()) };
        let body = json!({"count": "{{ initial.n }}", "t": "{{user.tags}}", "msg": "n={{ n }} {{ #tok }}", "f": "{{flag}}", "k": 1});
        let out = render_value(&body, &mut r).unwrap();
        assert_eq!(out, json!({"count": 5, "t": ["x", "y"], "msg": "n=5 S3", "f": true, "k": 1}));
        assert_eq!(render_str("/u/{{ user.email }}/{{ user.tags.1 }}", &mut r).unwrap(), "/u/a@b.c/y");
    }

    #[test]
    fn unresolved_variables_and_missing_secrets_are_named() {
        let initial = ctx();
        let mut r = ContextResolver { initial: &initial, secrets: |_: &str| None };
        assert_eq!(render_str("{{ initial.nope }}", &mut r), Err(Unresolved("initial.nope".into())));
        assert_eq!(render_value(&json!({"a": "{{ #gone }}"}), &mut r), Err(Unresolved("#gone".into())));
    }

    #[test]
    fn paths_resolve_in_place_as_against_the_whole_context() {
        let initial = ctx();
        let root = Value::Object(initial.clone());
        let mut r = ContextResolver { initial: &initial, secrets: |_: &str| None };
        for path in
            ["n", "initial.n", "user.email", "initial.user.tags.1", "user..email", ".n", "user.tags.5", "nope", ""]
        {
            let expected = lookup(&root, path.strip_prefix("initial.").unwrap_or(path)).cloned();
            assert_eq!(r.path(path), expected, "{path:?}");
        }
        assert_eq!(r.path("initial."), Some(root.clone()));
        assert_eq!(r.path("user.tags.0"), Some(json!("x")));
        assert_eq!(r.path("flag.x"), None);
    }

    #[test]
    fn masking_shows_the_placeholder_not_the_value() {
        let initial = ctx();
        let mut inner = ContextResolver { initial: &initial, secrets: |_: &str| Some("SECRET".to_string()) };
        let out = render_str("Bearer {{#tok}}", &mut Masked(&mut inner)).unwrap();
        assert_eq!(out, "Bearer {{ #tok }}");
    }
}
