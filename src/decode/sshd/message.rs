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

/// Splits `USER from IP[ ...]` at the rightmost ` from ` followed by an address.
fn user_from_ip(b: &[u8]) -> Option<(&[u8], IpAddr)> {
    FROM_REV.rfind_iter(b).find_map(|pos| {
        let (user, rest) = b.split_at(pos);
        let (ip, _) = ip_token(rest.get(6..)?)?;
        Some((user, ip))
    })
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

/// Classifies a PAM `authentication failure` line (any program).
fn pam(msg: &[u8]) -> Option<Msg<'_>> {
    let (_, kv) = pam_auth_failure(msg).ok()?;
    let user = pam_value(kv, &USER_KEY, true).filter(|u| !u.is_empty());
    let ip = pam_value(kv, &RHOST_KEY, false).and_then(parse_ip);
    Some(Msg::PamFailure { user, ip })
}

/// Classifies a message of any program other than sshd: only PAM failures and repeats count.
pub(super) fn classify_other(msg: &[u8]) -> Msg<'_> {
    if let Some(m) = repeated(msg) {
        return m;
    }
    pam(msg).unwrap_or(Msg::Other)
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
                    return Ok(Msg::Other);
                };
                let (user, ip) = user_ip_port(rest).ok_or(BadMessage("no client address"))?;
                return Ok(Msg::Closed { invalid, user, ip });
            }
        }
        // sshd's own PAM lines (`pam_unix(sshd:auth): authentication failure`) are never
        // counted (see the module documentation of the decoder): no need to read them.
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
        assert_eq!(
            classify_sshd(b"Connection closed by 173.234.31.186 [preauth]"),
            Ok(Msg::Other)
        );
        assert_eq!(
            classify_sshd(b"Disconnected from user fztu 1.2.3.4 port 5"),
            Ok(Msg::Other)
        );
    }

    #[test]
    fn pam_lines() {
        assert_eq!(
            classify_other(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root"),
            Msg::PamFailure {
                user: Some(b"root"),
                ip: Some(ip("5.36.59.76"))
            }
        );
        assert_eq!(
            classify_other(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ec2-52-80-34-196.cn-north-1.compute.amazonaws.com.cn "),
            Msg::PamFailure { user: None, ip: None }
        );
        // sshd's own are not even read.
        assert_eq!(
            classify_sshd(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76  user=root"),
            Ok(Msg::Other)
        );
        assert_eq!(
            classify_other(b"pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=  user=Taro Yamada"),
            Msg::PamFailure {
                user: Some(b"Taro Yamada"),
                ip: None
            }
        );
        assert_eq!(
            classify_other(b"pam_sss(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=2001:db8::5 user=bob"),
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
            classify_other(b"(root) CMD (run-parts /etc/cron.hourly)"),
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
            &b"Received disconnect from 52.80.34.196: 11: Bye Bye [preauth]"[..],
            b"reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
            b"Did not receive identification string from 1.2.3.4",
            b"input_userauth_request: invalid user webmaster [preauth]",
            b"PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
            b"fatal: Write failed: Connection reset by peer [preauth]",
            b"error: maximum authentication attempts exceeded for root from 1.2.3.4 port 5 ssh2 [preauth]",
            b"Disconnecting: Too many authentication failures for root [preauth]",
            b"Server listening on 0.0.0.0 port 22.",
        ] {
            assert_eq!(classify_sshd(m), Ok(Msg::Other), "{}", String::from_utf8_lossy(m));
        }
    }
}
