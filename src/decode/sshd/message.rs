//! sshd and PAM message templates.
//!
//! Fields that an attacker chooses (the user name) are found by anchoring on what sshd itself
//! writes: in `for [invalid user ]USER from IP port N ssh2`, the user is everything before the
//! rightmost ` from ` that is followed by a valid address. sshd truncates user names to 100
//! bytes but otherwise writes them as received, so they may be empty, hold spaces, or even
//! hold ` from 6.6.6.6 port 1` to frame someone else: the rightmost anchor is the real one.

use std::net::IpAddr;
use std::sync::LazyLock;

use memchr::memmem::{self, Finder, FinderRev};
use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::character::complete::char;
use nom::{IResult, Parser};

use crate::event::FailureReason;

/// An authentication method as far as counting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// `password`, or `keyboard-interactive/pam` (in practice PAM asking for the password).
    Password,
    /// `none`: the client asking which methods exist; no credential was presented.
    None,
    /// `publickey`, `hostbased`, `gssapi-with-mic`, anything else: a credential that is not a
    /// password.
    Other,
}

impl Method {
    fn from_token(t: &[u8]) -> Method {
        match t {
            b"password" => Method::Password,
            b"none" => Method::None,
            _ if t.starts_with(b"keyboard-interactive") => Method::Password,
            _ => Method::Other,
        }
    }
}

/// What a message says, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Msg<'a> {
    /// `Failed <method> for [invalid user ]USER from IP port N ssh2`.
    Failed {
        /// The method.
        method: Method,
        /// `invalid user` was written.
        invalid: bool,
        /// Raw user name.
        user: &'a [u8],
        /// Client address.
        ip: IpAddr,
    },
    /// `Accepted <method> for USER from IP port N ssh2`.
    Accepted {
        /// Raw user name.
        user: &'a [u8],
        /// Client address.
        ip: IpAddr,
    },
    /// `Invalid user USER from IP [port N]` (`Illegal user` in old versions): sshd's first line
    /// about a connection that names a non-existent account.
    InvalidUser {
        /// Raw user name.
        user: &'a [u8],
        /// Client address.
        ip: IpAddr,
    },
    /// `User USER from HOST not allowed because REASON` (AllowUsers, DenyGroups, locked
    /// account, missing shell): written instead of `Invalid user`; later lines say `invalid
    /// user` too.
    NotAllowed {
        /// Raw user name.
        user: &'a [u8],
        /// Client address, when sshd wrote one rather than a host name (`UseDNS yes`).
        ip: Option<IpAddr>,
        /// The reason is `account is locked`.
        locked: bool,
    },
    /// `Connection closed by|Connection reset by|Disconnected from (authenticating|invalid) user
    /// USER IP port N [preauth]`: the last line of a connection that never authenticated.
    Closed {
        /// `invalid user` rather than `authenticating user`.
        invalid: bool,
        /// Raw user name.
        user: &'a [u8],
        /// Client address.
        ip: IpAddr,
    },
    /// `pam_MODULE(SERVICE:auth): authentication failure; ... rhost=R  user=U`.
    PamFailure {
        /// `user=`, absent when PAM could not resolve the name (pam_unix's unknown user).
        user: Option<&'a [u8]>,
        /// `rhost=` when it is an address (it may be a host name, or empty for local logins).
        ip: Option<IpAddr>,
    },
    /// Old-style pam_unix (`sshd(pam_unix)[pid]: N more authentication failures; ... rhost=R
    /// user=U`): N attempts that PAM logged no other line for.
    PamMore {
        /// How many.
        n: u32,
        /// `user=`.
        user: Option<&'a [u8]>,
        /// `rhost=` when it is an address.
        ip: Option<IpAddr>,
    },
    /// sshd's `error: PAM: <pam error> for [illegal user ]USER from HOST`: the PAM stage of a
    /// password attempt, written before sshd's `Failed` line of the same attempt.
    PamError {
        /// `illegal user` was written (or PAM said the user is unknown).
        invalid: bool,
        /// Raw user name.
        user: &'a [u8],
        /// The host, when sshd wrote an address (`UseDNS yes` writes a name).
        ip: Option<IpAddr>,
    },
    /// `ROOT LOGIN REFUSED FROM HOST [port N]`: root was not permitted (`PermitRootLogin`).
    RootRefused {
        /// The host, when it is an address.
        ip: Option<IpAddr>,
    },
    /// A line that ends (or gives up on) an unauthenticated connection after its attempts:
    /// `error: maximum authentication attempts exceeded for [invalid user ]USER from IP port N`,
    /// `Disconnecting (authenticating|invalid) user USER IP port N: ...`, a client's
    /// `Received disconnect from IP: 3: ... Auth fail`. A failure only for a connection with no
    /// attempt line seen; `counts` is false for the plain closes (`Received disconnect from IP:
    /// 11: Bye Bye`, `Connection closed by IP`), which only settle a held PAM line.
    Closing {
        /// `invalid user` was written.
        invalid: bool,
        /// Raw user name, when the line names one.
        user: Option<&'a [u8]>,
        /// Client address, when the line's address field holds one.
        ip: Option<IpAddr>,
        /// Whether the line itself is a failure when nothing else traced the connection.
        counts: bool,
    },
    /// A line that is one login on its own, with no twin to pair: dropbear (`Bad password
    /// attempt for 'root' from IP:PORT`, `Login attempt for nonexistent user from IP:PORT`,
    /// `Pubkey auth succeeded for 'root' ... from IP:PORT`), klogind's `Authentication failed from
    /// HOST (IP)`.
    Direct {
        /// `Pubkey|Password auth succeeded`.
        success: bool,
        /// Why it failed (ignored for a success).
        reason: FailureReason,
        /// Raw user name, when the line names one.
        user: Option<&'a [u8]>,
        /// Client address.
        ip: Option<IpAddr>,
    },
    /// rsyslog's `message repeated N times: [ INNER]`.
    Repeated {
        /// How many more times the inner message occurred.
        n: u32,
        /// The inner message.
        inner: &'a [u8],
    },
    /// Classic syslogd's `last message repeated N times` (about the previous line).
    LastRepeated {
        /// How many more times the previous line occurred.
        n: u32,
    },
    /// Anything else: well-formed and irrelevant to counting (`Connection closed by IP`,
    /// `Received disconnect`, `session opened`, `PAM 5 more authentication failures`, `fatal:`).
    Other,
}

/// A known template whose fields cannot be read (typically a truncated line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadMessage(pub &'static str);

type Res<'a, T> = IResult<&'a [u8], T>;

// Searchers built once: building one per call cost more than the search on short lines.
static FROM_REV: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b" from "));
static PORT_REV: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(b" port "));
static USER_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"user="));
static RHOST_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"rhost="));

/// Parses an address token as sshd writes it; IPv4-mapped IPv6 becomes IPv4, a `%zone` suffix
/// is dropped.
pub(super) fn parse_ip(token: &[u8]) -> Option<IpAddr> {
    if token.len() < 2 || token.len() > 64 {
        return None;
    }
    let token = match memchr::memchr(b'%', token) {
        Some(p) => token.get(..p)?,
        None => token,
    };
    let s = std::str::from_utf8(token).ok()?;
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The address token at the start of `b` (up to a space or the end), and the rest.
fn ip_token(b: &[u8]) -> Option<(IpAddr, &[u8])> {
    let end = memchr::memchr(b' ', b).unwrap_or(b.len());
    let (token, rest) = b.split_at(end);
    Some((parse_ip(token)?, rest))
}

/// Splits `USER from IP port N[ ...]` at sshd's own address field.
///
/// The user name before it is the client's, and so is text sshd may append after the port
/// (`ssh1: ruser NAME`, hostbased's client user and host). The anchor is the rightmost ` from
/// IP port N` whose port is followed by the end, ` ssh1|ssh2`, `:` or ` [preauth]`, so neither a
/// name holding ` from 6.6.6.6 port 1` nor a trailing `ruser from 1.2.3.4` moves the address.
/// Lines that write no port (`Invalid user X from IP` of old versions) fall back to the
/// rightmost ` from IP`.
fn user_from_ip(b: &[u8]) -> Option<(&[u8], IpAddr)> {
    let mut fallback = None;
    for pos in FROM_REV.rfind_iter(b) {
        let (user, rest) = b.split_at(pos);
        let Some((ip, after)) = rest.get(6..).and_then(ip_token) else {
            continue;
        };
        if port_field(after) {
            return Some((user, ip));
        }
        if fallback.is_none() && (after.is_empty() || after.starts_with(b" [preauth]")) {
            fallback = Some((user, ip));
        }
    }
    fallback
}

/// True when `after` (what follows an address) is sshd's ` port N` and then the end, a
/// protocol token, `:` or ` [preauth]`.
fn port_field(after: &[u8]) -> bool {
    let Some(rest) = after.strip_prefix(b" port ") else {
        return false;
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 5 {
        return false;
    }
    let tail = rest.get(n..).unwrap_or_default();
    tail.is_empty()
        || tail.starts_with(b" ssh")
        || tail.starts_with(b":")
        || tail.starts_with(b" [preauth]")
        || tail.starts_with(b" on ")
}

/// Splits `USER IP port N[ ...]` at the rightmost ` IP port ` (the closing-line layout, where no
/// ` from ` separates the user from the address).
fn user_ip_port(b: &[u8]) -> Option<(&[u8], IpAddr)> {
    PORT_REV.rfind_iter(b).find_map(|pos| {
        let before = b.get(..pos)?;
        let space = memchr::memrchr(b' ', before)?;
        let ip = parse_ip(before.get(space + 1..)?)?;
        Some((before.get(..space)?, ip))
    })
}

/// `Failed|Accepted <method> for ` and what follows.
fn verb_method_for<'a>(verb: &'static str, i: &'a [u8]) -> Res<'a, &'a [u8]> {
    let (i, _) = tag(verb).parse_complete(i)?;
    let (i, method) = take_till1(|c| c == b' ').parse_complete(i)?;
    let (i, _) = tag(" for ").parse_complete(i)?;
    Ok((i, method))
}

/// `for` arguments: `[invalid user ]USER from IP ...`.
fn for_args(rest: &[u8]) -> Result<(bool, &[u8], IpAddr), BadMessage> {
    let (user, ip) = user_from_ip(rest).ok_or(BadMessage("no client address"))?;
    match user.strip_prefix(b"invalid user ") {
        Some(u) => Ok((true, u, ip)),
        None => Ok((false, user, ip)),
    }
}

/// `N times: [ INNER]` after `message repeated ` or `last message repeated `.
fn repeat_count(i: &[u8]) -> Res<'_, u32> {
    let (i, n) = nom::character::complete::u32.parse_complete(i)?;
    let (i, _) = tag(" time").parse_complete(i)?;
    let (i, _) = nom::combinator::opt(char('s')).parse_complete(i)?;
    Ok((i, n))
}

/// `pam_MODULE(SERVICE:auth): authentication failure;` and the key/value rest.
fn pam_auth_failure(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, _) = tag("pam_").parse_complete(i)?;
    let (i, _) = take_while1(|c: u8| c != b'(' && c != b' ').parse_complete(i)?;
    let (i, _) = char('(').parse_complete(i)?;
    let (i, _) = take_while1(|c: u8| c != b':' && c != b')' && c != b' ').parse_complete(i)?;
    let (i, _) = tag(":auth): authentication failure;").parse_complete(i)?;
    Ok((i, i))
}

/// The value of ` key=` in a PAM key/value list: up to the next space, or to the end for
/// `user=` (pam_unix writes it last, and names may hold spaces).
fn pam_value<'a>(kv: &'a [u8], key: &Finder<'_>, to_end: bool) -> Option<&'a [u8]> {
    let start = key
        .find_iter(kv)
        .find(|&p| p == 0 || kv.get(p - 1) == Some(&b' '))?
        + key.needle().len();
    let v = kv.get(start..)?;
    if to_end {
        return Some(v.trim_ascii_end());
    }
    v.get(..memchr::memchr(b' ', v).unwrap_or(v.len()))
}

/// Classifies a PAM `authentication failure` line (any program): the current form
/// `pam_unix(SERVICE:auth): authentication failure; ...`, and the form of old pam_unix, whose
/// program tag names the module (`sshd(pam_unix)[19939]: authentication failure; ...`).
fn pam(msg: &[u8]) -> Option<Msg<'_>> {
    let kv = match pam_auth_failure(msg) {
        Ok((_, kv)) => kv,
        Err(_) => msg.strip_prefix(b"authentication failure;".as_slice())?,
    };
    let user = pam_value(kv, &USER_KEY, true).filter(|u| !u.is_empty());
    let ip = pam_value(kv, &RHOST_KEY, false).and_then(parse_ip);
    Some(Msg::PamFailure { user, ip })
}

/// Old pam_unix's `N more authentication failures; ... rhost=R  user=U`.
fn pam_more(msg: &[u8]) -> Option<Msg<'_>> {
    let (rest, n) = nom::character::complete::u32::<_, nom::error::Error<&[u8]>>
        .parse_complete(msg)
        .ok()?;
    let kv = rest.strip_prefix(b" more authentication failure")?;
    let kv = kv.strip_prefix(b"s").unwrap_or(kv).strip_prefix(b";")?;
    let user = pam_value(kv, &USER_KEY, true).filter(|u| !u.is_empty());
    let ip = pam_value(kv, &RHOST_KEY, false).and_then(parse_ip);
    Some(Msg::PamMore { n, user, ip })
}

/// Classifies a message of any program other than sshd: PAM failures, repeats, and the
/// programs whose own lines are logins (dropbear, klogind).
pub(super) fn classify_other<'a>(program: &[u8], msg: &'a [u8]) -> Msg<'a> {
    if let Some(m) = repeated(msg) {
        return m;
    }
    match program {
        b"dropbear" => return dropbear(msg).unwrap_or(Msg::Other),
        b"klogind" | b"krshd" | b"kshd" | b"eklogin" => {
            return kerberos(msg).unwrap_or(Msg::Other);
        }
        _ => {}
    }
    if let Some(m) = pam(msg) {
        return m;
    }
    if program.ends_with(b"(pam_unix)")
        && let Some(m) = pam_more(msg)
    {
        return m;
    }
    Msg::Other
}

/// dropbear's `IP:PORT` (`[IPv6]:PORT`, or `<IP:PORT>` in `Exit before auth`).
fn dropbear_addr(token: &[u8]) -> Option<IpAddr> {
    let token = token.strip_prefix(b"<").unwrap_or(token);
    let token = token.strip_suffix(b">").unwrap_or(token);
    if let Some(rest) = token.strip_prefix(b"[") {
        let end = memchr::memchr(b']', rest)?;
        return parse_ip(rest.get(..end)?);
    }
    match memchr::memrchr(b':', token) {
        // One colon: IPv4 and port. More: an IPv6 address written bare (with a port or not).
        Some(p) if memchr::memchr(b':', token) == Some(p) => parse_ip(token.get(..p)?),
        Some(p) => parse_ip(token.get(..p)?).or_else(|| parse_ip(token)),
        None => parse_ip(token),
    }
}

/// dropbear's login lines. The address is the last token (dropbear writes it last, after the
/// quoted user name).
fn dropbear(msg: &[u8]) -> Option<Msg<'_>> {
    let addr = |m: &[u8]| {
        let from = FROM_REV.rfind(m)?;
        dropbear_addr(m.get(from + 6..)?.trim_ascii_end())
    };
    // `'USER'` right after `for `.
    fn quoted(m: &[u8]) -> Option<&[u8]> {
        let rest = m.get(memmem::find(m, b" for '")? + 6..)?;
        rest.get(..memmem::rfind(rest, b"' ")?)
    }
    let first = msg.first()?;
    if matches!(first, b'B' | b'b') {
        msg.strip_prefix(b"Bad password attempt for ")
            .or_else(|| msg.strip_prefix(b"bad password attempt for "))
            .or_else(|| msg.strip_prefix(b"Bad PAM password attempt for "))?;
        return Some(Msg::Direct {
            success: false,
            reason: FailureReason::BadPassword,
            user: quoted(msg),
            ip: Some(addr(msg)?),
        });
    }
    if msg.starts_with(b"Login attempt for nonexistent user")
        || msg.starts_with(b"login attempt for nonexistent user")
    {
        return Some(Msg::Direct {
            success: false,
            reason: FailureReason::UnknownAccount,
            user: None,
            ip: Some(addr(msg)?),
        });
    }
    if msg.starts_with(b"Pubkey auth succeeded for ")
        || msg.starts_with(b"Password auth succeeded for ")
    {
        return Some(Msg::Direct {
            success: true,
            reason: FailureReason::Other,
            user: quoted(msg),
            ip: Some(addr(msg)?),
        });
    }
    None
}

/// klogind/krshd: `Authentication failed from HOST (IP): ...`; the address in parentheses is
/// the one the daemon took from the socket (HOST is its reverse lookup).
fn kerberos(msg: &[u8]) -> Option<Msg<'_>> {
    let rest = msg.strip_prefix(b"Authentication failed from ")?;
    let open = memchr::memchr(b'(', rest)?;
    let inner = rest.get(open + 1..)?;
    let close = memchr::memchr(b')', inner)?;
    let ip = parse_ip(inner.get(..close)?);
    Some(Msg::Direct {
        success: false,
        reason: FailureReason::Other,
        user: None,
        ip: Some(ip?),
    })
}

/// `error: ...` lines of sshd.
fn sshd_error(rest: &[u8]) -> Result<Msg<'_>, BadMessage> {
    if let Some(p) = rest.strip_prefix(b"PAM: ") {
        // `PAM: <pam_strerror> for [illegal user ]USER from HOST`. The PAM text is fixed by
        // the module (no ` for ` in the ones sshd passes here); the user may hold anything, so
        // the host is the text after the rightmost ` from `.
        let Some(f) = memmem::find(p, b" for ") else {
            return Ok(Msg::Other);
        };
        let (what, who) = p.split_at(f);
        let who = who.get(5..).unwrap_or_default();
        let Some(from) = FROM_REV.rfind(who) else {
            return Ok(Msg::Other);
        };
        let (user, host) = who.split_at(from);
        let host = host.get(6..).unwrap_or_default();
        let (illegal, user) = match user.strip_prefix(b"illegal user ") {
            Some(u) => (true, u),
            None => (false, user),
        };
        let unknown = what.starts_with(b"User not known") || what.starts_with(b"unknown user");
        return Ok(Msg::PamError {
            invalid: illegal || unknown,
            user,
            ip: parse_ip(host),
        });
    }
    if let Some(r) = rest.strip_prefix(b"maximum authentication attempts exceeded for ") {
        let (invalid, user, ip) = match for_args(r) {
            Ok((invalid, user, ip)) => (invalid, user, Some(ip)),
            // A host sshd could not write as an address (or one masked by whoever shared the
            // line): still the end of a failed connection, without an address.
            Err(_) => {
                let from = FROM_REV.rfind(r).ok_or(BadMessage("no client host"))?;
                let user = r.get(..from).unwrap_or_default();
                match user.strip_prefix(b"invalid user ") {
                    Some(u) => (true, u, None),
                    None => (false, user, None),
                }
            }
        };
        return Ok(Msg::Closing {
            invalid,
            user: Some(user),
            ip,
            counts: true,
        });
    }
    if let Some(r) = rest.strip_prefix(b"Received disconnect from ") {
        return Ok(received_disconnect(r));
    }
    Ok(Msg::Other)
}

/// `Received disconnect from IP[ port N]:CODE: TEXT`: a client giving up. JSch's `3: ...
/// Auth fail` says its attempts failed; anything else is a plain close.
fn received_disconnect(r: &[u8]) -> Msg<'_> {
    let end = memmem::find(r, b" port ")
        .or_else(|| memmem::find(r, b": "))
        .unwrap_or(r.len());
    let ip = r.get(..end).and_then(parse_ip);
    let auth_fail = memmem::find(r, b"Auth fail").is_some()
        || memmem::find(r, b"Authentication failed").is_some();
    Msg::Closing {
        invalid: false,
        user: None,
        ip,
        counts: auth_fail,
    }
}

/// `message repeated N times: [ INNER]` and `last message repeated N times`.
fn repeated(msg: &[u8]) -> Option<Msg<'_>> {
    if let Some(rest) = msg.strip_prefix(b"message repeated ") {
        let (rest, n) = repeat_count(rest).ok()?;
        let inner = rest.strip_prefix(b": [")?;
        let inner = inner.strip_prefix(b" ").unwrap_or(inner);
        // The closing bracket is missing on a truncated line; the inner text is still usable.
        let inner = inner.strip_suffix(b"]").unwrap_or(inner);
        return Some(Msg::Repeated { n, inner });
    }
    if let Some(rest) = msg.strip_prefix(b"last message repeated ") {
        let (_, n) = repeat_count(rest).ok()?;
        return Some(Msg::LastRepeated { n });
    }
    None
}

/// Classifies an sshd message.
pub(super) fn classify_sshd(msg: &[u8]) -> Result<Msg<'_>, BadMessage> {
    // Dispatch on the first byte: most lines are decided by one comparison.
    match msg.first() {
        Some(b'F') => {
            if let Ok((rest, method)) = verb_method_for("Failed ", msg) {
                let (invalid, user, ip) = for_args(rest)?;
                return Ok(Msg::Failed {
                    method: Method::from_token(method),
                    invalid,
                    user,
                    ip,
                });
            }
        }
        Some(b'A') => {
            if let Ok((rest, _)) = verb_method_for("Accepted ", msg) {
                let (_, user, ip) = for_args(rest)?;
                return Ok(Msg::Accepted { user, ip });
            }
        }
        Some(b'I') => {
            if let Some(rest) = msg
                .strip_prefix(b"Invalid user ")
                .or_else(|| msg.strip_prefix(b"Illegal user "))
            {
                let (user, ip) = user_from_ip(rest).ok_or(BadMessage("no client address"))?;
                return Ok(Msg::InvalidUser { user, ip });
            }
        }
        Some(b'U') => {
            if let Some(rest) = msg.strip_prefix(b"User ")
                && let Some(pos) = memmem::rfind(rest, b" not allowed because ")
            {
                let (who, why) = rest.split_at(pos);
                let why = why
                    .get(b" not allowed because ".len()..)
                    .unwrap_or_default();
                let from = FROM_REV.rfind(who).ok_or(BadMessage("no client host"))?;
                let (user, host) = who.split_at(from);
                let ip = host.get(6..).and_then(parse_ip);
                return Ok(Msg::NotAllowed {
                    user,
                    ip,
                    locked: why.starts_with(b"account is locked"),
                });
            }
        }
        Some(b'C') | Some(b'D') => {
            let rest = msg
                .strip_prefix(b"Connection closed by ")
                .or_else(|| msg.strip_prefix(b"Disconnected from "))
                .or_else(|| msg.strip_prefix(b"Connection reset by "));
            if let Some(rest) = rest {
                let (invalid, rest) = if let Some(r) = rest.strip_prefix(b"authenticating user ") {
                    (false, r)
                } else if let Some(r) = rest.strip_prefix(b"invalid user ") {
                    (true, r)
                } else {
                    // `Connection closed by IP port N [preauth]`: a client that left without
                    // naming a user; it only settles a held PAM line of the connection.
                    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
                    return Ok(match rest.get(..end).and_then(parse_ip) {
                        Some(ip) => Msg::Closing {
                            invalid: false,
                            user: None,
                            ip: Some(ip),
                            counts: false,
                        },
                        // `Disconnected from user U IP port N`: after a login, not about one.
                        None => Msg::Other,
                    });
                };
                let (user, ip) = user_ip_port(rest).ok_or(BadMessage("no client address"))?;
                return Ok(Msg::Closed { invalid, user, ip });
            }
            // `Disconnecting (authenticating|invalid) user USER IP port N: REASON` (too many
            // failures, a change of user): sshd ends a connection that never authenticated.
            if let Some(rest) = msg.strip_prefix(b"Disconnecting ") {
                let (invalid, rest) = if let Some(r) = rest.strip_prefix(b"authenticating user ") {
                    (false, r)
                } else if let Some(r) = rest.strip_prefix(b"invalid user ") {
                    (true, r)
                } else {
                    return Ok(Msg::Other);
                };
                let (user, ip) = user_ip_port(rest).ok_or(BadMessage("no client address"))?;
                return Ok(Msg::Closing {
                    invalid,
                    user: Some(user),
                    ip: Some(ip),
                    counts: true,
                });
            }
        }
        // sshd's own PAM lines are held until sshd's `Failed` line of the same attempt (see
        // the module documentation of the decoder).
        Some(b'p') => {
            if let Some(m) = pam(msg) {
                return Ok(m);
            }
        }
        Some(b'e') => {
            if let Some(rest) = msg.strip_prefix(b"error: ") {
                return sshd_error(rest);
            }
        }
        Some(b'R') => {
            if let Some(rest) = msg.strip_prefix(b"ROOT LOGIN REFUSED FROM ") {
                let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
                return Ok(Msg::RootRefused {
                    ip: rest.get(..end).and_then(parse_ip),
                });
            }
            if let Some(rest) = msg.strip_prefix(b"Received disconnect from ") {
                return Ok(received_disconnect(rest));
            }
        }
        Some(b'm') | Some(b'l') => {
            if let Some(m) = repeated(msg) {
                return Ok(m);
            }
        }
        _ => {}
    }
    Ok(Msg::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failed_password_valid_and_invalid() {
        assert_eq!(
            classify_sshd(b"Failed password for root from 5.36.59.76 port 42393 ssh2"),
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: false,
                user: b"root",
                ip: ip("5.36.59.76")
            })
        );
        assert_eq!(
            classify_sshd(
                b"Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2"
            ),
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: true,
                user: b"test9",
                ip: ip("52.80.34.196")
            })
        );
    }

    #[test]
    fn failed_methods() {
        let m = classify_sshd(b"Failed none for invalid user 0 from 5.188.10.180 port 49811 ssh2");
        assert!(matches!(
            m,
            Ok(Msg::Failed {
                method: Method::None,
                invalid: true,
                user: b"0",
                ..
            })
        ));
        let m = classify_sshd(
            b"Failed publickey for git from 2001:db8::7 port 50022 ssh2: RSA SHA256:AbCdEf+/x",
        );
        assert_eq!(
            m,
            Ok(Msg::Failed {
                method: Method::Other,
                invalid: false,
                user: b"git",
                ip: ip("2001:db8::7")
            })
        );
        let m = classify_sshd(
            b"Failed keyboard-interactive/pam for invalid user oracle from ::ffff:10.0.0.9 port 1 ssh2",
        );
        assert_eq!(
            m,
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: true,
                user: b"oracle",
                ip: ip("10.0.0.9")
            })
        );
    }

    #[test]
    fn user_names_with_spaces_empty_and_framing() {
        assert_eq!(
            classify_sshd(b"Invalid user  from 1.2.3.4 port 22"),
            Ok(Msg::InvalidUser {
                user: b"",
                ip: ip("1.2.3.4")
            })
        );
        assert_eq!(
            classify_sshd(b"Failed password for invalid user  from 1.2.3.4 port 22 ssh2"),
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: true,
                user: b"",
                ip: ip("1.2.3.4")
            })
        );
        // A name that tries to frame another address: the rightmost anchor wins.
        assert_eq!(
            classify_sshd(b"Invalid user a from 6.6.6.6 port 1 from 9.9.9.9 port 2"),
            Ok(Msg::InvalidUser {
                user: b"a from 6.6.6.6 port 1",
                ip: ip("9.9.9.9")
            })
        );
        // ` from ` inside the name, followed by something that is not an address.
        assert_eq!(
            classify_sshd(b"Invalid user mail from home from 1.2.3.4"),
            Ok(Msg::InvalidUser {
                user: b"mail from home",
                ip: ip("1.2.3.4")
            })
        );
        assert_eq!(
            classify_sshd(b"Invalid user \x93\x63\x92\x86 from 1.2.3.4 port 5"),
            Ok(Msg::InvalidUser {
                user: b"\x93\x63\x92\x86",
                ip: ip("1.2.3.4")
            })
        );
    }

    #[test]
    fn accepted() {
        assert_eq!(
            classify_sshd(b"Accepted password for fztu from 119.137.62.142 port 49116 ssh2"),
            Ok(Msg::Accepted {
                user: b"fztu",
                ip: ip("119.137.62.142")
            })
        );
        assert_eq!(
            classify_sshd(
                b"Accepted publickey for deploy from fe80::1%eth0 port 4 ssh2: ED25519 SHA256:x"
            ),
            Ok(Msg::Accepted {
                user: b"deploy",
                ip: ip("fe80::1")
            })
        );
    }

    #[test]
    fn truncated_known_templates_are_bad() {
        assert_eq!(
            classify_sshd(b"Failed password for root from 1.2"),
            Err(BadMessage("no client address"))
        );
        assert_eq!(
            classify_sshd(b"Invalid user bob fr"),
            Err(BadMessage("no client address"))
        );
        assert_eq!(
            classify_sshd(b"Connection closed by authenticating user root 1.2.3.4 po"),
            Err(BadMessage("no client address"))
        );
        // Not the template at all: irrelevant, not bad.
        assert_eq!(classify_sshd(b"Failed to start session"), Ok(Msg::Other));
        assert_eq!(classify_sshd(b"Failed"), Ok(Msg::Other));
        assert_eq!(classify_sshd(b""), Ok(Msg::Other));
    }

    #[test]
    fn not_allowed() {
        assert_eq!(
            classify_sshd(
                b"User root from 203.0.113.9 not allowed because not listed in AllowUsers"
            ),
            Ok(Msg::NotAllowed {
                user: b"root",
                ip: Some(ip("203.0.113.9")),
                locked: false
            })
        );
        assert_eq!(
            classify_sshd(b"User bob from host.example not allowed because account is locked"),
            Ok(Msg::NotAllowed {
                user: b"bob",
                ip: None,
                locked: true
            })
        );
    }

    #[test]
    fn closing_lines() {
        assert_eq!(
            classify_sshd(
                b"Connection closed by authenticating user root 1.2.3.4 port 5 [preauth]"
            ),
            Ok(Msg::Closed {
                invalid: false,
                user: b"root",
                ip: ip("1.2.3.4")
            })
        );
        assert_eq!(
            classify_sshd(b"Disconnected from invalid user  2001:db8::1 port 5 [preauth]"),
            Ok(Msg::Closed {
                invalid: true,
                user: b"",
                ip: ip("2001:db8::1")
            })
        );
        assert_eq!(
            classify_sshd(b"Connection reset by authenticating user a b 1.2.3.4 port 5 [preauth]"),
            Ok(Msg::Closed {
                invalid: false,
                user: b"a b",
                ip: ip("1.2.3.4")
            })
        );
        // A close that names no user only settles a held PAM line.
        assert_eq!(
            classify_sshd(b"Connection closed by 173.234.31.186 [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: None,
                ip: Some(ip("173.234.31.186")),
                counts: false
            })
        );
        assert_eq!(
            classify_sshd(b"Disconnected from user fztu 1.2.3.4 port 5"),
            Ok(Msg::Other)
        );
    }

    #[test]
    fn pam_lines() {
        assert_eq!(
            classify_other(b"x", b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root"),
            Msg::PamFailure {
                user: Some(b"root"),
                ip: Some(ip("5.36.59.76"))
            }
        );
        assert_eq!(
            classify_other(b"x", b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn "),
            Msg::PamFailure { user: None, ip: None }
        );
        // sshd's own are read too (the decoder holds them for their `Failed` twin).
        assert_eq!(
            classify_sshd(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root"),
            Ok(Msg::PamFailure {
                user: Some(b"root"),
                ip: Some(ip("5.36.59.76"))
            })
        );
        // Old pam_unix: the module is in the program tag, the message starts bare.
        assert_eq!(
            classify_other(b"sshd(pam_unix)", b"authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 "),
            Msg::PamFailure {
                user: None,
                ip: Some(ip("218.188.2.4"))
            }
        );
        assert_eq!(
            classify_other(b"sshd(pam_unix)", b"2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.3.1  user=root"),
            Msg::PamMore {
                n: 2,
                user: Some(b"root"),
                ip: Some(ip("10.0.3.1"))
            }
        );
        // sshd's own `PAM N more` summarizes attempts its `Failed` lines already counted.
        assert_eq!(
            classify_other(b"sshd", b"PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root"),
            Msg::Other
        );
        assert_eq!(
            classify_other(b"x", b"pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=  user=Taro Yamada"),
            Msg::PamFailure {
                user: Some(b"Taro Yamada"),
                ip: None
            }
        );
        assert_eq!(
            classify_other(b"x", b"pam_sss(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=2001:db8::5 user=bob"),
            Msg::PamFailure {
                user: Some(b"bob"),
                ip: Some(ip("2001:db8::5"))
            }
        );
        assert_eq!(
            classify_sshd(b"pam_unix(sshd:auth): check pass; user unknown"),
            Ok(Msg::Other)
        );
        assert_eq!(
            classify_sshd(b"pam_unix(sshd:session): session opened for user fztu by (uid=0)"),
            Ok(Msg::Other)
        );
        assert_eq!(
            classify_other(b"CRON", b"(root) CMD (run-parts /etc/cron.hourly)"),
            Msg::Other
        );
    }

    #[test]
    fn repeats() {
        assert_eq!(
            classify_sshd(b"message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]"),
            Ok(Msg::Repeated {
                n: 5,
                inner: b"Failed password for root from 5.36.59.76 port 42393 ssh2"
            })
        );
        assert_eq!(
            classify_sshd(
                b"message repeated 2 times: [ Failed password for root from 5.36.59.76 port 4"
            ),
            Ok(Msg::Repeated {
                n: 2,
                inner: b"Failed password for root from 5.36.59.76 port 4"
            })
        );
        assert_eq!(
            classify_sshd(b"last message repeated 3 times"),
            Ok(Msg::LastRepeated { n: 3 })
        );
        assert_eq!(
            classify_sshd(b"message repeated 99999999999 times: [ x]"),
            Ok(Msg::Other)
        );
    }

    #[test]
    fn other_sshd_lines() {
        for m in [
            &b"reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!"[..],
            b"Did not receive identification string from 1.2.3.4",
            b"input_userauth_request: invalid user webmaster [preauth]",
            b"PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
            b"fatal: Write failed: Connection reset by peer [preauth]",
            b"error: kex_exchange_identification: Connection closed by remote host",
            b"error: PAM: no for in this one",
            b"Postponed keyboard-interactive for invalid user warez from 192.241.237.101 port 54197 ssh2 [preauth]",
            b"Disconnecting: bad client public DH value [preauth]",
            b"Disconnecting: Too many authentication failures for root [preauth]",
            b"Server listening on 0.0.0.0 port 22.",
        ] {
            assert_eq!(classify_sshd(m), Ok(Msg::Other), "{}", String::from_utf8_lossy(m));
        }
    }

    #[test]
    fn address_is_sshds_own_field() {
        // Text sshd appends after the port (ssh1's `ruser`) is the client's, not an address.
        assert_eq!(
            classify_sshd(
                b"Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4"
            ),
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: false,
                user: b"user",
                ip: ip("127.0.0.1")
            })
        );
        // A user name framing another address is still the user name.
        assert_eq!(
            classify_sshd(b"Failed password for a from 6.6.6.6 port 1 from 9.9.9.9 port 2 ssh2"),
            Ok(Msg::Failed {
                method: Method::Password,
                invalid: false,
                user: b"a from 6.6.6.6 port 1",
                ip: ip("9.9.9.9")
            })
        );
    }

    #[test]
    fn pam_errors_of_sshd() {
        assert_eq!(
            classify_sshd(
                b"error: PAM: Authentication failure for james from 205.186.180.99 via 192.168.1.201"
            ),
            Ok(Msg::PamError {
                invalid: false,
                user: b"james",
                ip: None
            })
        );
        assert_eq!(
            classify_sshd(b"error: PAM: Authentication failure for james from 205.186.180.99"),
            Ok(Msg::PamError {
                invalid: false,
                user: b"james",
                ip: Some(ip("205.186.180.99"))
            })
        );
        assert_eq!(
            classify_sshd(
                b"error: PAM: authentication error for illegal user badguy from 192.168.33.1"
            ),
            Ok(Msg::PamError {
                invalid: true,
                user: b"badguy",
                ip: Some(ip("192.168.33.1"))
            })
        );
        assert_eq!(
            classify_sshd(b"error: PAM: User not known to the underlying authentication module for illegal user warez from 192.241.237.101"),
            Ok(Msg::PamError {
                invalid: true,
                user: b"warez",
                ip: Some(ip("192.241.237.101"))
            })
        );
        assert_eq!(
            classify_sshd(b"error: PAM: authentication error for user from 192.168.33.1"),
            Ok(Msg::PamError {
                invalid: false,
                user: b"user",
                ip: Some(ip("192.168.33.1"))
            })
        );
    }

    #[test]
    fn closing_kinds() {
        assert_eq!(
            classify_sshd(b"error: maximum authentication attempts exceeded for invalid user badguy from 192.168.33.1 port 55146 ssh2 [preauth]"),
            Ok(Msg::Closing {
                invalid: true,
                user: Some(b"badguy"),
                ip: Some(ip("192.168.33.1")),
                counts: true
            })
        );
        // A masked address: still the end of a failed connection, without one.
        assert_eq!(
            classify_sshd(b"error: maximum authentication attempts exceeded for root from 183.106.179.x port 34100 ssh2 [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: Some(b"root"),
                ip: None,
                counts: true
            })
        );
        assert_eq!(
            classify_sshd(b"Disconnecting invalid user root 172.18.1.100 port 43042"),
            Ok(Msg::Closing {
                invalid: true,
                user: Some(b"root"),
                ip: Some(ip("172.18.1.100")),
                counts: true
            })
        );
        assert_eq!(
            classify_sshd(b"Disconnecting authenticating user root 1.2.3.4 port 5: Too many authentication failures [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: Some(b"root"),
                ip: Some(ip("1.2.3.4")),
                counts: true
            })
        );
        assert_eq!(
            classify_sshd(b"Received disconnect from 89.24.13.192: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: None,
                ip: Some(ip("89.24.13.192")),
                counts: true
            })
        );
        assert_eq!(
            classify_sshd(b"error: Received disconnect from 195.154.37.122: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: None,
                ip: Some(ip("195.154.37.122")),
                counts: true
            })
        );
        assert_eq!(
            classify_sshd(b"Received disconnect from 52.80.34.196 port 4242:11: Bye Bye [preauth]"),
            Ok(Msg::Closing {
                invalid: false,
                user: None,
                ip: Some(ip("52.80.34.196")),
                counts: false
            })
        );
    }

    #[test]
    fn root_login_refused() {
        assert_eq!(
            classify_sshd(b"ROOT LOGIN REFUSED FROM 1.2.3.4"),
            Ok(Msg::RootRefused {
                ip: Some(ip("1.2.3.4"))
            })
        );
        assert_eq!(
            classify_sshd(b"ROOT LOGIN REFUSED FROM 2001:db8::4 port 5"),
            Ok(Msg::RootRefused {
                ip: Some(ip("2001:db8::4"))
            })
        );
    }

    #[test]
    fn dropbear_lines() {
        assert_eq!(
            classify_other(
                b"dropbear",
                b"Bad password attempt for 'root' from 198.51.100.87:5543"
            ),
            Msg::Direct {
                success: false,
                reason: FailureReason::BadPassword,
                user: Some(b"root"),
                ip: Some(ip("198.51.100.87"))
            }
        );
        assert_eq!(
            classify_other(
                b"dropbear",
                b"Bad PAM password attempt for 'foobar' from 192.168.9.163:49242"
            ),
            Msg::Direct {
                success: false,
                reason: FailureReason::BadPassword,
                user: Some(b"foobar"),
                ip: Some(ip("192.168.9.163"))
            }
        );
        assert_eq!(
            classify_other(
                b"dropbear",
                b"Login attempt for nonexistent user from 182.72.89.122:4328"
            ),
            Msg::Direct {
                success: false,
                reason: FailureReason::UnknownAccount,
                user: None,
                ip: Some(ip("182.72.89.122"))
            }
        );
        assert_eq!(
            classify_other(b"dropbear", b"Pubkey auth succeeded for 'root' with key md5 78:d6:41:ca:78:37:80:88:1d:15:0a:68:91:d1:4e:ad from 10.10.10.241:51737"),
            Msg::Direct {
                success: true,
                reason: FailureReason::Other,
                user: Some(b"root"),
                ip: Some(ip("10.10.10.241"))
            }
        );
        assert_eq!(
            classify_other(
                b"dropbear",
                b"Bad password attempt for 'a' from [2001:db8::9]:22"
            ),
            Msg::Direct {
                success: false,
                reason: FailureReason::BadPassword,
                user: Some(b"a"),
                ip: Some(ip("2001:db8::9"))
            }
        );
        assert_eq!(
            classify_other(b"dropbear", b"Exit (root): Disconnect received"),
            Msg::Other
        );
        // dropbear's wording in another program is not dropbear's.
        assert_eq!(
            classify_other(b"myapp", b"Bad password attempt for 'root' from 1.2.3.4:5"),
            Msg::Other
        );
    }

    #[test]
    fn klogind_lines() {
        assert_eq!(
            classify_other(b"klogind", b"Authentication failed from 163.27.187.39 (163.27.187.39): Permission denied in replay cache code "),
            Msg::Direct {
                success: false,
                reason: FailureReason::Other,
                user: None,
                ip: Some(ip("163.27.187.39"))
            }
        );
        assert_eq!(
            classify_other(b"klogind", b"Kerberos authentication failed "),
            Msg::Other
        );
    }
}
