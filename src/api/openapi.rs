//! `/openapi.json`: an OpenAPI 3.1 document generated from the endpoint table. Each operation's
//! request schema (body, or query parameters for `GET`) is the JSON Schema of the handler's
//! typed input, so it lists exactly the fields the handler accepts, with their bounds, and
//! `additionalProperties: false`. Aliases a field accepts (declared with `#[serde(alias)]`) are
//! listed under the field's `x-aliases`.

use serde_json::{Map, Value, json};

use schemars::Schema;

use super::endpoints::{ENDPOINTS, Endpoint, reply};
use super::responses;

/// The error answers every `/v1/api/` operation may give, with what each means.
const ERRORS: &[(&str, &str)] = &[
    ("400", "A field is missing, unknown or invalid (the message names it), or the body is not JSON."),
    ("401", "The API key or brand header is missing, malformed, unknown or revoked."),
    ("404", "The object named by an id does not exist for this brand."),
    ("405", "The method is not one the operation answers."),
    ("408", "The body did not arrive in time (`server.body_timeout_seconds`)."),
    ("409", "The object's state forbids the change, a name is taken, or an `Idempotency-Key` was reused."),
    ("413", "The body is larger than `api.body_bytes_max`."),
    ("415", "The body is not `application/json`."),
    ("429", "The key's rate limit is spent (see `Retry-After`), or the server is busy."),
    ("500", "An internal error (logged with the `request_id`)."),
    ("503", "The store cannot write just now; retry."),
    ("507", "The store's disk is full; retry when space is free."),
];

fn error_ref(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The `responses` of an operation: its own success schema, then the shared errors.
fn responses(e: &Endpoint) -> Value {
    let mut schema = (e.reply)().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    let mut out = Map::new();
    out.insert("200".into(), json!({"description": "Success", "content": {"application/json": {"schema": schema}}}));
    for (code, description) in ERRORS {
        out.insert((*code).into(), error_ref(description));
    }
    Value::Object(out)
}

/// The input schema of `e`. A field's aliases (`#[serde(alias)]`) are listed under its
/// `x-aliases` only, not as properties: a field may be sent under one of its names only (both
/// is 400), and stating that exclusion in JSON Schema (`not: {required: [a, b]}` per pair)
/// leaves generators unable to draw a valid body. The operation's description says so.
pub fn input_schema(e: &Endpoint) -> Value {
    let mut schema = (e.op.schema)().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    drop_nullable_required(&mut schema);
    // An input without fields (`rotate_ping_key`) still states that it has none.
    if schema["type"] == "object" && schema.get("properties").is_none() {
        schema["properties"] = json!({});
    }
    let mut rules = Value::Array(cross_field_rules(e.name));
    for rule in rules.as_array_mut().into_iter().flatten() {
        resolve_given(&schema["properties"], rule);
    }
    if rules.as_array().is_some_and(|r| !r.is_empty()) {
        schema["allOf"] = rules;
    }
    add_rule_alternatives(&mut schema);
    match e.name {
        "add_workflow_template" => {
            add_step_rules(&mut schema["properties"]["steps"]["items"]);
            schema["properties"]["steps"]["x-unique-by"] = json!("step_identifier");
            // A concurrent workflow (`runtype: concurrently`, the default when `steps` are
            // given) cannot resolve `{{ step… }}` variables; where they may appear is the
            // template grammar's business, so the rule is a vendor keyword.
            schema["x-concurrent-without-step-variables"] = json!(true);
        }
        "add_workflow_step" => add_step_rules(&mut schema),
        "add_alert_rule" | "update_alert_rule" => {
            schema["properties"]["channel_uuids"]["minItems"] = json!(1);
        }
        "add_source" | "update_source" => add_source_rules(&mut schema["properties"]),
        _ => {}
    }
    if schema["properties"]["debounce_seconds"].is_object()
        && let Some(max_wait) = schema["properties"].get_mut("max_wait_seconds")
    {
        max_wait["x-minimum-field"] = json!("debounce_seconds");
    }
    schema
}

/// Removes from `required`, at any depth, the properties whose schema admits `null`: an
/// `Option` field with its own schema function (`schema_with`) is listed as required by
/// schemars, but `null` and absent are the same to the handlers.
fn drop_nullable_required(schema: &mut Value) {
    let admits_null = |p: &Value| {
        p["type"] == "null"
            || p["type"].as_array().is_some_and(|t| t.iter().any(|t| t == "null"))
            || p["anyOf"].as_array().is_some_and(|a| a.iter().any(|s| s["type"] == "null"))
    };
    if let Some(items) = schema.get_mut("items") {
        drop_nullable_required(items);
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.values_mut().for_each(drop_nullable_required);
    }
    let nullable: Vec<String> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, p)| admits_null(p))
        .map(|(k, _)| k.clone())
        .collect();
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| !r.as_str().is_some_and(|r| nullable.iter().any(|n| n == r)));
    }
}

/// Adds to every object with a `rule_type` (a schedule rule, at any depth) one alternative per
/// rule type: its required fields, and no field of another type (`not a field of rule_type`).
fn add_rule_alternatives(schema: &mut Value) {
    use super::schedules::RuleType;
    if let Some(items) = schema.get_mut("items") {
        add_rule_alternatives(items);
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.values_mut().for_each(add_rule_alternatives);
    }
    // An alert rule's `rule_type` is another vocabulary (`alert_rule_rules`).
    if !schema["properties"]["rule_type"].is_object() || schema["properties"]["channel_uuids"].is_object() {
        return;
    }
    let mut every: Vec<&str> = RuleType::ALL.iter().flat_map(|t| t.fields().iter().copied()).collect();
    every.sort_unstable();
    every.dedup();
    let non_empty = |f: &str| all(&[given(f), json!({"properties": {f: {"minItems": 1}}})]);
    let rules: Vec<Value> = RuleType::ALL
        .iter()
        .map(|t| {
            let mut parts: Vec<Value> = every.iter().filter(|f| !t.fields().contains(f)).map(|f| absent(f)).collect();
            match t {
                RuleType::TimeWindow => parts.extend(["start_time", "end_time"].map(given)),
                RuleType::CalendarWindow => parts.push(json!({"anyOf": [
                    non_empty("allow_days"), non_empty("allow_months"), non_empty("allow_weekdays"),
                ]})),
                RuleType::SolarWindow => {
                    parts.extend(["solar_start_event", "solar_end_event", "solar_lat", "solar_long"].map(given))
                }
                RuleType::Exclusion => parts.push(non_empty("exclusion_dates")),
                RuleType::Termination => {
                    parts.push(json!({"if": absent("max_run_to_terminate_after"), "then": given("expire_at")}))
                }
            }
            json!({"if": is("rule_type", t.as_str()), "then": all(&parts)})
        })
        .collect();
    let mut rules = Value::Array(rules);
    resolve_given(&schema["properties"], &mut rules);
    let Value::Array(rules) = rules else { return };
    match schema.get_mut("allOf") {
        Some(Value::Array(parts)) => parts.extend(rules),
        _ => schema["allOf"] = Value::Array(rules),
    }
}

/// The rules of a step being created (an item of `add_workflow_template`'s `steps`, or
/// `add_workflow_step`'s body): a named step needs its method; the call goes to `url`, or to
/// `path` + `domain_uuid`; a condition with any part needs its `field` and `operator`.
fn add_step_rules(step: &mut Value) {
    let mut rules = vec![
        json!({"if": given("webhook_name"), "then": given("method")}),
        json!({
            "if": given("url"),
            "then": all(&[absent("path"), absent("domain_uuid")]),
            "else": all(&[given("path"), given("domain_uuid")]),
        }),
    ];
    for rule in &mut rules {
        resolve_given(&step["properties"], rule);
    }
    let condition = &mut step["properties"]["execution_condition"];
    if condition.is_object() {
        let mut rule = json!({
            "if": all(&[absent("field"), absent("operator"), absent("value")]),
            "else": all(&[given("field"), given("operator"), json!({"properties": {"field": {"pattern": "\\S"}}})]),
        });
        resolve_given(&condition["properties"], &mut rule);
        condition["allOf"] = json!([rule]);
    }
    match step.get_mut("allOf") {
        Some(Value::Array(parts)) => parts.extend(rules),
        _ => step["allOf"] = Value::Array(rules),
    }
}

/// The rules of a source's nested objects: each verification mode needs its own fields;
/// `event_type_from` takes exactly one of its three; a dedup by header or body field names it.
fn add_source_rules(props: &mut Value) {
    let with = |props: &Value, mut rules: Vec<Value>| {
        for rule in &mut rules {
            resolve_given(props, rule);
        }
        Value::Array(rules)
    };
    let v = &mut props["verification"];
    if v.is_object() {
        use super::events::{VERIFICATION_FIELDS, VERIFICATION_SETTINGS};
        // Each type's own fields are given; the others are left out (the handler refuses them).
        let rules = VERIFICATION_FIELDS
            .iter()
            .map(|(t, required, optional)| {
                let mut parts: Vec<Value> = required.iter().map(|f| given(f)).collect();
                let unused = VERIFICATION_SETTINGS.iter().filter(|f| !required.contains(f) && !optional.contains(f));
                parts.extend(unused.map(|f| absent(f)));
                json!({"if": is("type", t), "then": all(&parts)})
            })
            .collect();
        v["allOf"] = with(&v["properties"], rules);
        // RFC 7617: a user-id holds no ':'.
        v["properties"]["username"]["pattern"] =
            json!(format!("^[^:{r}]*[^:\\s{r}][^:{r}]*$", r = super::fields::REFUSED_LINE_CHARS));
    }
    let t = &mut props["event_type_from"];
    if t.is_object() {
        let rule = json!({
            "if": given("header"),
            "then": all(&[absent("body_field"), absent("fixed")]),
            "else": {"if": given("body_field"), "then": absent("fixed"), "else": given("fixed")},
        });
        t["allOf"] = with(&t["properties"], vec![rule]);
    }
    let d = &mut props["dedup"];
    if d.is_object() {
        let rules = vec![
            json!({"if": is("by", "header"), "then": given("key")}),
            json!({"if": is("by", "body_field"), "then": given("key")}),
        ];
        d["allOf"] = with(&d["properties"], rules);
    }
}

/// `field` is left out or `null` (which the handlers read as left out).
fn absent(field: &str) -> Value {
    json!({"properties": {field: {"type": "null"}}})
}

/// `field` is given, not `null`. The property's own types without `null` replace the
/// placeholder in [`resolve_given`] (a positive `type` rather than `not: {type: null}`, which
/// keeps a format the only constraint on the value, so generators draw from the format).
fn given(field: &str) -> Value {
    json!({"required": [field], "properties": {field: {"x-given": true}}})
}

/// The types of property schema `prop` other than `null`, as a schema.
fn non_null(prop: &Value) -> Value {
    let names = |t: &Value| -> Vec<Value> {
        match t {
            Value::String(_) => vec![t.clone()],
            Value::Array(ts) => ts.clone(),
            _ => Vec::new(),
        }
    };
    let mut types = names(&prop["type"]);
    for alternative in prop["anyOf"].as_array().into_iter().flatten() {
        types.extend(names(&alternative["type"]));
    }
    if prop["$ref"].is_string() {
        types.push(json!("string"));
    }
    types.retain(|t| t != "null");
    match types.len() {
        0 => json!({"not": {"type": "null"}}),
        1 => json!({"type": types[0]}),
        _ => json!({"type": types}),
    }
}

/// Replaces the [`given`] placeholders in the rules of an object (its `allOf`, `anyOf`, `if`,
/// ... at any depth) by the non-null types of the object's property `props[name]`.
fn resolve_given(props: &Value, v: &mut Value) {
    if let Value::Array(parts) = v {
        parts.iter_mut().for_each(|part| resolve_given(props, part));
        return;
    }
    let Value::Object(obj) = v else { return };
    if let Some(Value::Object(ps)) = obj.get_mut("properties") {
        for (name, p) in ps.iter_mut() {
            if p.get("x-given").is_some() {
                *p = non_null(&props[name]);
            }
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(parts)) = obj.get_mut(key) {
            parts.iter_mut().for_each(|part| resolve_given(props, part));
        }
    }
    for key in ["if", "then", "else", "not"] {
        if let Some(part) = obj.get_mut(key) {
            resolve_given(props, part);
        }
    }
}

/// All of `parts` (each an object schema with `properties` / `required`), as one schema.
fn all(parts: &[Value]) -> Value {
    json!({"allOf": parts})
}

/// `field` holds `value` (and is given): the condition of a rule in `if`/`then` form.
///
/// Rules are written as `if`/`then`(/`else`) rather than `anyOf` alternatives: a generator
/// that makes negative data by leaving out a required field of one alternative would otherwise
/// produce bodies that another alternative still admits.
fn is(field: &str, value: &str) -> Value {
    json!({"required": [field], "properties": {field: {"const": value}}})
}

/// An alert rule's fields by `rule_type` (`monitor::alert::RuleSpec::validate`): at most one
/// watched object, of a kind the type may watch; the thresholds the type needs, and no other.
/// `update_alert_rule` (`new: false`) states only the one-watched-object rule: what else it
/// needs depends on the stored rule.
fn alert_rule_rules(new: bool) -> Vec<Value> {
    use crate::monitor::alert::{RuleType, WatchKind};
    let watch = [WatchKind::Monitor, WatchKind::Domain, WatchKind::Webhook, WatchKind::Workflow, WatchKind::Schedule];
    let mut rules: Vec<Value> = watch
        .iter()
        .map(|w| {
            let others: Vec<Value> = watch.iter().filter(|o| *o != w).map(|o| absent(o.field())).collect();
            json!({"if": given(w.field()), "then": all(&others)})
        })
        .collect();
    if !new {
        return rules;
    }
    let thresholds = ["threshold_percent", "window_seconds", "min_count", "lateness_ms", "waiting_seconds"];
    for t in RuleType::ALL {
        let needs: &[&str] = match t {
            RuleType::FailureRate => &["threshold_percent", "window_seconds"],
            RuleType::Lateness => &["lateness_ms", "window_seconds"],
            RuleType::ApprovalWaiting => &["waiting_seconds"],
            _ => &[],
        };
        let reads = |f: &str| {
            needs.contains(&f) || (f == "min_count" && matches!(t, RuleType::FailureRate | RuleType::Lateness))
        };
        let mut parts: Vec<Value> = needs.iter().map(|f| given(f)).collect();
        parts.extend(thresholds.iter().filter(|f| !reads(f)).map(|f| absent(f)));
        parts.extend(watch.iter().filter(|w| !t.watchable().contains(w)).map(|w| absent(w.field())));
        rules.push(json!({"if": is("rule_type", t.as_str()), "then": all(&parts)}));
    }
    rules
}

/// The rules of an interval driver beyond each field's own bounds: at most
/// `INTERVAL_MONTHS_MAX` months.
fn interval_rules() -> Vec<Value> {
    let months = json!({"properties": {"interval_value": {"maximum": super::schedules::INTERVAL_MONTHS_MAX}}});
    vec![json!({"if": is("interval_period", "month"), "then": months})]
}

/// The rules of a debounce driver beyond each field's own bounds: `max_wait_seconds` only with
/// the trailing mode (its relation to `debounce_seconds` is `x-minimum-field`).
fn debounce_rules() -> Vec<Value> {
    vec![json!({"if": is("debounce_mode", "leading"), "then": absent("max_wait_seconds")})]
}

/// One rule per driver type for a request that names its type in `type_field`: with that type,
/// the type's own required fields, no field of another type (`not a field of a cron
/// schedule`), and the type's rules (zones default to UTC, `is_one_off_task` to false).
fn driver_rules(type_field: &str) -> Vec<Value> {
    use super::schedules::DriverKind;
    let every: Vec<&str> = {
        let mut v: Vec<&str> = DriverKind::ALL.iter().flat_map(|k| k.fields().iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    DriverKind::ALL
        .iter()
        .map(|kind| {
            let mut parts: Vec<Value> =
                every.iter().filter(|f| !kind.fields().contains(f)).map(|f| absent(f)).collect();
            match kind {
                DriverKind::Interval => {
                    parts.push(json!({
                        "if": given("interval_seconds"),
                        "then": all(&[absent("interval_value"), absent("interval_period")]),
                        "else": all(&[given("interval_value"), given("interval_period")]),
                    }));
                    parts.extend(interval_rules());
                }
                DriverKind::Cron => parts.push(given("cron_expression")),
                DriverKind::Clocked => parts.push(given("clocked_run_at")),
                DriverKind::Solar => parts.extend(["solar_event", "solar_lat", "solar_long"].map(given)),
                DriverKind::Debounce => {
                    parts.push(given("debounce_seconds"));
                    parts.extend(debounce_rules());
                }
            }
            json!({"if": is(type_field, kind.as_str()), "then": all(&parts)})
        })
        .collect()
}

/// The rules across fields of operation `name` that the handlers check, as JSON Schema (an
/// `allOf` of the input object). A rule JSON Schema cannot state (a number at least another
/// field's) is the property's `x-minimum-field`.
fn cross_field_rules(name: &str) -> Vec<Value> {
    let target = || {
        json!({
            "if": given("webhook_url"),
            "then": all(&[absent("schedule_to"), absent("model_to_schedule_uuid")]),
            "else": all(&[given("schedule_to"), given("model_to_schedule_uuid")]),
        })
    };
    match name {
        "add_domain" => {
            [("rate_limit_enabled", "max_requests_per_second"), ("concurrency_control_enabled", "max_concurrent_jobs")]
                .iter()
                .map(|(flag, max)| {
                    json!({
                        "if": {"required": [flag], "properties": {*flag: {"const": true}}},
                        "then": {"required": [max], "properties": {*max: {"type": "integer", "minimum": 1}}},
                    })
                })
                .collect()
        }
        "add_webhook_template" => vec![json!({
            "if": given("url"),
            "then": all(&[absent("path"), absent("domain_uuid")]),
            "else": all(&[given("path"), given("domain_uuid")]),
        })],
        "add_workflow_template" => vec![json!({"if": absent("steps"), "then": given("runtype")})],
        // A channel takes `url` or (email) `email_to`.
        "add_notification_channel" => vec![json!({
            "if": is("type", "email"),
            "then": all(&[given("email_to"), absent("url")]),
            "else": all(&[given("url"), absent("email_to")]),
        })],
        "update_notification_channel" => vec![json!({"if": given("url"), "then": absent("email_to")})],
        "add_alert_rule" => alert_rule_rules(true),
        "update_alert_rule" => alert_rule_rules(false),
        // A heartbeat's period is an interval or a cron expression (+ zone), not both; a
        // pipeline has stages and no period.
        "add_monitor" => vec![json!({
            "if": {"required": ["kind"], "properties": {"kind": {"const": "pipeline"}}},
            "then": all(&[
                given("stages"),
                absent("interval_seconds"),
                absent("cron_expression"),
                absent("cron_timezone"),
                absent("grace_seconds"),
            ]),
            "else": all(&[
                json!({
                    "if": given("interval_seconds"),
                    "then": all(&[absent("cron_expression"), absent("cron_timezone")]),
                    "else": given("cron_expression"),
                }),
                absent("stages"),
                absent("strict"),
                absent("timeout_seconds"),
                absent("budget_per_instance_usd"),
                absent("budget_per_day_usd"),
            ]),
        })],
        "update_monitor" => vec![json!({
            "if": given("interval_seconds"),
            "then": all(&[absent("cron_expression"), absent("cron_timezone")]),
        })],
        "add_interval_schedule" => interval_rules(),
        "add_debounce_schedule" => debounce_rules(),
        "add_schedule" => {
            let mut rules = vec![target()];
            rules.extend(driver_rules("schedule_type"));
            rules
        }
        "preview_schedule" => {
            let mut stored = vec![absent("driver_type")];
            let mut fields: Vec<&str> =
                super::schedules::DriverKind::ALL.iter().flat_map(|k| k.fields().iter().copied()).collect();
            fields.sort_unstable();
            fields.dedup();
            stored.extend(fields.into_iter().map(absent));
            let mut fresh = vec![given("driver_type")];
            fresh.extend(driver_rules("driver_type"));
            vec![json!({"if": given("schedule_uuid"), "then": all(&stored), "else": all(&fresh)})]
        }
        _ => Vec::new(),
    }
}

/// The names under which each required field may be sent: the field's own, then its aliases
/// (`webhook_uuid` or `template_uuid`).
pub fn required_names(schema: &Value) -> Vec<Vec<String>> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| {
            let mut group = vec![n.to_string()];
            let aliases = schema["properties"][n]["x-aliases"].as_array().into_iter().flatten();
            group.extend(aliases.filter_map(Value::as_str).map(String::from));
            group
        })
        .collect()
}

/// `GET` operations: the input object's properties as query parameters.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<String> = required_names(schema).into_iter().filter_map(|g| g.into_iter().next()).collect();
    let mut out = Vec::new();
    for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
        // A query string cannot say "one of these two names": aliases are accepted but not
        // listed as parameters (the field's description names them).
        if prop.get("deprecated") == Some(&Value::Bool(true)) {
            continue;
        }
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
        let is_required = required.contains(name);
        let mut p = json!({"name": name, "in": "query", "required": is_required, "schema": prop});
        if let Some(d) = prop.get("description") {
            let mut d = d.as_str().unwrap_or_default().to_string();
            if let Some(aliases) = prop.get("x-aliases").and_then(Value::as_array) {
                let names: Vec<String> = aliases.iter().filter_map(Value::as_str).map(|a| format!("`{a}`")).collect();
                d.push_str(&format!(" Also accepted as {} (deprecated).", names.join(", ")));
            }
            p["description"] = Value::String(d);
        }
        if !is_required {
            // An empty value (`?status=`) is the same as leaving the parameter out.
            p["allowEmptyValue"] = Value::Bool(true);
        }
        if prop.get("deprecated") == Some(&Value::Bool(true)) {
            p["deprecated"] = Value::Bool(true);
        }
        out.push(p);
    }
    out
}

/// Where the time-zone enum lives: one component, referred to from every zone field (it is
/// hundreds of names; inline at each field it made the document half a megabyte).
pub const TIME_ZONE_REF: &str = "#/components/schemas/TimeZone";

/// Replaces, at any depth, each schema whose `enum` is the zone list (`zones`, maybe with
/// `null`) by a `$ref` to [`TIME_ZONE_REF`] (or `anyOf` it and `null`), keeping its other keys.
fn share_zone_enum(v: &mut Value, zones: &[Value]) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| share_zone_enum(i, zones)),
        Value::Object(obj) => {
            let is_zone_list = |e: &Vec<Value>| {
                let names: Vec<&Value> = e.iter().filter(|x| !x.is_null()).collect();
                names.len() == zones.len() && names.iter().zip(zones).all(|(a, b)| *a == b)
            };
            if let Some(Value::Array(e)) = obj.get("enum")
                && is_zone_list(e)
            {
                let nullable = e.iter().any(Value::is_null);
                for key in ["enum", "type", "maxLength"] {
                    obj.remove(key);
                }
                if nullable {
                    obj.insert("anyOf".into(), json!([{"$ref": TIME_ZONE_REF}, {"type": "null"}]));
                } else {
                    obj.insert("$ref".into(), json!(TIME_ZONE_REF));
                }
                return;
            }
            obj.values_mut().for_each(|x| share_zone_enum(x, zones));
        }
        _ => {}
    }
}

/// Whether an empty object fails `schema` for want of a field: a `required` list, at the top or
/// in the `allOf` rules that apply to `{}` (a rule's `if` holds on `{}` unless it requires a
/// field). A body whose `{}` fails is a required body: a call without one is read as `{}`.
fn requires_a_field(schema: &Value) -> bool {
    if schema["required"].as_array().is_some_and(|r| !r.is_empty()) {
        return true;
    }
    if schema["allOf"].as_array().into_iter().flatten().any(requires_a_field) {
        return true;
    }
    match schema.get("if") {
        Some(condition) if !requires_a_field(condition) => schema.get("then").is_some_and(requires_a_field),
        Some(_) => schema.get("else").is_some_and(requires_a_field),
        None => false,
    }
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
                "responses": responses(e),
            });
            let obj = op.as_object_mut().expect("object literal");
            if let Some(d) = schema.get("description") {
                obj.insert("description".into(), d.clone());
            }
            if e.reads_query() {
                obj.insert("parameters".into(), Value::Array(query_parameters(&schema)));
            } else {
                let required = requires_a_field(&schema);
                let mut content = json!({"schema": schema});
                if let Some(example) = super::examples::request(e.name) {
                    content["example"] = example;
                }
                obj.insert(
                    "requestBody".into(),
                    json!({"required": required, "content": {"application/json": content}}),
                );
            }
            ops.insert(m.as_str().to_ascii_lowercase(), op);
        }
        paths.insert(format!("/v1/api/{}/", e.name), Value::Object(ops));
    }
    let schema_of = |s: Schema| {
        let mut v = s.to_value();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("$schema");
            obj.remove("title");
        }
        v
    };
    let json_answer = |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let ops = [
        (
            "/healthz",
            "Process is up.",
            json!({"200": json_answer("The process serves HTTP.", schema_of(reply::<responses::Health>()))}),
        ),
        (
            "/readyz",
            "Store open and start-up finished; shows the tzdb version.",
            json!({
                "200": json_answer("Ready.", schema_of(reply::<responses::Ready>())),
                "503": json_answer("Not ready (starting, or the store cannot write).", schema_of(reply::<responses::Ready>())),
            }),
        ),
        (
            "/metrics",
            "Prometheus metrics (optional bearer token).",
            json!({
                "200": {"description": "Metrics in the Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": {"description": "`metrics.bearer_token` is set and the request's `Authorization: Bearer` does not match it.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            }),
        ),
        (
            "/openapi.json",
            "This document.",
            json!({"200": json_answer("The OpenAPI 3.1 document.", json!({"type": "object"}))}),
        ),
    ];
    for (path, summary, responses) in ops {
        paths.insert(
            path.into(),
            json!({"get": {"operationId": path.trim_start_matches('/').replace('.', "_"), "summary": summary, "security": [], "responses": responses}}),
        );
    }
    inbound_paths(&mut paths);
    ping_paths(&mut paths);
    pingpulse_paths(&mut paths);
    pipeline_paths(&mut paths);
    let mut paths = Value::Object(paths);
    let zones: Vec<Value> = crate::time::tz::all_zone_names().into_iter().map(Value::String).collect();
    share_zone_enum(&mut paths, &zones);
    let zone_schema = json!({
        "type": "string",
        "maxLength": super::fields::ZONE_CHARS_MAX,
        "enum": zones,
        "description": "An IANA time-zone name (the list of get_timezones).",
    });
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
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-hookpulse-api-key", "description": "An API key of the brand (`hookwheel key create`)."},
                "brandUuid": {"type": "apiKey", "in": "header", "name": "x-brand-uuid", "description": "The brand's UUID."},
                "bearerKey": {"type": "http", "scheme": "bearer", "description": "An API key of the brand as `Authorization: Bearer <key>` (the Hook0 dialect)."},
            },
            "schemas": {"TimeZone": zone_schema, "Hook0Error": hook0_error_schema(), "Error": {
                "type": "object",
                "description": "An error answer. A 409 may add the id of the object in the way (e.g. `secret_uuid`).",
                "required": ["success", "error", "request_id"],
                "properties": {
                    "success": {"const": false, "description": "Always `false` on an error answer."},
                    "error": {"type": "string", "description": "What went wrong, naming the field when a field is at fault."},
                    "request_id": {"type": "string", "description": "The request's id, also in the `x-request-id` header and the log."},
                },
            }},
        },
    })
}

/// Hook0's error body (`super::hook0::error_body`).
fn hook0_error_schema() -> Value {
    json!({
        "type": "object",
        "description": "An error of the Hook0 dialect (Hook0's reference, \"Error Handling\").",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "description": "The error.",
            "required": ["type", "message", "code", "details", "request_id"],
            "properties": {
                "type": {"enum": super::hook0::ERROR_TYPES, "description": "The kind of error."},
                "message": {"type": "string", "description": "What went wrong, naming the field when a field is at fault."},
                "code": {"enum": super::hook0::ERROR_CODES, "description": "The error's code."},
                "details": {"type": "array", "description": "The field at fault, when there is one.", "items": {"type": "object", "properties": {
                    "field": {"type": "string", "description": "The field's name (`events[3].event_type` in a batch)."},
                    "message": {"type": "string", "description": "What is wrong with it."},
                }}},
                "request_id": {"type": "string", "description": "The request's id, also in the `x-request-id` header and the log."},
            },
        }},
    })
}

/// The error answers of the Hook0 routes.
fn hook0_errors(codes: &[(&str, &str)]) -> Map<String, Value> {
    codes
        .iter()
        .map(|(code, description)| {
            let body = json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Hook0Error"}}}});
            ((*code).to_string(), body)
        })
        .collect()
}

/// The ingest URL and the Hook0 dialect (product.md §10; docs/api.md "Inbound events"): routes
/// outside the endpoint table, described here by hand from the same input types.
fn inbound_paths(paths: &mut Map<String, Value>) {
    let send_event = ENDPOINTS.iter().find(|e| e.name == "send_event").map(input_schema).unwrap_or_default();
    let mut hook0_event = send_event;
    if let Some(props) = hook0_event["properties"].as_object_mut() {
        props.insert(
            "application_id".into(),
            json!({"type": ["string", "null"], "maxLength": super::hook0::APPLICATION_ID_CHARS_MAX, "description": "Hook0's application id: accepted and ignored (the brand is the API key's)."}),
        );
        props.insert(
            "occurred_at".into(),
            json!({"type": ["string", "null"], "format": "date-time", "maxLength": 64, "description": "When the event happened (RFC 3339): checked, not kept (events are ordered by arrival)."}),
        );
        props.insert(
            "payload_content_type".into(),
            json!({"enum": ["application/json", null], "description": "Hook0's ingestion format: with `application/json`, `payload` may also be JSON text (a string), parsed as the payload. `text/plain` and `application/octet-stream+base64` are refused here (an ingest URL takes them)."}),
        );
    }
    let strip = |s: Schema| {
        let mut v = s.to_value();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("$schema");
            obj.remove("title");
        }
        v
    };
    let mut list_query = strip(schemars::schema_for!(super::hook0::ListQuery));
    // A cursor is one this API gave, not any text of its length.
    list_query["properties"]["cursor"]["pattern"] = json!(super::hook0::CURSOR_PATTERN);
    let common = [
        ("401", "`Authorization: Bearer <key>` is missing or the key is unknown or revoked."),
        ("405", "The method is not one the route answers."),
        ("429", "The key's rate limit is spent (see `Retry-After`)."),
        ("503", "The store cannot write just now; retry."),
    ];
    let body_errors = [
        ("400", "A field is missing, unknown or invalid (`details` names it), or the body is not JSON."),
        ("404", "A subscription's target or another referenced object is gone."),
        ("413", "The body is larger than `api.body_bytes_max`."),
        ("415", "The body is not `application/json`."),
    ];
    let with = |ok: Value, extra: &[(&str, &str)]| {
        let mut r = hook0_errors(&common);
        r.extend(hook0_errors(extra));
        if let Value::Object(ok) = ok {
            r.extend(ok);
        }
        Value::Object(r)
    };
    let json_answer = |description: &str, schema: Value| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let accepted = json!({
        "type": "object",
        "required": ["event_id", "status", "created_at"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "The event's id (the first event's, for a duplicate)."},
            "status": {"enum": ["accepted", "duplicate"], "description": "`duplicate` when an event with this `event_id` was published before."},
            "created_at": {"type": "string", "format": "date-time", "description": "When the event was received (UTC)."},
            "received_at": {"type": "string", "format": "date-time", "description": "The same instant, under the name Hook0's ingestion API uses."},
        },
    });
    let event_item = json!({
        "type": "object",
        "required": ["id", "event_type", "payload", "labels", "created_at", "processed_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "The event's id."},
            "event_type": {"type": ["string", "null"], "description": "The event's type."},
            "payload": {"description": "The event's body: JSON as sent, text, or base64 for bytes."},
            "labels": {"type": "object", "description": "The event's labels."},
            "created_at": {"type": "string", "format": "date-time", "description": "When it was received (UTC)."},
            "processed_at": {"type": "string", "format": "date-time", "description": "When it was last routed (UTC)."},
        },
    });
    let bearer = json!([{"bearerKey": []}]);
    paths.insert(
        "/api/v1/events".into(),
        json!({
            "post": {
                "operationId": "hook0_send_event",
                "summary": "Publish one event (Hook0 dialect): the body of send_event, plus Hook0's ignored application_id.",
                "tags": ["hook0 dialect"],
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": hook0_event.clone()}}},
                "responses": with(json!({
                    "201": json_answer("Accepted.", accepted.clone()),
                    "200": json_answer("A repeated `event_id`: the first event's id and `\"status\": \"duplicate\"`.", accepted.clone()),
                }), &body_errors),
            },
            "get": {
                "operationId": "hook0_list_events",
                "summary": "Accepted events, newest first, paged by cursor (Hook0 dialect).",
                "tags": ["hook0 dialect"],
                "security": bearer,
                "parameters": query_parameters(&list_query),
                "responses": with(json!({"200": json_answer("A page of events.", json!({
                    "type": "object",
                    "required": ["data", "pagination"],
                    "properties": {
                        "data": {"type": "array", "items": event_item.clone(), "description": "Up to `limit` events."},
                        "pagination": {"type": "object", "description": "Where the next page starts.", "required": ["next_cursor", "has_more"], "properties": {
                            "next_cursor": {"type": ["string", "null"], "description": "The `cursor` of the next page; null on the last."},
                            "has_more": {"type": "boolean", "description": "Whether a next page exists."},
                        }},
                    },
                }))}), &[("400", "A parameter is unknown or invalid (`details` names it).")]),
            },
        }),
    );
    paths.insert(
        "/api/v1/event".into(),
        json!({"post": {
            "operationId": "hook0_ingest_event",
            "summary": "Hook0's ingestion path (singular): the same as `POST /api/v1/events`.",
            "tags": ["hook0 dialect"],
            "security": bearer,
            "requestBody": {"required": true, "content": {"application/json": {"schema": hook0_event}}},
            "responses": with(json!({
                "201": json_answer("Accepted.", accepted.clone()),
                "200": json_answer("A repeated `event_id`: the first event's id and `\"status\": \"duplicate\"`.", accepted),
            }), &body_errors),
        }}),
    );
    let mut batch_body = strip(schemars::schema_for!(super::hook0::Batch));
    // Each event is checked on its own, and refused alone (`"status": "rejected"` with an
    // error naming `events[i].<field>`): the batch itself takes any items.
    batch_body["properties"]["events"]["items"] = json!({
        "description": "One event: the body of `POST /api/v1/events`. Each item is checked on its own; one that is not a valid event (not even an object) is `rejected` alone.",
        "example": super::examples::request("send_event"),
    });
    paths.insert(
        "/api/v1/events/batch".into(),
        json!({"post": {
            "operationId": "hook0_send_events_batch",
            "summary": "Publish up to 100 events, each checked on its own (Hook0 dialect).",
            "tags": ["hook0 dialect"],
            "security": bearer,
            "requestBody": {"required": true, "content": {"application/json": {"schema": batch_body}}},
            "responses": with(json!({
                "201": json_answer("At least one event was accepted.", json!({"type": "object", "required": ["events", "total_accepted", "total_rejected"]})),
                "200": json_answer("No event was accepted (each was a duplicate or rejected).", json!({"type": "object", "required": ["events", "total_accepted", "total_rejected"]})),
            }), &body_errors),
        }}),
    );
    let mut shown = event_item;
    shown["required"].as_array_mut().into_iter().for_each(|r| r.push(json!("delivery_stats")));
    shown["properties"]["delivery_stats"] = json!({
        "type": "object",
        "description": "Counts over the event's executions (those retention has not removed).",
        "required": ["total_attempts", "successful_deliveries", "failed_deliveries", "pending_deliveries"],
        "properties": {
            "total_attempts": {"type": "integer", "description": "Every delivery attempt made."},
            "successful_deliveries": {"type": "integer", "description": "Executions that succeeded."},
            "failed_deliveries": {"type": "integer", "description": "Executions that ended otherwise (failed, cancelled)."},
            "pending_deliveries": {"type": "integer", "description": "Executions still to run or retry."},
        },
    });
    paths.insert(
        "/api/v1/events/{event_id}".into(),
        json!({"get": {
            "operationId": "hook0_get_event",
            "summary": "One accepted event with its delivery counts (Hook0 dialect).",
            "tags": ["hook0 dialect"],
            "security": bearer,
            "parameters": [{"name": "event_id", "in": "path", "required": true, "description": "The event's id.", "schema": {"type": "string", "format": "uuid", "maxLength": 36, "description": "The event's id."}}],
            "responses": with(json!({"200": json_answer("The event.", shown)}), &[
                ("400", "`event_id` is not a UUID, or a query parameter was given."),
                ("404", "No accepted event of this brand has this id."),
            ]),
        }}),
    );
    let ingest_errors = [
        ("401", "The source's verification refused the request (recorded as a rejected event with its reason)."),
        ("403", "The sender's address is outside the source's `ip_allow_cidrs` (recorded)."),
        ("404", "No source has this ingest token (or it was rotated away)."),
        ("413", "The body is larger than the source's limit (recorded, the body cut to 1 KiB)."),
        (
            "429",
            "The source's rate limit (`events.ingest_rate_per_second`, `events.ingest_burst`) is spent; the first 429 of each second per source is stored with the count since, the rest counted.",
        ),
        ("503", "The store cannot write just now; the sender should retry."),
    ];
    let mut responses: Map<String, Value> =
        ingest_errors.iter().map(|(c, d)| ((*c).to_string(), error_ref(d))).collect();
    responses.insert(
        "2XX".into(),
        json!({"description": "Stored (and routed) before this answer: the source's `response_status_code` and `response_body`, else 202 `{\"success\": true, \"event_uuid\"}`; a duplicate within the dedup window answers 200 with `\"duplicate\": true`. 204 and 205 have no body.", "content": {"application/json": {"schema": {}}}}),
    );
    let ingest = |method: &str| {
        json!({
            "operationId": format!("ingest_{method}"),
            "summary": "A source's ingest URL: any method, any content type, any path below the token (kept as the event's `path`).",
            "tags": ["inbound events"],
            "security": [],
            "parameters": [{"name": "token", "in": "path", "required": true, "description": "The source's ingest token (`add_source`, `rotate_source_ingest_token`).", "schema": {"type": "string", "maxLength": 64}}],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string", "maxLength": 1024}}}},
            "responses": responses.clone(),
        })
    };
    paths.insert("/v1/ingest/{token}".into(), json!({"post": ingest("post"), "put": ingest("put")}));
}

/// The monitors' ping URLs (product.md §11; docs/api.md "Heartbeat monitors"): Healthchecks'
/// URL family, outside the endpoint table, no API key (the token or ping key is the
/// credential). `HEAD` is answered like `GET` and is not listed.
fn ping_paths(paths: &mut Map<String, Value>) {
    let text = |d: &str| json!({"description": d, "content": {"text/plain": {"schema": {"type": "string"}}}});
    let responses = json!({
        "200": text("`OK`: the ping is stored (one durable write) and the monitor's deadline moved."),
        "400": text("`invalid exit status (0-255)` or `invalid rid …`."),
        "404": text("`not found`: no monitor has this token, or no monitor of the ping key's brand has this slug."),
        "413": text("The body is larger than `api.body_bytes_max` (a body is otherwise kept to its first 10 KiB)."),
        "429": text("`rate limited`: the monitor's ping rate (`events.ingest_rate_per_second`, `events.ingest_burst`) is spent; not stored."),
        "503": text("The store cannot write just now; the sender should retry."),
    });
    let segment = |name: &str, d: &str| json!({"name": name, "in": "path", "required": true, "description": d, "schema": {"type": "string", "minLength": 1, "maxLength": 128}});
    let rid = json!({"name": "rid", "in": "query", "required": false, "description": "A run id pairing a `/start` with its end ping (the run's duration is recorded with the end).", "schema": {"type": "string", "minLength": 1, "maxLength": super::ping::RID_CHARS_MAX, "pattern": "^[!-~]+$"}});
    let body = json!({"required": false, "content": {"text/plain": {"schema": {"type": "string"}}, "application/json": {"schema": {}}}});
    let op = |id: String, summary: &str, params: Vec<Value>| {
        let mut params = params;
        params.push(rid.clone());
        json!({
            "operationId": id,
            "summary": summary,
            "tags": ["monitors"],
            "security": [],
            "parameters": params,
            "requestBody": body.clone(),
            "responses": responses.clone(),
        })
    };
    let token = segment("token", "The monitor's ping token (`add_monitor`, `get_monitor_details`).");
    let action = segment(
        "suffix",
        "`start` (a run begins), `fail`, or an exit status 0-255 (0 success, 1-255 failure). When the first segment is the brand's ping key rather than a token, this is a monitor's slug and the ping is a success.",
    );
    let key = segment("ping_key", "The brand's ping key (`get_ping_key`).");
    let slug = segment("slug", "The monitor's slug.");
    let both = |id: &str, summary: &str, params: Vec<Value>| {
        json!({
            "get": op(format!("{id}_get"), summary, params.clone()),
            "post": op(format!("{id}_post"), summary, params),
        })
    };
    paths.insert(
        "/ping/{token}".into(),
        both("ping", "A success ping (Healthchecks' ping URL). The body's first 10 KiB is kept.", vec![token.clone()]),
    );
    paths.insert(
        "/ping/{token}/{suffix}".into(),
        both(
            "ping_action",
            "A start, failure or exit-status ping by token; or a success ping by ping key and slug.",
            vec![token, action.clone()],
        ),
    );
    paths.insert(
        "/ping/{ping_key}/{slug}/{suffix}".into(),
        both("ping_slug_action", "A start, failure or exit-status ping by ping key and slug.", vec![key, slug, action]),
    );
}

/// The PingPulse dialect's pulse, process-hook and approval routes (product.md §11; docs/api.md
/// "PingPulse dialect"): outside the endpoint table, keyed by the brand's ping key in `key`
/// (query or JSON body). `HEAD` is not answered.
fn pingpulse_paths(paths: &mut Map<String, Value>) {
    let error = |d: &str| {
        json!({"description": d, "content": {"application/json": {"schema": {"type": "object", "properties": {
            "status": {"const": "error", "description": "Always `error`."}, "error": {"type": "string", "description": "What is wrong (names the field for a 400)."}}, "required": ["status", "error"]}}}})
    };
    let errors = |extra: &[(&str, &str)]| {
        let mut m = Map::new();
        m.insert("400".into(), error("A field is invalid (the message names it) or the body is not a JSON object."));
        m.insert("401".into(), error("`key` is missing or is not a brand's ping key."));
        m.insert("404".into(), error("No such object in the key's brand."));
        m.insert("405".into(), error("Another method."));
        m.insert("413".into(), error("The body is larger than `api.body_bytes_max`."));
        m.insert(
            "429".into(),
            error("Rate limited (`events.ingest_rate_per_second`, `events.ingest_burst`); see `Retry-After`."),
        );
        m.insert("503".into(), error("The store cannot write just now; retry (`Retry-After`)."));
        for (c, d) in extra {
            m.insert(
                (*c).into(),
                json!({"description": d, "content": {"application/json": {"schema": {"type": "object"}}}}),
            );
        }
        Value::Object(m)
    };
    let key = json!({"name": "key", "in": "query", "required": false, "description": "The brand's ping key (`get_ping_key`); may be given as `key` in the JSON body instead.", "schema": {"type": "string", "maxLength": 128}});
    let segment = |name: &str, d: &str| json!({"name": name, "in": "path", "required": true, "description": d, "schema": {"type": "string", "minLength": 1, "maxLength": 128}});
    let any_body = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "description": "`key` and any other fields; everything but `key` is kept as the ping's body (first 10 KiB)."}}}});
    let op = |id: &str, summary: &str, params: Vec<Value>, body: Value, ok: (&str, &str)| {
        json!({
            "operationId": id,
            "summary": summary,
            "tags": ["monitors"],
            "security": [],
            "parameters": params,
            "requestBody": body,
            "responses": errors(&[ok]),
        })
    };
    let target = segment("target_id", "The heartbeat monitor's slug.");
    paths.insert(
        "/hbk/{target_id}".into(),
        json!({
            "get": op("pingpulse_pulse_get", "A pulse: a success ping on the monitor with this slug.", vec![target.clone(), key.clone()], any_body.clone(), ("200", "`{\"status\": \"success\", \"target_id\", \"monitor_status\", \"received_at\"}`.")),
            "post": op("pingpulse_pulse_post", "A pulse: a success ping on the monitor with this slug.", vec![target, key.clone()], any_body.clone(), ("200", "`{\"status\": \"success\", \"target_id\", \"monitor_status\", \"received_at\"}`.")),
        }),
    );
    let hook = segment("id", "The monitor's slug.");
    let action = json!({"name": "action", "in": "path", "required": true, "description": "`start` (a start ping with a new `run_id`) or `finish` (the success ping ending the run named by `run_id`, else the open run).", "schema": {"type": "string", "enum": ["start", "finish"]}});
    let run_id = json!({"name": "run_id", "in": "query", "required": false, "description": "The run to finish (or the id to give a started run).", "schema": {"type": "string", "minLength": 1, "maxLength": super::ping::RID_CHARS_MAX, "pattern": "^[!-~]+$"}});
    let metadata = json!({"name": "metadata", "in": "query", "required": false, "description": "Free-form run data (JSON text or plain text), kept with the ping; longer metadata goes in a JSON body.", "schema": {"type": "string", "maxLength": super::pingpulse::METADATA_QUERY_CHARS_MAX}});
    let phk_ok = (
        "200",
        "`start`: `{\"status\": \"success\", \"process_hook_id\", \"run_id\", \"run_status\": \"running\", \"started_at\"}`; `finish`: `{\"status\": \"success\", \"process_hook_id\", \"run_id\", \"run_status\": \"completed\", \"duration_ms\", \"finished_at\"}`.",
    );
    let phk_params = vec![hook, action, key.clone(), run_id, metadata];
    paths.insert(
        "/phk/{id}/{action}".into(),
        json!({
            "get": op("pingpulse_process_get", "A process run's start or finish.", phk_params.clone(), any_body.clone(), phk_ok),
            "post": op("pingpulse_process_post", "A process run's start or finish.", phk_params, any_body, phk_ok),
        }),
    );
    let create_body = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object",
        "additionalProperties": false,
        "required": ["context"],
        "properties": {
            "key": {"type": "string", "maxLength": 128, "description": "The brand's ping key (or `key` in the query)."},
            "context": {"type": "string", "minLength": 1, "maxLength": super::pingpulse::CONTEXT_CHARS_MAX, "pattern": "\\S", "description": "What needs approval (not blank); its first line is the request's title."},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": super::approvals::TIMEOUT_SECONDS_MAX, "default": super::approvals::TIMEOUT_SECONDS_DEFAULT, "description": "Seconds until the request decides itself by `timeout_action`."},
            "timeout_action": {"type": "string", "enum": ["deny", "approve"], "default": "deny", "description": "What the timeout decides (`deny` is `reject` in `get_approval_request`)."},
        },
    }}}});
    paths.insert(
        "/api/approvals".into(),
        json!({"post": op("pingpulse_create_approval", "A standalone approval request (as `create_approval_request`).", vec![key.clone()], create_body, ("201", "`{\"approval_id\", \"status\": \"pending\", \"result\": null, \"expires_at\"}`."))}),
    );
    let id = segment("approval_id", "The request's `approval_id` (its `execution_plan_uuid`).");
    let mut poll = op(
        "pingpulse_get_approval",
        "Polls an approval request until `result` is 1 (approved) or 0 (denied).",
        vec![id, key],
        Value::Null,
        (
            "200",
            "Pending: `{\"approval_id\", \"status\": \"pending\", \"result\": null, \"seconds_remaining\", \"expires_at\"}`; decided: `{\"approval_id\", \"status\": \"approved\"|\"denied\", \"result\": 1|0, \"notes\", \"decided_by\", \"decided_at\", \"timed_out\"}`.",
        ),
    );
    if let Some(o) = poll.as_object_mut() {
        o.remove("requestBody");
    }
    paths.insert("/api/approvals/{approval_id}".into(), json!({"get": poll}));
}

/// The pipelines' stage-ping URLs and the PingPulse dialect's workflow routes (product.md
/// §11; docs/api.md "Pipelines"): outside the endpoint table, no API key (the token or the
/// brand's ping key in `key` is the credential).
fn pipeline_paths(paths: &mut Map<String, Value>) {
    let text = |d: &str| json!({"description": d, "content": {"text/plain": {"schema": {"type": "string"}}}});
    let segment = |name: &str, d: &str| json!({"name": name, "in": "path", "required": true, "description": d, "schema": {"type": "string", "minLength": 1, "maxLength": 128}});
    let q = |name: &str, d: &str| json!({"name": name, "in": "query", "required": false, "description": d, "schema": {"type": "string", "maxLength": 200}});
    let cost = vec![
        q("stagename", "A label for the stage."),
        q("agent", "The agent that ran the stage."),
        q("final", "`yes`: this stage completes the instance."),
        q("model_id", "The model used by the stage."),
        q("tokens_in", "Input tokens, 0 to 10^12 (also `input_tokens`, or `usage.input_tokens` in a JSON body)."),
        q("tokens_out", "Output tokens (also `output_tokens`, or `usage.output_tokens` in a JSON body)."),
        q("cost_usd", "The stage's cost in USD (0 to 1000000)."),
    ];
    let body = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "description": "The same fields as the query, and any others (kept as the stage's payload, first 10 KiB; never `key`)."}}}});
    let ping_responses = json!({
        "200": text("`OK`: the stage is recorded (one durable write)."),
        "400": text("A field is invalid (the message names it)."),
        "404": text("`not found` (no such monitor) or `stage not found` (the pipeline does not list it)."),
        "409": text("Strict mode refused the stage (recorded in the instance's history), or the monitor is a heartbeat (nothing written)."),
        "413": text("The body is larger than `api.body_bytes_max`."),
        "429": text("`rate limited`: the monitor's ping rate is spent; not stored."),
        "503": text("The store cannot write just now; the sender should retry."),
    });
    let stage = segment("stage", "A listed stage's name or path (`3`, `2.1`).");
    let ping_op = |id: &str, params: Vec<Value>| {
        let mut all = params;
        all.extend(cost.clone());
        json!({"operationId": id, "summary": "A pipeline stage ping.", "tags": ["monitors"], "security": [], "parameters": all, "requestBody": body.clone(), "responses": ping_responses.clone()})
    };
    let token = segment("token", "The pipeline monitor's ping token.");
    paths.insert(
        "/ping/{token}/stage/{stage}".into(),
        json!({"get": ping_op("ping_stage_get", vec![token.clone(), stage.clone()]), "post": ping_op("ping_stage_post", vec![token, stage.clone()])}),
    );
    let key_seg = segment("ping_key", "The brand's ping key (`get_ping_key`).");
    let slug = segment("slug", "The pipeline monitor's slug.");
    paths.insert(
        "/ping/{ping_key}/{slug}/stage/{stage}".into(),
        json!({"get": ping_op("ping_slug_stage_get", vec![key_seg.clone(), slug.clone(), stage.clone()]), "post": ping_op("ping_slug_stage_post", vec![key_seg, slug, stage])}),
    );

    let error = |d: &str| {
        json!({"description": d, "content": {"application/json": {"schema": {"type": "object", "properties": {
            "status": {"const": "error", "description": "Always `error`."}, "error": {"type": "string", "description": "What is wrong (names the field for a 400)."}}, "required": ["status", "error"]}}}})
    };
    let errors = |ok: (&str, &str), conflict: bool| {
        let mut m = Map::new();
        m.insert(
            ok.0.into(),
            json!({"description": ok.1, "content": {"application/json": {"schema": {"type": "object"}}}}),
        );
        m.insert("400".into(), error("A field is invalid (the message names it) or the body is not a JSON object."));
        m.insert("401".into(), error("`key` is missing or is not a brand's ping key."));
        m.insert("404".into(), error("No such workflow, stage or instance in the key's brand."));
        m.insert("405".into(), error("Another method."));
        if conflict {
            m.insert("409".into(), error("Strict mode refused the stage (recorded; `instance_id` names the instance), or the monitor is a heartbeat."));
        }
        m.insert("413".into(), error("The body is larger than `api.body_bytes_max`."));
        m.insert("429".into(), error("Rate limited; see `Retry-After`."));
        m.insert("503".into(), error("The store cannot write just now; retry (`Retry-After`)."));
        Value::Object(m)
    };
    let key = json!({"name": "key", "in": "query", "required": false, "description": "The brand's ping key (`get_ping_key`); may be given as `key` in the JSON body instead.", "schema": {"type": "string", "maxLength": 128}});
    let wf = segment("workflow_id", "The pipeline monitor's slug.");
    let op = |id: &str, summary: &str, params: Vec<Value>, body: Option<Value>, ok: (&str, &str), conflict: bool| {
        let mut o = json!({"operationId": id, "summary": summary, "tags": ["monitors"], "security": [], "parameters": params, "responses": errors(ok, conflict)});
        if let Some(b) = body {
            o["requestBody"] = b;
        }
        o
    };
    let shk_ok =
        ("200", "`{\"status\": \"success\", \"workflow_id\", \"instance_id\", \"stage_order\", \"workflow_status\"}`.");
    let mut shk_params = vec![wf.clone(), key.clone(), q("stage", "The stage's number, path or name (required).")];
    shk_params.extend(cost.clone());
    paths.insert(
        "/shk/{workflow_id}".into(),
        json!({
            "get": op("pingpulse_static_stage_get", "A static workflow's stage ping (the first stage opens an instance).", shk_params.clone(), Some(body.clone()), shk_ok, true),
            "post": op("pingpulse_static_stage_post", "A static workflow's stage ping (the first stage opens an instance).", shk_params, Some(body.clone()), shk_ok, true),
        }),
    );
    let dhk_ok =
        ("200", "`{\"status\": \"success\", \"workflow_id\", \"instance_id\", \"stage_path\", \"workflow_status\"}`.");
    let mut dhk_params = vec![
        wf.clone(),
        key.clone(),
        q("stagePath", "The stage path, e.g. `2.1` (required; `stage` is accepted too)."),
        q("start", "`yes`: open a new instance (and create the dynamic workflow when its slug is new)."),
    ];
    dhk_params.extend(cost);
    paths.insert(
        "/dhk/{workflow_id}".into(),
        json!({
            "get": op("pingpulse_dynamic_stage_get", "A dynamic workflow's stage ping (hierarchical stage paths).", dhk_params.clone(), Some(body.clone()), dhk_ok, true),
            "post": op("pingpulse_dynamic_stage_post", "A dynamic workflow's stage ping (hierarchical stage paths).", dhk_params, Some(body), dhk_ok, true),
        }),
    );
    paths.insert(
        "/dhk/{workflow_id}/tree".into(),
        json!({"get": op("pingpulse_workflow_tree", "Each known stage path with its status in the current instance.", vec![wf.clone(), key.clone()], None, ("200", "`{\"<stage path>\": {\"status\": \"healthy\"|\"pending\"|\"stalled\"|\"refused\", \"stage_name\"}}`."), false)}),
    );
    paths.insert(
        "/api/workflows/{workflow_id}/instances".into(),
        json!({"get": op("pingpulse_workflow_instances", "The running instance and the 10 newest others, with their stage statuses.", vec![wf, key.clone()], None, ("200", "`{\"running_instance\", \"recent_instances\"}`."), false)}),
    );
    let inst = segment("instance_id", "The instance's id.");
    paths.insert(
        "/api/instances/{instance_id}/timeline".into(),
        json!({"get": op("pingpulse_instance_timeline", "An instance's stage pings in order, with timings and costs.", vec![inst.clone(), key.clone()], None, ("200", "`{\"instance_id\", \"workflow_id\", \"status\", \"total_steps\", \"timeline\"}`."), false)}),
    );
    let rerun_body = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
        "key": {"type": "string", "maxLength": 128, "description": "The brand's ping key (or `key` in the query)."},
        "payload_modifications": {"type": ["object", "null"], "description": "Kept with the new instance (at most 10 KiB)."}}}}}});
    paths.insert(
        "/api/instances/{instance_id}/rerun".into(),
        json!({"post": op("pingpulse_instance_rerun", "A new pending instance of the same pipeline, continued by its next opening stage.", vec![inst, key], Some(rerun_body), ("201", "`{\"new_instance_id\", \"session_id\", \"message\"}`."), false)}),
    );
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
            let mut documented = BTreeSet::new();
            for (name, p) in schema["properties"].as_object().into_iter().flatten() {
                documented.insert(name.clone());
                for alias in p["x-aliases"].as_array().into_iter().flatten() {
                    documented.insert(alias.as_str().unwrap_or_default().to_string());
                }
            }
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

    /// Every property of every schema in the document (requests, query parameters, answers,
    /// nested objects and array items), as `(path, schema)`.
    fn all_properties(doc: &Value) -> Vec<(String, Value)> {
        fn walk(path: &str, v: &Value, out: &mut Vec<(String, Value)>) {
            for (k, p) in v["properties"].as_object().into_iter().flatten() {
                let here = format!("{path}.{k}");
                out.push((here.clone(), p.clone()));
                walk(&here, p, out);
            }
            if v["items"].is_object() {
                walk(&format!("{path}[]"), &v["items"], out);
            }
            for key in ["anyOf", "oneOf", "allOf"] {
                for (n, s) in v[key].as_array().into_iter().flatten().enumerate() {
                    walk(&format!("{path}<{key}{n}>"), s, out);
                }
            }
        }
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let at = format!("{method} {path}");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    out.push((format!("{at} ?{}", p["name"].as_str().unwrap_or("")), p.clone()));
                }
                walk(&format!("{at} body"), &op["requestBody"]["content"]["application/json"]["schema"], &mut out);
                for (code, r) in op["responses"].as_object().into_iter().flatten() {
                    walk(&format!("{at} {code}"), &r["content"]["application/json"]["schema"], &mut out);
                }
            }
        }
        for (name, s) in doc["components"]["schemas"].as_object().into_iter().flatten() {
            walk(&format!("#/components/schemas/{name}"), s, &mut out);
        }
        out
    }

    /// The time-zone list is in the document once, as a component every zone field refers to.
    #[test]
    fn the_zone_enum_is_one_component() {
        let doc = document();
        let text = doc.to_string();
        let zones = crate::time::tz::all_zone_names();
        assert!(zones.len() > 300, "{}", zones.len());
        let list = serde_json::to_string(&zones).expect("names");
        assert_eq!(text.matches(&list[1..list.len() - 1]).count(), 1, "the zone list appears once");
        assert_eq!(doc["components"]["schemas"]["TimeZone"]["enum"].as_array().map(Vec::len), Some(zones.len()));
        let body = &doc["paths"]["/v1/api/add_cron_schedule/"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(body["schema"]["properties"]["cron_timezone"]["$ref"], TIME_ZONE_REF);
        // ~600 KB with the monitor, breaker and inbound-event endpoints; inlining the zone list
        // at each zone field would add ~10 KB per field.
        assert!(text.len() < 800_000, "the document is {} bytes", text.len());
    }

    /// The rules' placeholders are all resolved, and a body that `{}` cannot satisfy is required.
    #[test]
    fn rules_are_resolved_and_empty_bodies_judged_by_them() {
        let doc = document();
        assert!(!doc.to_string().contains("x-given"), "an unresolved placeholder");
        let body = |name: &str| doc["paths"][format!("/v1/api/{name}/")]["post"]["requestBody"].clone();
        assert_eq!(body("preview_schedule")["required"], true, "driver_type unless schedule_uuid");
        assert_eq!(body("add_schedule")["required"], true);
        assert_eq!(body("trigger_schedule_now")["required"], true);
        let preview = &body("preview_schedule")["content"]["application/json"]["schema"];
        assert!(preview["required"].as_array().is_none_or(|r| r.is_empty()), "{}", preview["required"]);
        // `Option` fields with their own schema function are not required.
        let add = &body("add_schedule")["content"]["application/json"]["schema"];
        assert_eq!(add["required"], json!(["schedule_type"]), "{}", add["required"]);
    }

    /// Every property in `/openapi.json` says what it is: a client generator turns the
    /// descriptions into the documentation of its types.
    #[test]
    fn every_property_has_a_description() {
        let doc = document();
        let props = all_properties(&doc);
        assert!(props.len() > 500, "the walk finds the properties ({})", props.len());
        let missing: Vec<&str> = props
            .iter()
            .filter(|(_, p)| p["description"].as_str().is_none_or(|d| d.trim().is_empty()))
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "{} properties without a description:\n{}", missing.len(), missing.join("\n"));
    }

    /// Every operation that reads a body shows an example of one, and the example is a request
    /// the operation's own input type accepts (so it cannot go stale).
    #[test]
    fn every_request_body_has_an_example_the_input_type_accepts() {
        let doc = document();
        for e in ENDPOINTS {
            if e.reads_query() {
                continue;
            }
            for m in e.methods {
                let op = &doc["paths"][format!("/v1/api/{}/", e.name)][m.as_str().to_ascii_lowercase()];
                let example = &op["requestBody"]["content"]["application/json"]["example"];
                assert!(example.is_object(), "{} {}: no request example", m, e.name);
            }
            let example = super::super::examples::request(e.name).expect("an example");
            let Value::Object(body) = example else { panic!("{}: the example is not an object", e.name) };
            (e.op.check)(body).unwrap_or_else(|err| panic!("{}: the example is refused: {err:?}", e.name));
        }
    }

    /// Fields that hold one of a closed set of values are enums in the schema, wherever they
    /// appear (requests, query parameters and answers).
    #[test]
    fn closed_sets_are_enums() {
        const CLOSED: &[&str] = &[
            "protocol_type",
            "protocol",
            "method",
            "retry_backoff_mode",
            "misfire_policy",
            "overlap_policy",
            "interval_period",
            "solar_event",
            "solar_start_event",
            "solar_end_event",
            "debounce_mode",
            "mode",
            "runtype",
            "operator",
            "status",
            "filter_status",
            "update_status_to",
            "schedule_type",
            "driver_type",
            "rule_type",
            "target_type",
            "model_type",
            "failure_strategy",
            "retry_strategy",
            "approval_timeout_action",
            "action",
            "trigger",
            "type",
            "step_type",
            "from_step",
        ];
        let doc = document();
        let mut bad = Vec::new();
        for (path, p) in all_properties(&doc) {
            let name = path.rsplit(['.', '?']).next().unwrap_or("");
            let schema = if p["schema"].is_object() { &p["schema"] } else { &p };
            if CLOSED.contains(&name)
                && schema["enum"].as_array().is_none_or(|v| v.is_empty())
                && schema.get("const").is_none()
            {
                bad.push(path);
            }
        }
        assert!(bad.is_empty(), "closed sets without an enum:\n{}", bad.join("\n"));
    }

    /// Ids are `format: uuid` and instants `format: date-time` in every answer.
    #[test]
    fn ids_and_instants_have_formats() {
        let doc = document();
        let mut bad = Vec::new();
        for (path, p) in all_properties(&doc) {
            let name = path.rsplit(['.', '?']).next().unwrap_or("");
            let schema = if p["schema"].is_object() { &p["schema"] } else { &p };
            if p["deprecated"] == true || schema["type"] == "array" {
                continue;
            }
            if name.ends_with("_uuid") && schema["format"] != "uuid" {
                bad.push(format!("{path}: no format uuid"));
            }
            // `clocked_run_at` is shown as it was given: a wall time in its zone may have no offset.
            let answer = !path.contains(" body") && !path.contains(" ?") && name != "clocked_run_at";
            if answer && name.ends_with("_at") && schema["format"] != "date-time" {
                bad.push(format!("{path}: no format date-time"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
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
            let alternatives = v["anyOf"].as_array().into_iter().flatten();
            let format = v["format"].as_str().or_else(|| alternatives.clone().find_map(|a| a["format"].as_str()));
            if let Some(format) = format {
                return Some(format!("format `{format}`; {b}"));
            }
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
