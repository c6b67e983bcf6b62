//! The shop's bastion host: its `/var/log/auth.log` as rsyslog writes it
//! (`RSYSLOG_FileFormat`: ISO time with microseconds), OpenSSH 9.6 message templates.

use std::net::IpAddr;

use crate::clock::{self, HOUR, MIN, SEC};
use crate::model::{SshAuth, SshLine};
use crate::names;
use crate::rng::Rng;
use crate::world::World;

struct Bastion {
    lines: Vec<SshLine>,
    auth: Vec<SshAuth>,
    pid: u32,
    session: u32,
    rng: Rng,
}

impl Bastion {
    fn line(&mut self, t_us: i64, prog: &'static str, pid: u32, msg: String) {
        self.lines.push(SshLine {
            t_us,
            prog,
            pid,
            msg,
            nul_prefix: 0,
        });
    }

    fn next_pid(&mut self) -> u32 {
        self.pid += self.rng.range(3, 140) as u32;
        self.pid
    }

    fn port(&mut self) -> u16 {
        self.rng.range(32_768, 60_999) as u16
    }

    fn fp(&mut self) -> String {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..43).map(|_| B64[self.rng.index(64)] as char).collect()
    }

    /// A publickey login that runs a few commands with sudo.
    fn accepted(&mut self, t_ms: i64, user: &str, uid: u32, ip: IpAddr, cmds: &[&str], fp: &str) {
        let mut t = t_ms * 1000 + self.rng.range(0, 999_999);
        let pid = self.next_pid();
        let port = self.port();
        self.session += 1;
        let s = self.session;
        self.line(
            t,
            "sshd",
            pid,
            format!(
                "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{fp}"
            ),
        );
        self.auth.push(SshAuth {
            t: t / 1000,
            ip,
            user: user.into(),
            ok: true,
            invalid: false,
            repeat: 1,
        });
        t += self.rng.range(900, 4_000);
        self.line(
            t,
            "sshd",
            pid,
            format!(
                "pam_unix(sshd:session): session opened for user {user}(uid={uid}) by {user}(uid=0)"
            ),
        );
        t += self.rng.range(2_000, 9_000);
        self.line(
            t,
            "systemd-logind",
            612,
            format!("New session {s} of user {user}."),
        );
        for cmd in cmds {
            t += self.rng.range(1_500_000, 40_000_000);
            let sp = self.next_pid();
            self.line(
                t,
                "sudo",
                sp,
                format!("  {user} : PWD=/home/{user} ; USER=root ; COMMAND={cmd}"),
            );
            t += self.rng.range(400, 2_000);
            self.line(t, "sudo", sp, format!("pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})"));
            t += self.rng.range(300_000, 9_000_000);
            self.line(
                t,
                "sudo",
                sp,
                "pam_unix(sudo:session): session closed for user root".into(),
            );
        }
        t += self.rng.range(1_000_000, 60_000_000);
        self.line(
            t,
            "sshd",
            pid,
            format!("Received disconnect from {ip} port {port}:11: disconnected by user"),
        );
        t += self.rng.range(50, 400);
        self.line(
            t,
            "sshd",
            pid,
            format!("Disconnected from user {user} {ip} port {port}"),
        );
        t += self.rng.range(200, 2_000);
        self.line(
            t,
            "sshd",
            pid,
            format!("pam_unix(sshd:session): session closed for user {user}"),
        );
        t += self.rng.range(200, 2_000);
        self.line(
            t,
            "systemd-logind",
            612,
            format!("Session {s} logged out. Waiting for processes to exit."),
        );
        t += self.rng.range(2_000, 20_000);
        self.line(t, "systemd-logind", 612, format!("Removed session {s}."));
    }

    /// One connection trying one unknown user name.
    fn invalid_user(&mut self, t_ms: i64, ip: IpAddr, user: &str) {
        let mut t = t_ms * 1000 + self.rng.range(0, 999_999);
        let pid = self.next_pid();
        let port = self.port();
        self.line(
            t,
            "sshd",
            pid,
            format!("Invalid user {user} from {ip} port {port}"),
        );
        t += self.rng.range(200, 3_000);
        self.line(
            t,
            "sshd",
            pid,
            "pam_unix(sshd:auth): check pass; user unknown".into(),
        );
        t += self.rng.range(20, 300);
        self.line(t, "sshd", pid, format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"));
        t += self.rng.range(1_500_000, 2_600_000);
        self.line(
            t,
            "sshd",
            pid,
            format!("Failed password for invalid user {user} from {ip} port {port} ssh2"),
        );
        self.auth.push(SshAuth {
            t: t / 1000,
            ip,
            user: user.into(),
            ok: false,
            invalid: true,
            repeat: 1,
        });
        t += self.rng.range(100_000, 600_000);
        if self.rng.chance(0.8) {
            self.line(
                t,
                "sshd",
                pid,
                format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
            );
            t += self.rng.range(30, 300);
            self.line(
                t,
                "sshd",
                pid,
                format!("Disconnected from invalid user {user} {ip} port {port} [preauth]"),
            );
        } else {
            self.line(
                t,
                "sshd",
                pid,
                format!("Connection closed by invalid user {user} {ip} port {port} [preauth]"),
            );
        }
    }

    /// One connection trying root `1 + repeated` times.
    fn root(&mut self, t_ms: i64, ip: IpAddr, repeated: u32) {
        let mut t = t_ms * 1000 + self.rng.range(0, 999_999);
        let pid = self.next_pid();
        let port = self.port();
        self.line(t, "sshd", pid, format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"));
        t += self.rng.range(1_500_000, 2_600_000);
        self.line(
            t,
            "sshd",
            pid,
            format!("Failed password for root from {ip} port {port} ssh2"),
        );
        self.auth.push(SshAuth {
            t: t / 1000,
            ip,
            user: "root".into(),
            ok: false,
            invalid: false,
            repeat: 1,
        });
        if repeated > 0 {
            t += i64::from(repeated) * self.rng.range(2_000_000, 3_000_000);
            self.line(t, "sshd", pid, format!("message repeated {repeated} times: [ Failed password for root from {ip} port {port} ssh2]"));
            self.auth.push(SshAuth {
                t: t / 1000,
                ip,
                user: "root".into(),
                ok: false,
                invalid: false,
                repeat: repeated,
            });
            t += self.rng.range(100_000, 900_000);
            self.line(
                t,
                "sshd",
                pid,
                format!("Connection closed by authenticating user root {ip} port {port} [preauth]"),
            );
            t += self.rng.range(20, 200);
            self.line(t, "sshd", pid, format!("PAM {repeated} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"));
        } else {
            t += self.rng.range(100_000, 900_000);
            self.line(
                t,
                "sshd",
                pid,
                format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
            );
            t += self.rng.range(30, 300);
            self.line(
                t,
                "sshd",
                pid,
                format!("Disconnected from authenticating user root {ip} port {port} [preauth]"),
            );
        }
    }

    /// Scanners that only open a connection.
    fn probe(&mut self, t_ms: i64, ip: IpAddr) {
        let t = t_ms * 1000 + self.rng.range(0, 999_999);
        let pid = self.next_pid();
        let port = self.port();
        match self.rng.below(3) {
            0 => self.line(
                t,
                "sshd",
                pid,
                format!("Connection closed by {ip} port {port} [preauth]"),
            ),
            1 => {
                self.line(
                    t,
                    "sshd",
                    pid,
                    "error: kex_exchange_identification: Connection closed by remote host".into(),
                );
                self.line(
                    t + 40,
                    "sshd",
                    pid,
                    format!("Connection closed by {ip} port {port}"),
                );
            }
            _ => self.line(
                t,
                "sshd",
                pid,
                format!("banner exchange: Connection from {ip} port {port}: invalid format"),
            ),
        }
    }

    fn cron(&mut self, t_ms: i64) -> usize {
        let t = t_ms * 1000 + self.rng.range(1_000, 400_000);
        let pid = self.next_pid();
        self.line(
            t,
            "CRON",
            pid,
            "pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)".into(),
        );
        let at = self.lines.len() - 1;
        let t2 = t + self.rng.range(20_000, 900_000);
        self.line(
            t2,
            "CRON",
            pid,
            "pam_unix(cron:session): session closed for user root".into(),
        );
        at
    }
}

/// Hosting and mixed ASNs that background SSH scanners come from.
const SCANNER_ASNS: [u32; 10] = [
    4134, 4837, 45102, 396982, 16509, 4766, 9318, 7552, 3462, 12389,
];

impl World<'_> {
    /// Writes the bastion's auth log: deploys, an admin, cron, scanners, and a brute force.
    /// Returns the brute force's start and end.
    pub fn bastion(&mut self) -> (i64, i64) {
        let mut rng = self.rng("sshd");
        let office = self.pool.v4(&mut rng, 4713, true);
        let ci = [
            self.pool.v4(&mut rng, 8075, false),
            self.pool.v4(&mut rng, 8075, false),
        ];
        let brute = self.pool.v4(&mut rng, 132203, true);
        let mut b = Bastion {
            lines: Vec::new(),
            auth: Vec::new(),
            pid: 48_211,
            session: 1_187,
            rng: rng.clone(),
        };
        let deploy_fp = b.fp();
        let ops_fp = b.fp();

        // Cron: /etc/crontab hourly at :17, php session cleanup at :09 and :39.
        for hour in 0..48 {
            let h0 = clock::t0() + hour * HOUR;
            b.cron(h0 + 9 * MIN);
            let at = b.cron(h0 + 17 * MIN);
            if hour == 24 + 6 {
                // After a power loss the file system left a run of NUL bytes where the tail of
                // the file was; rsyslog then appended the next line right after them.
                b.lines[at].nul_prefix = 1_536;
            }
            b.cron(h0 + 39 * MIN);
        }

        // CI deploys and an administrator from the office.
        for (day, h, m) in [
            (0, 10, 32),
            (0, 15, 4),
            (0, 18, 47),
            (1, 11, 15),
            (1, 16, 41),
            (1, 19, 58),
        ] {
            let ip = ci[(h % 2) as usize];
            b.accepted(
                clock::at(day, h, m, rng.range(0, 59)),
                "deploy",
                1001,
                ip,
                &["/usr/bin/systemctl reload shop-app.service"],
                &deploy_fp,
            );
        }
        for (day, h, m) in [(0, 9, 41), (0, 14, 12), (1, 9, 55), (1, 17, 20)] {
            b.accepted(
                clock::at(day, h, m, rng.range(0, 59)),
                "ops",
                1002,
                office,
                &[
                    "/usr/bin/journalctl -u shop-app --since today",
                    "/usr/bin/tail -n 200 /var/log/nginx/error.log",
                ],
                &ops_fp,
            );
        }

        // Background scanners: a few connections an hour, each from a new address.
        let mut t = clock::t0() + rng.range(0, 10 * MIN);
        let end = clock::at(2, 0, 0, 0) - MIN;
        let mut scanner_attempts = 0;
        while t < end {
            let asn = *rng.pick(&SCANNER_ASNS);
            let ip = self.pool.v4(&mut rng, asn, false);
            match rng.below(10) {
                0..=4 => b.probe(t / 1000 * 1000, ip),
                5..=7 => {
                    b.invalid_user(t, ip, rng.one(&names::SSH_USERS));
                    scanner_attempts += 1;
                }
                _ => {
                    b.root(t, ip, 0);
                    scanner_attempts += 1;
                }
            }
            t += (rng.exp(22.0) * MIN as f64) as i64 + SEC;
        }

        // The brute force: one Tencent Cloud address, 9 minutes, a dictionary of user names.
        let start = clock::at(0, 4, 41, 30);
        let mut users: Vec<&str> = names::SSH_USERS.to_vec();
        rng.shuffle(&mut users);
        let mut seq: Vec<&str> = users[..74].to_vec();
        for _ in 0..12 {
            let u = seq[rng.index(seq.len())];
            let k = rng.index(seq.len());
            seq.insert(k, u);
        }
        let mut t = start;
        let root_at = [20, 61];
        for (n, u) in seq.iter().enumerate() {
            if root_at.contains(&n) {
                b.root(t, brute, 3);
                t += rng.range(4_000, 7_000);
            }
            b.invalid_user(t, brute, u);
            t += rng.range(4_000, 7_500);
        }
        let end_bf = t;
        let distinct: std::collections::BTreeSet<&str> = seq.iter().copied().collect();
        let org = self.pool.table().org(132203);
        self.truth.flag(
            "stuffing.ip",
            brute.to_string(),
            format!(
                "sshd brute force from AS132203 {org}: {} invalid-user attempts, {} distinct users, plus 8 root failures, 11-19 {}–{}",
                seq.len(),
                distinct.len(),
                clock::hms(start),
                clock::hms(end_bf)
            ),
        );
        self.truth.negative(
            "ip",
            office.to_string(),
            "the shop's office (AS4713): ops logs in to the bastion with a public key, no failures",
        );
        self.truth.scenario(
            "1b. SSH brute force on the bastion (`stuffing.ip`)",
            format!(
                "2026-11-19 {}–{} +09:00 in `sshd/auth.log`. `{brute}` (AS132203, {org}) tries {} \
                 connections with {} distinct invalid user names (`Invalid user X from IP port N`, PAM \
                 `check pass; user unknown` and `authentication failure`, `Failed password for invalid \
                 user X`), and twice `root` with `message repeated 3 times: [ Failed password for \
                 root …]` (4 failures per connection). Around it: CI deploys (`{}`, `{}`, AS8075) and \
                 an administrator from the office (`{office}`) with `Accepted publickey`, hourly cron \
                 sessions, systemd-logind and sudo lines, and {scanner_attempts} one-off scanner \
                 attempts plus banner probes from hosting ASNs.",
                clock::hms(start),
                clock::hms(end_bf),
                seq.len(),
                distinct.len(),
                ci[0],
                ci[1],
            ),
        );
        // Process ids were drawn per scenario; real ones grow with time. Renumber them in time
        // order (systemd-logind keeps its pid).
        b.lines.sort_by_key(|l| l.t_us);
        let mut map = std::collections::BTreeMap::new();
        let mut next = 48_211u32;
        for l in &mut b.lines {
            if l.pid < 10_000 {
                continue;
            }
            l.pid = *map.entry(l.pid).or_insert_with(|| {
                next += rng.range(3, 90) as u32;
                next
            });
        }
        self.sim.ssh.append(&mut b.lines);
        self.sim.ssh_auth.append(&mut b.auth);
        (start, end_bf)
    }
}
