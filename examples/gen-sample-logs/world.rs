//! The shop's world: customers with their usual addresses, devices and ship-tos; background
//! browsing, logins and orders; crawlers; and the low-level failed-login noise every public login
//! form receives. Planted scenarios (attacks.rs) and the bastion (sshd.rs) add to it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::asn::{AddrPool, AsnTable};
use crate::clock::{self, HOUR, MIN, SEC};
use crate::model::{Client, Login, SITE, Sim};
use crate::names::{self, FIRST_PARTY};
use crate::rng::Rng;

/// Japanese residential ISPs the customers use at home.
pub const HOME_ISPS: [(u32, u32); 3] = [(4713, 36), (2516, 33), (17676, 31)];
/// NTT DOCOMO: phones behind carrier-grade NAT.
pub const DOCOMO: u32 = 9605;

/// Residential ISPs of many countries: the pool residential proxies (and the background noise)
/// come from. `(asn, country, weight)`; no single ASN dominates a proxy swarm.
pub const RESIDENTIAL: [(u32, &str, u32); 122] = [
    (7922, "US", 2),
    (7018, "US", 2),
    (22773, "US", 1),
    (20115, "US", 2),
    (701, "US", 1),
    (5650, "US", 1),
    (209, "US", 1),
    (21928, "US", 1),
    (28573, "BR", 2),
    (18881, "BR", 2),
    (26599, "BR", 1),
    (7738, "BR", 1),
    (8167, "BR", 1),
    (27699, "BR", 1),
    (24560, "IN", 2),
    (45609, "IN", 2),
    (55836, "IN", 2),
    (9829, "IN", 1),
    (38266, "IN", 1),
    (7552, "VN", 2),
    (45899, "VN", 2),
    (18403, "VN", 1),
    (7713, "ID", 2),
    (23693, "ID", 1),
    (23969, "TH", 1),
    (17552, "TH", 1),
    (45758, "TH", 1),
    (9299, "PH", 2),
    (132199, "PH", 1),
    (17639, "PH", 1),
    (10139, "PH", 1),
    (4788, "MY", 1),
    (9121, "TR", 1),
    (34984, "TR", 1),
    (16135, "TR", 1),
    (12389, "RU", 2),
    (8402, "RU", 1),
    (31213, "RU", 1),
    (15895, "UA", 1),
    (6849, "UA", 1),
    (3320, "DE", 1),
    (3209, "DE", 1),
    (6805, "DE", 1),
    (3215, "FR", 1),
    (12322, "FR", 1),
    (5410, "FR", 1),
    (15557, "FR", 1),
    (3352, "ES", 1),
    (12479, "ES", 1),
    (6739, "ES", 1),
    (3269, "IT", 1),
    (30722, "IT", 1),
    (12874, "IT", 1),
    (2856, "GB", 1),
    (5089, "GB", 1),
    (5607, "GB", 1),
    (5617, "PL", 1),
    (12741, "PL", 1),
    (8151, "MX", 2),
    (17072, "MX", 1),
    (7303, "AR", 1),
    (10620, "CO", 1),
    (3816, "CO", 1),
    (7418, "CL", 1),
    (12252, "PE", 1),
    (6147, "PE", 1),
    (11830, "CR", 1),
    (8452, "EG", 1),
    (24863, "EG", 1),
    (6713, "MA", 1),
    (36947, "DZ", 1),
    (25019, "SA", 1),
    (35819, "SA", 1),
    (8376, "JO", 1),
    (4766, "KR", 1),
    (9318, "KR", 1),
    (3786, "KR", 1),
    (17858, "KR", 1),
    (3462, "TW", 1),
    (4760, "HK", 1),
    (9269, "HK", 1),
    (45595, "PK", 1),
    (9198, "KZ", 1),
    (8708, "RO", 1),
    (8866, "BG", 1),
    (5391, "HR", 1),
    (28725, "CZ", 1),
    (1136, "NL", 1),
    (6830, "NL", 1),
    (3301, "SE", 1),
    (1257, "SE", 1),
    (2119, "NO", 1),
    (5432, "BE", 1),
    (3243, "PT", 1),
    (1221, "AU", 1),
    (7545, "AU", 1),
    (11427, "US", 1),
    (6128, "US", 1),
    (10796, "US", 1),
    (20001, "US", 1),
    (30036, "US", 1),
    (53006, "BR", 1),
    (24309, "IN", 1),
    (4761, "ID", 1),
    (24203, "ID", 1),
    (13999, "MX", 1),
    (22927, "AR", 1),
    (12735, "TR", 1),
    (25513, "RU", 1),
    (21497, "UA", 1),
    (36992, "EG", 1),
    (17557, "PK", 1),
    (131445, "TH", 1),
    (9534, "MY", 1),
    (1267, "IT", 1),
    (8881, "DE", 1),
    (5378, "GB", 1),
    (33915, "NL", 1),
    (37457, "ZA", 1),
    (36994, "ZA", 1),
    (29465, "NG", 1),
    (33771, "KE", 1),
];

/// Relative shop traffic by local hour (lunch and evening peaks, quiet nights).
pub const DIURNAL: [f64; 24] = [
    0.45, 0.28, 0.15, 0.09, 0.07, 0.09, 0.2, 0.4, 0.55, 0.6, 0.65, 0.7, 0.95, 0.85, 0.7, 0.7, 0.75,
    0.8, 0.95, 1.15, 1.35, 1.45, 1.3, 0.85,
];

/// A customer of the shop.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Account (e-mail), as stored (lower case).
    pub account: String,
    /// Home ISP.
    pub isp: u32,
    /// Home address.
    pub home: IpAddr,
    /// Browser at home.
    pub ua: &'static str,
    /// Phone browser.
    pub phone_ua: &'static str,
    /// Phone on NTT DOCOMO (shows the carrier's CGNAT addresses).
    pub docomo: bool,
    /// Uses only the phone on the mobile network.
    pub phone_only: bool,
    /// Usual ship-to.
    pub ship_to: String,
    /// Takes part in a planted scenario: no random extras (resets, address changes, failures).
    pub special: bool,
}

/// One entity a detector must (or must not) flag, with why.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Entity value as in alerts.md.
    pub value: String,
    /// Explanation, for comments and the README.
    pub note: String,
}

/// What was planted: the answer key.
#[derive(Debug, Default)]
pub struct Truth {
    /// Rule id → entities that must be flagged.
    pub rules: Vec<(&'static str, Vec<Entity>)>,
    /// (kind, entity) that must stay below medium severity.
    pub negatives: Vec<(&'static str, Entity)>,
    /// README sections: (title, markdown).
    pub scenarios: Vec<(String, String)>,
}

impl Truth {
    /// Records an entity a rule must flag.
    pub fn flag(&mut self, rule: &'static str, value: impl Into<String>, note: impl Into<String>) {
        let e = Entity {
            value: value.into(),
            note: note.into(),
        };
        if let Some((_, v)) = self.rules.iter_mut().find(|(r, _)| *r == rule) {
            if !v.iter().any(|x| x.value == e.value) {
                v.push(e);
            }
        } else {
            self.rules.push((rule, vec![e]));
        }
    }

    /// Records an entity that must not get a medium-or-higher alert.
    pub fn negative(
        &mut self,
        kind: &'static str,
        value: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.negatives.push((
            kind,
            Entity {
                value: value.into(),
                note: note.into(),
            },
        ));
    }

    /// Adds a README section.
    pub fn scenario(&mut self, title: impl Into<String>, body: impl Into<String>) {
        self.scenarios.push((title.into(), body.into()));
    }
}

/// Everything the generator builds.
pub struct World<'t> {
    /// Run seed.
    pub seed: u64,
    /// Lines written so far.
    pub sim: Sim,
    /// Address allocation over the real ASN table.
    pub pool: AddrPool<'t>,
    /// The 600 customers.
    pub customers: Vec<Customer>,
    /// Every existing account (lower case).
    pub existing: BTreeSet<String>,
    /// Every account name handed out so far (existing or not), to keep lists distinct.
    pub names_used: BTreeSet<String>,
    /// The carrier NAT addresses phones share.
    pub cgnat: Vec<IpAddr>,
    /// Answer key.
    pub truth: Truth,
    /// Noise addresses with the time each was last used.
    noise_ips: Vec<(IpAddr, i64)>,
}

/// A think time between page views.
fn think(rng: &mut Rng) -> i64 {
    rng.range(4 * SEC, 70 * SEC)
}

/// A product path.
pub fn product(rng: &mut Rng) -> String {
    format!("/products/{}", rng.range(10_000, 99_999))
}

/// A time of day drawn from the shop's traffic curve, on day 0 or 1.
pub fn diurnal_time(rng: &mut Rng) -> i64 {
    let day = rng.below(2) as i64;
    let total: f64 = DIURNAL.iter().sum();
    let mut r = rng.f64() * total;
    let mut hour = 23;
    for (h, w) in DIURNAL.iter().enumerate() {
        if r < *w {
            hour = h as i64;
            break;
        }
        r -= w;
    }
    clock::at(day, hour, 0, 0) + rng.below(HOUR as u64) as i64
}

impl<'t> World<'t> {
    /// An empty world over the ASN table.
    pub fn new(seed: u64, table: &'t AsnTable) -> World<'t> {
        World {
            seed,
            sim: Sim::new(Rng::derive(seed, "sim")),
            pool: AddrPool::new(table),
            customers: Vec::new(),
            existing: BTreeSet::new(),
            names_used: BTreeSet::new(),
            cgnat: Vec::new(),
            truth: Truth::default(),
            noise_ips: Vec::new(),
        }
    }

    /// A stream for one part of the world.
    pub fn rng(&self, label: &str) -> Rng {
        Rng::derive(self.seed, label)
    }

    /// A fresh account name (never handed out before); `existing` registers it as an account.
    pub fn fresh_account(&mut self, rng: &mut Rng, jp: bool, existing: bool) -> String {
        loop {
            let a = if jp {
                names::jp_account(rng)
            } else {
                names::list_account(rng)
            };
            if self.names_used.insert(a.clone()) {
                if existing {
                    self.existing.insert(a.clone());
                }
                return a;
            }
        }
    }

    /// Creates the customers and the carrier NAT pool.
    pub fn make_customers(&mut self, n: usize) {
        let mut rng = self.rng("customers");
        let first = self.pool.v4(&mut rng, DOCOMO, true);
        self.cgnat.push(first);
        for _ in 0..3 {
            let ip = self.pool.v4_near(&mut rng, first);
            self.cgnat.push(ip);
        }
        for _ in 0..n {
            let account = self.fresh_account(&mut rng, true, true);
            let isp = *rng.weighted(&HOME_ISPS);
            let home = if rng.chance(0.12) && self.pool.table().has_v6(isp) {
                self.pool.v6(&mut rng, isp)
            } else {
                self.pool.v4(&mut rng, isp, false)
            };
            let docomo = rng.chance(0.38);
            let phone_only = docomo && rng.chance(0.22);
            let ua = if phone_only || rng.chance(0.35) {
                *rng.pick(&names::UA_PHONE)
            } else {
                *rng.pick(&names::UA_DESKTOP)
            };
            self.customers.push(Customer {
                account,
                isp,
                home,
                ua,
                phone_ua: rng.one(&names::UA_PHONE),
                docomo,
                phone_only,
                ship_to: names::jp_address(&mut rng),
                special: false,
            });
        }
    }

    /// Picks `n` distinct ordinary customers for planted scenarios and marks them special.
    pub fn take_specials(&mut self, n: usize) -> Vec<usize> {
        let mut rng = self.rng("specials");
        let mut out = Vec::new();
        while out.len() < n {
            let i = rng.index(self.customers.len());
            let c = &self.customers[i];
            if c.special || c.phone_only {
                continue;
            }
            self.customers[i].special = true;
            out.push(i);
        }
        out
    }

    /// Ordinary customers (not in any planted scenario), for attack lists to hit.
    pub fn ordinary(&self) -> Vec<usize> {
        (0..self.customers.len())
            .filter(|i| !self.customers[*i].special)
            .collect()
    }

    /// The client a customer uses for a session.
    pub fn device(&self, rng: &mut Rng, ci: usize) -> Client {
        let c = &self.customers[ci];
        let phone = c.phone_only || (c.docomo && rng.chance(0.7));
        if phone {
            let ip = if c.docomo {
                *rng.pick(&self.cgnat)
            } else {
                c.home
            };
            Client {
                ip,
                ua: c.phone_ua,
                bot: false,
            }
        } else {
            Client {
                ip: c.home,
                ua: c.ua,
                bot: false,
            }
        }
    }

    /// The customer's home client (usual address and browser).
    pub fn home_client(&self, ci: usize) -> Client {
        let c = &self.customers[ci];
        Client {
            ip: c.home,
            ua: c.ua,
            bot: false,
        }
    }

    /// A browsing session. `quiet` = (log in, order) for customers in planted scenarios:
    /// no random failures, resets or address changes. Returns the session's end.
    pub fn session(
        &mut self,
        rng: &mut Rng,
        ci: usize,
        t0: i64,
        c: Client,
        quiet: Option<(bool, bool)>,
    ) -> i64 {
        let srv = rng.below(2) as u8;
        let account = self.customers[ci].account.clone();
        let mut t = t0;
        let (landing, referer) = match rng.below(6) {
            0 | 1 => ("/".to_string(), "https://www.google.com/"),
            2 => (product(rng), "https://www.google.com/"),
            3 => (product(rng), "-"),
            4 => (
                format!("/search?q={}", names::pct(rng.one(&names::SEARCHES))),
                "https://shop.example.jp/",
            ),
            _ => ("/".to_string(), "-"),
        };
        t = self.sim.page(t, srv, &c, &landing, referer) + rng.range(300, 1_500);
        if rng.chance(0.12) {
            let asset = if rng.chance(0.5) {
                "/favicon.ico"
            } else {
                "/static/js/app.7c41e2.js"
            };
            self.sim.page(t, srv, &c, asset, &format!("{SITE}/"));
        }
        t += think(rng);
        let mut prev = landing;
        for _ in 0..rng.range(0, 3) {
            let p = if rng.chance(0.8) {
                product(rng)
            } else {
                format!("/category/{}", rng.range(100, 180))
            };
            t = self.sim.page(t, srv, &c, &p, &format!("{SITE}{prev}")) + think(rng);
            prev = p;
        }
        let (login, order) = match quiet {
            Some(q) => q,
            None => (rng.chance(0.5), rng.chance(0.13)),
        };
        if login {
            t = self
                .sim
                .page(t, srv, &c, "/login", &format!("{SITE}{prev}"))
                + rng.range(6 * SEC, 25 * SEC);
            if quiet.is_none() {
                if rng.chance(0.03) {
                    t = self
                        .sim
                        .login(t, srv, &c, &account, Login::Fail("bad_password"))
                        + rng.range(8 * SEC, 25 * SEC);
                } else if rng.chance(0.01) {
                    // A typo in the e-mail: an unknown account, then the right one.
                    let mut typo = account.clone();
                    typo.remove(rng.index(account.find('@').unwrap_or(1).max(1)));
                    t = self
                        .sim
                        .login(t, srv, &c, &typo, Login::Fail("unknown_account"))
                        + rng.range(8 * SEC, 25 * SEC);
                }
            }
            let typed = if rng.chance(0.04) {
                capitalize(&account)
            } else {
                account.clone()
            };
            t = self.sim.login(t, srv, &c, &typed, Login::Ok) + rng.range(200, 800);
            t = self
                .sim
                .page(t, srv, &c, "/mypage", &format!("{SITE}/login"))
                + think(rng);
        }
        if order || rng.chance(0.2) {
            let end = self.sim.web(
                t,
                srv,
                &c,
                "POST",
                "/cart/add",
                200,
                rng.range(150, 420) as u32,
                &format!("{SITE}{prev}"),
                rng.range(20, 90) as u32,
            );
            t = end + think(rng);
        }
        if order {
            t = self.sim.page(t, srv, &c, "/cart", &format!("{SITE}{prev}"))
                + rng.range(5 * SEC, 40 * SEC);
            t = self
                .sim
                .page(t, srv, &c, "/checkout", &format!("{SITE}/cart"))
                + rng.range(20 * SEC, 120 * SEC);
            let (seller, amount) = if rng.chance(0.85) {
                (FIRST_PARTY, rng.range(98, 2_980) as u32 * 10)
            } else {
                (
                    *rng.pick(&names::SELLERS),
                    rng.range(150, 1_800) as u32 * 10,
                )
            };
            let ship = self.customers[ci].ship_to.clone();
            t = self.sim.order(t, srv, &c, &account, amount, seller, &ship) + think(rng);
        }
        if quiet.is_none() && !self.customers[ci].special {
            if rng.chance(0.012) {
                t = self.legit_reset(rng, srv, &c, &account, t);
            } else if rng.chance(0.008) {
                t = self
                    .sim
                    .page(t, srv, &c, "/account/address", &format!("{SITE}/mypage"))
                    + rng.range(30 * SEC, 120 * SEC);
                let addr = names::jp_address(rng);
                t = self.sim.address_change(t, srv, &c, &account, &addr) + think(rng);
                self.customers[ci].ship_to = addr;
            }
        }
        t
    }

    /// A customer's own password reset: request, code, new password, login.
    pub fn legit_reset(
        &mut self,
        rng: &mut Rng,
        srv: u8,
        c: &Client,
        account: &str,
        t0: i64,
    ) -> i64 {
        let mut t = self
            .sim
            .page(t0, srv, c, "/password/forgot", &format!("{SITE}/login"))
            + rng.range(10 * SEC, 40 * SEC);
        t = self.sim.reset_request(t, srv, c, account, true) + rng.range(60 * SEC, 240 * SEC);
        t = self.sim.reset_complete(t, srv, c, account, true) + rng.range(20 * SEC, 60 * SEC);
        t += rng.range(5 * SEC, 20 * SEC);
        t = self.sim.login(t, srv, c, account, Login::Ok) + rng.range(300, 900);
        self.sim
            .page(t, srv, c, "/mypage", &format!("{SITE}/login"))
            + think(rng)
    }

    /// Every ordinary customer's sessions over the 48 hours.
    pub fn background(&mut self) {
        let mut rng = self.rng("background");
        let end = clock::at(2, 0, 0, 0) - 20 * MIN;
        const SESSIONS: [(i64, u32); 5] = [(0, 16), (1, 44), (2, 27), (3, 9), (4, 4)];
        for ci in 0..self.customers.len() {
            if self.customers[ci].special {
                continue;
            }
            let n = *rng.weighted(&SESSIONS);
            let mut starts: Vec<i64> = (0..n).map(|_| diurnal_time(&mut rng)).collect();
            starts.sort_unstable();
            let mut last_end = i64::MIN;
            for t in starts {
                if t > end || t < last_end {
                    continue;
                }
                let c = self.device(&mut rng, ci);
                last_end = self.session(&mut rng, ci, t, c, None);
            }
        }
    }

    /// Search engine crawlers and a link checker whose user agent contains double quotes.
    pub fn crawlers(&mut self) {
        let mut rng = self.rng("crawlers");
        let google = [
            self.pool.v4(&mut rng, 15169, false),
            self.pool.v4(&mut rng, 15169, false),
        ];
        let bing = self.pool.v4(&mut rng, 8075, false);
        let end = clock::at(2, 0, 0, 0) - MIN;
        for (ips, ua, mean_gap) in [
            (&google[..], names::UA_CRAWLER[0], 10.0),
            (std::slice::from_ref(&bing), names::UA_CRAWLER[1], 25.0),
        ] {
            let mut t = clock::t0() + rng.range(0, 5 * MIN);
            while t < end {
                let c = Client {
                    ip: *rng.pick(ips),
                    ua,
                    bot: true,
                };
                let path = match rng.below(10) {
                    0 => "/robots.txt".to_string(),
                    1 => format!("/category/{}", rng.range(100, 180)),
                    _ => product(&mut rng),
                };
                let status = if rng.chance(0.04) { 404 } else { 200 };
                let bytes = if status == 404 {
                    5_120
                } else {
                    rng.range(20_000, 60_000) as u32
                };
                self.sim.web(
                    t,
                    rng.below(2) as u8,
                    &c,
                    "GET",
                    path,
                    status,
                    bytes,
                    "-",
                    rng.range(15, 240) as u32,
                );
                t += (rng.exp(mean_gap) * MIN as f64) as i64 + SEC;
            }
        }
        let checker = Client {
            ip: self.pool.v4(&mut rng, 16509, false),
            ua: names::UA_QUOTED,
            bot: true,
        };
        for day in 0..2 {
            for h in [3, 9, 15, 21] {
                let mut t = clock::at(day, h, 0, rng.range(1, 20));
                for p in [
                    "/",
                    "/category/101",
                    "/category/117",
                    "/help/shipping",
                    "/help/returns",
                    "/campaign/winter-2026",
                ] {
                    let status = if p == "/campaign/winter-2026" && day == 1 && h >= 15 {
                        404
                    } else {
                        200
                    };
                    self.sim.web(
                        t,
                        rng.below(2) as u8,
                        &checker,
                        "GET",
                        p,
                        status,
                        rng.range(9_000, 40_000) as u32,
                        "-",
                        rng.range(20, 160) as u32,
                    );
                    t += rng.range(800, 3_000);
                }
            }
        }
    }

    /// A noise address: often new, sometimes one seen more than 45 minutes ago.
    fn noise_ip(&mut self, rng: &mut Rng, t: i64) -> IpAddr {
        if !self.noise_ips.is_empty() && rng.chance(0.35) {
            let i = rng.index(self.noise_ips.len());
            if t - self.noise_ips[i].1 > 45 * MIN {
                self.noise_ips[i].1 = t;
                return self.noise_ips[i].0;
            }
        }
        let (asn, _, _) = *rng.pick(&RESIDENTIAL);
        let ip = if rng.chance(0.06) && self.pool.table().has_v6(asn) {
            self.pool.v6(rng, asn)
        } else {
            self.pool.v4(rng, asn, false)
        };
        self.noise_ips.push((ip, t));
        ip
    }

    /// The background failed-login baseline: list attempts trickling in from residential
    /// addresses worldwide, 1–2 a minute following the traffic curve, mostly unknown accounts.
    pub fn noise(&mut self) {
        let mut rng = self.rng("noise");
        let ordinary = self.ordinary();
        let max = DIURNAL.iter().cloned().fold(0.0, f64::max);
        for minute in 0..(48 * 60) {
            let start = clock::t0() + minute * MIN;
            let h = clock::hour_of(start) as usize;
            let rate = 0.6 + 0.95 * DIURNAL[h] / max;
            for _ in 0..rng.poisson(rate) {
                let t = start + rng.below(MIN as u64) as i64;
                let ip = self.noise_ip(&mut rng, t);
                // Cheap bots: half send an HTTP library's user agent, the rest a browser string.
                let ua = match rng.below(20) {
                    0..=8 => *rng.pick(&names::UA_TOOL[4..7]),
                    9..=13 => *rng.pick(&names::UA_TOOL),
                    _ => *rng.pick(&names::UA_DESKTOP),
                };
                let c = Client { ip, ua, bot: true };
                let srv = rng.below(2) as u8;
                if rng.chance(0.05) {
                    let ci = *rng.pick(&ordinary);
                    let acc = self.customers[ci].account.clone();
                    self.sim
                        .login(t, srv, &c, &acc, Login::Fail("bad_password"));
                } else {
                    let acc = self.fresh_account(&mut rng, false, false);
                    self.sim
                        .login(t, srv, &c, &acc, Login::Fail("unknown_account"));
                }
            }
        }
    }
}

/// `Yamada.taro@example.jp`: how some people type their login.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
