//! Secret-vault endpoints (compat §2.6, §4): add, duplicate, list (never values), read the
//! value, update, delete, the SDK's names, validation, and brand isolation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, assert_error, assert_error_envelope, assert_invalid, assert_ok, keys_of};

fn value_of(api: &Api, uuid: &str) -> Value {
    let r = api.post("get_value_of_secret", json!({"secret_uuid": uuid}));
    assert_ok(&r);
    r.json["data"].clone()
}

#[test]
fn add_duplicate_read_update_delete() {
    let d = TestDaemon::start();
    let api = d.client();
    let r = api.post("add_system_secret", json!({"secret_key": "stripe_api_key", "secret_value": "sk_live_ORIGINAL"}));
    assert_ok(&r);
    assert_eq!(r.json["details"], "Variable added successfully in vault");
    let uuid = r.json["secret_uuid"].as_str().expect("secret_uuid").to_string();

    // Duplicate name: 409 with the documented message and the existing id.
    let r = api.post("add_system_secret", json!({"secret_key": "stripe_api_key", "secret_value": "other"}));
    assert_error(&r, 409, "Key with same name already in database");
    assert_eq!(r.json["secret_uuid"], uuid.as_str());
    assert_eq!(api.total("get_secrets_paginated"), 1);

    let data = value_of(&api, &uuid);
    assert_eq!(
        data,
        json!({"secret_key": "stripe_api_key", "secret_value": "sk_live_ORIGINAL",
            "call_key": "{{ #stripe_api_key }}", "secret_uuid": uuid})
    );

    // Lists never carry the value.
    let list = api.get("get_secrets_paginated?page=1");
    assert_ok(&list);
    assert_eq!(keys_of(&list.json), ["data", "meta", "success", "timezone"]);
    let item = &list.json["data"][0];
    assert_eq!(item["secret_uuid"], uuid.as_str());
    assert_eq!(item["secret_key"], "stripe_api_key");
    assert_eq!(item["call_key"], "{{ #stripe_api_key }}");
    assert!(item.get("secret_value").is_none(), "{item}");
    assert!(!list.text.contains("ORIGINAL"), "a list carries the value: {}", list.text);

    // update_secret_value changes it.
    let r = api.post("update_secret_value", json!({"secret_uuid": uuid, "secret_value": "sk_live_ROTATED"}));
    assert_ok(&r);
    assert!(!r.text.contains("ROTATED"), "an update answer echoes the value: {}", r.text);
    assert_eq!(value_of(&api, &uuid)["secret_value"], "sk_live_ROTATED");
    assert_eq!(api.total("get_secrets_paginated"), 1);

    // delete_secret, then the documented failure body on a second delete.
    let r = api.delete("delete_secret", json!({"secret_uuid": uuid}));
    assert_ok(&r);
    assert_eq!(r.json["details"], "System secret deleted successfully");
    let r = api.delete("delete_secret", json!({"secret_uuid": uuid}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["secret_uuid"], uuid.as_str());
    assert_error_envelope(&r);
    let r = api.post("get_value_of_secret", json!({"secret_uuid": uuid}));
    assert_error(&r, 404, "Secret not found");
    let r = api.post("update_secret_value", json!({"secret_uuid": uuid, "secret_value": "x"}));
    assert_error(&r, 404, "Secret not found");
    assert_eq!(api.total("get_secrets_paginated"), 0);
    // The name is free again.
    assert_ok(&api.post("add_system_secret", json!({"secret_key": "stripe_api_key", "secret_value": "again"})));
}

#[test]
fn sdk_names_and_paths() {
    let d = TestDaemon::start();
    let api = d.client();
    // create_secret(key, value)
    let r = api.post("add_system_secret", json!({"key": "sdk_token", "value": "SDKVALUE-1"}));
    assert_ok(&r);
    let uuid = r.json["secret_uuid"].as_str().unwrap().to_string();
    assert_eq!(value_of(&api, &uuid)["secret_key"], "sdk_token");
    let r = api.post("add_system_secret", json!({"key": "sdk_token", "value": "dup"}));
    assert_error(&r, 409, "Key with same name already in database");

    // get_secrets -> get_system_secret_paginated: the same list.
    let documented = api.get("get_secrets_paginated?page=1");
    let sdk = api.get("get_system_secret_paginated?page=1");
    assert_ok(&sdk);
    assert_eq!(sdk.json, documented.json);
    assert!(!sdk.text.contains("SDKVALUE"), "{}", sdk.text);

    // get_secret -> get_system_secret_uuid: the list item, without the value (docs/api.md).
    let r = api.post("get_system_secret_uuid", json!({"secret_uuid": uuid}));
    assert_ok(&r);
    assert_eq!(r.json["data"], documented.json["data"][0]);
    assert!(!r.text.contains("SDKVALUE"), "{}", r.text);

    // update_secret(secret_uuid, value) -> update_system_secret.
    let r = api.post("update_system_secret", json!({"secret_uuid": uuid, "value": "SDKVALUE-2"}));
    assert_ok(&r);
    assert_eq!(value_of(&api, &uuid)["secret_value"], "SDKVALUE-2");
    // The documented name on the alias path, and the SDK name on the documented path.
    assert_ok(&api.post("update_system_secret", json!({"secret_uuid": uuid, "secret_value": "SDKVALUE-3"})));
    assert_eq!(value_of(&api, &uuid)["secret_value"], "SDKVALUE-3");
    assert_ok(&api.post("update_secret_value", json!({"secret_uuid": uuid, "value": "SDKVALUE-4"})));
    assert_eq!(value_of(&api, &uuid)["secret_value"], "SDKVALUE-4");

    // delete_secret(secret_uuid) -> POST delete_system_secret.
    let r = api.post("delete_system_secret", json!({"secret_uuid": uuid}));
    assert_ok(&r);
    let r = api.post("delete_system_secret", json!({"secret_uuid": uuid}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["secret_uuid"], uuid.as_str());
    assert_eq!(api.total("get_secrets_paginated"), 0);

    // delete_secret answers both DELETE and POST; delete_system_secret DELETE too.
    for (m, action) in
        [(Method::DELETE, "delete_secret"), (Method::POST, "delete_secret"), (Method::DELETE, "delete_system_secret")]
    {
        let id = api.add_secret("to_delete", "v");
        let r = Api::send(api.request(m.clone(), action).json(&json!({"secret_uuid": id})));
        assert_ok(&r);
        assert_eq!(r.json["details"], "System secret deleted successfully", "{m} {action}");
        assert_eq!(api.total("get_secrets_paginated"), 0, "{m} {action}");
    }
}

#[test]
fn bad_values_are_refused_and_store_nothing() {
    let d = TestDaemon::start();
    let api = d.client();
    let cases: &[(Value, &str)] = &[
        (json!({"secret_key": "bad key!", "secret_value": "v"}), "secret_key"),
        (json!({"secret_key": "dotted.name", "secret_value": "v"}), "secret_key"),
        (json!({"secret_key": "", "secret_value": "v"}), "secret_key"),
        (json!({"secret_key": "k".repeat(129), "secret_value": "v"}), "secret_key"),
        (json!({"secret_key": 12, "secret_value": "v"}), "secret_key"),
        (json!({"secret_key": "ok_key", "secret_value": 12}), "secret_value"),
        (json!({"secret_key": "ok_key", "secret_value": ""}), "secret_value"),
        (json!({"secret_key": "ok_key", "secret_value": "x".repeat(65_537)}), "secret_value"),
        // A value error names the documented field, whichever alias carried it.
        (json!({"key": "bad key!", "value": "v"}), "secret_key"),
        (json!({"key": "ok_key", "value": {"a": 1}}), "value"),
    ];
    for (body, field) in cases {
        let r = api.post("add_system_secret", body.clone());
        assert_invalid(&r, field);
    }
    let r = api.post("add_system_secret", json!({"secret_key": "ok_key"}));
    assert_error(&r, 400, "Missing required field: secret_value");
    let r = api.post("add_system_secret", json!({"secret_value": "v"}));
    assert_error(&r, 400, "Missing required field: secret_key");
    assert_eq!(api.total("get_secrets_paginated"), 0, "a refused add stored something");

    // Edge values that are allowed.
    let long_ok = "x".repeat(65_536);
    let id = api.add_secret("Edge-Key_9", &long_ok);
    assert_eq!(value_of(&api, &id)["secret_value"], long_ok.as_str());
    let unicode = api.add_secret("unicode", "pässwörd ✓ \"quoted\" \\ {{ #not_a_ref }}");
    assert_eq!(value_of(&api, &unicode)["secret_value"], "pässwörd ✓ \"quoted\" \\ {{ #not_a_ref }}");

    // Updates are validated too and change nothing when refused.
    for body in [json!({"secret_uuid": id, "secret_value": ""}), json!({"secret_uuid": id, "secret_value": 5})] {
        let r = api.post("update_secret_value", body);
        assert_invalid(&r, "secret_value");
    }
    let r = api.post("update_secret_value", json!({"secret_uuid": id}));
    assert_error(&r, 400, "Missing required field: secret_value");
    assert_eq!(value_of(&api, &id)["secret_value"], long_ok.as_str());
    for action in ["get_value_of_secret", "get_system_secret_uuid", "delete_secret", "update_secret_value"] {
        let r = api.post(action, json!({"secret_uuid": "12345", "secret_value": "v"}));
        assert_invalid(&r, "secret_uuid");
    }
    assert_eq!(api.total("get_secrets_paginated"), 2);
}

#[test]
fn another_brands_secrets_are_invisible() {
    let d = TestDaemon::start();
    let a = d.client();
    let creds = d.new_brand("b", None);
    let b = a.as_brand(&creds.brand, &creds.key);
    let b_uuid = b.add_secret("shared_name", "B-ONLY-VALUE");
    let b_before = value_of(&b, &b_uuid);
    let b_list = b.get("get_secrets_paginated?page=1").json;

    let listed = a.get("get_secrets_paginated?page=1");
    assert_eq!(listed.json["data"], json!([]), "A lists B's secret");
    for action in ["get_value_of_secret", "get_system_secret_uuid"] {
        let r = a.post(action, json!({"secret_uuid": b_uuid}));
        assert_error(&r, 404, "Secret not found");
        assert!(!r.text.contains("B-ONLY"), "{}", r.text);
    }
    for action in ["update_secret_value", "update_system_secret"] {
        let value_field = if action == "update_secret_value" { "secret_value" } else { "value" };
        let r = a.post(action, json!({"secret_uuid": b_uuid, value_field: "A-WAS-HERE"}));
        assert_error(&r, 404, "Secret not found");
    }
    for (m, action) in [
        (Method::DELETE, "delete_secret"),
        (Method::POST, "delete_secret"),
        (Method::POST, "delete_system_secret"),
        (Method::DELETE, "delete_system_secret"),
    ] {
        let r = Api::send(a.request(m.clone(), action).json(&json!({"secret_uuid": b_uuid})));
        assert_eq!(r.status, 404, "{m} {action}: {}", r.text);
        assert_error_envelope(&r);
    }
    // Names are per brand: A may use B's name, and the conflict check does not leak B's id.
    let r = a.post("add_system_secret", json!({"secret_key": "shared_name", "secret_value": "A-VALUE"}));
    assert_ok(&r);
    assert_ne!(r.json["secret_uuid"], b_uuid.as_str());
    let a_uuid = r.json["secret_uuid"].as_str().unwrap().to_string();
    let r = a.post("add_system_secret", json!({"secret_key": "shared_name", "secret_value": "again"}));
    assert_eq!(r.json["secret_uuid"], a_uuid.as_str(), "the conflict names A's own secret");

    assert_eq!(value_of(&b, &b_uuid), b_before, "B's secret changed");
    assert_eq!(b.get("get_secrets_paginated?page=1").json, b_list, "B's list changed");
    assert_eq!(value_of(&a, &a_uuid)["secret_value"], "A-VALUE");
}

#[test]
fn an_idempotency_key_reused_with_another_secret_value_is_a_conflict() {
    // The fingerprint of a request that carries a secret holds a keyed digest of the value, so
    // a retry with a different value is "a different request" (409), not a silent replay.
    let d = TestDaemon::start();
    let api = d.client();
    let id = api.add_secret("rot", "ORIGINAL-1");
    let update = |value: &str| {
        Api::send(
            api.request(reqwest::Method::POST, "update_secret_value")
                .header("idempotency-key", "rotate-1")
                .json(&json!({"secret_uuid": id, "secret_value": value})),
        )
    };
    let first = update("ROTATED-1");
    assert_ok(&first);
    let replay = update("ROTATED-1");
    assert_ok(&replay);
    assert_eq!(replay.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let other = update("ROTATED-2");
    assert_eq!(other.status, 409, "{}", other.text);
    let r = api.post("get_value_of_secret", json!({"secret_uuid": id}));
    assert_ok(&r);
    assert!(r.text.contains("ROTATED-1") && !r.text.contains("ROTATED-2"), "{}", r.text);
}

#[test]
fn a_receiver_that_echoes_a_secret_does_not_get_it_into_the_record() {
    let d = TestDaemon::start();
    let api = d.client();
    let rx = crate::receiver::Receiver::start();
    let secret = "sk_live_ECHOED_51f0c2";
    rx.set_script(crate::receiver::Script {
        body: format!("{{\"you_sent\": \"Bearer {secret}\", \"note\": \"{secret}\"}}"),
        ..crate::receiver::Script::default()
    });
    let domain = api.add_domain(&rx.host());
    api.add_secret("tok", secret);
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": "echo", "method": "POST", "path": "/e", "domain_uuid": domain,
               "headers_json": {"Authorization": "Bearer {{ #tok }}"}}),
    );
    assert_ok(&r);
    let t = r.json["webhook_uuid"].as_str().unwrap().to_string();
    let r = api.post("execute_webhook_template", json!({"webhook_uuid": t}));
    assert_ok(&r);
    let id = r.json["execution_uuid"].as_str().unwrap().to_string();
    let e = crate::support::wait_for("the execution to succeed", std::time::Duration::from_secs(30), || {
        let r = api.post("get_execution_details", json!({"execution_uuid": id}));
        (r.json["data"]["status"] == "succeeded").then_some(r.json["data"].clone())
    });
    let text = e.to_string();
    assert!(!text.contains(secret), "the echoed secret is in the record: {e:#}");
    assert!(text.contains("{{ #tok }}"), "the echo is masked with the placeholder: {e:#}");
    let mut d = d;
    assert_eq!(d.stop(), Some(0));
    let file = std::fs::read(d.store_file()).expect("read the store file");
    assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()), "the store file holds the echoed secret");
}

#[test]
fn a_secret_echoed_encoded_or_in_a_redirect_never_reaches_the_record_or_the_log() {
    let d = TestDaemon::start_with("[log]\nlevel = \"trace\"\n");
    let api = d.client();
    let rx = crate::receiver::Receiver::start();
    // A value that every encoding changes: a space, a slash, a quote, a hash, a non-ASCII letter.
    let secret = "Enc Val/x\"y#9é";
    // Every request is answered with what it was sent (path and query percent-encoded, the
    // body inside a JSON string, so escaped); the path /r is answered with a redirect whose
    // Location repeats the path and query.
    rx.set_chooser(|r: &crate::receiver::Received| {
        let body = String::from_utf8_lossy(&r.body).to_string();
        if r.path.starts_with("/r/") {
            crate::receiver::Script {
                status: 302,
                extra_headers: vec![("Location".into(), format!("https://elsewhere.example{}", r.path))],
                ..crate::receiver::Script::default()
            }
        } else {
            crate::receiver::Script {
                body: serde_json::json!({"path": r.path, "body": body}).to_string(),
                ..crate::receiver::Script::default()
            }
        }
    });
    let domain = api.add_domain(&rx.host());
    api.add_secret("enc", secret);
    let mut ids = Vec::new();
    for prefix in ["/e/", "/r/"] {
        let r = api.post(
            "add_webhook_template",
            json!({"webhook_name": format!("echo {prefix}"), "method": "POST", "path": format!("{prefix}{{{{ #enc }}}}"),
                   "domain_uuid": domain, "query_params_json": {"k": "{{ #enc }}"},
                   "request_body_json": {"v": "{{ #enc }}"}, "max_retries": 0}),
        );
        assert_ok(&r);
        let t = r.json["webhook_uuid"].as_str().unwrap().to_string();
        let r = api.post("execute_webhook_template", json!({"webhook_uuid": t}));
        assert_ok(&r);
        ids.push(r.json["execution_uuid"].as_str().unwrap().to_string());
    }
    let mut records = String::new();
    for id in &ids {
        let e = crate::support::wait_for("the execution to end", std::time::Duration::from_secs(30), || {
            let r = api.post("get_execution_details", json!({"execution_uuid": id}));
            ["succeeded", "failed"]
                .contains(&r.json["data"]["status"].as_str().unwrap_or(""))
                .then_some(r.json["data"].clone())
        });
        records.push_str(&e.to_string());
    }
    assert!(records.contains("redirect to https://elsewhere.example/r/{{ #enc }}"), "{records}");
    let forms = [secret.to_string(), "Enc%20Val%2Fx%22y%239%C3%A9".into(), "Enc Val/x\\\"y#9é".into()];
    let mut d = d;
    assert_eq!(d.stop(), Some(0));
    let log = d.output();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the daemon logged at trace level");
    for form in &forms {
        assert!(!records.contains(form.as_str()), "the record holds the secret as {form:?}: {records}");
        assert!(!log.contains(form.as_str()), "the log holds the secret as {form:?}");
    }
}
