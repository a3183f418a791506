//! `docs/reference.md`: every endpoint with every field it takes (name, type, whether it is
//! required, bounds, accepted values, description) and the fields of its answer, rendered from
//! the OpenAPI document, so the page and `/openapi.json` say the same. A test fails when the
//! committed page differs from what this renders; `HW_BLESS=1 cargo test --lib api::reference`
//! writes it.

use serde_json::Value;

use super::endpoints::ENDPOINTS;
use super::openapi::{TIME_ZONE_REF, document, required_names};

/// The JSON types of a schema, `null` left out (it means "absent" in a request).
fn types(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = match &v["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ if v["$ref"] == TIME_ZONE_REF => vec!["string".into()],
        _ => v["anyOf"].as_array().into_iter().flatten().flat_map(types).filter(|t| t != "any").collect(),
    };
    out.retain(|t| t != "null");
    if let Some(f) = v["format"].as_str()
        && let Some(t) = out.first_mut()
    {
        *t = format!("{t} ({f})");
    }
    if out.is_empty() { vec!["any".into()] } else { out }
}

/// The accepted values or bounds of a schema, in words.
fn values(v: &Value) -> String {
    let mut parts = Vec::new();
    let zone = v["$ref"] == TIME_ZONE_REF
        || v["anyOf"].as_array().is_some_and(|a| a.iter().any(|s| s["$ref"] == TIME_ZONE_REF));
    if zone {
        parts.push("an IANA zone name (`get_timezones` lists them)".to_string());
    } else if let Some(e) = v["enum"].as_array() {
        let vals: Vec<String> =
            e.iter().filter(|x| !x.is_null()).map(|x| format!("`{}`", x.as_str().unwrap_or(""))).collect();
        parts.push(format!("one of {}", vals.join(", ")));
    }
    if let Some(c) = v.get("const") {
        parts.push(format!("always `{c}`"));
    }
    match (v.get("minimum"), v.get("maximum")) {
        (Some(a), Some(b)) => parts.push(format!("{a} to {b}")),
        (Some(a), None) => parts.push(format!("≥ {a}")),
        (None, Some(b)) => parts.push(format!("≤ {b}")),
        _ => {}
    }
    match (v["minLength"].as_u64(), v["maxLength"].as_u64()) {
        (Some(a), Some(b)) => parts.push(format!("{a}–{b} characters")),
        (None, Some(b)) => parts.push(format!("≤ {b} characters")),
        _ => {}
    }
    if let Some(n) = v["maxItems"].as_u64() {
        parts.push(format!("≤ {n} items"));
    }
    if let Some(n) = v["maxProperties"].as_u64() {
        parts.push(format!("≤ {n} keys"));
    }
    if let Some(p) = v["pattern"].as_str().filter(|p| !p.starts_with("^[^")) {
        parts.push(format!("matches `{p}`"));
    }
    if let Some(r) = v["x-instant-range"].as_str() {
        parts.push(format!("from {r}"));
    }
    if let Some(b) = v["x-bounded-by"].as_str() {
        parts.push(format!("bounded by {b}"));
    }
    parts.join("; ")
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One table row per property of `v` (and of the objects inside it), depth first.
fn rows(prefix: &str, v: &Value, request: bool, out: &mut Vec<String>) {
    let groups = required_names(v);
    for (name, p) in v["properties"].as_object().into_iter().flatten() {
        if p["deprecated"] == true {
            continue;
        }
        let field = format!("{prefix}{name}");
        let required = match groups.iter().find(|g| g.first() == Some(name)) {
            Some(g) if g.len() > 1 => {
                let alts: Vec<String> = g[1..].iter().map(|a| format!("`{a}`")).collect();
                format!("yes (or {})", alts.join(", "))
            }
            Some(_) => "yes".into(),
            None => "no".into(),
        };
        let aliases: Vec<String> = p["x-aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|a| format!("`{a}`"))
            .collect();
        let mut description = p["description"].as_str().unwrap_or_default().to_string();
        if !aliases.is_empty() {
            description.push_str(&format!(" Also accepted as {}.", aliases.join(", ")));
        }
        let (kind, vals) = if types(p) == ["array"] {
            let items = &p["items"];
            let inner = values(items);
            let mut vals = values(p);
            if !inner.is_empty() {
                vals = if vals.is_empty() { format!("each: {inner}") } else { format!("{vals}; each: {inner}") };
            }
            (format!("array of {}", types(items).join(" or ")), vals)
        } else {
            (types(p).join(" or "), values(p))
        };
        let req = if request { format!(" {} |", required) } else { String::new() };
        out.push(format!("| `{field}` | {} |{req} {} | {} |", cell(&kind), cell(&vals), cell(&description)));
        if p["properties"].is_object() {
            rows(&format!("{field}."), p, request, out);
        }
        if p["items"]["properties"].is_object() {
            rows(&format!("{field}[]."), &p["items"], request, out);
        }
    }
}

/// The reference page, in Markdown.
pub fn markdown() -> String {
    let doc = document();
    let mut out = String::from(
        "# API reference\n\n\
         <!-- Generated from the endpoint table (src/api/endpoints.rs) through /openapi.json; do not edit.\n     \
         Regenerate: HW_BLESS=1 cargo test --lib api::reference -->\n\n\
         Every `/v1/api/<name>/` endpoint (also without the trailing slash), with every field it takes and the\n\
         fields of its answer. Requests carry the headers `x-hookpulse-api-key` and `x-brand-uuid`; `GET`\n\
         endpoints read the query string, the others a JSON body. A field that is not listed is refused\n\
         (400 `Unknown field`); `null` is the same as leaving a field out. Conventions, errors and limits:\n\
         [api.md](api.md).\n",
    );
    let mut tag = "";
    for e in ENDPOINTS {
        if e.tag != tag {
            tag = e.tag;
            let mut t = tag.to_string();
            if let Some(first) = t.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            out.push_str(&format!("\n## {t}\n"));
        }
        let path = format!("/v1/api/{}/", e.name);
        let methods: Vec<&str> = e.methods.iter().map(|m| m.as_str()).collect();
        let op = &doc["paths"][&path][methods[0].to_ascii_lowercase()];
        out.push_str(&format!("\n### `{}`\n\n`{}` `{path}` — {}\n", e.name, methods.join("` / `"), e.summary));
        if let Some(d) = op["description"].as_str() {
            out.push_str(&format!("\n{}\n", d.trim()));
        }
        let mut req = Vec::new();
        if e.reads_query() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let s = &p["schema"];
                let required = if p["required"] == true { "yes" } else { "no" };
                req.push(format!(
                    "| `{}` | {} | {required} | {} | {} |",
                    p["name"].as_str().unwrap_or(""),
                    cell(&types(s).join(" or ")),
                    cell(&values(s)),
                    cell(p["description"].as_str().unwrap_or(""))
                ));
            }
        } else {
            rows("", &op["requestBody"]["content"]["application/json"]["schema"], true, &mut req);
        }
        let where_ = if e.reads_query() { "Query parameters" } else { "Body fields" };
        if req.is_empty() {
            out.push_str(&format!("\n{where_}: none.\n"));
        } else {
            out.push_str(&format!(
                "\n{where_}:\n\n| Field | Type | Required | Values | Description |\n|---|---|---|---|---|\n{}\n",
                req.join("\n")
            ));
        }
        if let Some(example) = op["requestBody"]["content"]["application/json"]["example"].as_object() {
            let text = serde_json::to_string_pretty(example).unwrap_or_default();
            out.push_str(&format!("\nExample:\n\n```json\n{text}\n```\n"));
        }
        let mut ans = Vec::new();
        rows("", &op["responses"]["200"]["content"]["application/json"]["schema"], false, &mut ans);
        out.push_str(&format!(
            "\nAnswer (200):\n\n| Field | Type | Values | Description |\n|---|---|---|---|\n{}\n",
            ans.join("\n")
        ));
    }
    // The routes beside the endpoint table (operations, the ingest URL, dialects): one line
    // each; their fields and answers are in /openapi.json and docs/api.md.
    let mut other = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if path.starts_with("/v1/api/") {
            continue;
        }
        for (method, op) in item.as_object().into_iter().flatten() {
            let auth = match op["security"].as_array().and_then(|s| s.first()).and_then(Value::as_object) {
                Some(s) if s.contains_key("bearerKey") => "`Authorization: Bearer <api key>`",
                Some(_) => "API key headers",
                None => "none",
            };
            other.push(format!(
                "| `{} {path}` | {auth} | {} |",
                method.to_ascii_uppercase(),
                cell(op["summary"].as_str().unwrap_or(""))
            ));
        }
    }
    out.push_str(&format!(
        "\n## Other routes\n\nRoutes outside `/v1/api/`; their fields and answers are in `/openapi.json` and \
         [api.md](api.md).\n\n| Route | Credentials | What it does |\n|---|---|---|\n{}\n",
        other.join("\n")
    ));
    out
}

#[cfg(test)]
mod tests {
    /// docs/reference.md is what [`super::markdown`] renders now.
    #[test]
    fn the_reference_page_matches_the_endpoint_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md");
        let expected = super::markdown();
        if std::env::var_os("HW_BLESS").is_some() {
            std::fs::write(path, &expected).expect("write docs/reference.md");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "docs/reference.md is out of date; regenerate it with: HW_BLESS=1 cargo test --lib api::reference"
        );
    }
}
