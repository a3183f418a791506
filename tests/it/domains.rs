//! Domain endpoints (compat §2.1, §4): add_domain, get_domain_paginated, get_domain_uuid and
//! the extensions update_domain / delete_domain, with the SDK's field names, validation, and
//! brand isolation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, assert_error, assert_error_starts, assert_invalid, assert_ok, keys_of};

/// The list item of one domain.
fn listed(api: &Api, uuid: &str) -> Value {
    api.all_pages("get_domain_paginated")
        .into_iter()
        .find(|d| d["domain_uuid"] == uuid)
        .unwrap_or_else(|| panic!("domain {uuid} not listed"))
}

#[test]
fn add_domain_documented_request_and_list_shape() {
    let d = TestDaemon::start();
    let api = d.client();
    let r = api.post(
        "add_domain",
        json!({"protocol_type": "https", "domain": "api.example.com", "rate_limit_enabled": true,
            "concurrency_control_enabled": true, "max_concurrent_jobs": 5, "max_requests_per_second": 10}),
    );
    assert_ok(&r);
    assert_eq!(r.json["details"], "Domain added successfully");
    let uuid = r.json["domain_uuid"].as_str().expect("domain_uuid").to_string();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");

    let list = api.get("get_domain_paginated?page=1");
    assert_ok(&list);
    assert_eq!(keys_of(&list.json), ["data", "meta", "success", "timezone"]);
    let items = list.json["data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    for k in [
        "protocol_type",
        "rate_limit_enabled",
        "concurrency_control_enabled",
        "max_concurrent_jobs",
        "max_requests_per_second",
        "domain_uuid",
        "domain_name",
    ] {
        assert!(item.get(k).is_some(), "list item lacks {k}: {item}");
    }
    assert_eq!(item["protocol_type"], "https");
    assert_eq!(item["rate_limit_enabled"], true);
    assert_eq!(item["concurrency_control_enabled"], true);
    assert_eq!(item["max_concurrent_jobs"], 5);
    assert_eq!(item["max_requests_per_second"], 10);
    assert_eq!(item["domain_uuid"], uuid.as_str());
    assert_eq!(item["domain_name"], "api.example.com");
    assert!(item.get("domain").is_none(), "the list calls it domain_name: {item}");

    // Host normalisation and ports.
    let r = api.post("add_domain", json!({"protocol_type": "HTTP", "domain": " Hooks.Example.COM:8443 "}));
    assert_ok(&r);
    let item = listed(&api, r.json["domain_uuid"].as_str().unwrap());
    assert_eq!(item["domain_name"], "hooks.example.com:8443");
    assert_eq!(item["protocol_type"], "http");
    assert_eq!(item["rate_limit_enabled"], false);
    assert_eq!(item["concurrency_control_enabled"], false);
}

#[test]
fn add_domain_sdk_field_names() {
    let d = TestDaemon::start();
    let api = d.client();
    // The SDK: add_domain(domain, protocol, rate_limit_per_second, max_concurrent), no flags.
    let r = api.post(
        "add_domain",
        json!({"domain": "sdk.example", "protocol": "http", "rate_limit_per_second": 7, "max_concurrent": 3}),
    );
    assert_ok(&r);
    let uuid = r.json["domain_uuid"].as_str().unwrap().to_string();
    let item = listed(&api, &uuid);
    assert_eq!(item["protocol_type"], "http");
    assert_eq!(item["rate_limit_enabled"], true);
    assert_eq!(item["max_requests_per_second"], 7);
    assert_eq!(item["concurrency_control_enabled"], true);
    assert_eq!(item["max_concurrent_jobs"], 3);

    // Without limits, both controls are off.
    let r = api.post("add_domain", json!({"domain": "plain.example", "protocol": "https"}));
    assert_ok(&r);
    let plain = listed(&api, r.json["domain_uuid"].as_str().unwrap());
    assert_eq!(plain["rate_limit_enabled"], false);
    assert_eq!(plain["concurrency_control_enabled"], false);

    // get_domain_uuid finds it by name and protocol (SDK body), and the documented name works too.
    let r = api.post("get_domain_uuid", json!({"domain": "sdk.example", "protocol": "http"}));
    assert_ok(&r);
    assert_eq!(r.json["domain_uuid"], uuid.as_str());
    assert_eq!(r.json["data"], item);
    let r = api.post("get_domain_uuid", json!({"domain": "SDK.example", "protocol_type": "http"}));
    assert_eq!(r.json["domain_uuid"], uuid.as_str(), "{}", r.text);
    // The protocol is part of the identity.
    let r = api.post("get_domain_uuid", json!({"domain": "sdk.example", "protocol": "https"}));
    assert_error(&r, 404, "Domain not found");
    let r = api.post("get_domain_uuid", json!({"domain": "unknown.example", "protocol": "http"}));
    assert_error(&r, 404, "Domain not found");
}

#[test]
fn add_domain_rejects_bad_values_and_stores_nothing() {
    let d = TestDaemon::start();
    let api = d.client();
    let base = json!({"protocol_type": "https", "domain": "bad.example", "rate_limit_enabled": true,
        "concurrency_control_enabled": true, "max_concurrent_jobs": 5, "max_requests_per_second": 10});
    let cases: &[(&str, Value, &str)] = &[
        ("max_concurrent_jobs", json!("five"), "max_concurrent_jobs"),
        ("max_concurrent_jobs", json!(-1), "max_concurrent_jobs"),
        ("max_concurrent_jobs", json!(2.5), "max_concurrent_jobs"),
        ("max_concurrent_jobs", json!(0), "max_concurrent_jobs"),
        ("max_requests_per_second", json!("10"), "max_requests_per_second"),
        ("max_requests_per_second", json!(0), "max_requests_per_second"),
        ("rate_limit_enabled", json!("yes"), "rate_limit_enabled"),
        ("concurrency_control_enabled", json!(1), "concurrency_control_enabled"),
        ("protocol_type", json!("ftp"), "protocol_type"),
        ("protocol_type", json!(true), "protocol_type"),
        ("domain", json!("https://bad.example"), "domain"),
        ("domain", json!("bad.example/path"), "domain"),
        ("domain", json!("bad example"), "domain"),
        ("domain", json!(""), "domain"),
        ("domain", json!(42), "domain"),
        ("domain", json!("bad.example:0"), "domain"),
    ];
    for (field, value, named) in cases {
        let mut body = base.clone();
        body[*field] = value.clone();
        let r = api.post("add_domain", body);
        assert_invalid(&r, named);
    }
    // SDK names are validated under their own name.
    let r = api.post("add_domain", json!({"domain": "bad.example", "protocol": "smtp"}));
    assert_invalid(&r, "protocol");
    let r = api.post("add_domain", json!({"domain": "bad.example", "protocol": "https", "max_concurrent": "x"}));
    assert_invalid(&r, "max_concurrent");
    // An enabled control without its limit is a missing field.
    let r =
        api.post("add_domain", json!({"protocol_type": "https", "domain": "bad.example", "rate_limit_enabled": true}));
    assert_error(&r, 400, "Missing required field: max_requests_per_second");
    let r = api.post("add_domain", json!({"protocol_type": "https"}));
    assert_error(&r, 400, "Missing required field: domain");
    assert_eq!(api.total("get_domain_paginated"), 0, "a refused add stored something");

    // A duplicate is a conflict naming the existing domain.
    let first = api.post("add_domain", base.clone());
    assert_ok(&first);
    let r = api.post("add_domain", base.clone());
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["success"], false);
    assert_eq!(r.json["domain_uuid"], first.json["domain_uuid"]);
    // The same host over the other protocol is another domain.
    let mut http = base.clone();
    http["protocol_type"] = json!("http");
    assert_ok(&api.post("add_domain", http));
    assert_eq!(api.total("get_domain_paginated"), 2);
}

#[test]
fn update_domain_changes_given_fields_and_keeps_others() {
    let d = TestDaemon::start();
    let api = d.client();
    let r = api.post(
        "add_domain",
        json!({"protocol_type": "https", "domain": "upd.example", "rate_limit_enabled": true,
            "concurrency_control_enabled": true, "max_concurrent_jobs": 5, "max_requests_per_second": 10}),
    );
    let uuid = r.json["domain_uuid"].as_str().unwrap().to_string();
    let before = listed(&api, &uuid);

    let r = api.post("update_domain", json!({"domain_uuid": uuid, "max_requests_per_second": 50}));
    assert_ok(&r);
    assert_eq!(r.json["domain_uuid"], uuid.as_str());
    let after = listed(&api, &uuid);
    let mut expected = before.clone();
    expected["max_requests_per_second"] = json!(50);
    assert_eq!(after, expected, "only max_requests_per_second changes");

    let r = api.post(
        "update_domain",
        json!({"domain_uuid": uuid, "concurrency_control_enabled": false, "domain": "renamed.example", "protocol_type": "http"}),
    );
    assert_ok(&r);
    let after = listed(&api, &uuid);
    assert_eq!(after["domain_name"], "renamed.example");
    assert_eq!(after["protocol_type"], "http");
    assert_eq!(after["concurrency_control_enabled"], false);
    assert_eq!(after["rate_limit_enabled"], true);
    assert_eq!(after["max_requests_per_second"], 50);
    assert_eq!(after["inserted_at"], before["inserted_at"]);
    // The name index follows the rename.
    let r = api.post("get_domain_uuid", json!({"domain": "renamed.example", "protocol": "http"}));
    assert_eq!(r.json["domain_uuid"], uuid.as_str(), "{}", r.text);
    let r = api.post("get_domain_uuid", json!({"domain": "upd.example", "protocol": "https"}));
    assert_eq!(r.status, 404);

    // Bad values change nothing.
    let snapshot = listed(&api, &uuid);
    for body in [
        json!({"domain_uuid": uuid, "max_requests_per_second": "lots"}),
        json!({"domain_uuid": uuid, "rate_limit_enabled": "no"}),
        json!({"domain_uuid": uuid, "domain": "a/b"}),
        json!({"domain_uuid": uuid, "rate_limit_enabled": true, "max_requests_per_second": 0}),
    ] {
        let r = api.post("update_domain", body.clone());
        assert_error_starts(&r, 400, "Invalid field value");
        assert_eq!(listed(&api, &uuid), snapshot, "{body} changed the domain");
    }
    // Renaming onto another domain of the brand is a conflict.
    let other = api.add_domain("taken.example");
    let r = api.post("update_domain", json!({"domain_uuid": uuid, "domain": "taken.example", "protocol_type": "http"}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(listed(&api, &uuid), snapshot);
    assert!(!other.is_empty());

    let r = api
        .post("update_domain", json!({"domain_uuid": uuid::Uuid::now_v7().to_string(), "max_requests_per_second": 1}));
    assert_error(&r, 404, "Domain not found");
    let r = api.post("update_domain", json!({"domain_uuid": "not-a-uuid"}));
    assert_invalid(&r, "domain_uuid");
}

#[test]
fn delete_domain_is_refused_while_a_template_uses_it() {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("del.example");
    let template = api.add_template(&domain, "user");
    let r = api.delete("delete_domain", json!({"domain_uuid": domain}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["success"], false);
    listed(&api, &domain);

    let r = api.delete("delete_webhook_template", json!({"webhook_uuid": template}));
    assert_ok(&r);
    let r = api.delete("delete_domain", json!({"domain_uuid": domain}));
    assert_ok(&r);
    assert_eq!(r.json["details"], "Domain deleted successfully");
    assert_eq!(api.total("get_domain_paginated"), 0);
    let r = api.delete("delete_domain", json!({"domain_uuid": domain}));
    assert_error(&r, 404, "Domain not found");
    // The name is free again.
    api.add_domain("del.example");

    // POST works for delete too (the SDK deletes with POST).
    let other = api.add_domain("post-del.example");
    let r = api.post("delete_domain", json!({"domain_uuid": other}));
    assert_ok(&r);
    assert_eq!(api.total("get_domain_paginated"), 1);
}

#[test]
fn another_brands_domains_are_invisible() {
    let d = TestDaemon::start();
    let a = d.client();
    let creds = d.new_brand("b", None);
    let b = a.as_brand(&creds.brand, &creds.key);
    let b_domain = b.add_domain("b-only.example");
    let b_template = b.add_template(&b_domain, "b's");
    let b_before = b.all_pages("get_domain_paginated");
    a.add_domain("a-only.example");

    // Reads.
    let listed_by_a = a.all_pages("get_domain_paginated");
    assert!(listed_by_a.iter().all(|x| x["domain_uuid"] != b_domain.as_str()), "A lists B's domain");
    let r = a.post("get_domain_uuid", json!({"domain": "b-only.example", "protocol": "http"}));
    assert_error(&r, 404, "Domain not found");
    // Updates and deletes.
    let r = a.post(
        "update_domain",
        json!({"domain_uuid": b_domain, "max_requests_per_second": 99, "rate_limit_enabled": true}),
    );
    assert_error(&r, 404, "Domain not found");
    for m in [Method::DELETE, Method::POST] {
        let r = Api::send(a.request(m, "delete_domain").json(&json!({"domain_uuid": b_domain})));
        assert_error(&r, 404, "Domain not found");
    }
    // Using B's domain from A's templates.
    let r = a.post(
        "add_webhook_template",
        json!({"webhook_name": "x", "webhook_description": "", "method": "POST", "path": "/", "domain_uuid": b_domain}),
    );
    assert_error(&r, 404, "Domain not found");
    let a_domain = a.add_domain("a2.example");
    let a_template = a.add_template(&a_domain, "a's");
    let r = a.post("update_webhook_template", json!({"webhook_uuid": a_template, "domain_uuid": b_domain}));
    assert_error(&r, 404, "Domain not found");
    // Names are per brand: A may register the same host.
    assert_ok(&a.post("add_domain", json!({"protocol_type": "http", "domain": "b-only.example"})));

    assert_eq!(b.all_pages("get_domain_paginated"), b_before, "B's domains changed");
    let r = b.post("single_webhook_template_detail", json!({"webhook_uuid": b_template}));
    assert_eq!(r.json["data"]["domain_uuid"], b_domain.as_str());
    // B still cannot delete its domain: its template uses it (A's attempts did not unlink it).
    let r = b.delete("delete_domain", json!({"domain_uuid": b_domain}));
    assert_eq!(r.status, 409, "{}", r.text);
}
