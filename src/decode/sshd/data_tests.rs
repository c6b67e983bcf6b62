//! The acceptance test on real data: loghub's `OpenSSH_2k.log` (2,000 lines of a server under
//! brute force) against its labelled ground truth `OpenSSH_2k.log_structured.csv`.
//!
//! Every line must decode; the lines of the attempt templates must give the event their text
//! says (or be suppressed by the count-once rule, for a reason the labels show); every other
//! template must give nothing; and the weighted number of failed logins must equal the number
//! of distinct attempts derived from the labels alone.

use std::collections::HashMap;

use regex::Regex;

use super::*;
use crate::time::parse_rfc3339;

const LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/sshd/OpenSSH_2k.log"
);
const LABELS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/sshd/OpenSSH_2k.log_structured.csv"
);

/// One labelled line of the ground truth.
struct Label {
    time: String,
    pid: String,
    content: String,
    event_id: String,
}

fn labels() -> Vec<Label> {
    let mut rdr = csv::Reader::from_path(LABELS).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (time, pid, content, event_id) = (col("Time"), col("Pid"), col("Content"), col("EventId"));
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            Label {
                time: r[time].to_string(),
                pid: r[pid].to_string(),
                content: r[content].to_string(),
                event_id: r[event_id].to_string(),
            }
        })
        .collect()
}

/// What the labels say an attempt line must produce.
#[derive(Debug, PartialEq)]
struct Expect {
    outcome: Outcome,
    reason: Option<FailureReason>,
    account: Option<String>,
    ip: IpAddr,
    repeat: u32,
}

fn expect(
    outcome: Outcome,
    reason: Option<FailureReason>,
    user: &str,
    ip: &str,
    repeat: u32,
) -> Expect {
    Expect {
        outcome,
        reason,
        account: AccountKey::normalize(user).map(|a| a.as_str().to_string()),
        ip: ip.parse().unwrap(),
        repeat,
    }
}

#[test]
fn openssh_2k_matches_ground_truth() {
    let text = std::fs::read(LOG).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let labels = labels();
    assert_eq!(lines.len(), 2000);
    assert_eq!(labels.len(), lines.len());

    // Templates, written independently of the decoder.
    let e1 = Regex::new(r"^Accepted password for (\S+) from (\S+) port \d+ ssh2$").unwrap();
    let e8 = Regex::new(r"^Failed none for invalid user (.*) from (\S+) port \d+ ssh2$").unwrap();
    let e9 = Regex::new(r"^Failed password for (\S+) from (\S+) port \d+ ssh2$").unwrap();
    let e10 =
        Regex::new(r"^Failed password for invalid user (.*) from (\S+) port \d+ ssh2$").unwrap();
    let e13 = Regex::new(r"^Invalid user (.*) from (\S+)$").unwrap();
    let e14 = Regex::new(
        r"^message repeated (\d+) times: \[ Failed password for (\S+) from (\S+) port \d+ ssh2\]$",
    )
    .unwrap();

    // A fixed reference: the December lines belong to 2026.
    let mut d = SshdDecoder::new(
        &SshdConfig::default(),
        parse_rfc3339(b"2026-12-31T00:00:00Z").unwrap(),
    )
    .unwrap();

    // Per pid, from the labels: did an `Invalid user` (E13) line announce an invalid user whose
    // first `Failed password for invalid user` (E10) twin has not come yet?
    let mut owed: HashMap<&str, bool> = HashMap::new();
    let mut suppressed_twins = 0;
    let mut probes = 0;
    let mut failed_weight = 0u64;
    let mut successes = 0;

    for (n, (line, label)) in lines.iter().zip(&labels).enumerate() {
        let content = label.content.trim_end();
        let text = String::from_utf8_lossy(line);
        assert!(
            text.trim_end().ends_with(content),
            "line {}: {text} vs {content}",
            n + 1
        );

        let got = d
            .decode(
                line,
                &LineMeta {
                    source: Default::default(),
                    line: n as u64 + 1,
                },
            )
            .unwrap_or_else(|e| panic!("line {} rejected ({e}): {text}", n + 1));
        if let Some(ev) = &got {
            assert_eq!(ev.kind, EventKind::Login);
            let want_ts = format!("2026-12-10T{}Z", label.time);
            assert_eq!(
                ev.ts,
                parse_rfc3339(want_ts.as_bytes()).unwrap(),
                "line {}",
                n + 1
            );
            assert_eq!(ev.origin.line, n as u64 + 1);
            if ev.is_failed_login() {
                failed_weight += u64::from(ev.repeat);
            }
            if ev.outcome == Outcome::Success {
                successes += 1;
            }
        }
        let got = got.map(|ev| Expect {
            outcome: ev.outcome,
            reason: ev.reason,
            account: ev.account.map(|a| a.as_str().to_string()),
            ip: ev.ip.unwrap(),
            repeat: ev.repeat,
        });

        let pid = label.pid.as_str();
        let caps = |re: &Regex| {
            re.captures(content)
                .unwrap_or_else(|| panic!("{}: {content}", label.event_id))
        };
        let want = match label.event_id.as_str() {
            "E1" => {
                let c = caps(&e1);
                Some(expect(Outcome::Success, None, &c[1], &c[2], 1))
            }
            "E9" => {
                let c = caps(&e9);
                Some(expect(
                    Outcome::Failure,
                    Some(FailureReason::BadPassword),
                    &c[1],
                    &c[2],
                    1,
                ))
            }
            "E14" => {
                let c = caps(&e14);
                let n: u32 = c[1].parse().unwrap();
                Some(expect(
                    Outcome::Failure,
                    Some(FailureReason::BadPassword),
                    &c[2],
                    &c[3],
                    n,
                ))
            }
            "E13" => {
                let c = caps(&e13);
                owed.insert(pid, true);
                Some(expect(
                    Outcome::Failure,
                    Some(FailureReason::UnknownAccount),
                    &c[1],
                    &c[2],
                    1,
                ))
            }
            "E10" => {
                let c = caps(&e10);
                if owed.insert(pid, false) == Some(true) {
                    // Suppressed: the same attempt as the `Invalid user` line of this pid,
                    // which was already counted.
                    suppressed_twins += 1;
                    None
                } else {
                    Some(expect(
                        Outcome::Failure,
                        Some(FailureReason::UnknownAccount),
                        &c[1],
                        &c[2],
                        1,
                    ))
                }
            }
            "E8" => {
                let c = caps(&e8);
                if owed.contains_key(pid) {
                    // `Failed none` is the client asking which methods exist, not a credential;
                    // the `Invalid user` line of this pid already stands for the connection.
                    probes += 1;
                    None
                } else {
                    Some(expect(
                        Outcome::Failure,
                        Some(FailureReason::UnknownAccount),
                        &c[1],
                        &c[2],
                        1,
                    ))
                }
            }
            // Everything else: recognized, nothing to count. PAM `authentication failure`
            // (E19, E20) precedes sshd's own `Failed` line of the same attempt; `PAM N more
            // authentication failures` (E15–E17) summarizes attempts already logged.
            _ => None,
        };
        assert_eq!(got, want, "line {} ({}): {text}", n + 1, label.event_id);
    }

    // The expected number of attempts, from the labels alone: every `Failed password` for an
    // existing user is one attempt (E9), a `message repeated N times` is N more (E14); on a
    // connection (pid) that named an invalid user, every `Failed password for invalid user`
    // (E10) is one attempt, and a connection that only probed (E13/E8, no password) still tried
    // one name. The PAM line at 1999 has its `Failed` line beyond the end of the sample, so it
    // is not countable here.
    let mut per_pid: HashMap<&str, (u64, bool)> = HashMap::new();
    let mut expected = 0u64;
    for l in &labels {
        match l.event_id.as_str() {
            "E9" => expected += 1,
            "E14" => {
                expected += u64::from(
                    e14.captures(&l.content)
                        .map_or(0, |c| c[1].parse::<u32>().unwrap()),
                )
            }
            "E10" => per_pid.entry(&l.pid).or_default().0 += 1,
            "E13" | "E8" => per_pid.entry(&l.pid).or_default().1 = true,
            _ => {}
        }
    }
    expected += per_pid
        .values()
        .map(|&(passwords, named)| passwords.max(u64::from(named)))
        .sum::<u64>();
    assert_eq!(expected, 531);
    assert_eq!(failed_weight, expected);
    assert_eq!(successes, 1);
    assert_eq!(probes, 4);
    // 113 `Invalid user` connections, 3 of which never tried a password.
    assert_eq!(suppressed_twins, 110);
}
