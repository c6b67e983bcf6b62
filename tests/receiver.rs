//! A real, scripted HTTP/1.1 webhook receiver for tests: a `TcpListener` on 127.0.0.1 and one
//! thread per connection. It parses the request line, headers and a `Content-Length` body,
//! records every request (also those it then refuses to answer), and answers from a script:
//! a status (with extra headers), a hang longer than the client's timeout, or a dropped
//! connection. When the script runs out it answers with the default reply (200 unless changed).
//! Every answer carries `Connection: close`, so each request arrives on a fresh connection.
//!
//! Also compiled into the library's unit tests (`src/sink/webhook/tests.rs`), so there is one
//! receiver for unit and end-to-end tests.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer with this status and a short text body.
    Status(u16),
    /// Answer with this status and these extra headers (e.g. `Retry-After`).
    WithHeaders(u16, Vec<(String, String)>),
    /// Read the request, then say nothing for this long and close.
    Hang(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
}

impl Reply {
    /// `429 Too Many Requests` with `Retry-After: <secs>`.
    pub fn too_many(secs: u64) -> Reply {
        Reply::WithHeaders(429, vec![("Retry-After".into(), secs.to_string())])
    }

    /// Whether this reply is a 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Reply::Status(200..=299) | Reply::WithHeaders(200..=299, _)
        )
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, …
    pub method: String,
    /// The request target, e.g. `/hook`.
    pub path: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When the receiver had read it completely.
    pub at: Instant,
    /// How the receiver answered it.
    pub reply: Reply,
}

impl Request {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `id` of every alert in a JSON-array body, in order.
    pub fn alert_ids(&self) -> Vec<String> {
        match self.json() {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|a| a.get("id").and_then(|v| v.as_str()).map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    }
}

struct State {
    requests: Mutex<Vec<Request>>,
    changed: Condvar,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    stop: AtomicBool,
}

/// The receiver; stops accepting when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on 127.0.0.1 on a free port.
    pub fn start(script: impl IntoIterator<Item = Reply>) -> Receiver {
        Receiver::start_on(0, script).expect("bind 127.0.0.1:0")
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub fn start_on(
        port: u16,
        script: impl IntoIterator<Item = Reply>,
    ) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            script: Mutex::new(script.into_iter().collect()),
            default: Mutex::new(Reply::Status(200)),
            stop: AtomicBool::new(false),
        });
        let st = Arc::clone(&state);
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Ok(Receiver {
            addr,
            state,
            accept: Some(accept),
        })
    }

    /// A port that nothing listens on (bound, then released): for "receiver down" tests.
    pub fn free_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        l.local_addr().expect("local addr").port()
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Appends replies to the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// The reply used once the script is empty.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until `done(requests)` holds or `timeout` passes; returns the requests either way.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let end = Instant::now() + timeout;
        let mut reqs = self.state.requests.lock().unwrap();
        while !done(&reqs) {
            let now = Instant::now();
            if now >= end {
                break;
            }
            reqs = self.state.changed.wait_timeout(reqs, end - now).unwrap().0;
        }
        reqs.clone()
    }

    /// Waits for at least `n` requests (or `timeout`).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        self.wait_until(timeout, |r| r.len() >= n)
    }

    /// Alert ids of every request answered 2xx, in order (duplicates kept).
    pub fn delivered_ids(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.reply.is_success())
            .flat_map(Request::alert_ids)
            .collect()
    }

    /// Waits until `n` alert ids were delivered (answered 2xx) or `timeout`; returns them.
    pub fn wait_for_delivered(&self, n: usize, timeout: Duration) -> Vec<String> {
        self.wait_until(timeout, |reqs| {
            reqs.iter()
                .filter(|r| r.reply.is_success())
                .map(|r| r.alert_ids().len())
                .sum::<usize>()
                >= n
        });
        self.delivered_ids()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, st: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(read_half);
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let reply = st
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| st.default.lock().unwrap().clone());
    st.requests.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
        reply: reply.clone(),
    });
    st.changed.notify_all();
    let mut conn = conn;
    match reply {
        Reply::Status(code) => answer(&mut conn, code, &[]),
        Reply::WithHeaders(code, extra) => answer(&mut conn, code, &extra),
        Reply::Hang(d) => std::thread::sleep(d),
        Reply::Drop => {}
    }
    let _ = conn.shutdown(Shutdown::Both);
}

fn answer(conn: &mut TcpStream, code: u16, extra: &[(String, String)]) {
    let body = format!("receiver says {code}\n");
    let mut head = format!(
        "HTTP/1.1 {code} Scripted\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}
