"""Runs the official HookPulse Python SDK (hookpulse==1.0.2) against a running hookwheel.

Started by the Rust integration test `sdk::official_python_sdk_works` with the daemon's URL and
credentials in the environment. Each check is a function; the script prints one line per
check and a final "N passed, M failed" line, and exits non-zero on any failure.
"""

import os
import sys
import time
import traceback

from hookpulse.client import HookPulseClient
from hookpulse.exceptions import HookPulseAPIError, HookPulseAuthError

BASE = os.environ["HOOKWHEEL_URL"]
BRAND = os.environ["HOOKWHEEL_BRAND"]
KEY = os.environ["HOOKWHEEL_KEY"]
RECEIVER = os.environ.get("HOOKWHEEL_RECEIVER_HOST", "127.0.0.1:9")

client = HookPulseClient(api_key=KEY, brand_uuid=BRAND, base_url=BASE + "/")
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def domains():
    r = client.add_domain("sdk-domain.example", protocol="https", rate_limit_per_second=5, max_concurrent=2)
    assert r["success"] is True, r
    uuid = r["domain_uuid"]
    found = client.get_domain_uuid("sdk-domain.example", protocol="https")
    assert found["success"] is True and found["domain_uuid"] == uuid, found
    page = client.get_domains(page=1)
    assert page["success"] is True and page["meta"]["page"] == 1, page
    row = next(d for d in page["data"] if d["domain_uuid"] == uuid)
    assert row["domain_name"] == "sdk-domain.example"
    assert row["protocol_type"] == "https"
    assert row["rate_limit_enabled"] is True and row["max_requests_per_second"] == 5
    assert row["concurrency_control_enabled"] is True and row["max_concurrent_jobs"] == 2


@check
def webhook_templates():
    url = f"http://{RECEIVER}/sdk/hook?source=sdk"
    r = client.create_webhook_template("sdk template", url, method="PUT",
                                       headers={"X-Token": "{{ #sdk_token }}"}, body={"a": "{{ initial.a }}"})
    assert r["success"] is True, r
    uuid = r["webhook_template_id"]
    assert r["webhook_uuid"] == uuid
    detail = client.get_webhook_template(uuid)["data"]
    assert detail["webhook_name"] == "sdk template"
    assert detail["method"] == "PUT"
    assert detail["path"] == "/sdk/hook"
    assert detail["query_params_json"] == {"source": "sdk"}
    assert detail["headers_json"] == {"X-Token": "{{ #sdk_token }}"}
    assert detail["request_body_json"] == {"a": "{{ initial.a }}"}
    assert detail["expected_system_variables"] == ["sdk_token"]
    assert detail["domain_details"] == {"domain": RECEIVER, "protocol_type": "http"}
    listed = client.get_webhook_templates(page=1)
    assert any(t["webhook_uuid"] == uuid for t in listed["data"]), listed
    upd = client.update_webhook_template(uuid, name="renamed", method="POST")
    assert upd["success"] is True, upd
    detail = client.get_webhook_template(uuid)["data"]
    assert detail["webhook_name"] == "renamed" and detail["method"] == "POST"
    assert detail["path"] == "/sdk/hook", "fields not sent keep their values"
    # The same url's domain is reused, not registered twice.
    again = client.create_webhook_template("second", url)
    d1 = client.get_webhook_template(again["webhook_uuid"])["data"]["domain_uuid"]
    assert d1 == detail["domain_uuid"]
    assert client.delete_webhook_template(uuid)["success"] is True
    try:
        client.get_webhook_template(uuid)
        raise AssertionError("deleted template still readable")
    except HookPulseAPIError as e:
        assert e.status_code == 404 and "not found" in str(e), e


@check
def secrets():
    r = client.create_secret("sdk_token", "s3cr3t-value-1")
    assert r["success"] is True, r
    uuid = r["secret_uuid"]
    try:
        client.create_secret("sdk_token", "other")
        raise AssertionError("duplicate accepted")
    except HookPulseAPIError as e:
        assert e.status_code == 409 and str(e).startswith("Key with same name already in database"), e
    listed = client.get_secrets(page=1)
    row = next(s for s in listed["data"] if s["secret_uuid"] == uuid)
    assert row["secret_key"] == "sdk_token" and row["call_key"] == "{{ #sdk_token }}"
    assert "s3cr3t" not in str(listed), "a list must never carry values"
    meta = client.get_secret(uuid)
    assert meta["data"]["secret_key"] == "sdk_token"
    assert "s3cr3t" not in str(meta), "the SDK's get_secret documents that no value is returned"
    assert client.update_secret(uuid, "s3cr3t-value-2")["success"] is True
    # The documented endpoint (not in the SDK) reads the value back.
    value = client._request("POST", "/v1/api/get_value_of_secret/", json_data={"secret_uuid": uuid})
    assert value["data"]["secret_value"] == "s3cr3t-value-2", value
    assert client.delete_secret(uuid)["success"] is True
    try:
        client.delete_secret(uuid)
        raise AssertionError("second delete succeeded")
    except HookPulseAPIError as e:
        assert e.status_code == 404, e


@check
def schedules():
    url = f"http://{RECEIVER}/sdk/scheduled"
    r = client.create_schedule(webhook_url=url, schedule_type="interval", interval_seconds=3600)
    assert r["success"] is True and r["details"] == "Schedule added successfully", r
    uuid = r["schedule_uuid"]
    detail = client.get_schedule(uuid)
    assert detail["success"] is True, detail
    data = detail["data"]
    assert data["schedule_uuid"] == uuid and data["status"] == "active", data
    assert data["driver"]["type"] == "interval", data
    assert data["driver"]["interval_value"] == 3600 and data["driver"]["interval_period"] == "second", data
    assert data["driver"]["is_one_off"] is False, data
    assert data["next_run_at"] is not None and data["next_run_at"].endswith("Z"), data
    cron = client.create_schedule(webhook_url=url, schedule_type="cron", cron_expression="0 9 * * *",
                                  timezone="America/New_York")
    assert cron["success"] is True, cron
    cron_uuid = cron["schedule_uuid"]
    cron_driver = client.get_schedule(cron_uuid)["data"]["driver"]
    assert cron_driver["cron_expression"] == "0 9 * * *", cron_driver
    assert cron_driver["cron_timezone"] == "America/New_York", cron_driver

    listed = client.get_schedules(page=1)
    assert listed["success"] is True and listed["meta"]["page"] == 1, listed
    ids = {s["schedule_uuid"] for s in listed["data"]}
    assert {uuid, cron_uuid} <= ids, listed
    row = next(s for s in listed["data"] if s["schedule_uuid"] == uuid)
    assert row["driver_type"] == "interval" and row["status"] == "active", row

    assert client.update_schedule_status(uuid, "paused")["success"] is True
    assert client.get_schedule(uuid)["data"]["status"] == "paused"
    paused = client.get_schedules(page=1, status="paused")
    assert [s["schedule_uuid"] for s in paused["data"]] == [uuid], paused
    assert client.update_schedule_status(uuid, "active")["success"] is True
    assert client.get_schedule(uuid)["data"]["status"] == "active"
    assert client.update_schedule_status(uuid, "stopped")["success"] is True
    assert client.get_schedule(uuid)["data"]["status"] == "paused", "stopped means paused"

    deleted = client.delete_schedule(uuid)
    assert deleted["success"] is True and deleted["error"] == "Schedule deleted successfully", deleted
    try:
        client.delete_schedule(uuid)
        raise AssertionError("second delete succeeded")
    except HookPulseAPIError as e:
        assert e.status_code == 404 and str(e) == "Schedule not found", e
    try:
        client.get_schedule(uuid)
        raise AssertionError("deleted schedule still readable")
    except HookPulseAPIError as e:
        assert e.status_code == 404, e
    assert client.delete_schedule(cron_uuid)["success"] is True


@check
def workflow_templates():
    # The README's step shape (name, type, url, method, condition) plus an identifier.
    steps = [
        {"name": "Validate Payment", "type": "webhook", "url": f"http://{RECEIVER}/sdk/validate", "method": "POST",
         "id": "validate"},
        {"name": "Process Payment", "type": "webhook", "url": f"http://{RECEIVER}/sdk/process", "method": "POST",
         "condition": {"field": "{{ step.validate.response.status }}", "operator": "eq", "value": "valid"}},
    ]
    r = client.create_workflow_template("Payment Processing", steps, mode="fifo")
    assert r["success"] is True and r["details"] == "Webhook Template added", r
    uuid = r["workflow_uuid"]
    data = client.get_workflow_template(uuid)["data"]
    assert data["workflow_uuid"] == uuid and data["workflow_name"] == "Payment Processing", data
    assert data["runtype"] == "fifo_sequential", data
    s = data["workflow_steps"]
    assert [x["step_identifier"] for x in s] == ["validate", "step_1"], s
    assert [x["index"] for x in s] == [0, 1], s
    assert s[0]["webhook"]["path"] == "/sdk/validate" and s[0]["webhook"]["method"] == "POST", s[0]
    assert s[0]["webhook"]["webhook_name"] == "Validate Payment", s[0]
    assert s[0]["webhook"]["domain"] == {"protocol": "http", "domain": RECEIVER}, s[0]
    assert s[0]["execution_conditions"] == [], s[0]
    assert s[1]["execution_conditions"] == [
        {"field": "{{ step.validate.response.status }}", "operator": "eq", "value": "valid"}], s[1]
    listed = client.get_workflow_templates(page=1)
    assert listed["success"] is True and listed["meta"]["page"] == 1, listed
    row = next(w for w in listed["data"] if w["workflow_uuid"] == uuid)
    assert row["workflow_name"] == "Payment Processing", row
    assert row["total_workflow_steps"] == 2 and row["runtype"] == "fifo_sequential", row

    # The SDK's default mode is concurrent, where step variables cannot resolve.
    try:
        client.create_workflow_template("concurrent", steps)
        raise AssertionError("step variables accepted in a concurrent workflow")
    except HookPulseAPIError as e:
        assert e.status_code == 400 and "execution_condition.field" in str(e), e
    conc = client.create_workflow_template("concurrent", steps[:1])["workflow_uuid"]
    assert client.get_workflow_template(conc)["data"]["runtype"] == "concurrently"

    upd = client.update_workflow_template(uuid, name="Payments v2", failure_strategy="continue")
    assert upd["success"] is True, upd
    data = client.get_workflow_template(uuid)["data"]
    assert data["workflow_name"] == "Payments v2" and data["failure_strategy"] == "continue", data
    assert data["runtype"] == "fifo_sequential" and len(data["workflow_steps"]) == 2, "fields not sent keep their values"

    for wf in (uuid, conc):
        assert client.delete_workflow_template(wf)["success"] is True
    try:
        client.get_workflow_template(uuid)
        raise AssertionError("deleted workflow still readable")
    except HookPulseAPIError as e:
        assert e.status_code == 404 and str(e) == "Workflow not found", e
    try:
        client.delete_workflow_template(uuid)
        raise AssertionError("second delete succeeded")
    except HookPulseAPIError as e:
        assert e.status_code == 404, e
    assert not any(w["workflow_uuid"] == uuid for w in client.get_workflow_templates(page=1)["data"])


@check
def approvals():
    r = client.create_workflow_template("needs a human", [
        {"name": "gate", "url": f"http://{RECEIVER}/sdk/gate", "method": "POST", "id": "gate",
         "human_approval_required": True, "max_retries": 0}], mode="fifo")
    wf = r["workflow_uuid"]

    def start_and_wait_for_plan():
        run = client._request("POST", "/v1/api/execute_workflow/",
                              json_data={"workflow_uuid": wf, "initial_context": {}})["run_uuid"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            page = client._request("GET", "/v1/api/get_all_pending_approvals_paginated/", params={"page": 1})
            for p in page["data"]:
                if p["run_uuid"] == run:
                    assert p["status"] == "waiting_approval" and p["step_identifier"] == "gate", p
                    return run, p["execution_plan_uuid"]
            time.sleep(0.02)
        raise AssertionError(f"run {run} never waited for approval")

    def run_status(run):
        return client._request("POST", "/v1/api/get_workflow_run_details/", json_data={"run_uuid": run})["data"]

    run, plan = start_and_wait_for_plan()
    assert run_status(run)["status"] == "waiting_approval"
    r = client.approve_execution(plan)
    assert r == {"success": True, "message": "Workflow approved and resumed"}, r
    for again in (client.approve_execution, client.reject_execution):
        try:
            again(plan)
            raise AssertionError("a decided plan was decided again")
        except HookPulseAPIError as e:
            assert e.status_code == 409, e
    assert run_status(run)["steps"][0]["status"] != "waiting_approval"

    run2, plan2 = start_and_wait_for_plan()
    r = client.reject_execution(plan2)
    assert r == {"success": True, "message": "Workflow rejected and skipped"}, r
    data = run_status(run2)
    assert data["status"] == "failed" and data["steps"][0]["status"] == "rejected", data
    try:
        client.approve_execution(plan2)
        raise AssertionError("a rejected plan was approved")
    except HookPulseAPIError as e:
        assert e.status_code == 409, e
    try:
        client.reject_execution("00000000-0000-0000-0000-000000000000")
        raise AssertionError("an unknown plan was rejected")
    except HookPulseAPIError as e:
        assert e.status_code == 404, e


@check
def timezones():
    r = client.get_timezones()
    assert r["success"] is True
    zones = r["data"]
    assert len(zones) > 400, len(zones)
    for z in ("America/New_York", "Asia/Kolkata", "Europe/London", "UTC"):
        assert z in zones, z
    assert "Factory" not in zones


@check
def wrong_credentials_raise_auth_error():
    bad = HookPulseClient(api_key="hwk_wrong", brand_uuid=BRAND, base_url=BASE)
    try:
        bad.get_domains()
        raise AssertionError("wrong key accepted")
    except HookPulseAuthError:
        pass


def main():
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn()
            print(f"ok   {fn.__name__}")
            passed += 1
        except Exception:  # noqa: BLE001 - report every failing check
            print(f"FAIL {fn.__name__}")
            traceback.print_exc()
            failed += 1
    print(f"sdk: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
