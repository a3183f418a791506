//! The scheduler loop under tokio's paused clock: years of schedule time in milliseconds,
//! against a real store file, with a recording dispatcher in place of HTTP delivery.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Map;
use tokio::sync::mpsc;

use super::*;
use crate::delivery::{DeliveryEvent, Dispatch};
use crate::model::{Execution, MisfirePolicy, OverlapPolicy, Schedule, ScheduleId, ScheduleStatus, TargetKind};
use crate::schedule::cron::CronSpec;
use crate::schedule::interval::{IntervalSpec, Period};
use crate::schedule::{Driver, preview};
use crate::store::{Store, WriterSettings};
use crate::time::TokioClock;

/// Records every dispatched execution and reports it finished at once.
#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<Execution>>>,
    finished: mpsc::Sender<DeliveryEvent>,
}

impl Dispatch for Recorder {
    fn dispatch(&self, exec: Execution) {
        let (brand, schedule, execution) = (exec.brand, exec.schedule, exec.id);
        self.seen.lock().unwrap().push(exec);
        let f = self.finished.clone();
        tokio::spawn(async move {
            let _ = f.send(DeliveryEvent::Finished { brand, schedule, execution }).await;
        });
    }
}

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("s.redb"),
        WriterSettings {
            commit_batch_max: 1024,
            write_queue_capacity: 1024,
            cache_bytes: crate::store::CACHE_BYTES_DEFAULT,
            ..Default::default()
        },
        Metrics::new(),
    )
    .unwrap()
}

/// A brand with one webhook template in the store: schedules target it (workflow targets
/// would start workflow runs instead of reaching the recording dispatcher).
async fn fixture(store: &Store) -> (crate::model::BrandId, uuid::Uuid) {
    use crate::model::{Domain, DomainId, HttpMethod, Protocol, RetryPolicy, TemplateId, WebhookTemplate};
    let brand = crate::model::BrandId::new();
    let d = Domain {
        id: DomainId::new(),
        brand,
        protocol: Protocol::Http,
        host: "127.0.0.1:9".into(),
        rate_limit_enabled: false,
        concurrency_control_enabled: false,
        max_concurrent_jobs: 0,
        max_requests_per_second: 0,
        signing: Vec::new(),
        breaker: Default::default(),
        created_ms: 0,
        updated_ms: 0,
    };
    let t = WebhookTemplate {
        id: TemplateId::new(),
        brand,
        name: "t".into(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/".into(),
        domain: d.id,
        retry: RetryPolicy::DEFAULT,
        body: serde_json::json!({}),
        headers: Map::new(),
        query: Map::new(),
        created_ms: 0,
        updated_ms: 0,
    };
    store.create_domain(d).await.unwrap();
    let t = store.create_template(t, None).await.unwrap();
    (brand, t.id.0)
}

fn schedule(driver: Driver, now: i64, (brand, target): (crate::model::BrandId, uuid::Uuid)) -> Schedule {
    let mut s = Schedule {
        id: ScheduleId::new(),
        brand,
        name: None,
        target_kind: TargetKind::Webhook,
        target_id: target,
        driver,
        initial_context: Map::new(),
        misfire: MisfirePolicy::FireOnce,
        misfire_grace_seconds: 3600,
        overlap: OverlapPolicy::Allow,
        jitter_seconds: 0,
        status: ScheduleStatus::Active,
        reason: None,
        rules: Vec::new(),
        next_fire_ms: None,
        last_run_ms: None,
        total_triggered: 0,
        debounce: Default::default(),
        buffered_ms: None,
        version: 0,
        created_ms: now,
        updated_ms: now,
    };
    s.next_fire_ms = s.driver.next_after(now);
    s
}

/// Lets the loop, the blocking pool and the store writer finish the work in flight without
/// moving the paused clock: the clock jumps whenever the runtime idles, so it can run far
/// ahead of a read or commit that a real thread is doing. Yielding keeps the runtime busy
/// while real time passes. (A slower machine could only make an assertion after this pass
/// that should fail, never fail one that should pass: the work is only ever later.)
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A repeating interval driver anchored at `anchor_ms` (the anchor itself does not fire).
fn every(value: u32, period: Period, anchor_ms: i64) -> Driver {
    Driver::Interval(IntervalSpec { value, period, anchor_ms, anchor_fires: false, one_off: false })
}

/// A small deterministic generator (no dependency, printed seed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(start_paused = true)]
async fn preview_equals_what_the_loop_fires() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let start: i64 = 1_798_761_600_000; // 2027-01-01T00:00:00Z
    let clock = Arc::new(TokioClock::new(start));
    let seed = 0x5eed_2026;
    let mut rng = Lcg(seed);
    let zones = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"];
    let mut schedules = Vec::new();
    let fix = fixture(&store).await;
    for i in 0..40 {
        let driver = if i % 2 == 0 {
            let period = [Period::Second, Period::Minute, Period::Hour][rng.next(3) as usize];
            let value = if period == Period::Second { 10 + rng.next(80) as u32 } else { 1 + rng.next(90) as u32 };
            every(value, period, start)
        } else {
            let exprs = [
                "*/7 * * * *",
                "0 */3 * * *",
                "30 2 * * *",
                "15,45 * * * *",
                "0 0 * * 1-5",
                "*/30 * * * * *",
                "0 30 1 * * *",
            ];
            Driver::Cron(CronSpec::new(
                exprs[rng.next(exprs.len() as u64) as usize],
                zones[rng.next(zones.len() as u64) as usize],
                false,
            ))
        };
        let s = schedule(driver, start, fix);
        store.create_schedule(s.clone()).await.unwrap();
        schedules.push(s);
    }
    let (ftx, frx) = mpsc::channel(1024);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    // Eight simulated hours, in one-second steps: tokio's paused clock jumps to the next timer
    // whenever the runtime idles (e.g. while the store thread commits), so short steps keep
    // each jump small, as real time would.
    let horizon_ms: i64 = 8 * 3_600_000;
    advance_in_steps(horizon_ms / 1000 + 1).await;
    // While the store thread commits, the paused clock may run ahead of the loop; let the loop
    // catch up until every cursor is past the horizon (it fires late then, never wrongly).
    for _ in 0..100_000 {
        let behind = schedules.iter().any(|s| {
            let stored = store.get_schedule(s.brand, s.id).unwrap().unwrap();
            stored.next_fire_ms.is_some_and(|n| n <= start + horizon_ms)
        });
        if !behind {
            break;
        }
        advance_in_steps(1).await;
    }
    handle.shutdown().await;
    task.await.unwrap();

    let mut fired: BTreeMap<ScheduleId, Vec<i64>> = BTreeMap::new();
    for e in rec.seen.lock().unwrap().iter() {
        fired.entry(e.schedule.unwrap()).or_default().push(e.scheduled_ms);
    }
    let mut checked = 0;
    for s in &schedules {
        let expected: Vec<i64> = preview(&s.driver, &[], start, crate::schedule::PREVIEW_COUNT_MAX, 0)
            .into_iter()
            .filter(|t| *t <= start + horizon_ms)
            .collect();
        let got: Vec<i64> =
            fired.remove(&s.id).unwrap_or_default().into_iter().filter(|t| *t <= start + horizon_ms).collect();
        let n = expected.len().min(got.len());
        checked += usize::from(!expected.is_empty());
        if let Some(i) = (0..n).find(|&i| got[i] != expected[i]) {
            panic!("seed {seed:#x}: {:?}: fire #{i} at {} but the preview said {}", s.driver, got[i], expected[i]);
        }
        if expected.len() < crate::schedule::PREVIEW_COUNT_MAX {
            assert!(
                got.len().abs_diff(expected.len()) <= 1,
                "seed {seed:#x}: {:?}: {} fired, {} previewed",
                s.driver,
                got.len(),
                expected.len()
            );
        } else {
            assert!(got.len() >= expected.len(), "seed {seed:#x}: {:?}: {} fired", s.driver, got.len());
        }
    }
    assert!(checked >= 30, "only {checked} schedules fired within the horizon");
}

/// Lets `seconds` of paused time pass one second at a time (see the note in the first test).
async fn advance_in_steps(seconds: i64) {
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Advances the paused clock a second at a time until the schedule's stored next fire is past
/// `ms` (the loop may lag behind the clock while the store thread commits; see the note in
/// the first test), at most 1,000 s.
async fn catch_up_past(store: &Store, s: &Schedule, ms: i64) {
    for _ in 0..1_000 {
        let stored = store.get_schedule(s.brand, s.id).unwrap().unwrap();
        if stored.next_fire_ms.is_some_and(|n| n > ms) {
            return;
        }
        advance_in_steps(1).await;
    }
}

async fn start_scheduler(
    store: Store,
    clock: Arc<TokioClock>,
    rec: Recorder,
    frx: mpsc::Receiver<DeliveryEvent>,
) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    start(store, clock, rec, Metrics::new(), frx).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_and_applies_the_misfire_policy() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let s = {
        let store = store(&dir);
        let mut s = schedule(every(10, Period::Second, start_ms), start_ms, fixture(&store).await);
        s.misfire = MisfirePolicy::FireOnce;
        store.create_schedule(s.clone()).await.unwrap();
        store.shutdown().await;
        s
    };
    // The daemon is down for 95 s: instants 10 … 90 s came due meanwhile.
    advance_in_steps(95).await;
    let store = store(&dir);
    let (ftx, frx) = mpsc::channel(16);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    advance_in_steps(10).await;
    catch_up_past(&store, &s, start_ms + 100_000).await;
    handle.shutdown().await;
    task.await.unwrap();
    let fired: Vec<i64> =
        rec.seen.lock().unwrap().iter().map(|e| (e.scheduled_ms - start_ms) / 1000).filter(|t| *t <= 100).collect();
    assert_eq!(fired, vec![90, 100], "the newest missed instant catches up, then normal fires");
    let missed = store
        .list_executions(
            s.brand,
            &crate::store::ExecutionFilter {
                status: Some(crate::model::ExecutionStatus::Missed),
                ..Default::default()
            },
            1,
            100,
        )
        .unwrap();
    let mut missed_at: Vec<i64> = missed.items.iter().map(|e| (e.scheduled_ms - start_ms) / 1000).collect();
    missed_at.sort();
    assert_eq!(missed_at, vec![10, 20, 30, 40, 50, 60, 70, 80]);
    let stored = store.get_schedule(s.brand, s.id).unwrap().unwrap();
    assert!(stored.total_triggered >= 2);
    assert!(stored.next_fire_ms.is_some_and(|n| n > start_ms + 100_000 && (n - start_ms) % 10_000 == 0));
}

/// A one-step workflow on the fixture's domain (the recorder never sends).
async fn workflow_fixture(store: &Store, (brand, template): (crate::model::BrandId, uuid::Uuid)) -> uuid::Uuid {
    use crate::model::{
        FailureStrategy, HttpMethod, RetryPolicy, RetryStrategy, RunType, Step, StepId, TimeoutAction, Workflow,
        WorkflowId,
    };
    let domain = store.get_template(brand, crate::model::TemplateId(template)).unwrap().unwrap().domain;
    let wf = Workflow {
        id: WorkflowId::new(),
        brand,
        name: "wf".into(),
        description: String::new(),
        runtype: RunType::FifoSequential,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: vec![Step {
            id: StepId::new(),
            index: 0,
            identifier: "first".into(),
            webhook_id: uuid::Uuid::new_v4(),
            name: "first".into(),
            description: String::new(),
            method: HttpMethod::Post,
            path: "/".into(),
            domain,
            retry: RetryPolicy::DEFAULT,
            body: serde_json::json!({}),
            headers: Map::new(),
            query: Map::new(),
            human_approval_required: false,
            on_success: None,
            on_fail: None,
            delay_to_next_step_seconds: 0,
            condition: None,
            approval_timeout_seconds: None,
            approval_timeout_action: TimeoutAction::Reject,
            created_ms: 0,
        }],
        created_ms: 0,
        updated_ms: 0,
    };
    store.create_workflow(wf).await.unwrap().id.0
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_runs_first_step_is_due_at_the_runs_instant_not_when_it_was_recorded() {
    // Fires are recorded PREFIRE_MS ahead of their instant and the run starts then; its first
    // step's execution must still be due at the instant (delivery waits for `due_ms`) and
    // count its lateness from the run's scheduled instant.
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let fix = fixture(&store).await;
    let brand = fix.0;
    let wf = workflow_fixture(&store, fix).await;
    let mut s = schedule(every(1, Period::Second, start_ms), start_ms, (brand, wf));
    s.target_kind = TargetKind::Workflow;
    store.create_schedule(s.clone()).await.unwrap();
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    // Until two runs started (the paused clock may run ahead of the loop while the store
    // thread commits, by many simulated minutes on a loaded machine; see the note in the
    // first test), with the same step budget as the first test.
    for _ in 0..100_000 {
        if rec.seen.lock().unwrap().len() >= 2 {
            break;
        }
        advance_in_steps(1).await;
    }
    handle.shutdown().await;
    task.await.unwrap();
    let steps: Vec<Execution> = rec.seen.lock().unwrap().clone();
    assert!(steps.len() >= 2, "runs started: {steps:?}");
    for e in &steps {
        let sr = e.step.expect("only workflow steps reach delivery");
        let run = store.get_execution(brand, sr.run).unwrap().expect("the run's execution");
        assert_eq!(run.scheduled_ms % 1000, start_ms % 1000, "runs are on the 1 s grid");
        assert_eq!(e.scheduled_ms, run.scheduled_ms, "the first step counts lateness from the run's instant");
        assert_eq!(e.due_ms, run.due_ms, "the first step is due when its run is, not when it was recorded");
    }
}

/// Waits until `f` holds, for at most `seconds`.
async fn until(seconds: i64, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..seconds * 10 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

// Real time: the handle's replies wait on the store thread, which a paused clock would run
// past (its reply timeout). The 1 s deadline is a lower bound checked, never a speed one.
#[tokio::test]
async fn approval_deadlines_and_notes_standalone_and_workflow() {
    use crate::model::{
        ApprovalPlan, ApprovalTarget, ExecutionId, KeyId, PlanId, PlanStatus, StandaloneApproval, StepId,
        TimeoutAction, WorkflowId,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let fix = fixture(&store).await;
    let (brand, template) = fix;
    let nil = uuid::Uuid::nil();
    let standalone = |deadline_ms: Option<i64>| ApprovalPlan {
        id: PlanId::new(),
        brand,
        run: ExecutionId(nil),
        workflow: WorkflowId(nil),
        workflow_name: String::new(),
        step: StepId(nil),
        identifier: String::new(),
        index: 0,
        visit: 0,
        delay_to_next_step_seconds: 0,
        status: PlanStatus::WaitingApproval,
        deadline_ms,
        timeout_action: TimeoutAction::Approve,
        decided_by: None,
        decided_at: None,
        created_ms: start_ms,
        notes: None,
        standalone: Some(Box::new(StandaloneApproval {
            title: "t".into(),
            context: Map::new(),
            on_approve: Some(ApprovalTarget { kind: TargetKind::Webhook, id: template }),
            on_reject: None,
            timed_out: false,
            execution: None,
        })),
    };
    // Stored before the start: the start-up re-arms its deadline.
    let timed = store.create_plan(standalone(Some(start_ms + 1_000))).await.unwrap();
    // A workflow whose only step waits for approval.
    let wf = WorkflowId(workflow_fixture(&store, fix).await);
    store
        .update_workflow(brand, wf, 0, |w| {
            w.steps[0].human_approval_required = true;
            Ok(())
        })
        .await
        .unwrap();
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;

    // The deadline decides by `timeout_action` and dispatches the target once.
    assert!(until(30, || rec.seen.lock().unwrap().len() == 1).await, "the target was dispatched");
    let p = store.get_plan(brand, timed.id).unwrap().unwrap();
    assert_eq!((p.status, p.decided_by), (PlanStatus::Approved, None));
    assert!(p.decided_at.is_some_and(|t| t >= start_ms + 1_000), "not before its deadline: {p:?}");
    let e = rec.seen.lock().unwrap()[0].clone();
    assert_eq!((e.target_id, e.idempotency_key.clone()), (template, format!("hw_apr_{}_approve", timed.id.0.simple())));
    assert_eq!(p.standalone.as_deref().and_then(|s| s.execution), Some(e.id));
    assert!(store.get_execution(brand, e.id).unwrap().is_some(), "the execution was stored with the decision");
    let key = KeyId::new();
    assert_eq!(handle.decide(brand, timed.id, false, key, None).await, Err(crate::workflow::Refused::PlanNotWaiting));

    // A person's decision records the note, on a standalone plan and on a workflow step's.
    let manual = store.create_plan(standalone(None)).await.unwrap();
    assert_eq!(handle.decide(brand, manual.id, false, key, Some("not today".into())).await, Ok(()));
    let p = store.get_plan(brand, manual.id).unwrap().unwrap();
    assert_eq!((p.status, p.decided_by, p.notes.as_deref()), (PlanStatus::Rejected, Some(key), Some("not today")));
    let exec = Execution::manual(brand, None, (TargetKind::Workflow, wf.0), Map::new(), start_ms);
    store.create_execution(exec.clone()).await.unwrap();
    handle.start_run(brand, exec.id).await;
    let mut waiting = None;
    assert!(
        until(30, || {
            waiting = store.waiting_plans(brand, 1, 10).unwrap().items.into_iter().find(|p| p.run == exec.id);
            waiting.is_some()
        })
        .await
    );
    let plan = waiting.map(|p| p.id).unwrap();
    assert_eq!(handle.decide(brand, plan, true, key, Some("ship it".into())).await, Ok(()));
    let p = store.get_plan(brand, plan).unwrap().unwrap();
    assert_eq!((p.status, p.notes.as_deref()), (PlanStatus::Approved, Some("ship it")));
    handle.shutdown().await;
    task.await.unwrap();
}

/// The loop keeps a schedule after its fire for the next one (`Scheduler::fired`). A change
/// written to the store without telling the loop (no `Arm`) is still obeyed: the fire computed
/// from the kept copy is refused by the store's version check, and the stored record decides
/// from then on.
#[tokio::test(start_paused = true)]
async fn a_schedule_changed_in_the_store_alone_is_obeyed_from_its_next_fire() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let store = store(&dir);
    let every = move |value| {
        Driver::Interval(IntervalSpec {
            value,
            period: Period::Second,
            anchor_ms: start_ms,
            anchor_fires: false,
            one_off: false,
        })
    };
    let s = schedule(every(1), start_ms, fixture(&store).await);
    store.create_schedule(s.clone()).await.unwrap();
    let (ftx, frx) = mpsc::channel(16);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    let seen = rec.seen.clone();
    assert!(until(600, || seen.lock().unwrap().len() >= 3).await, "it fires every second");
    let changed_at = clock.now_ms();
    store
        .update_schedule(s.brand, s.id, changed_at, move |s| {
            s.driver = every(3);
            Ok(())
        })
        .await
        .unwrap();
    let after = || -> Vec<i64> {
        let since = changed_at - start_ms + 2_000;
        seen.lock().unwrap().iter().map(|e| e.scheduled_ms - start_ms).filter(|t| *t > since).collect()
    };
    assert!(until(600, || after().len() >= 3).await, "it still fires after the change: {:?}", after());
    handle.shutdown().await;
    task.await.unwrap();
    let after = after();
    assert!(after.iter().all(|t| t % 3_000 == 0), "every fire after the change is 3 s apart: {after:?}");
}

/// The armed index's entry of a schedule (a lower bound of its timer deadline).
fn armed_bound(store: &Store, id: ScheduleId) -> i64 {
    let mut bound = None;
    store.for_each_armed(|_, s, d| bound = bound.or((s == id).then_some(d))).unwrap();
    bound.expect("the schedule is armed")
}

/// The armed index keeps a lower bound of each deadline, rewritten only once it is more than
/// `ARMED_SLACK_MS` behind: a schedule firing every 10 s rewrites it about every 7th fire, and
/// the entry is never later than the deadline.
#[tokio::test(start_paused = true)]
async fn a_frequent_schedules_armed_entry_is_rewritten_about_once_a_minute_and_never_late() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let store = store(&dir);
    let s = schedule(every(10, Period::Second, start_ms), start_ms, fixture(&store).await);
    store.create_schedule(s.clone()).await.unwrap();
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    let mut bounds = std::collections::BTreeSet::new();
    // Until the cursor passes 300 s (the paused clock may run ahead of the loop while the
    // store thread commits; the loop then catches up in bigger steps).
    for step in 0.. {
        assert!(step < 3_000, "the loop never reached 300 s");
        advance_in_steps(1).await;
        // The schedule as of the bound: the loop may commit a fire between two reads.
        let (bound, next) = loop {
            let stored = store.get_schedule(s.brand, s.id).unwrap().unwrap();
            let bound = armed_bound(&store, s.id);
            if store.get_schedule(s.brand, s.id).unwrap().unwrap().version == stored.version {
                break (bound, stored.timer_deadline().unwrap());
            }
        };
        assert!(bound <= next && next - bound <= crate::store::ARMED_SLACK_MS, "{bound} for {next}");
        bounds.insert(bound);
        if next > start_ms + 300_000 {
            break;
        }
    }
    handle.shutdown().await;
    task.await.unwrap();
    // Each rewrite happened only once the entry was more than the slack behind: the entries
    // seen are more than a minute apart (every 7th fire of 10 s when none is late), however the fires
    // were grouped.
    let bounds: Vec<i64> = bounds.into_iter().collect();
    assert!(bounds.len() >= 2, "300 s of fires never rewrote the armed entry");
    for pair in bounds.windows(2) {
        assert!(pair[1] - pair[0] > crate::store::ARMED_SLACK_MS, "rewritten after {} ms", pair[1] - pair[0]);
    }
    assert!(!rec.seen.lock().unwrap().is_empty());
}

/// A restart that finds a schedule's armed entry up to a minute before its deadline wakes it
/// at the entry: nothing is recorded and nothing written then, and every instant from the
/// deadline on fires exactly once.
#[tokio::test(start_paused = true)]
async fn a_restart_at_a_stale_armed_bound_wakes_early_without_a_write_and_fires_every_instant_once() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let s = {
        let store = store(&dir);
        let mut s = schedule(every(10, Period::Second, start_ms), start_ms, fixture(&store).await);
        s.misfire = MisfirePolicy::FireAll;
        let mut s = store.create_schedule(s).await.unwrap();
        // Five fire commits, as a daemon stopped since left them: the cursor at 60 s, the
        // entry still at 10 s (50 s behind, within the slack).
        for _ in 0..5 {
            let mut fired = s.clone();
            fired.next_fire_ms = fired.next_fire_ms.map(|n| n + 10_000);
            let write =
                crate::store::FireWrite { schedule: fired.clone(), expected_version: s.version, executions: vec![] };
            assert_eq!(store.record_fires(vec![write]).await.unwrap(), vec![true]);
            s = store.get_schedule(s.brand, s.id).unwrap().unwrap();
        }
        assert_eq!((s.next_fire_ms, armed_bound(&store, s.id)), (Some(start_ms + 60_000), start_ms + 10_000));
        store.shutdown().await;
        s
    };
    let store = store(&dir);
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    // Well past the entry (10 s), well before the deadline (60 s).
    advance_in_steps(35).await;
    settle().await;
    let woken = store.get_schedule(s.brand, s.id).unwrap().unwrap();
    assert_eq!(woken.version, s.version, "the early wake wrote the schedule");
    assert!(rec.seen.lock().unwrap().is_empty(), "the early wake fired");
    assert_eq!(armed_bound(&store, s.id), start_ms + 10_000, "the entry is only read");
    advance_in_steps(70).await;
    catch_up_past(&store, &s, start_ms + 100_000).await;
    handle.shutdown().await;
    task.await.unwrap();
    let fired: Vec<i64> =
        rec.seen.lock().unwrap().iter().map(|e| (e.scheduled_ms - start_ms) / 1000).filter(|t| *t <= 100).collect();
    assert_eq!(fired, vec![60, 70, 80, 90, 100], "every instant from the deadline once");
}

/// A bound kept across a change of jitter lies between the cursor and the jittered deadline: a
/// restart wakes the schedule there with its cursor already inside the prefire window, and
/// still nothing is recorded before the deadline's own prefire.
#[tokio::test(start_paused = true)]
async fn a_stale_bound_between_the_cursor_and_a_jittered_deadline_records_nothing_early() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    let clock = Arc::new(TokioClock::new(start_ms));
    let hourly = every(1, Period::Hour, start_ms);
    let (s, deadline) = {
        let store = store(&dir);
        let fix = fixture(&store).await;
        // A schedule whose jitter, once set, puts its deadline at least 5 s after its cursor.
        let (s, deadline) = loop {
            let s = schedule(hourly.clone(), start_ms, fix);
            let jittered = Schedule { jitter_seconds: 60, ..s.clone() };
            let d = jittered.timer_deadline().unwrap();
            if d - s.next_fire_ms.unwrap() >= 5_000 {
                break (s, d);
            }
        };
        store.create_schedule(s.clone()).await.unwrap();
        store
            .update_schedule(s.brand, s.id, start_ms, |s| {
                s.jitter_seconds = 60;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(armed_bound(&store, s.id), s.next_fire_ms.unwrap(), "the entry stays at the cursor");
        store.shutdown().await;
        (s, deadline)
    };
    let cursor = s.next_fire_ms.unwrap();
    tokio::time::sleep(Duration::from_millis((cursor - 10_000 - clock.now_ms()) as u64)).await;
    let store = store(&dir);
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    // Past the cursor, up to a second before the deadline's prefire: nothing is recorded.
    advance_in_steps((deadline - PREFIRE_MS - 1_000 - clock.now_ms()) / 1000).await;
    settle().await;
    assert!(clock.now_ms() > cursor);
    let recorded = store.list_executions(s.brand, &Default::default(), 1, 10).unwrap();
    assert_eq!(recorded.total, 0, "recorded before its deadline: {:?}", recorded.items);
    assert!(rec.seen.lock().unwrap().is_empty());
    for _ in 0..100 {
        if !rec.seen.lock().unwrap().is_empty() {
            break;
        }
        advance_in_steps(1).await;
    }
    handle.shutdown().await;
    task.await.unwrap();
    let seen = rec.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].scheduled_ms, seen[0].due_ms), (cursor, deadline));
}

/// Schedules whose instants fall in one fire slot are recorded at one wake-up (one commit), at
/// the slot's start: never more than `PREFIRE_MS + FIRE_SLOT_MS - 1` ms ahead of an instant,
/// never less than `PREFIRE_MS`; the next slot's instant waits for its own wake-up.
#[tokio::test(start_paused = true)]
async fn instants_within_one_fire_slot_are_recorded_together_at_the_slots_start() {
    let dir = tempfile::tempdir().unwrap();
    let start_ms: i64 = 1_798_761_600_000;
    assert_eq!(start_ms % FIRE_SLOT_MS, 0);
    let clock = Arc::new(TokioClock::new(start_ms));
    let store = store(&dir);
    let fix = fixture(&store).await;
    // Every second from an instant 1 s away: offsets 0, 1 and 3 ms share the slot that starts
    // PREFIRE_MS before the first; 4 ms is in the next one.
    let first = start_ms + 1_000;
    let offsets = [0, 1, FIRE_SLOT_MS - 1, FIRE_SLOT_MS];
    for offset in offsets {
        let s = schedule(every(1, Period::Second, start_ms + offset), start_ms, fix);
        assert_eq!(s.next_fire_ms, Some(first + offset));
        store.create_schedule(s).await.unwrap();
    }
    let (ftx, frx) = mpsc::channel(64);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let (handle, task) = start_scheduler(store.clone(), clock.clone(), rec.clone(), frx).await;
    let seen = |rec: &Recorder| -> Vec<(i64, i64)> {
        let mut v: Vec<_> =
            rec.seen.lock().unwrap().iter().map(|e| (e.scheduled_ms - first, e.created_ms - first)).collect();
        v.sort();
        v
    };
    let slot = first - PREFIRE_MS;
    tokio::time::sleep(Duration::from_millis((slot - 1 - clock.now_ms()) as u64)).await;
    settle().await;
    assert_eq!(seen(&rec), vec![], "recorded before the slot's start");
    tokio::time::sleep(Duration::from_millis(1)).await;
    settle().await;
    let at = -PREFIRE_MS;
    assert_eq!(seen(&rec), vec![(0, at), (1, at), (FIRE_SLOT_MS - 1, at)], "one wake-up for the slot");
    tokio::time::sleep(Duration::from_millis(FIRE_SLOT_MS as u64 - 1)).await;
    settle().await;
    assert_eq!(seen(&rec).len(), 3, "the next slot's instant was taken early");
    tokio::time::sleep(Duration::from_millis(1)).await;
    settle().await;
    let next = (FIRE_SLOT_MS, FIRE_SLOT_MS - PREFIRE_MS);
    assert_eq!(seen(&rec), vec![(0, at), (1, at), (FIRE_SLOT_MS - 1, at), next]);
    handle.shutdown().await;
    task.await.unwrap();
}

#[tokio::test]
async fn a_wall_clock_stepped_back_re_places_the_timers_instead_of_calling_them_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let t0: i64 = 1_798_761_600_000; // 2027-01-01T00:00:00Z, a multiple of the fire slot
    let clock = Arc::new(crate::time::ManualClock::new(t0));
    let (ftx, _frx) = mpsc::channel(16);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let mut s = Scheduler::new(store.clone(), clock.clone(), rec, Metrics::new());
    let (brand, target) = fixture(&store).await;
    let hourly = schedule(every(1, Period::Hour, t0), t0, (brand, target));
    s.arm(&hourly);
    // The loop has seen the clock at t0 + 10 s; then the clock steps back 6 s.
    let mut expired = Vec::new();
    s.wheel.advance((t0 + 10_000) as u64, &mut expired);
    assert!(expired.is_empty());
    clock.set(t0 + 4_000);
    // A retry due 1 s ago goes off at the next tick, not when the clock regains +10 s.
    let overdue = ExecutionId::new();
    s.arm_retry(brand, overdue, t0 + 3_000);
    // A retry due in 1 s and a schedule due in 3 s by the clock: neither is due yet.
    let (execution, id) = (ExecutionId::new(), ScheduleId::new());
    s.arm_retry(brand, execution, t0 + 5_000);
    s.arm_at(brand, id, Some(t0 + 7_000));
    assert!(s.work.is_empty(), "a schedule the clock has not reached was queued to fire: {:?}", s.work);
    // Each goes off when the clock reaches it (the overdue retry at the next tick, the
    // schedule at its slot, the prefire ahead); the hourly one stays armed.
    let mut fired = Vec::new();
    let mut at = (t0 + 4_000) as u64;
    while fired.len() < 3 {
        s.collect_due(at, &mut expired);
        for (timer, deadline) in expired.drain(..) {
            fired.push((s.armed.by_timer(timer).map(|(_, key)| key), deadline as i64));
        }
        at = s.wheel.next_deadline().expect("timers armed");
    }
    assert_eq!(
        fired,
        vec![
            (Some(Key::Retry(overdue)), t0 + 4_000),
            (Some(Key::Retry(execution)), t0 + 5_000),
            (Some(Key::Schedule(id)), t0 + 7_000 - PREFIRE_MS),
        ]
    );
    assert_eq!(s.wheel.len(), 1, "the hourly schedule is still armed");
}

#[tokio::test]
async fn a_timer_due_when_armed_goes_off_at_the_next_tick_even_if_the_clock_steps_back_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let t0: i64 = 1_798_761_600_000;
    let clock = Arc::new(crate::time::ManualClock::new(t0 + 10_000));
    let (ftx, _frx) = mpsc::channel(16);
    let rec = Recorder { seen: Arc::new(Mutex::new(Vec::new())), finished: ftx };
    let mut s = Scheduler::new(store.clone(), clock.clone(), rec, Metrics::new());
    let (brand, _) = fixture(&store).await;
    let mut expired = Vec::new();
    s.collect_due((t0 + 10_000) as u64, &mut expired);
    // Armed while the clock and the wheel agree: due 1 s ago (a retry whose backoff passed,
    // a monitor deadline found due). A second one is armed due, then cancelled by being
    // re-armed for later: it must not go off early.
    let (due, rearmed) = (ExecutionId::new(), ExecutionId::new());
    s.arm_retry(brand, due, t0 + 9_000);
    s.arm_retry(brand, rearmed, t0 + 9_500);
    s.arm_retry(brand, rearmed, t0 + 60_000);
    // The clock steps back 6 s before the loop's next tick.
    clock.set(t0 + 4_000);
    s.collect_due((t0 + 4_000) as u64, &mut expired);
    let fired: Vec<_> =
        expired.drain(..).map(|(timer, at)| (s.armed.by_timer(timer).map(|(_, k)| k), at as i64)).collect();
    assert_eq!(fired, vec![(Some(Key::Retry(due)), t0 + 4_000)], "the due retry goes off at the tick, and only it");
    // The re-armed one waits for its new instant.
    s.collect_due((t0 + 59_999) as u64, &mut expired);
    assert!(expired.is_empty(), "{expired:?}");
    s.collect_due((t0 + 60_000) as u64, &mut expired);
    let fired: Vec<_> = expired.drain(..).map(|(timer, _)| s.armed.by_timer(timer).map(|(_, k)| k)).collect();
    assert_eq!(fired, vec![Some(Key::Retry(rearmed))]);
    // Queued as due, re-armed for a later instant (the same timer slot, now in the wheel), and
    // the next tick comes after that instant: it goes off once.
    clock.set(t0 + 61_000);
    let twice = ExecutionId::new();
    s.arm_retry(brand, twice, t0 + 59_000);
    s.arm_retry(brand, twice, t0 + 60_500);
    s.collect_due((t0 + 61_000) as u64, &mut expired);
    let fired: Vec<_> = expired.drain(..).map(|(timer, _)| s.armed.by_timer(timer).map(|(_, k)| k)).collect();
    assert_eq!(fired, vec![Some(Key::Retry(twice))]);
}
