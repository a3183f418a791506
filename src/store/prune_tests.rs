//! Retention pruning on a temp store: many records go in several batches; unfinished
//! executions, live runs and their plans stay; indexes stay consistent; a candidate that
//! changed between the read and the write is left alone.

use serde_json::Map;

use super::ops::prune::PRUNE_BATCH_MAX;
use super::ops::schedules::upsert_executions;
use super::tables::{EXECUTIONS, IDEMPOTENCY, PLANS, RUNS, SCHEDULES};
use super::*;
use crate::model::*;

/// The retention cutoff the tests prune at.
const CUTOFF: i64 = 5_000;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("s.redb"),
        WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 64,
            cache_bytes: crate::store::CACHE_BYTES_DEFAULT,
            ..Default::default()
        },
        Metrics::new(),
    )
    .expect("open store")
}

fn execution(brand: BrandId, schedule: Option<ScheduleId>, finished_ms: Option<i64>) -> Execution {
    let mut e = Execution::manual(brand, schedule, (TargetKind::Webhook, uuid::Uuid::now_v7()), Map::new(), 0);
    if let Some(f) = finished_ms {
        e.status = ExecutionStatus::Succeeded;
        e.finished_ms = Some(f);
    }
    e
}

/// Writes executions 1,000 per store write.
async fn insert(store: &Store, execs: Vec<Execution>) {
    for chunk in execs.chunks(1_000) {
        let chunk = chunk.to_vec();
        store.write(move |w| upsert_executions(w, &chunk)).await.unwrap();
    }
}

fn run(brand: BrandId, id: ExecutionId, status: RunStatus, plans: &[PlanId]) -> Run {
    Run {
        id,
        brand,
        workflow: WorkflowId::new(),
        status,
        initial_context: Map::new(),
        visits: plans
            .iter()
            .map(|p| StepRun {
                step: StepId::new(),
                identifier: "a".into(),
                index: 0,
                status: StepStatus::Succeeded,
                execution: None,
                status_code: None,
                response: None,
                error: None,
                started_ms: Some(0),
                finished_ms: Some(0),
                context: None,
                plan: Some(*p),
            })
            .collect(),
        waiting: None,
        steps_started: 1,
        workflow_retries: 0,
        created_ms: 0,
        finished_ms: status.is_finished().then_some(1_000),
        reason: None,
    }
}

/// A standalone approval request (no run) of `brand` in `status`.
pub(super) fn standalone_plan(brand: BrandId, status: PlanStatus) -> ApprovalPlan {
    let mut p = plan(brand, ExecutionId(uuid::Uuid::nil()), status);
    p.standalone = Some(Box::new(StandaloneApproval {
        title: "t".into(),
        context: Map::new(),
        on_approve: None,
        on_reject: None,
        timed_out: false,
        execution: None,
    }));
    p
}

pub(super) fn plan(brand: BrandId, run: ExecutionId, status: PlanStatus) -> ApprovalPlan {
    ApprovalPlan {
        id: PlanId::new(),
        brand,
        run,
        workflow: WorkflowId::new(),
        workflow_name: "w".into(),
        step: StepId::new(),
        identifier: "a".into(),
        index: 0,
        visit: 0,
        delay_to_next_step_seconds: 0,
        status,
        deadline_ms: None,
        timeout_action: TimeoutAction::Reject,
        decided_by: None,
        decided_at: None,
        created_ms: 0,
        notes: None,
        standalone: None,
    }
}

fn keys_of(store: &Store, table: tables::Bytes) -> Vec<Vec<u8>> {
    store
        .read(|r| {
            let t = r.open_table(table).map_err(StoreError::from_db)?;
            let mut out = Vec::new();
            ops::scan_prefix(&t, &[], |k, _| {
                out.push(k.to_vec());
                Ok(true)
            })?;
            Ok(out)
        })
        .unwrap()
}

/// Every execution row in the schedule table names an existing execution of that schedule,
/// and every execution of a schedule has its row; the executions resumed after a restart are exactly the
/// unfinished ones, as many as the status counters say.
fn assert_indexes_consistent(store: &Store) {
    let by_schedule: Vec<Vec<u8>> =
        keys_of(store, SCHEDULES).into_iter().filter(|k| k.len() > ops::index::SCHEDULE_KEY_LEN).collect();
    let mut expected = Vec::new();
    let mut unfinished = 0;
    for k in keys_of(store, EXECUTIONS) {
        let e = store
            .get_execution(
                BrandId(uuid::Uuid::from_slice(&k[..16]).unwrap()),
                ExecutionId(uuid::Uuid::from_slice(&k[16..]).unwrap()),
            )
            .unwrap()
            .unwrap();
        unfinished += usize::from(!e.status.is_finished());
        if let Some(s) = e.schedule {
            expected.push(ops::index::schedule_row_key(e.brand.as_bytes(), s.as_bytes(), e.id.as_bytes()));
        }
    }
    expected.sort();
    assert_eq!(by_schedule, expected, "the schedule table's execution rows out of step with executions");
    let pending = pending(store);
    assert_eq!(pending.len(), unfinished, "every unfinished execution is resumed, once");
    assert_eq!(store.pending_count().unwrap(), unfinished as u64);
    assert!(pending.iter().all(|e| !e.status.is_finished()));
    super::ops::index::assert_consistent(store);
}

#[tokio::test]
async fn finished_executions_are_pruned_in_batches_and_unfinished_or_recent_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let brand = BrandId::new();
    let schedules = [ScheduleId::new(), ScheduleId::new(), ScheduleId::new()];
    // Two full batches and part of a third (with the two below).
    let old = 2 * PRUNE_BATCH_MAX + PRUNE_BATCH_MAX / 2;
    let mut execs = Vec::new();
    for i in 0..old {
        // Old finished ones, interleaved (in key order) with ones that must stay.
        execs.push(execution(brand, Some(schedules[i % 3]), Some(1_000)));
        if i % 25 == 0 {
            execs.push(execution(brand, Some(schedules[i % 3]), None));
            execs.push(execution(brand, Some(schedules[i % 3]), Some(CUTOFF)));
            execs.push(execution(brand, None, Some(CUTOFF + 1)));
        }
    }
    // A cancelled one (finished) and a failed one without a schedule, both old.
    let mut cancelled = execution(brand, Some(schedules[0]), Some(10));
    cancelled.status = ExecutionStatus::Cancelled;
    let mut failed = execution(brand, None, Some(10));
    failed.status = ExecutionStatus::Failed;
    execs.extend([cancelled, failed]);
    let kept: Vec<ExecutionId> =
        execs.iter().filter(|e| !e.status.is_finished() || e.finished_ms >= Some(CUTOFF)).map(|e| e.id).collect();
    insert(&store, execs).await;
    let pending_before = pending(&store).len();
    assert_indexes_consistent(&store);

    let c = store.prune_executions(CUTOFF).await.unwrap();
    assert_eq!(c.executions, old as u64 + 2, "{c:?}");
    assert_eq!((c.runs, c.plans, c.idempotency), (0, 0, 0));
    assert_eq!(c.batches, 3, "{c:?}: batches of at most {PRUNE_BATCH_MAX}");
    let left: Vec<ExecutionId> =
        keys_of(&store, EXECUTIONS).iter().map(|k| ExecutionId(uuid::Uuid::from_slice(&k[16..]).unwrap())).collect();
    let mut want = kept.clone();
    want.sort_by_key(|id| id.0);
    assert_eq!(left, want, "exactly the unfinished and recent executions stay");
    assert_eq!(pending(&store).len(), pending_before);
    assert_indexes_consistent(&store);
    let page = store
        .list_executions(brand, &ExecutionFilter { schedule: Some(schedules[1]), ..Default::default() }, 1, 1000)
        .unwrap();
    assert!(page.items.iter().all(|e| kept.contains(&e.id)) && page.total > 0);

    // A second pass finds nothing.
    let again = store.prune_executions(CUTOFF).await.unwrap();
    assert_eq!((again.removed(), again.batches), (0, 0));
}

#[tokio::test]
async fn runs_and_plans_go_with_their_execution_never_while_the_run_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let b = BrandId::new();
    let step_of = |run: ExecutionId, finished: i64| {
        let mut e = execution(b, None, Some(finished));
        e.step = Some(StepRef { run, workflow: WorkflowId::new(), step: StepId::new(), visit: 0 });
        e
    };

    // A live run: its own execution pending, an old finished step execution, a waiting plan.
    let live_exec = execution(b, None, None);
    let live_step = step_of(live_exec.id, 1_000);
    let live_plan = plan(b, live_exec.id, PlanStatus::WaitingApproval);
    let live = run(b, live_exec.id, RunStatus::WaitingApproval, &[live_plan.id]);
    // A live run whose own execution is (wrongly) finished and old: it stays anyway.
    let odd_exec = execution(b, None, Some(1_000));
    let odd = run(b, odd_exec.id, RunStatus::Running, &[]);
    // A finished old run: execution, a step execution, its approved plan: all go.
    let done_exec = execution(b, None, Some(1_000));
    let done_step = step_of(done_exec.id, 1_000);
    let done_plan = plan(b, done_exec.id, PlanStatus::Approved);
    // A finished run that ended after the cutoff: stays, with its plan.
    let recent_exec = execution(b, None, Some(CUTOFF + 10));
    let recent_plan = plan(b, recent_exec.id, PlanStatus::Approved);
    let recent = run(b, recent_exec.id, RunStatus::Succeeded, &[recent_plan.id]);
    // The done run's visits also name the recent run's plan (a rerun carries earlier visits
    // over): that plan belongs to the recent run and stays.
    let done = run(b, done_exec.id, RunStatus::Failed, &[done_plan.id, recent_plan.id]);
    // Left from before runs were pruned: a finished run without its execution (goes, with
    // its plan), an unfinished one (stays), and a plan whose run is gone (goes).
    let orphan_plan = plan(b, ExecutionId::new(), PlanStatus::Rejected);
    let orphan = run(b, orphan_plan.run, RunStatus::Succeeded, &[orphan_plan.id]);
    let orphan_live = run(b, ExecutionId::new(), RunStatus::Running, &[]);
    let stray_plan = plan(b, ExecutionId::new(), PlanStatus::WaitingApproval);

    insert(
        &store,
        vec![
            live_exec.clone(),
            live_step.clone(),
            odd_exec.clone(),
            done_exec.clone(),
            done_step.clone(),
            recent_exec.clone(),
        ],
    )
    .await;
    store
        .write_run(RunWrite {
            runs: vec![live.clone(), odd.clone(), done.clone(), recent.clone(), orphan.clone(), orphan_live.clone()],
            plans: vec![
                live_plan.clone(),
                done_plan.clone(),
                recent_plan.clone(),
                orphan_plan.clone(),
                stray_plan.clone(),
            ],
            executions: Vec::new(),
        })
        .await
        .unwrap();

    let c = store.prune_executions(CUTOFF).await.unwrap();
    assert_eq!((c.executions, c.runs, c.plans), (2, 1, 1), "{c:?}");
    assert!(store.get_execution(b, done_exec.id).unwrap().is_none());
    assert!(store.get_execution(b, done_step.id).unwrap().is_none());
    assert!(store.get_run(b, done.id).unwrap().is_none());
    assert!(store.get_plan(b, done_plan.id).unwrap().is_none());
    for e in [&live_exec, &live_step, &odd_exec, &recent_exec] {
        assert!(store.get_execution(b, e.id).unwrap().is_some(), "{e:?} was pruned");
    }
    for r in [&live, &odd, &recent, &orphan, &orphan_live] {
        assert_eq!(store.get_run(b, r.id).unwrap().as_ref(), Some(r));
    }

    let c = store.prune_runs().await.unwrap();
    assert_eq!((c.executions, c.runs, c.plans), (0, 1, 1), "{c:?}");
    assert!(store.get_run(b, orphan.id).unwrap().is_none());
    assert!(store.get_plan(b, orphan_plan.id).unwrap().is_none());
    assert!(store.get_run(b, orphan_live.id).unwrap().is_some(), "an unfinished run is never pruned");

    let c = store.prune_plans(CUTOFF).await.unwrap();
    assert_eq!(c.plans, 1, "{c:?}");
    assert!(store.get_plan(b, stray_plan.id).unwrap().is_none());
    for p in [&live_plan, &recent_plan] {
        assert_eq!(store.get_plan(b, p.id).unwrap().as_ref(), Some(p));
    }
    assert_eq!(store.all_waiting_plans().unwrap(), vec![live_plan.clone()]);
    assert_eq!(keys_of(&store, RUNS).len(), 4);
    assert_eq!(keys_of(&store, PLANS).len(), 2);
    assert_indexes_consistent(&store);
}

#[tokio::test]
async fn idempotency_records_past_the_ttl_are_pruned_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let brand = BrandId::new();
    let reply = |created_ms| IdempotentReply {
        action: "add_domain".into(),
        request_hash: [0; 32],
        status: 200,
        body: "{}".into(),
        created_ms,
    };
    let old = PRUNE_BATCH_MAX + 20;
    for i in 0..old + 7 {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let created = if i < old { CUTOFF - 1 } else { CUTOFF };
        store.put_idempotent(brand, hash, reply(created)).await.unwrap();
    }
    let c = store.prune_idempotent(CUTOFF).await.unwrap();
    assert_eq!((c.idempotency, c.batches), (old as u64, 2), "{c:?}");
    assert_eq!(keys_of(&store, IDEMPOTENCY).len(), 7);
}

#[tokio::test]
async fn a_candidate_that_changed_since_the_read_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let b = BrandId::new();
    let a = execution(b, None, Some(1_000));
    let moved = execution(b, None, Some(1_000));
    let live_exec = execution(b, None, Some(1_000));
    insert(&store, vec![a.clone(), moved.clone(), live_exec.clone()]).await;
    let found = store.prune_candidates_for_tests(CUTOFF).unwrap();
    assert_eq!(found.len(), 3);
    // Between the read and the batch: one execution is re-recorded as finishing later, and a
    // run that is still running appears for another.
    let mut later = moved.clone();
    later.finished_ms = Some(CUTOFF + 1);
    store.put_execution(&later).await.unwrap();
    store
        .write_run(RunWrite { runs: vec![run(b, live_exec.id, RunStatus::Running, &[])], ..Default::default() })
        .await
        .unwrap();
    let c = store.prune_batch_for_tests(CUTOFF, found).await.unwrap();
    assert_eq!((c.executions, c.batches), (1, 1), "{c:?}");
    assert!(store.get_execution(b, a.id).unwrap().is_none());
    assert!(store.get_execution(b, moved.id).unwrap().is_some());
    assert!(store.get_execution(b, live_exec.id).unwrap().is_some());
}

#[tokio::test]
async fn a_pass_continues_past_read_windows_without_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let b = BrandId::new();
    // In key order: 30 recent ones, then 10 old ones, then 30 recent ones again.
    let mut execs: Vec<Execution> = (0..30).map(|_| execution(b, None, Some(CUTOFF))).collect();
    execs.extend((0..10).map(|_| execution(b, None, Some(1))));
    execs.extend((0..30).map(|_| execution(b, None, Some(CUTOFF))));
    insert(&store, execs).await;
    let c = store.prune_executions_with(CUTOFF, 7, 4).await.unwrap();
    assert_eq!(c.executions, 10, "{c:?}");
    assert!(c.batches >= 3, "{c:?}");
    assert_eq!(keys_of(&store, EXECUTIONS).len(), 60);
}

/// Every unfinished execution.
fn pending(store: &Store) -> Vec<Execution> {
    let mut out = Vec::new();
    store.for_each_pending(|e| out.push(e), |id, e| panic!("{id:?}: {e}")).unwrap();
    out
}

#[tokio::test]
async fn standalone_approval_requests_are_never_orphans_and_go_once_decided_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let b = BrandId::new();
    let standalone = |status: PlanStatus| standalone_plan(b, status);
    let decided_at = |status: PlanStatus, at: i64| {
        let mut p = standalone(status);
        p.decided_at = Some(at);
        p
    };
    let waiting = store.create_plan(standalone(PlanStatus::WaitingApproval)).await.unwrap();
    let recent = store.create_plan(decided_at(PlanStatus::Approved, CUTOFF)).await.unwrap();
    let old = store.create_plan(decided_at(PlanStatus::Rejected, CUTOFF - 1)).await.unwrap();
    let stray = store.create_plan(plan(b, ExecutionId::new(), PlanStatus::WaitingApproval)).await.unwrap();
    let counts = store.prune_plans(CUTOFF).await.unwrap();
    assert_eq!(counts.plans, 2, "the stray plan and the request decided before the cutoff");
    assert_eq!(store.get_plan(b, stray.id).unwrap(), None);
    assert_eq!(store.get_plan(b, old.id).unwrap(), None);
    assert_eq!(store.get_plan(b, recent.id).unwrap(), Some(recent));
    assert_eq!(store.all_waiting_plans().unwrap(), vec![waiting.clone()]);
    // A waiting request stays whatever the cutoff.
    store.prune_plans(i64::MAX).await.unwrap();
    assert_eq!(store.get_plan(b, waiting.id).unwrap(), Some(waiting));
}

#[tokio::test]
async fn a_brand_holds_at_most_the_cap_of_waiting_standalone_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (b, other) = (BrandId::new(), BrandId::new());
    let standalone = standalone_plan;
    for _ in 0..STANDALONE_WAITING_MAX {
        store.create_plan(standalone(b, PlanStatus::WaitingApproval)).await.unwrap();
    }
    let err = store.create_plan(standalone(b, PlanStatus::WaitingApproval)).await.unwrap_err();
    assert!(matches!(&err, StoreError::State(m) if m.contains("1000 approval requests waiting")), "{err}");
    // Decided requests, workflow steps' plans and other brands do not count.
    store.create_plan(standalone(b, PlanStatus::Approved)).await.unwrap();
    store.create_plan(plan(b, ExecutionId::new(), PlanStatus::WaitingApproval)).await.unwrap();
    store.create_plan(standalone(other, PlanStatus::WaitingApproval)).await.unwrap();
    assert_eq!(keys_of(&store, PLANS).len(), STANDALONE_WAITING_MAX + 3);
    // Sent all at once, the requests share the writer's batches, whose counter changes are
    // written after their last operation: each check still sees the ones before it.
    let third = BrandId::new();
    let sent: Vec<_> = (0..STANDALONE_WAITING_MAX + 10)
        .map(|_| {
            let (store, p) = (store.clone(), standalone(third, PlanStatus::WaitingApproval));
            tokio::spawn(async move { store.create_plan(p).await })
        })
        .collect();
    let mut created = 0;
    for r in sent {
        match r.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert!(matches!(&e, StoreError::State(_)), "{e}"),
        }
    }
    assert_eq!(created, STANDALONE_WAITING_MAX, "the cap holds for requests sharing batches");
}
