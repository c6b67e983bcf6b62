//! sshd and PAM authentication logs in syslog files (`/var/log/auth.log`, `/var/log/secure`,
//! `journalctl -o short-iso|short-precise`, RFC 5424 relays, the macOS unified log): input
//! contract §3. The address of an event is the one sshd wrote in its own field (`from IP port
//! N`), never text the client chose (the user name before it, `ruser` after it).
//!
//! # Counting each attempt once
//!
//! Detectors count failed logins, and sshd writes several lines per attempt. One password tried
//! for a non-existent account gives, on one pid:
//!
//! ```text
//! Invalid user webmaster from 173.234.31.186                  <- emitted (unknown_account)
//! input_userauth_request: invalid user webmaster [preauth]    <- nothing
//! pam_unix(sshd:auth): check pass; user unknown               <- nothing
//! pam_unix(sshd:auth): authentication failure; ... rhost=...  <- nothing
//! Failed password for invalid user webmaster from ... ssh2    <- suppressed: the same attempt
//! ```
//!
//! The rules, per connection (syslog host + pid), with a bounded memory:
//!
//! - `Failed <method>` and `Accepted <method>` are the authoritative attempt lines.
//! - `Invalid user X from IP` is emitted as an `unknown_account` failure, because on servers that
//!   only accept keys it is often the only trace of the attempt. It leaves a mark so that the
//!   next `Failed … for invalid user X from IP` of the same connection is suppressed once: it is
//!   the same attempt. Later `Failed` lines of that connection are new attempts. `User X from IP
//!   not allowed because …` plays the same role (sshd writes it instead of `Invalid user`, and
//!   later lines say `invalid user` too); its reason is `locked` or `other`.
//! - `Failed none` is not an attempt: the client asks which methods exist, and sshd writes it
//!   at the default log level only for invalid users. For an invalid user whose `Invalid user`
//!   line was not seen (the file starts mid-connection) it stands in for that line; otherwise it
//!   emits nothing and leaves the mark for the password line.
//! - Reasons: `invalid user` → `unknown_account`; `password` and `keyboard-interactive/pam` →
//!   `bad_password`; `publickey`, `hostbased`, `gssapi-with-mic` → `other` (a key or ticket was
//!   refused, not a password).
//! - sshd's own PAM `authentication failure` lines (`pam_unix(sshd:auth): ...`) are written
//!   during the attempt, before sshd's `Failed` line of the same attempt. Such a line is *held*
//!   on its connection: when the `Failed` line comes, that line counts the attempt (so the
//!   event's time and line are the `Failed` line's, as they always were) and the held one is
//!   dropped. When instead another PAM line of the connection comes, or the connection ends
//!   (`Connection closed`, `Received disconnect`, `Disconnected from`, `maximum authentication
//!   attempts`), no `Failed` line was written (keyboard-interactive failures are logged at
//!   VERBOSE only) and the held line is emitted then, with its own time and line. A held line
//!   whose connection writes nothing more is not counted: a decoder emits at most one event
//!   per line and cannot look ahead. After `Invalid user`, the PAM line is part of that
//!   attempt and is not held.
//! - Lines written before the `Failed` line of the same attempt that are emitted at once,
//!   leaving a mark that suppresses that `Failed` line once: sshd's `error: PAM: <error> for
//!   [illegal user ]U from H`, `ROOT LOGIN REFUSED FROM H`, and old pam_unix inside sshd
//!   (`sshd(pam_unix)[pid]: authentication failure; ...`, whose sshd lines went to another
//!   file, so it is usually the only trace; its `N more authentication failures` counts N).
//! - For any other program (`login`, `su`, `vsftpd`, `dovecot`, `sudo`) PAM is the only trace
//!   and the line is emitted: reason `bad_password` when PAM names the `user=`,
//!   `unknown_account` when it does not (pam_unix omits it when the name does not resolve).
//! - dropbear (`Bad password attempt for 'U' from IP:PORT`, `Login attempt for nonexistent
//!   user from IP:PORT`, `Pubkey|Password auth succeeded for 'U' ... from IP:PORT`) and
//!   klogind (`Authentication failed from HOST (IP)`) write one line per attempt: emitted.
//! - `error: maximum authentication attempts exceeded for U from IP`, `Disconnecting
//!   (authenticating|invalid) user U IP port N: ...` and a client's `Received disconnect from
//!   IP: 3: ... Auth fail` end a connection after its attempts: emitted only when no attempt
//!   line of the connection was seen, and the connection is then marked as traced.
//! - `Connection closed by|Disconnected from|Connection reset by authenticating|invalid user X
//!   IP port N [preauth]` end a connection that never authenticated. They are emitted (reason
//!   `other`, or `unknown_account` for an invalid user) only when no attempt line of that
//!   connection was seen: a key-only server logs nothing else when a client offers keys for an
//!   existing account and gives up. Either way the connection's memory is released.
//! - rsyslog's `message repeated N times: [ X ]` is X counted N times (`repeat = N`; the first
//!   occurrence was its own line). Classic syslogd's `last message repeated N times` repeats the
//!   previous line the same way.
//!
//! The memory holds at most [`MAX_CONNECTIONS`] connections; the oldest is forgotten first.
//! Forgetting one costs at most one extra count (its `Failed` twin, or its closing line).

mod clock;
mod header;
mod message;

#[cfg(test)]
mod data_tests;

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::decode::Decoder;
use crate::error::{ConfigError, ParseError};
use crate::event::{AccountKey, AuthEvent, EventKind, FailureReason, LineMeta, Outcome};
use crate::time::Timestamp;

use clock::Clock;
pub(crate) use clock::Zone;
use header::HeaderError;
use message::{Method, Msg};

/// How many connections the decoder remembers for counting each attempt once.
pub const MAX_CONNECTIONS: usize = 4096;

/// Longest message kept for classic syslogd's `last message repeated`; sshd lines are far
/// shorter, and a longer one is simply not repeated.
const MAX_REMEMBERED_MESSAGE: usize = 4096;

/// The `[sshd]` config section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshdConfig {
    /// Time zone of RFC 3164 timestamps (`Dec 10 06:55:46`), which carry none: `"UTC"`, a fixed
    /// offset such as `"+09:00"`, `"local"` (this machine's zone) or an IANA name such as
    /// `"Asia/Tokyo"`. Also applies to ISO timestamps written without an offset.
    pub timezone: String,
    /// Year of the first RFC 3164 line, overriding inference from the file's modification time;
    /// later lines still roll over to the next year after December.
    pub year: Option<i32>,
}

impl Default for SshdConfig {
    fn default() -> SshdConfig {
        SshdConfig {
            timezone: "UTC".to_string(),
            year: None,
        }
    }
}

/// True when `line` starts like a syslog line this decoder reads (`[<PRI>]` RFC 3164 or ISO 8601
/// timestamp, optional host, `program[pid]:`), for format auto-detection.
pub fn looks_like_syslog(line: &[u8]) -> bool {
    match header::parse(trim_eol(line)) {
        Ok(h) => match h.time {
            header::RawTime::Bsd {
                day,
                hour,
                minute,
                second,
                ..
            } => (1..=31).contains(&day) && hour <= 23 && minute <= 59 && second <= 60,
            _ => true,
        },
        Err(_) => false,
    }
}

/// The message of a line [`looks_like_syslog`] accepts (what follows `program[pid]: `), for
/// format detection to tell an access log relayed through syslog from an auth log.
pub fn syslog_message(line: &[u8]) -> Option<&[u8]> {
    if !looks_like_syslog(line) {
        return None;
    }
    header::parse(trim_eol(line)).ok().map(|h| h.msg)
}

/// True when `line` is one of dropbear's login messages written without a syslog header (its
/// stderr, as containers and `dropbear -E` log it), for format detection.
pub fn looks_like_dropbear(line: &[u8]) -> bool {
    let line = trim_eol(line);
    [
        &b"Bad password attempt for '"[..],
        b"Bad PAM password attempt for '",
        b"Login attempt for nonexistent user",
        b"Exit before auth",
        b"Pubkey auth succeeded for '",
        b"Password auth succeeded for '",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// Decodes sshd and PAM lines of one syslog input into login events, counting each attempt once
/// (see the module documentation).
#[derive(Debug)]
pub struct SshdDecoder {
    clock: Clock,
    conns: Connections,
    /// Seeded per decoder: user names are chosen by attackers.
    hasher: foldhash::fast::RandomState,
    /// The previous line, for `last message repeated`.
    prev: Previous,
}

/// The previous line's message, when it was one that counts.
#[derive(Debug, Default)]
struct Previous {
    valid: bool,
    sshd: bool,
    sshd_pam: bool,
    conn: ConnKey,
    program: Vec<u8>,
    msg: Vec<u8>,
}

impl SshdDecoder {
    /// A decoder for one input. `reference` is the time the input was last written (its mtime,
    /// or now for stdin): RFC 3164 years are inferred so that lines fall at or before it plus a
    /// day.
    pub fn new(cfg: &SshdConfig, reference: Timestamp) -> Result<SshdDecoder, ConfigError> {
        let zone = Zone::from_config(&cfg.timezone)?;
        if let Some(y) = cfg.year
            && !(1970..=9999).contains(&y)
        {
            return Err(ConfigError::BadValue {
                key: "sshd.year".to_string(),
                message: format!("{y} is not a year between 1970 and 9999"),
            });
        }
        Ok(SshdDecoder {
            clock: Clock::new(zone, cfg.year, reference),
            conns: Connections::new(MAX_CONNECTIONS),
            hasher: foldhash::fast::RandomState::default(),
            prev: Previous::default(),
        })
    }

    /// Applies the counting rules to one classified message standing for `n` occurrences.
    fn count(&mut self, ctx: &Ctx, msg: Msg<'_>, n: u32) -> Option<AuthEvent> {
        let failure = |reason, user: Option<&[u8]>, ip: Option<IpAddr>, n| {
            let mut ev = event(ctx, Outcome::Failure, user, ip, n);
            ev.reason = Some(reason);
            Some(ev)
        };
        match msg {
            Msg::Failed {
                method: Method::None,
                invalid,
                user,
                ip,
            } => {
                if !invalid {
                    return None;
                }
                let user_hash = self.hasher.hash_one(user);
                if self.conns.pending_matches(ctx.conn, user_hash, ip) {
                    return None;
                }
                self.conns.mark(ctx.conn, Some(ip), Some(user_hash));
                failure(FailureReason::UnknownAccount, Some(user), Some(ip), n)
            }
            Msg::Failed {
                method,
                invalid,
                user,
                ip,
            } => {
                let mut n = n;
                if invalid {
                    let user_hash = self.hasher.hash_one(user);
                    if self.conns.take_pending(ctx.conn, user_hash, ip) {
                        n = n.saturating_sub(1);
                    }
                }
                if n > 0 && self.conns.take_twin(ctx.conn, ip) {
                    n -= 1;
                }
                // A held PAM line of this attempt: this line counts it, as it always did.
                self.conns.drop_held(ctx.conn, ip);
                self.conns.mark(ctx.conn, Some(ip), None);
                let reason = match (invalid, method) {
                    (true, _) => FailureReason::UnknownAccount,
                    (false, Method::Password) => FailureReason::BadPassword,
                    (false, _) => FailureReason::Other,
                };
                if n == 0 {
                    return None;
                }
                failure(reason, Some(user), Some(ip), n)
            }
            Msg::Accepted { user, ip } => {
                // Authentication is over; the lines that follow are not about attempts.
                self.conns.forget(ctx.conn);
                Some(event(ctx, Outcome::Success, Some(user), Some(ip), n))
            }
            Msg::InvalidUser { user, ip } => {
                let user_hash = self.hasher.hash_one(user);
                self.conns.mark(ctx.conn, Some(ip), Some(user_hash));
                failure(FailureReason::UnknownAccount, Some(user), Some(ip), n)
            }
            Msg::NotAllowed { user, ip, locked } => {
                let user_hash = self.hasher.hash_one(user);
                self.conns.mark(ctx.conn, ip, Some(user_hash));
                let reason = if locked {
                    FailureReason::Locked
                } else {
                    FailureReason::Other
                };
                failure(reason, Some(user), ip, n)
            }
            Msg::Closed { invalid, user, ip } => {
                if let Some(held) = self.conns.take_held(ctx.conn, Some(ip)) {
                    self.conns.forget(ctx.conn);
                    return Some(held);
                }
                if self.conns.close(ctx.conn, ip) {
                    return None;
                }
                let reason = if invalid {
                    FailureReason::UnknownAccount
                } else {
                    FailureReason::Other
                };
                failure(reason, Some(user), Some(ip), n)
            }
            Msg::PamFailure { user, ip } => {
                let reason = if user.is_some() {
                    FailureReason::BadPassword
                } else {
                    FailureReason::UnknownAccount
                };
                if ctx.sshd {
                    // Held until we know whether sshd's `Failed` line of the attempt follows.
                    if self.conns.has_pending(ctx.conn) {
                        // After `Invalid user`: that line already counted this attempt.
                        return None;
                    }
                    let mut ev = event(ctx, Outcome::Failure, user, ip, n);
                    ev.reason = Some(reason);
                    return self.conns.hold(ctx.conn, ip, ev);
                }
                if ctx.sshd_pam {
                    // Old pam_unix in sshd's process: the only line where sshd's own go to
                    // another file; a `Failed` line of that pid, if merged in, is its twin.
                    self.conns.mark_twin(ctx.conn, ip);
                }
                failure(reason, user, ip, n)
            }
            Msg::PamMore { n: more, user, ip } => {
                let total = more.checked_mul(n).filter(|&t| t > 0)?;
                let reason = if user.is_some() {
                    FailureReason::BadPassword
                } else {
                    FailureReason::UnknownAccount
                };
                failure(reason, user, ip, total)
            }
            Msg::PamError { invalid, user, ip } => {
                if self.conns.has_pending(ctx.conn) || self.conns.holds_for(ctx.conn, ip) {
                    // The same attempt as an `Invalid user` or a held PAM line.
                    return None;
                }
                self.conns.mark_twin(ctx.conn, ip);
                let reason = if invalid {
                    FailureReason::UnknownAccount
                } else {
                    FailureReason::BadPassword
                };
                failure(reason, Some(user), ip, n)
            }
            Msg::RootRefused { ip } => {
                self.conns.mark_twin(ctx.conn, ip);
                failure(FailureReason::Other, Some(b"root"), ip, n)
            }
            Msg::Closing {
                invalid,
                user,
                ip,
                counts,
            } => {
                if let Some(held) = self.conns.take_held(ctx.conn, ip) {
                    return Some(held);
                }
                if !counts || self.conns.traced(ctx.conn, ip) {
                    return None;
                }
                self.conns.mark(ctx.conn, ip, None);
                let reason = if invalid {
                    FailureReason::UnknownAccount
                } else {
                    FailureReason::Other
                };
                failure(reason, user, ip, n)
            }
            Msg::Direct {
                success,
                reason,
                user,
                ip,
            } => {
                if success {
                    return Some(event(ctx, Outcome::Success, user, ip, n));
                }
                failure(reason, user, ip, n)
            }
            Msg::Repeated { .. } | Msg::LastRepeated { .. } | Msg::Other => None,
        }
    }

    fn classify<'a>(
        &self,
        sshd: bool,
        program: &[u8],
        msg: &'a [u8],
    ) -> Result<Msg<'a>, ParseError> {
        if sshd {
            message::classify_sshd(msg).map_err(|e| ParseError::with_detail("bad_message", e.0))
        } else {
            Ok(message::classify_other(program, msg))
        }
    }
}

/// Line context shared by the counting rules.
struct Ctx {
    ts: Timestamp,
    origin: LineMeta,
    sshd: bool,
    /// The program is old pam_unix inside sshd (`sshd(pam_unix)`).
    sshd_pam: bool,
    conn: ConnKey,
}

fn event(
    ctx: &Ctx,
    outcome: Outcome,
    user: Option<&[u8]>,
    ip: Option<IpAddr>,
    n: u32,
) -> AuthEvent {
    let mut ev = AuthEvent::new(ctx.ts, EventKind::Login, ctx.origin);
    ev.outcome = outcome;
    ev.account = user.and_then(AccountKey::normalize_bytes);
    ev.ip = ip;
    ev.repeat = n;
    ev
}

/// Strips a trailing `\n` / `\r\n` (the pipeline usually has, but a decoder must not rely on it).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// sshd's program names: `sshd`, and since OpenSSH 9.8 `sshd-session` (and `sshd-auth`), which
/// write the per-connection lines. A path prefix (`/usr/sbin/sshd`) is allowed.
fn is_sshd(program: &[u8]) -> bool {
    let base = match memchr::memrchr(b'/', program) {
        Some(p) => program.get(p + 1..).unwrap_or_default(),
        None => program,
    };
    matches!(base, b"sshd" | b"sshd-session" | b"sshd-auth")
}

impl Decoder for SshdDecoder {
    fn name(&self) -> &'static str {
        "sshd"
    }

    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        let line = trim_eol(line);
        let h = header::parse(line).map_err(|e| {
            ParseError::new(match e {
                HeaderError::NotSyslog => "not_syslog",
                HeaderError::BadTimestamp => "bad_timestamp",
                HeaderError::NoProgram => "no_program",
            })
        })?;
        let ts = self
            .clock
            .resolve(h.time)
            .map_err(|_| ParseError::new("bad_timestamp"))?;
        let sshd = is_sshd(h.program);
        let ctx = Ctx {
            ts,
            origin: *meta,
            sshd,
            sshd_pam: !sshd && h.program.strip_suffix(b"(pam_unix)").is_some_and(is_sshd),
            conn: ConnKey {
                host: foldhash::fast::FixedState::with_seed(0).hash_one(h.host),
                pid: h.pid,
            },
        };
        let msg = self.classify(sshd, h.program, h.msg)?;
        let (msg, n, remembered) = match msg {
            Msg::Repeated { n, inner } => match self.classify(sshd, h.program, inner)? {
                // One level only: a repeat of a repeat is not something syslogd writes.
                Msg::Repeated { .. } | Msg::LastRepeated { .. } => (Msg::Other, 1, inner),
                m => (m, n, inner),
            },
            Msg::LastRepeated { n } => {
                if !self.prev.valid || n == 0 {
                    return Ok(None);
                }
                // The previous line said it; this one says it happened n more times, now.
                let prev = std::mem::take(&mut self.prev);
                let pctx = Ctx {
                    sshd: prev.sshd,
                    sshd_pam: prev.sshd_pam,
                    conn: prev.conn,
                    ..ctx
                };
                let result = match self.classify(prev.sshd, &prev.program, &prev.msg) {
                    Ok(m) => Ok(self.count(&pctx, m, n)),
                    Err(e) => Err(e),
                };
                // Several `last message repeated` lines in a row all refer to the same message.
                self.prev = prev;
                return result;
            }
            m => (m, 1, h.msg),
        };
        if n == 0 {
            self.prev.valid = false;
            return Ok(None);
        }
        self.prev.valid = !matches!(msg, Msg::Other) && remembered.len() <= MAX_REMEMBERED_MESSAGE;
        if self.prev.valid {
            self.prev.sshd = sshd;
            self.prev.sshd_pam = ctx.sshd_pam;
            self.prev.conn = ctx.conn;
            self.prev.program.clear();
            self.prev.program.extend_from_slice(h.program);
            self.prev.msg.clear();
            self.prev.msg.extend_from_slice(remembered);
        }
        Ok(self.count(&ctx, msg, n))
    }
}

/// A connection: the syslog host (hashed) and the pid. Lines without a pid share one state;
/// the address and user checks keep that from merging unrelated attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct ConnKey {
    host: u64,
    pid: Option<u32>,
}

/// What is remembered about one connection.
#[derive(Debug, Clone)]
struct Conn {
    /// Insertion order, for eviction.
    seq: u64,
    /// Client address of the attempt lines seen (`None`: seen, but sshd wrote a host name).
    ip: Option<IpAddr>,
    /// Hash of the user name of an emitted unknown-account line whose `Failed … for invalid
    /// user` twin has not been seen yet.
    pending: Option<u64>,
    /// An emitted line written before sshd's `Failed` line of the same attempt (`error: PAM:`,
    /// `ROOT LOGIN REFUSED`, old `sshd(pam_unix)`) whose twin has not been seen yet.
    twin: bool,
    /// sshd's own PAM `authentication failure`, not emitted yet: its `Failed` twin counts the
    /// attempt when it comes (as it always did); a later PAM line or the connection's end
    /// without one emits it.
    held: Option<Box<AuthEvent>>,
}

impl Conn {
    fn same_client(&self, ip: IpAddr) -> bool {
        self.ip.is_none_or(|a| a == ip)
    }
}

/// Bounded per-connection memory: a hash map plus an insertion-order queue for eviction.
#[derive(Debug)]
struct Connections {
    map: HashMap<ConnKey, Conn, foldhash::fast::RandomState>,
    order: VecDeque<(ConnKey, u64)>,
    next_seq: u64,
    cap: usize,
}

impl Connections {
    fn new(cap: usize) -> Connections {
        Connections {
            map: HashMap::with_capacity_and_hasher(cap.min(1024), Default::default()),
            order: VecDeque::new(),
            next_seq: 0,
            cap: cap.max(1),
        }
    }

    /// True when `key` waits for the `Failed` twin of an emitted unknown-account line.
    fn pending_matches(&self, key: ConnKey, user: u64, ip: IpAddr) -> bool {
        self.map
            .get(&key)
            .is_some_and(|c| c.pending == Some(user) && c.same_client(ip))
    }

    /// Like [`Self::pending_matches`], and consumes the mark.
    fn take_pending(&mut self, key: ConnKey, user: u64, ip: IpAddr) -> bool {
        match self.map.get_mut(&key) {
            Some(c) if c.pending == Some(user) && c.same_client(ip) => {
                c.pending = None;
                true
            }
            _ => false,
        }
    }

    /// Records an attempt line of `key`; `pending` sets (or, when `None`, keeps) the mark.
    fn mark(&mut self, key: ConnKey, ip: Option<IpAddr>, pending: Option<u64>) {
        if let Some(c) = self.map.get_mut(&key) {
            if c.ip != ip {
                // A new client on a reused pid (or a host name then an address): start over.
                c.pending = None;
                c.twin = false;
            }
            c.ip = ip;
            if pending.is_some() {
                c.pending = pending;
            }
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.map.insert(
            key,
            Conn {
                seq,
                ip,
                pending,
                twin: false,
                held: None,
            },
        );
        self.order.push_back((key, seq));
        while self.map.len() > self.cap {
            match self.order.pop_front() {
                Some((k, s)) => {
                    if self.map.get(&k).is_some_and(|c| c.seq == s) {
                        self.map.remove(&k);
                    }
                }
                None => break,
            }
        }
        // Entries forgotten by `forget`/`close` leave stale queue slots; drop them in bulk.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|c| c.seq == *s));
        }
    }

    /// True when `key` waits for the `Failed` twin of an emitted unknown-account line.
    fn has_pending(&self, key: ConnKey) -> bool {
        self.map.get(&key).is_some_and(|c| c.pending.is_some())
    }

    /// True when `key` holds a PAM line of the client `ip` (or of any client, when `ip` is
    /// unknown).
    fn holds_for(&self, key: ConnKey, ip: Option<IpAddr>) -> bool {
        self.map
            .get(&key)
            .is_some_and(|c| c.held.is_some() && (ip.is_none() || c.ip.is_none() || c.ip == ip))
    }

    /// Holds sshd's PAM failure `ev` on `key`. Returns the one held before, if any: no `Failed`
    /// line came between two PAM lines, so that earlier attempt had none and counts now.
    fn hold(&mut self, key: ConnKey, ip: Option<IpAddr>, ev: AuthEvent) -> Option<AuthEvent> {
        let previous = match self.map.get_mut(&key) {
            Some(c) if c.ip.is_some() && ip.is_some() && c.ip != ip => {
                // A new client on a reused pid: what was held belongs to a finished connection.
                c.held.take()
            }
            Some(c) => c.held.take(),
            None => None,
        };
        self.mark(key, ip, None);
        if let Some(c) = self.map.get_mut(&key) {
            c.held = Some(Box::new(ev));
        }
        previous.map(|b| *b)
    }

    /// Takes the held PAM line of `key` when it is the client's `ip`'s (or `ip` is unknown).
    fn take_held(&mut self, key: ConnKey, ip: Option<IpAddr>) -> Option<AuthEvent> {
        let c = self.map.get_mut(&key)?;
        let same = match (c.held.as_ref().and_then(|e| e.ip), ip) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if !same {
            return None;
        }
        c.held.take().map(|b| *b)
    }

    /// Drops the held PAM line of `key` for the client `ip`: its `Failed` twin has come.
    fn drop_held(&mut self, key: ConnKey, ip: IpAddr) {
        drop(self.take_held(key, Some(ip)));
    }

    /// Marks `key` as awaiting the `Failed` twin of an emitted line.
    fn mark_twin(&mut self, key: ConnKey, ip: Option<IpAddr>) {
        self.mark(key, ip, None);
        if let Some(c) = self.map.get_mut(&key) {
            c.twin = true;
        }
    }

    /// Consumes the twin mark of `key` for the client `ip`.
    fn take_twin(&mut self, key: ConnKey, ip: IpAddr) -> bool {
        match self.map.get_mut(&key) {
            Some(c) if c.twin && c.same_client(ip) => {
                c.twin = false;
                true
            }
            _ => false,
        }
    }

    /// True when attempt lines of the client `ip` (any, when unknown) were seen on `key`.
    fn traced(&self, key: ConnKey, ip: Option<IpAddr>) -> bool {
        self.map
            .get(&key)
            .is_some_and(|c| ip.is_none_or(|ip| c.same_client(ip)))
    }

    /// Forgets a connection.
    fn forget(&mut self, key: ConnKey) {
        self.map.remove(&key);
    }

    /// Ends a connection; true when attempt lines of the same client were seen on it.
    fn close(&mut self, key: ConnKey, ip: IpAddr) -> bool {
        self.map.remove(&key).is_some_and(|c| c.same_client(ip))
    }
}

#[cfg(test)]
mod tests;
