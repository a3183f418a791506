//! The web dashboard under `/ui/` (product.md §13; docs/ui.md).
//!
//! Server-rendered HTML ([`pages`], maud: everything escaped by default) with the embedded
//! htmx for the live parts, and no inline script, so every answer carries a strict
//! `Content-Security-Policy` ([`security_headers`]). The dashboard implements no rule of its
//! own: every read and action is a call of an endpoint's operation through
//! [`crate::api::dispatch::call`] (the same input reading, validation and brand scoping as
//! `/v1/api/`), and the page renders the JSON it answers; an API error becomes a page with
//! the API's status and message (another brand's id: the API's 404, a 404 page).
//!
//! Sign-in takes a brand UUID and an API key through the API's own key check and opens a
//! [`session`]; every later request re-checks that the key still exists and is unrevoked, and
//! every `POST` must carry the session's CSRF token (form field `csrf` or the
//! `X-CSRF-Token` header htmx sends), else 403 and nothing changes.

/// Unwraps a page-or-early-answer chain.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(early) => return *early,
        }
    };
}

pub mod describe;
mod more;
mod pages;
pub mod session;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::api::App;
use crate::api::dispatch;
use crate::api::error::ApiError;
use crate::model::Brand;
use crate::server::OverTls;
use crate::time::Millis;
use session::{Session, Sessions};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hw_session";
/// The sign-in form's CSRF cookie (a random value the form echoes; there is no session yet).
const SIGNIN_COOKIE: &str = "hw_signin";
/// The largest form body read (bytes); a longer one is a 413 page.
const FORM_BYTES_MAX: usize = 16 * 1024;
/// Failed sign-ins allowed per client address within [`SIGNIN_WINDOW_MS`]; more are 429.
const SIGNIN_FAILURES_MAX: u32 = 10;
const SIGNIN_WINDOW_MS: Millis = 60_000;
/// Client addresses whose failed sign-ins are remembered at most (then the table is cleared).
const SIGNIN_ADDRESSES_MAX: usize = 10_000;

/// Pages of pending approvals the confirmation page looks through for a workflow step's plan.
const APPROVAL_PAGES_MAX: u64 = 100;

/// The `Content-Security-Policy` of every `/ui/` answer: nothing from another origin, no
/// inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The `Strict-Transport-Security` of every `/ui/` answer over TLS (one year; not on plain
/// HTTP, where browsers ignore it).
pub const HSTS: &str = "max-age=31536000";

/// The dashboard's state: the API's [`App`], the sessions, the failed sign-ins per address.
pub struct Ui {
    app: Arc<App>,
    sessions: Sessions,
    failures: Mutex<HashMap<IpAddr, (u32, Millis)>>,
}

/// The `/ui` router (nested under `/ui` by [`crate::api::router`]; paths here are relative).
pub fn router(app: Arc<App>) -> Router {
    let ui = Arc::new(Ui { app, sessions: Sessions::default(), failures: Mutex::new(HashMap::new()) });
    Router::new()
        .route("/", get(overview))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", get(to_overview).post(sign_out))
        .route("/zone", get(to_overview).post(set_zone))
        .route("/schedules", get(schedules))
        .route("/schedules/{id}", get(schedule))
        .route("/schedules/{id}/status", get(to_schedule).post(schedule_status))
        .route("/executions", get(executions))
        .route("/executions/{id}", get(execution))
        .route("/executions/{id}/{action}", get(to_execution).post(execution_action))
        .route("/approvals", get(approvals))
        .route("/approvals/list", get(approvals_list))
        .route("/approvals/{id}/confirm", get(approval_confirm))
        .route("/approvals/{id}/decide", get(to_approvals).post(approval_decide))
        .route("/workflows", get(more::workflows))
        .route("/workflows/{id}", get(more::workflow))
        .route("/runs/{id}", get(more::run))
        .route("/events", get(more::events))
        .route("/events/replay", get(to_events).post(more::replay))
        .route("/events/{id}", get(more::event))
        .route("/monitors", get(more::monitors))
        .route("/monitors/board", get(more::monitors_board))
        .route("/monitors/{id}/{action}", get(to_monitors).post(more::monitor_action))
        .route("/domains", get(more::domains))
        .route("/domains/{id}/reset", get(to_domains).post(more::domain_reset))
        .route("/domains/{id}/rotate", get(more::domain_rotate_confirm).post(more::domain_rotate))
        .route("/alerts", get(more::alerts))
        .route("/assets/{name}", get(asset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(ui.clone(), security_headers))
        .with_state(ui)
}

/// The headers of every dashboard answer: [`CSP`], `X-Frame-Options: DENY`,
/// `Referrer-Policy: same-origin`, `X-Content-Type-Options: nosniff`, [`HSTS`] when the request
/// came over TLS; pages are not cached.
/// Each answer is counted in the request metrics under the route `ui` (its server time in
/// the latency histogram).
async fn security_headers(State(ui): State<Arc<Ui>>, req: Request, next: axum::middleware::Next) -> Response {
    let watch = crate::time::Stopwatch::start();
    let htmx = req.headers().contains_key("hx-request");
    let tls = req.extensions().get::<OverTls>().is_some_and(|t| t.0);
    let mut r = if req.method() == axum::http::Method::POST && !same_origin(&req) {
        pages::forbidden(None)
    } else {
        next.run(req).await
    };
    if htmx && is_signed_out(&r) {
        r = hx_to_sign_in(r);
    }
    ui.app.metrics.observe_request("ui", r.status().as_u16(), watch.elapsed_secs());
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// Whether a `POST` may come from where it says: no `Origin` header (the CSRF token decides),
/// or an `Origin` whose host and port are the request's own (its `Host` header, else the
/// URI's authority), compared without case. The scheme is not compared: behind a reverse
/// proxy that ends TLS, the browser's `https` origin reaches the daemon over plain HTTP.
/// `Origin: null` and an unreadable one are refused.
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else { return true };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let origin_host =
        origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.is_empty() && o.eq_ignore_ascii_case(h),
        _ => false,
    }
}

// ---- assets ----

const HTMX_JS: &[u8] = include_bytes!("assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("assets/ui.css");
const ICON: &[u8] = include_bytes!("assets/icon.svg");
/// The htmx file's URL name: its version is in it, so it can be cached for a year.
pub const HTMX_NAME: &str = "htmx-2.0.11.min.js";

/// The stylesheet's URL name, `ui-<first 12 hex of its SHA-256>.css`: a changed file gets a
/// new URL, so it can be cached for a year.
pub fn css_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("ui-{}.css", &hex::encode(crate::auth::sha256(CSS))[..12]))
}

/// The icon's URL name (content-hashed like the stylesheet).
pub fn icon_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("icon-{}.svg", &hex::encode(crate::auth::sha256(ICON))[..12]))
}

async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = if name == HTMX_NAME {
        (HTMX_JS, "text/javascript; charset=utf-8")
    } else if name == css_name() {
        (CSS, "text/css; charset=utf-8")
    } else if name == icon_name() {
        (ICON, "image/svg+xml")
    } else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found")
            .into_response();
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}

// ---- requests ----

/// A signed-in request: the session (with its cookie value) and the brand, re-read.
pub(crate) struct Viewer {
    pub session: Session,
    pub brand: Brand,
    pub now: Millis,
    /// The banner every page shows while the store cannot write ([`store_note`]).
    pub store_note: Option<&'static str>,
    /// For a form's `POST`: the dashboard page the form was on (its same-origin `Referer`,
    /// checked by [`back_target`]), which an error page links back to.
    pub back: Option<String>,
}

impl Viewer {
    /// The zone times are shown in: the one the viewer chose, else the brand's.
    pub fn zone(&self) -> &str {
        self.session.zone.as_deref().unwrap_or(&self.brand.timezone)
    }
}

/// The decoded `name=value` pairs of a query string or form body (first value of a name wins).
fn pairs(raw: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.entry(crate::api::request::percent_decode(k)).or_insert_with(|| crate::api::request::percent_decode(v));
    }
    out
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|c| c.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .filter(|v| !v.is_empty())
}

/// `Retry-After` (seconds) on the dashboard's 429 page: the per-key bucket refills a token at
/// least once a minute.
const RATE_LIMITED_RETRY_AFTER_S: u32 = 60;

/// Marks an answer that sends the browser to sign in because there is no valid session (so
/// [`security_headers`] can turn it into `HX-Redirect` for htmx, and fragments can tell it
/// from other errors).
#[derive(Clone, Copy)]
struct SignedOut;

fn to_sign_in() -> Response {
    let mut r = Redirect::to("/ui/sign-in").into_response();
    r.extensions_mut().insert(SignedOut);
    r
}

/// Whether `r` is the answer of a request without a valid session.
fn is_signed_out(r: &Response) -> bool {
    r.extensions().get::<SignedOut>().is_some()
}

/// The 204 + `HX-Redirect: /ui/sign-in[?ended=1]` answer htmx gets instead of a 303 when there is no
/// valid session: htmx would follow a 303 into the part it swaps (a polled `#live` list went
/// blank); this makes it load the whole sign-in page.
fn hx_to_sign_in(mut r: Response) -> Response {
    if r.headers().contains_key("hx-redirect") {
        // Already turned (a fragment's own answer, seen again by the response layer).
        return r;
    }
    *r.status_mut() = StatusCode::NO_CONTENT;
    *r.body_mut() = Body::empty();
    let h = r.headers_mut();
    // The sign-in page the 303 named (with its "session ended" query, if any).
    let to = h.remove(header::LOCATION).unwrap_or(HeaderValue::from_static("/ui/sign-in"));
    h.remove(header::CONTENT_TYPE);
    h.insert("hx-redirect", to);
    r
}

/// The answer of a polled fragment (approvals table, monitors board) whose read failed for
/// another reason than a missing session (the API's rate limit, a store read error): 204 with
/// no redirect, so htmx keeps the part as it was and the session stays.
fn fragment_unchanged() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// To the sign-in page of a browser whose session ended (expired, signed out elsewhere, the
/// key revoked, the daemon restarted): the page says so ([`ENDED_QUERY`]).
fn session_ended() -> Response {
    let mut r = Redirect::to(&format!("/ui/sign-in?{ENDED_QUERY}")).into_response();
    r.extensions_mut().insert(SignedOut);
    r
}

/// The sign-in page's query after a session ended.
pub const ENDED_QUERY: &str = "ended=1";

/// What ends a request early: a page to answer with.
type Early = Box<Response>;

impl Ui {
    fn now(&self) -> Millis {
        self.app.clock.now_ms()
    }

    /// The signed-in viewer, or the answer to give instead: the sign-in page (no, an expired or
    /// an ended session; the key revoked or gone; the brand gone), or an error page (the API's
    /// rate limit; the store unreadable).
    fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, Early> {
        let now = self.now();
        let Some(id) = cookie(headers, SESSION_COOKIE) else { return Err(Box::new(to_sign_in())) };
        let Some(session) = self.sessions.touch(id, now) else { return Err(Box::new(session_ended())) };
        let key = self.app.store.find_key_by_hash(&session.key_hash).map_err(|e| self.api_error(e.into(), None))?;
        let live = key_still_valid(&session, key.as_ref());
        let brand = if live {
            self.app.store.get_brand(session.brand).map_err(|e| self.api_error(e.into(), None))?
        } else {
            None
        };
        let Some(brand) = brand else {
            self.sessions.end(id);
            return Err(Box::new(session_ended()));
        };
        dispatch::admit_key(&self.app, session.key_id).map_err(|e| self.api_error(e, None))?;
        let store_note = store_note(&self.app.store.write_health());
        Ok(Viewer { session, brand, now, store_note, back: None })
    }

    /// The viewer of a polled fragment, or its answer: 204 + `HX-Redirect` to sign in only when
    /// the session is missing, expired or revoked; any other failure (the API's rate limit, a
    /// store read error) leaves the fragment unchanged (204) and the session intact.
    fn fragment_viewer(&self, headers: &HeaderMap) -> Result<Viewer, Early> {
        self.viewer(headers)
            .map_err(|early| Box::new(if is_signed_out(&early) { hx_to_sign_in(*early) } else { fragment_unchanged() }))
    }

    /// A `POST`'s viewer and form: also checks the CSRF token (form field `csrf` or header
    /// `X-CSRF-Token`); a missing or wrong one is a 403 page and nothing else happens.
    async fn post(&self, req: Request) -> Result<(Viewer, HashMap<String, String>), Early> {
        let (parts, body) = req.into_parts();
        let mut viewer = self.viewer(&parts.headers)?;
        viewer.back =
            parts.headers.get(header::REFERER).and_then(|r| r.to_str().ok()).and_then(back_target).map(str::to_string);
        let form = read_form(body).await.map_err(|e| self.api_error(e, Some(&viewer)))?;
        if !viewer.session.csrf_matches(presented_csrf(&form, &parts.headers)) {
            return Err(Box::new(pages::forbidden(Some(&viewer))));
        }
        Ok((viewer, form))
    }

    /// Runs the endpoint `action` as the viewer (see [`dispatch::call`]).
    async fn call(&self, v: &Viewer, action: &str, input: Value) -> Result<Value, Early> {
        match dispatch::call(&self.app, v.brand.clone(), v.session.key_id, action, input).await {
            Ok(reply) => Ok(reply.body),
            Err(e) => Err(self.api_error(e, Some(v))),
        }
    }

    /// An API error as a page with the API's status and message (an internal fault's detail is
    /// logged, never shown).
    fn api_error(&self, e: ApiError, v: Option<&Viewer>) -> Early {
        if let ApiError::Internal(detail) = &e {
            tracing::error!(route = "ui", error = %detail, "internal error");
        }
        let mut r = pages::error(v, e.status(), &e.message());
        // The API's own headers for the same error (`Retry-After` while the store cannot write
        // or a queue is full); the per-key rate limit refills within the minute.
        dispatch::error_headers(&e, &mut r);
        if let ApiError::RateLimited = e {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RATE_LIMITED_RETRY_AFTER_S));
        }
        Box::new(r)
    }

    /// Counts a failed sign-in from `ip`; whether it is still under the limit.
    fn failed_sign_in(&self, ip: IpAddr, now: Millis) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() >= SIGNIN_ADDRESSES_MAX && !f.contains_key(&ip) {
            f.retain(|_, (_, since)| now - *since < SIGNIN_WINDOW_MS);
            if f.len() >= SIGNIN_ADDRESSES_MAX {
                f.clear();
            }
        }
        let entry = f.entry(ip).or_insert((0, now));
        if now - entry.1 >= SIGNIN_WINDOW_MS {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.0 <= SIGNIN_FAILURES_MAX
    }

    fn sign_in_blocked(&self, ip: IpAddr, now: Millis) -> bool {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.get(&ip).is_some_and(|(n, since)| now - *since < SIGNIN_WINDOW_MS && *n >= SIGNIN_FAILURES_MAX)
    }
}

/// The banner text while the store cannot write (the write health `/readyz` reports, kept in
/// memory: no store read), else `None`.
pub fn store_note(health: &crate::store::WriteHealth) -> Option<&'static str> {
    match (health.writable, health.disk_full) {
        (true, _) => None,
        (false, true) => Some("The store cannot write (disk full): actions fail until it recovers."),
        (false, false) => Some("The store cannot write: actions fail until it recovers."),
    }
}

/// The CSRF token a `POST` presents: its form field `csrf`, else its `X-CSRF-Token` header.
fn presented_csrf<'a>(form: &'a HashMap<String, String>, headers: &'a HeaderMap) -> &'a str {
    form.get("csrf")
        .map(String::as_str)
        .or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// Whether `key` (the stored key found by the session's key hash, if any) is still the
/// session's key: the same id and brand, not revoked. A session whose key fails this ends.
pub fn key_still_valid(session: &Session, key: Option<&crate::model::ApiKey>) -> bool {
    key.is_some_and(|k| k.id == session.key_id && k.brand == session.brand && k.revoked_ms.is_none())
}

async fn read_form(body: Body) -> Result<HashMap<String, String>, ApiError> {
    let raw = axum::body::to_bytes(body, FORM_BYTES_MAX).await.map_err(|_| ApiError::TooLarge(FORM_BYTES_MAX))?;
    let text = std::str::from_utf8(&raw).map_err(|_| ApiError::BadBody(Some("the form is not UTF-8".into())))?;
    Ok(pairs(text))
}

fn query(raw: Option<String>) -> HashMap<String, String> {
    pairs(raw.as_deref().unwrap_or(""))
}

// ---- sign-in / sign-out ----

/// Whether `t` has the exact form of a token the server makes ([`session::random_hex`]: 64
/// lowercase hex characters). A sign-in cookie of any other form is not used.
fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn sign_in_page(req: Request) -> Response {
    let token = cookie(req.headers(), SIGNIN_COOKIE)
        .filter(|t| is_token(t))
        .map(str::to_string)
        .unwrap_or_else(session::random_hex);
    let ended = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == ENDED_QUERY));
    let problem = ended.then_some("Your session ended; sign in again.");
    let mut r = pages::sign_in(&token, problem, StatusCode::OK);
    set_cookie(&mut r, &format!("{SIGNIN_COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict{}", secure(&req)));
    r
}

fn secure(req: &Request) -> &'static str {
    if req.extensions().get::<OverTls>().is_some_and(|t| t.0) { "; Secure" } else { "" }
}

fn set_cookie(r: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn sign_in(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let now = ui.now();
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let secure = secure(&req);
    let expected = cookie(req.headers(), SIGNIN_COOKIE).filter(|t| is_token(t)).map(str::to_string);
    // A session the browser still holds ends when it signs in again (a fresh id each time).
    let previous = cookie(req.headers(), SESSION_COOKIE).map(str::to_string);
    let form = match read_form(req.into_body()).await {
        Ok(f) => f,
        Err(e) => return *ui.api_error(e, None),
    };
    let field = |k: &str| form.get(k).map(|s| s.trim()).unwrap_or("");
    // The form's token must match its cookie (both random, set by the sign-in page).
    let token_ok = expected.as_deref().is_some_and(|t| {
        use subtle::ConstantTimeEq;
        let got = field("csrf");
        got.len() == t.len() && bool::from(got.as_bytes().ct_eq(t.as_bytes()))
    });
    if !token_ok {
        return pages::forbidden(None);
    }
    let token = expected.unwrap_or_default();
    let (brand_raw, key) = (field("brand_uuid"), field("api_key"));
    let auth = (!brand_raw.is_empty() && !key.is_empty()).then(|| dispatch::authenticate_pair(&ui.app, brand_raw, key));
    // The limiter throttles failures only: a right brand and key pair always signs in.
    if !matches!(auth, Some(Ok(_))) && ui.sign_in_blocked(ip, now) {
        return pages::sign_in(&token, Some("Too many failed sign-ins; wait a minute."), StatusCode::TOO_MANY_REQUESTS);
    }
    let Some(auth) = auth else {
        let which = if brand_raw.is_empty() { "Brand UUID" } else { "API key" };
        return pages::sign_in(&token, Some(&format!("{which} is required.")), StatusCode::BAD_REQUEST);
    };
    match auth {
        Ok((brand, key_id)) => {
            if let Err(e) = dispatch::admit_key(&ui.app, key_id) {
                return *ui.api_error(e, None);
            }
            if let Some(old) = &previous {
                ui.sessions.end(old);
            }
            let Some((id, _)) = ui.sessions.open(brand.id, key_id, crate::auth::sha256(key.as_bytes()), now) else {
                tracing::warn!(brand = %brand.id, "dashboard sign-in refused: the session table is full");
                return pages::error(
                    None,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many dashboard sessions are open; try again later.",
                );
            };
            tracing::info!(brand = %brand.id, key = %key_id, "dashboard sign-in");
            let mut r = Redirect::to("/ui/").into_response();
            set_cookie(&mut r, &format!("{SESSION_COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict{secure}"));
            set_cookie(&mut r, &format!("{SIGNIN_COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{secure}"));
            r
        }
        Err(ApiError::Unauthorized(_)) => {
            let status =
                if ui.failed_sign_in(ip, now) { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
            pages::sign_in(&token, Some("The brand UUID or the API key is not right."), status)
        }
        Err(e) => *ui.api_error(e, None),
    }
}

/// Ends the session and clears its cookie. Only the session's CSRF token is checked: no key
/// re-read and no API rate limit, so sign-out works while the key is rate-limited. Without a
/// live session there is nothing to end: the cookie is cleared all the same.
async fn sign_out(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let secure = secure(&req);
    let (parts, body) = req.into_parts();
    let id = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string);
    if let Some((id, session)) = id.as_deref().and_then(|id| ui.sessions.touch(id, ui.now()).map(|s| (id, s))) {
        let form = match read_form(body).await {
            Ok(f) => f,
            Err(e) => return *ui.api_error(e, None),
        };
        if !session.csrf_matches(presented_csrf(&form, &parts.headers)) {
            return pages::forbidden(None);
        }
        ui.sessions.end(id);
    }
    let mut r = Redirect::to("/ui/sign-in").into_response();
    set_cookie(&mut r, &format!("{SESSION_COOKIE}=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict{secure}"));
    r
}

/// Sets the zone the viewer sees times in (form field `zone`; empty: the brand's), then goes
/// back to the page the form was on (its same-origin `Referer`, else the overview).
async fn set_zone(State(ui): State<Arc<Ui>>, req: Request) -> Response {
    let referer = req.headers().get(header::REFERER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let id = cookie(req.headers(), SESSION_COOKIE).map(str::to_string).unwrap_or_default();
    let (v, form) = tri!(ui.post(req).await);
    let zone = form.get("zone").map(|z| z.trim()).unwrap_or("");
    let zone = if zone.is_empty() {
        None
    } else if crate::time::tz::zone(zone).is_some() {
        Some(zone.to_string())
    } else {
        return pages::error(
            Some(&v),
            StatusCode::BAD_REQUEST,
            "Invalid field value: zone (an IANA zone name such as Europe/Berlin)",
        );
    };
    ui.sessions.set_zone(&id, zone);
    let back = referer.as_deref().and_then(back_target).unwrap_or("/ui/");
    Redirect::to(back).into_response()
}

// ---- a GET of a form's POST-only URL ----
//
// A reload or a bookmark of the page a form's POST answered (an error page) asks for the
// POST-only URL with GET: it is sent on (303) to the page the action belongs to, never 405.

async fn to_overview() -> Response {
    Redirect::to("/ui/").into_response()
}

async fn to_schedule(Path(id): Path<String>) -> Response {
    Redirect::to(&format!("/ui/schedules/{}", pages::url_part(&id))).into_response()
}

async fn to_execution(Path((id, _)): Path<(String, String)>) -> Response {
    Redirect::to(&format!("/ui/executions/{}", pages::url_part(&id))).into_response()
}

async fn to_approvals() -> Response {
    Redirect::to("/ui/approvals").into_response()
}

async fn to_events() -> Response {
    Redirect::to("/ui/events").into_response()
}

async fn to_monitors() -> Response {
    Redirect::to("/ui/monitors").into_response()
}

async fn to_domains() -> Response {
    Redirect::to("/ui/domains").into_response()
}

/// The last path segments of the dashboard's POST-only URLs (`/ui/sign-out`, `/ui/zone`,
/// `/ui/schedules/<id>/status`, …): a page to go back to never ends in one of them.
const POST_ONLY: &[&str] =
    &["sign-out", "zone", "status", "retry", "cancel", "decide", "replay", "pause", "resume", "reset"];

/// The dashboard GET page a `Referer` names (its path and query), to go back to after a form:
/// `None` unless it is a `/ui/` path of printable ASCII without a backslash (browsers read `\`
/// as `/`) that is not protocol-relative (`/ui//…`), not the sign-in page and not a POST-only
/// URL ([`POST_ONLY`]). The Referer's host is not used: the target is always a path of this
/// daemon's dashboard (a `POST` from another origin was already refused by its `Origin`).
pub fn back_target(referer: &str) -> Option<&str> {
    let after_scheme = referer.split_once("://").map_or(referer, |(_, rest)| rest);
    let path = &after_scheme[after_scheme.find('/')?..];
    if !path.starts_with("/ui/")
        || path.starts_with("/ui//")
        || !path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    {
        return None;
    }
    let bare = path.split(['?', '#']).next().unwrap_or(path);
    let last = bare.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if bare.starts_with("/ui/sign-in")
        || bare.starts_with("/ui/assets/")
        || (bare.len() > 4 && POST_ONLY.contains(&last))
    {
        return None;
    }
    Some(path)
}

// ---- pages ----

async fn not_found(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let v = ui.viewer(&headers).ok();
    pages::error(v.as_ref(), StatusCode::NOT_FOUND, "Page not found")
}

/// A method the URL does not take (e.g. a `POST` to a page): a 405 page in the dashboard's
/// layout with a way back, not an empty answer.
async fn method_not_allowed(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let v = ui.viewer(&headers).ok();
    pages::error(v.as_ref(), StatusCode::METHOD_NOT_ALLOWED, "This address does not take that kind of request.")
}

fn total(list: &Value) -> u64 {
    list["meta"]["total_count"].as_u64().unwrap_or(0)
}

/// RFC 3339 UTC text of `t` (ms), whole seconds.
fn rfc3339(t: Millis) -> String {
    crate::time::format_utc_seconds(t)
}

async fn overview(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let v = tri!(ui.viewer(&headers));
    let mut schedules = Vec::new();
    for status in pages::SCHEDULE_STATUSES {
        let list = tri!(ui.call(&v, "get_schedules_paginated", json!({"filter_status": status})).await);
        schedules.push((*status, total(&list)));
    }
    let mut executions = Vec::new();
    for status in pages::EXECUTION_STATUSES {
        let list = tri!(ui.call(&v, "get_executions_paginated", json!({"filter_status": status})).await);
        executions.push((*status, total(&list)));
    }
    let since = rfc3339(v.now - 24 * 3600 * 1000);
    let failed = tri!(ui.call(&v, "get_executions_paginated", json!({"filter_status": "failed", "from": since})).await);
    let missed = tri!(ui.call(&v, "get_executions_paginated", json!({"filter_status": "missed", "from": since})).await);
    let lateness = tri!(ui.call(&v, "get_lateness_summary", json!({"window_hours": 24})).await);
    pages::overview(&v, &schedules, &executions, &failed, total(&missed), &lateness["data"])
}

async fn schedules(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let mut input = json!({"page": q.get("page").map_or("1", String::as_str)});
    let status = q.get("status").filter(|s| !s.is_empty());
    if let Some(s) = status {
        input["status"] = json!(s);
    }
    let list = tri!(ui.call(&v, "get_schedule_paginated", input).await);
    let mut rows = Vec::new();
    for item in list["data"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let id = item["schedule_uuid"].as_str().unwrap_or_default();
        let detail = tri!(ui.call(&v, "get_single_schedule_details", json!({"schedule_uuid": id})).await);
        rows.push(detail["data"].clone());
    }
    pages::schedules(&v, &list, &rows, status.map(String::as_str), q.get("notice").map(String::as_str))
}

async fn schedule(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let detail = tri!(ui.call(&v, "get_single_schedule_details", json!({"schedule_uuid": id})).await);
    let preview = tri!(ui.call(&v, "preview_schedule", json!({"schedule_uuid": id, "count": 10})).await);
    let page = q.get("page").map_or("1", String::as_str);
    let runs = tri!(ui.call(&v, "get_executions_paginated", json!({"schedule_uuid": id, "page": page})).await);
    pages::schedule(&v, &detail["data"], &preview["data"], &runs, q.get("notice").map(String::as_str))
}

async fn schedule_status(State(ui): State<Arc<Ui>>, Path(id): Path<String>, req: Request) -> Response {
    let (v, form) = tri!(ui.post(req).await);
    let to = form.get("to").map_or("", String::as_str);
    tri!(ui.call(&v, "change_schedule_status", json!({"schedule_uuid": id, "update_status_to": to})).await);
    let back = match form.get("back").map(String::as_str) {
        Some("list") => "/ui/schedules?notice=status".to_string(),
        _ => format!("/ui/schedules/{}?notice=status", pages::url_part(&id)),
    };
    Redirect::to(&back).into_response()
}

async fn executions(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let mut input = json!({"page": q.get("page").map_or("1", String::as_str)});
    for (form, field) in [("status", "filter_status"), ("schedule", "schedule_uuid")] {
        if let Some(value) = q.get(form).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            input[field] = json!(value);
        }
    }
    let list = tri!(ui.call(&v, "get_executions_paginated", input).await);
    pages::executions(&v, &list, &q)
}

async fn execution(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let v = tri!(ui.viewer(&headers));
    let detail = tri!(ui.call(&v, "get_execution_details", json!({"execution_uuid": id})).await);
    pages::execution(&v, &detail["data"], query(q).get("notice").map(String::as_str))
}

async fn execution_action(
    State(ui): State<Arc<Ui>>,
    Path((id, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let (v, _) = tri!(ui.post(req).await);
    let endpoint = match action.as_str() {
        "retry" => "retry_execution",
        "cancel" => "cancel_execution",
        _ => return pages::error(Some(&v), StatusCode::NOT_FOUND, "Page not found"),
    };
    let r = tri!(ui.call(&v, endpoint, json!({"execution_uuid": id})).await);
    let shown = r["execution_uuid"].as_str().unwrap_or(&id);
    Redirect::to(&format!("/ui/executions/{}?notice={action}", pages::url_part(shown))).into_response()
}

async fn approvals(State(ui): State<Arc<Ui>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let list = tri!(ui.call(&v, "get_all_pending_approvals_paginated", json!({})).await);
    pages::approvals(&v, &list, q.get("notice").map(String::as_str))
}

/// The approvals table alone (htmx polls it every 5 s).
async fn approvals_list(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let v = tri!(ui.fragment_viewer(&headers));
    let Ok(list) = ui.call(&v, "get_all_pending_approvals_paginated", json!({})).await else {
        return fragment_unchanged();
    };
    pages::html(StatusCode::OK, pages::approvals_table(&list, v.zone()))
}

async fn approval_confirm(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let v = tri!(ui.viewer(&headers));
    let q = query(q);
    let decision = match q.get("decision").map(String::as_str) {
        Some("approve") => "approve",
        Some("reject") => "reject",
        _ => {
            return pages::error(
                Some(&v),
                StatusCode::BAD_REQUEST,
                "Invalid field value: decision (approve or reject)",
            );
        }
    };
    // A standalone request is read by its own operation (a non-UUID is its 400 naming the
    // field; a decided one is a 409 page); a workflow step's plan is found in the pending list.
    let input = json!({"execution_plan_uuid": id});
    match dispatch::call(&ui.app, v.brand.clone(), v.session.key_id, "get_approval_request", input).await {
        Ok(reply) => {
            let d = &reply.body["data"];
            if d["status"] != "waiting_approval" {
                let status = d["status"].as_str().unwrap_or("decided");
                return pages::error(
                    Some(&v),
                    StatusCode::CONFLICT,
                    &format!("This approval request is already decided (it is {status})."),
                );
            }
            let item = json!({"kind": "standalone", "title": d["title"], "context": d["context"],
                "inserted_at": d["created_at"]});
            let context = d["context"].clone();
            return pages::approval_confirm(&v, &id, decision, Some(&item), &context);
        }
        Err(e) if e.status() == StatusCode::NOT_FOUND => {}
        Err(e) => return *ui.api_error(e, Some(&v)),
    }
    let mut page = 1u64;
    let item = loop {
        let list = tri!(ui.call(&v, "get_all_pending_approvals_paginated", json!({"page": page})).await);
        let items = list["data"].as_array().map(Vec::as_slice).unwrap_or_default();
        if let Some(item) = items.iter().find(|p| p["execution_plan_uuid"] == id.as_str()) {
            break item.clone();
        }
        if items.is_empty() || list["meta"]["has_next"] != true || page >= APPROVAL_PAGES_MAX {
            // Unknown, another brand's, or a workflow step's plan that is no longer waiting.
            return pages::error(Some(&v), StatusCode::NOT_FOUND, "No pending approval with this execution_plan_uuid");
        }
        page += 1;
    };
    // A workflow step's context is the run's, as the run's details answer it for the waiting
    // step (else the run's initial context).
    let mut context = item["context"].clone();
    if let Some(run) = Some(&item).filter(|p| p["kind"] == "workflow_step").and_then(|p| p["run_uuid"].as_str()) {
        let r = tri!(ui.call(&v, "get_workflow_run_details", json!({"run_uuid": run})).await);
        let steps = r["data"]["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
        let step = steps.iter().find(|s| s["execution_plan_uuid"] == id.as_str());
        context =
            step.map(|s| s["context"].clone()).filter(|c| !c.is_null()).unwrap_or(r["data"]["initial_context"].clone());
    }
    pages::approval_confirm(&v, &id, decision, Some(&item), &context)
}

async fn approval_decide(State(ui): State<Arc<Ui>>, Path(id): Path<String>, req: Request) -> Response {
    let (v, form) = tri!(ui.post(req).await);
    let mut input = json!({"execution_plan_uuid": id, "action": form.get("decision").map_or("", String::as_str)});
    if let Some(notes) = form.get("notes").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        input["notes"] = json!(notes);
    }
    tri!(ui.call(&v, "human_approval_action", input).await);
    let notice = if form.get("decision").is_some_and(|d| d == "approve") { "approved" } else { "rejected" };
    Redirect::to(&format!("/ui/approvals?notice={notice}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_forms_are_read_without_surprises() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; hw_session=abc; hw_sessionx=no"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("hw_sessionx=no; hw_session="));
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
        let f = pairs("csrf=a%2Bb&to=paused&to=active&empty&x=1+2");
        assert_eq!(f["csrf"], "a+b");
        assert_eq!(f["to"], "paused", "the first value wins");
        assert_eq!(f["empty"], "");
        assert_eq!(f["x"], "1 2");
    }

    #[test]
    fn the_store_banner_follows_the_write_health() {
        use crate::store::WriteHealth;
        assert_eq!(store_note(&WriteHealth { writable: true, disk_full: false, last_error: None }), None);
        let full = store_note(&WriteHealth { writable: false, disk_full: true, last_error: Some("ENOSPC".into()) });
        assert_eq!(full, Some("The store cannot write (disk full): actions fail until it recovers."));
        let other = store_note(&WriteHealth { writable: false, disk_full: false, last_error: None });
        assert!(other.is_some_and(|n| n.starts_with("The store cannot write:")));
    }

    #[tokio::test]
    async fn every_signed_in_page_shows_the_store_banner_while_writes_fail() {
        use crate::model::{BrandId, KeyId};
        let (brand, key_id) = (BrandId(uuid::Uuid::now_v7()), KeyId(uuid::Uuid::now_v7()));
        let (_, session) = Sessions::default().open(brand, key_id, [7; 32], 0).expect("room");
        let note = "The store cannot write (disk full): actions fail until it recovers.";
        let viewer = |store_note| Viewer {
            session: session.clone(),
            brand: Brand { id: brand, name: "b".into(), timezone: "UTC".into(), created_ms: 0 },
            now: 0,
            store_note,
            back: None,
        };
        let body = |r: Response| async {
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX).await.expect("body");
            String::from_utf8(bytes.to_vec()).expect("utf-8")
        };
        let down = viewer(Some(note));
        assert!(body(pages::error(Some(&down), StatusCode::NOT_FOUND, "Page not found")).await.contains(note));
        assert!(body(pages::forbidden(Some(&down))).await.contains(note));
        let up = viewer(None);
        assert!(!body(pages::error(Some(&up), StatusCode::NOT_FOUND, "Page not found")).await.contains("cannot write"));
    }

    #[test]
    fn a_post_from_another_origin_is_told_apart() {
        let req = |origin: Option<&str>, host: &str| {
            let mut b = Request::builder().method("POST").uri("/ui/sign-out").header(header::HOST, host);
            if let Some(o) = origin {
                b = b.header(header::ORIGIN, o);
            }
            b.body(Body::empty()).expect("request")
        };
        assert!(same_origin(&req(None, "127.0.0.1:8080")), "no Origin: the token decides");
        assert!(same_origin(&req(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")));
        assert!(same_origin(&req(Some("https://Hooks.Example.com"), "hooks.example.com")), "behind a TLS proxy");
        assert!(!same_origin(&req(Some("https://evil.example"), "hooks.example.com")));
        assert!(!same_origin(&req(Some("http://127.0.0.1:8081"), "127.0.0.1:8080")), "another port");
        assert!(!same_origin(&req(Some("null"), "127.0.0.1:8080")));
        assert!(!same_origin(&req(Some("http://hooks.example.com.evil.example"), "hooks.example.com")));
    }

    #[test]
    fn only_a_token_of_the_servers_own_form_is_used() {
        assert!(is_token(&session::random_hex()));
        assert!(is_token(&"a".repeat(64)));
        for bad in [
            "",
            "abc",
            &"a".repeat(63),
            &"a".repeat(65),
            &"A".repeat(64),
            &"g".repeat(64),
            &format!("{}\"", "a".repeat(63)),
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_revoked_replaced_or_missing_key_ends_the_session() {
        use crate::model::{ApiKey, BrandId, KeyId};
        let sessions = Sessions::default();
        let (brand, key_id) = (BrandId(uuid::Uuid::now_v7()), KeyId(uuid::Uuid::now_v7()));
        let (_, s) = sessions.open(brand, key_id, [7; 32], 0).expect("room");
        let key = ApiKey {
            id: key_id,
            brand,
            prefix: "hwk_abcdefgh".into(),
            hash: [7; 32],
            created_ms: 0,
            last_used_ms: None,
            revoked_ms: None,
        };
        assert!(key_still_valid(&s, Some(&key)));
        assert!(!key_still_valid(&s, None), "the key is gone");
        assert!(!key_still_valid(&s, Some(&ApiKey { revoked_ms: Some(1), ..key.clone() })), "revoked");
        assert!(!key_still_valid(&s, Some(&ApiKey { id: KeyId(uuid::Uuid::now_v7()), ..key.clone() })), "another key");
        assert!(!key_still_valid(&s, Some(&ApiKey { brand: BrandId(uuid::Uuid::now_v7()), ..key })), "another brand");
    }

    #[test]
    fn the_zone_form_goes_back_only_to_a_dashboard_get_page() {
        assert_eq!(back_target("http://h:8080/ui/schedules?page=2"), Some("/ui/schedules?page=2"));
        assert_eq!(back_target("https://h/ui/"), Some("/ui/"));
        assert_eq!(back_target("http://h/ui/schedules/abc"), Some("/ui/schedules/abc"));
        for bad in [
            "http://h/ui/zone",
            "http://h/ui/sign-out",
            "http://h/ui/events/replay",
            "http://h/ui/schedules/abc/status",
            "http://h/ui/executions/abc/retry?x=1",
            "http://h/ui/monitors/abc/pause",
            "http://h/ui/domains/abc/reset",
            "http://h/ui/approvals/abc/decide",
            "http://h/ui/sign-in",
            "http://h//evil.example/ui/",
            "http://h/ui//evil.example/",
            "http://evil.example/other?next=/ui/",
            "http://h/ui/a b",
            "http://h/ui/\\evil.example",
            "garbage",
        ] {
            assert_eq!(back_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_page_inserts_raw_html() {
        for (file, text) in [
            ("pages.rs", include_str!("pages.rs")),
            ("more.rs", include_str!("more.rs")),
            ("mod.rs", include_str!("mod.rs")),
        ] {
            let raw = ["Pre", "Escaped"].concat();
            assert!(!text.contains(&raw), "{file} inserts raw HTML");
            let inline = ["<scr", "ipt>"].concat();
            assert!(!text.contains(&inline), "{file} has an inline script");
        }
    }

    #[test]
    fn asset_names_carry_their_content_hash_or_version() {
        assert!(css_name().starts_with("ui-") && css_name().ends_with(".css") && css_name().len() == 19);
        assert!(HTMX_NAME.contains("2.0.11"));
        let head = std::str::from_utf8(&HTMX_JS[..200]).unwrap_or("");
        assert!(head.contains("Zero-Clause BSD"), "the license header is kept");
    }
}
