//! Pipeline monitors against the real binary (product.md §11, issue 11 items 2 and 3): stage
//! pings in order, strict mode's 409 recorded in the instance, a stage not reached in time
//! turning the instance `stalled` (also across a `kill -9`), the PingPulse reference's curl
//! examples for `/shk` and `/dhk` with the base URL swapped, `/tree`, instances, timeline,
//! rerun, cost totals with the budget, and brand isolation.
//!
//! Timing assertions are correctness bounds (generous waits), never speed tests.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Resp, TestDaemon, assert_ok, wait_for};

/// No API rate limit: the tests poll.
const BASE_CONFIG: &str = "[api]\nrate_limit_per_minute = 0\n";

/// Bounds waits for things that happen within a few seconds; only a hang hits it.
const WAIT: Duration = Duration::from_secs(30);

/// The reference's base URL, replaced by the daemon's.
const REFERENCE_BASE: &str = "https://pingpulsehq.com";

fn ping_key(api: &Api) -> String {
    let r = api.get("get_ping_key");
    assert_ok(&r);
    r.json["ping_key"].as_str().unwrap_or_else(|| panic!("no ping_key: {}", r.text)).to_string()
}

/// A pipeline monitor; returns (`monitor_uuid`, `ping_url`).
fn pipeline(api: &Api, body: Value) -> (String, String) {
    let r = api.post("add_monitor", body);
    assert_ok(&r);
    let s = |k: &str| r.json[k].as_str().unwrap_or_else(|| panic!("no {k}: {}", r.text)).to_string();
    (s("monitor_uuid"), s("ping_url"))
}

fn instances(api: &Api, id: &str) -> Vec<Value> {
    api.all_pages(&format!("get_pipeline_instances_paginated?monitor_uuid={id}"))
}

fn details(api: &Api, id: &str) -> Value {
    let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
    assert_ok(&r);
    r.json["data"].clone()
}

fn bare_get(api: &Api, path: &str) -> Resp {
    Api::send(api.bare(reqwest::Method::GET, path))
}

fn bare_post(api: &Api, path: &str, body: Value) -> Resp {
    Api::send(api.bare(reqwest::Method::POST, path).json(&body))
}

/// Runs a reference curl example with the base URL and key swapped; returns (status, JSON).
fn curl(example: &str, base: &str, key: &str) -> (u16, Value) {
    let cmd = example.replace(REFERENCE_BASE, base).replace("YOUR_KEY", key);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} -s -w '\\n%{{http_code}}'"))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| panic!("curl printed {text:?}"));
    let status = code.trim().parse().unwrap_or_else(|_| panic!("curl printed {text:?}"));
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{cmd}: {body:?}: {e}")))
}

/// Waits until the monitor's newest instance has `status`; returns it.
fn newest_with_status(api: &Api, id: &str, status: &str) -> Value {
    wait_for(&format!("the newest instance of {id} to be {status}"), WAIT, || {
        let got = instances(api, id);
        match got.first() {
            Some(i) if i["status"] == status => Some(i.clone()),
            _ => {
                std::thread::sleep(Duration::from_millis(100));
                None
            }
        }
    })
}

#[test]
fn stage_pings_in_order_complete_an_instance_and_strict_mode_refuses_out_of_order_with_409() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let (id, url) = pipeline(
        &api,
        json!({
            "monitor_name": "ETL",
            "slug": "etl",
            "kind": "pipeline",
            "stages": ["ingest", {"name": "train", "timeout_seconds": 600}, "deploy"],
            "strict": true,
            "timeout_seconds": 3600,
        }),
    );
    let det = details(&api, &id);
    assert_eq!((&det["kind"], &det["status"], &det["strict"]), (&json!("pipeline"), &json!("new"), &json!(true)));
    assert_eq!(det["stages"][1], json!({"path": "2", "name": "train", "timeout_seconds": 600}), "{det}");

    let ping = |path: &str| api.plain_get(&format!("{url}/stage/{path}"));
    let r = ping("ingest");
    assert_eq!((r.status, r.text.as_str()), (200, "OK"));
    // Out of order in strict mode: 409, recorded.
    let r = ping("deploy");
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("expected stage 2"), "{}", r.text);
    // By path, and by ping key + slug.
    assert_eq!(ping("2").status, 200);
    let r = api.plain_get(&format!("/ping/{key}/etl/stage/3"));
    assert_eq!((r.status, r.text.as_str()), (200, "OK"));

    let got = instances(&api, &id);
    assert_eq!(got.len(), 1, "{got:#?}");
    let i = &got[0];
    assert_eq!((&i["status"], &i["events_total"], &i["refused_total"]), (&json!("completed"), &json!(4), &json!(1)));
    let stages = i["stages"].as_array().unwrap_or_else(|| panic!("{i}"));
    let seen: Vec<(&str, bool)> =
        stages.iter().map(|e| (e["stage_path"].as_str().unwrap_or_default(), e["accepted"] == true)).collect();
    assert_eq!(seen, [("1", true), ("3", false), ("2", true), ("3", true)], "{i:#}");
    assert!(stages[1]["refusal"].as_str().unwrap_or_default().contains("expected stage 2"), "{i:#}");
    assert!(stages.iter().all(|e| e["elapsed_ms"].as_i64().is_some_and(|t| t >= 0)), "{i:#}");
    assert_eq!(details(&api, &id)["status"], "up");

    // A new instance opens at the first stage again.
    assert_eq!(ping("1").status, 200);
    assert_eq!(instances(&api, &id).len(), 2);

    // Refused without writing: heartbeat pings on a pipeline, stage pings on a heartbeat, a
    // stage the pipeline does not list.
    for suffix in ["", "/start", "/fail", "/0"] {
        let r = api.plain_get(&format!("{url}{suffix}"));
        assert_eq!(r.status, 409, "{suffix}: {}", r.text);
        assert!(r.text.contains("kind: pipeline"), "{}", r.text);
    }
    let r = bare_get(&api, &format!("/hbk/etl?key={key}"));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(ping("9").status, 404);
    assert_eq!(ping("nope").status, 404);
    let r = api.post("add_monitor", json!({"monitor_name": "hb", "slug": "hb", "interval_seconds": 60}));
    assert_ok(&r);
    let hb_url = r.json["ping_url"].as_str().unwrap_or_default().to_string();
    let r = api.plain_get(&format!("{hb_url}/stage/1"));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("kind: heartbeat"), "{}", r.text);
    let got = instances(&api, &id);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["events_total"], 1, "{:#}", got[0]);
    assert!(api.all_pages(&format!("get_monitor_pings_paginated?monitor_uuid={id}")).is_empty());
    let r = api.post("pause_monitor", json!({"monitor_uuid": id}));
    assert_eq!(r.status, 409, "{}", r.text);
    let hb = api.all_pages("get_monitors_paginated").into_iter().find(|m| m["slug"] == "hb").unwrap_or_default();
    let r = api.get(&format!(
        "get_pipeline_instances_paginated?monitor_uuid={}",
        hb["monitor_uuid"].as_str().unwrap_or_default()
    ));
    assert_eq!(r.status, 404, "{}", r.text);

    // update_monitor: pipeline fields change, heartbeat fields are refused naming the field.
    let r = api.post("update_monitor", json!({"monitor_uuid": id, "interval_seconds": 60}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("interval_seconds"), "{}", r.text);
    let r = api.post("update_monitor", json!({"monitor_uuid": id, "stages": ["a", "b"], "strict": false}));
    assert_ok(&r);
    let det = details(&api, &id);
    assert_eq!((&det["strict"], det["stages"].as_array().map(Vec::len)), (&json!(false), Some(2)), "{det}");
    assert_eq!(ping("b").status, 200, "the new stage list applies");

    // Bad input names the field.
    for (body, field) in [
        (json!({"monitor_name": "p", "kind": "pipeline"}), "stages"),
        (json!({"monitor_name": "p", "kind": "pipeline", "stages": []}), "stages"),
        (json!({"monitor_name": "p", "kind": "pipeline", "stages": [{"path": "2"}, {"path": "1"}]}), "stages"),
        (json!({"monitor_name": "p", "kind": "pipeline", "stages": ["a"], "interval_seconds": 60}), "interval_seconds"),
        (
            json!({"monitor_name": "p", "kind": "pipeline", "stages": ["a"], "budget_per_day_usd": -1}),
            "budget_per_day_usd",
        ),
        (json!({"monitor_name": "p", "kind": "pipeline", "stages": ["a"], "timeout_seconds": 0}), "timeout_seconds"),
    ] {
        let r = api.post("add_monitor", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.error().contains(field), "{body}: the error names {field}: {}", r.error());
    }
    let r = api.plain_get(&format!("{url}/stage/1?cost_usd=lots"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("cost_usd"), "{}", r.text);
}

#[test]
fn a_stage_not_reached_in_time_stalls_the_instance_also_across_a_kill_9() {
    let mut d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let (fast, fast_url) =
        pipeline(&api, json!({"monitor_name": "fast", "kind": "pipeline", "stages": ["a", "b"], "timeout_seconds": 1}));
    assert_eq!(api.plain_get(&format!("{fast_url}/stage/a")).status, 200);
    let i = newest_with_status(&api, &fast, "stalled");
    assert_eq!(i["failure_reason"], "Stage 2 timeout", "{i:#}");
    assert_eq!(details(&api, &fast)["status"], "down");
    let key = ping_key(&api);
    let r = bare_get(&api, &format!("/dhk/fast/tree?key={key}"));
    assert_eq!(
        r.json,
        json!({"1": {"status": "healthy", "stage_name": "a"}, "2": {"status": "stalled", "stage_name": "b"}}),
        "{}",
        r.text
    );
    let metrics = d.metrics();
    assert!(metrics.contains("hookwheel_pipeline_stalled_total 1"), "{metrics}");
    assert!(metrics.contains("hookwheel_pipeline_instances{status=\"stalled\"} 1"), "{metrics}");
    // A later stage continues the stalled instance.
    assert_eq!(api.plain_get(&format!("{fast_url}/stage/b")).status, 200);
    let i = newest_with_status(&api, &fast, "completed");
    assert!(i["stalled_at"].is_string(), "{i:#}");
    assert_eq!(details(&api, &fast)["status"], "up");

    // A stall deadline that passes while the daemon is killed is applied after the restart.
    let (slow, slow_url) =
        pipeline(&api, json!({"monitor_name": "slow", "kind": "pipeline", "stages": ["a", "b"], "timeout_seconds": 3}));
    assert_eq!(api.plain_get(&format!("{slow_url}/stage/a")).status, 200);
    assert_eq!(instances(&api, &slow)[0]["status"], "running");
    d.kill9();
    std::thread::sleep(Duration::from_secs(4));
    d.restart();
    let api = d.client();
    let i = newest_with_status(&api, &slow, "stalled");
    assert_eq!(i["failure_reason"], "Stage 2 timeout", "{i:#}");
    assert_eq!(details(&api, &slow)["status"], "down");
    // The instance gauge is counted from the store at start and follows deletes.
    let metrics = d.metrics();
    assert!(metrics.contains("hookwheel_pipeline_instances{status=\"completed\"} 1"), "{metrics}");
    assert!(metrics.contains("hookwheel_pipeline_instances{status=\"stalled\"} 1"), "{metrics}");
    assert_ok(&api.post("delete_monitor", json!({"monitor_uuid": fast})));
    let metrics = d.metrics();
    assert!(metrics.contains("hookwheel_pipeline_instances{status=\"completed\"} 0"), "{metrics}");
    assert!(instances(&api, &slow).len() == 1);
}

#[test]
fn the_reference_curl_examples_for_shk_and_dhk_work_with_the_base_url_swapped() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let base = api.url("");
    let (swf, _) = pipeline(
        &api,
        json!({"monitor_name": "swf123", "slug": "swf123", "kind": "pipeline", "stages": ["build", "test", "ship"]}),
    );

    // Static workflow.
    let (status, r) = curl(r#"curl "https://pingpulsehq.com/shk/swf123?stage=1&key=YOUR_KEY""#, &base, &key);
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (&r["status"], &r["workflow_id"], &r["stage_order"], &r["workflow_status"]),
        (&json!("success"), &json!("swf123"), &json!(1), &json!("running")),
        "{r}"
    );
    let first = r["instance_id"].as_str().unwrap_or_else(|| panic!("no instance_id: {r}")).to_string();
    assert_eq!(instances(&api, &swf)[0]["instance_uuid"], first.as_str());
    let r = bare_get(&api, &format!("/shk/swf123?stage=3&key={key}"));
    assert_eq!((r.status, &r.json["workflow_status"]), (200, &json!("completed")), "{}", r.text);

    // Dynamic workflow: start=yes creates it.
    for example in [
        r#"curl "https://pingpulsehq.com/dhk/ml_pipeline?stagePath=1&start=yes&key=YOUR_KEY""#,
        r#"curl "https://pingpulsehq.com/dhk/ml_pipeline?stagePath=2.1&stagename=Train%20GPU&key=YOUR_KEY""#,
        r#"curl "https://pingpulsehq.com/dhk/ml_pipeline?stagePath=3&key=YOUR_KEY&agent=model-trainer""#,
    ] {
        let (status, r) = curl(example, &base, &key);
        assert_eq!(status, 200, "{example}: {r}");
        assert_eq!((&r["status"], &r["workflow_id"]), (&json!("success"), &json!("ml_pipeline")), "{r}");
        assert_eq!(r["workflow_status"], "running", "{r}");
    }
    let listed = api.all_pages("get_monitors_paginated");
    let ml = listed
        .iter()
        .find(|m| m["slug"] == "ml_pipeline")
        .unwrap_or_else(|| panic!("the dynamic pipeline was created: {listed:#?}"));
    assert_eq!((&ml["kind"], &ml["dynamic"], &ml["strict"]), (&json!("pipeline"), &json!(true), &json!(false)));
    let r = bare_get(&api, &format!("/dhk/ml_pipeline/tree?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({
            "1": {"status": "healthy"},
            "2.1": {"status": "healthy", "stage_name": "Train GPU"},
            "3": {"status": "healthy"},
        }),
        "{}",
        r.text
    );
    // An unknown dynamic workflow without start=yes is 404.
    let r = bare_get(&api, &format!("/dhk/nope?stagePath=1&key={key}"));
    assert_eq!(r.status, 404, "{}", r.text);

    // Cost data with a webhook (the reference's example), over a per-instance budget.
    let (status, r) =
        curl(r#"curl "https://pingpulsehq.com/dhk/dwf_xxx?stagePath=1&start=yes&key=YOUR_KEY""#, &base, &key);
    assert_eq!(status, 200, "{r}");
    let inst = r["instance_id"].as_str().unwrap_or_default().to_string();
    let dwf = api
        .all_pages("get_monitors_paginated")
        .into_iter()
        .find(|m| m["slug"] == "dwf_xxx")
        .unwrap_or_else(|| panic!("dwf_xxx created"));
    let r = api.post("update_monitor", json!({"monitor_uuid": dwf["monitor_uuid"], "budget_per_instance_usd": 0.04}));
    assert_ok(&r);
    let (status, r) = curl(
        r#"curl -X POST "https://pingpulsehq.com/dhk/dwf_xxx?stage=2&key=YOUR_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "model_id": "claude-3-opus",
    "usage": {
      "input_tokens": 1500,
      "output_tokens": 500,
      "total_tokens": 2000
    },
    "cost_usd": 0.045,
    "tool_calls": [
      {"tool_name": "web_search", "latency_ms": 250, "success": true}
    ]
  }'"#,
        &base,
        &key,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["instance_id"], inst.as_str());

    let r = bare_get(&api, &format!("/api/workflows/dwf_xxx/instances?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let running = &r.json["running_instance"];
    assert_eq!((&running["id"], &running["status"]), (&json!(inst), &json!("running")), "{}", r.text);
    assert_eq!((&running["total_cost_usd"], &running["budget_exceeded"]), (&json!(0.045), &json!(true)));
    assert_eq!(running["stage_statuses"]["2"]["status"], "healthy", "{}", r.text);
    assert_eq!(r.json["recent_instances"], json!([]));

    let r = bare_get(&api, &format!("/api/instances/{inst}/timeline?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.json["workflow_id"], &r.json["total_steps"]), (&json!("dwf_xxx"), &json!(2)), "{}", r.text);
    let step = &r.json["timeline"][1];
    assert_eq!(
        (&step["stage_path"], &step["model_id"], &step["input_tokens"], &step["output_tokens"]),
        (&json!("2"), &json!("claude-3-opus"), &json!(1500), &json!(500)),
        "{step}"
    );
    assert_eq!((&step["cost_usd"], &step["cumulative_cost_usd"]), (&json!(0.045), &json!(0.045)), "{step}");
    assert_eq!(step["payload"]["tool_calls"][0]["tool_name"], "web_search", "{step}");
    assert!(!r.text.contains(&key), "the key is never kept");

    // Rerun: a new pending instance becomes current; the old one is abandoned.
    let r = bare_post(
        &api,
        &format!("/api/instances/{inst}/rerun?key={key}"),
        json!({"payload_modifications": {"1": {"retry_attempt": 2}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["message"], "Instance created and ready for re-execution");
    let new = r.json["new_instance_id"].as_str().unwrap_or_default().to_string();
    let r = bare_get(&api, &format!("/api/workflows/dwf_xxx/instances?key={key}"));
    assert_eq!(
        (&r.json["running_instance"]["id"], &r.json["running_instance"]["status"]),
        (&json!(new), &json!("pending"))
    );
    assert_eq!(r.json["recent_instances"][0]["status"], "abandoned", "{}", r.text);
    let r = bare_get(&api, &format!("/dhk/dwf_xxx?stagePath=1&key={key}"));
    assert_eq!((r.status, &r.json["instance_id"]), (200, &json!(new)), "the rerun is continued: {}", r.text);

    // Another brand's key sees none of it.
    let other = d.new_brand("other", None);
    let other_key = ping_key(&api.as_brand(&other.brand, &other.key));
    for path in [
        format!("/shk/swf123?stage=1&key={other_key}"),
        format!("/dhk/ml_pipeline?stagePath=1&key={other_key}"),
        format!("/dhk/ml_pipeline/tree?key={other_key}"),
        format!("/api/workflows/dwf_xxx/instances?key={other_key}"),
        format!("/api/instances/{inst}/timeline?key={other_key}"),
    ] {
        let r = bare_get(&api, &path);
        assert_eq!((r.status, &r.json["status"]), (404, &json!("error")), "{path}: {}", r.text);
    }
    let r = bare_post(&api, &format!("/api/instances/{inst}/rerun?key={other_key}"), json!({}));
    assert_eq!(r.status, 404, "{}", r.text);
    // Missing stage → 400 naming it; missing key → 401.
    let r = bare_get(&api, &format!("/shk/swf123?key={key}"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap_or_default().contains("stage"), "{}", r.text);
    let r = bare_get(&api, "/dhk/ml_pipeline/tree");
    assert_eq!(r.status, 401, "{}", r.text);
}

/// While the store cannot write, stage pings answer 503 with `Retry-After` (nothing
/// half-written), and work again once it can.
#[test]
fn a_store_that_cannot_write_answers_503_to_stage_pings_and_recovers() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let (id, url) = pipeline(&api, json!({"monitor_name": "p", "slug": "p", "kind": "pipeline", "stages": ["a", "b"]}));
    d.failpoint("store::write", "return(eio)");
    let r = bare_get(&api, &format!("/shk/p?stage=1&key={key}"));
    assert_eq!((r.status, &r.json["status"]), (503, &json!("error")), "{}", r.text);
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    let r = api.plain_get(&format!("{url}/stage/a"));
    assert_eq!(r.status, 503, "{}", r.text);
    d.failpoint("store::write", "off");
    wait_for("stage pings to be stored again", WAIT, || {
        let r = api.plain_get(&format!("{url}/stage/a"));
        if r.status == 200 {
            return Some(());
        }
        assert_eq!(r.status, 503, "{}", r.text);
        std::thread::sleep(Duration::from_millis(200));
        None
    });
    let got = instances(&api, &id);
    assert_eq!((got.len(), &got[0]["events_total"]), (1, &json!(1)), "only the ping after recovery: {got:#?}");
}

/// Issue 11 finding: a huge `cost_usd` made the running totals infinite (stored as JSON
/// null), after which the pipeline could not be read and the daemon would not start. Stage
/// numbers are bounded at input (400 naming the field); the pipeline reads and restarts fine.
#[test]
fn out_of_range_stage_numbers_answer_400_and_the_pipeline_still_reads_and_restarts() {
    let mut d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let r = bare_get(&api, &format!("/dhk/poison?key={key}&stagePath=1&start=yes&cost_usd=1e308"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap_or_default().contains("cost_usd"), "{}", r.text);
    let r = bare_get(&api, &format!("/dhk/poison?key={key}&stagePath=1&start=yes&cost_usd=1000000"));
    assert_eq!(r.status, 200, "{}", r.text);
    for (q, field) in [
        ("cost_usd=1e308", "cost_usd"),
        ("cost_usd=1000000.01", "cost_usd"),
        ("cost_usd=-1", "cost_usd"),
        ("cost_usd=inf", "cost_usd"),
        ("cost_usd=NaN", "cost_usd"),
        ("tokens_in=1000000000001", "tokens_in"),
        ("tokens_out=18446744073709551615", "tokens_out"),
        ("input_tokens=-5", "input_tokens"),
    ] {
        let r = bare_get(&api, &format!("/dhk/poison?key={key}&stagePath=2&{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.json["error"].as_str().unwrap_or_default().contains(field), "{q}: {}", r.text);
    }
    let r = bare_get(&api, &format!("/dhk/poison?key={key}&stagePath=2&cost_usd=1000000&tokens_in=1000000000000"));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = bare_get(&api, &format!("/api/workflows/poison/instances?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["running_instance"]["total_cost_usd"], json!(2_000_000.0), "{}", r.text);
    assert_eq!(r.json["running_instance"]["tokens_in"], json!(1_000_000_000_000u64), "{}", r.text);
    // Budgets are bounded too.
    let id = api
        .all_pages("get_monitors_paginated")
        .into_iter()
        .find(|m| m["slug"] == "poison")
        .unwrap_or_else(|| panic!("poison created"))["monitor_uuid"]
        .clone();
    for field in ["budget_per_instance_usd", "budget_per_day_usd"] {
        let r = api.post("update_monitor", json!({"monitor_uuid": id, field: 1e308}));
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert!(r.text.contains(field), "{}", r.text);
    }
    d.restart();
    let api = d.client();
    let r = bare_get(&api, &format!("/api/workflows/poison/instances?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["running_instance"]["total_cost_usd"], json!(2_000_000.0), "{}", r.text);
    assert_ok(&api.post("get_monitor_details", json!({"monitor_uuid": id})));
}

/// Issue 11 finding: `/dhk/<new slug>?start=yes` let a ping key create monitors without
/// bound. A brand may have at most 1,000 dynamic pipelines; a start on a new slug beyond that
/// answers 409 naming the cap, existing ones keep working, and deleting one frees a place.
#[test]
fn a_ping_key_creates_at_most_1000_dynamic_pipelines_per_brand() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    // A listed pipeline does not count.
    pipeline(&api, json!({"monitor_name": "listed", "kind": "pipeline", "stages": ["a"]}));
    for n in 0..1000 {
        let r = bare_get(&api, &format!("/dhk/dyn-{n}?key={key}&stagePath=1&start=yes"));
        assert_eq!(r.status, 200, "{n}: {}", r.text);
    }
    let r = bare_get(&api, &format!("/dhk/dyn-1000?key={key}&stagePath=1&start=yes"));
    assert_eq!((r.status, &r.json["status"]), (409, &json!("error")), "{}", r.text);
    assert!(r.text.contains("1000"), "{}", r.text);
    let r = bare_get(&api, &format!("/dhk/dyn-1000?key={key}&stagePath=1"));
    assert_eq!(r.status, 404, "{}", r.text);
    // Existing ones still take pings.
    let r = bare_get(&api, &format!("/dhk/dyn-7?key={key}&stagePath=2"));
    assert_eq!(r.status, 200, "{}", r.text);
    // add_monitor is not capped by it.
    pipeline(&api, json!({"monitor_name": "listed 2", "kind": "pipeline", "stages": ["a"]}));
    let all = api.all_pages("get_monitors_paginated");
    assert_eq!(all.len(), 1002);
    let victim = all.iter().find(|m| m["slug"] == "dyn-3").unwrap_or_else(|| panic!("dyn-3"));
    assert_ok(&api.post("delete_monitor", json!({"monitor_uuid": victim["monitor_uuid"]})));
    let r = bare_get(&api, &format!("/dhk/dyn-1000?key={key}&stagePath=1&start=yes"));
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Issue 11 finding: a malformed stage path answered 404 "Stage not found"; it is a bad
/// request, 400 naming the stage field, on every stage route (nothing is created or recorded).
#[test]
fn a_malformed_stage_path_answers_400_naming_the_stage_field() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let (id, url) =
        pipeline(&api, json!({"monitor_name": "wf", "slug": "wf", "kind": "pipeline", "stages": ["a", "b", "c"]}));
    assert_eq!(bare_get(&api, &format!("/dhk/dynwf?key={key}&stagePath=1&start=yes")).status, 200);
    let bad = ["1..2", "-1", "0", "1.2.3.4.5.6.7.8.9", "99999999999", "", "1.", "+1"];
    for b in bad {
        let q: String = url::form_urlencoded::byte_serialize(b.as_bytes()).collect();
        for (path, field) in [
            (format!("/shk/wf?key={key}&stage={q}"), "stage"),
            (format!("/dhk/wf?key={key}&stagePath={q}"), "stagePath"),
            (format!("/dhk/dynwf?key={key}&stagePath={q}"), "stagePath"),
            (format!("/dhk/dynwf?key={key}&stage={q}"), "stage"),
            (format!("/dhk/fresh?key={key}&stagePath={q}&start=yes"), "stagePath"),
        ] {
            let r = bare_get(&api, &path);
            assert_eq!(r.status, 400, "{path}: {}", r.text);
            assert!(r.json["error"].as_str().unwrap_or_default().contains(field), "{path}: {}", r.text);
        }
        if !b.is_empty() {
            let r = api.plain_get(&format!("{url}/stage/{q}"));
            assert_eq!(r.status, 400, "{b}: {}", r.text);
            assert!(r.text.contains("stage"), "{b}: {}", r.text);
        }
    }
    // A dynamic pipeline's stage must be a path; a static one's unknown stage stays 404.
    let r = bare_get(&api, &format!("/dhk/dynwf?key={key}&stagePath=abc"));
    assert_eq!(r.status, 400, "{}", r.text);
    let r = bare_get(&api, &format!("/shk/wf?key={key}&stage=4"));
    assert_eq!(r.status, 404, "{}", r.text);
    let r = bare_get(&api, &format!("/shk/wf?key={key}&stage=zzz"));
    assert_eq!(r.status, 404, "{}", r.text);
    // A body that opens like a JSON object but does not parse (a number out of range hides
    // its cost) is refused naming `body`; plain text is kept as the payload.
    let r = Api::send(
        api.bare(reqwest::Method::POST, &format!("{url}/stage/a"))
            .header("content-type", "application/json")
            .body(r#"{"cost_usd": 500, "pad": 1e400}"#),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("body"), "{}", r.text);
    // Nothing was created or recorded.
    assert!(!api.all_pages("get_monitors_paginated").iter().any(|m| m["slug"] == "fresh"));
    assert!(instances(&api, &id).is_empty());
    let r = Api::send(api.bare(reqwest::Method::POST, &format!("{url}/stage/a")).body("rows: 12\nok"));
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A stage ping's body that is not a JSON object is kept as text, and reads back as that
/// text even when it would read as JSON (`123`, `[1]`, `true`): it read back as a number, an
/// array or a boolean. An object body reads back as the object.
#[test]
fn a_stage_body_kept_as_text_reads_back_as_text() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    let (id, url) = pipeline(
        &api,
        json!({"monitor_name": "texts", "slug": "texts", "kind": "pipeline", "stages": ["a", "b", "c", "d"]}),
    );
    let bodies = ["123", "[1]", "true", r#"{"k": [1]}"#];
    for (stage, body) in ["a", "b", "c", "d"].iter().zip(bodies) {
        let r = Api::send(api.bare(reqwest::Method::POST, &format!("{url}/stage/{stage}")).body(body));
        assert_eq!(r.status, 200, "{body}: {}", r.text);
    }
    let all = instances(&api, &id);
    assert_eq!(all.len(), 1, "{all:?}");
    let inst = all[0]["instance_uuid"].as_str().unwrap_or_else(|| panic!("{all:?}")).to_string();
    let r = bare_get(&api, &format!("/api/instances/{inst}/timeline?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let payloads: Vec<&Value> =
        r.json["timeline"].as_array().expect("timeline").iter().map(|s| &s["payload"]).collect();
    assert_eq!(payloads, [&json!("123"), &json!("[1]"), &json!("true"), &json!({"k": [1]})], "{}", r.text);
}

/// Issue 11 finding: a pipeline's up/down changes were not recorded and its stage pings not
/// counted. Status changes go to the same bounded history as a heartbeat's (causes `stage`
/// and `stalled`), stage pings count in `pings_total`, and `grace_seconds` is null.
#[test]
fn a_pipeline_records_its_status_changes_and_counts_its_stage_pings() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let (id, url) = pipeline(
        &api,
        json!({"monitor_name": "flips", "kind": "pipeline", "stages": ["a", "b", "c"], "strict": true, "timeout_seconds": 1}),
    );
    let det = details(&api, &id);
    assert_eq!(
        (&det["grace_seconds"], &det["interval_seconds"], &det["pings_total"]),
        (&json!(null), &json!(null), &json!(0))
    );
    assert_eq!(det["status_changes"], json!([]));
    assert_eq!(api.plain_get(&format!("{url}/stage/a")).status, 200);
    // A refused stage is a ping too.
    assert_eq!(api.plain_get(&format!("{url}/stage/c")).status, 409);
    newest_with_status(&api, &id, "stalled");
    wait_for("the monitor to be down", WAIT, || {
        let det = details(&api, &id);
        if det["status"] == "down" {
            Some(det)
        } else {
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    });
    assert_eq!(api.plain_get(&format!("{url}/stage/b")).status, 200);
    let det = details(&api, &id);
    assert_eq!(
        (&det["status"], &det["pings_total"], &det["grace_seconds"]),
        (&json!("up"), &json!(3), &json!(null)),
        "{det:#}"
    );
    let changes: Vec<(Value, Value, Value, Value)> = det["status_changes"]
        .as_array()
        .unwrap_or_else(|| panic!("{det:#}"))
        .iter()
        .map(|f| (f["from"].clone(), f["to"].clone(), f["cause"].clone(), f["signal"].clone()))
        .collect();
    // Newest first.
    assert_eq!(
        changes,
        [
            (json!("down"), json!("up"), json!("stage"), json!(null)),
            (json!("up"), json!("down"), json!("stalled"), json!("monitor_down")),
            (json!("new"), json!("up"), json!("stage"), json!(null)),
        ],
        "{det:#}"
    );
    assert!(det["status_changes"][1]["deadline_at"].is_string(), "{det:#}");
}

/// Issue 11 finding: the reserved stage ping fields leaked into the event's payload, and
/// `stagename` renamed a listed stage. The payload keeps only the caller's other fields; a
/// listed stage keeps its name; a dynamic stage keeps the first name it was given.
#[test]
fn reserved_fields_stay_out_of_the_payload_and_stagename_does_not_rename_a_listed_stage() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    let key = ping_key(&api);
    pipeline(
        &api,
        json!({"monitor_name": "named", "slug": "named", "kind": "pipeline", "stages": ["ingest", "train"]}),
    );
    let r = bare_post(
        &api,
        &format!("/shk/named?key={key}&stage=1&stagename=other&agent=a1&start=yes&final=no"),
        json!({"model_id": "m", "tokens_in": 1, "tokens_out": 2, "input_tokens": 1, "output_tokens": 2,
               "usage": {"input_tokens": 1}, "cost_usd": 0.5, "stagePath": "1", "metadata": {"run": 7}, "task": "x"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let inst = r.json["instance_id"].as_str().unwrap_or_default().to_string();
    let r = bare_get(&api, &format!("/api/instances/{inst}/timeline?key={key}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let step = &r.json["timeline"][0];
    assert_eq!(step["payload"], json!({"metadata": {"run": 7}, "task": "x"}), "{step}");
    assert_eq!((&step["stage_name"], &step["agent_code"]), (&json!("ingest"), &json!("a1")), "{step}");
    let r = bare_get(&api, &format!("/dhk/named/tree?key={key}"));
    assert_eq!(r.json["1"]["stage_name"], "ingest", "{}", r.text);

    // A dynamic stage: the first stagename names it, a later one does not rename it.
    let r = bare_get(&api, &format!("/dhk/dyn?key={key}&stagePath=1&start=yes&stagename=Ingest"));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = bare_get(&api, &format!("/dhk/dyn?key={key}&stagePath=1&start=yes&stagename=Other"));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = bare_get(&api, &format!("/dhk/dyn/tree?key={key}"));
    assert_eq!(r.json["1"]["stage_name"], "Ingest", "{}", r.text);
}

/// Issue 11 finding: errors inside `stages` name the stage's position, unknown stage fields
/// get "did you mean", names that read as another stage's path or hold `/` are 400, and the
/// strict refusal names the expected stage by path and name.
#[test]
fn stage_errors_name_the_position_and_the_strict_refusal_names_the_expected_stage() {
    let d = TestDaemon::start_with(BASE_CONFIG);
    let api = d.client();
    for (stages, field) in [
        (json!(["2", "1"]), "stages[0].name"),
        (json!(["a/b"]), "stages[0].name"),
        (json!(["a", {"name": "b", "timeout_seconds": 0}]), "stages[1].timeout_seconds"),
        (json!(["a", {"path": "1..2"}]), "stages[1].path"),
        (json!(["a", {"name": "b", "timeout_secnds": 5}]), "stages[1].timeout_secnds (did you mean timeout_seconds?)"),
    ] {
        let r = api.post("add_monitor", json!({"monitor_name": "bad", "kind": "pipeline", "stages": stages}));
        assert_eq!(r.status, 400, "{stages}: {}", r.text);
        assert!(r.error().contains(field), "{stages}: {}", r.text);
    }
    let r = api.post(
        "add_monitor",
        json!({"monitor_name": "bad", "kind": "pipeline", "stages": ["a", {"timeout_seconds": 604801}]}),
    );
    assert!(r.error().contains("604800"), "{}", r.text);
    let (_, url) =
        pipeline(&api, json!({"monitor_name": "s", "kind": "pipeline", "stages": ["a", "b", "c"], "strict": true}));
    assert_eq!(api.plain_get(&format!("{url}/stage/a")).status, 200);
    let r = api.plain_get(&format!("{url}/stage/c"));
    assert_eq!((r.status, r.text.as_str()), (409, "stage out of order: expected stage 2 (\"b\")"));
}
