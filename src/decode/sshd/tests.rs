//! Decoder-level tests: whole lines in, events out.

use super::*;
use crate::time::parse_rfc3339;

fn ts(s: &str) -> Timestamp {
    parse_rfc3339(s.as_bytes()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn decoder() -> SshdDecoder {
    SshdDecoder::new(&SshdConfig::default(), ts("2026-12-31T00:00:00Z")).unwrap()
}

fn meta(line: u64) -> LineMeta {
    LineMeta {
        source: crate::event::SourceId(3),
        line,
    }
}

fn one(d: &mut SshdDecoder, line: &[u8]) -> Option<AuthEvent> {
    d.decode(line, &meta(7)).unwrap()
}

fn reject(line: &[u8]) -> &'static str {
    decoder().decode(line, &meta(1)).unwrap_err().reason
}

/// The fields a detector looks at, for compact exact assertions.
fn fields(
    ev: &AuthEvent,
) -> (
    Outcome,
    Option<FailureReason>,
    Option<&str>,
    Option<IpAddr>,
    u32,
) {
    (
        ev.outcome,
        ev.reason,
        ev.account.as_ref().map(|a| a.as_str()),
        ev.ip,
        ev.repeat,
    )
}

#[test]
fn config_default_and_toml() {
    let d = SshdConfig::default();
    assert_eq!(d.timezone, "UTC");
    assert_eq!(d.year, None);
    let c: SshdConfig = toml::from_str("timezone = \"Asia/Tokyo\"\nyear = 2025\n").unwrap();
    assert_eq!((c.timezone.as_str(), c.year), ("Asia/Tokyo", Some(2025)));
    let c: SshdConfig = toml::from_str("").unwrap();
    assert_eq!(c.timezone, "UTC");
    assert!(toml::from_str::<SshdConfig>("zone = \"UTC\"").is_err());
}

#[test]
fn config_errors_name_the_key() {
    let r = Timestamp(0);
    let bad_tz = SshdConfig {
        timezone: "Nowhere/Special".into(),
        year: None,
    };
    let e = SshdDecoder::new(&bad_tz, r).unwrap_err().to_string();
    assert!(e.starts_with("config key `sshd.timezone`"), "{e}");
    let bad_year = SshdConfig {
        timezone: "UTC".into(),
        year: Some(26),
    };
    let e = SshdDecoder::new(&bad_year, r).unwrap_err().to_string();
    assert!(e.starts_with("config key `sshd.year`"), "{e}");
    assert_eq!(decoder().name(), "sshd");
}

#[test]
fn failed_password_valid_user() {
    let mut d = decoder();
    let ev = one(
        &mut d,
        b"Dec 10 07:13:43 LabSZ sshd[24227]: Failed password for root from 5.36.59.76 port 42393 ssh2",
    )
    .unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T07:13:43Z"));
    assert_eq!(ev.kind, EventKind::Login);
    assert_eq!(ev.origin, meta(7));
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::BadPassword),
            Some("root"),
            Some(ip("5.36.59.76")),
            1
        )
    );
}

#[test]
fn invalid_user_attempt_counts_once() {
    let mut d = decoder();
    let lines: [&[u8]; 7] = [
        b"Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
        b"Dec 10 06:55:46 LabSZ sshd[24200]: input_userauth_request: invalid user webmaster [preauth]",
        b"Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): check pass; user unknown",
        b"Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186 ",
        b"Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
        b"Dec 10 06:55:48 LabSZ sshd[24200]: Connection closed by 173.234.31.186 [preauth]",
    ];
    let out: Vec<Option<AuthEvent>> = lines.iter().map(|l| one(&mut d, l)).collect();
    assert!(out[0].is_none());
    let ev = out[1].as_ref().unwrap();
    assert_eq!(
        fields(ev),
        (
            Outcome::Failure,
            Some(FailureReason::UnknownAccount),
            Some("webmaster"),
            Some(ip("173.234.31.186")),
            1
        )
    );
    assert!(out[2..].iter().all(Option::is_none), "{out:?}");
    // A second password in the same connection is a new attempt.
    let ev = one(
        &mut d,
        b"Dec 10 06:55:50 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
    )
    .unwrap();
    assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));
    assert_eq!(ev.ts, ts("2026-12-10T06:55:50Z"));
}

#[test]
fn suppression_is_per_connection_and_client() {
    let mut d = decoder();
    assert!(
        one(
            &mut d,
            b"Dec 10 06:55:46 h sshd[1]: Invalid user a from 10.0.0.1 port 1"
        )
        .is_some()
    );
    // Another pid: its own attempt.
    assert!(
        one(&mut d, b"Dec 10 06:55:47 h sshd[2]: Failed password for invalid user a from 10.0.0.1 port 2 ssh2")
            .is_some()
    );
    // Same pid on another host: another connection.
    assert!(
        one(&mut d, b"Dec 10 06:55:47 other sshd[1]: Failed password for invalid user a from 10.0.0.1 port 1 ssh2")
            .is_some()
    );
    // Same pid, different user or address: not the twin.
    assert!(
        one(&mut d, b"Dec 10 06:55:47 h sshd[1]: Failed password for invalid user b from 10.0.0.1 port 1 ssh2")
            .is_some()
    );
    assert!(
        one(&mut d, b"Dec 10 06:55:47 h sshd[1]: Failed password for invalid user a from 10.0.0.2 port 1 ssh2")
            .is_some()
    );
}

#[test]
fn failed_none_is_a_probe() {
    let mut d = decoder();
    let l = |s: &str| format!("Dec 10 08:24:40 LabSZ sshd[24363]: {s}");
    assert!(one(&mut d, l("Invalid user 0 from 5.188.10.180").as_bytes()).is_some());
    assert!(
        one(
            &mut d,
            l("Failed none for invalid user 0 from 5.188.10.180 port 49811 ssh2").as_bytes()
        )
        .is_none()
    );
    // The mark survives the probe: the password line is still the twin of `Invalid user`.
    assert!(
        one(
            &mut d,
            l("Failed password for invalid user 0 from 5.188.10.180 port 49811 ssh2").as_bytes()
        )
        .is_none()
    );
    assert!(
        one(
            &mut d,
            l("Failed password for invalid user 0 from 5.188.10.180 port 49811 ssh2").as_bytes()
        )
        .is_some()
    );

    // Without the `Invalid user` line (file starts mid-connection) the probe stands in for it.
    let mut d = decoder();
    let l = |s: &str| format!("Dec 10 08:24:40 LabSZ sshd[9]: {s}");
    let ev = one(
        &mut d,
        l("Failed none for invalid user admin from 2001:db8::2 port 4 ssh2").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::UnknownAccount),
            Some("admin"),
            Some(ip("2001:db8::2")),
            1
        )
    );
    assert!(
        one(
            &mut d,
            l("Failed password for invalid user admin from 2001:db8::2 port 4 ssh2").as_bytes()
        )
        .is_none()
    );
    // `none` for an existing account (LogLevel VERBOSE) is no attempt at all.
    assert!(
        one(
            &mut d,
            l("Failed none for root from 2001:db8::2 port 4 ssh2").as_bytes()
        )
        .is_none()
    );
}

#[test]
fn method_reasons() {
    let mut d = decoder();
    let ev = one(&mut d, b"Dec 10 08:00:00 h sshd[5]: Failed publickey for git from 192.0.2.1 port 22 ssh2: RSA SHA256:abc").unwrap();
    assert_eq!(ev.reason, Some(FailureReason::Other));
    let ev = one(&mut d, b"Dec 10 08:00:00 h sshd[6]: Failed keyboard-interactive/pam for alice from 192.0.2.1 port 22 ssh2").unwrap();
    assert_eq!(ev.reason, Some(FailureReason::BadPassword));
    let ev = one(&mut d, b"Dec 10 08:00:00 h sshd[7]: Failed publickey for invalid user x from 192.0.2.1 port 22 ssh2").unwrap();
    assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));
}

#[test]
fn accepted_logins() {
    let mut d = decoder();
    let ev = one(&mut d, b"Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2").unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Success,
            None,
            Some("fztu"),
            Some(ip("119.137.62.142")),
            1
        )
    );
    let ev = one(&mut d, b"2026-11-20T10:15:02.123456+09:00 web1 sshd-session[4242]: Accepted publickey for Deploy from 2001:db8:0:0::17 port 50022 ssh2: ED25519 SHA256:Zm9v").unwrap();
    assert_eq!(ev.ts, ts("2026-11-20T01:15:02.123Z"));
    assert_eq!(
        fields(&ev),
        (
            Outcome::Success,
            None,
            Some("deploy"),
            Some(ip("2001:db8::17")),
            1
        )
    );
    let ev = one(&mut d, b"Dec 10 09:32:20 h sshd[1]: Accepted keyboard-interactive/pam for bob from ::ffff:198.51.100.4 port 1 ssh2").unwrap();
    assert_eq!(ev.ip, Some(ip("198.51.100.4")));
}

#[test]
fn invalid_user_variants() {
    let mut d = decoder();
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 LabSZ sshd[24206]: Invalid user test9 from 52.80.34.196 port 36060",
    )
    .unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::UnknownAccount),
            Some("test9"),
            Some(ip("52.80.34.196")),
            1
        )
    );
    // Empty user: still a failure from that address, without an account.
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 LabSZ sshd[1]: Invalid user  from 1.2.3.4",
    )
    .unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::UnknownAccount),
            None,
            Some(ip("1.2.3.4")),
            1
        )
    );
    // A user name with spaces, and non-UTF-8 bytes (Shift-JIS), kept losslessly.
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 LabSZ sshd[2]: Invalid user John Smith from 1.2.3.4 port 5",
    )
    .unwrap();
    assert_eq!(ev.account.unwrap().as_str(), "john smith");
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 LabSZ sshd[3]: Invalid user \x93\x63\x92\x86 from 1.2.3.4 port 5",
    )
    .unwrap();
    assert_eq!(ev.account.unwrap().as_str(), "\\x93c\\x92\\x86");
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 LabSZ sshd[4]: Illegal user guest from 1.2.3.4",
    )
    .unwrap();
    assert_eq!(ev.account.unwrap().as_str(), "guest");
}

#[test]
fn ipv6_lines() {
    let mut d = decoder();
    let ev = one(&mut d, b"Dec 10 07:07:38 h sshd[9]: Failed password for root from 2001:db8:85a3::8a2e:370:7334 port 22 ssh2").unwrap();
    assert_eq!(ev.ip, Some(ip("2001:db8:85a3::8a2e:370:7334")));
    let ev = one(
        &mut d,
        b"Dec 10 07:07:38 h sshd[10]: Invalid user admin from ::1 port 22",
    )
    .unwrap();
    assert_eq!(ev.ip, Some(ip("::1")));
}

#[test]
fn not_allowed_users() {
    let mut d = decoder();
    let l = |s: &str| format!("Dec 10 07:00:00 h sshd[77]: {s}");
    let ev = one(
        &mut d,
        l("User root from 203.0.113.9 not allowed because not listed in AllowUsers").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::Other),
            Some("root"),
            Some(ip("203.0.113.9")),
            1
        )
    );
    assert!(
        one(
            &mut d,
            l("Failed password for invalid user root from 203.0.113.9 port 4 ssh2").as_bytes()
        )
        .is_none()
    );
    let ev = one(
        &mut d,
        l("Failed password for invalid user root from 203.0.113.9 port 4 ssh2").as_bytes(),
    )
    .unwrap();
    assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));
    let ev = one(&mut d, b"Dec 10 07:00:00 h sshd[78]: User bob from host.example not allowed because account is locked").unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::Locked),
            Some("bob"),
            None,
            1
        )
    );
    // With a host name, the twin is matched by user alone.
    assert!(one(&mut d, b"Dec 10 07:00:01 h sshd[78]: Failed password for invalid user bob from 198.51.100.1 port 4 ssh2").is_none());
}

#[test]
fn pam_failures_count_only_outside_sshd() {
    let mut d = decoder();
    assert!(one(&mut d, b"Dec 10 07:13:31 LabSZ sshd[24227]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root").is_none());
    let ev = one(&mut d, b"Dec 10 07:13:31 box su[311]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root").unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::BadPassword),
            Some("root"),
            None,
            1
        )
    );
    let ev = one(&mut d, b"Dec 10 07:13:31 box vsftpd[9]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=nobody rhost=2001:db8::9").unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::UnknownAccount),
            None,
            Some(ip("2001:db8::9")),
            1
        )
    );
    let ev = one(&mut d, b"Dec 10 07:13:31 box login: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=mail.example  user=kim").unwrap();
    assert_eq!((ev.ip, ev.account.unwrap().as_str()), (None, "kim"));
}

#[test]
fn message_repeated() {
    let mut d = decoder();
    let ev = one(&mut d, b"Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]").unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T07:13:56Z"));
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::BadPassword),
            Some("root"),
            Some(ip("5.36.59.76")),
            5
        )
    );
    // A repeat of an irrelevant line is irrelevant.
    assert!(one(&mut d, b"Dec 10 07:13:56 LabSZ sshd[1]: message repeated 3 times: [ Connection closed by 1.2.3.4 [preauth]]").is_none());
    // Repeat of a twin: one of the n is the twin, n - 1 are new attempts.
    let mut d = decoder();
    one(
        &mut d,
        b"Dec 10 07:00:00 h sshd[8]: Invalid user x from 10.1.1.1",
    )
    .unwrap();
    let ev = one(&mut d, b"Dec 10 07:00:01 h sshd[8]: message repeated 3 times: [ Failed password for invalid user x from 10.1.1.1 port 3 ssh2]").unwrap();
    assert_eq!(ev.repeat, 2);
    // Non-sshd PAM repeats count too.
    let ev = one(&mut d, b"Dec 10 07:00:01 h su[2]: message repeated 2 times: [ pam_unix(su:auth): authentication failure; logname=a uid=1 euid=0 tty=pts/1 ruser=a rhost=  user=root]").unwrap();
    assert_eq!(
        (ev.repeat, ev.reason),
        (2, Some(FailureReason::BadPassword))
    );
    // A truncated inner message of a known template is a bad line.
    assert_eq!(
        d.decode(
            b"Dec 10 07:00:01 h sshd[8]: message repeated 3 times: [ Failed password for root fr",
            &meta(1)
        )
        .unwrap_err()
        .reason,
        "bad_message"
    );
    assert!(one(&mut d, b"Dec 10 07:00:01 h sshd[8]: message repeated 0 times: [ Failed password for root from 1.1.1.1 port 3 ssh2]").is_none());
}

#[test]
fn last_message_repeated() {
    let mut d = decoder();
    one(
        &mut d,
        b"Dec 10 07:00:00 h sshd[8]: Failed password for root from 10.1.1.1 port 3 ssh2",
    )
    .unwrap();
    let ev = one(&mut d, b"Dec 10 07:00:30 h last message repeated 4 times").unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T07:00:30Z"));
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::BadPassword),
            Some("root"),
            Some(ip("10.1.1.1")),
            4
        )
    );
    let ev = one(&mut d, b"Dec 10 07:01:30 h last message repeated 2 times").unwrap();
    assert_eq!(ev.repeat, 2);
    // After an irrelevant line there is nothing to repeat.
    assert!(
        one(
            &mut d,
            b"Dec 10 07:02:00 h sshd[8]: Received disconnect from 10.1.1.1: 11: Bye Bye [preauth]"
        )
        .is_none()
    );
    assert!(one(&mut d, b"Dec 10 07:02:00 h last message repeated 2 times").is_none());
    assert!(
        one(
            &mut d,
            b"Dec 10 07:02:00 h sshd[8]: last message repeated 2 times"
        )
        .is_none()
    );
}

#[test]
fn closing_lines_count_only_untraced_connections() {
    let mut d = decoder();
    // Key-only server: the closing line is the only trace.
    let ev = one(&mut d, b"Dec 10 07:00:00 h sshd[30]: Connection closed by authenticating user root 198.51.100.7 port 5 [preauth]").unwrap();
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::Other),
            Some("root"),
            Some(ip("198.51.100.7")),
            1
        )
    );
    // After a Failed line of that connection, it is not a new attempt.
    one(
        &mut d,
        b"Dec 10 07:00:00 h sshd[31]: Failed password for root from 198.51.100.7 port 6 ssh2",
    )
    .unwrap();
    assert!(one(&mut d, b"Dec 10 07:00:01 h sshd[31]: Disconnected from authenticating user root 198.51.100.7 port 6 [preauth]").is_none());
    one(
        &mut d,
        b"Dec 10 07:00:00 h sshd[32]: Invalid user ftp from 198.51.100.7 port 7",
    )
    .unwrap();
    assert!(one(&mut d, b"Dec 10 07:00:01 h sshd[32]: Connection closed by invalid user ftp 198.51.100.7 port 7 [preauth]").is_none());
    // The close released the connection: a reused pid starts clean.
    let ev = one(&mut d, b"Dec 10 08:00:00 h sshd[32]: Connection reset by invalid user ftp 198.51.100.8 port 7 [preauth]").unwrap();
    assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));
    // After a success, the post-auth disconnect is not about attempts.
    one(
        &mut d,
        b"Dec 10 07:00:00 h sshd[33]: Accepted publickey for ann from 198.51.100.9 port 8 ssh2",
    )
    .unwrap();
    assert!(
        one(
            &mut d,
            b"Dec 10 07:05:00 h sshd[33]: Disconnected from user ann 198.51.100.9 port 8"
        )
        .is_none()
    );
}

#[test]
fn irrelevant_lines_are_recognized() {
    let mut d = decoder();
    for line in [
        &b"Dec 10 09:17:01 LabSZ CRON[24000]: pam_unix(cron:session): session opened for user root by (uid=0)"[..],
        b"Dec 10 09:17:01 LabSZ CRON[24001]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
        b"Dec 10 09:17:01 LabSZ systemd-logind[900]: New session 12 of user fztu.",
        b"Dec 10 09:17:01 LabSZ sudo:     fztu : TTY=pts/0 ; PWD=/home/fztu ; USER=root ; COMMAND=/bin/ls",
        b"Dec 10 09:17:01 LabSZ sshd[24200]: Received disconnect from 52.80.34.196: 11: Bye Bye [preauth]",
        b"Dec 10 09:17:01 LabSZ sshd[24200]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
        b"Dec 10 09:17:01 LabSZ sshd[24200]: ",
        b"Dec 10 09:17:01 LabSZ sshd[24200]:",
        b"Dec 10 09:17:01 LabSZ kernel: [ 12.345] eth0: link up",
    ] {
        let r = d.decode(line, &meta(1));
        assert!(matches!(r, Ok(None)) || line.starts_with(b"Dec 10 09:17:01 LabSZ sshd[1]"), "{r:?}");
    }
    // CRLF line ends are tolerated.
    let ev = one(
        &mut d,
        b"Dec 10 09:17:01 h sshd[1]: Failed password for root from 1.2.3.4 port 5 ssh2\r\n",
    )
    .unwrap();
    assert_eq!(ev.ip, Some(ip("1.2.3.4")));
    // sshd's wording in another program is not sshd's.
    assert!(
        one(
            &mut d,
            b"Dec 10 09:17:01 h myapp[1]: Failed password for root from 1.2.3.4 port 5 ssh2"
        )
        .is_none()
    );
}

#[test]
fn new_message_kinds_through_the_decoder() {
    let mut d = decoder();
    let f = |d: &mut SshdDecoder, l: &[u8]| {
        one(d, l).map(|e| {
            let (o, r, a, i, n) = fields(&e);
            (o, r, a.map(String::from), i, n)
        })
    };
    // JSch's `Auth fail` after its `Failed` line: the same attempt, nothing more.
    assert!(f(&mut d, b"Dec 10 07:51:15 LabSZ sshd[24324]: Failed password for invalid user support from 195.154.37.122 port 56539 ssh2").is_some());
    assert!(f(&mut d, b"Dec 10 07:51:15 LabSZ sshd[24324]: error: Received disconnect from 195.154.37.122: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]").is_none());
    // Alone, it is the only trace of the attempt.
    assert_eq!(
        f(&mut d, b"Dec 10 07:51:20 h sshd[9]: Received disconnect from 89.24.13.192: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"),
        Some((Outcome::Failure, Some(FailureReason::Other), None, Some(ip("89.24.13.192")), 1))
    );
    // `maximum authentication attempts` closes a connection whose `Failed` lines counted.
    assert!(f(&mut d, b"Dec 27 03:23:50 r1 sshd[21183]: Failed password for root from 183.106.179.4 port 34100 ssh2").is_some());
    assert!(f(&mut d, b"Dec 27 03:23:51 r1 sshd[21183]: error: maximum authentication attempts exceeded for root from 183.106.179.4 port 34100 ssh2 [preauth]").is_none());
    assert!(f(&mut d, b"Dec 27 03:23:51 r1 sshd[21183]: Disconnecting authenticating user root 183.106.179.4 port 34100: Too many authentication failures [preauth]").is_none());
    // ROOT LOGIN REFUSED, then sshd's `Failed` line of the same attempt.
    assert_eq!(
        f(
            &mut d,
            b"Dec 27 03:24:00 r1 sshd[5]: ROOT LOGIN REFUSED FROM 1.2.3.4 port 5"
        ),
        Some((
            Outcome::Failure,
            Some(FailureReason::Other),
            Some("root".to_string()),
            Some(ip("1.2.3.4")),
            1
        ))
    );
    assert!(
        f(
            &mut d,
            b"Dec 27 03:24:00 r1 sshd[5]: Failed password for root from 1.2.3.4 port 5 ssh2"
        )
        .is_none()
    );
    // `error: PAM:` then `Failed`: one attempt, counted at the PAM line.
    assert_eq!(
        f(&mut d, b"Dec 27 03:25:00 r1 sshd[6]: error: PAM: Authentication failure for james from 205.186.180.99"),
        Some((Outcome::Failure, Some(FailureReason::BadPassword), Some("james".to_string()), Some(ip("205.186.180.99")), 1))
    );
    assert!(f(&mut d, b"Dec 27 03:25:01 r1 sshd[6]: Failed password for james from 205.186.180.99 port 7 ssh2").is_none());
    assert!(f(&mut d, b"Dec 27 03:25:02 r1 sshd[6]: Failed password for james from 205.186.180.99 port 7 ssh2").is_some());
    // The address sshd wrote, not the client's trailing text.
    assert_eq!(
        f(&mut d, b"Dec 27 03:25:00 r1 sshd[7]: Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4"),
        Some((Outcome::Failure, Some(FailureReason::BadPassword), Some("user".to_string()), Some(ip("127.0.0.1")), 1))
    );
    // `User X from IP not allowed`: the address, not none.
    assert_eq!(
        f(&mut d, b"2020-03-25 07:46:15.205351-0700  localhost sshd[6738]: User root from 192.168.33.1 not allowed because not listed in AllowUsers"),
        Some((Outcome::Failure, Some(FailureReason::Other), Some("root".to_string()), Some(ip("192.168.33.1")), 1))
    );
    // dropbear.
    assert_eq!(
        f(&mut d, b"Jan  8 16:39:33 tp.lan dropbear[14824]: Bad password attempt for 'root' from 193.219.28.149:48629"),
        Some((Outcome::Failure, Some(FailureReason::BadPassword), Some("root".to_string()), Some(ip("193.219.28.149")), 1))
    );
    assert_eq!(
        f(&mut d, b"Jan  8 19:54:12 tp.lan dropbear[15197]: Login attempt for nonexistent user from 182.72.89.122:4328"),
        Some((Outcome::Failure, Some(FailureReason::UnknownAccount), None, Some(ip("182.72.89.122")), 1))
    );
    assert_eq!(
        f(&mut d, b"Jan  8 19:32:41 tp.lan dropbear[15165]: Pubkey auth succeeded for 'root' with key md5 78:d6:41 from 10.10.10.241:51737"),
        Some((Outcome::Success, None, Some("root".to_string()), Some(ip("10.10.10.241")), 1))
    );
    // Old pam_unix: emitted (sshd's own lines went to another file), its twin suppressed.
    assert_eq!(
        f(&mut d, b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 "),
        Some((Outcome::Failure, Some(FailureReason::UnknownAccount), None, Some(ip("218.188.2.4")), 1))
    );
    assert!(f(&mut d, b"Jun 14 15:16:03 combo sshd[19939]: Failed password for invalid user x from 218.188.2.4 port 5 ssh2").is_none());
    assert_eq!(
        f(&mut d, b"Nov 11 22:46:29 localhost sshd(pam_unix)[15794]: 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.3.1  user=root"),
        Some((Outcome::Failure, Some(FailureReason::BadPassword), Some("root".to_string()), Some(ip("10.0.3.1")), 2))
    );
    assert_eq!(
        f(&mut d, b"Jun 30 20:53:04 combo klogind[19272]: Authentication failed from 163.27.187.39 (163.27.187.39): Permission denied in replay cache code "),
        Some((Outcome::Failure, Some(FailureReason::Other), None, Some(ip("163.27.187.39")), 1))
    );
}

#[test]
fn sshd_pam_lines_are_held_for_their_failed_twin() {
    let mut d = decoder();
    // Followed by its `Failed` line (the usual case): counted once, at the `Failed` line.
    assert!(one(&mut d, b"Dec 10 07:13:31 LabSZ sshd[24227]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root").is_none());
    let ev = one(&mut d, b"Dec 10 07:13:33 LabSZ sshd[24227]: Failed password for root from 5.36.59.76 port 42393 ssh2").unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T07:13:33Z"));
    assert!(one(&mut d, b"Dec 10 07:13:34 LabSZ sshd[24227]: Connection closed by authenticating user root 5.36.59.76 port 42393 [preauth]").is_none());
    // No `Failed` line (keyboard-interactive logs it at VERBOSE only): the next PAM line of
    // the connection releases the first, with its own time and line.
    assert!(one(&mut d, b"Dec 10 08:00:00 h sshd[50]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.5  user=alice").is_none());
    let ev = d.decode(b"Dec 10 08:00:05 h sshd[50]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.5  user=alice", &meta(9)).unwrap().unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T08:00:00Z"));
    assert_eq!(ev.origin, meta(7));
    assert_eq!(
        fields(&ev),
        (
            Outcome::Failure,
            Some(FailureReason::BadPassword),
            Some("alice"),
            Some(ip("198.51.100.5")),
            1
        )
    );
    // ... and the connection's end releases the second.
    let ev = one(&mut d, b"Dec 10 08:00:09 h sshd[50]: Received disconnect from 198.51.100.5 port 4:11: Bye [preauth]").unwrap();
    assert_eq!(ev.ts, ts("2026-12-10T08:00:05Z"));
    assert_eq!(ev.origin.line, 9);
    // After `Invalid user`, sshd's PAM line is part of that attempt.
    assert!(
        one(
            &mut d,
            b"Dec 10 09:00:00 h sshd[60]: Invalid user bob from 192.0.2.7 port 1"
        )
        .is_some()
    );
    assert!(one(&mut d, b"Dec 10 09:00:00 h sshd[60]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.7 ").is_none());
    assert!(one(&mut d, b"Dec 10 09:00:02 h sshd[60]: Failed password for invalid user bob from 192.0.2.7 port 1 ssh2").is_none());
    assert!(one(&mut d, b"Dec 10 09:00:03 h sshd[60]: Connection closed by invalid user bob 192.0.2.7 port 1 [preauth]").is_none());
}

#[test]
fn rejected_lines_have_stable_reasons() {
    assert_eq!(reject(b""), "not_syslog");
    assert_eq!(reject(b"\xff\xfe\x00garbage"), "not_syslog");
    assert_eq!(
        reject(b"{\"ts\":\"2026-11-20T10:15:02Z\",\"event\":\"login\"}"),
        "not_syslog"
    );
    assert_eq!(reject(b"Feb 30 10:00:00 h sshd[1]: x"), "bad_timestamp");
    assert_eq!(reject(b"Dec 10 24:00:00 h sshd[1]: x"), "bad_timestamp");
    assert_eq!(
        reject(b"2026-13-01T00:00:00Z h sshd[1]: x"),
        "bad_timestamp"
    );
    assert_eq!(reject(b"Dec 10 06:55:46 LabSZ"), "no_program");
    assert_eq!(reject(b"Dec 10 06:55:46 LabSZ sshd[24"), "no_program");
    assert_eq!(
        reject(b"Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.2"),
        "bad_message"
    );
    assert_eq!(
        reject(b"Dec 10 06:55:48 LabSZ sshd[24200]: Invalid user webm"),
        "bad_message"
    );
    let e = decoder()
        .decode(
            b"Dec 10 06:55:48 LabSZ sshd[24200]: Accepted password for x",
            &meta(1),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "bad_message: no client address");
}

#[test]
fn year_rollover_through_the_decoder() {
    // A file written on Jan 2: its December lines are last year's, January ones this year's.
    let mut d = SshdDecoder::new(&SshdConfig::default(), ts("2027-01-02T12:00:00Z")).unwrap();
    let a = one(
        &mut d,
        b"Dec 31 23:59:59 h sshd[1]: Failed password for root from 1.1.1.1 port 1 ssh2",
    )
    .unwrap();
    let b = one(
        &mut d,
        b"Jan  1 00:00:01 h sshd[1]: Failed password for root from 1.1.1.1 port 1 ssh2",
    )
    .unwrap();
    assert_eq!(a.ts, ts("2026-12-31T23:59:59Z"));
    assert_eq!(b.ts, ts("2027-01-01T00:00:01Z"));
    // A configured year and zone.
    let cfg = SshdConfig {
        timezone: "Asia/Tokyo".into(),
        year: Some(2020),
    };
    let mut d = SshdDecoder::new(&cfg, ts("2027-01-02T12:00:00Z")).unwrap();
    let a = one(
        &mut d,
        b"Feb 29 09:00:00 h sshd[1]: Failed password for root from 1.1.1.1 port 1 ssh2",
    )
    .unwrap();
    assert_eq!(a.ts, ts("2020-02-29T00:00:00Z"));
}

#[test]
fn megabyte_lines() {
    let mut d = decoder();
    let mut line = b"Dec 10 07:07:38 h sshd[5]: Invalid user ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 1 << 20));
    line.extend_from_slice(b" from 1.2.3.4 port 5");
    let ev = one(&mut d, &line).unwrap();
    assert_eq!(ev.account.unwrap().as_str().len(), 1 << 20);
    // A megabyte of ` from ` with no address after any of them.
    let mut line = b"Dec 10 07:07:38 h sshd[5]: Failed password for ".to_vec();
    for _ in 0..(1 << 20) / 8 {
        line.extend_from_slice(b" from x ");
    }
    assert_eq!(d.decode(&line, &meta(1)).unwrap_err().reason, "bad_message");
    // A megabyte of an irrelevant message.
    let mut line = b"Dec 10 07:07:38 h sshd[5]: error: ".to_vec();
    line.extend(std::iter::repeat_n(b'\xe3', 1 << 20));
    assert!(one(&mut d, &line).is_none());
    // A megabyte host name.
    let mut line = b"Dec 10 07:07:38 ".to_vec();
    line.extend(std::iter::repeat_n(b'h', 1 << 20));
    line.extend_from_slice(b" sshd[1]: Failed password for root from 1.2.3.4 port 5 ssh2");
    assert!(one(&mut d, &line).is_some());
}

#[test]
fn looks_like_syslog_detects() {
    assert!(looks_like_syslog(
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user x from 1.2.3.4"
    ));
    assert!(looks_like_syslog(b"<38>Dec  1 06:55:46 sshd[24200]: hi\n"));
    assert!(looks_like_syslog(b"<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166"));
    assert!(looks_like_syslog(b"2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for user from 172.18.1.100 port 43042 ssh2"));
    assert!(looks_like_syslog(
        b"Jun 27 09:02:22 Dream-Machine-Pro Dream-Machine-Pro sshd[454008]: Failed x"
    ));
    assert!(looks_like_dropbear(
        b"Bad PAM password attempt for 'foobar' from 192.168.9.163:49242"
    ));
    assert!(!looks_like_dropbear(
        b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0900] \"GET / HTTP/1.1\" 200 1"
    ));
    assert_eq!(
        syslog_message(b"Jan 11 10:13:05 web01 nginx: 10.10.10.11 - - [10/Apr/2017:13:18:05 -0700] \"GET / HTTP/1.1\" 404 271"),
        Some(&b"10.10.10.11 - - [10/Apr/2017:13:18:05 -0700] \"GET / HTTP/1.1\" 404 271"[..])
    );
    assert!(looks_like_syslog(
        b"2026-11-20T10:15:02+0900 host sshd[123]: msg"
    ));
    assert!(!looks_like_syslog(
        b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0900] \"POST /login HTTP/1.1\" 401 12"
    ));
    assert!(!looks_like_syslog(b"{\"ts\":\"2026-11-20T10:15:02Z\"}"));
    assert!(!looks_like_syslog(b"ts,event,outcome,account,ip"));
    assert!(!looks_like_syslog(
        b"2026-11-20T10:15:02Z,login,failure,bob,1.2.3.4"
    ));
    assert!(!looks_like_syslog(b"Dec 99 06:55:46 h sshd[1]: x"));
    assert!(!looks_like_syslog(b""));
}

#[test]
fn connection_memory_is_bounded() {
    let mut c = Connections::new(3);
    let k = |pid| ConnKey {
        host: 1,
        pid: Some(pid),
    };
    let a = ip("10.0.0.1");
    for pid in 0..10 {
        c.mark(k(pid), Some(a), Some(42));
    }
    assert_eq!(c.map.len(), 3);
    // The oldest were forgotten, the newest kept.
    assert!(!c.pending_matches(k(6), 42, a));
    assert!(c.pending_matches(k(7), 42, a));
    assert!(c.pending_matches(k(9), 42, a));
    // Forget/close churn keeps the order queue bounded too.
    for round in 0..100u32 {
        c.mark(k(1000 + round), Some(a), None);
        c.forget(k(1000 + round));
    }
    assert!(c.order.len() <= 6, "{}", c.order.len());
    assert!(c.take_pending(k(9), 42, a));
    assert!(!c.take_pending(k(9), 42, a));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const REAL: [&[u8]; 16] = [
        b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
        b"Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
        b"Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]",
        b"Dec 10 07:13:31 LabSZ sshd[24227]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root",
        b"<38>2026-11-20T10:15:02.123456+09:00 web1 sshd-session[4242]: Accepted publickey for deploy from 2001:db8::17 port 50022 ssh2: ED25519 SHA256:Zm9v",
        b"Dec  1 07:00:00 h sshd[30]: Connection closed by authenticating user root 198.51.100.7 port 5 [preauth]",
        b"Dec 10 07:13:31 box su[311]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root",
        b"Dec 10 07:00:30 h last message repeated 4 times",
        b"<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166",
        b"2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for user from 172.18.1.100 port 43042 ssh2",
        b"Aug 18 07:30:25 192.168.1.5 sshd[20247]: [ID 800047 auth.info] Failed keyboard-interactive for james from 205.186.180.30 port 54520 ssh2",
        b"Jun 27 09:02:22 Dream-Machine-Pro Dream-Machine-Pro sshd[454008]: Failed keyboard-interactive/pam for invalid user asdasf from 192.168.1.2 port 5454 ssh2",
        b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ",
        b"Jan  8 16:39:33 tp.lan dropbear[14824]: Bad password attempt for 'root' from 193.219.28.149:48629",
        b"Nov 20 10:15:02.123456 host [sshd]: error: PAM: Authentication failure for james from 205.186.180.99 via 192.168.1.201",
        b"Dec 27 03:23:51 r1 sshd[21183]: error: maximum authentication attempts exceeded for root from 183.106.179.4 port 34100 ssh2 [preauth]",
    ];

    const TOKENS: [&[u8]; 31] = [
        b"Failed ",
        b"Accepted ",
        b"password ",
        b"none ",
        b"for ",
        b"invalid user ",
        b" from ",
        b"1.2.3.4",
        b"::ffff:1.2.3.4",
        b"2001:db8::1%",
        b" port ",
        b"22",
        b"message repeated ",
        b"3 times: [ ",
        b"]",
        b"Invalid user ",
        b"pam_unix(su:auth): authentication failure;",
        b" user=",
        b" rhost=",
        b"Connection closed by ",
        b"authenticating user ",
        b"User ",
        b" not allowed because ",
        b"\xff ",
        b"error: PAM: ",
        b"illegal user ",
        b"maximum authentication attempts exceeded for ",
        b"Received disconnect from ",
        b": 3: Auth fail",
        b"ROOT LOGIN REFUSED FROM ",
        b"Disconnecting ",
    ];

    fn check(d: &mut SshdDecoder, line: &[u8]) {
        if let Ok(Some(ev)) = d.decode(line, &meta(1)) {
            assert!(ev.repeat >= 1);
            assert_eq!(ev.kind, EventKind::Login);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8)) {
            let mut d = decoder();
            for l in &lines {
                check(&mut d, l);
                prop_assert!(!looks_like_syslog(l) || header::parse(trim_eol(l)).is_ok());
            }
        }

        #[test]
        fn token_soup_after_a_valid_header_never_panics(
            program in proptest::sample::select(vec!["sshd[7]", "sshd", "su[3]", "login", "[sshd]", "sshd(pam_unix)[7]", "dropbear[2]", "klogind[3]"]),
            head in proptest::sample::select(vec![
                "Dec 10 06:55:46 h",
                "<38>1 2022-01-19T14:23:55+00:00 h",
                "2020-03-24 08:38:42.344447-0700  h",
                "Nov 20 10:15:02.123456 h h",
            ]),
            tokens in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..24),
        ) {
            let mut d = decoder();
            // RFC 5424 has no `program[pid]:` tag: its app name and procid are fields.
            let mut line = if head.starts_with("<38>1") {
                let app = program.split(['[', ']']).find(|p| !p.is_empty()).unwrap_or("sshd");
                format!("{head} {app} 7 - - ").into_bytes()
            } else {
                format!("{head} {program}: ").into_bytes()
            };
            for t in &tokens {
                line.extend_from_slice(t);
            }
            // Twice: the second pass meets the state the first one left.
            check(&mut d, &line);
            check(&mut d, &line);
            check(&mut d, b"Dec 10 06:55:47 h last message repeated 2 times");
        }

        #[test]
        fn mutated_real_lines_never_panic(
            which in 0..REAL.len(),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut line = REAL[which].to_vec();
            for (at, byte, op) in edits {
                let pos = at.index(line.len() + 1);
                match op {
                    0 => line.insert(pos, byte),
                    1 if pos < line.len() => { line.remove(pos); }
                    2 if pos < line.len() => line[pos] = byte,
                    _ => line.insert(pos, b' '),
                }
            }
            let mut d = decoder();
            for l in REAL {
                check(&mut d, l);
            }
            check(&mut d, &line);
            let cut_at = cut.index(line.len() + 1);
            check(&mut d, &line[..cut_at]);
        }
    }
}

#[test]
fn decoder_is_send_and_boxable() {
    fn send<T: Send>(_: &T) {}
    let d = decoder();
    send(&d);
    let mut boxed: Box<dyn Decoder> = Box::new(d);
    assert!(
        boxed
            .decode(
                b"Dec 10 06:55:46 h sshd[1]: Invalid user x from 1.2.3.4",
                &meta(1)
            )
            .unwrap()
            .is_some()
    );
}
