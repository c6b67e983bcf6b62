//! One HTTP attempt: the body, its headers and signature, and what the answer means; plus the
//! retry backoff.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Record, WebhookConfig, WebhookFormat};

/// `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("credwatch/", env!("CARGO_PKG_VERSION"));

/// Longest `Retry-After` we honour: a receiver asking for hours would otherwise park the queue.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Bytes of a rejecting receiver's answer kept for the log.
const ERROR_BODY_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// 5xx, 429, a network error or a timeout: try again later.
    Retry {
        /// Why, for the log.
        reason: String,
        /// The receiver's `Retry-After`, when it sent one in the seconds form.
        retry_after: Option<Duration>,
    },
    /// Any other status: the receiver will not take this batch, however often we ask.
    Rejected {
        /// The status code.
        status: u16,
        /// The start of the response body, lossily decoded.
        body: String,
    },
}

/// A batch ready to send: the exact body bytes and the ids it carries.
pub(crate) struct Payload {
    /// The request body.
    pub body: Vec<u8>,
    /// Comma-separated alert ids, for `X-Credwatch-Alert-Ids`.
    pub ids: String,
}

/// Builds the body of a batch in the configured format.
pub(crate) fn payload(format: WebhookFormat, batch: &[Record]) -> Payload {
    let mut ids = String::with_capacity(batch.len() * 17);
    for r in batch {
        // Ids are ours (hex), but a hand-edited spool line must not produce a header value that
        // makes every attempt fail locally and stalls the queue.
        let clean = r.id.chars().filter(|c| c.is_ascii_graphic() && *c != ',');
        if !ids.is_empty() {
            ids.push(',');
        }
        ids.extend(clean);
    }
    let body = match format {
        WebhookFormat::Json => {
            let len = batch.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2;
            let mut body = Vec::with_capacity(len);
            body.push(b'[');
            for (i, r) in batch.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(r.json.as_bytes());
            }
            body.push(b']');
            body
        }
        WebhookFormat::Slack => {
            let lines: Vec<String> = batch.iter().map(slack_line).collect();
            let text = lines.join("\n");
            let value = serde_json::json!({ "text": text });
            value.to_string().into_bytes()
        }
    };
    Payload { body, ids }
}

/// One readable line per alert: `[HIGH] stuffing.ip ip 203.0.113.7: summary (id 3f…)`.
fn slack_line(r: &Record) -> String {
    let v: serde_json::Value = serde_json::from_str(&r.json).unwrap_or(serde_json::Value::Null);
    let s = |ptr: &str| v.pointer(ptr).and_then(|x| x.as_str()).unwrap_or("?");
    format!(
        "[{}] {} {} {}: {} (id {})",
        s("/severity").to_ascii_uppercase(),
        s("/rule"),
        s("/entity/kind"),
        s("/entity/value"),
        s("/summary"),
        r.id
    )
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; keep the fallible path anyway.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + tag.len() * 2);
    out.push_str("sha256=");
    for b in tag.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Parses `Retry-After` in its seconds form (the HTTP-date form is rare for webhooks; we fall
/// back to our own backoff then).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The HTTP client of one webhook.
pub(crate) struct Poster {
    agent: ureq::Agent,
    url: String,
    secret: Option<Vec<u8>>,
}

impl Poster {
    /// An agent with the configured timeouts that reports every status instead of failing.
    pub(crate) fn new(cfg: &WebhookConfig) -> Poster {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_global(Some(cfg.request_timeout))
            // A redirected POST turns into a GET on some receivers: report it instead.
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .build()
            .new_agent();
        Poster {
            agent,
            url: cfg.url.clone(),
            secret: cfg.secret.clone(),
        }
    }

    /// Sends one batch; `timeout` bounds the whole request (shorter near shutdown).
    pub(crate) fn post(&self, p: &Payload, timeout: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Credwatch-Alert-Ids", &p.ids);
        if let Some(secret) = &self.secret {
            req = req.header("X-Credwatch-Signature", signature(secret, &p.body));
        }
        let req = req.config().timeout_global(Some(timeout)).build();
        let mut resp = match req.send(&p.body[..]) {
            Ok(resp) => resp,
            Err(e) => {
                return Outcome::Retry {
                    reason: e.to_string(),
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read (a bounded part of) the answer so the connection can be reused and a rejection
        // can be logged with the receiver's reason. A broken body does not change the status.
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => Outcome::Delivered,
            429 | 500..=599 => Outcome::Retry {
                reason: format!("HTTP {status}"),
                retry_after,
            },
            _ => {
                let head = body.get(..ERROR_BODY_BYTES).unwrap_or(&body);
                Outcome::Rejected {
                    status,
                    body: String::from_utf8_lossy(head).into_owned(),
                }
            }
        }
    }
}

/// Exponential backoff with equal jitter: the n-th wait is uniform in `[d/2, d]` with
/// `d = min(base · 2ⁿ, max)`. Equal rather than full jitter keeps a floor under the wait, so a
/// receiver that is down is not hammered by an unlucky run of near-zero draws.
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// Starts at `base`, never above `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Backoff {
        // A per-process random seed without another dependency: std's hasher keys are random.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The next wait.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(30);
        let d = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*: plenty for jitter.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if span == 0 { 0 } else { r % (span + 1) };
        half + Duration::from_nanos(jitter)
    }

    /// Back to `base` after a success.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        let bounds = [
            500u64, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000,
        ];
        for max in bounds {
            let w = b.next_wait();
            assert!(w >= Duration::from_millis(max / 2), "{w:?} < {max}/2");
            assert!(w <= Duration::from_millis(max), "{w:?} > {max}");
        }
        for _ in 0..100 {
            assert!(b.next_wait() <= Duration::from_secs(60));
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(500));
    }

    #[test]
    fn retry_after_seconds_form_is_capped() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn rec(id: &str, json: &str) -> Record {
        Record {
            id: id.into(),
            json: json.into(),
        }
    }

    #[test]
    fn json_payload_is_an_array_of_the_lines() {
        let p = payload(
            WebhookFormat::Json,
            &[rec("a1", r#"{"id":"a1"}"#), rec("b2", r#"{"id":"b2"}"#)],
        );
        assert_eq!(p.body, br#"[{"id":"a1"},{"id":"b2"}]"#);
        assert_eq!(p.ids, "a1,b2");
        let p = payload(WebhookFormat::Json, &[rec("x,\ny", "{}")]);
        assert_eq!(p.ids, "xy");
    }

    #[test]
    fn slack_payload_has_one_line_per_alert() {
        let json = r#"{"id":"a1","rule":"stuffing.ip","severity":"high","entity":{"kind":"ip","value":"203.0.113.7"},"summary":"many \"fails\""}"#;
        let p = payload(
            WebhookFormat::Slack,
            &[rec("a1", json), rec("zz", "not json")],
        );
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            v["text"],
            "[HIGH] stuffing.ip ip 203.0.113.7: many \"fails\" (id a1)\n[?] ? ? ?: ? (id zz)"
        );
    }
}
