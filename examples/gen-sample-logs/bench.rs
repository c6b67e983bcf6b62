//! `bench` mode: streams N realistic lines fast (no per-line allocation), for benchmarks and
//! load tests. A credential-stuffing burst from one address fills half the lines between 40 %
//! and 45 % of the stream. Output is deterministic for a given seed.

use std::io::{self, Write};
use std::time::Instant;

use crate::clock;
use crate::names;
use crate::rng::Rng;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// nginx combined + request time + X-Forwarded-For.
    Nginx,
    /// Canonical JSON auth events.
    Json,
    /// sshd lines in rsyslog's ISO format.
    Sshd,
}

/// Bench-mode options.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Format.
    pub format: Format,
    /// Number of lines.
    pub lines: u64,
    /// Number of distinct client addresses (approximately; a few collide).
    pub distinct_ips: u64,
    /// Output path, `-` for stdout.
    pub out: String,
    /// Seed.
    pub seed: u64,
    /// Residential-proxy flood: every line is a failed login from a new address (line `n` from
    /// address `n`, all distinct up to 2^32 lines), 20 lines per millisecond, so 10 million lines
    /// span 8.3 minutes and every address is live in a 10-minute window at the end.
    pub flood: bool,
}

/// The burst's source: an address in a DigitalOcean range.
const ATTACKER: &[u8] = b"167.99.23.145";

const PATHS: [&str; 16] = [
    "/",
    "/products/10482",
    "/products/23311",
    "/products/58120",
    "/products/77734",
    "/products/91002",
    "/category/104",
    "/category/117",
    "/search?q=%E5%8A%A0%E6%B9%BF%E5%99%A8",
    "/cart",
    "/mypage",
    "/login",
    "/static/js/app.7c41e2.js",
    "/favicon.ico",
    "/help/shipping",
    "/campaign/winter-2026",
];

fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_pad(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut v = n;
    for k in (20 - width..20).rev() {
        tmp[k] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf.extend_from_slice(&tmp[20 - width..]);
}

/// A bijection on u32 (xorshift-multiply rounds), so distinct indexes give distinct addresses.
fn perm32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

fn push_ip(buf: &mut Vec<u8>, k: u64) {
    if k % 20 == 7 {
        // Some IPv6 clients in a Japanese ISP's prefix.
        buf.extend_from_slice(b"2400:4050:");
        let v = perm32(k as u32);
        push_hex(buf, u64::from(v >> 16));
        buf.push(b':');
        push_hex(buf, u64::from(v & 0xffff));
        buf.extend_from_slice(b"::");
        push_hex(buf, (k >> 3) & 0xffff | 1);
        return;
    }
    let mut v = perm32(k as u32);
    // Keep to unicast, non-private first octets.
    let mut a = v >> 24;
    if a == 0 || a == 10 || a == 127 || a >= 224 || a == 100 || a == 172 || a == 192 {
        a = 1 + (a % 100) + 100 * u32::from(a > 200);
        if a == 100 || a == 127 {
            a += 3;
        }
        v = (a << 24) | (v & 0x00ff_ffff);
    }
    for (i, sh) in [24, 16, 8, 0].into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, u64::from((v >> sh) & 0xff));
    }
}

fn push_ipv4(buf: &mut Vec<u8>, v: u32) {
    for (i, sh) in [24, 16, 8, 0].into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, u64::from((v >> sh) & 0xff));
    }
}

fn push_hex(buf: &mut Vec<u8>, n: u64) {
    const HEX: &[u8] = b"0123456789abcdef";
    let mut started = false;
    for sh in (0..16).rev() {
        let d = ((n >> (sh * 4)) & 0xf) as usize;
        if d != 0 || started || sh == 0 {
            buf.push(HEX[d]);
            started = true;
        }
    }
}

/// Formats the per-second part of each format's timestamp only when the second changes.
struct SecondCache {
    sec: i64,
    clf: Vec<u8>,
    iso: Vec<u8>,
}

impl SecondCache {
    fn update(&mut self, t_ms: i64) {
        let s = t_ms.div_euclid(1000);
        if s == self.sec {
            return;
        }
        self.sec = s;
        let mut c = String::new();
        clock::clf(s * 1000, &mut c);
        self.clf = c.into_bytes();
        let mut i = String::new();
        clock::rfc3339_ms(s * 1000, &mut i);
        // Keep `2026-11-19T10:15:02.`: milliseconds and offset are appended per line.
        i.truncate(20);
        self.iso = i.into_bytes();
    }
}

/// One line of the residential-proxy flood: a failed login from address `n` against a list
/// account (nine in ten unknown here).
fn flood_line(format: Format, n: u64, t: i64, cache: &SecondCache, line: &mut Vec<u8>) {
    // Distinct for every n < 2^30: 64 first octets (1-9, 11-65) times a bijection on 24 bits.
    let first = (n % 64) as u32;
    let first = if first < 9 { first + 1 } else { first + 2 };
    let low = ((n / 64) as u32).wrapping_mul(0x9E_3779) & 0x00ff_ffff;
    let ip = (first << 24) | (low ^ (low >> 12));
    let account = u64::from(perm32(n as u32 ^ 0x5bd1_e995)) % 5_000_000;
    match format {
        Format::Nginx => {
            push_ipv4(line, ip);
            line.extend_from_slice(b" - - [");
            line.extend_from_slice(&cache.clf);
            line.extend_from_slice(
                b"] \"POST /login HTTP/1.1\" 401 1532 \"https://shop.example.jp/login\" \"",
            );
            line.extend_from_slice(
                names::UA_DESKTOP[n as usize % names::UA_DESKTOP.len()].as_bytes(),
            );
            line.extend_from_slice(b"\" 0.041 \"-\"\n");
        }
        Format::Json => {
            line.extend_from_slice(b"{\"ts\":\"");
            line.extend_from_slice(&cache.iso);
            push_pad(line, t.rem_euclid(1000) as u64, 3);
            line.extend_from_slice(
                b"+09:00\",\"event\":\"login\",\"outcome\":\"failure\",\"reason\":\"",
            );
            line.extend_from_slice(if n.is_multiple_of(10) {
                b"bad_password"
            } else {
                b"unknown_account"
            });
            line.extend_from_slice(b"\",\"account\":\"list");
            push_u64(line, account);
            line.extend_from_slice(b"@example.net\",\"ip\":\"");
            push_ipv4(line, ip);
            line.extend_from_slice(b"\",\"user_agent\":\"");
            line.extend_from_slice(names::UA_PHONE[n as usize % names::UA_PHONE.len()].as_bytes());
            line.extend_from_slice(b"\"}\n");
        }
        Format::Sshd => {
            line.extend_from_slice(&cache.iso);
            push_pad(line, t.rem_euclid(1000) as u64 * 1000, 6);
            line.extend_from_slice(b"+09:00 bastion sshd[4242]: Failed password for invalid user ");
            line.extend_from_slice(
                names::SSH_USERS[account as usize % names::SSH_USERS.len()].as_bytes(),
            );
            line.extend_from_slice(b" from ");
            push_ipv4(line, ip);
            line.extend_from_slice(b" port 40022 ssh2\n");
        }
    }
}

/// Streams the lines; prints lines/s and MB/s on stderr.
pub fn run(a: &BenchArgs) -> io::Result<()> {
    let started = Instant::now();
    let stdout = io::stdout();
    let sink: Box<dyn Write> = if a.out == "-" {
        Box::new(stdout.lock())
    } else {
        Box::new(std::fs::File::create(&a.out)?)
    };
    let mut w = io::BufWriter::with_capacity(1 << 20, sink);
    let mut rng = Rng::derive(a.seed, "bench");
    let mut line = Vec::with_capacity(512);
    let mut cache = SecondCache {
        sec: i64::MIN,
        clf: Vec::new(),
        iso: Vec::new(),
    };
    let mut t = clock::t0();
    let distinct = a.distinct_ips.max(1);
    let hot = (distinct / 100).max(1);
    let (burst_lo, burst_hi) = (a.lines * 40 / 100, a.lines * 45 / 100);
    let mut bytes: u64 = 0;
    let mut pid: u64 = 20_000;
    for n in 0..a.lines {
        if a.flood {
            if n.is_multiple_of(20) {
                t += 1;
                cache.update(t);
            }
            line.clear();
            flood_line(a.format, n, t, &cache, &mut line);
            w.write_all(&line)?;
            bytes += line.len() as u64;
            continue;
        }
        t += rng.below(4) as i64;
        cache.update(t);
        let r = rng.next_u64();
        let burst = n >= burst_lo && n < burst_hi && r & 1 == 0;
        let k = if r & 2 == 0 {
            (r >> 8) % hot
        } else {
            (r >> 8) % distinct
        };
        let ms = t.rem_euclid(1000) as u64;
        line.clear();
        match a.format {
            Format::Nginx => {
                if burst {
                    line.extend_from_slice(ATTACKER);
                } else {
                    push_ip(&mut line, k);
                }
                line.extend_from_slice(b" - - [");
                line.extend_from_slice(&cache.clf);
                line.extend_from_slice(b"] \"");
                let sel = (r >> 40) % 100;
                let ua = if burst {
                    names::UA_TOOL[0]
                } else {
                    names::UA_DESKTOP[(r >> 48) as usize % names::UA_DESKTOP.len()]
                };
                if burst || sel < 8 {
                    let fail = burst || sel == 0;
                    line.extend_from_slice(b"POST /login HTTP/1.1\" ");
                    line.extend_from_slice(if fail { b"401 1532 \"" } else { b"302 0 \"" });
                    line.extend_from_slice(if burst {
                        b"-"
                    } else {
                        b"https://shop.example.jp/login"
                    });
                } else {
                    line.extend_from_slice(b"GET ");
                    line.extend_from_slice(PATHS[(r >> 32) as usize % PATHS.len()].as_bytes());
                    line.extend_from_slice(b" HTTP/2.0\" 200 ");
                    push_u64(&mut line, 9_000 + (r >> 20) % 50_000);
                    line.extend_from_slice(b" \"https://shop.example.jp/");
                }
                line.extend_from_slice(b"\" \"");
                line.extend_from_slice(ua.as_bytes());
                line.extend_from_slice(b"\" 0.");
                push_pad(&mut line, (r >> 12) % 400, 3);
                line.extend_from_slice(b" \"-\"\n");
            }
            Format::Json => {
                line.extend_from_slice(b"{\"ts\":\"");
                line.extend_from_slice(&cache.iso);
                push_pad(&mut line, ms, 3);
                line.extend_from_slice(b"+09:00\",\"event\":\"");
                let sel = (r >> 40) % 100;
                if burst {
                    line.extend_from_slice(b"login\",\"outcome\":\"failure\",\"reason\":\"unknown_account\",\"account\":\"list");
                    push_u64(&mut line, (r >> 16) % 10_000_000);
                } else if sel < 5 {
                    line.extend_from_slice(b"order\",\"outcome\":\"success\",\"account\":\"u");
                    push_u64(&mut line, k * 2 + 1);
                } else if sel < 15 {
                    line.extend_from_slice(b"login\",\"outcome\":\"failure\",\"reason\":\"bad_password\",\"account\":\"u");
                    push_u64(&mut line, k * 2 + 1);
                } else {
                    line.extend_from_slice(b"login\",\"outcome\":\"success\",\"account\":\"u");
                    push_u64(&mut line, k * 2 + 1);
                }
                line.extend_from_slice(b"@example.com\",\"ip\":\"");
                if burst {
                    line.extend_from_slice(ATTACKER);
                } else {
                    push_ip(&mut line, k);
                }
                line.extend_from_slice(b"\",\"user_agent\":\"");
                let ua = if burst {
                    names::UA_TOOL[0]
                } else {
                    names::UA_PHONE[(r >> 48) as usize % names::UA_PHONE.len()]
                };
                line.extend_from_slice(ua.as_bytes());
                line.push(b'"');
                if !burst && sel < 5 {
                    line.extend_from_slice(b",\"order_id\":\"EX-");
                    push_u64(&mut line, n);
                    line.extend_from_slice(b"\",\"amount\":");
                    push_u64(&mut line, 980 + (r >> 20) % 30_000);
                    line.extend_from_slice(b",\"currency\":\"JPY\",\"marketplace\":false,\"seller\":\"example-shop\",\"ship_to\":\"addr-");
                    push_u64(&mut line, k);
                    line.push(b'"');
                }
                line.extend_from_slice(b"}\n");
            }
            Format::Sshd => {
                line.extend_from_slice(&cache.iso);
                push_pad(&mut line, ms * 1000 + (r >> 20) % 1000, 6);
                line.extend_from_slice(b"+09:00 bastion sshd[");
                pid += 1 + (r >> 60);
                push_u64(&mut line, pid);
                line.extend_from_slice(b"]: ");
                let user = names::SSH_USERS[(r >> 32) as usize % names::SSH_USERS.len()].as_bytes();
                let sel = (r >> 40) % 100;
                let port = 32_768 + (r >> 24) % 28_000;
                let tail = |line: &mut Vec<u8>| {
                    if burst {
                        line.extend_from_slice(ATTACKER);
                    } else {
                        push_ip(line, k);
                    }
                    line.extend_from_slice(b" port ");
                    push_u64(line, port);
                };
                if burst || sel < 40 {
                    line.extend_from_slice(b"Failed password for invalid user ");
                    line.extend_from_slice(user);
                    line.extend_from_slice(b" from ");
                    tail(&mut line);
                    line.extend_from_slice(b" ssh2");
                } else if sel < 60 {
                    line.extend_from_slice(b"Invalid user ");
                    line.extend_from_slice(user);
                    line.extend_from_slice(b" from ");
                    tail(&mut line);
                } else if sel < 70 {
                    line.extend_from_slice(b"Failed password for root from ");
                    tail(&mut line);
                    line.extend_from_slice(b" ssh2");
                } else if sel < 80 {
                    line.extend_from_slice(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=");
                    if burst {
                        line.extend_from_slice(ATTACKER);
                    } else {
                        push_ip(&mut line, k);
                    }
                } else if sel < 95 {
                    line.extend_from_slice(b"Connection closed by ");
                    tail(&mut line);
                    line.extend_from_slice(b" [preauth]");
                } else {
                    line.extend_from_slice(b"Accepted publickey for deploy from ");
                    tail(&mut line);
                    line.extend_from_slice(
                        b" ssh2: ED25519 SHA256:Xb2wq7l0mR3cD8kF1vYtNn4pU6sA9hJ5eG0iZ2oL3xQ",
                    );
                }
                line.push(b'\n');
            }
        }
        bytes += line.len() as u64;
        w.write_all(&line)?;
    }
    w.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: {} lines, {:.1} MB in {:.2} s: {:.2} M lines/s, {:.0} MB/s",
        a.lines,
        bytes as f64 / 1e6,
        secs,
        a.lines as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
