//! Live counters and their Prometheus text exposition (`credwatch tail --metrics ADDR`).
//!
//! The engine thread updates plain atomics; a small HTTP server thread renders them on every
//! `GET /metrics`. No metrics crate: a dozen counters do not need one, and the text format is a
//! few lines (<https://prometheus.io/docs/instrumenting/exposition_formats/>).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::alert::Rule;
use crate::sink::WebhookStats;

/// Counters of a live run, shared between the engine and the metrics server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Lines read from every followed file.
    pub lines: AtomicU64,
    /// Events decoded.
    pub events: AtomicU64,
    /// Lines rejected (malformed, too long, ...).
    pub rejected: AtomicU64,
    /// Events later than the allowed lateness.
    pub late_events: AtomicU64,
    /// Alerts by rule, in the order of [`Rule::ALL`].
    pub alerts: [AtomicU64; Rule::ALL.len()],
    /// Newest event time processed, in ms (0 before the first event).
    pub newest_event_ms: AtomicI64,
    /// Lines read but not yet processed (in the channel between reader and engine).
    pub queued_lines: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// The webhook sinks' counters.
    pub webhooks: Mutex<Vec<(String, Arc<WebhookStats>)>>,
}

impl Metrics {
    /// Counts an alert of `rule`.
    pub fn count_alert(&self, rule: Rule) {
        if let Some(i) = Rule::ALL.iter().position(|r| *r == rule)
            && let Some(c) = self.alerts.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Seconds between `now_ms` (wall clock) and the newest event processed: how far detection
    /// is behind the logs (0 before the first event, never negative).
    pub fn lag_seconds(&self, now_ms: i64) -> f64 {
        let newest = self.newest_event_ms.load(Ordering::Relaxed);
        if newest == 0 {
            return 0.0;
        }
        (now_ms.saturating_sub(newest)).max(0) as f64 / 1000.0
    }

    /// The Prometheus text exposition of every counter, with `now_ms` for the lag.
    pub fn render(&self, now_ms: i64) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "credwatch_lines_read_total",
            "Lines read from the followed logs.",
            get(&self.lines),
        );
        counter(
            "credwatch_events_total",
            "Authentication events decoded.",
            get(&self.events),
        );
        counter(
            "credwatch_rejected_lines_total",
            "Lines rejected as malformed.",
            get(&self.rejected),
        );
        counter(
            "credwatch_late_events_total",
            "Events later than the allowed lateness.",
            get(&self.late_events),
        );
        counter(
            "credwatch_checkpoints_total",
            "Checkpoints written to the state directory.",
            get(&self.checkpoints),
        );
        let _ = writeln!(
            s,
            "# HELP credwatch_alerts_total Alerts emitted, by rule.\n# TYPE credwatch_alerts_total counter"
        );
        for (rule, c) in Rule::ALL.iter().zip(&self.alerts) {
            let _ = writeln!(
                s,
                "credwatch_alerts_total{{rule=\"{}\"}} {}",
                rule.as_str(),
                get(c)
            );
        }
        if let Ok(hooks) = self.webhooks.lock() {
            for (name, help, pick) in [
                (
                    "credwatch_webhook_sent_total",
                    "Alerts delivered to the webhook.",
                    0,
                ),
                (
                    "credwatch_webhook_failed_total",
                    "Alerts the webhook refused (4xx, not retried).",
                    1,
                ),
                (
                    "credwatch_webhook_spooled_total",
                    "Alerts written to the disk spool.",
                    2,
                ),
                (
                    "credwatch_webhook_pending",
                    "Alerts waiting for delivery.",
                    3,
                ),
            ] {
                let kind = if pick == 3 { "gauge" } else { "counter" };
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (target, st) in hooks.iter() {
                    let c = st.snapshot();
                    let v = [c.sent, c.failed, c.spooled, c.pending][pick];
                    let _ = writeln!(s, "{name}{{webhook=\"{}\"}} {v}", escape_label(target));
                }
            }
        }
        let _ = writeln!(
            s,
            "# HELP credwatch_queued_lines Lines read and waiting for detection.\n# TYPE credwatch_queued_lines gauge\ncredwatch_queued_lines {}",
            get(&self.queued_lines)
        );
        let _ = writeln!(
            s,
            "# HELP credwatch_lag_seconds Wall-clock time minus the newest event time processed.\n# TYPE credwatch_lag_seconds gauge\ncredwatch_lag_seconds {:.3}",
            self.lag_seconds(now_ms)
        );
        s
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A running metrics endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `GET /metrics` (and `/`) on `addr` from a thread of its own. `now_ms` gives the
    /// wall clock for the lag gauge.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        now_ms: fn() -> i64,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("credwatch-metrics".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = answer(stream, &metrics, now_ms());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics: accept failed");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            })?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(stream: TcpStream, metrics: &Metrics, now_ms: i64) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Drain the headers (up to the blank line) so the client sees a clean close.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let mut stream = stream;
    if request.starts_with("GET ") && (path == "/metrics" || path == "/") {
        let body = metrics.render(now_ms);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    } else {
        stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn renders_counters_and_serves_them() {
        let m = Arc::new(Metrics::default());
        m.lines.store(12, Ordering::Relaxed);
        m.count_alert(Rule::StuffingIp);
        m.count_alert(Rule::StuffingIp);
        m.newest_event_ms.store(10_000, Ordering::Relaxed);
        let text = m.render(12_500);
        assert!(text.contains("credwatch_lines_read_total 12\n"), "{text}");
        assert!(
            text.contains("credwatch_alerts_total{rule=\"stuffing.ip\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("credwatch_alerts_total{rule=\"reset.flood\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("credwatch_lag_seconds 2.500\n"), "{text}");

        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), m, || 12_500).unwrap();
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("credwatch_lines_read_total 12\n"), "{got}");
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 404"), "{got}");
    }
}
