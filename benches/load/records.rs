//! Records for the store benches and the load harness's `list` scenario: a realistic schedule
//! and realistic executions (the size of typical fires, with their attempts' requests), and a
//! store filled with executions through the library (`Store::record_fires`).

#![allow(dead_code)] // each bench uses its own part

use hookwheel::model::{
    Attempt, BrandId, Execution, ExecutionId, ExecutionStatus, MisfirePolicy, OverlapPolicy, Schedule, ScheduleId,
    ScheduleStatus, TargetKind, Trigger, fire_idempotency_key,
};
use hookwheel::schedule::Driver;
use hookwheel::schedule::cron::CronSpec;
use hookwheel::store::{FireWrite, Store};
use serde_json::{Map, json};

/// Executions per `record_fires` call (one commit) while filling a store.
pub const FILL_BATCH: usize = 10_000;

/// One execution in this many is failed (2 attempts); the others succeeded (1 attempt).
pub const FAILED_EVERY: usize = 100;

/// A cron schedule as the API creates one: name, zone, initial context.
pub fn sample_schedule(brand: BrandId, now: i64) -> Schedule {
    let mut context = Map::new();
    context.insert("report".into(), json!("daily-sales"));
    context.insert("region".into(), json!("eu-west"));
    context.insert("recipients".into(), json!(["ops@example.com", "finance@example.com"]));
    Schedule {
        id: ScheduleId::new(),
        brand,
        name: Some("daily sales report".into()),
        target_kind: TargetKind::Webhook,
        target_id: uuid::Uuid::now_v7(),
        driver: Driver::Cron(CronSpec::new("*/5 * * * *", "Europe/Berlin", false)),
        initial_context: context,
        misfire: MisfirePolicy::FireOnce,
        misfire_grace_seconds: 300,
        overlap: OverlapPolicy::Allow,
        jitter_seconds: 0,
        status: ScheduleStatus::Active,
        reason: None,
        rules: Vec::new(),
        next_fire_ms: Some(now + 300_000),
        last_run_ms: Some(now),
        total_triggered: 1_234,
        debounce: Default::default(),
        buffered_ms: None,
        version: 1_235,
        created_ms: now - 86_400_000,
        updated_ms: now,
    }
}

/// One webhook attempt: the request as recorded (secrets masked) and the answer.
pub fn attempt(n: u32, started_ms: i64, status: u16, i: usize) -> Attempt {
    Attempt {
        n,
        started_ms,
        latency_ms: 42,
        status_code: Some(status),
        error: (status >= 500).then(|| format!("HTTP {status}")),
        request: json!({
            "method": "POST",
            "url": "https://api.example.com/hooks/orders",
            "query": {},
            "headers": {"content-type": "application/json", "authorization": "Bearer {{ #token }}"},
            "body": {"order": i, "customer": "c-0042", "items": [1, 2, 3]},
        }),
        response_excerpt: Some(if status >= 500 { "{\"error\":\"unavailable\"}" } else { "{\"ok\":true}" }.into()),
        response_json: None,
    }
}

/// Execution `i` of `schedule`, scheduled at `instant`: failed after 2 attempts when `failed`,
/// else succeeded at the first.
pub fn execution(
    brand: BrandId,
    schedule: ScheduleId,
    target: uuid::Uuid,
    i: usize,
    instant: i64,
    failed: bool,
) -> Execution {
    let mut context = Map::new();
    context.insert("order".into(), json!(i));
    context.insert("customer".into(), json!("c-0042"));
    let attempts = if failed {
        vec![attempt(1, instant + 3, 503, i), attempt(2, instant + 1_050, 503, i)]
    } else {
        vec![attempt(1, instant + 3, 200, i)]
    };
    Execution {
        id: ExecutionId::new(),
        brand,
        schedule: Some(schedule),
        target_kind: TargetKind::Webhook,
        target_id: target,
        trigger: Trigger::Schedule,
        scheduled_ms: instant,
        due_ms: instant,
        idempotency_key: fire_idempotency_key(schedule, instant),
        status: if failed { ExecutionStatus::Failed } else { ExecutionStatus::Succeeded },
        context,
        skipped_rule: None,
        reason: failed.then(|| "HTTP 503 after 2 attempts".to_string()),
        attempts,
        lateness_ms: Some(3),
        next_attempt_ms: None,
        retry_of: None,
        step: None,
        event: None,
        created_ms: instant - 20,
        finished_ms: Some(instant + if failed { 1_092 } else { 45 }),
    }
}

/// Writes `rows` finished executions of `brand` into `store`, spread round-robin over
/// `n_schedules` new paused schedules, scheduled one every `step_ms` from `first_ms` on (so
/// the newest is the last written), one in [`FAILED_EVERY`] failed: through
/// `Store::record_fires`, [`FILL_BATCH`] executions per commit. Returns the schedules' ids.
pub async fn fill_executions(
    store: &Store,
    brand: BrandId,
    rows: usize,
    n_schedules: usize,
    first_ms: i64,
    step_ms: i64,
) -> Vec<ScheduleId> {
    // Paused schedules: `record_fires` only checks their version, and nothing arms them.
    // Their target is a workflow, which a schedule may name before it exists (a webhook
    // template must exist); the executions' records do not depend on it.
    let mut schedules = Vec::new();
    for _ in 0..n_schedules {
        let mut s = sample_schedule(brand, first_ms);
        s.status = ScheduleStatus::Paused;
        s.target_kind = TargetKind::Workflow;
        s.version = 0;
        schedules.push(store.create_schedule(s).await.expect("create schedule"));
    }
    let mut written = 0;
    while written < rows {
        let n = FILL_BATCH.min(rows - written);
        let mut fires: Vec<FireWrite> = schedules
            .iter()
            .map(|s| FireWrite { schedule: s.clone(), expected_version: s.version, executions: Vec::new() })
            .collect();
        for i in written..written + n {
            let k = i % n_schedules;
            let s = &schedules[k];
            let instant = first_ms + i as i64 * step_ms;
            fires[k].executions.push(execution(brand, s.id, s.target_id, i, instant, i % FAILED_EVERY == 37));
        }
        let done = store.record_fires(fires).await.expect("record fires");
        assert!(done.iter().all(|ok| *ok), "every fire is committed");
        for s in &mut schedules {
            s.version += 1;
        }
        written += n;
    }
    schedules.into_iter().map(|s| s.id).collect()
}
