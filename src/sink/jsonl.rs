//! JSON lines: one alert object per line, to stdout or a file.

use std::io::{BufWriter, Write};

use crate::alert::Alert;
use crate::error::SinkError;
use crate::sink::Sink;

/// Writes alerts as JSON lines.
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    target: String,
    /// Flush after every alert, so a reader of a pipe or a tailed file sees alerts as they
    /// happen rather than when a buffer fills.
    flush_each: bool,
}

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl JsonlSink {
    /// Writes to `out`; `target` names it in errors (`stdout` or a path).
    pub fn new(
        out: Box<dyn Write + Send>,
        target: impl Into<String>,
        flush_each: bool,
    ) -> JsonlSink {
        JsonlSink {
            out: BufWriter::new(out),
            target: target.into(),
            flush_each,
        }
    }

    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            target: self.target.clone(),
            source,
        }
    }
}

impl Sink for JsonlSink {
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let res = serde_json::to_writer(&mut self.out, alert)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| {
                if self.flush_each {
                    self.out.flush()
                } else {
                    Ok(())
                }
            });
        res.map_err(|e| self.io(e))
    }

    fn checkpoint(&mut self) -> Result<(), SinkError> {
        let res = self.out.flush();
        res.map_err(|e| self.io(e))
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let res = self.out.flush();
        res.map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Entity, EntityKind, Rule, Severity};
    use crate::detect::ThresholdCrossed;
    use crate::rules::stuffing_ip::{StuffingIpEvidence, StuffingIpThresholds};
    use crate::time::Timestamp;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_one_object_per_line_in_contract_shape() {
        let buf = Shared::default();
        let mut sink = JsonlSink::new(Box::new(buf.clone()), "test", false);
        let alert = Alert {
            id: "abc".into(),
            rule: Rule::StuffingIp,
            severity: Severity::High,
            entity: Entity {
                kind: EntityKind::Ip,
                value: "203.0.113.7".into(),
            },
            first_seen: Timestamp(0),
            last_seen: Timestamp(1_000),
            asn: None,
            as_org: None,
            summary: "s".into(),
            evidence: StuffingIpEvidence {
                attempts: 20,
                distinct_accounts: 20,
                failures: 20,
                thresholds_crossed: StuffingIpThresholds {
                    distinct_accounts: Some(ThresholdCrossed::new(20, 20)),
                    ..Default::default()
                },
                unknown_account_ratio: 1.0,
                window: "10m".into(),
                ..Default::default()
            }
            .into(),
            accounts: vec![],
        };
        sink.emit(&alert).unwrap();
        sink.emit(&alert).unwrap();
        sink.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"id":"abc","rule":"stuffing.ip","severity":"high","entity":{"kind":"ip","value":"203.0.113.7"},"first_seen":"1970-01-01T00:00:00Z","last_seen":"1970-01-01T00:00:01Z","summary":"s","evidence":{"attempts":20,"distinct_accounts":20,"failures":20,"successes":0,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":0,"threshold":20,"value":20}},"unknown_account_ratio":1.0,"window":"10m"}}"#
        );
    }
}
