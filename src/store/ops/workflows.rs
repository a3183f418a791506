//! Workflows (with their steps), runs and approval plans.

use super::index;
use super::{any_with_prefix, get, get_raw, page_prefix, put, put_raw, remove, scan_prefix};
use crate::model::{
    ApprovalPlan, BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Page, PlanId, PlanStatus, Run, Workflow,
    WorkflowId,
};
use crate::store::codec;
use crate::store::tables::{
    COUNTS, DOMAINS, EXECUTIONS, PLANS, PLANS_WAITING, RUNS, RUNS_BY_WORKFLOW, WORKFLOW_BY_DOMAIN, WORKFLOWS, key,
};
use crate::store::{Store, StoreError};

fn wkey(brand: BrandId, id: WorkflowId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

/// Writes a workflow and keeps the domain-usage index in step; every step's domain must exist.
fn save_workflow(w: &redb::WriteTransaction, old: Option<&Workflow>, wf: &Workflow) -> Result<(), StoreError> {
    let domains = w.open_table(DOMAINS).map_err(StoreError::from_db)?;
    for s in &wf.steps {
        if get_raw(&domains, &key(&[wf.brand.as_bytes(), s.domain.as_bytes()]))?.is_none() {
            return Err(StoreError::NotFound("Domain"));
        }
    }
    drop(domains);
    let mut idx = w.open_table(WORKFLOW_BY_DOMAIN).map_err(StoreError::from_db)?;
    if let Some(o) = old {
        for s in &o.steps {
            remove(&mut idx, &key(&[o.brand.as_bytes(), s.domain.as_bytes(), o.id.as_bytes()]))?;
        }
    }
    for s in &wf.steps {
        put_raw(&mut idx, &key(&[wf.brand.as_bytes(), s.domain.as_bytes(), wf.id.as_bytes()]), &[])?;
    }
    let mut t = w.open_table(WORKFLOWS).map_err(StoreError::from_db)?;
    put(&mut t, &wkey(wf.brand, wf.id), wf)
}

/// Everything one workflow-engine step writes, in one commit.
#[derive(Debug, Clone, Default)]
pub struct RunWrite {
    pub runs: Vec<Run>,
    pub plans: Vec<ApprovalPlan>,
    /// New step executions and parent-execution updates.
    pub executions: Vec<Execution>,
}

/// Most standalone approval requests one brand may have waiting for a decision: a ping key
/// can create them (`POST /api/approvals`), and each may raise an `approval_waiting` alert.
pub const STANDALONE_WAITING_MAX: usize = 1_000;

impl Store {
    pub async fn create_workflow(&self, wf: Workflow) -> Result<Workflow, StoreError> {
        self.write(move |w| {
            save_workflow(w, None, &wf)?;
            Ok(wf)
        })
        .await
    }

    pub fn get_workflow(&self, brand: BrandId, id: WorkflowId) -> Result<Option<Workflow>, StoreError> {
        self.read(|r| {
            let t = r.open_table(WORKFLOWS).map_err(StoreError::from_db)?;
            get(&t, "workflows", &wkey(brand, id))
        })
    }

    pub fn list_workflows(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<Workflow>, StoreError> {
        self.read(|r| {
            let t = r.open_table(WORKFLOWS).map_err(StoreError::from_db)?;
            page_prefix(&t, "workflows", brand.as_bytes(), page, per_page)
        })
    }

    /// Read-modify-write of a workflow inside the writer; `f` may refuse (nothing written).
    pub async fn update_workflow<T: Send + 'static>(
        &self,
        brand: BrandId,
        id: WorkflowId,
        now: i64,
        f: impl FnOnce(&mut Workflow) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<(Workflow, T), StoreError> {
        self.write(move |w| {
            let t = w.open_table(WORKFLOWS).map_err(StoreError::from_db)?;
            let old: Workflow = get(&t, "workflows", &wkey(brand, id))?.ok_or(StoreError::NotFound("Workflow"))?;
            drop(t);
            let mut wf = old.clone();
            let out = f(&mut wf)?;
            wf.updated_ms = now;
            wf.steps.sort_by_key(|s| s.index);
            save_workflow(w, Some(&old), &wf)?;
            Ok((wf, out))
        })
        .await
    }

    /// Deletes a workflow; schedules that target it become `inactive` (returned).
    pub async fn delete_workflow(
        &self,
        brand: BrandId,
        id: WorkflowId,
        now: i64,
    ) -> Result<Vec<crate::model::ScheduleId>, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(WORKFLOWS).map_err(StoreError::from_db)?;
            let k = wkey(brand, id);
            let old: Workflow = get(&t, "workflows", &k)?.ok_or(StoreError::NotFound("Workflow"))?;
            remove(&mut t, &k)?;
            drop(t);
            let mut idx = w.open_table(WORKFLOW_BY_DOMAIN).map_err(StoreError::from_db)?;
            for s in &old.steps {
                remove(&mut idx, &key(&[brand.as_bytes(), s.domain.as_bytes(), id.as_bytes()]))?;
            }
            drop(idx);
            Store::deactivate_schedules_of(w, brand, id.0, "target workflow deleted", now)
        })
        .await
    }

    /// True when a workflow step of the brand uses the domain (delete_domain refuses then).
    pub(crate) fn domain_used_by_workflows(
        w: &redb::WriteTransaction,
        brand: BrandId,
        domain: DomainId,
    ) -> Result<bool, StoreError> {
        let idx = w.open_table(WORKFLOW_BY_DOMAIN).map_err(StoreError::from_db)?;
        any_with_prefix(&idx, &key(&[brand.as_bytes(), domain.as_bytes()]))
    }

    /// Commits one engine step: the run, its plans, new or updated executions.
    pub async fn write_run(&self, rw: RunWrite) -> Result<(), StoreError> {
        self.write(move |w| {
            for run in &rw.runs {
                index::save_run(w, run)?;
            }
            for p in &rw.plans {
                index::save_plan(w, p)?;
            }
            {
                let t = w.open_table(EXECUTIONS).map_err(StoreError::from_db)?;
                for e in rw.executions.iter().filter(|e| e.status == ExecutionStatus::Failed) {
                    let before: Option<Execution> =
                        get(&t, "executions", &key(&[e.brand.as_bytes(), e.id.as_bytes()]))?;
                    if before.is_none_or(|b| b.status != ExecutionStatus::Failed) {
                        super::executions::raise_execution_failed(w, e)?;
                    }
                }
            }
            super::schedules::upsert_executions(w, &rw.executions)
        })
        .await
    }

    pub fn get_run(&self, brand: BrandId, id: ExecutionId) -> Result<Option<Run>, StoreError> {
        self.read(|r| {
            let t = r.open_table(RUNS).map_err(StoreError::from_db)?;
            get(&t, "runs", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    /// A brand's runs, newest first, optionally of one workflow: one page of records, through
    /// the workflow index when filtered, the total from a counter.
    pub fn list_runs(
        &self,
        brand: BrandId,
        workflow: Option<WorkflowId>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Run>, StoreError> {
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        self.read(|r| {
            let t = r.open_table(RUNS).map_err(StoreError::from_db)?;
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            let b = brand.as_bytes();
            let (items, total) = match workflow {
                None => (
                    index::page_of_records(&t, "runs", b, (skip, per_page), true)?,
                    index::read_count(&counts, &index::counter_key(index::tag::RUNS, &[b]))?,
                ),
                Some(wf) => {
                    let idx = r.open_table(RUNS_BY_WORKFLOW).map_err(StoreError::from_db)?;
                    let prefix = key(&[b, wf.as_bytes()]);
                    (
                        index::page_via_index(&idx, &prefix, (&t, "runs", b), (skip, per_page), true)?,
                        index::read_count(
                            &counts,
                            &index::counter_key(index::tag::RUNS_WORKFLOW, &[b, wf.as_bytes()]),
                        )?,
                    )
                }
            };
            Ok(Page { items, total })
        })
    }

    /// Runs not finished yet, of every brand (start-up: their timers are re-armed).
    pub fn unfinished_runs(&self) -> Result<Vec<Run>, StoreError> {
        self.read(|r| {
            let t = r.open_table(RUNS).map_err(StoreError::from_db)?;
            let mut out = Vec::new();
            scan_prefix(&t, &[], |_, v| {
                let run: Run = codec::decode("runs", v)?;
                if !run.status.is_finished() {
                    out.push(run);
                }
                Ok(true)
            })?;
            Ok(out)
        })
    }

    /// Stores a new standalone approval request (`create_approval_request`, PingPulse's
    /// `POST /api/approvals`). A brand holds at most [`STANDALONE_WAITING_MAX`] requests
    /// waiting for a decision; one more is `StoreError::State` (409), checked inside the write.
    pub async fn create_plan(&self, plan: ApprovalPlan) -> Result<ApprovalPlan, StoreError> {
        self.write(move |w| {
            if plan.is_standalone() && plan.status == PlanStatus::WaitingApproval {
                let counts = w.open_table(COUNTS).map_err(StoreError::from_db)?;
                let waiting = index::read_count_in_write(
                    &counts,
                    &index::counter_key(index::tag::STANDALONE_WAITING, &[plan.brand.as_bytes()]),
                )?;
                if waiting >= STANDALONE_WAITING_MAX as u64 {
                    return Err(StoreError::State(format!(
                        "this brand has {waiting} approval requests waiting for a decision, the most it may have \
                         ({STANDALONE_WAITING_MAX}); decide some first"
                    )));
                }
            }
            index::save_plan(w, &plan)?;
            Ok(plan)
        })
        .await
    }

    pub fn get_plan(&self, brand: BrandId, id: PlanId) -> Result<Option<ApprovalPlan>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PLANS).map_err(StoreError::from_db)?;
            get(&t, "plans", &key(&[brand.as_bytes(), id.as_bytes()]))
        })
    }

    /// A brand's plans waiting for a decision, oldest first: one page through the waiting
    /// index, the total from a counter.
    pub fn waiting_plans(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<ApprovalPlan>, StoreError> {
        let skip = page.saturating_sub(1).saturating_mul(per_page);
        self.read(|r| {
            let t = r.open_table(PLANS).map_err(StoreError::from_db)?;
            let idx = r.open_table(PLANS_WAITING).map_err(StoreError::from_db)?;
            let counts = r.open_table(COUNTS).map_err(StoreError::from_db)?;
            let b = brand.as_bytes();
            let items = index::page_via_index(&idx, b, (&t, "plans", b), (skip, per_page), false)?;
            let total = index::read_count(&counts, &index::counter_key(index::tag::PLANS_WAITING, &[b]))?;
            Ok(Page { items, total })
        })
    }

    /// Every plan still waiting, of every brand (start-up: deadlines re-armed), from the
    /// waiting index.
    pub fn all_waiting_plans(&self) -> Result<Vec<ApprovalPlan>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PLANS).map_err(StoreError::from_db)?;
            let idx = r.open_table(PLANS_WAITING).map_err(StoreError::from_db)?;
            let mut all = Vec::new();
            scan_prefix(&idx, &[], |k, _| {
                if let Some(p) = get::<ApprovalPlan>(&t, "plans", k)? {
                    all.push(p);
                }
                Ok(true)
            })?;
            Ok(all)
        })
    }
}
