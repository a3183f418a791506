//! Workflows (with their steps), runs and approval plans.

use super::{all_prefix, any_with_prefix, get, get_raw, page_prefix, put, put_raw, remove, scan_prefix};
use crate::model::{
    ApprovalPlan, BrandId, DomainId, Execution, ExecutionId, ExecutionStatus, Page, PlanId, PlanStatus, Run, Workflow,
    WorkflowId,
};
use crate::store::codec;
use crate::store::tables::{DOMAINS, EXECUTIONS, PLANS, RUNS, WORKFLOW_BY_DOMAIN, WORKFLOWS, key};
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

/// The fields of a plan record the waiting-requests cap reads.
#[derive(serde::Deserialize)]
struct PlanKind {
    status: PlanStatus,
    #[serde(default)]
    standalone: Option<serde::de::IgnoredAny>,
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
            let mut t = w.open_table(RUNS).map_err(StoreError::from_db)?;
            for run in &rw.runs {
                put(&mut t, &key(&[run.brand.as_bytes(), run.id.as_bytes()]), run)?;
            }
            drop(t);
            let mut plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
            for p in &rw.plans {
                put(&mut plans, &key(&[p.brand.as_bytes(), p.id.as_bytes()]), p)?;
            }
            drop(plans);
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

    /// A brand's runs, newest first, optionally of one workflow.
    pub fn list_runs(
        &self,
        brand: BrandId,
        workflow: Option<WorkflowId>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Run>, StoreError> {
        self.read(|r| {
            let t = r.open_table(RUNS).map_err(StoreError::from_db)?;
            let mut all: Vec<Run> = all_prefix(&t, "runs", brand.as_bytes())?;
            all.retain(|x| workflow.is_none_or(|w| x.workflow == w));
            all.reverse();
            let total = all.len() as u64;
            let skip = page.saturating_sub(1).saturating_mul(per_page) as usize;
            Ok(Page { items: all.into_iter().skip(skip).take(per_page as usize).collect(), total })
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
            let mut plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
            if plan.is_standalone() && plan.status == PlanStatus::WaitingApproval {
                let mut waiting = 0usize;
                // Decodes only the two fields it needs (not the plans' contexts): this runs
                // inside the writer.
                scan_prefix(&plans, plan.brand.as_bytes(), |_, v| {
                    let p: PlanKind = codec::decode("plans", v)?;
                    waiting += usize::from(p.standalone.is_some() && p.status == PlanStatus::WaitingApproval);
                    Ok(true)
                })?;
                if waiting >= STANDALONE_WAITING_MAX {
                    return Err(StoreError::State(format!(
                        "this brand has {waiting} approval requests waiting for a decision, the most it may have \
                         ({STANDALONE_WAITING_MAX}); decide some first"
                    )));
                }
            }
            put(&mut plans, &key(&[plan.brand.as_bytes(), plan.id.as_bytes()]), &plan)?;
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

    /// A brand's plans waiting for a decision, oldest first.
    pub fn waiting_plans(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<ApprovalPlan>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PLANS).map_err(StoreError::from_db)?;
            let mut all: Vec<ApprovalPlan> = all_prefix(&t, "plans", brand.as_bytes())?;
            all.retain(|p| p.status == PlanStatus::WaitingApproval);
            let total = all.len() as u64;
            let skip = page.saturating_sub(1).saturating_mul(per_page) as usize;
            Ok(Page { items: all.into_iter().skip(skip).take(per_page as usize).collect(), total })
        })
    }

    /// Every plan still waiting, of every brand (start-up: deadlines re-armed).
    pub fn all_waiting_plans(&self) -> Result<Vec<ApprovalPlan>, StoreError> {
        self.read(|r| {
            let t = r.open_table(PLANS).map_err(StoreError::from_db)?;
            let mut all: Vec<ApprovalPlan> = all_prefix(&t, "plans", &[])?;
            all.retain(|p| p.status == PlanStatus::WaitingApproval);
            Ok(all)
        })
    }
}
