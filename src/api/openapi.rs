//! `/openapi.json`: an OpenAPI 3.1 document generated from the endpoint table. Each operation's
//! request schema (body, or query parameters for `GET`) is the JSON Schema of the handler's
//! typed input, so it lists exactly the fields the handler accepts, with their bounds, and
//! `additionalProperties: false`. Aliases a field accepts (declared with `#[serde(alias)]` and
//! listed under the field's `x-aliases`) appear as deprecated properties of their own.

use serde_json::{Map, Value, json};

use super::endpoints::{ENDPOINTS, Endpoint};

fn envelope() -> Value {
    json!({
        "type": "object",
        "required": ["success"],
        "properties": {"success": {"type": "boolean"}},
        "additionalProperties": true,
    })
}

fn error_ref() -> Value {
    json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The input schema of `e`, with each alias added as a deprecated copy of its field.
pub fn input_schema(e: &Endpoint) -> Value {
    let mut schema = (e.op.schema)().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    add_aliases(&mut schema);
    schema
}

/// Adds, for every property (at any depth) with `x-aliases`, one deprecated property per alias.
fn add_aliases(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else { return };
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        let mut extra = Vec::new();
        for (name, prop) in props.iter_mut() {
            add_aliases(prop);
            for alias in prop.get("x-aliases").and_then(Value::as_array).into_iter().flatten() {
                if let Some(alias) = alias.as_str() {
                    let mut copy = prop.clone();
                    if let Some(c) = copy.as_object_mut() {
                        c.remove("x-aliases");
                        c.insert("deprecated".into(), Value::Bool(true));
                        c.insert("description".into(), Value::String(format!("Alias of `{name}`.")));
                    }
                    extra.push((alias.to_string(), copy));
                }
            }
        }
        props.extend(extra);
    }
    for key in ["items", "anyOf", "oneOf"] {
        match obj.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(add_aliases),
            Some(v @ Value::Object(_)) => add_aliases(v),
            _ => {}
        }
    }
}

/// `GET` operations: the input object's properties as query parameters.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Vec::new();
    for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
        // A query parameter is absent rather than null: drop the null the optional type adds.
        let mut prop = prop.clone();
        if let Some(Value::Array(types)) = prop.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                prop["type"] = types[0].clone();
            }
        }
        if let Some(Value::Array(values)) = prop.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": prop});
        if let Some(d) = prop.get("description") {
            p["description"] = d.clone();
        }
        if prop.get("deprecated") == Some(&Value::Bool(true)) {
            p["deprecated"] = Value::Bool(true);
        }
        out.push(p);
    }
    out
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let schema = input_schema(e);
        let mut ops = Map::new();
        for m in e.methods {
            let mut op = json!({
                "operationId": format!("{}_{}", e.name, m.as_str().to_ascii_lowercase()),
                "summary": e.summary,
                "tags": [e.tag],
                "security": [{"apiKey": [], "brandUuid": []}],
                "responses": {
                    "200": {"description": "Success", "content": {"application/json": {"schema": envelope()}}},
                    "400": error_ref(), "401": error_ref(), "404": error_ref(), "409": error_ref(),
                    "413": error_ref(), "415": error_ref(), "429": error_ref(),
                },
            });
            let obj = op.as_object_mut().expect("object literal");
            if let Some(d) = schema.get("description") {
                obj.insert("description".into(), d.clone());
            }
            if e.reads_query() {
                obj.insert("parameters".into(), Value::Array(query_parameters(&schema)));
            } else {
                let required = schema["required"].as_array().is_some_and(|r| !r.is_empty());
                obj.insert(
                    "requestBody".into(),
                    json!({"required": required, "content": {"application/json": {"schema": schema}}}),
                );
            }
            ops.insert(m.as_str().to_ascii_lowercase(), op);
        }
        paths.insert(format!("/v1/api/{}/", e.name), Value::Object(ops));
    }
    for (path, summary) in [
        ("/healthz", "Process is up."),
        ("/readyz", "Store open and start-up finished; shows the tzdb version."),
        ("/metrics", "Prometheus metrics (optional bearer token)."),
        ("/openapi.json", "This document."),
    ] {
        paths.insert(path.into(), json!({"get": {"operationId": path.trim_start_matches('/').replace('.', "_"), "summary": summary, "security": [], "responses": {"200": {"description": "OK"}}}}));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "hookwheel API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HookPulse-compatible scheduler API. Every /v1/api/ path also answers without the trailing slash. \
                            Mutating calls accept an Idempotency-Key header. Fields not listed in an operation's schema \
                            are refused (400 `Unknown field: <name>`).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-hookpulse-api-key"},
                "brandUuid": {"type": "apiKey", "in": "header", "name": "x-brand-uuid"},
            },
            "schemas": {"Error": {
                "type": "object",
                "required": ["success", "error", "request_id"],
                "properties": {"success": {"const": false}, "error": {"type": "string"}, "request_id": {"type": "string"}},
            }},
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The names serde accepts for each endpoint are exactly the schema's properties plus their
    /// declared aliases: an alias added to `#[serde(alias)]` without `x-aliases` (or the other
    /// way round) fails here.
    #[test]
    fn schema_properties_and_aliases_match_what_serde_accepts() {
        for e in ENDPOINTS {
            let schema = input_schema(e);
            assert_eq!(schema["type"], "object", "{}: {schema}", e.name);
            assert_eq!(schema["additionalProperties"], false, "{}: {schema}", e.name);
            let documented: BTreeSet<String> =
                schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
            let accepted: BTreeSet<String> = (e.op.accepted)().iter().map(|s| s.to_string()).collect();
            assert_eq!(documented, accepted, "{}: documented vs accepted names", e.name);
        }
    }

    #[test]
    fn every_string_array_and_integer_is_bounded() {
        fn walk(path: &str, v: &Value, bad: &mut Vec<String>) {
            let types: Vec<&str> = match &v["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let has = |k: &str| v.get(k).is_some();
            if has("x-bounded-by") {
                return;
            }
            if types.contains(&"string") && !has("maxLength") && !has("enum") {
                bad.push(format!("{path}: string without maxLength"));
            }
            if types.contains(&"integer") && !(has("minimum") && has("maximum")) {
                bad.push(format!("{path}: integer without a range"));
            }
            if types.contains(&"array") && !has("maxItems") {
                bad.push(format!("{path}: array without maxItems"));
            }
            let closed = v["additionalProperties"] == Value::Bool(false);
            if types.contains(&"object") && !closed && !has("maxProperties") {
                bad.push(format!("{path}: free object without maxProperties"));
            }
            for (k, p) in v["properties"].as_object().into_iter().flatten() {
                walk(&format!("{path}.{k}"), p, bad);
            }
            if v["items"].is_object() {
                walk(&format!("{path}[]"), &v["items"], bad);
            }
        }
        let mut bad = Vec::new();
        for e in ENDPOINTS {
            walk(e.name, &input_schema(e), &mut bad);
        }
        assert!(bad.is_empty(), "unbounded fields:\n{}", bad.join("\n"));
    }

    /// The limit a property's schema states, in words (`None` for closed vocabularies and ids,
    /// whose bound is their form).
    fn limit_text(v: &Value) -> Option<String> {
        let types: Vec<&str> = match &v["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
            _ => vec![],
        };
        if v.get("enum").is_some() || v["format"] == "uuid" {
            return None;
        }
        if v["format"] == "date" {
            return Some("a `YYYY-MM-DD` date".into());
        }
        if let Some(b) = v["x-bounded-by"].as_str() {
            return Some(format!("object or array; bounded by {b}"));
        }
        match types.as_slice() {
            ["string"] => {
                let unit = v["x-length-unit"].as_str().unwrap_or("characters");
                let mut t = match (v["minLength"].as_u64(), v["maxLength"].as_u64()) {
                    (Some(min), Some(max)) => format!("{min}–{max} {unit}"),
                    (None, Some(max)) => format!("≤ {max} {unit}"),
                    _ => return None,
                };
                if v["x-control-characters"] == false {
                    t.push_str(", no control characters");
                }
                Some(t)
            }
            ["integer"] => Some(format!("{}–{}", v["minimum"], v["maximum"])),
            ["number", "string"] => {
                Some(format!("{} to {} (≤ {} characters as text)", v["minimum"], v["maximum"], v["maxLength"]))
            }
            ["array"] => Some(format!("≤ {} items", v["maxItems"])),
            ["object"] if v.get("maxProperties").is_some() => Some(format!("≤ {} keys", v["maxProperties"])),
            _ => None,
        }
    }

    /// Adds a row per bounded property of `v`. The fields of objects inside an array
    /// (`steps[]`, `rules[]`) are listed under their own names, with the array in the endpoint
    /// column: they are the same fields as those of the endpoint that adds one such object.
    fn collect(path: &str, v: &Value, endpoint: &str, rows: &mut BTreeMap<(String, String), Vec<String>>) {
        let mut add = |field: String, limit: String, endpoint: &str| {
            let eps = rows.entry((field, limit)).or_default();
            if !eps.iter().any(|e| e == endpoint) {
                eps.push(endpoint.to_string());
            }
        };
        let mut nested = Vec::new();
        for (name, p) in v["properties"].as_object().into_iter().flatten() {
            if p["deprecated"] == true {
                continue;
            }
            let field = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            if let Some(limit) = limit_text(p) {
                add(field.clone(), limit, endpoint);
            }
            if p["properties"].is_object() {
                nested.push((field.clone(), p, endpoint.to_string()));
            }
            let items = &p["items"];
            if items["properties"].is_object() {
                nested.push((String::new(), items, format!("{endpoint} (`{field}[]`)")));
            } else if let Some(limit) = limit_text(items) {
                add(format!("{field}[]"), limit, endpoint);
            }
        }
        for (path, v, endpoint) in nested {
            collect(&path, v, &endpoint, rows);
        }
    }

    /// The "Limits" table of docs/api.md, generated from the input schemas.
    fn limits_table() -> String {
        let mut rows = BTreeMap::new();
        for e in ENDPOINTS {
            collect("", &input_schema(e), e.name, &mut rows);
        }
        let mut out = String::from("| Field | Limit | Endpoints |\n|---|---|---|\n");
        for ((field, limit), eps) in rows {
            out.push_str(&format!("| `{field}` | {limit} | {} |\n", eps.join(", ")));
        }
        out
    }

    /// docs/api.md lists every limit the schemas state, exactly: a new bounded field, or a
    /// changed bound, must be written there too.
    #[test]
    fn the_limits_table_in_the_docs_matches_the_schemas() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).expect("docs/api.md");
        let (begin, end) = ("<!-- limits:begin -->\n", "<!-- limits:end -->");
        let start = doc.find(begin).expect("a limits:begin marker in docs/api.md") + begin.len();
        let stop = doc[start..].find(end).expect("a limits:end marker") + start;
        let expected = limits_table();
        assert!(doc[start..stop] == expected, "docs/api.md's limits table is out of date; it should read:\n{expected}");
    }
}
