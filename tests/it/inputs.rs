//! Typed request inputs (issue 8 §8): unknown fields are refused with a suggestion (case 19),
//! every field is bounded (case 18), instants the daemon cannot represent are refused (case 17),
//! and every such refusal is a 400 naming the field that stores nothing.

use serde_json::{Value, json};

use crate::support::{Api, TestDaemon, assert_error, assert_invalid, assert_ok};

struct Env {
    _d: TestDaemon,
    api: Api,
    domain: String,
    template: String,
}

fn env() -> Env {
    let d = TestDaemon::start();
    let api = d.client();
    let domain = api.add_domain("127.0.0.1:9");
    let template = api.add_template(&domain, "input target");
    Env { _d: d, api, domain, template }
}

fn with(base: Value, extra: Value) -> Value {
    let mut b = base;
    for (k, v) in extra.as_object().expect("object") {
        b[k] = v.clone();
    }
    b
}

fn interval(template: &str, extra: Value) -> Value {
    with(
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 5,
               "interval_period": "minute", "is_one_off_task": false}),
        extra,
    )
}

fn schedule_count(api: &Api) -> usize {
    api.all_pages("get_schedule_paginated").len()
}

// ---- case 19: unknown fields ----

#[test]
fn a_misspelt_optional_field_is_refused_with_the_right_name() {
    let e = env();
    let r = e.api.post("add_interval_schedule", interval(&e.template, json!({"misfire_polcy": "skip"})));
    assert_error(&r, 400, "Unknown field: misfire_polcy (did you mean misfire_policy?)");
    let r = e.api.post("add_interval_schedule", interval(&e.template, json!({"colour": "blue"})));
    assert_error(&r, 400, "Unknown field: colour");
    assert_eq!(schedule_count(&e.api), 0, "a refused create stored something");

    // Query parameters are fields too.
    let r = e.api.get("get_schedules_paginated?filter_status=active&pgae=2");
    assert_error(&r, 400, "Unknown field: pgae (did you mean page?)");
    // Nested objects name their path.
    let r = e.api.post(
        "add_workflow_template",
        json!({"name": "w", "mode": "fifo", "steps": [{"url": "http://127.0.0.1:9/a", "max_retires": 1}]}),
    );
    assert_error(&r, 400, "Unknown field: steps[0].max_retires (did you mean max_retries?)");
    let r = e.api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 9 * * *", "cron_timezone": "UTC",
               "rules": [{"rule_type": "exclusion", "exclusion_date": ["2026-12-25"]}]}),
    );
    assert_error(&r, 400, "Unknown field: rules[0].exclusion_date (did you mean exclusion_dates?)");
    let wf = e.api.post("add_workflow_template", json!({"workflow_name": "w", "runtype": "fifo_sequential"}));
    assert_ok(&wf);
    let r = e.api.post(
        "add_workflow_step",
        json!({"workflow_uuid": wf.json["workflow_uuid"], "method": "POST", "index": 0, "step_identifier": "a",
               "path": "/a", "domain_uuid": e.domain,
               "execution_condition": {"field": "x", "operator": "eq", "valeu": 1}}),
    );
    assert_error(&r, 400, "Unknown field: execution_condition.valeu (did you mean value?)");
}

#[test]
fn what_the_official_sdk_sends_is_accepted() {
    let e = env();
    // The README's step shape carries "type": "webhook" and "condition"; inline steps take "id".
    let r = e.api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "fifo", "steps": [
            {"name": "a", "type": "webhook", "url": "http://127.0.0.1:9/a", "method": "POST", "id": "a"},
            {"name": "b", "type": "webhook", "url": "http://127.0.0.1:9/b", "method": "POST",
             "condition": {"field": "{{ step.a.response.ok }}", "operator": "eq", "value": true}}]}),
    );
    assert_ok(&r);
    // Only webhook steps exist.
    let r = e.api.post(
        "add_workflow_template",
        json!({"name": "sdk", "mode": "fifo", "steps": [{"type": "email", "url": "http://127.0.0.1:9/a"}]}),
    );
    assert_error(&r, 400, "Invalid field value: steps[0].type (expected webhook)");
    // create_schedule for a solar event sends latitude/longitude and a timezone.
    let r = e.api.post(
        "add_schedule",
        json!({"webhook_url": "http://127.0.0.1:9/solar", "schedule_type": "solar", "solar_event": "sunrise",
               "latitude": 40.7128, "longitude": -74.006, "timezone": "America/New_York"}),
    );
    assert_ok(&r);
    // A field of another driver type is refused rather than ignored.
    let r = e.api.post(
        "add_schedule",
        json!({"webhook_url": "http://127.0.0.1:9/i", "schedule_type": "interval", "interval_seconds": 60,
               "cron_expression": "0 9 * * *"}),
    );
    assert_error(&r, 400, "Invalid field value: cron_expression (not a field of a interval schedule)");
    // A field under its name and its alias at once is ambiguous.
    let r = e.api.post("add_system_secret", json!({"secret_key": "k", "key": "k", "value": "v"}));
    assert_error(&r, 400, "Invalid field value: secret_key (given more than once (under its name and an alias))");
}

// ---- case 18: bounds on every field ----

#[test]
fn a_megabyte_description_is_refused() {
    let e = env();
    let r = e.api.post(
        "add_workflow_template",
        json!({"workflow_name": "w", "runtype": "fifo_sequential", "workflow_description": "d".repeat(1_000_000)}),
    );
    assert_error(&r, 400, "Invalid field value: workflow_description (longer than 2000 characters)");
    let r = e.api.post(
        "add_workflow_template",
        json!({"workflow_name": "w", "runtype": "fifo_sequential", "workflow_description": "d".repeat(2000)}),
    );
    assert_ok(&r);
    assert_eq!(e.api.total("get_workflow_template_paginated"), 1);
}

#[test]
fn a_forty_thousand_character_cron_expression_is_refused() {
    let e = env();
    let long = "0 ".repeat(20_000);
    let r = e.api.post(
        "add_cron_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": e.template, "cron_expression": long,
               "cron_timezone": "UTC", "is_one_off_task": false}),
    );
    assert_error(&r, 400, "Invalid field value: cron_expression (longer than 1024 characters)");
    let r = e.api.post(
        "preview_schedule",
        json!({"driver_type": "cron", "cron_expression": "0 ".repeat(20_000), "cron_timezone": "UTC"}),
    );
    assert_error(&r, 400, "Invalid field value: cron_expression (longer than 1024 characters)");
    assert_eq!(schedule_count(&e.api), 0);
}

#[test]
fn twenty_thousand_exclusion_dates_are_refused() {
    let e = env();
    let id = e.api.post("add_interval_schedule", interval(&e.template, json!({})));
    assert_ok(&id);
    let id = id.json["schedule_uuid"].as_str().unwrap().to_string();
    let dates: Vec<String> = (0..20_000).map(|i| format!("{:04}-01-01", 2000 + i % 7000)).collect();
    let r = e
        .api
        .post("add_schedule_rule", json!({"schedule_uuid": id, "rule_type": "exclusion", "exclusion_dates": dates}));
    assert_error(&r, 400, "Invalid field value: exclusion_dates (more than 1000 items)");
    let thousand: Vec<String> = (0..1000).map(|i| format!("{:04}-01-01", 2000 + i)).collect();
    let r = e
        .api
        .post("add_schedule_rule", json!({"schedule_uuid": id, "rule_type": "exclusion", "exclusion_dates": thousand}));
    assert_ok(&r);
    let rules = e.api.post("list_schedule_rules", json!({"schedule_uuid": id}));
    assert_eq!(rules.json["data"].as_array().unwrap().len(), 1, "only the bounded rule was attached");
}

#[test]
fn a_utc_offset_beyond_23_59_is_refused() {
    let e = env();
    let r = e.api.post(
        "add_clocked_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": e.template,
               "clocked_run_at": "2030-01-01T00:00:00+25:00", "clocked_timezone": "UTC"}),
    );
    assert_error(&r, 400, "Invalid field value: clocked_run_at (the UTC offset must be between -23:59 and +23:59)");
    let r =
        e.api.post("add_interval_schedule", interval(&e.template, json!({"start_at": "2030-01-01T00:00:00-24:30"})));
    assert_error(&r, 400, "Invalid field value: start_at (the UTC offset must be between -23:59 and +23:59)");
    let r = e.api.post(
        "add_clocked_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": e.template,
               "clocked_run_at": "2030-01-01T00:00:00+14:00", "clocked_timezone": "UTC"}),
    );
    assert_ok(&r);
    assert_eq!(schedule_count(&e.api), 1);
}

#[test]
fn a_time_of_23_59_60_is_refused() {
    let e = env();
    let id = e.api.post("add_interval_schedule", interval(&e.template, json!({})));
    let id = id.json["schedule_uuid"].as_str().unwrap().to_string();
    let r = e.api.post(
        "add_schedule_rule",
        json!({"schedule_uuid": id, "rule_type": "time_window", "start_time": "09:00:00", "end_time": "23:59:60"}),
    );
    assert_error(&r, 400, "Invalid field value: end_time (expected HH:mm:ss (00:00:00 to 23:59:59))");
    let r = e.api.post(
        "add_clocked_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": e.template,
               "clocked_run_at": "2030-06-30T23:59:60Z", "clocked_timezone": "UTC"}),
    );
    assert_error(
        &r,
        400,
        "Invalid field value: clocked_run_at (seconds must be 00-59 (leap seconds are not supported))",
    );
    let rules = e.api.post("list_schedule_rules", json!({"schedule_uuid": id}));
    assert_eq!(rules.json["data"], json!([]));
    assert_eq!(schedule_count(&e.api), 1);
}

#[test]
fn nul_and_control_characters_in_names_are_refused() {
    let e = env();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "add_webhook_template",
            json!({"webhook_name": "a\u{0}b", "method": "POST", "path": "/x", "domain_uuid": e.domain}),
            "Invalid field value: webhook_name (contains the control character U+0000)",
        ),
        (
            "add_workflow_template",
            json!({"workflow_name": "w\u{1b}[31m", "runtype": "fifo_sequential"}),
            "Invalid field value: workflow_name (contains the control character U+001B)",
        ),
        (
            "add_interval_schedule",
            interval(&e.template, json!({"name": "line\nbreak"})),
            "Invalid field value: name (contains the control character U+000A)",
        ),
        (
            "add_system_secret",
            json!({"secret_key": "bell\u{7}", "secret_value": "v"}),
            "Invalid field value: secret_key (contains the control character U+0007)",
        ),
        (
            "add_webhook_template",
            json!({"webhook_name": "invoice\u{202e}fdp.exe", "method": "POST", "path": "/x", "domain_uuid": e.domain}),
            "Invalid field value: webhook_name (contains the invisible formatting character U+202E)",
        ),
        (
            "add_workflow_template",
            json!({"workflow_name": "zero\u{200b}width", "runtype": "fifo_sequential"}),
            "Invalid field value: workflow_name (contains the invisible formatting character U+200B)",
        ),
        (
            "add_interval_schedule",
            interval(&e.template, json!({"name": "\u{feff}bom"})),
            "Invalid field value: name (contains the invisible formatting character U+FEFF)",
        ),
        (
            "add_workflow_template",
            json!({"name": "w", "mode": "fifo", "steps": [{"url": "http://127.0.0.1:9/a", "id": "a\u{7f}"}]}),
            "Invalid field value: steps[0].id (contains the control character U+007F)",
        ),
    ];
    for (action, body, error) in cases {
        let r = e.api.post(action, body);
        assert_error(&r, 400, error);
    }
    // Descriptions may hold line breaks and tabs, but no other control character.
    let r = e.api.post(
        "add_webhook_template",
        json!({"webhook_name": "ok", "webhook_description": "line 1\n\tline 2", "method": "POST", "path": "/x",
               "domain_uuid": e.domain}),
    );
    assert_ok(&r);
    let r = e.api.post(
        "add_webhook_template",
        json!({"webhook_name": "ok", "webhook_description": "nul\u{0}", "method": "POST", "path": "/x",
               "domain_uuid": e.domain}),
    );
    assert_error(&r, 400, "Invalid field value: webhook_description (contains the control character U+0000)");
    assert_eq!(e.api.total("get_webhook_template_paginated"), 2, "the fixture's template and the good one");
    assert_eq!(e.api.total("get_workflow_template_paginated"), 0);
    assert_eq!(e.api.total("get_secrets_paginated"), 0);
    assert_eq!(schedule_count(&e.api), 0);
}

#[test]
fn the_bounds_are_in_the_openapi_document() {
    let e = env();
    let doc = e.api.plain_get("/openapi.json").json;
    let body = |path: &str| doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"].clone();
    assert_eq!(body("/v1/api/add_workflow_template/")["properties"]["workflow_description"]["maxLength"], 2000);
    // A cron expression is its format alone (a generator draws from the format); its length
    // bound is stated beside it.
    let cron = &body("/v1/api/add_cron_schedule/")["properties"]["cron_expression"];
    assert_eq!(cron["format"], "cron", "{cron}");
    assert_eq!(cron["x-bounded-by"], "the cron grammar, at most 1024 characters", "{cron}");
    assert_eq!(body("/v1/api/add_schedule_rule/")["properties"]["exclusion_dates"]["maxItems"], 1000);
    let steps = &body("/v1/api/add_workflow_template/")["properties"]["steps"];
    assert_eq!(steps["items"]["properties"]["max_retries"]["maximum"], 100);
    assert_eq!(steps["items"]["additionalProperties"], false);
    let page = doc["paths"]["/v1/api/get_domain_paginated/"]["get"]["parameters"][0].clone();
    assert_eq!((page["name"].clone(), page["schema"]["minimum"].clone()), (json!("page"), json!(1)));
}

// ---- case 17: instants that cannot be represented ----

#[test]
fn a_first_fire_past_year_9999_is_refused() {
    let e = env();
    let r = e.api.post(
        "add_interval_schedule",
        interval(&e.template, json!({"interval_value": 1_000_000, "interval_period": "week"})),
    );
    assert_error(
        &r,
        400,
        "Invalid field value: interval_value (the first fire would come after 9999-12-30T00:00:00Z, the latest instant a schedule fires at)",
    );
    // The same for a one-off, and for a grid anchored in the past.
    for extra in [
        json!({"interval_value": 1_000_000, "interval_period": "week", "is_one_off_task": true}),
        json!({"interval_value": 1_000_000, "interval_period": "week", "start_at": "2020-01-01T00:00:00Z"}),
    ] {
        let r = e.api.post("add_interval_schedule", interval(&e.template, extra));
        assert_error(
            &r,
            400,
            "Invalid field value: interval_value (the first fire would come after 9999-12-30T00:00:00Z, the latest instant a schedule fires at)",
        );
    }
    // The SDK's create_schedule and update_schedule the same.
    let r = e.api.post(
        "add_schedule",
        json!({"webhook_url": "http://127.0.0.1:9/far", "schedule_type": "interval", "interval_value": 1_000_000,
               "interval_period": "week"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.error().starts_with("Invalid field value: interval_value (the first fire would come after"),
        "{}",
        r.text
    );
    assert_eq!(schedule_count(&e.api), 0);
    assert_eq!(e.api.total("get_webhook_template_paginated"), 1, "the refused SDK call registered a template");

    let ok = e.api.post("add_interval_schedule", interval(&e.template, json!({})));
    assert_ok(&ok);
    let id = ok.json["schedule_uuid"].as_str().unwrap().to_string();
    let before = e.api.post("get_single_schedule_details", json!({"schedule_uuid": id})).json["data"].clone();
    let r = e
        .api
        .post("update_schedule", json!({"schedule_uuid": id, "interval_value": 1_000_000, "interval_period": "week"}));
    assert!(
        r.error().starts_with("Invalid field value: interval_value (the first fire would come after"),
        "{}",
        r.text
    );
    let after = e.api.post("get_single_schedule_details", json!({"schedule_uuid": id})).json["data"].clone();
    assert_eq!(after, before, "a refused update changed the schedule");
    assert!(!after.to_string().contains("invalid-time"), "{after}");
}

#[test]
fn instants_before_1970_or_after_9999_12_30_are_refused() {
    let e = env();
    let range = "must be between 1970-01-01T00:00:00Z and 9999-12-30T00:00:00Z";
    let r = e.api.post("add_interval_schedule", interval(&e.template, json!({"start_at": "0001-01-01T00:00:00Z"})));
    assert_error(&r, 400, &format!("Invalid field value: start_at ({range})"));
    let r = e.api.post(
        "add_clocked_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": e.template,
               "clocked_run_at": "9999-12-31T12:00:00Z", "clocked_timezone": "UTC"}),
    );
    assert_error(&r, 400, &format!("Invalid field value: clocked_run_at ({range})"));
    let r = e.api.post(
        "preview_schedule",
        json!({"driver_type": "interval", "interval_value": 1, "interval_period": "week", "from": "0001-01-01T00:00:00Z"}),
    );
    assert_error(&r, 400, &format!("Invalid field value: from ({range})"));
    assert_eq!(schedule_count(&e.api), 0);

    let id = e.api.post("add_interval_schedule", interval(&e.template, json!({})));
    let id = id.json["schedule_uuid"].as_str().unwrap().to_string();
    let r = e.api.post(
        "add_schedule_rule",
        json!({"schedule_uuid": id, "rule_type": "termination", "expire_at": "0001-01-01T00:00:00Z"}),
    );
    assert_error(&r, 400, &format!("Invalid field value: expire_at ({range})"));

    // A preview that reaches the last representable instant ends there, with no bogus times.
    let r = e.api.post(
        "preview_schedule",
        json!({"driver_type": "interval", "interval_value": 1, "interval_period": "day",
               "start_at": "9999-12-27T00:00:00Z", "count": 10}),
    );
    assert_ok(&r);
    let utc: Vec<&str> =
        r.json["data"]["fire_times"].as_array().unwrap().iter().map(|t| t["utc"].as_str().unwrap()).collect();
    assert_eq!(utc, ["9999-12-27T00:00:00Z", "9999-12-28T00:00:00Z", "9999-12-29T00:00:00Z", "9999-12-30T00:00:00Z"]);
    assert_eq!(r.json["data"]["complete"], true);
    assert!(!r.text.contains("invalid-time"), "{}", r.text);
}

#[test]
fn a_key_given_twice_in_a_body_is_refused_and_nothing_is_stored() {
    // RFC 8259 leaves duplicate keys open: a proxy may read the first, serde the last. The
    // daemon reads neither: 400 naming the key, at any depth.
    let d = TestDaemon::start();
    let api = d.client();
    let before = api.total("get_domain_paginated");
    let send = |raw: &str| {
        Api::send(
            api.request(reqwest::Method::POST, "add_domain")
                .header("content-type", "application/json")
                .body(raw.to_string()),
        )
    };
    let r = send(r#"{"protocol_type":"http","domain":"first.example","domain":"second.example"}"#);
    assert_invalid(&r, "domain");
    assert!(r.error().contains("more than once"), "{}", r.text);
    assert_eq!(api.total("get_domain_paginated"), before);
    let domain = api.add_domain("127.0.0.1:9");
    let r = Api::send(
        api.request(reqwest::Method::POST, "add_webhook_template").header("content-type", "application/json").body(
            format!(
                r#"{{"webhook_name":"t","method":"POST","path":"/x","domain_uuid":"{domain}","request_body_json":{{"a":1,"a":2}}}}"#
            ),
        ),
    );
    assert_invalid(&r, "a");
    assert_eq!(api.total("get_webhook_template_paginated"), 0);
}

#[test]
fn execution_list_time_filters_follow_the_instant_rules() {
    let d = TestDaemon::start();
    let api = d.client();
    for bad in [
        "2024-01-01T00:00:00%2B25:00",
        "2024-01-01T23:59:60Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-12-30T00:00:01Z",
        "9999-12-31T23:59:59Z",
    ] {
        for field in ["from", "to"] {
            let r = api.get(&format!("get_executions_paginated?{field}={bad}"));
            assert_invalid(&r, field);
        }
    }
    let r = api.get("get_executions_paginated?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00%2B02:00");
    assert_eq!(r.status, 200, "{}", r.text);
}
