//! An example request body for every operation that reads one, shown in `/openapi.json` and
//! docs/reference.md. A unit test reads each example with its operation's input type, so an
//! example the API would refuse to read fails the tests. The ids are placeholders: sent as
//! they are, they name nothing (404).

use serde_json::{Value, json};

const DOMAIN: &str = "0193a4e2-5f1c-7d3a-9b8e-1c2d3e4f5a60";
const WEBHOOK: &str = "0193a4e2-6a2b-7c4d-8e9f-2a3b4c5d6e71";
const SECRET: &str = "0193a4e2-7b3c-7d5e-9fa0-3b4c5d6e7f82";
const SCHEDULE: &str = "0193a4e2-8c4d-7e6f-a0b1-4c5d6e7f8093";
const RULE: &str = "0193a4e2-9d5e-7f70-b1c2-5d6e7f8091a4";
const EXECUTION: &str = "0193a4e2-ae6f-7081-82d3-6e7f8091a2b5";
const WORKFLOW: &str = "0193a4e2-bf70-7192-93e4-7f8091a2b3c6";
const STEP: &str = "0193a4e2-c081-72a3-a4f5-8091a2b3c4d7";
const PLAN: &str = "0193a4e2-d192-73b4-b506-91a2b3c4d5e8";
const SOURCE: &str = "0193a4e2-e2a3-74c5-86a7-a2b3c4d5e6f9";
const SUBSCRIPTION: &str = "0193a4e2-f3b4-75d6-97b8-b3c4d5e6f70a";
const EVENT: &str = "0193a4e3-04c5-76e7-a8c9-c4d5e6f7081b";
const JOB: &str = "0193a4e3-15d6-77f8-b9da-d5e6f708192c";
const MONITOR: &str = "0193a4e3-26e7-7809-8aeb-e6f708192a3d";
const CHANNEL: &str = "0193a4e3-37f8-781a-9bfc-f708192a3b4e";
const ALERT_RULE: &str = "0193a4e3-4809-792b-ac0d-08192a3b4c5f";

/// The example body of the endpoint `name` (`None` for query-string endpoints and names that
/// are no endpoint).
pub fn request(name: &str) -> Option<Value> {
    let policies = json!({"misfire_policy": "fire_once", "overlap_policy": "skip", "jitter_seconds": 0});
    let with = |mut base: Value, extra: &Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    let step = json!({
        "step_identifier": "create_invoice",
        "index": 0,
        "method": "POST",
        "url": "https://billing.example.com/invoices",
        "request_body_json": {"customer": "{{ initial.customer_id }}"},
        "headers_json": {"Authorization": "Bearer {{ #billing_token }}"},
        "max_retries": 3,
        "retry_delay": 10,
        "retry_backoff_mode": "exponential",
        "on_success_next_step_identifier": "notify",
    });
    Some(match name {
        "add_domain" => json!({
            "protocol_type": "https", "domain": "api.example.com",
            "rate_limit_enabled": true, "max_requests_per_second": 10,
            "concurrency_control_enabled": true, "max_concurrent_jobs": 5,
            "circuit_breaker_enabled": true, "failure_threshold": 5, "open_seconds": 30,
        }),
        "get_domain_uuid" => json!({"domain": "api.example.com", "protocol_type": "https"}),
        "update_domain" => json!({"domain_uuid": DOMAIN, "max_requests_per_second": 20}),
        "delete_domain"
        | "get_domain_signing_secret"
        | "rotate_domain_signing_secret"
        | "get_domain_health"
        | "reset_domain_circuit" => {
            json!({"domain_uuid": DOMAIN})
        }
        "add_webhook_template" => json!({
            "webhook_name": "Nightly report",
            "webhook_description": "Posts the report request to the reporting service.",
            "method": "POST",
            "domain_uuid": DOMAIN,
            "path": "/reports/{{ initial.report }}",
            "request_body_json": {"format": "pdf"},
            "headers_json": {"X-Api-Token": "{{ #report_token }}"},
            "query_params_json": {"lang": "en"},
            "max_retries": 3,
            "retry_delay": 30,
            "retry_backoff_mode": "exponential",
            "request_timeout_in_milliseconds": 10000,
        }),
        "single_webhook_template_detail" | "delete_webhook_template" => json!({"webhook_uuid": WEBHOOK}),
        "get_webhook_template_uuid" => json!({"template_uuid": WEBHOOK}),
        "update_webhook_template" => json!({"webhook_uuid": WEBHOOK, "max_retries": 5}),
        "add_system_secret" => json!({"secret_key": "report_token", "secret_value": "s3cr3t-value"}),
        "get_value_of_secret" | "get_system_secret_uuid" | "delete_secret" | "delete_system_secret" => {
            json!({"secret_uuid": SECRET})
        }
        "update_secret_value" | "update_system_secret" => {
            json!({"secret_uuid": SECRET, "secret_value": "n3w-s3cr3t-value"})
        }
        "add_interval_schedule" => with(
            json!({
                "schedule_to": "webhook", "model_to_schedule_uuid": WEBHOOK,
                "interval_value": 5, "interval_period": "minute", "is_one_off_task": false,
                "name": "every five minutes", "initial_context_template": {"report": "daily"},
            }),
            &policies,
        ),
        "add_cron_schedule" => with(
            json!({
                "schedule_to": "webhook", "model_to_schedule_uuid": WEBHOOK,
                "cron_expression": "0 9 * * 1-5", "cron_timezone": "Europe/Paris", "is_one_off_task": false,
                "name": "weekday mornings",
            }),
            &policies,
        ),
        "add_clocked_schedule" => json!({
            "schedule_to": "webhook", "model_to_schedule_uuid": WEBHOOK,
            "clocked_run_at": "2030-12-24T18:00:00", "clocked_timezone": "America/New_York",
            "name": "christmas eve",
        }),
        "add_solar_schedule" => json!({
            "schedule_to": "workflow", "model_to_schedule_uuid": WORKFLOW,
            "solar_event": "sunset", "solar_lat": 48.8566, "solar_long": 2.3522, "solar_offset_seconds": -900,
            "is_one_off_task": false, "name": "lights on",
        }),
        "add_debounce_schedule" => json!({
            "schedule_to": "webhook", "model_to_schedule_uuid": WEBHOOK,
            "debounce_seconds": 30, "debounce_mode": "trailing", "max_wait_seconds": 300,
            "name": "sync after edits",
        }),
        "add_schedule" => json!({
            "schedule_type": "interval", "webhook_url": "https://api.example.com/tick",
            "interval_seconds": 60, "name": "every minute",
        }),
        "add_schedule_rule" => json!({
            "schedule_uuid": SCHEDULE, "rule_type": "time_window",
            "start_time": "09:00:00", "end_time": "17:00:00", "timezone": "Europe/Berlin",
        }),
        "list_schedule_rules" | "get_single_schedule_details" | "get_schedule_uuid" | "delete_schedule" => {
            json!({"schedule_uuid": SCHEDULE})
        }
        "delete_schedule_rule" => json!({"schedule_uuid": SCHEDULE, "rule_uuid": RULE}),
        "change_schedule_status" => json!({"schedule_uuid": SCHEDULE, "update_status_to": "paused"}),
        "update_schedule_status" => json!({"schedule_uuid": SCHEDULE, "status": "active"}),
        "update_schedule" => json!({"schedule_uuid": SCHEDULE, "interval_value": 10, "jitter_seconds": 5}),
        "preview_schedule" => json!({
            "driver_type": "cron", "cron_expression": "0 9 * * 1-5", "cron_timezone": "Europe/Paris",
            "count": 5, "from": "2030-01-01T00:00:00Z",
            "rules": [{"rule_type": "exclusion", "exclusion_dates": ["2030-01-01"]}],
        }),
        "trigger_schedule_now" | "trigger_debounce_schedule" => {
            json!({"schedule_uuid": SCHEDULE, "context": {"reason": "manual run"}})
        }
        "get_execution_details" | "retry_execution" | "cancel_execution" => json!({"execution_uuid": EXECUTION}),
        "execute_webhook_template" => json!({"webhook_uuid": WEBHOOK, "initial_context": {"report": "weekly"}}),
        "add_workflow_template" => json!({
            "workflow_name": "Invoice and notify",
            "workflow_description": "Creates an invoice, then tells the customer.",
            "runtype": "fifo_sequential",
            "failure_strategy": "stop",
            "retry_strategy": "from_failed_step",
            "workflow_max_retries": 2,
            "workflow_retry_delay": 60,
            "steps": [step, {
                "step_identifier": "notify",
                "index": 1,
                "method": "POST",
                "url": "https://notify.example.com/send",
                "request_body_json": {"invoice": "{{ step.create_invoice.response.id }}"},
            }],
        }),
        "add_workflow_step" => json!({
            "workflow_uuid": WORKFLOW,
            "step_identifier": "approve_refund",
            "index": 2,
            "method": "POST",
            "domain_uuid": DOMAIN,
            "path": "/refunds",
            "human_approval_required": true,
            "approval_timeout_seconds": 86400,
            "approval_timeout_action": "reject",
            "execution_condition": {"field": "step.create_invoice.response.amount", "operator": "gt", "value": 100},
        }),
        "single_workflow_template_detail" | "delete_workflow_template" => json!({"workflow_uuid": WORKFLOW}),
        "get_workflow_template_uuid" => json!({"template_uuid": WORKFLOW}),
        "update_workflow_template" => json!({"workflow_uuid": WORKFLOW, "failure_strategy": "continue"}),
        "update_workflow_step" => json!({"step_uuid": STEP, "delay_to_next_step": 60}),
        "delete_workflow_step" => json!({"step_uuid": STEP, "workflow_uuid": WORKFLOW}),
        "execute_workflow" => json!({"workflow_uuid": WORKFLOW, "initial_context": {"customer_id": "c_42"}}),
        "get_workflow_run_details" => json!({"run_uuid": EXECUTION}),
        "rerun_workflow_run" => json!({"run_uuid": EXECUTION, "from": "failed_step"}),
        "human_approval_action" => {
            json!({"execution_plan_uuid": PLAN, "action": "approve", "notes": "Checked the invoice."})
        }
        "create_approval_request" => json!({
            "title": "Refund order 1042",
            "context": {"order_id": 1042, "amount": "129.00"},
            "timeout_seconds": 3600,
            "timeout_action": "reject",
            "on_approve": {"schedule_to": "webhook", "model_to_schedule_uuid": WEBHOOK},
            "on_reject": {"schedule_to": "workflow", "model_to_schedule_uuid": WORKFLOW},
        }),
        "get_approval_request" => json!({"execution_plan_uuid": PLAN}),
        "add_source" => json!({
            "source_name": "GitHub pushes",
            "verification": {"type": "github", "secret_key": "github_webhook_secret"},
            "dedup": {"by": "header", "key": "x-github-delivery", "window_seconds": 86400},
            "event_type_from": {"header": "x-github-event"},
        }),
        "update_source" => json!({"source_uuid": SOURCE, "ip_allow_cidrs": ["192.30.252.0/22", "140.82.112.0/20"]}),
        "get_source_details" | "delete_source" | "rotate_source_ingest_token" => json!({"source_uuid": SOURCE}),
        "add_subscription" => json!({
            "subscription_name": "Paid orders to billing",
            "source_uuid": SOURCE,
            "event_types": ["order.*"],
            "filter": [{"field": "event.body.total", "operator": "gte", "value": 100}],
            "transform": "{order: .event.body.id, total: .event.body.total}",
            "schedule_to": "webhook",
            "model_to_schedule_uuid": WEBHOOK,
            "delay_seconds": 0,
        }),
        "update_subscription" => json!({"subscription_uuid": SUBSCRIPTION, "enabled": false}),
        "get_subscription_details" | "delete_subscription" => json!({"subscription_uuid": SUBSCRIPTION}),
        "send_event" => json!({
            "event_type": "user.created",
            "payload": {"user_id": "user_123", "plan": "pro"},
            "labels": {"environment": "production"},
            "event_id": "user_123-created",
        }),
        "get_event_details" => json!({"event_uuid": EVENT}),
        "replay_events" => json!({
            "from": "2026-11-30T00:00:00Z", "to": "2026-12-01T00:00:00Z",
            "subscription_uuid": SUBSCRIPTION, "rate_per_second": 50,
        }),
        "bulk_retry_executions" => json!({"from": "2026-11-30T00:00:00Z", "subscription_uuid": SUBSCRIPTION}),
        "get_replay_job" | "cancel_replay_job" => json!({"job_uuid": JOB}),
        "add_monitor" => json!({
            "monitor_name": "Nightly database backup",
            "cron_expression": "30 2 * * *",
            "cron_timezone": "Europe/Berlin",
            "grace_seconds": 1800,
            "slug": "db-backup",
        }),
        "update_monitor" => json!({"monitor_uuid": MONITOR, "grace_seconds": 3600}),
        "get_monitor_details" | "delete_monitor" | "pause_monitor" | "resume_monitor" => {
            json!({"monitor_uuid": MONITOR})
        }
        "rotate_ping_key" => json!({}),
        "add_notification_channel" => json!({
            "channel_name": "Ops Slack",
            "type": "slack",
            "url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        }),
        "update_notification_channel" => json!({"channel_uuid": CHANNEL, "channel_name": "Ops Slack (night)"}),
        "get_notification_channel_details" | "delete_notification_channel" | "test_notification_channel" => {
            json!({"channel_uuid": CHANNEL})
        }
        "add_alert_rule" => json!({
            "rule_type": "monitor_down",
            "channel_uuids": [CHANNEL],
            "monitor_uuid": MONITOR,
            "cooldown_seconds": 300,
        }),
        "update_alert_rule" => json!({"alert_rule_uuid": ALERT_RULE, "cooldown_seconds": 900}),
        "get_alert_rule_details" | "delete_alert_rule" => json!({"alert_rule_uuid": ALERT_RULE}),
        "get_pipeline_instances_paginated" => json!({"monitor_uuid": MONITOR}),
        _ => return None,
    })
}
