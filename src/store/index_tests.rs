//! The indexed list reads against a full scan: after random writes, status changes,
//! cancellations and pruning, every filter combination gives the same page and total as
//! filtering every record; and stores written by earlier releases (schemas 1 and 2) open,
//! migrate and answer as they did.

use serde_json::Map;

use super::ops::index::assert_consistent;
use super::ops::schedules::upsert_executions;
use super::tables::EXECUTIONS;
use super::*;
use crate::model::*;
use std::time::Duration;

/// An active schedule firing every minute (the store tests' common record).
pub(super) fn schedule(brand: BrandId, target_kind: TargetKind, target: uuid::Uuid) -> Schedule {
    Schedule {
        id: ScheduleId::new(),
        brand,
        name: Some("s".into()),
        target_kind,
        target_id: target,
        driver: crate::schedule::Driver::Interval(crate::schedule::interval::IntervalSpec {
            value: 1,
            period: crate::schedule::interval::Period::Minute,
            anchor_ms: 0,
            anchor_fires: false,
            one_off: false,
        }),
        initial_context: Map::new(),
        misfire: MisfirePolicy::FireOnce,
        misfire_grace_seconds: 60,
        overlap: OverlapPolicy::Allow,
        jitter_seconds: 0,
        status: ScheduleStatus::Active,
        reason: None,
        rules: Vec::new(),
        next_fire_ms: Some(60_000),
        last_run_ms: None,
        total_triggered: 0,
        debounce: Default::default(),
        buffered_ms: None,
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn settings() -> WriterSettings {
    WriterSettings {
        commit_batch_max: 64,
        write_queue_capacity: 64,
        cache_bytes: CACHE_BYTES_DEFAULT,
        ..Default::default()
    }
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all_executions(store: &Store, brand: BrandId) -> Vec<Execution> {
    store
        .read(|r| {
            let t = r.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            ops::all_prefix(&t, "executions", brand.as_bytes())
        })
        .unwrap()
}

/// What a list must answer, computed from every record: filtered, newest first (by id; by
/// scheduled instant then id when a time range is the only filter), one page.
fn oracle(all: &[Execution], f: &ExecutionFilter, page: u64, per_page: u64) -> (Vec<ExecutionId>, u64) {
    let mut hits: Vec<&Execution> = all.iter().filter(|e| f.matches(e)).collect();
    let time_only = f.status.is_none() && f.schedule.is_none() && f.target.is_none();
    if time_only && (f.from_ms.is_some() || f.to_ms.is_some()) {
        hits.sort_by_key(|e| std::cmp::Reverse((e.scheduled_ms, e.id)));
    } else {
        hits.sort_by_key(|e| std::cmp::Reverse(e.id));
    }
    let skip = ((page - 1) * per_page) as usize;
    (hits.iter().skip(skip).take(per_page as usize).map(|e| e.id).collect(), hits.len() as u64)
}

#[tokio::test]
async fn every_filter_combination_pages_like_a_full_scan_after_writes_updates_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let brands = [BrandId::new(), BrandId::new()];
    let schedules = [ScheduleId::new(), ScheduleId::new(), ScheduleId::new()];
    let targets = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    let mut made: Vec<Execution> = Vec::new();
    for round in 0..6 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            let brand = brands[g.below(2) as usize];
            let schedule = match g.below(4) {
                3 => None,
                i => Some(schedules[i as usize]),
            };
            let target = targets[g.below(2) as usize];
            let at = g.below(10_000) as i64 - 1_000;
            let mut e = Execution::manual(brand, schedule, (TargetKind::Webhook, target), Map::new(), at);
            e.status = ExecutionStatus::ALL[g.below(7) as usize];
            if e.status.is_finished() {
                e.finished_ms = Some(at + g.below(3_000) as i64);
            }
            batch.push(e);
        }
        made.extend(batch.iter().cloned());
        store.write(move |w| upsert_executions(w, &batch)).await.unwrap();
        // Status changes through the operations the engine uses.
        for _ in 0..20 {
            let mut e = made[g.below(made.len() as u64) as usize].clone();
            let Some(current) = store.get_execution(e.brand, e.id).unwrap() else { continue };
            if round % 2 == 0 && !current.status.is_finished() {
                store.cancel_execution(e.brand, e.id, 4_000).await.unwrap();
            } else {
                e.status = ExecutionStatus::ALL[g.below(7) as usize];
                e.finished_ms = e.status.is_finished().then_some(g.below(9_000) as i64);
                store.put_execution(&e).await.unwrap();
            }
        }
    }
    let pruned = store.prune_executions(2_500).await.unwrap();
    assert!(pruned.executions > 0, "the pruning step removed nothing: {pruned:?}");
    assert_consistent(&store);

    let mut statuses: Vec<Option<ExecutionStatus>> = vec![None];
    statuses.extend(ExecutionStatus::ALL.map(Some));
    let times = [(None, None), (Some(2_000), Some(7_000)), (Some(4_000), None), (None, Some(1_000))];
    let mut checked = 0;
    for brand in brands {
        let all = all_executions(&store, brand);
        for status in &statuses {
            for schedule in [None, Some(schedules[0]), Some(ScheduleId::new())] {
                for target in [None, Some(targets[1])] {
                    for (from_ms, to_ms) in times {
                        let f = ExecutionFilter { schedule, status: *status, target, from_ms, to_ms };
                        for page in 1..=3 {
                            let got = store.list_executions(brand, &f, page, 7).unwrap();
                            let (ids, total) = oracle(&all, &f, page, 7);
                            assert_eq!(got.total, total, "total of {f:?}");
                            assert_eq!(got.items.iter().map(|e| e.id).collect::<Vec<_>>(), ids, "page {page} of {f:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 8 * 3 * 2 * 4 * 3);
}

#[tokio::test]
async fn schedules_list_by_status_through_the_index_with_exact_totals() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let brand = Brand { id: BrandId::new(), name: "b".into(), timezone: "UTC".into(), created_ms: 0 };
    store.create_brand(brand.clone()).await.unwrap();
    let workflow = WorkflowId::new();
    let mut ids = Vec::new();
    for _ in 0..25 {
        let s = schedule(brand.id, TargetKind::Workflow, workflow.0);
        ids.push(store.create_schedule(s).await.unwrap().id);
    }
    for id in ids.iter().step_by(3) {
        store
            .update_schedule(brand.id, *id, 10, |s| {
                s.status = ScheduleStatus::Paused;
                Ok(())
            })
            .await
            .unwrap();
    }
    store.delete_schedule(brand.id, ids[1]).await.unwrap();
    store.delete_schedule(brand.id, ids[3]).await.unwrap();
    assert_consistent(&store);
    let all = store.list_schedules(brand.id, None, 1, 100).unwrap();
    assert_eq!(all.total, 23);
    assert_eq!(all.items.len(), 23);
    let paused = store.list_schedules(brand.id, Some(ScheduleStatus::Paused), 1, 100).unwrap();
    let want: Vec<ScheduleId> = ids.iter().step_by(3).copied().filter(|id| *id != ids[3]).collect();
    assert_eq!(paused.total, want.len() as u64);
    assert_eq!(paused.items.iter().map(|s| s.id).collect::<Vec<_>>(), want, "oldest first");
    let page2 = store.list_schedules(brand.id, Some(ScheduleStatus::Active), 2, 5).unwrap();
    assert_eq!(page2.total, 23 - want.len() as u64);
    let active: Vec<ScheduleId> =
        all.items.iter().filter(|s| s.status == ScheduleStatus::Active).map(|s| s.id).skip(5).take(5).collect();
    assert_eq!(page2.items.iter().map(|s| s.id).collect::<Vec<_>>(), active);
}

/// A fire computed from a version the schedule no longer has, or of a schedule deleted
/// meanwhile, is refused and changes nothing (the record, the rows, the counters), also in a
/// batch whose other fire commits.
#[tokio::test]
async fn a_stale_fire_or_one_of_a_deleted_schedule_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let b = BrandId::new();
    let workflow = uuid::Uuid::now_v7();
    let s = store.create_schedule(schedule(b, TargetKind::Workflow, workflow)).await.unwrap();
    let fire = |s: &Schedule, expected_version: u64| FireWrite {
        schedule: Schedule { next_fire_ms: Some(120_000), ..s.clone() },
        expected_version,
        executions: vec![Execution::manual(b, Some(s.id), (TargetKind::Workflow, workflow), Map::new(), 60_000)],
    };
    let before = raw_schedule(&store, b, s.id);
    assert_eq!(store.record_fires(vec![fire(&s, s.version + 1)]).await.unwrap(), [false]);
    assert_eq!(raw_schedule(&store, b, s.id), before, "a stale fire leaves the record as it was");
    assert_eq!(store.list_executions(b, &ExecutionFilter::default(), 1, 10).unwrap().total, 0);
    assert_consistent(&store);

    store.delete_schedule(b, s.id).await.unwrap();
    let other = store.create_schedule(schedule(b, TargetKind::Workflow, workflow)).await.unwrap();
    let done = store.record_fires(vec![fire(&s, s.version), fire(&other, other.version)]).await.unwrap();
    assert_eq!(done, [false, true]);
    assert_eq!(store.get_schedule(b, s.id).unwrap(), None, "the deleted schedule stays deleted");
    let listed = store.list_schedules(b, None, 1, 10).unwrap();
    assert_eq!((listed.total, listed.items.len(), listed.items[0].next_fire_ms), (1, 1, Some(120_000)));
    let fired = store.list_executions(b, &ExecutionFilter::default(), 1, 10).unwrap();
    assert_eq!((fired.total, fired.items[0].schedule), (1, Some(other.id)));
    assert_consistent(&store);
    store.shutdown().await;
}

/// The key that follows a schedule's record in the schedule table.
fn key_after_schedule(store: &Store, brand: BrandId, id: ScheduleId) -> Vec<u8> {
    let k = super::ops::schedules::skey(brand, id);
    store
        .read(|r| {
            let t = r.open_table(tables::SCHEDULES).map_err(StoreError::from_db)?;
            let mut range = t
                .range::<&[u8]>((std::ops::Bound::Excluded(k.as_slice()), std::ops::Bound::Unbounded))
                .map_err(StoreError::from_db)?;
            Ok(range.next().expect("a key after the record").map_err(StoreError::from_db)?.0.value().to_vec())
        })
        .unwrap()
}

/// A schedule's executions are rows of the schedule table (schema 6), newest first right after
/// its record; no read of schedules sees them (the lists, every schedule, the raw walk), and
/// the executions of a deleted schedule stay listed by its id.
#[tokio::test]
async fn execution_rows_beside_their_schedule_are_never_read_as_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let brand = Brand { id: BrandId::new(), name: "b".into(), timezone: "UTC".into(), created_ms: 0 };
    store.create_brand(brand.clone()).await.unwrap();
    let template = uuid::Uuid::now_v7();
    let mut ids = Vec::new();
    for _ in 0..12 {
        let s = schedule(brand.id, TargetKind::Workflow, template);
        ids.push(store.create_schedule(s).await.unwrap().id);
    }
    // Three executions per schedule, written in rounds so each schedule's rows interleave in
    // time with the others'.
    let mut fired: std::collections::BTreeMap<ScheduleId, Vec<ExecutionId>> = Default::default();
    for round in 0..3 {
        let batch: Vec<Execution> = ids
            .iter()
            .map(|id| Execution::manual(brand.id, Some(*id), (TargetKind::Workflow, template), Map::new(), round))
            .collect();
        for e in &batch {
            fired.entry(e.schedule.unwrap()).or_default().push(e.id);
        }
        store.write(move |w| upsert_executions(w, &batch)).await.unwrap();
    }
    store.delete_schedule(brand.id, ids[4]).await.unwrap();
    assert_consistent(&store);

    let live: Vec<ScheduleId> = ids.iter().copied().filter(|id| *id != ids[4]).collect();
    let all = store.list_schedules(brand.id, None, 1, 100).unwrap();
    assert_eq!((all.total, all.items.iter().map(|s| s.id).collect::<Vec<_>>()), (11, live.clone()));
    let page = store.list_schedules(brand.id, None, 2, 4).unwrap();
    assert_eq!(page.items.iter().map(|s| s.id).collect::<Vec<_>>(), live[4..8].to_vec(), "page 2 of 4, oldest first");
    let mut every: Vec<ScheduleId> = store.all_schedules().unwrap().into_iter().map(|s| s.id).collect();
    every.sort();
    assert_eq!(every, live);
    let mut raw = Vec::new();
    store
        .inspect(|i| i.schedules_raw(brand.id, |id, v| raw.push((id, Inspect::decode_schedule(v).map(|s| s.id).ok()))))
        .unwrap();
    assert_eq!(raw, live.iter().map(|id| (*id, Some(*id))).collect::<Vec<_>>());

    for id in &ids {
        let filter = ExecutionFilter { schedule: Some(*id), ..Default::default() };
        let listed = store.list_executions(brand.id, &filter, 1, 10).unwrap();
        let mut want = fired[id].clone();
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(listed.total, 3);
        assert_eq!(listed.items.iter().map(|e| e.id).collect::<Vec<_>>(), want, "newest first, deleted or not");
        let second = store.list_executions(brand.id, &filter, 2, 2).unwrap();
        assert_eq!(second.items.iter().map(|e| e.id).collect::<Vec<_>>(), want[2..].to_vec());
    }
    // The entry after a live schedule's record is its newest execution's row.
    let next = key_after_schedule(&store, brand.id, ids[0]);
    let newest = *fired[&ids[0]].iter().max().unwrap();
    assert_eq!(next, super::ops::index::schedule_row_key(brand.id.as_bytes(), ids[0].as_bytes(), newest.as_bytes()));
    store.shutdown().await;
}

/// `tests/fixtures/store-v1`: the store file a release with schema 1 wrote while the README's
/// walkthrough ran (schedules, a workflow run, an approval waiting, an event, a failing
/// delivery), stopped with SIGTERM. The figures below are what that release answered.
#[tokio::test]
async fn a_store_written_by_the_previous_release_migrates_and_lists_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    assert!(
        matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Invalid(m)) if m.contains("schema version 1")),
        "a read-only open must not read a schema 1 store"
    );
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    let version = store
        .read(|r| {
            let meta = r.open_table(tables::META).map_err(StoreError::from_db)?;
            let v = meta.get(tables::META_SCHEMA_VERSION).map_err(StoreError::from_db)?;
            codec::decode_u32(v.expect("version").value())
        })
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_consistent(&store);
    let brands = store.list_brands().unwrap();
    assert_eq!(brands.len(), 1);
    let b = brands[0].id;
    let count = |status| store.list_executions(b, &ExecutionFilter { status, ..Default::default() }, 1, 100).unwrap();
    let all = count(None);
    assert_eq!((all.total, all.items.len()), (11, 11));
    assert_eq!(count(Some(ExecutionStatus::Succeeded)).total, 9);
    assert_eq!(count(Some(ExecutionStatus::Pending)).total, 2);
    assert_eq!(count(Some(ExecutionStatus::Failed)).total, 0);
    let runs = store.list_runs(b, None, 1, 100).unwrap();
    assert_eq!(runs.total, 3);
    assert_eq!(runs.items[0].status, RunStatus::WaitingApproval, "newest first");
    let waiting = store.waiting_plans(b, 1, 100).unwrap();
    assert_eq!(waiting.total, 1);
    assert_eq!(store.all_waiting_plans().unwrap().len(), 1);
    let schedules = store.list_schedules(b, None, 1, 100).unwrap();
    assert_eq!(schedules.total, schedules.items.len() as u64);
    assert!(schedules.total >= 5, "the walkthrough made 5 schedules");
    let by_schedule = all.items.iter().filter_map(|e| e.schedule).next().expect("a fire of a schedule");
    let fires = store
        .list_executions(b, &ExecutionFilter { schedule: Some(by_schedule), ..Default::default() }, 1, 100)
        .unwrap();
    assert_eq!(fires.total, all.items.iter().filter(|e| e.schedule == Some(by_schedule)).count() as u64);
    store.shutdown().await;
    // A second open finds the current schema and changes nothing.
    let again = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_eq!(again.list_executions(b, &ExecutionFilter::default(), 1, 100).unwrap().total, 11);
    assert_consistent(&again);
    again.shutdown().await;
}

/// Operations that share a batch each change the counters, and one that fails after changing
/// them leaves them as they were, like its records (its writes are undone before the commit).
#[tokio::test]
async fn operations_sharing_a_batch_count_and_a_failed_one_changes_no_counter() {
    let dir = tempfile::tempdir().unwrap();
    // Writes sent together wait for each other, so they share batches.
    let grouped =
        WriterSettings { commit_delay: std::time::Duration::from_millis(50), commit_siblings: 2, ..settings() };
    let metrics = Metrics::new();
    let store = Store::open(&dir.path().join("s.redb"), grouped, metrics.clone()).unwrap();
    let brand = BrandId::new();
    let target = uuid::Uuid::now_v7();
    let writes = (0..40i64).map(|i| {
        let store = store.clone();
        let e = Execution::manual(brand, None, (TargetKind::Webhook, target), Map::new(), i);
        tokio::spawn(async move {
            store
                .write(move |w| {
                    upsert_executions(w, std::slice::from_ref(&e))?;
                    if i % 4 == 0 {
                        return Err(StoreError::Invalid("refused after its writes".into()));
                    }
                    Ok(())
                })
                .await
        })
    });
    let mut refused = 0;
    for w in writes.collect::<Vec<_>>() {
        refused += usize::from(w.await.unwrap().is_err());
    }
    assert_eq!(refused, 10);
    let commits: u64 = metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("hookwheel_store_commits_total "))
        .and_then(|n| n.parse().ok())
        .expect("the commit counter");
    assert!(commits < 40, "the writes shared batches ({commits} commits)");
    let page = store.list_executions(brand, &ExecutionFilter::default(), 1, 100).unwrap();
    assert_eq!(page.total, 30, "the counter counts the 30 written, not the refused");
    assert_consistent(&store);
}

/// `tests/fixtures/store-v2`: the schema 1 fixture above as the schema 2 release left it after
/// opening it (its `pending_executions` table holding the 2 unfinished executions). The 2 → 3
/// migration deletes that table; the same 2 executions are still the ones a restart resumes.
#[tokio::test]
async fn a_schema_2_store_migrates_and_resumes_the_same_unfinished_executions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v2/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    let tables_of = |path: &std::path::Path| -> Vec<String> {
        let db = redb::Database::open(path).unwrap();
        let r = db.begin_read().unwrap();
        r.list_tables().unwrap().map(|t| redb::TableHandle::name(&t).to_string()).collect()
    };
    assert!(tables_of(&path).contains(&"pending_executions".to_string()), "the fixture is a schema 2 store");
    assert!(
        matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Invalid(m)) if m.contains("schema version 2")),
        "a read-only open must not read a schema 2 store"
    );
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_consistent(&store);
    let b = store.list_brands().unwrap()[0].id;
    let listed: std::collections::BTreeSet<ExecutionId> = store
        .list_executions(b, &ExecutionFilter { status: Some(ExecutionStatus::Pending), ..Default::default() }, 1, 100)
        .unwrap()
        .items
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed.len(), 2);
    let mut resumed = std::collections::BTreeSet::new();
    store
        .for_each_pending(|e| assert!(resumed.insert(e.id), "resumed twice: {}", e.id), |id, e| panic!("{id:?}: {e}"))
        .unwrap();
    assert_eq!(resumed, listed);
    assert_eq!(store.pending_count().unwrap(), 2);
    assert_eq!(store.list_executions(b, &ExecutionFilter::default(), 1, 100).unwrap().total, 11);
    store.shutdown().await;
    assert!(!tables_of(&path).contains(&"pending_executions".to_string()), "the 2 → 3 migration deletes the table");
}

/// The writer operations a store has run so far (`hookwheel_store_operations_total`).
fn operations(metrics: &Metrics) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("hookwheel_store_operations_total "))
        .and_then(|n| n.parse().ok())
        .expect("the operations counter")
}

/// 40 pending executions (one of them cancelled) and the outcomes of all 40 plus 2 of
/// executions never stored, written at once: `(store, metrics, brand, the 42 outcomes)`.
async fn outcomes_at_once(dir: &tempfile::TempDir) -> (Store, Metrics, BrandId, Vec<Execution>) {
    let metrics = Metrics::new();
    let store = Store::open(&dir.path().join("s.redb"), settings(), metrics.clone()).unwrap();
    let brand = BrandId::new();
    let target = uuid::Uuid::now_v7();
    let mut outcomes = Vec::new();
    for i in 0..42i64 {
        let e = Execution::manual(brand, None, (TargetKind::Webhook, target), Map::new(), i);
        if i < 40 {
            store.create_execution(e.clone()).await.unwrap();
        }
        outcomes.push(Execution { status: ExecutionStatus::Succeeded, finished_ms: Some(100 + i), ..e });
    }
    store.cancel_execution(brand, outcomes[7].id, 50).await.unwrap();
    (store, metrics, brand, outcomes)
}

/// Stores `n` pending manual executions of `brand` (one operation) and returns each as it
/// would come back from a successful delivery (finished at 1,000 ms).
async fn stored_then_succeeded(store: &Store, brand: BrandId, n: i64) -> Vec<Execution> {
    let target = uuid::Uuid::now_v7();
    let pending: Vec<Execution> =
        (0..n).map(|i| Execution::manual(brand, None, (TargetKind::Webhook, target), Map::new(), i)).collect();
    let stored = pending.clone();
    store.write(move |w| upsert_executions(w, &stored)).await.unwrap();
    pending
        .into_iter()
        .map(|e| Execution { status: ExecutionStatus::Succeeded, finished_ms: Some(1_000), ..e })
        .collect()
}

async fn put_all(store: &Store, outcomes: &[Execution]) -> Vec<Result<bool, StoreError>> {
    let tasks: Vec<_> = outcomes
        .iter()
        .cloned()
        .map(|e| {
            let store = store.clone();
            tokio::spawn(async move { store.put_execution(&e).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// Outcomes written at the same time share writer operations, and each caller still gets its
/// own answer: written, `false` for the execution cancelled meanwhile (which stays
/// cancelled), `NotFound` for one never stored (which fails nobody else's).
#[tokio::test]
async fn outcomes_written_together_share_an_operation_and_answer_each_caller() {
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics, brand, outcomes) = outcomes_at_once(&dir).await;
    let before = operations(&metrics);
    let answers = put_all(&store, &outcomes).await;
    let ran = operations(&metrics) - before;
    assert!(ran < 10, "42 outcomes sent at once took {ran} writer operations");
    for (i, a) in answers.iter().enumerate() {
        match i {
            7 => assert!(matches!(a, Ok(false)), "the cancelled one: {a:?}"),
            40 | 41 => assert!(matches!(a, Err(StoreError::NotFound(_))), "never stored: {a:?}"),
            _ => assert!(matches!(a, Ok(true)), "outcome {i}: {a:?}"),
        }
    }
    let count = |status| {
        store
            .list_executions(brand, &ExecutionFilter { status: Some(status), ..Default::default() }, 1, 100)
            .unwrap()
            .total
    };
    assert_eq!(count(ExecutionStatus::Succeeded), 39);
    assert_eq!(count(ExecutionStatus::Cancelled), 1);
    assert_eq!(count(ExecutionStatus::Pending), 0);
    assert_eq!(store.get_execution(brand, outcomes[3].id).unwrap().unwrap().finished_ms, Some(103));
    assert_consistent(&store);
    store.shutdown().await;
}

/// More outcomes at once than one operation takes: the same task writes them in several
/// operations, one after another, and every caller is answered.
#[tokio::test]
async fn a_flood_of_outcomes_is_written_in_bounded_operations() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let store = Store::open(&dir.path().join("s.redb"), settings(), metrics.clone()).unwrap();
    let brand = BrandId::new();
    let outcomes = stored_then_succeeded(&store, brand, 600).await;
    let before = operations(&metrics);
    let answers = put_all(&store, &outcomes).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(true))), "{:?}", answers.iter().find(|a| !matches!(a, Ok(true))));
    let ran = operations(&metrics) - before;
    assert!((3..600).contains(&ran), "600 outcomes at once took {ran} operations (at most 256 each)");
    let page = store
        .list_executions(
            brand,
            &ExecutionFilter { status: Some(ExecutionStatus::Succeeded), ..Default::default() },
            1,
            1,
        )
        .unwrap();
    assert_eq!(page.total, 600);
    assert_consistent(&store);
    store.shutdown().await;
}

/// Outcome operations are paced: one that comes 1 ms after the previous operation started
/// waits until 4 ms after it (time for others to join), while one that comes alone after a
/// quiet spell is written at once. Paused time: only sleeps move the clock, so each wait is
/// exactly the pacing's.
#[tokio::test(start_paused = true)]
async fn an_outcome_soon_after_another_waits_for_the_pacing_and_a_lone_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let brand = BrandId::new();
    let outcomes = stored_then_succeeded(&store, brand, 4).await;
    let mut waited = Vec::new();
    for (i, e) in outcomes.iter().enumerate() {
        // The first after a quiet spell, then two 1 ms after the previous one was answered,
        // then one after another quiet spell.
        tokio::time::sleep(Duration::from_millis(if i == 0 || i == 3 { 50 } else { 1 })).await;
        let t = tokio::time::Instant::now();
        assert!(matches!(store.put_execution(e).await, Ok(true)));
        waited.push(t.elapsed());
    }
    let ms = Duration::from_millis;
    assert_eq!(waited, vec![ms(0), ms(3), ms(3), ms(0)], "how long each outcome waited for its operation");
    assert_consistent(&store);
    store.shutdown().await;
}

/// A record that cannot be read fails only its own outcome, though it shares an operation
/// with 41 others: the shared operation is undone and each outcome is written again on its
/// own, with the answer it would have had alone.
#[tokio::test]
async fn a_corrupt_record_fails_only_its_own_outcome_of_a_shared_operation() {
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics, brand, outcomes) = outcomes_at_once(&dir).await;
    // Execution 5 finished already, and its stored record is then damaged: its next outcome
    // has to read the record (a finished one has no unfinished status row).
    assert!(store.put_execution(&outcomes[5]).await.unwrap());
    let k = super::tables::key(&[brand.as_bytes(), outcomes[5].id.as_bytes()]);
    store
        .write(move |w| {
            let mut t = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            super::ops::put_raw(&mut t, &k, b"\x01{not json")
        })
        .await
        .unwrap();
    let before = operations(&metrics);
    let answers = put_all(&store, &outcomes).await;
    for (i, a) in answers.iter().enumerate() {
        match i {
            5 => assert!(matches!(a, Err(StoreError::Corrupt { .. })), "the damaged one: {a:?}"),
            7 => assert!(matches!(a, Ok(false)), "the cancelled one: {a:?}"),
            40 | 41 => assert!(matches!(a, Err(StoreError::NotFound(_))), "never stored: {a:?}"),
            _ => assert!(matches!(a, Ok(true)), "outcome {i}: {a:?}"),
        }
    }
    let ran = operations(&metrics) - before;
    assert!(ran > 42, "the failed shared operation, then each outcome alone: {ran} operations");
    for (i, o) in outcomes[..40].iter().enumerate().filter(|(i, _)| *i != 5) {
        let stored = store.get_execution(brand, o.id).unwrap().unwrap();
        let want = if i == 7 { ExecutionStatus::Cancelled } else { ExecutionStatus::Succeeded };
        assert_eq!(stored.status, want, "execution {i}");
    }
    store.shutdown().await;
}

/// An unfinished execution whose record does not decode (here nested past the 192 levels a
/// record is read to) is reported with its id and skipped when executions are resumed at
/// start-up; every other unfinished execution is still visited. A schema 5 build before this
/// check stopped the visit there, and with it the daemon's start-up.
#[tokio::test]
async fn an_unreadable_unfinished_execution_is_reported_and_the_others_still_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _metrics, brand, outcomes) = outcomes_at_once(&dir).await;
    let k = super::tables::key(&[brand.as_bytes(), outcomes[3].id.as_bytes()]);
    let too_deep = [&[3u8, 0][..], &[0x91; 200], &[0xc0]].concat();
    store
        .write(move |w| {
            let mut t = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
            super::ops::put_raw(&mut t, &k, &too_deep)
        })
        .await
        .unwrap();
    let (mut resumed, mut unreadable) = (std::collections::BTreeSet::new(), Vec::new());
    store.for_each_pending(|e| assert!(resumed.insert(e.id)), |id, e| unreadable.push((id, e))).unwrap();
    assert!(
        matches!(unreadable.as_slice(), [(id, StoreError::Corrupt { .. })] if *id == outcomes[3].id),
        "{unreadable:?}"
    );
    let want: std::collections::BTreeSet<_> =
        outcomes[..40].iter().enumerate().filter(|(i, _)| ![3, 7].contains(i)).map(|(_, e)| e.id).collect();
    assert_eq!(resumed, want, "every other unfinished execution (7 was cancelled)");
    store.shutdown().await;
}

/// A fault in an operation shared by several outcomes fails only the outcome it belongs to:
/// after a one-off fault (a corrupt record) every outcome is written again on its own and
/// answered as if it had been alone. An I/O fault fails them all, and none stays unanswered.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn a_fault_in_a_shared_outcome_operation_answers_each_outcome_as_if_alone() {
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (store, _, brand, outcomes) = outcomes_at_once(&dir).await;
    store.inject_faults(true);
    // The 30th write of the shared operation fails, well after some outcomes were written.
    fail::cfg("store::write", "29*off->1*return(corrupt)->off").unwrap();
    let answers = put_all(&store, &outcomes[..40]).await;
    fail::remove("store::write");
    store.inject_faults(false);
    for (i, a) in answers.iter().enumerate() {
        assert!(matches!(a, Ok(written) if *written == (i != 7)), "outcome {i}: {a:?}");
    }
    let succeeded = store
        .list_executions(
            brand,
            &ExecutionFilter { status: Some(ExecutionStatus::Succeeded), ..Default::default() },
            1,
            100,
        )
        .unwrap();
    assert_eq!(succeeded.total, 39);
    assert_consistent(&store);
    let outcomes: Vec<Execution> =
        outcomes.into_iter().map(|e| Execution { finished_ms: e.finished_ms.map(|f| f + 1), ..e }).collect();
    // Commits fail: the shared operation runs and its commit fails, so every outcome fails.
    // The store then cannot write (its recovery probe fails too), and the writer refuses the
    // next operation without running it: every outcome queued behind it is still answered.
    store.inject_faults(true);
    fail::cfg("store::commit", "return").unwrap();
    for round in ["commit fails", "operation refused"] {
        let answers = tokio::time::timeout(std::time::Duration::from_secs(10), put_all(&store, &outcomes[..40]))
            .await
            .unwrap_or_else(|_| panic!("{round}: an outcome was never answered"));
        assert!(answers.iter().all(|a| a.as_ref().is_err_and(|e| e.is_unavailable())), "{round}: {answers:?}");
    }
    fail::remove("store::commit");
    store.inject_faults(false);
    let mut written = Vec::new();
    for _ in 0..100 {
        written = tokio::time::timeout(std::time::Duration::from_secs(10), put_all(&store, &outcomes[..40]))
            .await
            .expect("every outcome is answered, also while the store cannot write");
        if written.iter().all(|a| !matches!(a, Err(StoreError::Unavailable { .. }))) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(written.iter().filter(|a| matches!(a, Ok(true))).count(), 39, "{written:?}");
    assert_consistent(&store);
    store.shutdown().await;
}

/// The raw record of a schedule, as stored.
fn raw_schedule(store: &Store, brand: BrandId, id: ScheduleId) -> Vec<u8> {
    store
        .read(|r| {
            let t = r.open_table(tables::SCHEDULES).map_err(StoreError::from_db)?;
            super::ops::get_raw(&t, &super::ops::schedules::skey(brand, id))
        })
        .unwrap()
        .expect("the schedule record")
}

/// `tests/fixtures/store-v3`: a store the schema 3 release wrote (brand `default`, the
/// walkthrough's domain and template, a schedule every second that fired a few times and a
/// paused hourly one, both paused at the end), stopped with SIGTERM. Schema 4 rewrites
/// nothing: its schedule records stay in record format 1 until their next write, and a fire
/// checks their version by parsing them; the fire's write stores the newest format (3 since
/// schema 5), whose header the next fire reads.
#[tokio::test]
async fn a_schema_3_store_migrates_and_its_format_1_schedules_fire() {
    use super::ops::index::ScheduleFacts;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v3/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    assert!(
        matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Invalid(m)) if m.contains("schema version 3")),
        "a read-only open must not read a schema 3 store"
    );
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_consistent(&store);
    let b = store.list_brands().unwrap()[0].id;
    let schedules = store.list_schedules(b, None, 1, 100).unwrap();
    assert_eq!(schedules.total, 2);
    assert!(schedules.items.iter().all(|s| s.status == ScheduleStatus::Paused));
    let fired = store.list_executions(b, &ExecutionFilter::default(), 1, 100).unwrap();
    assert!(fired.total >= 3, "the fixture's schedule fired ({} executions)", fired.total);
    let s = schedules.items.iter().find(|s| s.id == fired.items[0].schedule.unwrap()).unwrap().clone();
    let k = super::ops::schedules::skey(b, s.id);
    let raw = raw_schedule(&store, b, s.id);
    assert_eq!(raw[0], 1, "the record is still in format 1");
    let facts = ScheduleFacts::read(&k, &raw).unwrap();
    assert_eq!((facts.id, facts.brand, facts.status, facts.version), (s.id, b, s.status, s.version));

    let fire = |expected_version: u64| FireWrite { schedule: s.clone(), expected_version, executions: vec![] };
    assert_eq!(store.record_fires(vec![fire(s.version + 1)]).await.unwrap(), [false], "a stale version is refused");
    assert_eq!(store.record_fires(vec![fire(s.version)]).await.unwrap(), [true]);
    let raw = raw_schedule(&store, b, s.id);
    assert_eq!(raw[0], 3, "the fire's write stores the newest format");
    let facts = ScheduleFacts::read(&k, &raw).unwrap();
    assert_eq!((facts.id, facts.brand, facts.status, facts.version), (s.id, b, s.status, s.version + 1));
    let stored = store.get_schedule(b, s.id).unwrap().unwrap();
    assert_eq!(stored, Schedule { version: s.version + 1, ..s.clone() }, "the record after the header is the record");
    assert_eq!(store.record_fires(vec![fire(s.version)]).await.unwrap(), [false], "the header's version is checked");
    assert_eq!(store.record_fires(vec![fire(s.version + 1)]).await.unwrap(), [true]);
    assert_consistent(&store);
    store.shutdown().await;
    let reopened = Store::open_read_only(&path, Metrics::new()).unwrap();
    assert_eq!(reopened.get_schedule(b, s.id).unwrap().unwrap().version, s.version + 2);
}

/// Every record of `table` (record formats 1 and 2: JSON) decodes as `T`, and the record
/// written from it in the newest format decodes to the same value. Returns how many there are.
fn same_in_the_newest_format<T: serde::Serialize + serde::de::DeserializeOwned>(
    store: &Store,
    table: tables::Bytes,
    name: &'static str,
) -> usize {
    let rows = store
        .read(|r| {
            let t = r.open_table(table).map_err(StoreError::from_db)?;
            let mut rows = Vec::new();
            // The schedule table holds its schedules' execution rows too (schema 6).
            let schedules = redb::TableHandle::name(&table) == redb::TableHandle::name(&tables::SCHEDULES);
            super::ops::scan_prefix(&t, &[], |k, v| {
                if !schedules || k.len() == super::ops::index::SCHEDULE_KEY_LEN {
                    rows.push(v.to_vec());
                }
                Ok(true)
            })?;
            Ok(rows)
        })
        .unwrap();
    for raw in &rows {
        assert!(matches!(raw[0], 1 | 2), "{name}: a schema 4 record is JSON (format {})", raw[0]);
        let old: T = codec::decode(name, raw).unwrap();
        let again = codec::encode(&old);
        assert_eq!(again[..2], [3, 0], "{name}");
        let new: T = codec::decode(name, &again).unwrap();
        assert_eq!(serde_json::to_value(&new).unwrap(), serde_json::to_value(&old).unwrap(), "{name}");
    }
    rows.len()
}

/// `tests/fixtures/store-v4`: a store the schema 4 release wrote while the README's walkthrough
/// ran (a schedule of each driver and 9 executions, two workflow runs, one of them approved,
/// an event routed by a subscription, a heartbeat monitor pinged once, a system secret),
/// stopped with SIGTERM.
/// Schema 5 rewrites nothing: every record, in JSON (formats 1 and 2), reads as before, and
/// the store's next writes of a schedule and an execution store format 3 (MessagePack),
/// which reads back as the same record, after a restart too.
#[tokio::test]
async fn a_schema_4_store_migrates_and_its_json_records_read_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v4/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    assert!(
        matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Invalid(m)) if m.contains("schema version 4")),
        "a read-only open must not read a schema 4 store"
    );
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_consistent(&store);

    // What the walkthrough left, record by record, in JSON and after a round through format 3.
    let counts = [
        same_in_the_newest_format::<Brand>(&store, tables::BRANDS, "brands"),
        same_in_the_newest_format::<ApiKey>(&store, tables::API_KEYS, "api_keys"),
        same_in_the_newest_format::<Domain>(&store, tables::DOMAINS, "domains"),
        same_in_the_newest_format::<WebhookTemplate>(&store, tables::TEMPLATES, "templates"),
        same_in_the_newest_format::<Secret>(&store, tables::SECRETS, "secrets"),
        same_in_the_newest_format::<Schedule>(&store, tables::SCHEDULES, "schedules"),
        same_in_the_newest_format::<Execution>(&store, tables::EXECUTIONS, "executions"),
        same_in_the_newest_format::<Workflow>(&store, tables::WORKFLOWS, "workflows"),
        same_in_the_newest_format::<Run>(&store, tables::RUNS, "runs"),
        same_in_the_newest_format::<ApprovalPlan>(&store, tables::PLANS, "plans"),
        same_in_the_newest_format::<Source>(&store, tables::SOURCES, "sources"),
        same_in_the_newest_format::<Subscription>(&store, tables::SUBSCRIPTIONS, "subscriptions"),
        same_in_the_newest_format::<Event>(&store, tables::EVENTS, "events"),
        same_in_the_newest_format::<Monitor>(&store, tables::MONITORS, "monitors"),
        same_in_the_newest_format::<MonitorState>(&store, tables::MONITOR_STATES, "monitor_states"),
        same_in_the_newest_format::<Ping>(&store, tables::MONITOR_PINGS, "monitor_pings"),
    ];
    assert_eq!(counts, [1, 1, 1, 1, 1, 5, 9, 2, 2, 1, 1, 1, 1, 1, 1, 1], "records per table");

    // The event's execution (its context is the subscription's transform of the event),
    // written again in format 3.
    let b = store.list_brands().unwrap()[0].id;
    let events = store.list_events(b, &Default::default(), 1, 10).unwrap();
    assert_eq!(events.total, 1);
    let fired = store.list_executions(b, &ExecutionFilter::default(), 1, 100).unwrap();
    let from_event = fired.items.iter().find(|e| e.event.is_some()).expect("the event's execution").clone();
    assert_eq!(from_event.context["greeting"], "order A-18");
    assert!(store.put_execution(&from_event).await.unwrap());
    let raw = |table: tables::Bytes, k: Vec<u8>| {
        store
            .read(|r| super::ops::get_raw(&r.open_table(table).map_err(StoreError::from_db)?, &k))
            .unwrap()
            .expect("the record")
    };
    let ekey = [b.as_bytes().as_slice(), from_event.id.as_bytes()].concat();
    assert_eq!(raw(tables::EXECUTIONS, ekey.clone())[..2], [3, 0], "the execution is rewritten in format 3");
    assert_eq!(store.get_execution(b, from_event.id).unwrap().unwrap(), from_event);

    // A fire of the paused interval schedule: its record is rewritten in format 3, header first.
    let s = store
        .list_schedules(b, None, 1, 100)
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.id == fired.items.iter().find(|e| e.schedule.is_some()).unwrap().schedule.unwrap())
        .unwrap();
    let fire = FireWrite { schedule: s.clone(), expected_version: s.version, executions: vec![] };
    assert_eq!(store.record_fires(vec![fire]).await.unwrap(), [true]);
    let raw_s = raw(tables::SCHEDULES, super::ops::schedules::skey(b, s.id));
    assert_eq!(raw_s[..2], [3, 9], "format 3 with the schedule's 9-byte header");
    assert_eq!(store.get_schedule(b, s.id).unwrap().unwrap(), Schedule { version: s.version + 1, ..s.clone() });
    assert_consistent(&store);
    store.shutdown().await;

    let reopened = Store::open_read_only(&path, Metrics::new()).unwrap();
    assert_eq!(reopened.get_execution(b, from_event.id).unwrap().unwrap(), from_event);
    assert_eq!(reopened.get_schedule(b, s.id).unwrap().unwrap().version, s.version + 1);
}

/// `tests/fixtures/store-v4-deep`: a store the schema 4 release wrote with one source and two
/// events ingested, the first with a body nested 127 levels deep (the deepest serde_json
/// parses, so the build kept it as JSON and answered 202) and then every list of the brand's
/// events answered 500: the event's JSON record nests 128 levels, past serde_json's default
/// limit. After the upgrade the list reads both events and the body is whole.
#[tokio::test]
async fn a_schema_4_event_as_deep_as_ingest_accepted_reads_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v4-deep/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_consistent(&store);
    let b = store.list_brands().unwrap()[0].id;
    let events = store.list_events(b, &Default::default(), 1, 10).unwrap();
    assert_eq!(events.total, 2);
    let deep = events.items.iter().find(|e| e.body.is_array()).expect("the deep event");
    let mut body = &deep.body;
    for level in 0..126 {
        body = body.get(0).unwrap_or_else(|| panic!("level {level} of the body"));
    }
    assert_eq!(body, &serde_json::json!([]), "the innermost array");
    assert!(events.items.iter().any(|e| e.body == serde_json::json!({"shallow": true})));
    assert_eq!(store.get_event(b, deep.id).unwrap().as_ref(), Some(deep));
}

/// `tests/fixtures/store-v5`: a store the schema 5 release wrote while the README's walkthrough
/// ran, then a schedule every second that fired a few times and was deleted, stopped with
/// SIGTERM. Schema 6 moves each schedule's `executions_by_schedule` rows into the schedule
/// table beside its record and deletes that table: every list by schedule answers what the
/// old rows held (newest first), the deleted schedule's too, the schedule lists see only the
/// schedules, and a fire's row lands right after its schedule's record.
#[tokio::test]
async fn a_schema_5_store_moves_its_by_schedule_rows_beside_the_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v5/hookwheel.redb");
    std::fs::copy(&fixture, &path).unwrap();
    // What schema 5 held, read straight from the file: schedule → its executions.
    let mut before: std::collections::BTreeMap<ScheduleId, Vec<ExecutionId>> = Default::default();
    let tables_before = {
        let db = redb::Database::open(&path).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.open_table(tables::EXECUTIONS_BY_SCHEDULE).unwrap();
        for entry in redb::ReadableTable::range::<&[u8]>(&t, ..).unwrap() {
            let (k, _) = entry.unwrap();
            let k = k.value();
            let s = ScheduleId(uuid::Uuid::from_slice(&k[16..32]).unwrap());
            before.entry(s).or_default().push(ExecutionId(uuid::Uuid::from_slice(&k[32..48]).unwrap()));
        }
        r.list_tables().unwrap().map(|t| redb::TableHandle::name(&t).to_string()).collect::<Vec<_>>()
    };
    assert!(tables_before.contains(&"executions_by_schedule".to_string()), "the fixture is a schema 5 store");
    assert!(
        matches!(Store::open_read_only(&path, Metrics::new()), Err(StoreError::Invalid(m)) if m.contains("schema version 5")),
        "a read-only open must not read a schema 5 store"
    );
    let store = Store::open(&path, settings(), Metrics::new()).unwrap();
    assert_consistent(&store);
    let b = store.list_brands().unwrap()[0].id;
    let schedules = store.list_schedules(b, None, 1, 100).unwrap();
    assert_eq!((schedules.total, schedules.items.len()), (5, 5), "the walkthrough's five schedules");
    assert_eq!(store.all_schedules().unwrap().len(), 5);
    let deleted: Vec<&ScheduleId> = before.keys().filter(|s| !schedules.items.iter().any(|x| x.id == **s)).collect();
    assert_eq!(deleted.len(), 1, "the deleted schedule's executions are in the fixture");
    assert!(before.values().map(Vec::len).sum::<usize>() >= 5);
    for (s, ids) in &before {
        let listed =
            store.list_executions(b, &ExecutionFilter { schedule: Some(*s), ..Default::default() }, 1, 100).unwrap();
        let mut want = ids.clone();
        want.sort_by(|x, y| y.cmp(x));
        assert_eq!(listed.total, want.len() as u64, "{s:?}");
        assert_eq!(listed.items.iter().map(|e| e.id).collect::<Vec<_>>(), want, "{s:?}: newest first");
    }

    // A fire of the paused interval schedule: its execution's row follows its record.
    let interval =
        schedules.items.iter().find(|x| before.contains_key(&x.id) && x.status == ScheduleStatus::Paused).unwrap();
    let e = Execution::manual(b, Some(interval.id), (TargetKind::Webhook, interval.target_id), Map::new(), 1);
    let fire =
        FireWrite { schedule: interval.clone(), expected_version: interval.version, executions: vec![e.clone()] };
    assert_eq!(store.record_fires(vec![fire]).await.unwrap(), [true]);
    let next = key_after_schedule(&store, b, interval.id);
    assert_eq!(next, super::ops::index::schedule_row_key(b.as_bytes(), interval.id.as_bytes(), e.id.as_bytes()));
    let listed =
        store.list_executions(b, &ExecutionFilter { schedule: Some(interval.id), ..Default::default() }, 1, 1).unwrap();
    assert_eq!((listed.total, listed.items[0].id), (before[&interval.id].len() as u64 + 1, e.id));
    assert_consistent(&store);
    store.shutdown().await;

    let db = redb::Database::open(&path).unwrap();
    let names: Vec<String> =
        db.begin_read().unwrap().list_tables().unwrap().map(|t| redb::TableHandle::name(&t).to_string()).collect();
    assert!(!names.contains(&"executions_by_schedule".to_string()), "the 5 → 6 migration deletes the table");
    assert!(names.contains(&"schedule_ids".to_string()));
}

/// A schedule's facts read from its record's header are the ones the record holds, for every
/// status and every record format (1: JSON; 2: header and JSON; 3: header and MessagePack, or
/// MessagePack alone); a header that is cut short, of another length or with an unknown
/// status code is reported as corrupt, never read as a version.
#[test]
fn schedule_facts_from_the_header_match_the_record() {
    use super::ops::index::ScheduleFacts;
    let brand = BrandId::new();
    for (n, status) in ScheduleStatus::ALL.into_iter().enumerate() {
        let mut s = schedule(brand, TargetKind::Webhook, uuid::Uuid::now_v7());
        s.status = status;
        s.version = 7 + n as u64 * u64::from(u32::MAX);
        let k = super::ops::schedules::skey(brand, s.id);
        let f = ScheduleFacts::of(&s);
        let json = serde_json::to_vec(&s).unwrap();
        let v1 = [&[1][..], &json].concat();
        let v2 = [&[2, 9][..], &f.header(), &json].concat();
        let v3 = codec::encode_with_header(&f.header(), &s);
        assert_eq!(&v3[..11], [&[3, 9][..], &f.header()].concat());
        for bytes in [&v1, &v2, &v3, &codec::encode(&s)] {
            let read = ScheduleFacts::read(&k, bytes).unwrap();
            assert_eq!((read.id, read.brand, read.status, read.version), (s.id, brand, status, s.version));
            assert_eq!(codec::decode::<Schedule>("schedules", bytes).unwrap(), s);
        }
    }
    let s = schedule(brand, TargetKind::Webhook, uuid::Uuid::now_v7());
    let k = super::ops::schedules::skey(brand, s.id);
    let mut bad_code = ScheduleFacts::of(&s).header();
    bad_code[8] = 99;
    for bytes in [
        codec::encode_with_header(&bad_code, &s),
        codec::encode_with_header(&bad_code[..8], &s),
        vec![2, 9, 1, 2, 3],
        vec![3, 9, 1, 2, 3],
        vec![2],
        vec![3],
        vec![3, 0],
    ] {
        assert!(matches!(ScheduleFacts::read(&k, &bytes), Err(StoreError::Corrupt { .. })), "{bytes:?}");
    }
    for bytes in [&[2, 9, 1][..], &[3, 9, 1], &[3, 0], &[3, 0, 0x81], &[4, 0, 0x80], &[]] {
        assert!(matches!(codec::decode::<Schedule>("schedules", bytes), Err(StoreError::Corrupt { .. })), "{bytes:?}");
    }
}

/// A restart resumes every unfinished execution of every brand exactly once, and no finished
/// one: through the status index, seeking brand by brand (a brand with only finished
/// executions, and the greatest possible brand id, included).
#[tokio::test]
async fn every_brands_unfinished_executions_are_resumed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), settings(), Metrics::new()).unwrap();
    let brands =
        [BrandId::new(), BrandId::new(), BrandId::new(), BrandId(uuid::Uuid::max()), BrandId(uuid::Uuid::nil())];
    let mut want = std::collections::BTreeSet::new();
    for (i, brand) in brands.iter().enumerate() {
        let target = uuid::Uuid::now_v7();
        for n in 0..6i64 {
            let mut e = Execution::manual(*brand, None, (TargetKind::Webhook, target), Map::new(), n);
            // Brand 1 has only finished executions; the others a mix.
            if i == 1 || n % 2 == 0 {
                e.status = if n % 4 == 0 { ExecutionStatus::Succeeded } else { ExecutionStatus::Failed };
                e.finished_ms = Some(n + 1);
            } else {
                want.insert(e.id);
            }
            store.write(move |w| upsert_executions(w, std::slice::from_ref(&e))).await.unwrap();
        }
    }
    let mut resumed = std::collections::BTreeSet::new();
    store
        .for_each_pending(|e| assert!(resumed.insert(e.id), "resumed twice: {}", e.id), |id, e| panic!("{id:?}: {e}"))
        .unwrap();
    assert_eq!(resumed, want);
    assert_eq!(store.pending_count().unwrap(), want.len() as u64);
    assert_consistent(&store);
}

/// Random mixes of successful, refused (an error after their writes), panicking and
/// fault-injected operations sharing batches keep every counter equal to the records: an
/// operation's counter changes join its batch's only when it succeeds.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn random_operations_sharing_batches_with_failures_keep_every_counter_exact() {
    use super::ops::index::{ExecTables, remove_plan, save_plan};
    let _serial = super::FAULT_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let grouped =
        WriterSettings { commit_delay: std::time::Duration::from_millis(20), commit_siblings: 2, ..settings() };
    let store = Store::open(&dir.path().join("s.redb"), grouped, Metrics::new()).unwrap();
    let brands = [BrandId::new(), BrandId::new()];
    let target = uuid::Uuid::now_v7();
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let known: Vec<Execution> = (0..60)
        .map(|i| Execution::manual(brands[i % 2], None, (TargetKind::Webhook, target), Map::new(), i as i64))
        .collect();
    let plans: Vec<ApprovalPlan> = (0..30)
        .map(|i| {
            if i % 3 == 0 {
                super::prune_tests::standalone_plan(brands[i % 2], PlanStatus::WaitingApproval)
            } else {
                super::prune_tests::plan(brands[i % 2], ExecutionId::new(), PlanStatus::WaitingApproval)
            }
        })
        .collect();
    {
        let k = known.clone();
        store.write(move |w| upsert_executions(w, &k)).await.unwrap();
    }
    fail::cfg("store::write", "2%return(corrupt)").unwrap();
    store.inject_faults(true);
    let (mut ok, mut err, mut panicked) = (0, 0, 0);
    for round in 0..15u64 {
        let mut tasks = vec![];
        for j in 0..48u64 {
            let store = store.clone();
            let kind = g.below(7);
            let fail = g.below(10);
            let pick = known[g.below(known.len() as u64) as usize].clone();
            let pick2 = known[g.below(known.len() as u64) as usize].clone();
            let mut plan = plans[g.below(plans.len() as u64) as usize].clone();
            let brand = brands[g.below(2) as usize];
            let status = ExecutionStatus::ALL[g.below(7) as usize];
            let decided = g.below(2) == 0;
            let n = (round * 100 + j) as i64;
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |w| {
                        let with = |mut e: Execution, s: ExecutionStatus| {
                            e.status = s;
                            e.finished_ms = s.is_finished().then_some(n);
                            e
                        };
                        match kind {
                            0 => upsert_executions(
                                w,
                                &[Execution::manual(brand, None, (TargetKind::Webhook, target), Map::new(), n)],
                            )?,
                            1 | 2 => upsert_executions(w, &[with(pick, status)])?,
                            3 => {
                                let mut t = ExecTables::open(w)?;
                                t.remove(pick.brand, pick.id)?;
                                t.finish(w)?;
                            }
                            4 => {
                                upsert_executions(w, &[with(pick, status)])?;
                                upsert_executions(w, &[with(pick2, ExecutionStatus::Cancelled)])?;
                            }
                            5 => {
                                if decided {
                                    plan.status = PlanStatus::Approved;
                                }
                                save_plan(w, &plan)?;
                            }
                            _ => {
                                remove_plan(w, plan.brand, plan.id)?;
                            }
                        }
                        match fail {
                            0 | 1 => Err(StoreError::Invalid("after writes".into())),
                            2 => panic!("after writes"),
                            _ => Ok(()),
                        }
                    })
                    .await
            }));
        }
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Panicked) => panicked += 1,
                Err(_) => err += 1,
            }
        }
    }
    fail::remove("store::write");
    store.inject_faults(false);
    assert!(ok > 0 && err > 0 && panicked > 0, "every path ran: {ok} ok, {err} refused, {panicked} panicked");
    assert_consistent(&store);
}
