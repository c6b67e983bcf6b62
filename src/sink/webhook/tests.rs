//! Webhook sink against a real HTTP receiver on 127.0.0.1 (no mocks), with short timeouts.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::*;
use crate::alert::{Entity, EntityKind, Rule, Severity};
use crate::time::Timestamp;

#[path = "../../../tests/receiver.rs"]
mod receiver;

use receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(5);

fn alert(i: usize) -> Alert {
    let evidence = crate::rules::stuffing_ip::StuffingIpEvidence {
        failures: 100 + i,
        ..Default::default()
    };
    Alert {
        id: format!("{i:016x}"),
        rule: Rule::StuffingIp,
        severity: Severity::High,
        entity: Entity {
            kind: EntityKind::Ip,
            value: format!("203.0.113.{}", i % 250),
        },
        first_seen: Timestamp(1_700_000_000_000),
        last_seen: Timestamp(1_700_000_060_000),
        asn: None,
        as_org: None,
        summary: format!(
            "203.0.113.{} failed logins to {} accounts",
            i % 250,
            100 + i
        ),
        evidence: evidence.into(),
        accounts: vec!["alice@example.com".into()],
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| alert(i).id).collect()
}

/// Short timeouts so every failure path takes milliseconds.
fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        batch_wait: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(400),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(3),
        ..WebhookConfig::new(url).unwrap()
    }
}

fn emit_all(sink: &mut WebhookSink, range: std::ops::Range<usize>) {
    for i in range {
        sink.emit(&alert(i)).unwrap();
    }
}

#[test]
fn happy_path_delivers_every_alert_once_in_order_with_headers() {
    let rx = Receiver::start([]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..250);
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(rx.delivered_ids(), ids(0..250));
    assert!(reqs.len() >= 3, "{} requests", reqs.len());
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("credwatch/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(r.header("x-credwatch-signature"), None);
        let body_ids = r.alert_ids();
        assert!(!body_ids.is_empty() && body_ids.len() <= 100);
        assert_eq!(
            r.header("x-credwatch-alert-ids"),
            Some(&*body_ids.join(","))
        );
    }
    // The body elements are the contract's alert objects.
    let first = &reqs[0].json()[0];
    assert_eq!(first["rule"], "stuffing.ip");
    assert_eq!(first["entity"]["value"], "203.0.113.0");
    assert_eq!(first["first_seen"], "2023-11-14T22:13:20Z");
    let s = sink.stats().snapshot();
    assert_eq!(
        s,
        WebhookCounts {
            sent: 250,
            ..WebhookCounts::default()
        }
    );
}

#[test]
fn batches_by_size_without_waiting() {
    let rx = Receiver::start([]);
    let mut sink = WebhookSink::new(WebhookConfig {
        batch_max: 5,
        batch_wait: Duration::from_secs(30),
        ..config(&rx.url())
    })
    .unwrap();
    emit_all(&mut sink, 0..10);
    let reqs = rx.wait_for_requests(2, WAIT);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].alert_ids(), ids(0..5));
    assert_eq!(reqs[1].alert_ids(), ids(5..10));
    // Three more stay queued: not full, and batch_wait is far away…
    emit_all(&mut sink, 10..13);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 2);
    assert_eq!(sink.stats().snapshot().pending, 3);
    // … until finish sends them at once.
    let t = Instant::now();
    sink.finish().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2].alert_ids(), ids(10..13));
}

#[test]
fn a_quiet_webhook_sends_at_once_and_then_at_most_once_per_batch_wait() {
    let rx = Receiver::start([]);
    let mut sink = WebhookSink::new(WebhookConfig {
        batch_wait: Duration::from_millis(400),
        ..config(&rx.url())
    })
    .unwrap();
    let t0 = Instant::now();
    emit_all(&mut sink, 0..1);
    let reqs = rx.wait_for_requests(1, WAIT);
    let first = reqs[0].at.duration_since(t0);
    assert!(
        first < Duration::from_millis(300),
        "first sent after {first:?}"
    );
    // Two more right after: they wait for batch_wait after the first send, together.
    emit_all(&mut sink, 1..3);
    std::thread::sleep(Duration::from_millis(100));
    emit_all(&mut sink, 3..4);
    let reqs = rx.wait_for_requests(2, WAIT);
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(
        gap >= Duration::from_millis(390),
        "second sent {gap:?} after the first"
    );
    assert!(
        gap < Duration::from_millis(1500),
        "second sent {gap:?} after the first"
    );
    assert_eq!(reqs[0].alert_ids(), ids(0..1));
    assert_eq!(reqs[1].alert_ids(), ids(1..4));
    sink.finish().unwrap();
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn signature_verifies_with_the_secret() {
    let rx = Receiver::start([]);
    let secret = b"correct horse battery staple".to_vec();
    let mut sink = WebhookSink::new(WebhookConfig {
        secret: Some(secret.clone()),
        ..config(&rx.url())
    })
    .unwrap();
    emit_all(&mut sink, 0..3);
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let header = reqs[0].header("x-credwatch-signature").unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&secret).unwrap();
    mac.update(&reqs[0].body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(header, format!("sha256={want}"));
    // And it does not verify with another key.
    let mut other = <Hmac<Sha256> as KeyInit>::new_from_slice(b"wrong").unwrap();
    other.update(&reqs[0].body);
    let hex = header.strip_prefix("sha256=").unwrap();
    let raw: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert!(other.verify_slice(&raw).is_err());
}

#[test]
fn server_error_is_retried_until_delivered() {
    let rx = Receiver::start([Reply::Status(500), Reply::Status(503)]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..4);
    assert_eq!(rx.wait_for_delivered(4, WAIT), ids(0..4));
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].body, reqs[2].body, "a retry resends the same batch");
    let s = sink.stats().snapshot();
    assert_eq!((s.sent, s.retries, s.failed, s.pending), (4, 2, 0, 0));
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let rx = Receiver::start([Reply::too_many(1)]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..2);
    assert_eq!(rx.wait_for_delivered(2, WAIT), ids(0..2));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
    sink.finish().unwrap();
    assert_eq!(sink.stats().snapshot().retries, 1);
}

#[test]
fn hanging_receiver_times_out_and_is_retried() {
    let rx = Receiver::start([Reply::Hang(Duration::from_secs(3))]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    let t = Instant::now();
    emit_all(&mut sink, 0..2);
    assert_eq!(rx.wait_for_delivered(2, WAIT), ids(0..2));
    // request_timeout is 400 ms: the retry came long before the hang ended.
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].alert_ids(), reqs[1].alert_ids());
    assert_eq!(sink.stats().snapshot().retries, 1);
}

#[test]
fn dropped_connection_is_retried() {
    let rx = Receiver::start([Reply::Drop, Reply::Drop]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..3);
    assert_eq!(rx.wait_for_delivered(3, WAIT), ids(0..3));
    sink.finish().unwrap();
    assert_eq!(rx.requests().len(), 3);
    let s = sink.stats().snapshot();
    assert_eq!((s.sent, s.retries), (3, 2));
}

#[test]
fn client_error_is_not_retried_and_counts_failed() {
    let rx = Receiver::start([Reply::Status(400)]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..2);
    let reqs = rx.wait_for_requests(1, WAIT);
    assert_eq!(reqs[0].alert_ids(), ids(0..2));
    // The queue moves on: the next alert is delivered, the rejected ones never again.
    std::thread::sleep(Duration::from_millis(200));
    emit_all(&mut sink, 2..3);
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].alert_ids(), ids(2..3));
    let s = sink.stats().snapshot();
    assert_eq!((s.sent, s.failed, s.retries, s.pending), (1, 2, 0, 0));
}

#[test]
fn redirect_is_reported_not_followed() {
    let rx = Receiver::start([Reply::WithHeaders(
        301,
        vec![("Location".into(), "http://127.0.0.1:9/elsewhere".into())],
    )]);
    let mut sink = WebhookSink::new(config(&rx.url())).unwrap();
    emit_all(&mut sink, 0..1);
    sink.finish().unwrap();
    assert_eq!(rx.requests().len(), 1);
    let s = sink.stats().snapshot();
    assert_eq!((s.sent, s.failed, s.retries), (0, 1, 0));
}

#[test]
fn emit_never_waits_for_a_hanging_receiver() {
    fn is_send<T: Send>(_: &T) {}
    let rx = Receiver::start([]);
    rx.set_default(Reply::Hang(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    for spool_dir in [None, Some(dir.path().to_path_buf())] {
        let mut sink = WebhookSink::new(WebhookConfig {
            batch_max: 10,
            spool_dir,
            ..config(&rx.url())
        })
        .unwrap();
        is_send(&sink);
        let t = Instant::now();
        emit_all(&mut sink, 0..2_000);
        sink.sync().unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(sink.stats().snapshot().pending, 2_000);
    }
}

#[test]
fn receiver_down_then_up_on_the_same_port_gets_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = Receiver::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut sink = WebhookSink::new(WebhookConfig {
        batch_max: 7,
        spool_dir: Some(dir.path().join("spool")),
        ..config(&url)
    })
    .unwrap();
    emit_all(&mut sink, 0..20);
    sink.sync().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let s = sink.stats().snapshot();
    assert_eq!((s.spooled, s.pending, s.sent), (20, 20, 0));
    assert!(s.retries >= 2, "{s:?}");
    let rx = Receiver::start_on(port, []).unwrap();
    emit_all(&mut sink, 20..25);
    assert_eq!(rx.wait_for_delivered(25, WAIT), ids(0..25));
    sink.finish().unwrap();
    let s = sink.stats().snapshot();
    assert_eq!((s.sent, s.pending, s.failed), (25, 0, 0));
    // Everything delivered: the cursor is at the end of the spool.
    let spool = dir.path().join("spool");
    let cursor = spool::read_cursor(&spool).unwrap();
    assert_eq!(spool::count_pending(&spool, cursor).unwrap(), 0);
}

#[test]
fn dropped_sink_leaves_its_spool_and_a_new_sink_delivers_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let down = format!("http://127.0.0.1:{}/hook", Receiver::free_port());
    let mut first = WebhookSink::new(WebhookConfig {
        spool_dir: Some(spool_dir.clone()),
        ..config(&down)
    })
    .unwrap();
    emit_all(&mut first, 0..6);
    first.sync().unwrap();
    drop(first); // no finish: like a crash
    let rx = Receiver::start([]);
    let mut second = WebhookSink::new(WebhookConfig {
        batch_wait: Duration::from_secs(30),
        spool_dir: Some(spool_dir.clone()),
        ..config(&rx.url())
    })
    .unwrap();
    assert!(second.stats().snapshot().pending >= 1);
    // The backlog goes out at once, without waiting for batch_wait.
    assert_eq!(rx.wait_for_delivered(6, Duration::from_secs(2)), ids(0..6));
    emit_all(&mut second, 6..8);
    second.finish().unwrap();
    assert_eq!(rx.delivered_ids(), ids(0..8));
    assert_eq!(second.stats().snapshot().sent, 8);
}

#[test]
fn batch_in_flight_at_a_crash_is_sent_again_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    // The receiver takes the first request but never answers: from the sink's side it was not
    // delivered when the "crash" comes.
    let rx = Receiver::start([Reply::Hang(Duration::from_secs(2))]);
    let mut first = WebhookSink::new(WebhookConfig {
        spool_dir: Some(spool_dir.clone()),
        request_timeout: Duration::from_secs(1),
        ..config(&rx.url())
    })
    .unwrap();
    emit_all(&mut first, 0..3);
    rx.wait_for_requests(1, WAIT);
    drop(first);
    let mut second = WebhookSink::new(WebhookConfig {
        spool_dir: Some(spool_dir.clone()),
        ..config(&rx.url())
    })
    .unwrap();
    rx.wait_for_delivered(3, WAIT);
    second.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].alert_ids(), ids(0..3));
    assert_eq!(reqs[1].alert_ids(), ids(0..3));
    assert_eq!(
        reqs[0].header("x-credwatch-alert-ids"),
        reqs[1].header("x-credwatch-alert-ids")
    );
}

#[test]
fn finish_with_a_dead_receiver_keeps_the_spool_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let down = format!("http://127.0.0.1:{}/hook", Receiver::free_port());
    let mut sink = WebhookSink::new(WebhookConfig {
        spool_dir: Some(spool_dir.clone()),
        shutdown_timeout: Duration::from_millis(300),
        ..config(&down)
    })
    .unwrap();
    emit_all(&mut sink, 0..4);
    let t = Instant::now();
    sink.finish().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let s = sink.stats().snapshot();
    assert_eq!((s.pending, s.lost, s.sent), (4, 0, 0));
    assert!(
        sink.emit(&alert(9)).is_err(),
        "a finished sink takes no alerts"
    );
    drop(sink);
    // The next run finds all four.
    let next = WebhookSink::new(WebhookConfig {
        spool_dir: Some(spool_dir),
        ..config(&down)
    })
    .unwrap();
    assert_eq!(next.stats().snapshot().pending, 4);
}

#[test]
fn finish_cuts_a_long_backoff_short_for_one_more_attempt() {
    let port = Receiver::free_port();
    let mut sink = WebhookSink::new(WebhookConfig {
        initial_backoff: Duration::from_secs(20),
        max_backoff: Duration::from_secs(20),
        shutdown_timeout: Duration::from_secs(3),
        ..config(&format!("http://127.0.0.1:{port}/hook"))
    })
    .unwrap();
    emit_all(&mut sink, 0..2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.stats().snapshot().retries, 1, "first attempt failed");
    let rx = Receiver::start_on(port, []).unwrap();
    let t = Instant::now();
    sink.finish().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(rx.delivered_ids(), ids(0..2));
    assert_eq!(sink.stats().snapshot().lost, 0);
}

#[test]
fn finish_without_a_spool_counts_what_is_lost() {
    let down = format!("http://127.0.0.1:{}/hook", Receiver::free_port());
    let mut sink = WebhookSink::new(WebhookConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..config(&down)
    })
    .unwrap();
    emit_all(&mut sink, 0..5);
    let t = Instant::now();
    sink.finish().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let s = sink.stats().snapshot();
    assert_eq!((s.pending, s.lost, s.sent, s.spooled), (0, 5, 0, 0));
}

#[test]
fn two_sinks_cannot_share_a_spool() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebhookConfig {
        spool_dir: Some(dir.path().to_path_buf()),
        ..config("http://127.0.0.1:9/hook")
    };
    let _a = WebhookSink::new(cfg.clone()).unwrap();
    let e = WebhookSink::new(cfg).unwrap_err();
    assert!(e.to_string().contains("in use by another"), "{e}");
}

#[test]
fn slack_format_posts_text_lines() {
    let rx = Receiver::start([]);
    let mut sink = WebhookSink::new(WebhookConfig {
        format: WebhookFormat::Slack,
        ..config(&rx.url())
    })
    .unwrap();
    emit_all(&mut sink, 0..2);
    sink.finish().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].header("x-credwatch-alert-ids"),
        Some(&*ids(0..2).join(","))
    );
    let body = reqs[0].json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1));
    assert_eq!(
        body["text"],
        "[HIGH] stuffing.ip ip 203.0.113.0: 203.0.113.0 failed logins to 100 accounts (id 0000000000000000)\n\
         [HIGH] stuffing.ip ip 203.0.113.1: 203.0.113.1 failed logins to 101 accounts (id 0000000000000001)"
    );
}

#[test]
fn config_defaults_urls_and_toml() {
    let c = WebhookConfig::new("https://hooks.example.com/services/T0/B0/SECRET").unwrap();
    assert_eq!(c.batch_max, 100);
    assert_eq!(c.batch_wait, Duration::from_secs(1));
    assert_eq!(c.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.initial_backoff, Duration::from_millis(500));
    assert_eq!(c.max_backoff, Duration::from_secs(60));
    assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(c.format, WebhookFormat::Json);
    assert!(c.validate().is_ok());
    assert!(WebhookConfig::new("http://127.0.0.1:8080/x?y=1").is_ok());
    for bad in [
        "ftp://example.com/x",
        "example.com/hook",
        "/hook",
        "",
        "http://",
        "not a url",
    ] {
        let e = WebhookConfig::new(bad).unwrap_err();
        assert!(matches!(e, WebhookError::InvalidUrl { .. }), "{bad}: {e}");
    }
    let e = WebhookConfig::new("ftp://example.com/x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "webhook URL \"ftp://example.com/…\": scheme \"ftp\" is not http or https"
    );
    // Neither the secret nor the URL's token reach Debug output.
    let shown = format!(
        "{:?}",
        WebhookConfig {
            secret: Some(b"hunter2".to_vec()),
            ..c.clone()
        }
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("SECRET"),
        "{shown}"
    );
    assert!(shown.contains("https://hooks.example.com/…"), "{shown}");
    assert_eq!(
        redact("https://user:pw@example.com:8443/a"),
        "https://example.com:8443/…"
    );
    assert_eq!(redact("http://example.com"), "http://example.com");

    let t: WebhookConfig = toml::from_str(
        "format = \"slack\"\nbatch_max = 10\nbatch_wait = \"500ms\"\nconnect_timeout = 2\nrequest_timeout = \"30s\"\ninitial_backoff = \"1s\"\nmax_backoff = \"2m\"\nshutdown_timeout = \"10s\"\n",
    )
    .unwrap();
    assert_eq!(t.format, WebhookFormat::Slack);
    assert_eq!(t.batch_max, 10);
    assert_eq!(t.batch_wait, Duration::from_millis(500));
    assert_eq!(t.connect_timeout, Duration::from_secs(2));
    assert_eq!(t.request_timeout, Duration::from_secs(30));
    assert_eq!(t.initial_backoff, Duration::from_secs(1));
    assert_eq!(t.max_backoff, Duration::from_secs(120));
    assert_eq!(t.shutdown_timeout, Duration::from_secs(10));
    let d: WebhookConfig = toml::from_str("").unwrap();
    assert_eq!(format!("{d:?}"), format!("{:?}", WebhookConfig::default()));
    assert!(toml::from_str::<WebhookConfig>("url = \"http://x/\"").is_err());
    assert!(toml::from_str::<WebhookConfig>("batch_wiat = \"1s\"").is_err());
    assert!(toml::from_str::<WebhookConfig>("format = \"xml\"").is_err());
    assert!(toml::from_str::<WebhookConfig>("batch_wait = \"soon\"").is_err());

    let zero = WebhookConfig {
        batch_max: 0,
        ..c.clone()
    };
    assert_eq!(
        zero.validate().unwrap_err().to_string(),
        "webhook.batch_max: must be at least 1"
    );
    assert!(WebhookSink::new(zero).is_err());
    assert_eq!("SLACK".parse::<WebhookFormat>(), Ok(WebhookFormat::Slack));
    assert!("xml".parse::<WebhookFormat>().is_err());
}

#[test]
fn secrets_from_env_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret");
    assert_eq!(load_secret(None, None).unwrap(), None);
    assert_eq!(
        load_secret(Some("s3cret".into()), None).unwrap(),
        Some(b"s3cret".to_vec())
    );
    std::fs::write(&f, "s3cret\n").unwrap();
    assert_eq!(
        load_secret(None, Some(&f)).unwrap(),
        Some(b"s3cret".to_vec())
    );
    std::fs::write(&f, "s3cret\r\n").unwrap();
    assert_eq!(
        load_secret(None, Some(&f)).unwrap(),
        Some(b"s3cret".to_vec())
    );
    // Only one trailing newline goes; inner and leading bytes stay.
    std::fs::write(&f, b" a\nb\n\n\xff").unwrap();
    assert_eq!(
        load_secret(None, Some(&f)).unwrap(),
        Some(b" a\nb\n\n\xff".to_vec())
    );
    std::fs::write(&f, "\n").unwrap();
    let e = load_secret(None, Some(&f)).unwrap_err();
    assert!(matches!(e, WebhookError::EmptySecret { .. }), "{e}");
    let missing = dir.path().join("nope");
    let e = load_secret(None, Some(&missing)).unwrap_err();
    assert!(matches!(e, WebhookError::SecretFile { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = load_secret(Some(String::new()), None).unwrap_err();
    assert!(e.to_string().contains("CREDWATCH_WEBHOOK_SECRET"), "{e}");
    assert!(matches!(
        load_secret(Some("x".into()), Some(&f)),
        Err(WebhookError::SecretConflict)
    ));
}

#[test]
fn spool_dir_is_per_url() {
    let base = Path::new("state");
    let a = spool_dir_for(base, "https://a.example/hook");
    assert_eq!(a, spool_dir_for(base, "https://a.example/hook"));
    assert_ne!(a, spool_dir_for(base, "https://b.example/hook"));
    let name = a.file_name().unwrap().to_str().unwrap();
    assert_eq!(name.len(), 16);
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(a.parent().unwrap(), Path::new("state/webhook"));
    // First 8 bytes of SHA-256("abc") = ba7816bf8f01cfea.
    assert_eq!(
        spool_dir_for(base, "abc"),
        Path::new("state/webhook/ba7816bf8f01cfea")
    );
}
