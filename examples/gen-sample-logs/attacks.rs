//! The planted scenarios (the incidents the sample logs reproduce) and the hard negatives that
//! look like them. Each records its entities in the answer key.

use std::net::IpAddr;

use credwatch::event::AddressHash;

use crate::clock::{self, MIN, SEC};
use crate::model::{Client, Login, SITE};
use crate::names::{self, FIRST_PARTY};
use crate::rng::Rng;
use crate::world::{RESIDENTIAL, World, capitalize, product};

/// The `AddressHash` entity value of a ship-to, as credwatch prints it.
pub fn ship_hash(s: &str) -> String {
    match AddressHash::of(s) {
        Some(h) => h.to_string(),
        None => panic!("empty address"),
    }
}

/// Entities and times the checks and the README need beyond the answer key.
#[derive(Debug, Default)]
pub struct Plan {
    /// (label, start, end) of each burst, to keep them out of the baseline.
    pub windows: Vec<(&'static str, i64, i64)>,
    /// The stuffing.asn attacker's ASN.
    pub asn_attack: u32,
    /// The proxy swarm's addresses.
    pub swarm_ips: Vec<IpAddr>,
    /// The residential ASN with the most swarm addresses.
    pub swarm_top_asn: u32,
    /// Accounts that must not get orders.bulk (the legitimate bulk buyer).
    pub bulk_negative: String,
}

fn lc(s: &str) -> String {
    s.to_lowercase()
}

impl World<'_> {
    /// Plants every scenario; returns what the checks need.
    pub fn plant(&mut self) -> Plan {
        let mut plan = Plan::default();
        let sp = self.take_specials(16);
        let [a, b, c, d, s3, s4, s6, s7, e, f, g, h, i, j, k1, k2] = sp[..] else {
            unreachable!()
        };
        // The household: k2 lives with k1.
        self.customers[k2].home = self.customers[k1].home;
        self.customers[k2].isp = self.customers[k1].isp;
        self.customers[k2].ship_to = self.customers[k1].ship_to.clone();
        self.history(&sp, g);

        self.stuffing_ip(&mut plan, [c, d, s3, s4]);
        self.stuffing_asn(&mut plan);
        let b_client = self.swarm(&mut plan, [s6, b, s7]);
        self.takeover(a, b, c, d, b_client);
        self.bruteforce(&mut plan, f);
        self.reset_flood_ip(&mut plan);
        self.reset_flood_account(&mut plan, e);
        self.corporate();
        self.negatives(&mut plan, g, h, i, j, k1, k2);
        plan
    }

    /// One ordinary morning session for each special customer, so their usual address,
    /// browser and ship-to appear in the logs before anything happens to them.
    fn history(&mut self, sp: &[usize], no_order: usize) {
        let mut rng = self.rng("history");
        for &ci in sp {
            let t = clock::at(0, 7, 0, 0) + rng.below(4 * clock::HOUR as u64) as i64;
            let c = self.home_client(ci);
            let order = rng.chance(0.4) && ci != no_order;
            self.session(&mut rng, ci, t, c, Some((true, order)));
        }
    }

    fn list(&mut self, rng: &mut Rng, unknown: usize, real: usize) -> Vec<(String, Login)> {
        let mut ord = self.ordinary();
        rng.shuffle(&mut ord);
        let mut v: Vec<(String, Login)> = ord[..real]
            .iter()
            .map(|ci| {
                (
                    self.customers[*ci].account.clone(),
                    Login::Fail("bad_password"),
                )
            })
            .collect();
        for _ in 0..unknown {
            let acc = self.fresh_account(rng, false, false);
            v.push((acc, Login::Fail("unknown_account")));
        }
        rng.shuffle(&mut v);
        v
    }

    /// 1. One hosting address replays a list: ~400 failures, 380 accounts, 8 minutes, 4 hits.
    fn stuffing_ip(&mut self, plan: &mut Plan, winners: [usize; 4]) {
        let mut rng = self.rng("stuffing.ip");
        let ip = self.pool.v4(&mut rng, 14061, true);
        let client = Client {
            ip,
            ua: names::UA_TOOL[0],
            bot: true,
        };
        let mut tries = self.list(&mut rng, 323, 57);
        for _ in 0..20 {
            // The tool retries a few accounts after timeouts.
            let k = rng.range(0, tries.len() as i64 - 6) as usize;
            let again = tries[k].clone();
            tries.insert(k + rng.range(1, 5) as usize, again);
        }
        for &w in &winners {
            let k = rng.range(30, tries.len() as i64 - 1) as usize;
            tries.insert(k, (self.customers[w].account.clone(), Login::Ok));
        }
        let start = clock::at(0, 3, 12, 7);
        let mut t = start;
        for (acc, r) in &tries {
            self.sim.login(t, rng.below(2) as u8, &client, acc, *r);
            t += rng.range(700, 1_650);
        }
        let fails = tries.iter().filter(|x| x.1 != Login::Ok).count();
        let unknown = tries
            .iter()
            .filter(|x| x.1 == Login::Fail("unknown_account"))
            .count();
        plan.windows.push(("stuffing.ip", start, t));
        let org = self.pool.table().org(14061);
        self.truth.flag(
            "stuffing.ip",
            ip.to_string(),
            format!(
                "AS14061 {org}: {fails} failed logins to 380 distinct accounts ({}% unknown), {}–{} on 11-19",
                unknown * 100 / fails,
                clock::hms(start),
                clock::hms(t)
            ),
        );
        let mut listed = Vec::new();
        for &w in &winners {
            let acc = lc(&self.customers[w].account);
            self.truth.flag(
                "compromise.login",
                acc.clone(),
                format!("successful login from the stuffing.ip address {ip} during its list run (11-19 03:12–03:20)"),
            );
            listed.push(format!("`{acc}`"));
        }
        self.truth.scenario(
            "1. Credential stuffing from one hosting address (`stuffing.ip`, `compromise.login`)",
            format!(
                "2026-11-19 {}–{} +09:00. `{ip}` (AS14061 {org}) posts `/login` {} times with a tool \
                 user agent (Chrome 120): {fails} failures against 380 distinct accounts ({unknown} \
                 failures are unknown accounts, the others real customers' `bad_password`; 20 are \
                 retries), and 4 successes: {}. Two of these accounts are later used for drop-address orders (scenario 5).",
                clock::hms(start),
                clock::hms(t),
                tries.len(),
                listed.join(", ")
            ),
        );
    }

    /// 2. Sixty-two addresses of one hosting ASN, each below the per-address threshold.
    fn stuffing_asn(&mut self, plan: &mut Plan) {
        let mut rng = self.rng("stuffing.asn");
        let asn = 16276;
        plan.asn_attack = asn;
        let start = clock::at(0, 14, 5, 0);
        let span = 28 * MIN;
        let mut slots: Vec<(i64, Client)> = Vec::new();
        let mut ips = Vec::new();
        for _ in 0..62 {
            let ip = self.pool.v4(&mut rng, asn, true);
            ips.push(ip);
            let ua = if rng.chance(0.5) {
                *rng.pick(&names::UA_TOOL[..4])
            } else {
                *rng.pick(&names::UA_DESKTOP)
            };
            let c = Client { ip, ua, bot: true };
            let k = rng.range(3, 5);
            let mut t = start + rng.range(0, span - (k - 1) * 90 * SEC);
            for _ in 0..k {
                slots.push((t, c));
                t += rng.range(20 * SEC, 90 * SEC);
            }
        }
        slots.sort_by_key(|s| (s.0, s.1.ip));
        let accounts = self.list(&mut rng, 191, 34);
        let mut n_unknown = 0;
        for (n, (t, c)) in slots.iter().enumerate() {
            let (acc, r) = if n < accounts.len() {
                accounts[n].clone()
            } else {
                accounts[rng.index(accounts.len())].clone()
            };
            if r == Login::Fail("unknown_account") {
                n_unknown += 1;
            }
            self.sim.login(*t, rng.below(2) as u8, c, &acc, r);
        }
        let end = slots.last().map(|s| s.0).unwrap_or(start);
        plan.windows.push(("stuffing.asn", start, end));
        let org = self.pool.table().org(asn);
        self.truth.flag(
            "stuffing.asn",
            asn.to_string(),
            format!(
                "{org}: 62 addresses in 62 different /24s, 3–5 failures each, {} failures, 225 distinct accounts, {}–{} on 11-19",
                slots.len(),
                clock::hms(start),
                clock::hms(end)
            ),
        );
        self.truth.scenario(
            "2. Distributed over one hosting ASN (`stuffing.asn`)",
            format!(
                "2026-11-19 {}–{} +09:00. 62 addresses of AS{asn} ({org}), each in its own /24, \
                 each failing 3–5 times (far below the per-address threshold): {} failed logins, \
                 225 distinct accounts ({n_unknown} unknown-account failures), no success. Example \
                 addresses: `{}`, `{}`, `{}`.",
                clock::hms(start),
                clock::hms(end),
                slots.len(),
                ips[0],
                ips[1],
                ips[2]
            ),
        );
    }

    /// Scenario 3, a residential proxy swarm: ~1,500 addresses in many countries, 1–2 tries
    /// each. `winners` succeed at about 01:12, 01:37 and 01:49; returns the client of the second.
    fn swarm(&mut self, plan: &mut Plan, winners: [usize; 3]) -> Client {
        let mut rng = self.rng("swarm");
        let start = clock::at(1, 1, 0, 0);
        let end = clock::at(1, 2, 0, 0);
        let weights: Vec<(usize, u32)> = RESIDENTIAL
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.2))
            .collect();
        let mut slots: Vec<(i64, Client)> = Vec::new();
        let mut per_asn: std::collections::BTreeMap<u32, usize> = Default::default();
        let pool_uas: Vec<&'static str> = names::UA_DESKTOP
            .iter()
            .chain(names::UA_PHONE.iter())
            .chain(names::UA_TOOL[..4].iter())
            .copied()
            .collect();
        for _ in 0..1_500 {
            // Proxy pools rotate through many networks; no ASN gets more than 13 of the 1,500
            // (the list has room for 1,586).
            let asn = loop {
                let (asn, _, _) = RESIDENTIAL[*rng.weighted(&weights)];
                if per_asn.get(&asn).copied().unwrap_or(0) < 13 {
                    break asn;
                }
            };
            let ip = if rng.chance(0.08) && self.pool.table().has_v6(asn) {
                self.pool.v6(&mut rng, asn)
            } else {
                self.pool.v4(&mut rng, asn, false)
            };
            *per_asn.entry(asn).or_default() += 1;
            plan.swarm_ips.push(ip);
            let c = Client {
                ip,
                ua: rng.one(&pool_uas),
                bot: true,
            };
            let t = start + rng.range(0, 60 * MIN - 1);
            slots.push((t, c));
            if rng.chance(0.34) {
                let t2 = t + rng.range(20 * SEC, 300 * SEC);
                if t2 < end {
                    slots.push((t2, c));
                }
            }
        }
        plan.swarm_top_asn = per_asn
            .iter()
            .max_by_key(|(a, n)| (**n, std::cmp::Reverse(**a)))
            .map(|x| *x.0)
            .unwrap_or(0);
        slots.sort_by_key(|s| (s.0, s.1.ip));
        // The winners: the slots nearest 01:12, 01:37, 01:49, on browser user agents.
        let mut win_at = Vec::new();
        for (w, (hh, mm)) in winners.iter().zip([(1, 12), (1, 37), (1, 49)]) {
            let target = clock::at(1, hh, mm, 0);
            let k = slots.iter().position(|s| s.0 >= target).unwrap_or(0);
            slots[k].1.ua = names::UA_DESKTOP[1];
            win_at.push((k, *w));
        }
        let n_fail = slots.len() - 3;
        let real = n_fail * 8 / 100;
        let accounts = self.list(&mut rng, n_fail - real, real);
        let mut next = 0;
        let mut b_client = slots[0].1;
        let mut b_time = start;
        let mut unknown = 0;
        for (n, (t, c)) in slots.iter().enumerate() {
            let srv = rng.below(2) as u8;
            if let Some((_, w)) = win_at.iter().find(|x| x.0 == n) {
                let acc = self.customers[*w].account.clone();
                self.sim.login(*t, srv, c, &acc, Login::Ok);
                if *w == winners[1] {
                    b_client = *c;
                    b_time = *t;
                }
                continue;
            }
            let (acc, r) = accounts[next].clone();
            next += 1;
            if r == Login::Fail("unknown_account") {
                unknown += 1;
            }
            self.sim.login(*t, srv, c, &acc, r);
        }
        plan.windows.push(("stuffing.global", start, end));
        let countries: std::collections::BTreeSet<&str> = per_asn
            .keys()
            .filter_map(|a| RESIDENTIAL.iter().find(|r| r.0 == *a).map(|r| r.1))
            .collect();
        let top = plan.swarm_top_asn;
        self.truth.flag(
            "stuffing.global",
            "*",
            format!(
                "residential proxy swarm 11-20 01:00–02:00: {} failed logins ({}% unknown) from 1,500 addresses in {} ASNs ({} countries)",
                n_fail,
                unknown * 100 / n_fail,
                per_asn.len(),
                countries.len()
            ),
        );
        let mut wins = Vec::new();
        for (k, w) in &win_at {
            let acc = lc(&self.customers[*w].account);
            let ip = slots[*k].1.ip;
            self.truth.flag(
                "compromise.login",
                acc.clone(),
                format!(
                    "successful login at {} from swarm address {ip} during the proxy swarm",
                    clock::hms(slots[*k].0)
                ),
            );
            wins.push(format!("`{acc}` ({} from `{ip}`)", clock::hms(slots[*k].0)));
        }
        self.truth.scenario(
            "3. Residential proxy swarm (`stuffing.global`, `compromise.login`)",
            format!(
                "2026-11-20 01:00–02:00 +09:00. 1,500 addresses of {} residential ASNs in {} countries \
                 (IPv4 and IPv6), 1–2 tries each: {n_fail} failed logins ({unknown} unknown accounts) \
                 against a baseline of about 1–2 failures a minute. The largest ASN share is AS{top} \
                 ({}, {} addresses in the hour), far below the `stuffing.asn` scenario. Three \
                 successes: {}.",
                per_asn.len(),
                countries.len(),
                self.pool.table().org(top),
                per_asn.get(&top).copied().unwrap_or(0),
                wins.join(", ")
            ),
        );
        let _ = b_time;
        b_client
    }

    /// 5. Account takeover sequences ending in marketplace orders to one drop address.
    fn takeover(&mut self, a: usize, b: usize, c: usize, d: usize, b_client: Client) {
        let mut rng = self.rng("takeover");
        let drop = format!(
            "〒{:03}-{:04} 大阪府東大阪市菱江{}-{}-{} 第二倉庫 B棟",
            rng.range(570, 579),
            rng.range(1, 999),
            rng.range(1, 6),
            rng.range(1, 30),
            rng.range(1, 20)
        );
        // Attackers retype the address: same hash after normalization (space kinds, case,
        // trailing punctuation), different bytes in the log.
        let variants = [
            drop.clone(),
            drop.replace(' ', "　"),
            drop.replace("B棟", "b棟"),
            format!("{drop}、"),
        ];
        let drop_hash = ship_hash(&drop);
        for v in &variants {
            assert_eq!(
                ship_hash(v),
                drop_hash,
                "drop address variants must hash alike"
            );
        }
        let acc_a = self.customers[a].account.clone();
        let acc_b = self.customers[b].account.clone();
        let acc_c = self.customers[c].account.clone();
        let acc_d = self.customers[d].account.clone();

        // Victim A: a reset nobody asked for, from a hosting address.
        let linode = self.pool.v4(&mut rng, 63949, true);
        let lc_ = Client {
            ip: linode,
            ua: names::UA_DESKTOP[0],
            bot: false,
        };
        let srv = 0;
        let t_req = clock::at(0, 21, 38, 40);
        self.sim.page(
            t_req - 25 * SEC,
            srv,
            &lc_,
            "/password/forgot",
            &format!("{SITE}/login"),
        );
        self.sim.reset_request(t_req, srv, &lc_, &acc_a, true);
        let t_done = clock::at(0, 21, 41, 5);
        let mut t = self.sim.reset_complete(t_done, srv, &lc_, &acc_a, true) + 14 * SEC;
        t += 9 * SEC;
        let t_login = t;
        t = self.sim.login(t, srv, &lc_, &acc_a, Login::Ok) + SEC;
        self.sim
            .page(t, srv, &lc_, "/mypage", &format!("{SITE}/login"));
        let t_addr = clock::at(0, 23, 40, 12);
        self.sim.page(
            t_addr - 70 * SEC,
            1,
            &lc_,
            "/account/address",
            &format!("{SITE}/mypage"),
        );
        self.sim
            .address_change(t_addr, 1, &lc_, &acc_a, &variants[0]);

        // Japanese residential proxies the orders come from, new to every victim.
        let proxies = [
            self.pool.v4(&mut rng, 17676, true),
            self.pool.v4(&mut rng, 2516, true),
            self.pool.v4(&mut rng, 17676, true),
        ];
        let pua = names::UA_PHONE[0];
        let mut order_log: Vec<(String, i64, IpAddr, u32)> = Vec::new();
        let mut cd_login = Vec::new();

        // C and D (hits of the stuffing.ip run) order once or twice each.
        for (who, acc, p, at, n) in [
            (c, &acc_c, 0, clock::at(1, 11, 2, 31), 2),
            (d, &acc_d, 1, clock::at(1, 11, 25, 8), 1),
        ] {
            let _ = who;
            let cl = Client {
                ip: proxies[p],
                ua: pua,
                bot: false,
            };
            let srv = rng.below(2) as u8;
            let mut t = self.sim.page(at - 20 * SEC, srv, &cl, "/login", "-") + 12 * SEC;
            cd_login.push(t);
            t = self.sim.login(t, srv, &cl, acc, Login::Ok) + 40 * SEC;
            for _ in 0..n {
                t = self
                    .sim
                    .page(t, srv, &cl, &product(&mut rng), &format!("{SITE}/mypage"))
                    + rng.range(40 * SEC, 150 * SEC);
                let amount = rng.range(690, 1_280) as u32 * 10;
                let v = variants[rng.index(variants.len())].clone();
                let o = self.sim.order(
                    t,
                    srv,
                    &cl,
                    acc,
                    amount,
                    rng.one(&names::RESALE_SELLERS),
                    &v,
                );
                order_log.push((lc(acc), o, cl.ip, amount));
                t = o + rng.range(2 * MIN, 5 * MIN);
            }
        }

        // A: 13 h after the address change, 12 marketplace orders from the three proxies.
        let mut total_a = 0;
        let mut first_order_a = 0;
        let mut last_order_a = 0;
        for (p, at) in [
            (0, clock::at(1, 12, 41, 3)),
            (1, clock::at(1, 13, 10, 44)),
            (2, clock::at(1, 13, 38, 19)),
        ] {
            let cl = Client {
                ip: proxies[p],
                ua: pua,
                bot: false,
            };
            let srv = rng.below(2) as u8;
            let mut t = self.sim.page(at - 15 * SEC, srv, &cl, "/login", "-") + 10 * SEC;
            t = self.sim.login(t, srv, &cl, &acc_a, Login::Ok) + 30 * SEC;
            for _ in 0..4 {
                t = self
                    .sim
                    .page(t, srv, &cl, &product(&mut rng), &format!("{SITE}/mypage"))
                    + rng.range(30 * SEC, 80 * SEC);
                self.sim.web(
                    t,
                    srv,
                    &cl,
                    "POST",
                    "/cart/add",
                    200,
                    212,
                    &format!("{SITE}/products"),
                    41,
                );
                t += rng.range(40 * SEC, 120 * SEC);
                let amount = rng.range(860, 1_680) as u32 * 10;
                total_a += amount;
                let v = variants[rng.index(variants.len())].clone();
                let o = self.sim.order(
                    t,
                    srv,
                    &cl,
                    &acc_a,
                    amount,
                    rng.one(&names::RESALE_SELLERS),
                    &v,
                );
                if first_order_a == 0 {
                    first_order_a = o;
                }
                last_order_a = o;
                order_log.push((lc(&acc_a), o, cl.ip, amount));
                t = o + rng.range(MIN, 3 * MIN);
            }
        }
        assert!(
            total_a > 110_000,
            "A's orders must total well over ¥100,000"
        );

        // A notices that evening: the password no longer works, resets it from home.
        let home = self.home_client(a);
        let mut t = self
            .sim
            .page(clock::at(1, 21, 4, 40), 0, &home, "/login", "-")
            + 15 * SEC;
        t = self
            .sim
            .login(t, 0, &home, &acc_a, Login::Fail("bad_password"))
            + 21 * SEC;
        t = self
            .sim
            .login(t, 0, &home, &acc_a, Login::Fail("bad_password"))
            + 30 * SEC;
        self.legit_reset(&mut rng, 0, &home, &acc_a, t);

        // B: a swarm hit, e-mail changed 15 minutes later, three orders to the same drop.
        let b_login = self
            .sim
            .app
            .iter()
            .filter(|e| {
                e.event == "login"
                    && e.outcome == Some("success")
                    && e.account == acc_b
                    && e.ip == b_client.ip
            })
            .map(|e| e.t)
            .next()
            .unwrap_or(clock::at(1, 1, 37, 0));
        let bc = Client {
            ip: b_client.ip,
            ua: b_client.ua,
            bot: false,
        };
        let mut t = self.sim.page(
            b_login + 4 * SEC,
            1,
            &bc,
            "/mypage",
            &format!("{SITE}/login"),
        ) + 11 * MIN;
        t = self
            .sim
            .page(t, 1, &bc, "/account", &format!("{SITE}/mypage"))
            + 3 * MIN;
        let new_email = format!("mk{}.tmpbox@example.net", rng.range(1000, 9999));
        let t_email = t;
        t = self.sim.email_change(t, 1, &bc, &acc_b, &new_email) + 16 * MIN;
        for _ in 0..3 {
            t = self
                .sim
                .page(t, 1, &bc, &product(&mut rng), &format!("{SITE}/"))
                + rng.range(40 * SEC, 90 * SEC);
            let amount = rng.range(590, 940) as u32 * 10;
            let v = variants[rng.index(variants.len())].clone();
            let o = self.sim.order(
                t,
                1,
                &bc,
                &acc_b,
                amount,
                rng.one(&names::RESALE_SELLERS),
                &v,
            );
            order_log.push((lc(&acc_b), o, bc.ip, amount));
            t = o + rng.range(5 * MIN, 8 * MIN);
        }

        let (la, lb, lcc, ld) = (lc(&acc_a), lc(&acc_b), lc(&acc_c), lc(&acc_d));
        let n_a = order_log.iter().filter(|o| o.0 == la).count();
        self.truth.flag(
            "takeover.sequence",
            la.clone(),
            format!(
                "reset requested+completed from {linode} (AS63949, new) 11-19 {}, address change to the drop 11-19 {}, {n_a} marketplace orders ¥{total_a} from new JP proxies 11-20 {}–{}",
                clock::hms(t_req),
                clock::hms(t_addr),
                clock::hms(first_order_a),
                clock::hms(last_order_a)
            ),
        );
        self.truth.flag(
            "takeover.sequence",
            lb.clone(),
            format!(
                "login from new swarm address {} 11-20 {}, email_change {}, 3 marketplace orders to the drop from the same address",
                bc.ip,
                clock::hms(b_login),
                clock::hms(t_email)
            ),
        );
        self.truth.flag(
            "orders.bulk",
            la.clone(),
            format!("{n_a} marketplace orders, ¥{total_a}, 11-20 {}–{}, to a ship-to new to the account", clock::hms(first_order_a), clock::hms(last_order_a)),
        );
        let accounts: std::collections::BTreeSet<&String> =
            order_log.iter().map(|o| &o.0).collect();
        self.truth.flag(
            "orders.drop_address",
            drop_hash.clone(),
            format!(
                "drop address: {} orders from {} accounts (A, B, C, D) 11-20 {}–{}",
                order_log.len(),
                accounts.len(),
                clock::hms(order_log.iter().map(|o| o.1).min().unwrap_or(0)),
                clock::hms(order_log.iter().map(|o| o.1).max().unwrap_or(0))
            ),
        );
        self.truth.scenario(
            "5. Account takeover and drop-address orders (`takeover.sequence`, `orders.bulk`, `orders.drop_address`)",
            format!(
                "Victim A `{la}` (usual address `{}`):\n\n\
                 - 2026-11-19 {} +09:00 `password_reset_request` from `{linode}` (AS63949, a hosting \
                   address new to A; A never asked for the code), {} `password_reset_complete` success, \
                   {} login from the same address;\n\
                 - {} `address_change` to the drop address (2 h later);\n\
                 - 2026-11-20 {}–{} (13 h later) {n_a} marketplace orders, ¥{total_a} in total, to the \
                   drop, from three Japanese residential addresses new to A (`{}`, `{}`, `{}`), each \
                   after a login;\n\
                 - 2026-11-20 21:05 A fails to log in from home twice, resets the password from home.\n\n\
                 Victim B `{lb}`: a swarm hit at {} from `{}`, `email_change` at {} to an attacker \
                 mailbox, then 3 marketplace orders to the drop from the same address.\n\n\
                 Victims C `{lcc}` and D `{ld}` (hits of scenario 1) log in from the first two \
                 proxies on 2026-11-20 at {} and {} and order to the drop (2 and 1 orders), without \
                 any account change.\n\n\
                 The drop address hashes to `{drop_hash}`; the orders spell it four ways (ASCII or \
                 full-width space, `B棟`/`b棟`, a trailing `、`), all equal after `AddressHash` \
                 normalization.",
                self.customers[a].home,
                clock::hms(t_req),
                clock::hms(t_done),
                clock::hms(t_login),
                clock::hms(t_addr),
                clock::hms(first_order_a),
                clock::hms(last_order_a),
                proxies[0],
                proxies[1],
                proxies[2],
                clock::hms(b_login),
                bc.ip,
                clock::hms(t_email),
                clock::hms(cd_login[0]),
                clock::hms(cd_login[1]),
            ),
        );
    }

    /// 4. One customer's account hammered: 40 failures in 20 minutes from 12 addresses.
    fn bruteforce(&mut self, plan: &mut Plan, f: usize) {
        let mut rng = self.rng("bruteforce");
        let mut idx: Vec<usize> = (0..RESIDENTIAL.len()).collect();
        rng.shuffle(&mut idx);
        let ips: Vec<IpAddr> = idx[..12]
            .iter()
            .map(|i| self.pool.v4(&mut rng, RESIDENTIAL[*i].0, false))
            .collect();
        let acc = self.customers[f].account.clone();
        let start = clock::at(1, 22, 10, 0);
        let mut times: Vec<i64> = (0..40)
            .map(|_| start + rng.range(0, 19 * MIN + 30 * SEC))
            .collect();
        times.sort_unstable();
        times[0] = start;
        for (n, t) in times.iter().enumerate() {
            let c = Client {
                ip: ips[n % 12],
                ua: names::UA_TOOL[1],
                bot: true,
            };
            // The shop locks the account after 10 bad passwords; the tool keeps going.
            let r = if n < 10 {
                Login::Fail("bad_password")
            } else {
                Login::Fail("locked")
            };
            let typed = if n % 2 == 1 {
                capitalize(&acc)
            } else {
                acc.clone()
            };
            self.sim.login(*t, rng.below(2) as u8, &c, &typed, r);
        }
        let end = times[39];
        plan.windows.push(("bruteforce.account", start, end));
        let la = lc(&acc);
        self.truth.flag(
            "bruteforce.account",
            la.clone(),
            format!("40 failed logins (10 bad_password, then 30 locked) from 12 addresses in 12 countries' ISPs, 11-20 {}–{}", clock::hms(start), clock::hms(end)),
        );
        self.truth.scenario(
            "4. One account hammered (`bruteforce.account`)",
            format!(
                "2026-11-20 {}–{} +09:00. `{la}` fails 40 times from 12 residential addresses \
                 (round robin, e.g. `{}`, `{}`): 10 `bad_password`, then the shop locks the account and \
                 30 more attempts fail with `locked`. Half the attempts type the account with a capital \
                 letter (`{}`): counting them as one account needs the normalization of events.md.",
                clock::hms(start),
                clock::hms(end),
                ips[0],
                ips[1],
                capitalize(&acc)
            ),
        );
    }

    /// 6a. One address requests resets for 60 accounts in 10 minutes.
    fn reset_flood_ip(&mut self, plan: &mut Plan) {
        let mut rng = self.rng("reset.ip");
        let ip = self.pool.v4(&mut rng, 24940, true);
        let c = Client {
            ip,
            ua: names::UA_TOOL[4],
            bot: true,
        };
        let mut ord = self.ordinary();
        rng.shuffle(&mut ord);
        let mut reqs: Vec<(String, bool)> = ord[..12]
            .iter()
            .map(|i| (self.customers[*i].account.clone(), true))
            .collect();
        for _ in 0..48 {
            let a = self.fresh_account(&mut rng, false, false);
            reqs.push((a, false));
        }
        rng.shuffle(&mut reqs);
        for _ in 0..4 {
            let k = rng.index(reqs.len() - 3);
            let again = reqs[k].clone();
            reqs.insert(k + 2, again);
        }
        let start = clock::at(0, 16, 20, 10);
        let mut t = start;
        for (acc, known) in &reqs {
            self.sim
                .reset_request(t, rng.below(2) as u8, &c, acc, *known);
            t += rng.range(6 * SEC, 11 * SEC);
        }
        let end = t;
        plan.windows.push(("reset.flood ip", start, end));
        let org = self.pool.table().org(24940);
        self.truth.flag(
            "reset.flood",
            ip.to_string(),
            format!(
                "AS24940 {org}: {} reset requests for 60 accounts (48 unknown) 11-19 {}–{}",
                reqs.len(),
                clock::hms(start),
                clock::hms(end)
            ),
        );
        self.truth.scenario(
            "6a. Reset-code flood from one address (`reset.flood`, ip)",
            format!(
                "2026-11-19 {}–{} +09:00. `{ip}` (AS24940 {org}, `python-requests`) posts \
                 `/password/forgot` {} times for 60 distinct accounts: 48 unknown (`failure`, \
                 `unknown_account`), 12 real customers who receive a security code they never asked for.",
                clock::hms(start),
                clock::hms(end),
                reqs.len()
            ),
        );
    }

    /// 6b. One account receives 15 reset codes in 30 minutes, with failed code entries.
    fn reset_flood_account(&mut self, plan: &mut Plan, e: usize) {
        let mut rng = self.rng("reset.account");
        let ips: Vec<IpAddr> = (0..5)
            .map(|_| self.pool.v4(&mut rng, 20473, true))
            .collect();
        let acc = self.customers[e].account.clone();
        let start = clock::at(1, 19, 5, 0);
        let mut t = start;
        let mut fails = 0;
        for n in 0..15 {
            let c = Client {
                ip: ips[n / 3],
                ua: names::UA_TOOL[1],
                bot: true,
            };
            let srv = rng.below(2) as u8;
            t = self.sim.reset_request(t, srv, &c, &acc, true);
            if n % 3 != 0 {
                t += rng.range(15 * SEC, 45 * SEC);
                t = self.sim.reset_complete(t, srv, &c, &acc, false);
                fails += 1;
            }
            t += rng.range(50 * SEC, 95 * SEC);
        }
        let end = t;
        plan.windows.push(("reset.flood account", start, end));
        let la = lc(&acc);
        self.truth.flag(
            "reset.flood",
            la.clone(),
            format!("15 reset codes and {fails} failed code entries from 5 AS20473 addresses, 11-20 {}–{}", clock::hms(start), clock::hms(end)),
        );
        self.truth.scenario(
            "6b. Reset-code flood against one account (`reset.flood`, account)",
            format!(
                "2026-11-20 {}–{} +09:00. `{la}` receives 15 security codes requested from 5 \
                 addresses of AS20473 ({}) — 3 each, e.g. `{}` — and {fails} wrong codes are entered \
                 (`password_reset_complete` failure). The victim never asked for any of them.",
                clock::hms(start),
                clock::hms(end),
                self.pool.table().org(20473),
                ips[0]
            ),
        );
    }

    /// 7a. A corporate NAT address: ~300 employees log in over a workday, a handful of typos.
    fn corporate(&mut self) {
        let mut rng = self.rng("corporate");
        let ip = self.pool.v4(&mut rng, 2497, true);
        let mut accounts = Vec::new();
        for _ in 0..300 {
            accounts.push(self.fresh_account(&mut rng, true, true));
        }
        let typos: Vec<usize> = {
            let mut v: Vec<usize> = (0..300).collect();
            rng.shuffle(&mut v);
            v[..6].to_vec()
        };
        let mut logins = 0;
        for (n, acc) in accounts.iter().enumerate() {
            let ua = *rng.pick(&names::UA_DESKTOP[..3]);
            let c = Client { ip, ua, bot: false };
            let first = if rng.chance(0.7) {
                clock::at(0, 8, 45, 0) + rng.range(0, 105 * MIN)
            } else {
                clock::at(0, 10, 30, 0) + rng.range(0, 7 * 60 * MIN)
            };
            let mut times = vec![first];
            if first < clock::at(0, 12, 45, 0) && rng.chance(0.35) {
                times.push(clock::at(0, 12, 45, 0) + rng.range(0, 105 * MIN));
            }
            for (k, t0) in times.into_iter().enumerate() {
                let srv = rng.below(2) as u8;
                let mut t =
                    self.sim.page(t0, srv, &c, "/login", "-") + rng.range(5 * SEC, 20 * SEC);
                if k == 0 && typos.contains(&n) {
                    t = self.sim.login(t, srv, &c, acc, Login::Fail("bad_password"))
                        + rng.range(15 * SEC, 40 * SEC);
                }
                t = self.sim.login(t, srv, &c, acc, Login::Ok) + rng.range(300, 900);
                self.sim
                    .page(t, srv, &c, "/mypage", &format!("{SITE}/login"));
                logins += 1;
            }
        }
        self.truth.negative(
            "ip",
            ip.to_string(),
            format!("corporate NAT (AS2497 IIJ): 300 accounts, {logins} successful logins 11-19 08:45–17:30, 6 bad_password typos each followed by success"),
        );
        self.truth.scenario(
            "7a. Corporate NAT (negative)",
            format!(
                "2026-11-19 08:45–17:30 +09:00. `{ip}` (AS2497, IIJ) is one office's NAT: 300 \
                 employees' accounts log in successfully ({logins} logins; see the measured table for \
                 the morning peak) with 6 `bad_password` typos, each followed by a success. Many \
                 accounts per address, almost no failures."
            ),
        );
    }

    /// 7b–g. The other look-alikes.
    #[allow(clippy::too_many_arguments)]
    fn negatives(
        &mut self,
        plan: &mut Plan,
        g: usize,
        h: usize,
        i: usize,
        j: usize,
        k1: usize,
        k2: usize,
    ) {
        let mut rng = self.rng("negatives");

        // Mobile CGNAT: noted here; the traffic is the phones' background sessions.
        let cg = self.cgnat.clone();
        for ip in &cg {
            self.truth.negative("ip", ip.to_string(), "NTT DOCOMO CGNAT address shared by many customers' phones (background logins, ordinary typos only)");
        }
        self.truth.negative("asn", "9605", "NTT DOCOMO: many accounts behind a few CGNAT addresses, failures at the background rate");
        for (asn, name) in [(4713, "NTT OCN"), (2516, "KDDI"), (17676, "SoftBank")] {
            self.truth.negative(
                "asn",
                asn.to_string(),
                format!(
                    "{name}: customers' home ISP, background failures only (typos, list noise)"
                ),
            );
        }
        let top = plan.swarm_top_asn;
        self.truth.negative(
            "asn",
            top.to_string(),
            format!("largest single-ASN share of the residential proxy swarm ({}): a handful of addresses per 30 min; the swarm is stuffing.global, not stuffing.asn", self.pool.table().org(top)),
        );

        // The mover: new address and an order to it, from the usual address, no reset.
        let acc_h = self.customers[h].account.clone();
        let home = self.home_client(h);
        let new_addr = names::jp_address(&mut rng);
        let t0 = clock::at(1, 19, 50, 12);
        let mut t = self.sim.page(t0, 0, &home, "/login", "-") + 14 * SEC;
        t = self.sim.login(t, 0, &home, &acc_h, Login::Ok) + 2 * SEC;
        t = self
            .sim
            .page(t, 0, &home, "/account/address", &format!("{SITE}/mypage"))
            + 95 * SEC;
        let t_move = t;
        t = self.sim.address_change(t, 0, &home, &acc_h, &new_addr) + 7 * MIN;
        t = self
            .sim
            .page(t, 0, &home, &product(&mut rng), &format!("{SITE}/"))
            + 2 * MIN;
        self.sim
            .order(t, 0, &home, &acc_h, 4_280, FIRST_PARTY, &new_addr);
        self.customers[h].ship_to = new_addr.clone();
        let lh = lc(&acc_h);
        self.truth.negative("account", lh.clone(), format!("moves house: address_change 11-20 {} and a first-party order to it from the usual address {}, no reset", clock::hms(t_move), home.ip));

        // The bulk buyer: 10 first-party orders to the usual ship-to from the usual address.
        let acc_g = self.customers[g].account.clone();
        let home = self.home_client(g);
        let ship = self.customers[g].ship_to.clone();
        let mut t = self
            .sim
            .page(clock::at(1, 10, 4, 31), 1, &home, "/login", "-")
            + 9 * SEC;
        t = self.sim.login(t, 1, &home, &acc_g, Login::Ok) + MIN;
        let mut total = 0;
        for _ in 0..10 {
            t = self
                .sim
                .page(t, 1, &home, &product(&mut rng), &format!("{SITE}/mypage"))
                + rng.range(MIN, 3 * MIN);
            let amount = rng.range(398, 880) as u32 * 10;
            total += amount;
            t = self
                .sim
                .order(t, 1, &home, &acc_g, amount, FIRST_PARTY, &ship)
                + rng.range(90 * SEC, 150 * SEC);
        }
        let lg = lc(&acc_g);
        plan.bulk_negative = lg.clone();
        self.truth.negative("account", lg.clone(), format!("bulk buyer: 10 first-party orders (¥{total}) 11-20 10:05–11:00 from the usual address to the usual ship-to"));
        self.truth.negative(
            "ship_to",
            ship_hash(&ship),
            "the bulk buyer's own usual ship-to (one account)",
        );

        // The resetter: resets the password from home, logs in, does nothing else.
        let acc_i = self.customers[i].account.clone();
        let home = self.home_client(i);
        let t = self
            .sim
            .page(clock::at(0, 12, 31, 2), 0, &home, "/login", "-")
            + 20 * SEC;
        self.legit_reset(&mut rng, 0, &home, &acc_i, t);
        let li = lc(&acc_i);
        self.truth.negative(
            "account",
            li.clone(),
            "resets the password from the usual address 11-19 12:31, logs in, nothing else",
        );

        // The mistyper: three bad passwords, then success, from home.
        let acc_j = self.customers[j].account.clone();
        let home = self.home_client(j);
        let mut t = self
            .sim
            .page(clock::at(0, 20, 14, 5), 1, &home, "/login", "-")
            + 16 * SEC;
        for gap in [27, 42, 32] {
            t = self
                .sim
                .login(t, 1, &home, &acc_j, Login::Fail("bad_password"))
                + gap * SEC;
        }
        t = self.sim.login(t, 1, &home, &acc_j, Login::Ok) + SEC;
        self.sim
            .page(t, 1, &home, "/mypage", &format!("{SITE}/login"));
        let lj = lc(&acc_j);
        self.truth.negative(
            "account",
            lj.clone(),
            "mistypes the password 3 times, then succeeds, from the usual address (11-19 20:14)",
        );

        // The household: two accounts, one home, one ship-to.
        let c1 = self.home_client(k1);
        self.session(
            &mut rng,
            k1,
            clock::at(0, 19, 21, 40),
            c1,
            Some((true, true)),
        );
        let c2 = self.home_client(k2);
        self.session(
            &mut rng,
            k2,
            clock::at(1, 20, 33, 9),
            c2,
            Some((true, true)),
        );
        let hh = ship_hash(&self.customers[k1].ship_to);
        self.truth.negative(
            "ship_to",
            hh.clone(),
            "a household: two accounts order to their shared home from their shared address",
        );
        self.truth.negative(
            "ship_to",
            ship_hash(&new_addr),
            "the mover's new address (one account)",
        );

        let (lk1, lk2) = (
            lc(&self.customers[k1].account),
            lc(&self.customers[k2].account),
        );
        self.truth.scenario(
            "7b. Other look-alikes (negatives)",
            format!(
                "- Mobile CGNAT: {} NTT DOCOMO addresses in one /24 (`{}` …) carry the phones of \
                   the {} customers on DOCOMO: many accounts per address, ordinary failure rate.\n\
                 - Mover `{lh}`: 2026-11-20 {} `address_change` and a first-party order to the new \
                   address, from the usual address, no reset.\n\
                 - Bulk buyer `{lg}`: 2026-11-20 10:05–11:00, 10 first-party orders (¥{total}, \
                   `marketplace=false`) from the usual address to the usual ship-to.\n\
                 - Resetter `{li}`: 2026-11-19 12:31 resets the password from home, logs in, nothing \
                   else.\n\
                 - Mistyper `{lj}`: 2026-11-19 20:14 three `bad_password`, then success, from home.\n\
                 - Household `{lk1}` and `{lk2}`: one home address, one ship-to (`{hh}`), an order \
                   each.",
                cg.len(),
                cg[0],
                self.customers.iter().filter(|c| c.docomo).count(),
                clock::hms(t_move),
            ),
        );
    }
}
