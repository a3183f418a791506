"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver), driven by
Selenium through the system's chromedriver. Run by tests/it/ui.rs with the daemon's address,
credentials and the ids it prepared in the environment; prints ALL PASSED at the end and
exits non-zero on the first failed check. Screenshots of every page at 360 and 1440 px go to
$HW_SHOTS. Nothing is downloaded: the browser and driver are the system's."""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

BASE = os.environ["HW_URL"].rstrip("/")
BRAND = os.environ["HW_BRAND"]
KEY = os.environ["HW_KEY"]
SCHEDULE = os.environ["HW_SCHEDULE"]
SCHEDULE_NAME = os.environ["HW_SCHEDULE_NAME"]
FAILED = os.environ["HW_FAILED"]
PLAN = os.environ["HW_PLAN"]
OTHER_EXECUTION = os.environ["HW_OTHER_EXECUTION"]
MONITOR_NAME = os.environ["HW_MONITOR_NAME"]
EVENT = os.environ["HW_EVENT"]
TEMPLATE = os.environ["HW_TEMPLATE"]
SHOTS = os.environ["HW_SHOTS"]
PROFILE = os.environ["HW_PROFILE"]
WIDTHS = (360, 1440)
WAIT_S = 30

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"FAILED: {what}")
        sys.exit(1)


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={PROFILE}",
        "--window-size=1440,900",
    ):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


d = browser()


def console(page, allow_http_errors=False):
    """Fails on any SEVERE console entry (drains the log). A page that is an error page on
    purpose (403, 404) may have Chromium's own 'Failed to load resource' entry for itself."""
    for e in d.get_log("browser"):
        if e.get("level") != "SEVERE":
            continue
        if allow_http_errors and "Failed to load resource: the server responded with a status of" in e.get("message", ""):
            continue
        check(False, f"console error on {page}: {e}")


def wait(cond, what):
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.2)
    check(False, f"timed out waiting for {what} (at {d.current_url})")


def shoot(name):
    """Screenshots at both widths; at 360 px the page must not scroll sideways."""
    os.makedirs(SHOTS, exist_ok=True)
    for w in WIDTHS:
        d.set_window_size(w, 900)
        time.sleep(0.2)
        d.save_screenshot(os.path.join(SHOTS, f"{name}-{w}.png"))
        if w == 360:
            over = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check(over <= 1, f"{name} at 360 px scrolls sideways by {over} px")
    d.set_window_size(1440, 900)


def visit(path, name=None):
    d.get(BASE + path)
    if name:
        shoot(name)


def api(action, body):
    """One call of the HTTP API (outside the browser), as another client would make it."""
    req = urllib.request.Request(
        f"{BASE}/v1/api/{action}/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"x-brand-uuid": BRAND, "x-hookpulse-api-key": KEY, "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 200, f"{action}: {r.status}")
        return json.loads(r.read())


def short(uuid):
    """An id as tables show it: an ellipsis and its last 8 characters."""
    return "\u2026" + uuid[-8:]


def text():
    return d.find_element(By.TAG_NAME, "body").text


try:
    # Sign in.
    visit("/ui/", None)
    wait(lambda: d.current_url.endswith("/ui/sign-in"), "the redirect to sign-in")
    shoot("sign-in")
    console("sign-in")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = d.switch_to.active_element
    check(focused.text == "Skip to content", f"Tab reaches the skip link first, got {focused.text!r}")
    check(focused.rect["y"] >= 0 and focused.is_displayed(), "the skip link is visible when focused")
    focused.send_keys(Keys.ENTER)
    check(d.current_url.endswith("#content"), "the skip link goes to the content")
    d.find_element(By.ID, "brand_uuid").send_keys(BRAND)
    d.find_element(By.ID, "api_key").send_keys(KEY)
    d.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait(lambda: d.current_url.endswith("/ui/") and "Overview" in d.find_element(By.TAG_NAME, "h1").text, "the overview")
    check("failed executions" in text(), "the overview counts failures of the last 24 h")
    check(d.find_elements(By.CSS_SELECTOR, "a.card[href='/ui/executions?status=missed']"), "the missed card is a link")
    shoot("overview")
    console("overview")

    # The schedule created through the API, with its driver in words and its next fire.
    visit("/ui/schedules", "schedules")
    row = d.find_element(By.XPATH, f"//tr[.//a[normalize-space()='{SCHEDULE_NAME}']]")
    check("every 5 minutes" in row.text, f"driver in words: {row.text}")
    times = row.find_elements(By.TAG_NAME, "time")
    check(len(times) >= 1 and times[0].get_attribute("datetime"), f"next fire shown: {row.text}")
    row = d.find_element(By.XPATH, "//tr[.//a[normalize-space()='weekday report']]")
    check("at 07:00 Europe/Berlin on weekdays" in row.text, f"cron in words: {row.text}")
    check("07:00:00" in row.text and "(Europe/Berlin)" in row.text, f"next fire in its own zone: {row.text}")
    console("schedules")
    visit(f"/ui/schedules/{SCHEDULE}", "schedule")
    fires = d.find_elements(By.CSS_SELECTOR, "main ol li time")
    check(len(fires) == 10, f"next-10 preview has {len(fires)}")
    # The cron schedule's page: its raw expression, and its fires in its zone and the viewer's.
    d.find_element(By.NAME, "zone").clear()
    d.find_element(By.NAME, "zone").send_keys("Asia/Tokyo")
    d.find_element(By.XPATH, "//button[normalize-space()='Change']").click()
    wait(lambda: "Asia/Tokyo" in text(), "times in the viewer's zone")
    visit("/ui/schedules")
    d.find_element(By.LINK_TEXT, "weekday report").click()
    wait(lambda: "cron_expression=" in text(), "the cron schedule's page with its raw expression")
    fires = d.find_elements(By.CSS_SELECTOR, "main ol li time")
    check(len(fires) == 20, f"each fire in its own zone and the viewer's: {len(fires)}")
    check("(Asia/Tokyo)" in fires[1].text or "JST" in fires[1].text, f"the viewer's zone: {fires[1].text}")
    shoot("schedule-cron")
    d.find_element(By.NAME, "zone").clear()
    d.find_element(By.XPATH, "//button[normalize-space()='Change']").click()
    wait(lambda: "Asia/Tokyo" not in d.find_element(By.NAME, "zone").get_attribute("value"), "back to the brand's zone")
    console("schedule")

    # Retry a failed execution from its page.
    # Live: an execution started now (through the API) shows up in the list without a reload.
    visit("/ui/executions")
    started = api("execute_webhook_template", {"webhook_uuid": TEMPLATE})["execution_uuid"]
    url_before = d.current_url
    wait(lambda: short(started) in text(), "the polled executions list to show the new execution")
    check(d.current_url == url_before, "the list was updated in place")
    console("executions (after a poll)")
    visit("/ui/executions?status=failed", "executions")
    check(short(FAILED) in text(), "the failed execution is listed under its filter (by its short id)")
    check(d.find_element(By.CSS_SELECTOR, f"main a[title='{FAILED}']").text == short(FAILED), "the short id's link has the whole id as its title")
    console("executions")
    visit(f"/ui/executions/{FAILED}", "execution")
    check("failed" in text(), "the execution page shows its status")
    check("Request (secrets masked)" in text(), "the attempt's request is shown")
    console("execution")
    d.find_element(By.XPATH, "//button[normalize-space()='Retry']").click()
    wait(lambda: "notice=retry" in d.current_url, "the retried execution's page")
    check(FAILED not in d.current_url.split("?")[0], "the retry is a new execution")
    check(FAILED in text(), "the new execution links to the failed one")
    wait(lambda: "succeeded" in d.find_element(By.CSS_SELECTOR, "dl.facts dd").text, "the retry to succeed on its page")
    console("retried execution")

    # Approve a waiting workflow step, with a confirmation step.
    visit("/ui/approvals", "approvals")
    check(short(PLAN) in text(), "the waiting plan is listed")
    # Live: an approval requested now (through the API) shows up without a reload.
    api("create_approval_request", {"title": "live approval request", "timeout_seconds": 600})
    url_before = d.current_url
    wait(lambda: "live approval request" in text(), "the polled list to show the new request")
    check(d.current_url == url_before and short(PLAN) in text(), "updated in place, the other plan still listed")
    console("approvals (after a poll)")
    d.find_element(By.CSS_SELECTOR, f"a[href='/ui/approvals/{PLAN}/confirm?decision=approve']").click()
    wait(lambda: "/confirm" in d.current_url, "the confirmation page")
    check("payout" in text(), "the confirmation names the workflow")
    check('"amount": 5' in text(), f"the confirmation shows the run's context: {text()}")
    shoot("confirm")
    console("confirm")
    d.find_element(By.XPATH, "//button[normalize-space()='Yes, approve']").click()
    wait(lambda: "notice=approved" in d.current_url, "back on the approvals page")
    check(short(PLAN) not in text(), "the approved plan left the pending list")
    console("approvals (after approving)")

    # The other pages: workflows (graph, run timeline), events, monitors, domains, alerts.
    visit("/ui/workflows", "workflows")
    check("payout" in text(), "the workflow is listed")
    console("workflows")
    d.find_element(By.LINK_TEXT, "payout").click()
    wait(lambda: "/ui/workflows/" in d.current_url, "the workflow page")
    check(len(d.find_elements(By.CSS_SELECTOR, "svg.graph rect")) == 2, "the graph has a box per step")
    shoot("workflow")
    console("workflow")
    d.find_element(By.CSS_SELECTOR, "a[href^='/ui/runs/']").click()
    wait(lambda: "/ui/runs/" in d.current_url, "the run page")
    check("prepare" in text() and "pay" in text(), "the run's timeline lists its steps")
    shoot("run")
    console("run")
    visit("/ui/events")
    check("stripe-live" in d.find_element(By.CSS_SELECTOR, "main table").text, "the sources are listed first")
    check(short(EVENT) in text() and "order.created" in text(), "the event is in the log")
    d.find_element(By.LINK_TEXT, short(EVENT)).click()
    wait(lambda: f"/ui/events/{EVENT}" in d.current_url, "the event page")
    check("order.created" in text(), "the event page names the event's type")
    check("orders" in d.find_element(By.CSS_SELECTOR, "main table").text, "and the subscription by its name")
    check("/ui/executions/" in d.find_element(By.CSS_SELECTOR, "main table").get_attribute("innerHTML"), "the event's execution is linked")
    shoot("event")
    console("event")
    visit("/ui/events")
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    d.find_element(By.ID, "from").send_keys(iso(now - 3600))
    d.find_element(By.ID, "to").send_keys(iso(now + 3600))
    d.find_element(By.XPATH, "//button[normalize-space()='Replay']").click()
    wait(lambda: "notice=replay" in d.current_url, "the events page after starting a replay")
    console("events (after a replay)")
    for path, name in (("/ui/events", "events"), ("/ui/monitors", "monitors"), ("/ui/domains", "domains"), ("/ui/alerts", "alerts")):
        visit(path, name)
        console(name)
    visit("/ui/monitors")
    row = d.find_element(By.XPATH, f"//tr[contains(., '{MONITOR_NAME}')]")
    check("up" in row.text, f"the pinged monitor is up: {row.text}")
    row.find_element(By.XPATH, ".//button[normalize-space()='Pause']").click()
    wait(lambda: "notice=paused" in d.current_url, "the board after pausing")
    row = d.find_element(By.XPATH, f"//tr[contains(., '{MONITOR_NAME}')]")
    check("paused" in row.text, f"the monitor is paused: {row.text}")
    console("monitors (after pausing)")
    visit("/ui/domains")
    d.find_element(By.LINK_TEXT, "Rotate\u2026").click()
    wait(lambda: d.current_url.endswith("/rotate"), "the rotation's confirmation")
    check("://127.0.0.1" in d.find_element(By.TAG_NAME, "main").text, f"the confirmation names the domain: {text()}")
    shoot("rotate")
    console("rotate")
    d.find_element(By.XPATH, "//button[normalize-space()='Yes, rotate']").click()
    wait(lambda: "notice=rotated" in d.current_url, "the domains page after rotating")
    console("domains (after rotating)")

    # A form post without the CSRF token is refused (403) and changes nothing.
    status = d.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/ui/schedules/' + arguments[0] + '/status', {method: 'POST', credentials: 'same-origin',
            headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'to=paused'})
          .then(r => done(r.status), e => done(String(e)));""",
        SCHEDULE,
    )
    check(status == 403, f"a post without the token: {status}")
    d.get_log("browser")  # the refused fetch's own entry
    visit(f"/ui/schedules/{SCHEDULE}")
    check("active" in d.find_element(By.CSS_SELECTOR, "dl.facts dd").text, "the schedule is still active")

    # Another brand's execution: the 404 page.
    visit(f"/ui/executions/{OTHER_EXECUTION}")
    check(d.find_element(By.TAG_NAME, "h1").text == "Not found", "another brand's id is a 404 page")
    check("Execution not found" in text(), "with the API's message")
    console("404 page", allow_http_errors=True)

    # Sign out, then a page is refused (back to sign-in).
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait(lambda: d.current_url.endswith("/ui/sign-in"), "the sign-in page after signing out")
    visit("/ui/schedules")
    wait(lambda: d.current_url.endswith("/ui/sign-in"), "a refused page after signing out")
    console("signed out")
finally:
    d.quit()

print(f"ALL PASSED ({checks} checks)")
