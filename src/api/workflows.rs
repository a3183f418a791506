//! Workflow endpoints: `add_workflow_template`, `add_workflow_step`,
//! `get_workflow_template_paginated`, `single_workflow_template_detail` and the SDK's variants;
//! extensions `update_/delete_workflow_template`, `update_/delete_workflow_step`,
//! `execute_workflow`, run history (`get_workflow_runs_paginated`, `get_workflow_run_details`,
//! `rerun_workflow_run`); human approval (`get_all_pending_approvals_paginated`,
//! `human_approval_action`).

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::reply::{ApiResult, ok, paginated};
use super::request::Cx;
use super::request::{Names, Req};
use crate::model::{
    Condition, ConditionOp, Domain, DomainId, Execution, ExecutionId, ExecutionStatus, FailureStrategy, HttpMethod,
    PlanId, RetryPolicy, RetryStrategy, RunType, Step, StepId, StepStatus, TargetKind, TimeoutAction, Workflow,
    WorkflowId,
};
use crate::store::StoreError;
use crate::template::{Kind, for_each_string, scan};
use crate::time::{format_utc, tz};

const WF_ID: Names = &["workflow_uuid", "template_uuid"];
const SDK_WF_ID: Names = &["template_uuid", "workflow_uuid"];
const NAME: Names = &["workflow_name", "name"];
const DESCRIPTION: Names = &["workflow_description", "description"];
const RUNTYPE: Names = &["runtype", "mode"];
const NAME_CHARS_MAX: usize = 200;
const IDENTIFIER_CHARS_MAX: usize = 100;
const WORKFLOW_RETRIES_MAX: i64 = 100;
const DELAY_SECONDS_MAX: i64 = 30 * 86_400;

fn load(cx: &Cx, req: &Req, names: Names) -> Result<Workflow, ApiError> {
    let id = WorkflowId(req.uuid(names)?);
    cx.app.store.get_workflow(cx.brand.id, id)?.ok_or(ApiError::NotFound("Workflow"))
}

fn apply_settings(req: &Req, wf: &mut Workflow, creating: bool) -> Result<(), ApiError> {
    if let Some(n) = if creating { Some(req.string(NAME)?) } else { req.opt_string(NAME)? } {
        if n.trim().is_empty() || n.chars().count() > NAME_CHARS_MAX {
            return Err(ApiError::invalid("workflow_name", format!("1 to {NAME_CHARS_MAX} characters")));
        }
        wf.name = n;
    }
    if let Some(d) = req.opt_string(DESCRIPTION)? {
        wf.description = d;
    }
    let runtype = if creating && !req.has(RUNTYPE) && req.has(&["steps"]) {
        Some("concurrently".to_string()) // the SDK's default mode
    } else if creating {
        Some(req.string(RUNTYPE)?)
    } else {
        req.opt_string(RUNTYPE)?
    };
    if let Some(rt) = runtype {
        wf.runtype = RunType::parse(&rt)
            .ok_or_else(|| ApiError::invalid("runtype", "expected fifo_sequential or concurrently"))?;
    }
    if let Some(f) = req.opt_string(&["failure_strategy"])? {
        wf.failure_strategy = match f.as_str() {
            "stop" => FailureStrategy::Stop,
            "continue" => FailureStrategy::Continue,
            _ => return Err(ApiError::invalid("failure_strategy", "expected stop or continue")),
        };
    }
    if let Some(r) = req.opt_string(&["retry_strategy"])? {
        wf.retry_strategy = match r.as_str() {
            "none" => RetryStrategy::None,
            "from_failed_step" => RetryStrategy::FromFailedStep,
            "from_initial_step" => RetryStrategy::FromInitialStep,
            _ => {
                return Err(ApiError::invalid(
                    "retry_strategy",
                    "expected none, from_failed_step or from_initial_step",
                ));
            }
        };
    }
    if let Some(m) = req.opt_int(&["workflow_max_retries"], 0, WORKFLOW_RETRIES_MAX)? {
        wf.max_retries = m as u32;
    }
    if let Some(d) = req.opt_int(&["workflow_retry_delay"], 0, DELAY_SECONDS_MAX)? {
        wf.retry_delay_seconds = d as u32;
    }
    Ok(())
}

/// The request field of the step that references `{{ step… }}`, if any.
fn step_variable_field(s: &Step) -> Option<&'static str> {
    let is_step = |path: &str| path == "step" || path.starts_with("step.");
    let uses = |v: &Value| {
        let mut found = false;
        for_each_string(v, &mut |x| {
            found |= scan(x).iter().any(|p| matches!(p.kind, Kind::Path(path) if is_step(path)))
        });
        found
    };
    if uses(&Value::String(s.path.clone())) {
        return Some("path");
    }
    if s.headers.values().any(uses) {
        return Some("headers_json");
    }
    if s.query.values().any(uses) {
        return Some("query_params_json");
    }
    if uses(&s.body) {
        return Some("request_body_json");
    }
    match &s.condition {
        Some(c) if is_step(crate::workflow::condition::field_path(&c.field)) => Some("execution_condition.field"),
        _ => None,
    }
}

fn route(req: &Req, name: &'static str) -> Result<Option<Option<String>>, ApiError> {
    match req.body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.trim().to_string()))),
        Some(_) => Err(ApiError::invalid(name, "expected a step_identifier string (empty or null = no route)")),
    }
}

fn parse_condition(req: &Req) -> Result<Option<Option<Condition>>, ApiError> {
    let raw = match req.body.get("execution_condition").or(req.body.get("condition")) {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(o)) if o.is_empty() => return Ok(Some(None)),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(ApiError::invalid("execution_condition", "expected an object {field, operator, value}")),
    };
    let field = raw
        .get("field")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::Missing("execution_condition.field".into()))?;
    let op = raw
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::Missing("execution_condition.operator".into()))?;
    let operator = ConditionOp::parse(op).ok_or_else(|| {
        ApiError::invalid("execution_condition.operator", "expected eq, ne, lt, gt, lte, gte, in or contains")
    })?;
    let value = raw.get("value").cloned().unwrap_or(Value::Null);
    Ok(Some(Some(Condition { field: field.to_string(), operator, value })))
}

/// Builds or changes a step from a request body (documented names, SDK `name`/`url`).
/// Returns a domain to create when the step names a new `url`'s domain.
fn apply_step(cx: &Cx, req: &Req, s: &mut Step, creating: bool, position: usize) -> Result<Option<Domain>, ApiError> {
    // The inline webhook: reuse the template field rules.
    let mut t = s.as_template(cx.brand.id);
    let creating_webhook = creating && !req.has(&["webhook_name", "name"]);
    if creating_webhook {
        t.name = format!("step {position}");
    }
    let new_domain = super::templates::apply(cx, req, &mut t, creating && !creating_webhook)?;
    if creating && creating_webhook {
        // The SDK's inline steps may omit names; path/domain or url are still required.
        if !req.has(&["url"]) && (!req.has(&["path"]) || !req.has(&["domain_uuid"])) {
            return Err(ApiError::Missing(if req.has(&["path"]) { "domain_uuid" } else { "path" }.into()));
        }
        super::templates::apply(cx, req, &mut t, false)?;
    }
    s.set_call(t);
    if let Some(i) = if creating {
        Some(req.opt_int(&["index"], i64::MIN, i64::MAX)?.unwrap_or(position as i64))
    } else {
        req.opt_int(&["index"], i64::MIN, i64::MAX)?
    } {
        s.index = i;
    }
    let ident = if creating {
        req.opt_string(&["step_identifier", "identifier", "id"])?.or(Some(format!("step_{position}")))
    } else {
        req.opt_string(&["step_identifier", "identifier"])?
    };
    if let Some(i) = ident {
        if i.is_empty() || i.len() > IDENTIFIER_CHARS_MAX || !i.chars().all(crate::template::is_name_char) {
            return Err(ApiError::invalid(
                "step_identifier",
                format!("1-{IDENTIFIER_CHARS_MAX} letters, digits, '_' or '-'"),
            ));
        }
        s.identifier = i;
    }
    if let Some(b) = req.opt_bool(&["human_approval_required"])? {
        s.human_approval_required = b;
    }
    if let Some(r) = route(req, "on_success_next_step_identifier")? {
        s.on_success = r;
    }
    if let Some(r) = route(req, "on_fail_next_step_identifier")? {
        s.on_fail = r;
    }
    if let Some(d) = req.opt_int(&["delay_to_next_step"], 0, DELAY_SECONDS_MAX)? {
        s.delay_to_next_step_seconds = d as u32;
    }
    if let Some(c) = parse_condition(req)? {
        s.condition = c;
    }
    if let Some(t) = req.opt_int(&["approval_timeout_seconds"], 1, DELAY_SECONDS_MAX)? {
        s.approval_timeout_seconds = Some(t as u32);
    }
    if let Some(a) = req.opt_string(&["approval_timeout_action"])? {
        s.approval_timeout_action = match a.as_str() {
            "reject" => TimeoutAction::Reject,
            "approve" => TimeoutAction::Approve,
            _ => return Err(ApiError::invalid("approval_timeout_action", "expected reject or approve")),
        };
    }
    Ok(new_domain)
}

fn blank_step(now: i64) -> Step {
    Step {
        id: StepId::new(),
        index: 0,
        identifier: String::new(),
        webhook_id: uuid::Uuid::now_v7(),
        name: String::new(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/".into(),
        domain: DomainId(uuid::Uuid::nil()),
        retry: RetryPolicy::DEFAULT,
        body: Value::Object(Map::new()),
        headers: Map::new(),
        query: Map::new(),
        human_approval_required: false,
        on_success: None,
        on_fail: None,
        delay_to_next_step_seconds: 0,
        condition: None,
        approval_timeout_seconds: None,
        approval_timeout_action: TimeoutAction::Reject,
        created_ms: now,
    }
}

/// Checks a workflow as a whole: unique identifiers, routes to existing steps, no step
/// variables in concurrent mode, the step-count bound.
fn validate(wf: &Workflow, steps_max: usize) -> Result<(), StoreError> {
    if wf.steps.len() > steps_max {
        return Err(StoreError::Invalid(format!(
            "steps: a workflow has at most {steps_max} steps (workflows.steps_per_workflow_max)"
        )));
    }
    for (i, s) in wf.steps.iter().enumerate() {
        if wf.steps[..i].iter().any(|o| o.identifier == s.identifier) {
            return Err(StoreError::Invalid(format!(
                "step_identifier: {:?} is already used in this workflow",
                s.identifier
            )));
        }
        for (field, r) in
            [("on_success_next_step_identifier", &s.on_success), ("on_fail_next_step_identifier", &s.on_fail)]
        {
            if let Some(r) = r
                && !wf.steps.iter().any(|o| &o.identifier == r)
            {
                return Err(StoreError::Invalid(format!(
                    "{field}: no step {r:?} in this workflow (add that step first, or leave it empty)"
                )));
            }
        }
        if wf.runtype == RunType::Concurrently
            && let Some(field) = step_variable_field(s)
        {
            return Err(StoreError::Invalid(format!(
                "{field}: step {:?} uses {{{{ step… }}}} variables, which concurrent workflows cannot resolve",
                s.identifier
            )));
        }
    }
    Ok(())
}

fn invalid(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(msg) => match msg.split_once(": ") {
            Some((field, why)) => ApiError::invalid(field, why.to_string()),
            None => ApiError::BadBody(Some(msg)),
        },
        other => other.into(),
    }
}

async fn ensure_domain(cx: &Cx, d: Option<Domain>) -> Result<Option<DomainId>, ApiError> {
    match d {
        Some(d) => super::domains::ensure_domain(cx, d).await.map(Some),
        None => Ok(None),
    }
}

pub async fn add_template(cx: Cx, req: Req) -> ApiResult {
    let mut wf = Workflow {
        id: WorkflowId::new(),
        brand: cx.brand.id,
        name: String::new(),
        description: String::new(),
        runtype: RunType::FifoSequential,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: Vec::new(),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    apply_settings(&req, &mut wf, true)?;
    // The SDK sends inline `steps`; domains their urls name are registered only once the
    // whole workflow checked out (a refused call writes nothing).
    let mut new_domains: Vec<(StepId, Domain)> = Vec::new();
    match req.body.get("steps") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(o) = item else { return Err(ApiError::invalid("steps", "expected step objects")) };
                let sreq = Req { method: req.method.clone(), body: o.clone(), query: Default::default() };
                let mut s = blank_step(cx.now);
                if let Some(d) = apply_step(&cx, &sreq, &mut s, true, i)? {
                    new_domains.push((s.id, d));
                }
                wf.steps.push(s);
            }
            wf.steps.sort_by_key(|s| s.index);
        }
        Some(_) => return Err(ApiError::invalid("steps", "expected an array of step objects")),
    }
    validate(&wf, cx.app.live().workflows.steps_per_workflow_max).map_err(invalid)?;
    for s in wf.steps.iter().filter(|s| !new_domains.iter().any(|(id, _)| *id == s.id)) {
        cx.app.store.get_domain(cx.brand.id, s.domain)?.ok_or(ApiError::NotFound("Domain"))?;
    }
    for (id, d) in new_domains {
        if let Some(d) = ensure_domain(&cx, Some(d)).await?
            && let Some(s) = wf.steps.iter_mut().find(|s| s.id == id)
        {
            s.domain = d;
        }
    }
    let wf = cx.app.store.create_workflow(wf).await?;
    // The documented success text really says "Webhook Template added".
    ok(json!({"success": true, "details": "Webhook Template added", "workflow_uuid": wf.id.to_string()}))
}

pub async fn add_step(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, &["workflow_uuid"])?;
    let mut s = blank_step(cx.now);
    let nd = apply_step(&cx, &req, &mut s, true, wf.steps.len())?;
    if !req.has(&["index"]) {
        return Err(ApiError::Missing("index".into()));
    }
    if !req.has(&["step_identifier"]) {
        return Err(ApiError::Missing("step_identifier".into()));
    }
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    if nd.is_some() {
        // Check before registering the url's domain (the writer checks again).
        let mut probe = wf.clone();
        probe.steps.push(s.clone());
        validate(&probe, steps_max).map_err(invalid)?;
    }
    if let Some(d) = ensure_domain(&cx, nd).await? {
        s.domain = d;
    }
    let id = s.id;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            w.steps.push(s);
            w.steps.sort_by_key(|s| s.index);
            validate(w, steps_max)
        })
        .await
        .map_err(invalid)?;
    ok(json!({"success": true, "details": "Workflow webhook added successfully", "step_uuid": id.to_string()}))
}

fn find_step(cx: &Cx, req: &Req) -> Result<(Workflow, StepId), ApiError> {
    let step = StepId(req.uuid(&["step_uuid"])?);
    if req.has(&["workflow_uuid"]) {
        let wf = load(cx, req, &["workflow_uuid"])?;
        if wf.steps.iter().any(|s| s.id == step) {
            return Ok((wf, step));
        }
        return Err(ApiError::NotFound("Step"));
    }
    let mut page = 1;
    loop {
        let p = cx.app.store.list_workflows(cx.brand.id, page, 500)?;
        if let Some(wf) = p.items.into_iter().find(|w| w.steps.iter().any(|s| s.id == step)) {
            return Ok((wf, step));
        }
        if page * 500 >= p.total {
            return Err(ApiError::NotFound("Step"));
        }
        page += 1;
    }
}

pub async fn update_step(cx: Cx, req: Req) -> ApiResult {
    let (wf, step_id) = find_step(&cx, &req)?;
    let mut s = wf.steps.iter().find(|s| s.id == step_id).cloned().expect("found");
    let nd = apply_step(&cx, &req, &mut s, false, 0)?;
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    if nd.is_some() {
        // Check before registering the url's domain (the writer checks again).
        let mut probe = wf.clone();
        if let Some(slot) = probe.steps.iter_mut().find(|x| x.id == step_id) {
            *slot = s.clone();
        }
        validate(&probe, steps_max).map_err(invalid)?;
    }
    if let Some(d) = ensure_domain(&cx, nd).await? {
        s.domain = d;
    }
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            let slot = w.steps.iter_mut().find(|x| x.id == step_id).ok_or(StoreError::NotFound("Step"))?;
            *slot = s;
            validate(w, steps_max)
        })
        .await
        .map_err(invalid)?;
    ok(json!({"success": true, "details": "Workflow step updated successfully", "step_uuid": step_id.to_string()}))
}

pub async fn delete_step(cx: Cx, req: Req) -> ApiResult {
    let (wf, step_id) = find_step(&cx, &req)?;
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            let gone = w
                .steps
                .iter()
                .find(|x| x.id == step_id)
                .map(|x| x.identifier.clone())
                .ok_or(StoreError::NotFound("Step"))?;
            w.steps.retain(|x| x.id != step_id);
            if w.steps
                .iter()
                .any(|x| x.on_success.as_deref() == Some(gone.as_str()) || x.on_fail.as_deref() == Some(gone.as_str()))
            {
                return Err(StoreError::Invalid(format!(
                    "step_uuid: other steps route to {gone:?}; change their routes first"
                )));
            }
            validate(w, steps_max)
        })
        .await
        .map_err(invalid)?;
    ok(json!({"success": true, "details": "Workflow step deleted successfully", "step_uuid": step_id.to_string()}))
}

pub async fn update_template(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, WF_ID)?;
    let mut probe = wf.clone();
    apply_settings(&req, &mut probe, false)?;
    if probe.runtype == RunType::Concurrently
        && let Some(s) = probe.steps.iter().find(|s| step_variable_field(s).is_some())
    {
        return Err(ApiError::invalid(
            "runtype",
            format!(
                "step {:?} uses {{{{ step… }}}} variables, which concurrent workflows cannot resolve",
                s.identifier
            ),
        ));
    }
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            w.name = probe.name;
            w.description = probe.description;
            w.runtype = probe.runtype;
            w.failure_strategy = probe.failure_strategy;
            w.retry_strategy = probe.retry_strategy;
            w.max_retries = probe.max_retries;
            w.retry_delay_seconds = probe.retry_delay_seconds;
            validate(w, steps_max)
        })
        .await
        .map_err(invalid)?;
    ok(
        json!({"success": true, "details": "Workflow template updated successfully", "workflow_uuid": wf.id.to_string()}),
    )
}

pub async fn delete_template(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, WF_ID)?;
    cx.app.store.delete_workflow(cx.brand.id, wf.id, cx.now).await?;
    ok(
        json!({"success": true, "details": "Workflow template deleted successfully", "workflow_uuid": wf.id.to_string()}),
    )
}

pub async fn list(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let items = cx.app.store.list_workflows(cx.brand.id, page, cx.page_size)?;
    let zone = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &zone, |w| {
        json!({
            "inserted_at": tz::format_in_zone(w.created_ms, &zone),
            "workflow_name": w.name,
            "workflow_uuid": w.id.to_string(),
            "workflow_description": w.description,
            "runtype": w.runtype.as_str(),
            "total_workflow_steps": w.steps.len(),
        })
    })
}

fn step_view(cx: &Cx, s: &Step) -> Result<Value, ApiError> {
    let zone = cx.brand.timezone.as_str();
    let d = cx.app.store.get_domain(cx.brand.id, s.domain)?;
    let (host, proto) = d.map(|d| (d.host, d.protocol.as_str())).unwrap_or_default();
    let t = s.as_template(cx.brand.id);
    Ok(json!({
        "index": s.index,
        "timezone": zone,
        "inserted_at": tz::format_in_zone(s.created_ms, zone),
        "step_identifier": s.identifier,
        "human_approval_required": s.human_approval_required,
        "delay_to_next_step": s.delay_to_next_step_seconds,
        "webhook": {
            "path": s.path,
            "domain": {"protocol": proto, "domain": host},
            "method": s.method.as_str(),
            "webhook_uuid": s.webhook_id.to_string(),
            "webhook_name": s.name,
            "headers_json": s.headers,
            "query_params_json": s.query,
            "request_body_json": s.body,
            "expected_system_variables": super::templates::expected_system_variables(&t),
            "domain_uuid": s.domain.to_string(),
        },
        "step_uuid": s.id.to_string(),
        "execution_conditions": s.condition.iter().map(|c| json!({"value": c.value, "operator": c.operator.as_str(), "field": c.field})).collect::<Vec<_>>(),
        "on_success_next_step_identifier": s.on_success,
        "on_fail_next_step_identifier": s.on_fail,
        "retry_delay": s.retry.retry_delay_seconds,
        "retry_backoff_mode": s.retry.backoff.as_str(),
        "max_retries": s.retry.max_retries,
        "request_timeout_in_milliseconds": s.retry.request_timeout_ms,
        "approval_timeout_seconds": s.approval_timeout_seconds,
        "approval_timeout_action": match s.approval_timeout_action { TimeoutAction::Reject => "reject", TimeoutAction::Approve => "approve" },
    }))
}

fn detail_of(cx: &Cx, wf: &Workflow) -> ApiResult {
    let zone = cx.brand.timezone.as_str();
    let steps = wf.steps.iter().map(|s| step_view(cx, s)).collect::<Result<Vec<_>, _>>()?;
    ok(json!({"success": true, "data": {
        "timezone": zone,
        "inserted_at": tz::format_in_zone(wf.created_ms, zone),
        "workflow_name": wf.name,
        "workflow_uuid": wf.id.to_string(),
        "workflow_description": wf.description,
        "runtype": wf.runtype.as_str(),
        "workflow_steps": steps,
        "failure_strategy": match wf.failure_strategy { FailureStrategy::Stop => "stop", FailureStrategy::Continue => "continue" },
        "retry_strategy": match wf.retry_strategy { RetryStrategy::None => "none", RetryStrategy::FromFailedStep => "from_failed_step", RetryStrategy::FromInitialStep => "from_initial_step" },
        "workflow_max_retries": wf.max_retries,
        "workflow_retry_delay": wf.retry_delay_seconds,
    }}))
}

pub async fn detail(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, WF_ID)?;
    detail_of(&cx, &wf)
}

/// The SDK's `get_workflow_template_uuid` (`{template_uuid}`).
pub async fn detail_sdk(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, SDK_WF_ID)?;
    detail_of(&cx, &wf)
}

// ---- runs ----

fn run_execution(cx: &Cx, wf: &Workflow, context: Map<String, Value>, retry_of: Option<ExecutionId>) -> Execution {
    let mut e = Execution::manual(cx.brand.id, None, (TargetKind::Workflow, wf.id.0), context, cx.now);
    e.retry_of = retry_of;
    e
}

/// `execute_workflow` (`{workflow_uuid, initial_context}`): starts one run now.
pub async fn execute(cx: Cx, req: Req) -> ApiResult {
    let wf = load(&cx, &req, WF_ID)?;
    let context = req.opt_object(&["initial_context", "initial_context_template", "context"])?.unwrap_or_default();
    let e = cx.app.store.create_execution(run_execution(&cx, &wf, context, None)).await?;
    cx.app.scheduler.start_run(cx.brand.id, e.id).await;
    ok(
        json!({"success": true, "details": "Workflow run started", "run_uuid": e.id.to_string(), "execution_uuid": e.id.to_string()}),
    )
}

/// `rerun_workflow_run` (`{run_uuid, from: initial_step | failed_step, initial_context?}`).
pub async fn rerun(cx: Cx, req: Req) -> ApiResult {
    let old_id = ExecutionId(req.uuid(&["run_uuid"])?);
    let old = cx.app.store.get_run(cx.brand.id, old_id)?.ok_or(ApiError::NotFound("Run"))?;
    if !old.status.is_finished() {
        return Err(ApiError::conflict(format!("Run is still {}", old.status.as_str())));
    }
    let wf = cx.app.store.get_workflow(cx.brand.id, old.workflow)?.ok_or(ApiError::NotFound("Workflow"))?;
    let from = req.opt_string(&["from"])?.unwrap_or_else(|| "initial_step".into());
    let context = req.opt_object(&["initial_context", "context"])?.unwrap_or_else(|| old.initial_context.clone());
    let e = run_execution(&cx, &wf, context.clone(), Some(old.id));
    let mut run = crate::workflow::new_run(e.id, &wf, context, cx.now);
    let start: Vec<StepId> = match from.as_str() {
        "initial_step" => Vec::new(),
        "failed_step" => {
            let failed =
                old.visits.iter().rev().find(|v| matches!(v.status, StepStatus::Failed | StepStatus::Rejected));
            let Some(failed) = failed else {
                return Err(ApiError::invalid("from", "the run has no failed step; use initial_step"));
            };
            // Earlier results carry over, so later steps can still read them.
            match wf.runtype {
                RunType::FifoSequential => {
                    let cut = old.visits.iter().position(|v| std::ptr::eq(v, failed)).unwrap_or(0);
                    run.visits =
                        old.visits[..cut].iter().filter(|v| v.status == StepStatus::Succeeded).cloned().collect();
                    vec![failed.step]
                }
                RunType::Concurrently => {
                    run.visits = old
                        .visits
                        .iter()
                        .filter(|v| matches!(v.status, StepStatus::Succeeded | StepStatus::Skipped))
                        .cloned()
                        .collect();
                    wf.steps.iter().filter(|s| !run.visits.iter().any(|v| v.step == s.id)).map(|s| s.id).collect()
                }
            }
        }
        _ => return Err(ApiError::invalid("from", "expected initial_step or failed_step")),
    };
    let e = cx.app.store.create_execution(e).await?;
    if start.is_empty() {
        cx.app.scheduler.start_run(cx.brand.id, e.id).await;
    } else {
        cx.app.store.write_run(crate::store::RunWrite { runs: vec![run], ..Default::default() }).await?;
        cx.app.scheduler.resume_run(cx.brand.id, e.id, start).await;
    }
    ok(
        json!({"success": true, "details": "Workflow run restarted", "run_uuid": e.id.to_string(), "rerun_of": old_id.to_string()}),
    )
}

pub async fn list_runs(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let wf = match req.query.get("workflow_uuid").filter(|s| !s.is_empty()) {
        Some(s) => Some(WorkflowId(
            uuid::Uuid::parse_str(s).map_err(|_| ApiError::invalid("workflow_uuid", "expected a UUID"))?,
        )),
        None => None,
    };
    let items = cx.app.store.list_runs(cx.brand.id, wf, page, cx.page_size)?;
    paginated(items, page, cx.page_size, &cx.brand.timezone, |r| {
        json!({
            "run_uuid": r.id.to_string(),
            "workflow_uuid": r.workflow.to_string(),
            "status": r.status.as_str(),
            "reason": r.reason,
            "created_at": format_utc(r.created_ms),
            "finished_at": r.finished_ms.map(format_utc),
            "steps_started": r.steps_started,
            "workflow_retries": r.workflow_retries,
        })
    })
}

pub async fn run_details(cx: Cx, req: Req) -> ApiResult {
    let id = ExecutionId(req.uuid(&["run_uuid"])?);
    let Some(r) = cx.app.store.get_run(cx.brand.id, id)? else {
        // The scheduler writes the run when it starts it, just after `execute_workflow` or a
        // fire answered with its id: until then the run is its execution, with no step yet.
        let e = cx
            .app
            .store
            .get_execution(cx.brand.id, id)?
            .filter(|e| e.target_kind == TargetKind::Workflow && e.step.is_none())
            .ok_or(ApiError::NotFound("Run"))?;
        let status = match e.status {
            ExecutionStatus::Pending | ExecutionStatus::Running => "running",
            other => other.as_str(),
        };
        return ok(json!({"success": true, "data": {
            "run_uuid": e.id.to_string(),
            "workflow_uuid": WorkflowId(e.target_id).to_string(),
            "status": status,
            "reason": e.reason,
            "initial_context": e.context,
            "created_at": format_utc(e.created_ms),
            "finished_at": e.finished_ms.map(format_utc),
            "workflow_retries": 0,
            "steps": [],
        }}));
    };
    let mut timeline = Vec::new();
    for v in &r.visits {
        let exec = match v.execution {
            Some(e) => cx.app.store.get_execution(cx.brand.id, e)?,
            None => None,
        };
        let attempts: Vec<Value> = exec
            .as_ref()
            .map(|e| {
                e.attempts
                    .iter()
                    .map(|a| json!({"attempt": a.n, "started_at": format_utc(a.started_ms), "latency_ms": a.latency_ms, "status_code": a.status_code, "error": a.error, "request": a.request, "response_excerpt": a.response_excerpt}))
                    .collect()
            })
            .unwrap_or_default();
        timeline.push(json!({
            "step_uuid": v.step.to_string(),
            "step_identifier": v.identifier,
            "index": v.index,
            "status": v.status.as_str(),
            "execution_uuid": v.execution.map(|e| e.to_string()),
            "execution_plan_uuid": v.plan.map(|p| p.to_string()),
            "started_at": v.started_ms.map(format_utc),
            "finished_at": v.finished_ms.map(format_utc),
            "status_code": v.status_code,
            "error": v.error,
            "response_excerpt": attempts.last().and_then(|a| a.get("response_excerpt").cloned()),
            "attempts": attempts,
            "context": v.context,
        }));
    }
    ok(json!({"success": true, "data": {
        "run_uuid": r.id.to_string(),
        "workflow_uuid": r.workflow.to_string(),
        "status": r.status.as_str(),
        "reason": r.reason,
        "initial_context": r.initial_context,
        "created_at": format_utc(r.created_ms),
        "finished_at": r.finished_ms.map(format_utc),
        "workflow_retries": r.workflow_retries,
        "steps": timeline,
    }}))
}

// ---- approvals ----

pub async fn pending_approvals(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let items = cx.app.store.waiting_plans(cx.brand.id, page, cx.page_size)?;
    let zone = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &zone, |p| {
        json!({
            "execution_plan_uuid": p.id.to_string(),
            "workflow_uuid": p.workflow.to_string(),
            "workflow_name": p.workflow_name,
            "step_identifier": p.identifier,
            "workflow_index": p.index,
            "status": p.status.as_str(),
            "human_approval_required": true,
            "delay_to_next_step": p.delay_to_next_step_seconds,
            "inserted_at": tz::format_in_zone(p.created_ms, &zone),
            "run_uuid": p.run.to_string(),
            "deadline_at": p.deadline_ms.map(format_utc),
        })
    })
}

pub async fn approval_action(cx: Cx, req: Req) -> ApiResult {
    let action = req.string(&["action"])?;
    let plan = PlanId(req.uuid(&["execution_plan_uuid", "execution_plan_id"])?);
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::invalid("action", "expected approve or reject")),
    };
    let p = cx.app.store.get_plan(cx.brand.id, plan)?.ok_or(ApiError::NotFound("Execution plan"))?;
    if p.status != crate::model::PlanStatus::WaitingApproval {
        return Err(ApiError::conflict(format!(
            "Execution plan is not waiting for approval (it is {})",
            p.status.as_str()
        )));
    }
    match cx.app.scheduler.decide(cx.brand.id, plan, approve, cx.key_id).await {
        Ok(()) if approve => ok(json!({"success": true, "message": "Workflow approved and resumed"})),
        Ok(()) => ok(json!({"success": true, "message": "Workflow rejected and skipped"})),
        Err(crate::workflow::Refused::NotStored) => Err(ApiError::Internal("the approval could not be stored".into())),
        Err(_) => Err(ApiError::conflict("Execution plan is not waiting for approval")),
    }
}
