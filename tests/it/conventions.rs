//! Conventions every endpoint shares (product.md §1, §2, §7, §8; compat §1), driven by
//! `/openapi.json` so that a new endpoint is covered as soon as it is documented: auth, body
//! validation, limits, envelopes, trailing slashes, pagination, time zones, rate limits,
//! idempotency and the operational endpoints.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Api, Resp, TestDaemon, assert_error, assert_error_envelope, assert_error_starts, assert_ok, unix_now_s,
};

/// One documented operation of `/openapi.json`.
#[derive(Debug, Clone)]
struct Op {
    path: String,
    method: Method,
    /// Required body fields (or, for GET, query parameters), in document order.
    required: Vec<String>,
}

impl Op {
    fn is_get(&self) -> bool {
        self.method == Method::GET
    }
    fn action(&self) -> &str {
        self.path.trim_start_matches("/v1/api/").trim_end_matches('/')
    }
}

fn openapi(api: &Api) -> Value {
    let r = api.plain_get("/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "not OpenAPI 3.1: {}", r.json["openapi"]);
    r.json
}

/// Every `/v1/api/...` operation of the OpenAPI document.
fn documented_ops(api: &Api) -> Vec<Op> {
    let doc = openapi(api);
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/api/") {
            continue;
        }
        for (method, op) in item.as_object().expect("path item") {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            // Required fields: `required`, in field order (a rule across fields in `allOf` may
            // require more, depending on what else is given).
            let mut required: Vec<String> = body["required"]
                .as_array()
                .map(|a| a.iter().map(|f| f.as_str().expect("field name").to_string()).collect())
                .unwrap_or_default();
            let order: Vec<&String> = body["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
            required.sort_by_key(|name| order.iter().position(|k| *k == name));
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" && p["required"] == true {
                    required.push(p["name"].as_str().expect("parameter name").to_string());
                }
            }
            ops.push(Op {
                path: path.clone(),
                method: Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("HTTP method"),
                required,
            });
        }
    }
    assert!(ops.len() >= 20, "suspiciously few operations: {ops:?}");
    ops
}

/// A request to `op` with `{}` as the body (for non-GET methods).
fn with_empty_body(rb: reqwest::blocking::RequestBuilder, op: &Op) -> reqwest::blocking::RequestBuilder {
    if op.is_get() { rb } else { rb.json(&json!({})) }
}

#[test]
fn openapi_documents_every_compat_and_sdk_endpoint() {
    let d = TestDaemon::start();
    let ops = documented_ops(&d.client());
    let have: BTreeSet<(String, String)> = ops.iter().map(|o| (o.action().to_string(), o.method.to_string())).collect();
    let expected = [
        // compat §2.1 + SDK + extensions
        ("add_domain", "POST"),
        ("get_domain_paginated", "GET"),
        ("get_domain_uuid", "POST"),
        ("update_domain", "POST"),
        ("delete_domain", "DELETE"),
        ("delete_domain", "POST"),
        // §2.2
        ("add_webhook_template", "POST"),
        ("get_webhook_template_paginated", "GET"),
        ("single_webhook_template_detail", "POST"),
        ("get_webhook_template_uuid", "POST"),
        ("update_webhook_template", "POST"),
        ("delete_webhook_template", "POST"),
        ("delete_webhook_template", "DELETE"),
        // §2.6
        ("add_system_secret", "POST"),
        ("get_secrets_paginated", "GET"),
        ("get_system_secret_paginated", "GET"),
        ("get_value_of_secret", "POST"),
        ("get_system_secret_uuid", "POST"),
        ("update_secret_value", "POST"),
        ("update_system_secret", "POST"),
        ("delete_secret", "DELETE"),
        ("delete_secret", "POST"),
        ("delete_system_secret", "POST"),
        // §2.7
        ("get_timezones", "GET"),
        ("get_timezone_options", "GET"),
    ];
    for (action, method) in expected {
        assert!(
            have.contains(&(action.to_string(), method.to_string())),
            "/openapi.json lacks {method} /v1/api/{action}/"
        );
    }
    for o in &ops {
        assert!(o.path.ends_with('/'), "documented path without the trailing slash: {}", o.path);
    }
    // The operational endpoints are documented too.
    let doc = openapi(&d.client());
    for p in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(doc["paths"][p]["get"].is_object(), "{p} is not documented");
    }
}

#[test]
fn every_operation_requires_credentials_of_the_same_brand() {
    let d = TestDaemon::start();
    let a = d.client();
    let b = d.new_brand("b", None);
    let wrong_key = format!("hwk_{}", "A".repeat(43));
    for op in documented_ops(&a) {
        let what = format!("{} {}", op.method, op.path);

        let r = Api::send(with_empty_body(a.bare(op.method.clone(), &op.path), &op));
        assert_error(&r, 401, "Missing API key: send it in the x-hookpulse-api-key header");

        let rb = a.bare(op.method.clone(), &op.path).header("x-hookpulse-api-key", &a.key);
        let r = Api::send(with_empty_body(rb, &op));
        assert_error(&r, 401, "Missing brand UUID: send it in the x-brand-uuid header");

        let rb = a
            .bare(op.method.clone(), &op.path)
            .header("x-hookpulse-api-key", &wrong_key)
            .header("x-brand-uuid", &a.brand);
        let r = Api::send(with_empty_body(rb, &op));
        assert_error(&r, 401, "Invalid API key");

        // A valid key of brand A sent with brand B's UUID, and the other way round.
        let r = Api::send(with_empty_body(a.as_brand(&b.brand, &a.key).authed(op.method.clone(), &op.path), &op));
        assert_error(&r, 401, "Authentication failed");
        let r = Api::send(with_empty_body(a.as_brand(&a.brand, &b.key).authed(op.method.clone(), &op.path), &op));
        assert_error(&r, 401, "Authentication failed");

        // And the right pair passes auth (whatever the handler then says).
        let r = Api::send(with_empty_body(a.authed(op.method.clone(), &op.path), &op));
        assert_ne!(r.status, 401, "{what} refused valid credentials: {}", r.text);
        let r = Api::send(with_empty_body(a.as_brand(&b.brand, &b.key).authed(op.method.clone(), &op.path), &op));
        assert_ne!(r.status, 401, "{what} refused brand B's valid credentials: {}", r.text);
    }
}

#[test]
fn write_operations_validate_their_bodies() {
    let d = TestDaemon::start_with("[api]\nbody_bytes_max = 2048\n");
    let api = d.client();
    let mut checked_required = 0;
    for op in documented_ops(&api).into_iter().filter(|o| !o.is_get()) {
        let what = format!("{} {}", op.method, op.path);
        let req = || api.authed(op.method.clone(), &op.path);

        if let Some(first) = op.required.first() {
            let r = Api::send(req().json(&json!({})));
            assert_error(&r, 400, &format!("Missing required field: {first}"));
            checked_required += 1;
        }

        let r = Api::send(req().header("content-type", "application/json").body(r#"{"a":"#));
        assert_error(&r, 400, "Invalid request body: not valid JSON: the body ends early at line 1, column 5");

        let r = Api::send(req().header("content-type", "application/json").body("[1, 2]"));
        assert_error_starts(&r, 400, "Invalid request body");

        let big = json!({"pad": "x".repeat(4096)});
        let r = Api::send(req().json(&big));
        assert_eq!(r.status, 413, "{what}: {}", r.text);
        assert_error_envelope(&r);
        assert_connection_close(&r);

        let r = Api::send(req().header("content-type", "text/plain").body("hello"));
        assert_eq!(r.status, 415, "{what}: {}", r.text);
        assert_error_envelope(&r);
    }
    assert!(checked_required >= 15, "only {checked_required} operations had required fields");

    // A body without Content-Length (chunked) is cut off at the limit too.
    let chunked =
        reqwest::blocking::Body::new(std::io::Cursor::new(json!({"pad": "y".repeat(8192)}).to_string().into_bytes()));
    let r = Api::send(
        api.authed(Method::POST, "/v1/api/add_domain/").header("content-type", "application/json").body(chunked),
    );
    assert_eq!(r.status, 413, "{}", r.text);
    assert_error_envelope(&r);
    assert_connection_close(&r);

    // Just under the limit is fine, and nothing above was stored.
    assert_eq!(api.total("get_domain_paginated"), 0);
    let padded = format!(r#"{{"protocol_type": "https", "domain": "ok.example"{}}}"#, " ".repeat(1900));
    let r = Api::send(
        api.authed(Method::POST, "/v1/api/add_domain/").header("content-type", "application/json").body(padded),
    );
    assert_ok(&r);
}

/// Every operation documents its input as a closed schema (each field listed, nothing else
/// allowed), and the daemon holds to it: a field that is not listed is refused by name, with the
/// closest documented name suggested for a typo (issue 8 §8, case 19).
#[test]
fn every_operation_lists_its_fields_and_refuses_unknown_ones() {
    let d = TestDaemon::start();
    let api = d.client();
    let doc = openapi(&api);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/api/") {
            continue;
        }
        for (method, op) in item.as_object().expect("path item") {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("HTTP method");
            let what = format!("{m} {path}");
            let fields: Vec<String> = if m == Method::GET {
                assert!(op.get("requestBody").is_none(), "{what}: a GET with a body schema");
                let params = op["parameters"].as_array().unwrap_or_else(|| panic!("{what}: no parameters list"));
                for p in params {
                    assert_eq!(p["in"], "query", "{what}: {p}");
                    assert!(p["schema"].is_object(), "{what}: parameter without a schema: {p}");
                }
                params.iter().map(|p| p["name"].as_str().expect("name").to_string()).collect()
            } else {
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                assert_eq!(schema["type"], "object", "{what}: {schema}");
                assert_eq!(schema["additionalProperties"], false, "{what}: the body schema is open: {schema}");
                let props = schema["properties"].as_object().unwrap_or_else(|| panic!("{what}: no properties"));
                for r in schema["required"].as_array().into_iter().flatten() {
                    assert!(props.contains_key(r.as_str().expect("name")), "{what}: required {r} is not a property");
                }
                props.keys().cloned().collect()
            };

            // A field that no schema lists.
            let r = if m == Method::GET {
                Api::send(api.authed(m.clone(), &format!("{path}?zz_not_a_field=1")))
            } else {
                Api::send(api.authed(m.clone(), path).json(&json!({"zz_not_a_field": 1})))
            };
            assert_error(&r, 400, "Unknown field: zz_not_a_field");
            // A body operation takes no query parameters.
            if m != Method::GET {
                let r = Api::send(api.authed(m.clone(), &format!("{path}?zz_query=1")).json(&json!({})));
                assert_error(&r, 400, "Unknown field: zz_query");
            }
            // A typo of a documented field: the documented name is suggested.
            if let Some(first) = fields.iter().find(|f| f.len() > 5) {
                let typo = format!("{}{}", &first[..first.len() - 2], &first[first.len() - 1..]);
                let r = if m == Method::GET {
                    Api::send(api.authed(m.clone(), &format!("{path}?{typo}=1")))
                } else {
                    Api::send(api.authed(m.clone(), path).json(&json!({typo.clone(): 1})))
                };
                assert_error(&r, 400, &format!("Unknown field: {typo} (did you mean {first}?)"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} operations checked");
}

/// A 413 leaves the body unread and ends the connection, and must say so.
fn assert_connection_close(r: &Resp) {
    let c = r.headers.get("connection").and_then(|v| v.to_str().ok());
    assert_eq!(c, Some("close"), "413 without Connection: close: {:?}", r.headers);
}

#[test]
fn paths_answer_with_and_without_the_trailing_slash() {
    let d = TestDaemon::start();
    let api = d.client();
    api.add_domain("slash.example");
    for op in documented_ops(&api) {
        let bare = op.path.trim_end_matches('/').to_string();
        let with = Api::send(with_empty_body(api.authed(op.method.clone(), &op.path), &op));
        let without = Api::send(with_empty_body(api.authed(op.method.clone(), &bare), &op));
        let what = format!("{} {} vs {}", op.method, op.path, bare);
        assert_eq!(with.status, without.status, "{what}: {} / {}", with.text, without.text);
        assert!(!with.error().starts_with("Resource not found"), "{what} is not routed");
        match op.required.first() {
            None if op.is_get() => {
                assert_ok(&with);
                assert_eq!(with.json, without.json, "{what}");
            }
            // Nothing given: both name the first required field.
            Some(first) => {
                assert_error(&with, 400, &format!("Missing required field: {first}"));
                assert_eq!(with.error(), without.error(), "{what}");
            }
            None => assert_eq!(with.error(), without.error(), "{what}"),
        }
    }
}

#[test]
fn unknown_actions_and_paths_are_404_envelopes() {
    let d = TestDaemon::start();
    let api = d.client();
    for path in ["/v1/api/no_such_action/", "/v1/api/no_such_action", "/v1/api/", "/v2/api/add_domain/", "/nope"] {
        let r = Api::send(api.authed(Method::POST, path).json(&json!({})));
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_error_envelope(&r);
        let r = Api::send(api.bare(Method::GET, path));
        assert_eq!(r.status, 404, "{path} without credentials: {}", r.text);
        assert_error_envelope(&r);
    }
    let r = Api::send(api.authed(Method::GET, "/v1/api/no_such_action/"));
    assert_error(&r, 404, "Resource not found: no action \"no_such_action\"; GET /openapi.json lists them all");
    // A near miss names the action meant, with or without credentials.
    let r = Api::send(api.authed(Method::POST, "/v1/api/add_interval_schedul/").json(&json!({})));
    assert_error(
        &r,
        404,
        "Resource not found: no action \"add_interval_schedul\" (did you mean add_interval_schedule?); \
         GET /openapi.json lists them all",
    );
    let r = Api::send(api.bare(Method::GET, "/v1/api/get_execution_paginated"));
    assert_error_starts(
        &r,
        404,
        "Resource not found: no action \"get_execution_paginated\" (did you mean get_executions_paginated?)",
    );
}

#[test]
fn unreadable_json_bodies_are_located_by_line_and_column() {
    let d = TestDaemon::start();
    let api = d.client();
    let send = |body: &str| {
        Api::send(
            api.authed(Method::POST, "/v1/api/add_domain/")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    let r = send("{\n  \"domain\": \"a.example\",\n  \"protocol_type\": \"https\",\n}");
    assert_error(&r, 400, "Invalid request body: not valid JSON: trailing comma at line 4, column 1");
    let r = send("{\"domain\": \"sk_live_123\" \"x\": 1}");
    assert_error(&r, 400, "Invalid request body: not valid JSON: expected `,` or `}` at line 1, column 26");
    let r = send("{\"domain\": ");
    assert_error(&r, 400, "Invalid request body: not valid JSON: the body ends early at line 1, column 11");
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let d = TestDaemon::start();
    let api = d.client();
    let ops = documented_ops(&api);
    let paths: BTreeSet<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    for path in paths {
        let allowed: Vec<Method> = ops.iter().filter(|o| o.path == path).map(|o| o.method.clone()).collect();
        for m in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            if allowed.contains(&m) {
                continue;
            }
            let rb = api.authed(m.clone(), path);
            let rb = if m == Method::GET { rb } else { rb.json(&json!({})) };
            let r = Api::send(rb);
            assert_eq!(r.status, 405, "{m} {path}: {}", r.text);
            assert_error_envelope(&r);
            let allow = r.headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            for a in &allowed {
                assert!(allow.contains(a.as_str()), "{m} {path}: Allow {allow:?} lacks {a}");
            }
        }
    }
}

#[test]
fn pagination_meta_is_right() {
    let d = TestDaemon::start();
    let api = d.client();
    let mut made = BTreeSet::new();
    for i in 0..25 {
        made.insert(api.add_domain(&format!("p{i:02}.example")));
    }
    let p1 = api.get("get_domain_paginated?page=1");
    assert_ok(&p1);
    assert_eq!(p1.json["data"].as_array().unwrap().len(), 20, "{}", p1.text);
    assert_eq!(
        p1.json["meta"],
        json!({"page": 1, "total_count": 25, "per_page": 20, "total_pages": 2, "has_next": true, "has_prev": false})
    );
    assert_eq!(p1.json["timezone"], "UTC");
    let p2 = api.get("get_domain_paginated?page=2");
    assert_ok(&p2);
    assert_eq!(p2.json["data"].as_array().unwrap().len(), 5, "{}", p2.text);
    assert_eq!(
        p2.json["meta"],
        json!({"page": 2, "total_count": 25, "per_page": 20, "total_pages": 2, "has_next": false, "has_prev": true})
    );
    let seen: BTreeSet<String> = p1.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.json["data"].as_array().unwrap())
        .map(|d| d["domain_uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, made, "the two pages together are exactly the 25 domains");

    // Past the end: empty, still well-formed.
    let p3 = api.get("get_domain_paginated?page=3");
    assert_ok(&p3);
    assert_eq!(p3.json["data"], json!([]));
    assert_eq!(p3.json["meta"]["has_next"], false);
    assert_eq!(p3.json["meta"]["has_prev"], true);
    // Without `page`: page 1.
    let p = api.get("get_domain_paginated");
    assert_eq!(p.json["meta"]["page"], 1);
    assert_eq!(p.json["data"], p1.json["data"]);

    for bad in ["0", "-1", "abc", "1.5"] {
        let r = api.get(&format!("get_domain_paginated?page={bad}"));
        assert_error_starts(&r, 400, "Invalid field value: page");
    }
    // The other lists use the same meta.
    let t = api.get("get_webhook_template_paginated?page=1");
    assert_eq!(
        t.json["meta"],
        json!({"page": 1, "total_count": 0, "per_page": 20, "total_pages": 0, "has_next": false, "has_prev": false})
    );
}

#[test]
fn brand_timezone_is_echoed_in_lists_and_timestamps() {
    let d = TestDaemon::start();
    let creds = d.new_brand("kolkata", Some("Asia/Kolkata"));
    let api = d.client().as_brand(&creds.brand, &creds.key);
    let domain = api.add_domain("tz.example");
    let template = api.add_template(&domain, "tz hook");
    api.add_secret("tz_secret", "v");
    for list in ["get_domain_paginated", "get_webhook_template_paginated", "get_secrets_paginated"] {
        let r = api.get(&format!("{list}?page=1"));
        assert_ok(&r);
        assert_eq!(r.json["timezone"], "Asia/Kolkata", "{list}: {}", r.text);
        let item = &r.json["data"][0];
        let at = item["inserted_at"].as_str().unwrap_or_else(|| panic!("{list}: no inserted_at: {item}"));
        assert!(at.ends_with("+05:30"), "{list}: inserted_at {at} is not in the brand's zone");
    }
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": template}));
    assert_ok(&r);
    assert_eq!(r.json["data"]["timezone"], "Asia/Kolkata");
    assert!(r.json["data"]["inserted_at"].as_str().unwrap().ends_with("+05:30"), "{}", r.text);

    // The default brand stays in UTC.
    let default = d.client();
    default.add_domain("utc.example");
    let r = default.get("get_domain_paginated?page=1");
    assert_eq!(r.json["timezone"], "UTC");
    assert!(r.json["data"][0]["inserted_at"].as_str().unwrap().ends_with("+00:00"), "{}", r.text);
    assert_eq!(r.json["meta"]["total_count"], 1, "brands see only their own domains");

    // An unknown zone is refused.
    let (code, _, err) = d.cli(&["brand", "create", "--name", "x", "--timezone", "Mars/Olympus"]);
    assert_ne!(code, 0);
    assert!(err.contains("Mars/Olympus"), "{err}");
}

/// An `add_webhook_template` body whose `request_body_json` makes the whole body `depth` levels
/// deep.
fn nested_template_body(domain: &str, name: &str, depth: usize) -> String {
    let inner = "{\"n\":".repeat(depth - 2) + "{}" + &"}".repeat(depth - 2);
    format!(
        r#"{{"webhook_name":"{name}","method":"POST","path":"/","domain_uuid":"{domain}","request_body_json":{inner}}}"#
    )
}

/// `add_webhook_template` with `body` sent as it is.
fn add_template_raw(api: &Api, body: String) -> Resp {
    Api::send(
        api.authed(Method::POST, "/v1/api/add_webhook_template/").header("content-type", "application/json").body(body),
    )
}

#[test]
fn json_depth_is_limited() {
    let d = TestDaemon::start_with("[api]\njson_depth_max = 4\n");
    let api = d.client();
    let domain = api.add_domain("deep.example");
    let send = |body: String| add_template_raw(&api, body);
    let r = send(nested_template_body(&domain, "deep6", 6));
    assert_error_starts(&r, 400, "Invalid request body");
    let r = send(nested_template_body(&domain, "deep5", 5));
    assert_error_starts(&r, 400, "Invalid request body");
    let r = send(nested_template_body(&domain, "deep4", 4));
    assert_ok(&r);
    // Brackets inside strings are not nesting.
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "[[[[[{{{{{", "method": "POST", "path": "/", "domain_uuid": domain}),
    );
    assert_ok(&r);
    assert_eq!(api.total("get_webhook_template_paginated"), 2);
}

/// At the highest `api.json_depth_max` (128) a body exactly that deep is accepted: serde_json's
/// own limit (127 levels) refused it as "recursion limit exceeded" before. One level more is
/// refused naming the depth.
#[test]
fn a_body_as_deep_as_the_highest_depth_limit_is_accepted() {
    let d = TestDaemon::start_with("[api]\njson_depth_max = 128\n");
    let api = d.client();
    let domain = api.add_domain("deep.example");
    let send = |body: String| add_template_raw(&api, body);
    assert_ok(&send(nested_template_body(&domain, "deep128", 128)));
    let r = send(nested_template_body(&domain, "deep129", 129));
    assert_error_starts(&r, 400, "Invalid request body");
    assert!(r.text.contains("JSON nested 129 levels deep; the limit is 128"), "{}", r.text);
}

/// An event whose body nests as deep as JSON is parsed at all (127 levels: serde_json stops at
/// 128) is accepted, listed and shown. A schema 4 store accepted it (202) and then answered
/// every list of the brand's events with a 500: its JSON record nests one level more than the
/// body, past the limit. Record format 3 reads up to 192 levels. The answer's text is checked
/// (the body kept as JSON, not as text), as it nests past what this test's JSON parser reads.
#[test]
fn the_deepest_json_event_body_reads_back() {
    let d = TestDaemon::start();
    let api = d.client();
    let (_, url) = crate::events::add_source(&api, json!({"source_name": "deep"}));
    let body = "[".repeat(127) + &"]".repeat(127);
    let r = crate::events::ingest(&api, &url, &[], body.as_bytes());
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["event_uuid"].as_str().expect("event_uuid").to_string();
    let r = api.get("get_events_paginated");
    assert_ok(&r);
    assert_eq!(r.json["data"][0]["event_uuid"], id.as_str(), "{}", r.text);
    let r = api.post("get_event_details", json!({"event_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(&format!("\"body\":{body},\"body_encoding\":\"json\"")), "{}", r.text);
}

fn header_i64(r: &Resp, name: &str) -> i64 {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn api_rate_limit_per_key() {
    let d = TestDaemon::start_with("[api]\nrate_limit_per_minute = 5\n");
    let api = d.client();
    let before = unix_now_s();
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = api.get("get_domain_paginated?page=1");
        assert_ok(&r);
        assert_eq!(header_i64(&r, "x-ratelimit-limit"), 5);
        remaining.push(header_i64(&r, "x-ratelimit-remaining"));
        let reset = header_i64(&r, "x-ratelimit-reset");
        assert!(
            reset >= before && reset <= unix_now_s() + 61,
            "X-RateLimit-Reset {reset} is not a Unix time within the next minute (now {before})"
        );
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let r = api.get("get_domain_paginated?page=1");
    assert_error(&r, 429, "Rate limit exceeded");
    let retry = header_i64(&r, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header_i64(&r, "x-ratelimit-remaining"), 0);
    // Writes are refused too, and do not happen.
    let r = api.post("add_domain", json!({"protocol_type": "https", "domain": "limited.example"}));
    assert_eq!(r.status, 429, "{}", r.text);

    // The limit is per key: another key of the same brand has its own bucket.
    let (code, out, err) = d.cli(&["key", "create", "--brand", &d.brand, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let key2: Value = serde_json::from_str(out.trim()).unwrap();
    let other = api.as_brand(&d.brand, key2["api_key"].as_str().unwrap());
    let r = other.get("get_domain_paginated?page=1");
    assert_ok(&r);
    assert_eq!(r.json["meta"]["total_count"], 0, "the refused add_domain must not have run");
    assert_eq!(header_i64(&r, "x-ratelimit-remaining"), 4);
}

#[test]
fn idempotency_key_replays_the_first_answer() {
    let d = TestDaemon::start();
    let api = d.client();
    let body = json!({"protocol_type": "https", "domain": "idem.example", "rate_limit_enabled": false,
        "concurrency_control_enabled": false, "max_concurrent_jobs": 0, "max_requests_per_second": 0});
    let call = |key: &str, body: &Value| {
        Api::send(api.request(Method::POST, "add_domain").header("Idempotency-Key", key).json(body))
    };
    let first = call("k-1", &body);
    assert_ok(&first);
    assert!(first.headers.get("idempotent-replayed").is_none(), "the first answer is not a replay");
    let second = call("k-1", &body);
    assert_ok(&second);
    assert_eq!(second.text, first.text, "a replay returns the first body byte for byte");
    assert_eq!(second.json["domain_uuid"], first.json["domain_uuid"]);
    assert_eq!(second.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(api.total("get_domain_paginated"), 1, "the retry created nothing");

    // The same key with another body is a conflict.
    let mut other = body.clone();
    other["domain"] = json!("other.example");
    let r = call("k-1", &other);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_error_envelope(&r);
    // The same key on another endpoint too.
    let r = Api::send(
        api.request(Method::POST, "add_system_secret")
            .header("Idempotency-Key", "k-1")
            .json(&json!({"secret_key": "k", "secret_value": "v"})),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(api.total("get_domain_paginated"), 1);
    assert_eq!(api.total("get_secrets_paginated"), 0);

    // A failed first call is not remembered: the corrected retry with the same key runs once.
    let r = call("k-2", &json!({"protocol_type": "gopher", "domain": "fix.example"}));
    assert_eq!(r.status, 400, "{}", r.text);
    let mut fixed = body.clone();
    fixed["domain"] = json!("fix.example");
    let r1 = call("k-2", &fixed);
    assert_ok(&r1);
    let r2 = call("k-2", &fixed);
    assert_eq!(r2.text, r1.text);
    assert_eq!(api.total("get_domain_paginated"), 2);

    // Keys belong to the brand: another brand may use the same key for its own call.
    let b = d.new_brand("idem-b", None);
    let r = Api::send(
        api.as_brand(&b.brand, &b.key).request(Method::POST, "add_domain").header("Idempotency-Key", "k-1").json(&body),
    );
    assert_ok(&r);
    assert!(r.headers.get("idempotent-replayed").is_none());
    assert_ne!(r.json["domain_uuid"], first.json["domain_uuid"]);
}

#[test]
fn operational_endpoints() {
    let d = TestDaemon::start();
    let api = d.client();
    let r = api.plain_get("/healthz");
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.plain_get("/readyz");
    assert_eq!(r.status, 200, "{}", r.text);
    let version = r.json["tzdb"]["version"].as_str().unwrap_or_else(|| panic!("no tzdb version: {}", r.text));
    assert!(
        version.len() == 5
            && version[..4].parse::<u32>().is_ok_and(|y| y >= 2024)
            && version.as_bytes()[4].is_ascii_lowercase(),
        "tzdb version {version:?} is not like 2025b"
    );

    let before = api.plain_get("/metrics");
    assert_eq!(before.status, 200);
    assert!(!before.text.contains("route=\"add_domain\",status=\"200\""), "{}", before.text);
    api.add_domain("metrics.example");
    let r = api.post("add_domain", json!({"protocol_type": "nope", "domain": "x.example"}));
    assert_eq!(r.status, 400);
    let after = api.plain_get("/metrics");
    assert_eq!(after.status, 200);
    assert!(
        after.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        after.headers
    );
    assert!(
        after.text.contains("hookwheel_http_requests_total{route=\"add_domain\",status=\"200\"} 1"),
        "{}",
        after.text
    );
    assert!(
        after.text.contains("hookwheel_http_requests_total{route=\"add_domain\",status=\"400\"} 1"),
        "{}",
        after.text
    );
}

#[test]
fn metrics_bearer_token() {
    let d = TestDaemon::start_with("[metrics]\nbearer_token = \"t0k\"\n");
    let api = d.client();
    let r = api.plain_get("/metrics");
    assert_eq!(r.status, 401, "{}", r.text);
    for wrong in ["Bearer nope", "Bearer t0k0", "t0k", "Basic dDBr"] {
        let r = Api::send(api.bare(Method::GET, "/metrics").header("authorization", wrong));
        assert_eq!(r.status, 401, "{wrong}: {}", r.text);
    }
    let r = Api::send(api.bare(Method::GET, "/metrics").header("authorization", "Bearer t0k"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("hookwheel_build_info"), "{}", r.text);
    // The token protects only /metrics.
    assert_eq!(api.plain_get("/healthz").status, 200);
}
