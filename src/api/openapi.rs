//! `/openapi.json`: an OpenAPI 3.1 document generated from the endpoint table, so it lists
//! exactly the routes the dispatcher serves, with their documented fields.

use serde_json::{Map, Value, json};

use super::endpoints::{ENDPOINTS, Field};

fn field_schema(f: &Field) -> Value {
    match f.ty {
        "number|string" => json!({"type": ["number", "string"]}),
        ty => json!({"type": ty}),
    }
}

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

pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
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
            if *m == axum::http::Method::GET {
                let params: Vec<Value> = e
                    .fields
                    .iter()
                    .map(|f| json!({"name": f.name, "in": "query", "required": f.required, "schema": field_schema(f)}))
                    .collect();
                obj.insert("parameters".into(), Value::Array(params));
            } else {
                let props: Map<String, Value> =
                    e.fields.iter().map(|f| (f.name.to_string(), field_schema(f))).collect();
                let required: Vec<&str> = e.fields.iter().filter(|f| f.required).map(|f| f.name).collect();
                obj.insert(
                    "requestBody".into(),
                    json!({"required": !required.is_empty(), "content": {"application/json": {"schema": {
                        "type": "object", "properties": props, "required": required, "additionalProperties": true,
                    }}}}),
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
                            Mutating calls accept an Idempotency-Key header.",
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
