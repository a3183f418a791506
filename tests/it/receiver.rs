//! A recording HTTP/1.1 receiver on loopback for delivery tests: it records every request
//! (arrival time, method, path, headers, body) and answers as scripted (status, delay, body).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Received {
    /// Wall-clock arrival, ms since the epoch.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    pub delay: Duration,
    pub body: String,
    pub extra_headers: Vec<(String, String)>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            status: 200,
            delay: Duration::ZERO,
            body: "{\"ok\":true}".into(),
            extra_headers: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<Script>>,
}

#[allow(clippy::disallowed_methods)] // the receiver timestamps arrivals with the real clock
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            port,
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(Script::default())),
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
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set_script(&self, s: Script) {
        *self.script.lock().unwrap() = s;
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
                }
            }
            let len = headers
                .get("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let at_ms = now_ms();
            self.received.lock().unwrap().push(Received {
                at_ms,
                method,
                path,
                headers,
                body,
            });
            let script = self.script.lock().unwrap().clone();
            if !script.delay.is_zero() {
                std::thread::sleep(script.delay);
            }
            let mut resp = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                script.status,
                script.body.len()
            );
            for (k, v) in &script.extra_headers {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            resp.push_str(&script.body);
            if writer.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }
}
