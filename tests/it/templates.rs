//! Webhook-template endpoints (compat §2.2, §4): add, list, detail, the SDK's url-based create
//! and template_uuid aliases, update and delete, validation, and brand isolation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, assert_error, assert_invalid, assert_ok, keys_of};

const LIST_FIELDS: &[&str] = &[
    "path",
    "method",
    "inserted_at",
    "webhook_uuid",
    "webhook_name",
    "webhook_description",
    "request_timeout_in_milliseconds",
    "max_retries",
    "retry_delay",
    "retry_backoff_mode",
    "domain_details",
];

fn documented_body(domain_uuid: &str) -> Value {
    json!({
        "webhook_name": "employee sync",
        "webhook_description": "pushes HR records",
        "method": "POST",
        "path": "/hr/{{ #path_token }}/",
        "domain_uuid": domain_uuid,
        "retry_delay": 7,
        "retry_backoff_mode": "exponential",
        "max_retries": 3,
        "request_timeout_in_milliseconds": 2500,
        "request_body_json": {"key1": "{{value1}}", "key3": "{{ initial.test_name }}", "key5": "{{ #key }}",
            "nested": {"list": [1, "{{#deep_secret}}"]}},
        "headers_json": {"Authentication": "Bearer {{ #key }}", "X-Static": "1"},
        "query_params_json": {"variable_path": "{{ initial.test_path }}", "q": "{{ #query_secret }}"},
    })
}

fn detail(api: &Api, uuid: &str) -> Value {
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": uuid}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn list_item(api: &Api, uuid: &str) -> Value {
    api.all_pages("get_webhook_template_paginated")
        .into_iter()
        .find(|t| t["webhook_uuid"] == uuid)
        .unwrap_or_else(|| panic!("template {uuid} not listed"))
}

#[test]
fn add_list_and_detail_have_the_documented_shapes() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("hr.example");
    let r = api.post("add_webhook_template", documented_body(&domain));
    assert_ok(&r);
    assert_eq!(r.json["message"], "Webhook template created successfully");
    let uuid = r.json["webhook_template_id"].as_str().expect("webhook_template_id").to_string();
    assert_eq!(r.json["webhook_uuid"], uuid.as_str(), "the canonical id is returned too");

    let list = api.get("get_webhook_template_paginated?page=1");
    assert_ok(&list);
    assert_eq!(keys_of(&list.json), ["data", "meta", "success", "timezone"]);
    let item = &list.json["data"][0];
    for k in LIST_FIELDS {
        assert!(item.get(*k).is_some(), "list item lacks {k}: {item}");
    }
    for k in ["request_body_json", "headers_json", "query_params_json"] {
        assert!(item.get(k).is_none(), "the list leaves out {k}: {item}");
    }
    assert_eq!(item["path"], "/hr/{{ #path_token }}/");
    assert_eq!(item["method"], "POST");
    assert_eq!(item["webhook_uuid"], uuid.as_str());
    assert_eq!(item["webhook_name"], "employee sync");
    assert_eq!(item["webhook_description"], "pushes HR records");
    assert_eq!(item["request_timeout_in_milliseconds"], 2500);
    assert_eq!(item["max_retries"], 3);
    assert_eq!(item["retry_delay"], 7);
    assert_eq!(item["retry_backoff_mode"], "exponential");
    assert_eq!(item["domain_details"], json!({"domain": "hr.example", "protocol_type": "http"}));

    let data = detail(&api, &uuid);
    for k in LIST_FIELDS.iter().chain(&[
        "timezone",
        "headers_json",
        "query_params_json",
        "request_body_json",
        "expected_system_variables",
    ]) {
        assert!(data.get(*k).is_some(), "detail lacks {k}: {data}");
    }
    for k in LIST_FIELDS {
        assert_eq!(data[*k], item[*k], "detail and list disagree on {k}");
    }
    let sent = documented_body(&domain);
    assert_eq!(data["timezone"], "UTC");
    assert_eq!(data["headers_json"], sent["headers_json"]);
    assert_eq!(data["query_params_json"], sent["query_params_json"]);
    assert_eq!(data["request_body_json"], sent["request_body_json"]);
    let mut vars: Vec<String> = serde_json::from_value(data["expected_system_variables"].clone()).unwrap();
    vars.sort();
    assert_eq!(vars, ["deep_secret", "key", "path_token", "query_secret"], "{data}");
    assert_eq!(data["domain_uuid"], domain.as_str());
}

#[test]
fn defaults_apply_to_omitted_optional_fields() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("min.example");
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "minimal", "method": "get", "path": "/ping", "domain_uuid": domain}),
    );
    assert_ok(&r);
    let data = detail(&api, r.json["webhook_uuid"].as_str().unwrap());
    assert_eq!(data["method"], "GET");
    assert_eq!(data["webhook_description"], "");
    assert_eq!(data["retry_delay"], 10);
    assert_eq!(data["retry_backoff_mode"], "linear");
    assert_eq!(data["max_retries"], 5);
    assert_eq!(data["request_timeout_in_milliseconds"], 5000);
    assert_eq!(data["request_body_json"], json!({}));
    assert_eq!(data["headers_json"], json!({}));
    assert_eq!(data["query_params_json"], json!({}));
    assert_eq!(data["expected_system_variables"], json!([]));
}

#[test]
fn sdk_create_from_a_url_registers_then_reuses_the_domain() {
    let d = TestDaemon::start();
    let api = d.client();
    // create_webhook_template(name, url, method, headers, body)
    let r = api.post(
        "add_webhook_template",
        json!({"name": "sdk hook", "url": "https://Hooks.Example.com:8443/in/bound?source=sdk&x=a%20b", "method": "PUT",
            "headers": {"X-Token": "{{ #sdk_token }}"}, "body": {"amount": "{{ amount }}"}}),
    );
    assert_ok(&r);
    let first = r.json["webhook_template_id"].as_str().unwrap().to_string();
    assert_eq!(r.json["webhook_uuid"], first.as_str());
    let data = detail(&api, &first);
    assert_eq!(data["webhook_name"], "sdk hook");
    assert_eq!(data["method"], "PUT");
    assert_eq!(data["path"], "/in/bound");
    assert_eq!(data["query_params_json"], json!({"source": "sdk", "x": "a b"}));
    assert_eq!(data["headers_json"], json!({"X-Token": "{{ #sdk_token }}"}));
    assert_eq!(data["request_body_json"], json!({"amount": "{{ amount }}"}));
    assert_eq!(data["expected_system_variables"], json!(["sdk_token"]));
    assert_eq!(data["domain_details"], json!({"domain": "hooks.example.com:8443", "protocol_type": "https"}));
    let domains = api.all_pages("get_domain_paginated");
    assert_eq!(domains.len(), 1, "{domains:?}");
    assert_eq!(domains[0]["domain_name"], "hooks.example.com:8443");
    assert_eq!(domains[0]["domain_uuid"], data["domain_uuid"]);
    assert_eq!(domains[0]["rate_limit_enabled"], false, "an SDK-registered domain has limits off");
    assert_eq!(domains[0]["concurrency_control_enabled"], false);

    // The second time the same domain is reused.
    let r = api.post(
        "add_webhook_template",
        json!({"name": "again", "url": "https://hooks.example.com:8443/other", "method": "POST"}),
    );
    assert_ok(&r);
    let second = detail(&api, r.json["webhook_uuid"].as_str().unwrap());
    assert_eq!(second["domain_uuid"], data["domain_uuid"]);
    assert_eq!(second["path"], "/other");
    assert_eq!(api.total("get_domain_paginated"), 1);
    // Another scheme is another domain.
    let r = api.post(
        "add_webhook_template",
        json!({"name": "plain", "url": "http://hooks.example.com:8443/", "method": "POST"}),
    );
    assert_ok(&r);
    assert_eq!(detail(&api, r.json["webhook_uuid"].as_str().unwrap())["path"], "/");
    assert_eq!(api.total("get_domain_paginated"), 2);

    // Bad urls register nothing.
    for url in ["ftp://x.example/a", "x.example/a", "https://x.example:99999/a", "https:///a"] {
        let r = api.post("add_webhook_template", json!({"name": "bad", "url": url, "method": "POST"}));
        assert_invalid(&r, "url");
    }
    assert_eq!(api.total("get_domain_paginated"), 2);
    assert_eq!(api.total("get_webhook_template_paginated"), 3);
}

#[test]
fn sdk_aliases_read_update_and_delete_by_template_uuid() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("alias.example");
    let r = api.post("add_webhook_template", documented_body(&domain));
    let uuid = r.json["webhook_uuid"].as_str().unwrap().to_string();

    // get_webhook_template_uuid {template_uuid} answers like single_webhook_template_detail.
    let r = api.post("get_webhook_template_uuid", json!({"template_uuid": uuid}));
    assert_ok(&r);
    assert_eq!(r.json["data"], detail(&api, &uuid));

    // update_webhook_template (SDK: POST with template_uuid and the SDK's names).
    let before = detail(&api, &uuid);
    let r = api.post(
        "update_webhook_template",
        json!({"template_uuid": uuid, "name": "renamed", "method": "PATCH", "headers": {"X-New": "1"}}),
    );
    assert_ok(&r);
    let after = detail(&api, &uuid);
    let mut expected = before.clone();
    expected["webhook_name"] = json!("renamed");
    expected["method"] = json!("PATCH");
    expected["headers_json"] = json!({"X-New": "1"});
    expected["expected_system_variables"] = after["expected_system_variables"].clone();
    assert_eq!(after, expected, "only the sent fields change");
    let mut vars: Vec<String> = serde_json::from_value(after["expected_system_variables"].clone()).unwrap();
    vars.sort();
    assert_eq!(vars, ["deep_secret", "key", "path_token", "query_secret"], "recomputed from the new headers");

    // delete_webhook_template via POST with template_uuid.
    let r = api.post("delete_webhook_template", json!({"template_uuid": uuid}));
    assert_ok(&r);
    let r = api.post("get_webhook_template_uuid", json!({"template_uuid": uuid}));
    assert_error(&r, 404, "Webhook not found");
    let r = api.post("single_webhook_template_detail", json!({"webhook_uuid": uuid}));
    assert_error(&r, 404, "Webhook not found");
    let r = api.post("delete_webhook_template", json!({"template_uuid": uuid}));
    assert_error(&r, 404, "Webhook not found");
    assert_eq!(api.total("get_webhook_template_paginated"), 0);

    // And via DELETE with webhook_uuid.
    let other = api.add_template(&domain, "other");
    let r = api.delete("delete_webhook_template", json!({"webhook_uuid": other}));
    assert_ok(&r);
    assert_eq!(r.json["details"], "Webhook template deleted successfully");
    assert_eq!(api.total("get_webhook_template_paginated"), 0);
}

#[test]
fn update_webhook_template_changes_fields_and_keeps_others() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("u1.example");
    let domain2 = api.add_domain("u2.example");
    let uuid =
        api.post("add_webhook_template", documented_body(&domain)).json["webhook_uuid"].as_str().unwrap().to_string();
    let before = detail(&api, &uuid);

    let r = api.post(
        "update_webhook_template",
        json!({"webhook_uuid": uuid, "max_retries": 9, "retry_backoff_mode": "linear", "path": "/v2",
            "request_body_json": {"only": "{{ #fresh }}"}, "domain_uuid": domain2}),
    );
    assert_ok(&r);
    assert_eq!(r.json["webhook_uuid"], uuid.as_str());
    let after = detail(&api, &uuid);
    assert_eq!(after["max_retries"], 9);
    assert_eq!(after["retry_backoff_mode"], "linear");
    assert_eq!(after["path"], "/v2");
    assert_eq!(after["request_body_json"], json!({"only": "{{ #fresh }}"}));
    assert_eq!(after["domain_details"], json!({"domain": "u2.example", "protocol_type": "http"}));
    let item = list_item(&api, &uuid);
    for k in LIST_FIELDS {
        assert_eq!(item[*k], after[*k], "the list shows the old {k}");
    }
    for k in [
        "webhook_name",
        "webhook_description",
        "method",
        "retry_delay",
        "request_timeout_in_milliseconds",
        "headers_json",
        "query_params_json",
        "inserted_at",
        "webhook_uuid",
    ] {
        assert_eq!(after[k], before[k], "{k} changed");
    }
    let mut vars: Vec<String> = serde_json::from_value(after["expected_system_variables"].clone()).unwrap();
    vars.sort();
    assert_eq!(vars, ["fresh", "key", "query_secret"]);
    // The old domain is free now; the new one is in use.
    assert_ok(&api.delete("delete_domain", json!({"domain_uuid": domain})));
    assert_eq!(api.delete("delete_domain", json!({"domain_uuid": domain2})).status, 409);

    // Invalid updates change nothing.
    let snapshot = detail(&api, &uuid);
    let cases: &[(Value, &str)] = &[
        (json!({"max_retries": "many"}), "max_retries"),
        (json!({"method": "FETCH"}), "method"),
        (json!({"retry_backoff_mode": "fast"}), "retry_backoff_mode"),
        (json!({"request_body_json": "x"}), "request_body_json"),
        (json!({"path": "no-slash"}), "path"),
        (json!({"webhook_name": ""}), "webhook_name"),
    ];
    for (change, field) in cases {
        let mut body = change.clone();
        body["webhook_uuid"] = json!(uuid);
        let r = api.post("update_webhook_template", body);
        assert_invalid(&r, field);
        assert_eq!(detail(&api, &uuid), snapshot, "{change} changed the template");
    }
    let r = api.post(
        "update_webhook_template",
        json!({"webhook_uuid": uuid, "domain_uuid": uuid::Uuid::now_v7().to_string()}),
    );
    assert_error(&r, 404, "Domain not found");
    assert_eq!(detail(&api, &uuid), snapshot);
    let r = api
        .post("update_webhook_template", json!({"webhook_uuid": uuid::Uuid::now_v7().to_string(), "max_retries": 1}));
    assert_error(&r, 404, "Webhook not found");
}

#[test]
fn add_webhook_template_rejects_bad_values_and_stores_nothing() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("v.example");
    let cases: &[(&str, Value)] = &[
        ("webhook_name", json!(5)),
        ("webhook_name", json!("   ")),
        ("webhook_description", json!(["a"])),
        ("method", json!("FETCH")),
        ("method", json!(1)),
        ("path", json!("relative/path")),
        ("path", json!(null)),
        ("domain_uuid", json!("not-a-uuid")),
        ("retry_delay", json!("10")),
        ("retry_delay", json!(-1)),
        ("retry_backoff_mode", json!("fast")),
        ("max_retries", json!("five")),
        ("max_retries", json!(101)),
        ("request_timeout_in_milliseconds", json!(0)),
        ("request_timeout_in_milliseconds", json!(300_001)),
        ("request_body_json", json!("x")),
        ("request_body_json", json!(12)),
        ("headers_json", json!("h")),
        ("headers_json", json!({"X-A": {"nested": true}})),
        ("headers_json", json!({"bad header": "v"})),
        ("query_params_json", json!([1, 2])),
        ("query_params_json", json!({"q": [1]})),
    ];
    for (field, value) in cases {
        let mut body = documented_body(&domain);
        body[*field] = value.clone();
        let r = api.post("add_webhook_template", body);
        if value.is_null() {
            assert_error(&r, 400, &format!("Missing required field: {field}"));
        } else {
            assert_invalid(&r, field);
        }
    }
    let mut body = documented_body(&domain);
    body["domain_uuid"] = json!(uuid::Uuid::now_v7().to_string());
    let r = api.post("add_webhook_template", body);
    assert_error(&r, 404, "Domain not found");
    for missing in ["webhook_name", "method", "path", "domain_uuid"] {
        let mut body = documented_body(&domain);
        body.as_object_mut().unwrap().remove(missing);
        let r = api.post("add_webhook_template", body);
        assert_error(&r, 400, &format!("Missing required field: {missing}"));
    }
    assert_eq!(api.total("get_webhook_template_paginated"), 0, "a refused add stored something");
    // The domain is not in use after all these refusals.
    assert_ok(&api.delete("delete_domain", json!({"domain_uuid": domain})));
}

#[test]
fn another_brands_templates_are_invisible() {
    let d = TestDaemon::start();
    let a = d.client();
    let creds = d.new_brand("b", None);
    let b = a.as_brand(&creds.brand, &creds.key);
    let b_domain = b.add_domain("b.example");
    let b_uuid =
        b.post("add_webhook_template", documented_body(&b_domain)).json["webhook_uuid"].as_str().unwrap().to_string();
    let b_before = detail(&b, &b_uuid);
    let a_domain = a.add_domain("a.example");
    a.add_template(&a_domain, "a's own");

    assert!(
        a.all_pages("get_webhook_template_paginated").iter().all(|t| t["webhook_uuid"] != b_uuid.as_str()),
        "A lists B's template"
    );
    let r = a.post("single_webhook_template_detail", json!({"webhook_uuid": b_uuid}));
    assert_error(&r, 404, "Webhook not found");
    let r = a.post("get_webhook_template_uuid", json!({"template_uuid": b_uuid}));
    assert_error(&r, 404, "Webhook not found");
    let r = a.post("update_webhook_template", json!({"webhook_uuid": b_uuid, "webhook_name": "hijacked"}));
    assert_error(&r, 404, "Webhook not found");
    let r = a.post("update_webhook_template", json!({"template_uuid": b_uuid, "domain_uuid": a_domain}));
    assert_error(&r, 404, "Webhook not found");
    for m in [Method::DELETE, Method::POST] {
        let r = Api::send(a.request(m, "delete_webhook_template").json(&json!({"webhook_uuid": b_uuid})));
        assert_error(&r, 404, "Webhook not found");
    }
    assert_eq!(detail(&b, &b_uuid), b_before, "B's template changed");
    assert_eq!(b.total("get_webhook_template_paginated"), 1);
}
