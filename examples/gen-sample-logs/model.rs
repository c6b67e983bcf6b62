//! What the simulated shop writes: nginx requests on two web servers, the application's JSON
//! auth events, and the bastion's sshd/syslog lines. One user action is logged twice (web and
//! app), as real sites do; only the app log carries the account.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::clock::{self, SEC};
use crate::names;
use crate::rng::Rng;

/// A client: address, user agent, and whether it is a script (scripts send no referer and
/// skip the pages a browser loads first).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// Client address, as the web server sees it (no proxy in front).
    pub ip: IpAddr,
    /// User agent.
    pub ua: &'static str,
    /// A script rather than a browser.
    pub bot: bool,
}

/// How a web line is damaged, if at all.
#[derive(Debug, Clone)]
pub enum WebDirt {
    /// The line is cut after this many bytes of the user agent (no closing quote, no trailing
    /// fields).
    Truncate(usize),
    /// The user agent is written as these raw (non-UTF-8) bytes, unescaped.
    RawUa(Vec<u8>),
}

/// One nginx access-log line.
#[derive(Debug, Clone)]
pub struct WebReq {
    /// When nginx wrote the line (request end), epoch millis.
    pub t: i64,
    /// 0 = web1, 1 = web2.
    pub server: u8,
    /// Client address.
    pub ip: IpAddr,
    /// Method.
    pub method: &'static str,
    /// Path and query.
    pub path: String,
    /// Protocol.
    pub proto: &'static str,
    /// Status.
    pub status: u16,
    /// `$body_bytes_sent`.
    pub bytes: u32,
    /// Referer or `-`.
    pub referer: String,
    /// User agent.
    pub ua: &'static str,
    /// `$request_time` in milliseconds.
    pub rt_ms: u32,
    /// Damage, for the few dirty lines.
    pub dirt: Option<(WebDirt, &'static str)>,
}

/// An order's fields.
#[derive(Debug, Clone)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Total in yen.
    pub amount: u32,
    /// Fulfilled by a third-party seller.
    pub marketplace: bool,
    /// Seller.
    pub seller: &'static str,
    /// Ship-to address, free text.
    pub ship_to: String,
}

/// How an app line is damaged, if at all.
#[derive(Debug, Clone)]
pub enum AppDirt {
    /// The account is written as these raw bytes (Shift-JIS), making the line invalid UTF-8.
    RawAccount(Vec<u8>),
    /// Nothing to render differently; the line is listed as dirty (e.g. over-long).
    Listed,
}

/// One application auth event (canonical JSON schema of events.md §1).
#[derive(Debug, Clone)]
pub struct AppEv {
    /// Event time, epoch millis.
    pub t: i64,
    /// Event type.
    pub event: &'static str,
    /// `success` / `failure`.
    pub outcome: Option<&'static str>,
    /// Failure reason.
    pub reason: Option<&'static str>,
    /// Account as typed (may differ in case from the stored one).
    pub account: String,
    /// Client address.
    pub ip: IpAddr,
    /// User agent.
    pub ua: &'static str,
    /// Order fields.
    pub order: Option<Order>,
    /// New shipping address of an `address_change`.
    pub address: Option<String>,
    /// New e-mail of an `email_change`.
    pub new_email: Option<String>,
    /// Damage, for the few dirty lines.
    pub dirt: Option<(AppDirt, &'static str)>,
}

/// One syslog line of the bastion's auth log.
#[derive(Debug, Clone)]
pub struct SshLine {
    /// Epoch microseconds.
    pub t_us: i64,
    /// Program (`sshd`, `CRON`, `systemd-logind`, `sudo`).
    pub prog: &'static str,
    /// Process id.
    pub pid: u32,
    /// Message.
    pub msg: String,
    /// NUL bytes written before the line (after an unclean shutdown), for the dirty line.
    pub nul_prefix: usize,
}

/// A normalized sshd authentication outcome, kept for the generator's own checks.
#[derive(Debug, Clone)]
pub struct SshAuth {
    /// Epoch millis.
    pub t: i64,
    /// Client address.
    pub ip: IpAddr,
    /// User name.
    pub user: String,
    /// Accepted.
    pub ok: bool,
    /// `invalid user` (unknown account).
    pub invalid: bool,
    /// How many attempts the line stands for.
    pub repeat: u32,
}

/// The simulated site: everything written so far, unsorted.
pub struct Sim {
    /// Web lines of both servers.
    pub web: Vec<WebReq>,
    /// App events.
    pub app: Vec<AppEv>,
    /// sshd/syslog lines.
    pub ssh: Vec<SshLine>,
    /// sshd auth outcomes.
    pub ssh_auth: Vec<SshAuth>,
    /// Randomness for request timings and sizes.
    pub rng: Rng,
    order_seq: u32,
}

/// The shop's own origin, for referers.
pub const SITE: &str = "https://shop.example.jp";

/// Result of a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Accepted.
    Ok,
    /// Refused, with the app's reason.
    Fail(&'static str),
}

impl Sim {
    /// An empty site.
    pub fn new(rng: Rng) -> Sim {
        Sim {
            web: Vec::new(),
            app: Vec::new(),
            ssh: Vec::new(),
            ssh_auth: Vec::new(),
            rng,
            order_seq: 0,
        }
    }

    /// A web request starting at `t`; returns the time nginx logs it.
    #[allow(clippy::too_many_arguments)]
    pub fn web(
        &mut self,
        t: i64,
        srv: u8,
        c: &Client,
        method: &'static str,
        path: impl Into<String>,
        status: u16,
        bytes: u32,
        referer: &str,
        rt_ms: u32,
    ) -> i64 {
        let proto = if c.bot || c.ip.is_ipv6() || self.rng.chance(0.35) {
            "HTTP/1.1"
        } else {
            "HTTP/2.0"
        };
        let end = t + i64::from(rt_ms);
        self.web.push(WebReq {
            t: end,
            server: srv,
            ip: c.ip,
            method,
            path: path.into(),
            proto,
            status,
            bytes,
            referer: if c.bot { "-".into() } else { referer.into() },
            ua: c.ua,
            rt_ms,
            dirt: None,
        });
        end
    }

    /// A page view (GET 200); returns when the page was served.
    pub fn page(&mut self, t: i64, srv: u8, c: &Client, path: &str, referer: &str) -> i64 {
        let (lo, hi, rlo, rhi) = if path.starts_with("/static/") || path == "/favicon.ico" {
            (900, 48_000, 1, 4)
        } else if path.starts_with("/products/") {
            (28_000, 61_000, 35, 260)
        } else if path.starts_with("/search") {
            (31_000, 74_000, 80, 420)
        } else {
            (14_000, 52_000, 20, 180)
        };
        let bytes = self.rng.range(lo, hi) as u32;
        let rt = self.rng.range(rlo, rhi) as u32;
        self.web(t, srv, c, "GET", path, 200, bytes, referer, rt)
    }

    fn app(&mut self, t: i64, event: &'static str, c: &Client, account: &str) -> &mut AppEv {
        self.app.push(AppEv {
            t,
            event,
            outcome: None,
            reason: None,
            account: account.to_string(),
            ip: c.ip,
            ua: c.ua,
            order: None,
            address: None,
            new_email: None,
            dirt: None,
        });
        let n = self.app.len() - 1;
        &mut self.app[n]
    }

    /// `POST /login` → 302 or 401, and the app's `login` event. Returns the end time.
    pub fn login(&mut self, t: i64, srv: u8, c: &Client, account: &str, r: Login) -> i64 {
        // Password hashing makes real checks slow; an unknown account answers fast (a timing
        // leak list tools exploit, and realistic).
        let rt = match r {
            Login::Fail("unknown_account") => self.rng.range(12, 45),
            _ => self.rng.range(120, 380),
        } as u32;
        let (status, bytes) = match r {
            Login::Ok => (302, 0),
            Login::Fail(_) => (401, self.rng.range(1_480, 1_620) as u32),
        };
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/login",
            status,
            bytes,
            &format!("{SITE}/login"),
            rt,
        );
        let ev = self.app(end - 2, "login", c, account);
        match r {
            Login::Ok => ev.outcome = Some("success"),
            Login::Fail(reason) => {
                ev.outcome = Some("failure");
                ev.reason = Some(reason);
            }
        }
        end
    }

    /// `POST /password/forgot` and the app's `password_reset_request` (a security code is mailed
    /// only when the account exists).
    pub fn reset_request(
        &mut self,
        t: i64,
        srv: u8,
        c: &Client,
        account: &str,
        known: bool,
    ) -> i64 {
        let rt = self.rng.range(60, 240) as u32;
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/password/forgot",
            302,
            0,
            &format!("{SITE}/password/forgot"),
            rt,
        );
        let ev = self.app(end - 2, "password_reset_request", c, account);
        if known {
            ev.outcome = Some("success");
        } else {
            ev.outcome = Some("failure");
            ev.reason = Some("unknown_account");
        }
        end
    }

    /// `POST /password/code` (the security code) and the app's `password_reset_complete`.
    pub fn reset_complete(&mut self, t: i64, srv: u8, c: &Client, account: &str, ok: bool) -> i64 {
        let rt = self.rng.range(40, 160) as u32;
        let (status, bytes) = if ok {
            (302, 0)
        } else {
            (200, self.rng.range(3_900, 4_100) as u32)
        };
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/password/code",
            status,
            bytes,
            &format!("{SITE}/password/code"),
            rt,
        );
        let ev = self.app(end - 2, "password_reset_complete", c, account);
        ev.outcome = Some(if ok { "success" } else { "failure" });
        end
    }

    /// `POST /account/email` and the app's `email_change`.
    pub fn email_change(&mut self, t: i64, srv: u8, c: &Client, account: &str, new: &str) -> i64 {
        let rt = self.rng.range(60, 200) as u32;
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/account/email",
            302,
            0,
            &format!("{SITE}/account"),
            rt,
        );
        let ev = self.app(end - 2, "email_change", c, account);
        ev.outcome = Some("success");
        ev.new_email = Some(new.to_string());
        end
    }

    /// `POST /account/address` and the app's `address_change`.
    pub fn address_change(
        &mut self,
        t: i64,
        srv: u8,
        c: &Client,
        account: &str,
        addr: &str,
    ) -> i64 {
        let rt = self.rng.range(60, 200) as u32;
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/account/address",
            302,
            0,
            &format!("{SITE}/account/address"),
            rt,
        );
        let ev = self.app(end - 2, "address_change", c, account);
        ev.outcome = Some("success");
        ev.address = Some(addr.to_string());
        end
    }

    /// `POST /checkout`, the app's `order`, and the confirmation page. Returns the end time.
    #[allow(clippy::too_many_arguments)]
    pub fn order(
        &mut self,
        t: i64,
        srv: u8,
        c: &Client,
        account: &str,
        amount: u32,
        seller: &'static str,
        ship_to: &str,
    ) -> i64 {
        self.order_seq += 1;
        let (_, mo, d, ..) = credwatch::time::Timestamp(t + clock::OFFSET_SECS * SEC).to_civil();
        let id = format!("EX{mo:02}{d:02}-{:06}", 104_200 + self.order_seq * 7);
        let rt = self.rng.range(280, 900) as u32;
        let end = self.web(
            t,
            srv,
            c,
            "POST",
            "/checkout",
            302,
            0,
            &format!("{SITE}/checkout"),
            rt,
        );
        let ev = self.app(end - 3, "order", c, account);
        ev.outcome = Some("success");
        ev.order = Some(Order {
            id: id.clone(),
            amount,
            marketplace: seller != names::FIRST_PARTY,
            seller,
            ship_to: ship_to.to_string(),
        });
        if !c.bot {
            let t2 = end + self.rng.range(150, 900);
            self.page(
                t2,
                srv,
                c,
                &format!("/checkout/complete?order={id}"),
                &format!("{SITE}/checkout"),
            );
        }
        end
    }
}

/// nginx `escape=default`: `"` and `\` and bytes outside 0x20–0x7E become `\xNN`.
fn nginx_escape(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        if b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b) {
            out.extend_from_slice(format!("\\x{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// Renders one nginx line (`combined` + ` $request_time "$http_x_forwarded_for"`), no newline.
pub fn render_web(r: &WebReq, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(64);
    let _ = write!(s, "{} - - [", r.ip);
    clock::clf(r.t, &mut s);
    s.push_str("] \"");
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(r.method.as_bytes());
    out.push(b' ');
    nginx_escape(r.path.as_bytes(), out);
    out.push(b' ');
    out.extend_from_slice(r.proto.as_bytes());
    out.extend_from_slice(format!("\" {} {} \"", r.status, r.bytes).as_bytes());
    nginx_escape(r.referer.as_bytes(), out);
    out.extend_from_slice(b"\" \"");
    match &r.dirt {
        Some((WebDirt::RawUa(raw), _)) => out.extend_from_slice(raw),
        Some((WebDirt::Truncate(keep), _)) => {
            // The write stopped here: the rest of the line never reached the disk.
            let ua = r.ua.as_bytes();
            nginx_escape(&ua[..(*keep).min(ua.len())], out);
            return;
        }
        None => nginx_escape(r.ua.as_bytes(), out),
    }
    out.extend_from_slice(format!("\" {}.{:03} \"-\"", r.rt_ms / 1000, r.rt_ms % 1000).as_bytes());
}

/// JSON string escaping (UTF-8 kept as is, as serde_json writes it).
fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Renders one app event as a JSON object, no newline.
pub fn render_app(e: &AppEv, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(256);
    s.push_str("{\"ts\":\"");
    clock::rfc3339_ms(e.t, &mut s);
    s.push_str("\",\"event\":\"");
    s.push_str(e.event);
    s.push('"');
    if let Some(o) = e.outcome {
        let _ = write!(s, ",\"outcome\":\"{o}\"");
    }
    if let Some(r) = e.reason {
        let _ = write!(s, ",\"reason\":\"{r}\"");
    }
    s.push_str(",\"account\":");
    match &e.dirt {
        Some((AppDirt::RawAccount(raw), _)) => {
            // Splice raw bytes into the line: the only way to get a non-UTF-8 JSON line.
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
            out.extend_from_slice(raw);
            out.push(b'"');
            s.clear();
        }
        _ => json_str(&e.account, &mut s),
    }
    let _ = write!(s, ",\"ip\":\"{}\",\"user_agent\":", e.ip);
    json_str(e.ua, &mut s);
    if let Some(o) = &e.order {
        s.push_str(",\"order_id\":");
        json_str(&o.id, &mut s);
        let _ = write!(
            s,
            ",\"amount\":{},\"currency\":\"JPY\",\"marketplace\":{},\"seller\":",
            o.amount, o.marketplace
        );
        json_str(o.seller, &mut s);
        s.push_str(",\"ship_to\":");
        json_str(&o.ship_to, &mut s);
    }
    if let Some(a) = &e.address {
        s.push_str(",\"address\":");
        json_str(a, &mut s);
    }
    if let Some(m) = &e.new_email {
        s.push_str(",\"new_email\":");
        json_str(m, &mut s);
    }
    s.push('}');
    out.extend_from_slice(s.as_bytes());
}

/// Renders one syslog line (`2026-11-19T10:15:02.123456+09:00 bastion sshd[1234]: …`).
pub fn render_ssh(l: &SshLine, out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(0u8, l.nul_prefix));
    let mut s = String::with_capacity(160);
    clock::rfc3339_us(l.t_us, &mut s);
    let _ = write!(s, " bastion {}[{}]: {}", l.prog, l.pid, l.msg);
    out.extend_from_slice(s.as_bytes());
}
