//! A recording HTTP/1.1 receiver on loopback for delivery tests: it records every request
//! (arrival time, method, path, headers, body) and answers as scripted (status, delay, body,
//! extra headers such as `Retry-After`, an oversized body, a body sent slowly, or a reset: the
//! connection is closed without an answer). Scripts queued with [`Receiver::push_script`]
//! answer the next requests in order; after the queue runs out a chooser set with
//! [`Receiver::set_chooser`] decides per request, else the default script answers. It also
//! tracks how many requests are in flight (arrived, not yet answered) and the most seen at once.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    /// Wall-clock arrival, ms since the epoch.
    pub at_ms: i64,
    /// Wall-clock arrival, µs since the epoch (the load harness's lateness resolution).
    pub at_us: i64,
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    /// Every header line as it arrived (name as sent, trimmed value), in order.
    pub raw_headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// How many header lines carry `name` (case-insensitive).
    pub fn header_lines(&self, name: &str) -> usize {
        self.raw_headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).count()
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    /// Waited after the request arrived, before answering (or resetting).
    pub delay: Duration,
    pub body: String,
    pub extra_headers: Vec<(String, String)>,
    /// Close the connection without answering.
    pub reset: bool,
    /// Answer with this many bytes of body (`x` repeated) instead of `body`.
    pub body_bytes: Option<usize>,
    /// Send the head at once and the body in 8 pieces spread over this long.
    pub slow_body: Option<Duration>,
}

/// Decides the answer to one request from the request itself (called in arrival order).
pub type Chooser = Box<dyn FnMut(&Received) -> Script + Send>;

impl Default for Script {
    fn default() -> Self {
        Script {
            status: 200,
            delay: Duration::ZERO,
            body: "{\"ok\":true}".into(),
            extra_headers: Vec::new(),
            reset: false,
            body_bytes: None,
            slow_body: None,
        }
    }
}

impl Script {
    /// Answers `status` with the default body.
    pub fn status(status: u16) -> Script {
        Script { status, ..Script::default() }
    }
    /// Closes the connection without answering.
    pub fn reset() -> Script {
        Script { reset: true, ..Script::default() }
    }
    pub fn with_delay(mut self, delay: Duration) -> Script {
        self.delay = delay;
        self
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Script {
        self.extra_headers.push((name.into(), value.into()));
        self
    }
    pub fn with_body_bytes(mut self, n: usize) -> Script {
        self.body_bytes = Some(n);
        self
    }
    /// Sends the body in pieces over `total` (the head goes out at once).
    pub fn with_slow_body(mut self, total: Duration) -> Script {
        self.slow_body = Some(total);
        self
    }
}

#[derive(Clone)]
pub struct Receiver {
    /// The loopback address it listens on.
    pub ip: String,
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<Script>>,
    /// Scripts for the next requests, in order, before `script` applies.
    pub queue: Arc<Mutex<VecDeque<Script>>>,
    /// Decides the answer when the queue is empty (instead of `script`).
    pub chooser: Arc<Mutex<Option<Chooser>>>,
    /// Requests arrived and not answered yet.
    pub in_flight: Arc<AtomicUsize>,
    /// The most requests ever in flight at once.
    pub max_in_flight: Arc<AtomicUsize>,
}

fn now_ms() -> i64 {
    now_us().div_euclid(1000)
}

#[allow(clippy::disallowed_methods)] // the receiver timestamps arrivals with the real clock
fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1")
    }

    /// A receiver on another loopback address (e.g. `127.0.0.2`), port chosen by the system.
    pub fn start_on(ip: &str) -> Receiver {
        let listener = TcpListener::bind((ip, 0)).expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            ip: ip.to_string(),
            port,
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(Script::default())),
            queue: Arc::new(Mutex::new(VecDeque::new())),
            chooser: Arc::new(Mutex::new(None)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.serve(stream));
            }
        });
        r
    }

    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn set_script(&self, s: Script) {
        *self.script.lock().unwrap() = s;
    }

    /// Queues a script for one request; queued scripts answer in order before the default.
    pub fn push_script(&self, s: Script) {
        self.queue.lock().unwrap().push_back(s);
    }

    /// Lets `f` decide the answer to every request the queue does not answer.
    pub fn set_chooser(&self, f: impl FnMut(&Received) -> Script + Send + 'static) {
        *self.chooser.lock().unwrap() = Some(Box::new(f));
    }

    /// Takes the requests recorded so far (the record starts empty again).
    pub fn take_requests(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    /// Queues several scripts (see [`Receiver::push_script`]).
    pub fn push_scripts(&self, scripts: impl IntoIterator<Item = Script>) {
        self.queue.lock().unwrap().extend(scripts);
    }

    /// The most requests that were in flight (arrived, not yet answered) at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Polls until at least `n` requests arrived or `timeout` passed; returns the count.
    #[allow(clippy::disallowed_methods)] // a bounded wait on real time, not an assertion about speed
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let c = self.count();
            if c >= n || std::time::Instant::now() >= deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut headers = HashMap::new();
            let mut raw_headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    raw_headers.push((k.to_string(), v.trim().to_string()));
                }
            }
            let len = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let at_us = now_us();
            let at_ms = at_us.div_euclid(1000);
            let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(n, Ordering::SeqCst);
            // The script is chosen under the same lock as the recording, so queued scripts
            // answer requests in arrival order.
            let script = {
                let mut received = self.received.lock().unwrap();
                let request = Received { at_ms, at_us, method, path, headers, raw_headers, body };
                let queued = self.queue.lock().unwrap().pop_front();
                let script = match queued {
                    Some(s) => s,
                    None => match self.chooser.lock().unwrap().as_mut() {
                        Some(choose) => choose(&request),
                        None => self.script.lock().unwrap().clone(),
                    },
                };
                received.push(request);
                script
            };
            if !script.delay.is_zero() {
                std::thread::sleep(script.delay);
            }
            // No longer in flight once the answer is decided: decremented before the bytes go
            // out, so the client cannot start a follow-up request that is counted alongside.
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if script.reset {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            let body = match script.body_bytes {
                Some(n) => vec![b'x'; n],
                None => script.body.clone().into_bytes(),
            };
            let mut resp = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                script.status,
                body.len()
            );
            for (k, v) in &script.extra_headers {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            if let Some(total) = script.slow_body {
                if writer.write_all(resp.as_bytes()).and_then(|_| writer.flush()).is_err() {
                    return;
                }
                let piece = body.len().div_ceil(8).max(1);
                for chunk in body.chunks(piece) {
                    std::thread::sleep(total / 8);
                    if writer.write_all(chunk).and_then(|_| writer.flush()).is_err() {
                        return;
                    }
                }
                continue;
            }
            let mut bytes = resp.into_bytes();
            bytes.extend_from_slice(&body);
            if writer.write_all(&bytes).is_err() {
                return;
            }
        }
    }
}
