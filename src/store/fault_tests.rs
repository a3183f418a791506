//! Fault injection in every store operation: an operation that fails — an error, an I/O fault
//! or a panic, after any number of its writes — leaves the store exactly as it was, and the
//! other operations of its batch still commit.
//!
//! Failpoints are process-wide (the `fail` crate), so these tests take one lock
//! ([`super::FAULT_LOCK`], shared with the simulation test); each turns fault injection on for
//! its own store only (`Store::inject_faults`), which keeps the other unit tests that run in
//! parallel out of it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, json};

use super::index_tests::schedule;
use super::*;
use crate::model::*;
use crate::schedule::Driver;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("s.redb"),
        WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 64,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        },
        Metrics::new(),
    )
    .expect("open store")
}

fn sealed(n: u8) -> Sealed {
    Sealed { nonce: [n; 12], ciphertext: vec![n; 24] }
}

fn domain(brand: BrandId, host: &str) -> Domain {
    Domain {
        id: DomainId::new(),
        brand,
        protocol: Protocol::Https,
        host: host.into(),
        rate_limit_enabled: false,
        concurrency_control_enabled: false,
        max_concurrent_jobs: 0,
        max_requests_per_second: 0,
        signing: vec![SigningKey { sealed: sealed(1), created_ms: 0, expires_ms: None }],
        breaker: Default::default(),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn template(brand: BrandId, domain: DomainId) -> WebhookTemplate {
    WebhookTemplate {
        id: TemplateId::new(),
        brand,
        name: "t".into(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/hook".into(),
        domain,
        retry: RetryPolicy::DEFAULT,
        body: json!({"a": 1}),
        headers: Map::new(),
        query: Map::new(),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn step(identifier: &str, index: i64, domain: DomainId) -> Step {
    Step {
        id: StepId::new(),
        index,
        identifier: identifier.into(),
        webhook_id: uuid::Uuid::now_v7(),
        name: identifier.into(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/step".into(),
        domain,
        retry: RetryPolicy::DEFAULT,
        body: json!({}),
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
    }
}

fn workflow(brand: BrandId, domain: DomainId) -> Workflow {
    Workflow {
        id: WorkflowId::new(),
        brand,
        name: "w".into(),
        description: String::new(),
        runtype: RunType::FifoSequential,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: vec![step("a", 0, domain), step("b", 1, domain)],
        created_ms: 0,
        updated_ms: 0,
    }
}

fn run(brand: BrandId, id: ExecutionId, wf: &Workflow) -> Run {
    Run {
        id,
        brand,
        workflow: wf.id,
        status: RunStatus::Running,
        initial_context: Map::new(),
        visits: Vec::new(),
        waiting: None,
        steps_started: 0,
        workflow_retries: 0,
        created_ms: 0,
        finished_ms: None,
        reason: None,
    }
}

fn plan(brand: BrandId, run: ExecutionId, wf: &Workflow) -> ApprovalPlan {
    ApprovalPlan {
        id: PlanId::new(),
        brand,
        run,
        workflow: wf.id,
        workflow_name: wf.name.clone(),
        step: wf.steps[0].id,
        identifier: "a".into(),
        index: 0,
        visit: 0,
        delay_to_next_step_seconds: 0,
        status: PlanStatus::WaitingApproval,
        deadline_ms: None,
        timeout_action: TimeoutAction::Reject,
        decided_by: None,
        decided_at: None,
        created_ms: 0,
        notes: None,
        standalone: None,
    }
}

fn api_key(brand: BrandId, n: u8) -> ApiKey {
    ApiKey {
        id: KeyId::new(),
        brand,
        prefix: format!("hwk_test{n}"),
        hash: [n; 32],
        created_ms: 0,
        last_used_ms: None,
        revoked_ms: None,
    }
}

/// Everything the operations under test refer to.
struct Fixture {
    brand: BrandId,
    key: ApiKey,
    domain: Domain,
    spare_domain: Domain,
    template: WebhookTemplate,
    spare_template: WebhookTemplate,
    secret: Secret,
    schedule: Schedule,
    execution: Execution,
    to_cancel: Execution,
    finished: Execution,
    workflow: Workflow,
    run: Run,
    plan: ApprovalPlan,
    source: Source,
    spare_source: Source,
    subscription: Subscription,
    debounce: Schedule,
    job: Job,
    monitor: Monitor,
    spare_monitor: Monitor,
    channel: NotificationChannel,
    spare_channel: NotificationChannel,
    rule: AlertRule,
    spare_rule: AlertRule,
    pipeline: Monitor,
    instance: InstanceId,
}

fn notification_channel(brand: BrandId, n: u8) -> NotificationChannel {
    NotificationChannel {
        id: ChannelId::new(),
        brand,
        name: format!("channel {n}"),
        kind: ChannelKind::Webhook,
        address: ChannelAddress::Url { sealed: sealed(n), origin: "https://alerts.example".into() },
        signing: Some(sealed(n)),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn alert_rule(brand: BrandId, rule_type: crate::monitor::alert::RuleType, channel: ChannelId) -> AlertRule {
    let mut thresholds = crate::monitor::alert::Thresholds::default();
    if rule_type == crate::monitor::alert::RuleType::ApprovalWaiting {
        thresholds.waiting_seconds = Some(1);
    }
    AlertRule {
        id: AlertRuleId::new(),
        brand,
        spec: crate::monitor::alert::RuleSpec { rule_type, watch: None, thresholds, cooldown_seconds: 300 },
        channels: vec![channel],
        created_ms: 0,
        updated_ms: 0,
    }
}

/// A strict three-stage pipeline monitor (token hash `[n; 32]`), 10 s per stage.
fn pipeline_monitor(brand: BrandId, slug: &str, n: u8) -> Monitor {
    let mut m = monitor(brand, slug, n);
    m.kind = MonitorKind::Pipeline;
    m.pipeline = Some(crate::monitor::pipeline::Spec {
        stages: (1..=3)
            .map(|i| crate::monitor::pipeline::Stage {
                path: crate::monitor::pipeline::StagePath::nth(i),
                name: None,
                timeout_seconds: None,
            })
            .collect(),
        strict: true,
        dynamic: false,
        timeout_seconds: Some(10),
        budget_per_instance_usd: Some(0.01),
        budget_per_day_usd: None,
    });
    m
}

fn stage_write(target: PingTarget, stage: &str, now: i64) -> StageWrite {
    let ping = crate::monitor::pipeline::StagePing {
        cost: crate::monitor::pipeline::Cost { cost_usd: Some(0.02), ..Default::default() },
        ..Default::default()
    };
    StageWrite { target, stage: stage.into(), ping, new_instance: InstanceId(uuid::Uuid::now_v7()), now }
}

fn monitor(brand: BrandId, slug: &str, n: u8) -> Monitor {
    Monitor {
        id: MonitorId::new(),
        brand,
        name: "backup".into(),
        slug: slug.into(),
        kind: MonitorKind::Heartbeat,
        pipeline: None,
        spec: crate::monitor::heartbeat::Spec {
            period: crate::monitor::heartbeat::Period::Interval { seconds: 60 },
            grace_seconds: 30,
        },
        token: sealed(n),
        token_hash: [n; 32],
        created_ms: 0,
        updated_ms: 0,
    }
}

fn ping_write(target: PingTarget, kind: crate::monitor::heartbeat::PingKind, at: i64) -> PingWrite {
    PingWrite { target, ping: new_ping(PingId::new(), kind, None, at) }
}

fn source(brand: BrandId, n: u8) -> Source {
    Source {
        id: SourceId::new(),
        brand,
        name: "src".into(),
        verification: SourceVerification {
            kind: VerificationKind::None,
            preset: None,
            header: None,
            prefix: None,
            base64: false,
            secret_key: None,
            tolerance_seconds: 300,
            username: None,
            password_secret_key: None,
        },
        ip_allow_cidrs: Vec::new(),
        dedup: None,
        event_type_from: None,
        response_status_code: 202,
        response_body: None,
        token: sealed(n),
        token_hash: [n; 32],
        created_ms: 0,
        updated_ms: 0,
    }
}

fn subscription(brand: BrandId, source: SourceId, target: uuid::Uuid) -> Subscription {
    Subscription {
        id: SubscriptionId::new(),
        brand,
        name: "sub".into(),
        source: Some(source),
        event_types: Vec::new(),
        filter: Vec::new(),
        transform: None,
        target: SubscriptionTarget::Webhook,
        target_id: target,
        delay_seconds: 0,
        enabled: true,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn event(brand: BrandId, source: SourceId) -> Event {
    Event {
        id: EventId::new(),
        brand,
        source: Some(source),
        status: EventStatus::Accepted,
        reason: None,
        event_type: Some("t".into()),
        dedup_key: Some("k".into()),
        duplicate_of: None,
        method: "POST".into(),
        path: String::new(),
        query: Map::new(),
        headers: Map::new(),
        body: json!({"a": 1}),
        body_encoding: BodyEncoding::Json,
        client_ip: None,
        labels: Map::new(),
        received_ms: 5_000,
        routes: Vec::new(),
    }
}

/// A finished visit of the workflow's first step, carried by `execution`, gated by `plan`.
fn visit(wf: &Workflow, execution: Option<ExecutionId>, plan: Option<PlanId>) -> StepRun {
    StepRun {
        step: wf.steps[0].id,
        identifier: "a".into(),
        index: 0,
        status: StepStatus::Succeeded,
        execution,
        status_code: Some(200),
        response: None,
        error: None,
        started_ms: Some(0),
        finished_ms: Some(500),
        context: None,
        plan,
    }
}

/// Records the prune operations remove: a finished run with its finished execution, a step
/// execution and a decided plan (`prune_executions`); a finished run whose execution is gone,
/// with its plan (`prune_runs`); a plan whose run is gone (`prune_plans`).
async fn prunable(store: &Store, brand: BrandId, wf: &Workflow) {
    let mut done = Execution::manual(brand, None, (TargetKind::Workflow, wf.id.0), Map::new(), 0);
    done.status = ExecutionStatus::Succeeded;
    done.finished_ms = Some(500);
    let done = store.create_execution(done).await.unwrap();
    let mut step_exec = Execution::manual(brand, None, (TargetKind::Workflow, wf.id.0), Map::new(), 0);
    step_exec.status = ExecutionStatus::Succeeded;
    step_exec.finished_ms = Some(500);
    step_exec.step = Some(StepRef { run: done.id, workflow: wf.id, step: wf.steps[0].id, visit: 0 });
    let mut done_plan = plan(brand, done.id, wf);
    done_plan.status = PlanStatus::Approved;
    let mut done_run = run(brand, done.id, wf);
    done_run.status = RunStatus::Succeeded;
    done_run.finished_ms = Some(500);
    done_run.visits = vec![visit(wf, Some(step_exec.id), Some(done_plan.id))];

    let mut orphan_plan = plan(brand, ExecutionId::new(), wf);
    orphan_plan.status = PlanStatus::Rejected;
    let mut orphan = run(brand, orphan_plan.run, wf);
    orphan.status = RunStatus::Failed;
    orphan.finished_ms = Some(500);
    orphan.visits = vec![visit(wf, None, Some(orphan_plan.id))];
    let stray_plan = plan(brand, ExecutionId::new(), wf);
    store
        .write_run(RunWrite {
            runs: vec![done_run, orphan],
            plans: vec![done_plan, orphan_plan, stray_plan],
            executions: vec![step_exec],
        })
        .await
        .unwrap();
}

async fn fixture(store: &Store) -> Fixture {
    let brand = BrandId::new();
    let key = api_key(brand, 1);
    store
        .create_brand_with_key(
            Brand { id: brand, name: "b".into(), timezone: "UTC".into(), created_ms: 0 },
            key.clone(),
        )
        .await
        .unwrap();
    let main_domain = store.create_domain(domain(brand, "a.example")).await.unwrap();
    let spare_domain = store.create_domain(domain(brand, "spare.example")).await.unwrap();
    // The spare domain's circuit record goes with it (delete_domain).
    let mut circuit = DomainCircuit::new(0);
    circuit.seq = 1;
    store.record_circuit_transition(brand, spare_domain.id, circuit).await.unwrap();
    let main_template = store.create_template(template(brand, main_domain.id), None).await.unwrap();
    let spare_template = store.create_template(template(brand, main_domain.id), None).await.unwrap();
    let secret = store
        .create_secret(Secret {
            id: SecretId::new(),
            brand,
            key: "tok".into(),
            sealed: sealed(2),
            created_ms: 0,
            updated_ms: 0,
        })
        .await
        .unwrap();
    let schedule = store.create_schedule(schedule(brand, TargetKind::Webhook, main_template.id.0)).await.unwrap();
    let mut execution =
        Execution::manual(brand, Some(schedule.id), (TargetKind::Webhook, main_template.id.0), Map::new(), 1_000);
    execution.idempotency_key = "k1".into();
    let execution = store.create_execution(execution).await.unwrap();
    let mut finished = Execution::manual(brand, None, (TargetKind::Webhook, main_template.id.0), Map::new(), 1_000);
    finished.status = ExecutionStatus::Succeeded;
    finished.finished_ms = Some(1_000);
    let finished = store.create_execution(finished).await.unwrap();
    let workflow = store.create_workflow(workflow(brand, main_domain.id)).await.unwrap();
    let run_exec = store
        .create_execution(Execution::manual(brand, None, (TargetKind::Workflow, workflow.id.0), Map::new(), 0))
        .await
        .unwrap();
    let run = run(brand, run_exec.id, &workflow);
    let plan = plan(brand, run.id, &workflow);
    store
        .write_run(RunWrite { runs: vec![run.clone()], plans: vec![plan.clone()], executions: Vec::new() })
        .await
        .unwrap();
    store
        .put_idempotent(
            brand,
            [7; 32],
            IdempotentReply {
                action: "add_domain".into(),
                request_hash: [0; 32],
                status: 200,
                body: "{}".into(),
                created_ms: 0,
            },
        )
        .await
        .unwrap();
    let to_cancel = store
        .create_execution(Execution::manual(brand, None, (TargetKind::Webhook, main_template.id.0), Map::new(), 2_000))
        .await
        .unwrap();
    prunable(store, brand, &workflow).await;
    let source_rec = store.create_source(source(brand, 1)).await.unwrap();
    let spare_source = store.create_source(source(brand, 2)).await.unwrap();
    let subscription = store.put_subscription(subscription(brand, source_rec.id, main_template.id.0)).await.unwrap();
    let mut debounce = self::schedule(brand, TargetKind::Webhook, main_template.id.0);
    debounce.driver = Driver::Debounce(crate::schedule::debounce::DebounceSpec {
        window_seconds: 5,
        mode: crate::schedule::debounce::Mode::Trailing,
        max_wait_seconds: None,
    });
    debounce.next_fire_ms = None;
    let debounce = store.create_schedule(debounce).await.unwrap();
    let old_event = event(brand, source_rec.id);
    store
        .record_event(EventWrite {
            event: old_event,
            dedup: Some(DedupWrite { scope: *source_rec.id.as_bytes(), key: "old".into(), window_ms: 1 }),
            executions: Vec::new(),
            debounce: Vec::new(),
            now: 5_000,
        })
        .await
        .unwrap();
    let job = store
        .create_job(Job {
            id: JobId::new(),
            brand,
            kind: JobKind::Replay { source: None, event_type: None, from_ms: 0, to_ms: 10_000, subscription: None },
            rate_per_second: None,
            status: JobStatus::Running,
            cursor: None,
            scanned: 0,
            matched: 0,
            created: 0,
            created_ms: 0,
            updated_ms: 0,
            finished_ms: None,
        })
        .await
        .unwrap();
    store.spill(main_domain.id, brand, execution.id).await.unwrap();
    store.spill(spare_domain.id, brand, to_cancel.id).await.unwrap();
    let monitor_rec = store.create_monitor(monitor(brand, "main", 40), MonitorState::new(0)).await.unwrap();
    let spare_monitor = store.create_monitor(monitor(brand, "spare", 41), MonitorState::new(0)).await.unwrap();
    store.put_ping_key(PingKey { brand, sealed: sealed(42), hash: [42; 32], created_ms: 0 }, false).await.unwrap();
    use crate::monitor::heartbeat::PingKind;
    let pipeline = store.create_monitor(pipeline_monitor(brand, "pipe", 46), MonitorState::new(0)).await.unwrap();
    let instance = match store.record_stage(stage_write(PingTarget::Token([46; 32]), "1", 1_000)).await.unwrap() {
        StageResult::Applied(c) => c.instance.expect("opened").id,
        other => panic!("{other:?}"),
    };
    for (target, kind, at) in [
        (PingTarget::Token([40; 32]), PingKind::Success, 1_000),
        (PingTarget::Token([41; 32]), PingKind::Start, 1_000),
        (PingTarget::Token([41; 32]), PingKind::Fail, 2_000),
    ] {
        store.record_ping(ping_write(target, kind, at)).await.unwrap().expect("monitor found");
    }
    use crate::monitor::alert::RuleType;
    let channel = store.create_channel(notification_channel(brand, 50)).await.unwrap();
    let spare_channel = store.create_channel(notification_channel(brand, 51)).await.unwrap();
    let rule = store.create_alert_rule(alert_rule(brand, RuleType::MonitorDown, channel.id)).await.unwrap();
    let spare_rule = store.create_alert_rule(alert_rule(brand, RuleType::ApprovalWaiting, channel.id)).await.unwrap();
    Fixture {
        channel,
        spare_channel,
        rule,
        spare_rule,
        brand,
        key,
        domain: main_domain,
        spare_domain,
        template: main_template,
        spare_template,
        secret,
        schedule,
        execution,
        to_cancel,
        finished,
        workflow,
        run,
        plan,
        source: source_rec,
        spare_source,
        subscription,
        debounce,
        job,
        monitor: monitor_rec,
        spare_monitor,
        pipeline,
        instance,
    }
}

type OpFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;
type Op = Box<dyn Fn(Store) -> OpFuture>;

/// `op!(name, [captures...], |store| body)`: an [`Op`] whose captures are cloned for each run.
macro_rules! op {
    ($name:expr, [$($c:ident),*], |$st:ident| $body:expr) => {
        ($name, Box::new(move |$st: Store| -> OpFuture {
            $(let $c = $c.clone();)*
            Box::pin(async move { $body.map(|_| ()) })
        }) as Op)
    };
}

/// Every write operation of the store, each valid on the fixture in this order (creates and
/// updates first, deletes last). Each closure builds its arguments afresh, so it can run again.
fn operations(f: &Fixture) -> Vec<(&'static str, Op)> {
    let b = f.brand;
    let (d, sd, t, st) = (f.domain.clone(), f.spare_domain.clone(), f.template.clone(), f.spare_template.clone());
    let (sec, sch, ex, fin) = (f.secret.clone(), f.schedule.clone(), f.execution.clone(), f.finished.clone());
    let (wf, run, plan, key) = (f.workflow.clone(), f.run.clone(), f.plan.clone(), f.key.clone());
    let mut ops: Vec<(&'static str, Op)> = Vec::new();
    ops.push(op!("create_brand", [], |s| s
        .create_brand(Brand { id: BrandId::new(), name: "x".into(), timezone: "UTC".into(), created_ms: 0 })
        .await));
    ops.push(op!("create_brand_with_key", [], |s| {
        let id = BrandId::new();
        s.create_brand_with_key(Brand { id, name: "y".into(), timezone: "UTC".into(), created_ms: 0 }, api_key(id, 9))
            .await
    }));
    ops.push(op!("create_key", [], |s| s.create_key(api_key(b, 3)).await));
    let k = key.clone();
    ops.push(op!("touch_keys", [k], |s| s.touch_keys(HashMap::from([(k.id, 5_000)])).await));
    ops.push(op!("create_domain", [], |s| s.create_domain(domain(b, "new.example")).await));
    let dd = d.clone();
    ops.push(op!("update_domain", [dd], |s| {
        let mut x = dd.clone();
        x.host = "renamed.example".into();
        s.update_domain(x).await
    }));
    let dd = d.clone();
    ops.push(op!("set_domain_signing", [dd], |s| s
        .set_domain_signing(b, dd.id, vec![SigningKey { sealed: sealed(5), created_ms: 1, expires_ms: None }])
        .await));
    let dd = d.clone();
    ops.push(op!("record_circuit_transition", [dd], |s| {
        let mut c = DomainCircuit::new(10);
        c.state = CircuitState::Open { opened_ms: 10, until_ms: 30_010 };
        c.consecutive_failures = 5;
        c.seq = 2;
        s.record_circuit_transition(b, dd.id, c).await
    }));
    let dd = d.clone();
    ops.push(op!("create_template", [dd], |s| s.create_template(template(b, dd.id), None).await));
    ops.push(op!("create_template_with_new_domain", [], |s| {
        let nd = domain(b, "implicit.example");
        s.create_template(template(b, nd.id), Some(nd)).await
    }));
    let tt = t.clone();
    ops.push(op!("update_template", [tt], |s| {
        let mut x = tt.clone();
        x.path = "/changed".into();
        s.update_template(x).await
    }));
    ops.push(op!("create_secret", [], |s| s
        .create_secret(Secret {
            id: SecretId::new(),
            brand: b,
            key: "new".into(),
            sealed: sealed(3),
            created_ms: 0,
            updated_ms: 0
        })
        .await));
    let ss = sec.clone();
    ops.push(op!("update_secret_value", [ss], |s| s.update_secret_value(b, ss.id, sealed(4), 10).await));
    ops.push(op!("set_vault_check", [], |s| s.set_vault_check(sealed(6)).await));
    let tt = t.clone();
    ops.push(op!("create_schedule", [tt], |s| s.create_schedule(schedule(b, TargetKind::Webhook, tt.id.0)).await));
    let sc = sch.clone();
    ops.push(op!("update_schedule", [sc], |s| s
        .update_schedule(b, sc.id, 10, |x| {
            x.name = Some("renamed".into());
            x.next_fire_ms = Some(120_000);
            Ok(())
        })
        .await));
    let sc = sch.clone();
    ops.push(op!("record_fires", [sc], |s| {
        let stored = s.get_schedule(b, sc.id)?.expect("schedule");
        let mut next = stored.clone();
        next.next_fire_ms = Some(next.next_fire_ms.unwrap_or(0) + 60_000);
        let mut e = Execution::manual(b, Some(sc.id), (TargetKind::Webhook, sc.target_id), Map::new(), 60_000);
        e.trigger = Trigger::Schedule;
        s.record_fires(vec![FireWrite { expected_version: stored.version, schedule: next, executions: vec![e] }]).await
    }));
    let tt = t.clone();
    ops.push(op!("create_execution", [tt], |s| s
        .create_execution(Execution::manual(b, None, (TargetKind::Webhook, tt.id.0), Map::new(), 2_000))
        .await));
    let e = ex.clone();
    ops.push(op!("put_execution", [e], |s| {
        let mut x = s.get_execution(b, e.id)?.expect("execution");
        x.status = ExecutionStatus::Succeeded;
        x.finished_ms = Some(3_000);
        s.put_execution(&x).await
    }));
    let e = f.to_cancel.clone();
    ops.push(op!("cancel_execution", [e], |s| s.cancel_execution(b, e.id, 4_000).await));
    let (dd, e) = (d.clone(), ex.clone());
    ops.push(op!("spill", [dd, e], |s| s.spill(dd.id, b, e.id).await));
    let dd = d.clone();
    ops.push(op!("take_spilled", [dd], |s| s.take_spilled(dd.id, 10).await));
    ops.push(op!("clear_spilled", [], |s| s.clear_spilled().await));
    let (r, p, e) = (run.clone(), plan.clone(), fin.clone());
    ops.push(op!("write_run", [e, r, p], |s| {
        let mut r = r.clone();
        r.status = RunStatus::WaitingApproval;
        let mut p = p.clone();
        p.status = PlanStatus::Approved;
        let mut e = e.clone();
        e.reason = Some("touched".into());
        s.write_run(RunWrite { runs: vec![r], plans: vec![p], executions: vec![e] }).await
    }));
    let p = plan.clone();
    ops.push(op!("create_plan", [p], |s| {
        let mut x = p.clone();
        x.id = PlanId::new();
        s.create_plan(x).await
    }));
    let w = wf.clone();
    ops.push(op!("create_workflow", [w], |s| {
        let mut x = w.clone();
        x.id = WorkflowId::new();
        s.create_workflow(x).await
    }));
    let (w, dd) = (wf.clone(), sd.clone());
    ops.push(op!("update_workflow", [dd, w], |s| s
        .update_workflow(b, w.id, 10, move |x| {
            x.steps.push(step("c", 2, dd.id));
            Ok(())
        })
        .await));
    ops.push(op!("put_idempotent", [], |s| s
        .put_idempotent(
            b,
            [8; 32],
            IdempotentReply {
                action: "x".into(),
                request_hash: [1; 32],
                status: 200,
                body: "{}".into(),
                created_ms: 0
            },
        )
        .await));
    ops.push(op!("prune_idempotent", [], |s| s.prune_idempotent(1).await));
    // Each prune pass is a loop of batches, each its own store write; the fixture's records
    // fit in one batch, so here the pass is exactly one write operation.
    ops.push(op!("prune_executions", [], |s| s.prune_executions(i64::MAX).await));
    ops.push(op!("prune_runs", [], |s| s.prune_runs().await));
    ops.push(op!("prune_plans", [], |s| s.prune_plans(i64::MAX).await));
    let kk = key.clone();
    ops.push(op!("revoke_key", [kk], |s| s.revoke_key(KeyRef::Id(kk.id), 9_000).await));
    let ss = sec.clone();
    ops.push(op!("delete_secret", [ss], |s| s.delete_secret(b, ss.id).await));
    let sc = sch.clone();
    ops.push(op!("delete_schedule", [sc], |s| s.delete_schedule(b, sc.id).await));
    let stt = st.clone();
    ops.push(op!("delete_template", [stt], |s| s.delete_template(b, stt.id, 10).await));
    let (src, ssrc, sub, deb, job) =
        (f.source.clone(), f.spare_source.clone(), f.subscription.clone(), f.debounce.clone(), f.job.clone());
    {
        ops.push(op!("create_source", [], |s| s.create_source(source(b, 3)).await));
    }
    {
        let src = src.clone();
        ops.push(op!("update_source", [src], |s| s
            .update_source(b, src.id, 6_000, |x| {
                x.token_hash = [9; 32];
                x.name = "renamed".into();
                Ok(())
            })
            .await));
    }
    {
        let src = src.clone();
        let t = t.clone();
        ops.push(op!("put_subscription", [src, t], |s| s.put_subscription(subscription(b, src.id, t.id.0)).await));
    }
    {
        let sub = sub.clone();
        ops.push(op!("update_subscription", [sub], |s| s
            .update_subscription(b, sub.id, 6_000, |x| {
                x.enabled = false;
                Ok(())
            })
            .await));
    }
    {
        let src = src.clone();
        let sub = sub.clone();
        let t = t.clone();
        let deb = deb.clone();
        ops.push(op!("record_event", [src, sub, t, deb], |s| {
            let e = event(b, src.id);
            let mut x = Execution::manual(b, None, (TargetKind::Webhook, t.id.0), Map::new(), 6_000);
            x.event = Some(EventRef { event: e.id, subscription: sub.id });
            let mut e = e;
            e.routes = vec![
                Route {
                    subscription: sub.id,
                    outcome: RouteOutcome::Execution,
                    execution: Some(x.id),
                    job: None,
                    routed_ms: 6_000,
                },
                Route {
                    subscription: sub.id,
                    outcome: RouteOutcome::DebounceTriggered,
                    execution: None,
                    job: None,
                    routed_ms: 6_000,
                },
            ];
            s.record_event(EventWrite {
                event: e,
                dedup: Some(DedupWrite { scope: *src.id.as_bytes(), key: "new".into(), window_ms: 60_000 }),
                executions: vec![x],
                debounce: vec![(1, deb.id, Map::new())],
                now: 6_000,
            })
            .await
        }));
    }
    {
        let job = job.clone();
        let sub = sub.clone();
        let fin = fin.clone();
        ops.push(op!("job_step", [job, sub, fin], |s| {
            let mut next = job.clone();
            next.cursor = Some(uuid::Uuid::from_u128(1));
            next.created = 1;
            let old = fin.clone();
            let x = Execution {
                id: ExecutionId::new(),
                status: ExecutionStatus::Pending,
                finished_ms: None,
                retry_of: Some(old.id),
                ..old
            };
            let route = Route {
                subscription: sub.id,
                outcome: RouteOutcome::Execution,
                execution: Some(x.id),
                job: Some(job.id),
                routed_ms: 7_000,
            };
            s.job_step(JobStep {
                job: next,
                expected_cursor: None,
                executions: vec![x],
                routes: vec![(EventId::new(), route)],
            })
            .await
        }));
    }
    {
        ops.push(op!("prune_events", [], |s| s.prune_events(i64::MAX).await));
    }
    {
        ops.push(op!("prune_dedup", [], |s| s.prune_dedup(i64::MAX).await));
    }
    {
        let job = job.clone();
        ops.push(op!("cancel_job", [job], |s| s.cancel_job(b, job.id, 8_000).await));
    }
    {
        let sub = sub.clone();
        ops.push(op!("delete_subscription", [sub], |s| s.delete_subscription(b, sub.id).await));
    }
    {
        let ssrc = ssrc.clone();
        ops.push(op!("delete_source", [ssrc], |s| s.delete_source(b, ssrc.id).await));
    }
    {
        use crate::monitor::heartbeat::PingKind;
        ops.push(op!("create_monitor", [], |s| {
            let m = monitor(b, &format!("m-{}", MonitorId::new()), 43);
            s.create_monitor(m, MonitorState::new(0)).await
        }));
        let m = f.monitor.clone();
        ops.push(op!("update_monitor", [m], |s| s
            .update_monitor(b, m.id, 3_000, |m| {
                m.slug = "renamed".into();
                m.token_hash = [44; 32];
                m.spec.grace_seconds = 5;
                Ok(())
            })
            .await));
        ops.push(op!("record_ping", [], |s| s
            .record_ping(ping_write(PingTarget::Token([44; 32]), PingKind::Success, 4_000))
            .await));
        ops.push(op!("record_ping_slug", [], |s| s
            .record_ping(ping_write(
                PingTarget::Slug { key_hash: [42; 32], slug: "renamed".into() },
                PingKind::Start,
                4_500
            ))
            .await));
        let m = f.monitor.clone();
        ops.push(op!("monitor_deadlines", [m], |s| s.monitor_deadlines(vec![(b, m.id)], 1_000_000).await));
        let m = f.spare_monitor.clone();
        ops.push(op!("pause_monitor", [m], |s| s.set_monitor_paused(b, m.id, true, 5_000).await));
        let m = f.spare_monitor.clone();
        ops.push(op!("resume_monitor", [m], |s| s.set_monitor_paused(b, m.id, false, 6_000).await));
        ops.push(op!("rotate_ping_key", [], |s| s
            .put_ping_key(PingKey { brand: b, sealed: sealed(45), hash: [45; 32], created_ms: 1 }, true)
            .await));
        let m = f.spare_monitor.clone();
        ops.push(op!("delete_monitor", [m], |s| s.delete_monitor(b, m.id).await));
        ops.push(op!("create_pipeline_monitor", [], |s| {
            let m = pipeline_monitor(b, &format!("p-{}", MonitorId::new()), 47);
            s.create_monitor(m, MonitorState::new(0)).await
        }));
        ops.push(op!("record_stage", [], |s| s
            .record_stage(stage_write(PingTarget::Token([46; 32]), "2", 2_000))
            .await
            .map(|_| ())));
        ops.push(op!("record_stage_refused", [], |s| s
            .record_stage(stage_write(PingTarget::Token([46; 32]), "2", 2_500))
            .await
            .map(|_| ())));
        let p = f.pipeline.clone();
        ops.push(op!("pipeline_deadlines", [p], |s| s.monitor_deadlines(vec![(b, p.id)], 1_000_000).await));
        let i = f.instance;
        ops.push(op!("rerun_instance", [i], |s| s
            .rerun_instance(b, i, InstanceId(uuid::Uuid::now_v7()), Some("{}".into()), 1_000_500)
            .await
            .map(|_| ())));
        let p = f.pipeline.clone();
        ops.push(op!("delete_pipeline_monitor", [p], |s| s.delete_monitor(b, p.id).await));
    }
    {
        use crate::monitor::alert::{RuleType, Signal};
        ops.push(op!("create_channel", [], |s| s.create_channel(notification_channel(b, 52)).await));
        let c = f.channel.clone();
        ops.push(op!("update_channel", [c], |s| s
            .update_channel(b, c.id, 7_000, |c| {
                c.name = "renamed".into();
                Ok(())
            })
            .await));
        let c = f.channel.clone();
        ops.push(op!("create_alert_rule", [c], |s| s
            .create_alert_rule(alert_rule(b, RuleType::CircuitOpen, c.id))
            .await));
        let (r, c) = (f.rule.clone(), f.spare_channel.clone());
        ops.push(op!("update_alert_rule", [r, c], |s| s
            .update_alert_rule(b, r.id, 7_000, move |r| {
                r.channels.push(c.id);
                r.spec.cooldown_seconds = 0;
                Ok(())
            })
            .await));
        ops.push(op!("enqueue_signals", [], |s| s
            .enqueue_signals(
                vec![(b, Signal::MonitorDown { monitor: uuid::Uuid::nil(), name: "m".into(), failed: false })],
                8_000
            )
            .await));
        ops.push(op!("check_waiting_approvals", [], |s| s.check_waiting_approvals(10_000_000).await));
        ops.push(op!("apply_alert_outbox", [], |s| s.apply_alert_outbox(10_000_000).await));
        let r = f.spare_rule.clone();
        ops.push(op!("delete_alert_rule", [r], |s| s.delete_alert_rule(b, r.id).await));
        let r = f.rule.clone();
        ops.push(op!("update_alert_rule_drop_a_channel", [r], |s| s
            .update_alert_rule(b, r.id, 9_000, |r| {
                r.channels.truncate(1);
                Ok(())
            })
            .await));
        let c = f.spare_channel.clone();
        ops.push(op!("delete_channel", [c], |s| s.delete_channel(b, c.id).await));
    }
    let w = wf.clone();
    ops.push(op!("delete_workflow", [w], |s| s.delete_workflow(b, w.id, 10).await));
    let dd = sd.clone();
    ops.push(op!("delete_domain", [dd], |s| s.delete_domain(b, dd.id).await));
    ops
}

/// Runs `op` with the `store::write` failpoint failing the write after the first `k` ones with
/// `action`, for k = 0, 1, 2... until the operation gets through: every failed attempt must
/// leave the store byte-for-byte unchanged. Returns how many writes the operation made.
async fn fail_after_each_write(store: &Store, name: &str, op: &Op, action: &str) -> usize {
    for k in 0..200 {
        let before = store.dump().unwrap();
        fail::cfg("store::write", &format!("{k}*off->{action}")).unwrap();
        store.inject_faults(true);
        let result = op(store.clone()).await;
        store.inject_faults(false);
        fail::remove("store::write");
        match result {
            Ok(()) => {
                assert!(k > 0, "{name}: succeeded although its first write failed");
                return k;
            }
            Err(e) => {
                let after = store.dump().unwrap();
                assert!(before == after, "{name}: failing write #{} ({action}) left a change behind: {e}", k + 1);
            }
        }
    }
    panic!("{name}: still failing after 200 writes");
}

#[tokio::test]
async fn every_operation_writes_nothing_when_it_fails_after_any_of_its_writes() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let mut counted = Vec::new();
    for (name, op) in operations(&fx) {
        // A fault that is not an I/O error: the writer undoes the operation's writes and
        // commits the rest of the batch.
        let writes = fail_after_each_write(&store, name, &op, "return(corrupt)").await;
        counted.push((name, writes));
    }
    // The prune passes exercise records of every kind they remove: five executions with their
    // index rows (status, target, time, expiry, schedule; one has no schedule), a run with its
    // index row and its plan; a run without its execution and its plan; a stray plan. (The
    // counters are written once per batch, after its operations:
    // `a_failed_batch_counter_write_fails_the_whole_batch_and_changes_nothing`.)
    let writes = |name: &str| counted.iter().find(|(n, _)| *n == name).map(|(_, w)| *w);
    assert_eq!(writes("prune_executions"), Some(29), "{counted:?}");
    assert_eq!(writes("prune_runs"), Some(3), "{counted:?}");
    assert_eq!(writes("prune_plans"), Some(2), "{counted:?}");
    assert!(counted.iter().all(|(_, n)| *n >= 1), "{counted:?}");
    // A ping that keeps the status writes its row, the state and the deadline index; a delete
    // removes the history (2 pings; 3 status changes: fail, pause, resume) and the five other
    // records (slug, token, deadline, state, monitor).
    assert_eq!(writes("record_ping"), Some(3), "{counted:?}");
    assert_eq!(writes("delete_monitor"), Some(10), "{counted:?}");
    // Applying the outbox: the queued signals (two monitor_down, one approval_waiting per
    // waiting plan) each write history, count, cooldown, channel executions and their
    // pending index, and leave the outbox.
    assert!(writes("apply_alert_outbox").is_some_and(|n| n >= 10), "{counted:?}");
    // A stage that advances writes the instance, the monitor state, the pipeline state and the
    // deadline index; a refusal the same (its event is recorded in the instance).
    assert_eq!(writes("record_stage"), Some(4), "{counted:?}");
    assert_eq!(writes("record_stage_refused"), Some(4), "{counted:?}");
    assert!(counted.len() >= 52, "every write operation is exercised: {counted:?}");
}

/// Heartbeat pings on a pipeline monitor, and stage pings on a heartbeat monitor or naming a
/// stage the pipeline does not list, are refused and write nothing.
#[tokio::test]
async fn refused_pings_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let before = store.dump().unwrap();
    use crate::monitor::heartbeat::PingKind;
    let e = store.record_ping(ping_write(PingTarget::Token([46; 32]), PingKind::Success, 9_000)).await.unwrap_err();
    assert!(matches!(&e, StoreError::State(m) if m.contains("kind: pipeline")), "{e}");
    let r = store.record_stage(stage_write(PingTarget::Token([40; 32]), "1", 9_000)).await.unwrap();
    assert!(matches!(r, StageResult::NotPipeline), "{r:?}");
    let r = store.record_stage(stage_write(PingTarget::Token([46; 32]), "9", 9_000)).await.unwrap();
    assert!(matches!(r, StageResult::UnknownStage), "{r:?}");
    let r = store.record_stage(stage_write(PingTarget::Token([99; 32]), "1", 9_000)).await.unwrap();
    assert!(matches!(r, StageResult::NotFound), "{r:?}");
    let e = store.set_monitor_paused(fx.brand, fx.pipeline.id, true, 9_000).await.unwrap_err();
    assert!(matches!(e, StoreError::State(_)), "{e}");
    assert!(before == store.dump().unwrap(), "a refused ping changed the store");

    // A stage out of strict order is refused but recorded in the instance's history.
    let r = store.record_stage(stage_write(PingTarget::Token([46; 32]), "3", 9_500)).await.unwrap();
    let StageResult::Applied(c) = r else { panic!("{r:?}") };
    assert!(c.refused.is_some());
    let (_, inst) = store.get_instance(fx.brand, fx.instance).unwrap().expect("instance");
    assert_eq!((inst.refused_total, inst.events.len()), (1, 2));
    assert!(!inst.events[1].accepted);
    // The stall deadline is in the heartbeat deadline index, and a deadline pass stalls it.
    let mut armed = Vec::new();
    store.for_each_monitor_deadline(|_, id, d| armed.push((id, d))).unwrap();
    assert!(armed.contains(&(fx.pipeline.id, 11_000)), "{armed:?}");
    let changes = store.monitor_deadlines(vec![(fx.brand, fx.pipeline.id)], 11_000).await.unwrap();
    assert_eq!(changes[0].pipeline_signals.len(), 1);
    assert_eq!(changes[0].pipeline_signals[0].as_str(), "stalled");
    assert_eq!(changes[0].transition.state.status, crate::monitor::heartbeat::Status::Down);
    assert_eq!(changes[0].deadline, None);
    let (_, inst) = store.get_instance(fx.brand, fx.instance).unwrap().expect("instance");
    assert_eq!(inst.status, crate::monitor::pipeline::InstanceStatus::Stalled);
}

#[tokio::test]
async fn a_panicking_operation_is_undone_and_the_writer_keeps_serving() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let before = store.dump().unwrap();
    // The second write of update_domain (its name index) panics.
    fail::cfg("store::write", "1*off->panic").unwrap();
    store.inject_faults(true);
    let mut d = fx.domain.clone();
    d.host = "panic.example".into();
    let r = store.update_domain(d).await;
    store.inject_faults(false);
    fail::remove("store::write");
    assert!(matches!(r, Err(StoreError::Panicked)), "{r:?}");
    assert!(before == store.dump().unwrap(), "the panicking operation left a change behind");
    // The writer still serves, and the store is healthy.
    store.create_domain(domain(fx.brand, "after.example")).await.unwrap();
    assert!(store.write_health().writable);
    assert!(store.find_domain(fx.brand, Protocol::Https, "after.example").unwrap().is_some());
}

/// Waits (bounded) for the writer's probe to find the store writable again, then dumps it
/// without the probe's own key.
async fn dump_once_recovered(store: &Store) -> Vec<DumpRow> {
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if store.write_health().writable {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the store did not recover: {:?}", store.write_health());
    store.dump().unwrap().into_iter().filter(|(t, k, _)| !(*t == "meta" && k == b"write_probe")).collect()
}

#[tokio::test]
async fn a_failed_commit_fails_the_batch_marks_the_store_unwritable_and_recovers() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let before = store.dump().unwrap();
    fail::cfg("store::commit", "return").unwrap();
    store.inject_faults(true);
    let r = store.create_domain(domain(fx.brand, "lost.example")).await;
    assert!(matches!(r, Err(StoreError::Unavailable { disk_full: true, .. })), "{r:?}");
    let h = store.write_health();
    assert!(!h.writable && h.disk_full, "{h:?}");
    // While it cannot write, writes fail at once with the same error; reads work after the
    // database is reopened (or fail as unavailable, never as "not found").
    let r = store.create_domain(domain(fx.brand, "lost2.example")).await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    fail::remove("store::commit");
    store.inject_faults(false);
    let after = dump_once_recovered(&store).await;
    assert!(before == after, "nothing of the failed batch was written");
    store.create_domain(domain(fx.brand, "back.example")).await.unwrap();
    assert!(store.find_domain(fx.brand, Protocol::Https, "back.example").unwrap().is_some());
}

/// The list counters of a batch are written once, after its operations: an I/O error there
/// fails the whole batch like a failed commit (records and counters unchanged), and once the
/// store recovers the counters count what was written, no more.
#[tokio::test]
async fn a_failed_batch_counter_write_fails_the_whole_batch_and_changes_nothing() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let target = fx.template.id.0;
    let total = |store: &Store| store.list_executions(fx.brand, &ExecutionFilter::default(), 1, 1).unwrap().total;
    let n = total(&store);
    let before = store.dump().unwrap();
    fail::cfg("store::counts", "return(eio)").unwrap();
    store.inject_faults(true);
    let lost = Execution::manual(fx.brand, None, (TargetKind::Webhook, target), Map::new(), 5);
    let r = store.create_execution(lost.clone()).await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    fail::remove("store::counts");
    store.inject_faults(false);
    let after = dump_once_recovered(&store).await;
    assert!(before == after, "nothing of the failed batch was written");
    assert!(store.get_execution(fx.brand, lost.id).unwrap().is_none());
    let kept = Execution::manual(fx.brand, None, (TargetKind::Webhook, target), Map::new(), 6);
    store.create_execution(kept).await.unwrap();
    assert_eq!(total(&store), n + 1, "the counter counts the one written");
    super::ops::index::assert_consistent(&store);
}

#[tokio::test]
async fn an_io_fault_inside_an_operation_fails_its_batch_and_the_store_recovers() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    let before = store.dump().unwrap();
    fail::cfg("store::write", "1*off->return(eio)").unwrap();
    store.inject_faults(true);
    let mut t = fx.template.clone();
    t.path = "/io".into();
    let r = store.create_template(t, None).await;
    store.inject_faults(false);
    fail::remove("store::write");
    assert!(matches!(r, Err(StoreError::Unavailable { disk_full: false, .. })), "{r:?}");
    assert!(!store.write_health().writable);
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if store.create_domain(domain(fx.brand, "io-after.example")).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "writes did not resume: {:?}", store.write_health());
    let after = store.dump().unwrap();
    assert!(
        before.iter().all(|row| after.contains(row)) && after.len() > before.len(),
        "the failed create left nothing, the later create committed"
    );
}

#[tokio::test]
async fn read_faults_are_errors_not_absent_records() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fx = fixture(&store).await;
    for (point, action) in [("store::read", "return"), ("store::get", "return(eio)")] {
        fail::cfg(point, action).unwrap();
        store.inject_faults(true);
        let t = store.get_template(fx.brand, fx.template.id);
        let d = store.find_domain(fx.brand, Protocol::Https, "a.example");
        let s = store.find_secret(fx.brand, "tok");
        let e = store.get_execution(fx.brand, fx.execution.id);
        store.inject_faults(false);
        fail::remove(point);
        assert!(matches!(t, Err(StoreError::Unavailable { .. })), "{point}: {t:?}");
        assert!(matches!(d, Err(StoreError::Unavailable { .. })), "{point}: {d:?}");
        assert!(s.is_err(), "{point}: a secret read fault is an error");
        assert!(e.is_err(), "{point}: an execution read fault is an error");
    }
    assert!(store.get_template(fx.brand, fx.template.id).unwrap().is_some());
}
