//! The generator checks its own output before writing the answer key: for each rule it measures
//! the planted entities and the strongest look-alike with plain sliding windows, and refuses to
//! write sample logs where an attack is not clearly above, or a look-alike not clearly below,
//! the thresholds the lead's detectors use by default (10-minute window, 20 distinct failing
//! accounts per address for `stuffing.ip`, similar margins elsewhere).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use credwatch::event::lossless_text;

use crate::attacks::{Plan, ship_hash};
use crate::clock::{self, MIN};
use crate::world::{RESIDENTIAL, World};

/// Measurements (markdown lines for the README) and violated expectations.
#[derive(Debug, Default)]
pub struct Report {
    /// Markdown table rows.
    pub rows: Vec<String>,
    /// Expectations that failed.
    pub errors: Vec<String>,
    /// Markdown table rows for the negatives.
    pub neg_rows: Vec<String>,
    /// Baseline failed logins per minute: (median, p95, max) outside the bursts.
    pub baseline: (usize, usize, usize),
}

/// Max over time of the number of distinct values per key inside a sliding window.
/// `ev` must be sorted by time.
fn max_distinct<K: Ord + Clone, V: Ord + Clone>(
    ev: &[(i64, K, V)],
    window: i64,
) -> BTreeMap<K, usize> {
    let mut by_key: BTreeMap<K, Vec<(i64, V)>> = BTreeMap::new();
    for (t, k, v) in ev {
        by_key.entry(k.clone()).or_default().push((*t, v.clone()));
    }
    let mut out = BTreeMap::new();
    for (k, list) in by_key {
        let mut counts: BTreeMap<&V, usize> = BTreeMap::new();
        let mut lo = 0;
        let mut best = 0;
        for hi in 0..list.len() {
            *counts.entry(&list[hi].1).or_default() += 1;
            while list[hi].0 - list[lo].0 > window {
                let c = counts.entry(&list[lo].1).or_default();
                *c -= 1;
                if *c == 0 {
                    counts.remove(&list[lo].1);
                }
                lo += 1;
            }
            best = best.max(counts.len());
        }
        out.insert(k, best);
    }
    out
}

/// Max over time of the summed weights per key inside a sliding window (sorted input).
fn max_sum<K: Ord + Clone>(ev: &[(i64, K, u32)], window: i64) -> BTreeMap<K, u32> {
    let mut by_key: BTreeMap<K, Vec<(i64, u32)>> = BTreeMap::new();
    for (t, k, w) in ev {
        by_key.entry(k.clone()).or_default().push((*t, *w));
    }
    let mut out = BTreeMap::new();
    for (k, list) in by_key {
        let (mut lo, mut sum, mut best) = (0, 0u32, 0u32);
        for hi in 0..list.len() {
            sum += list[hi].1;
            while list[hi].0 - list[lo].0 > window {
                sum -= list[lo].1;
                lo += 1;
            }
            best = best.max(sum);
        }
        out.insert(k, best);
    }
    out
}

/// The planted value and the largest other value (with its key).
fn split<K: Ord + Clone + ToString, V: Ord + Copy + Default>(
    m: &BTreeMap<K, V>,
    planted: &BTreeSet<String>,
) -> (Vec<(String, V)>, (String, V)) {
    let mut p = Vec::new();
    let mut other = (String::from("-"), V::default());
    for (k, v) in m {
        let ks = k.to_string();
        if planted.contains(&ks) {
            p.push((ks, *v));
        } else if *v > other.1 {
            other = (ks, *v);
        }
    }
    (p, other)
}

fn norm(a: &str) -> String {
    lossless_text(a.trim().as_bytes()).to_lowercase()
}

/// Runs every check.
pub fn run(w: &World, plan: &Plan) -> Report {
    let mut r = Report::default();
    let table = w.pool.table();
    let planted = |rule: &str| -> BTreeSet<String> {
        w.truth
            .rules
            .iter()
            .filter(|(id, _)| *id == rule)
            .flat_map(|(_, v)| v.iter().map(|e| e.value.clone()))
            .collect()
    };

    // Failed and successful logins from both the app and sshd; the web log carries the same
    // logins without accounts and is left out so nothing counts twice.
    let mut fails: Vec<(i64, IpAddr, String, bool, u32)> = Vec::new();
    let mut oks: Vec<(i64, IpAddr, String)> = Vec::new();
    for e in &w.sim.app {
        if e.event != "login" {
            continue;
        }
        match e.outcome {
            Some("failure") => fails.push((
                e.t,
                e.ip,
                norm(&e.account),
                e.reason == Some("unknown_account"),
                1,
            )),
            Some("success") => oks.push((e.t, e.ip, norm(&e.account))),
            _ => {}
        }
    }
    for a in &w.sim.ssh_auth {
        if a.ok {
            oks.push((a.t, a.ip, a.user.clone()));
        } else {
            fails.push((a.t, a.ip, a.user.clone(), a.invalid, a.repeat));
        }
    }
    fails.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    oks.sort();

    let mut row = |rule: &str, what: &str, planted: String, other: String| {
        r.rows
            .push(format!("| `{rule}` | {what} | {planted} | {other} |"));
    };
    let fmt_p = |p: &[(String, usize)]| {
        p.iter()
            .map(|(k, v)| format!("{v} (`{k}`)"))
            .collect::<Vec<_>>()
            .join(", ")
    };

    // stuffing.ip: distinct failing accounts per address in 10 minutes.
    let ev: Vec<(i64, String, String)> = fails
        .iter()
        .map(|f| (f.0, f.1.to_string(), f.2.clone()))
        .collect();
    let m = max_distinct(&ev, 10 * MIN);
    let (p, o) = split(&m, &planted("stuffing.ip"));
    if p.len() != 2 || p.iter().any(|x| x.1 < 40) || o.1 > 10 {
        r.errors
            .push(format!("stuffing.ip: planted {p:?}, other {o:?}"));
    }
    row(
        "stuffing.ip",
        "distinct failing accounts per address, 10 min",
        fmt_p(&p),
        format!("{} (`{}`)", o.1, o.0),
    );

    // stuffing.asn: distinct failing addresses and accounts per ASN in 30 minutes.
    let asn_of = |ip: &IpAddr| table.asn_of(*ip).unwrap_or(0);
    let ev_ip: Vec<(i64, u32, IpAddr)> = fails.iter().map(|f| (f.0, asn_of(&f.1), f.1)).collect();
    let ev_acc: Vec<(i64, u32, String)> = fails
        .iter()
        .map(|f| (f.0, asn_of(&f.1), f.2.clone()))
        .collect();
    let mi_asn = max_distinct(&ev_ip, 30 * MIN);
    let ma_asn = max_distinct(&ev_acc, 30 * MIN);
    let (mi, ma) = (&mi_asn, &ma_asn);
    let pa = planted("stuffing.asn");
    let (pi, oi) = split(mi, &pa);
    let (pac, oa) = split(ma, &pa);
    let skip_single: BTreeSet<u32> = [14061, 132203].into_iter().collect();
    let (mut oi2, mut oa2) = ((String::from("-"), 0), (String::from("-"), 0));
    for (k, v) in mi {
        // One address per ASN is stuffing.ip's business, not stuffing.asn's.
        if !pa.contains(&k.to_string()) && !skip_single.contains(k) && *v > oi2.1 {
            oi2 = (k.to_string(), *v);
        }
    }
    for (k, v) in ma {
        if !pa.contains(&k.to_string()) && !skip_single.contains(k) && *v > oa2.1 {
            oa2 = (k.to_string(), *v);
        }
    }
    let _ = (oi, oa);
    if pi.iter().any(|x| x.1 < 50) || pac.iter().any(|x| x.1 < 150) || oi2.1 > 15 || oa2.1 > 30 {
        r.errors.push(format!(
            "stuffing.asn: planted {pi:?}/{pac:?}, other {oi2:?}/{oa2:?}"
        ));
    }
    row(
        "stuffing.asn",
        "distinct failing addresses / accounts per ASN, 30 min",
        format!(
            "{} / {} (AS{})",
            pi.first().map(|x| x.1).unwrap_or(0),
            pac.first().map(|x| x.1).unwrap_or(0),
            plan.asn_attack
        ),
        format!(
            "{} (AS{}) / {} (AS{}), not counting the single-address attackers",
            oi2.1, oi2.0, oa2.1, oa2.0
        ),
    );

    // stuffing.global: failed logins per minute, bursts against the baseline.
    let t0 = clock::t0();
    let mut per_min = vec![0usize; 48 * 60];
    for f in &fails {
        let k = ((f.0 - t0) / MIN) as usize;
        if k < per_min.len() {
            per_min[k] += f.4 as usize;
        }
    }
    let in_burst = |k: usize| {
        let t = t0 + k as i64 * MIN;
        plan.windows
            .iter()
            .any(|(_, s, e)| t >= *s - 5 * MIN && t <= *e + 5 * MIN)
    };
    let mut base: Vec<usize> = (0..per_min.len())
        .filter(|k| !in_burst(*k))
        .map(|k| per_min[k])
        .collect();
    base.sort_unstable();
    let med = base[base.len() / 2];
    let p95 = base[base.len() * 95 / 100];
    let max = *base.last().unwrap_or(&0);
    let mean_base = base.iter().sum::<usize>() as f64 / base.len() as f64;
    r.baseline = (med, p95, max);
    let (_, ss, se) = plan
        .windows
        .iter()
        .find(|w| w.0 == "stuffing.global")
        .copied()
        .unwrap_or(("", 0, 0));
    let sw: Vec<usize> = (0..per_min.len())
        .filter(|k| {
            let t = t0 + *k as i64 * MIN;
            t >= ss && t < se
        })
        .map(|k| per_min[k])
        .collect();
    let swarm_mean = sw.iter().sum::<usize>() as f64 / sw.len().max(1) as f64;
    if swarm_mean < 10.0 * mean_base {
        r.errors.push(format!(
            "stuffing.global: swarm {swarm_mean:.1}/min vs baseline {mean_base:.2}/min"
        ));
    }
    row(
        "stuffing.global",
        "failed logins per minute (app + sshd)",
        format!("{swarm_mean:.1}/min over 60 min (swarm)"),
        format!(
            "baseline mean {mean_base:.2}, median {med}, p95 {p95}, max {max} per minute outside the bursts"
        ),
    );

    // bruteforce.account: failures per account in 20 minutes.
    let ev: Vec<(i64, String, u32)> = fails.iter().map(|f| (f.0, f.2.clone(), f.4)).collect();
    let m = max_sum(&ev, 20 * MIN);
    let (p, o) = split(&m, &planted("bruteforce.account"));
    if p.len() != 1 || p[0].1 < 40 || o.1 > 10 {
        r.errors
            .push(format!("bruteforce.account: planted {p:?}, other {o:?}"));
    }
    row(
        "bruteforce.account",
        "failed logins per account, 20 min",
        p.iter()
            .map(|(k, v)| format!("{v} (`{k}`)"))
            .collect::<Vec<_>>()
            .join(", "),
        format!("{} (`{}`)", o.1, o.0),
    );

    // compromise.login: successes from the stuffing addresses, the attacking ASN, the swarm.
    // A detector may also distrust every ASN a stuffing alert names (the attackers' hosting
    // ASNs, the swarm's residential ASNs): no other success may come from them.
    let swarm: BTreeSet<IpAddr> = plan.swarm_ips.iter().copied().collect();
    let stuffing_ips = planted("stuffing.ip");
    let mut bad_asns: BTreeSet<u32> = RESIDENTIAL.iter().map(|r| r.0).collect();
    bad_asns.insert(plan.asn_attack);
    for ip in &stuffing_ips {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            bad_asns.extend(table.asn_of(ip));
        }
    }
    let mut hit: BTreeSet<String> = BTreeSet::new();
    for (_, ip, acc) in &oks {
        if stuffing_ips.contains(&ip.to_string())
            || swarm.contains(ip)
            || table.asn_of(*ip).is_some_and(|a| bad_asns.contains(&a))
        {
            hit.insert(acc.clone());
        }
    }
    let want = planted("compromise.login");
    if hit != want {
        r.errors.push(format!(
            "compromise.login: successes from stuffing sources {hit:?} != planted {want:?}"
        ));
    }
    row(
        "compromise.login",
        "accounts with a successful login from a stuffing address, or any ASN a stuffing scenario uses",
        format!("{} accounts", hit.len()),
        "none other".into(),
    );

    // reset.flood: distinct accounts per address in 10 minutes; codes per account in 30 minutes.
    let mut req_ip: Vec<(i64, String, String)> = Vec::new();
    let mut req_acc: Vec<(i64, String, u32)> = Vec::new();
    for e in &w.sim.app {
        if e.event == "password_reset_request" {
            req_ip.push((e.t, e.ip.to_string(), norm(&e.account)));
            req_acc.push((e.t, norm(&e.account), 1));
        } else if e.event == "password_reset_complete" && e.outcome == Some("failure") {
            req_acc.push((e.t, norm(&e.account), 1));
        }
    }
    req_ip.sort();
    req_acc.sort();
    let mi = max_distinct(&req_ip, 10 * MIN);
    let ma = max_sum(&req_acc, 30 * MIN);
    let pr = planted("reset.flood");
    let (pi, oi) = split(&mi, &pr);
    let (pa, oa) = split(&ma, &pr);
    if pi.len() != 1 || pi[0].1 < 50 || oi.1 > 3 || pa.len() != 1 || pa[0].1 < 20 || oa.1 > 4 {
        r.errors.push(format!(
            "reset.flood: planted {pi:?}/{pa:?}, other {oi:?}/{oa:?}"
        ));
    }
    row(
        "reset.flood",
        "distinct accounts per address with reset requests, 10 min",
        fmt_p(&pi),
        format!("{} (`{}`)", oi.1, oi.0),
    );
    row(
        "reset.flood",
        "reset codes + failed code entries per account, 30 min",
        pa.iter()
            .map(|(k, v)| format!("{v} (`{k}`)"))
            .collect::<Vec<_>>()
            .join(", "),
        format!("{} (`{}`)", oa.1, oa.0),
    );

    // Orders: per ship-to distinct accounts; per account counts and totals.
    let mut ship: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut per_acc: BTreeMap<String, (usize, usize, u32)> = BTreeMap::new();
    for e in &w.sim.app {
        if let Some(o) = &e.order {
            ship.entry(ship_hash(&o.ship_to))
                .or_default()
                .insert(norm(&e.account));
            let x = per_acc.entry(norm(&e.account)).or_default();
            x.0 += 1;
            x.1 += usize::from(o.marketplace);
            x.2 += o.amount;
        }
    }
    let m: BTreeMap<String, usize> = ship.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let (p, o) = split(&m, &planted("orders.drop_address"));
    if p.len() != 1 || p[0].1 < 4 || o.1 > 2 {
        r.errors
            .push(format!("orders.drop_address: planted {p:?}, other {o:?}"));
    }
    row(
        "orders.drop_address",
        "distinct accounts ordering to one ship-to, 48 h",
        fmt_p(&p),
        format!("{} (`{}`)", o.1, o.0),
    );
    let pb = planted("orders.bulk");
    let mut other = (String::from("-"), (0, 0, 0));
    for (k, v) in &per_acc {
        if !pb.contains(k) && *k != plan.bulk_negative && (v.1, v.0) > (other.1.1, other.1.0) {
            other = (k.clone(), *v);
        }
    }
    let pv: Vec<(String, (usize, usize, u32))> = per_acc
        .iter()
        .filter(|(k, _)| pb.contains(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if pv.len() != 1 || pv[0].1.1 < 12 || pv[0].1.2 <= 100_000 || other.1.1 > 3 || other.1.0 > 5 {
        r.errors
            .push(format!("orders.bulk: planted {pv:?}, other {other:?}"));
    }
    let g = per_acc
        .get(&plan.bulk_negative)
        .copied()
        .unwrap_or_default();
    row(
        "orders.bulk",
        "orders / marketplace orders / total yen per account, 48 h",
        pv.iter()
            .map(|(k, v)| format!("{} / {} / ¥{} (`{k}`)", v.0, v.1, v.2))
            .collect::<Vec<_>>()
            .join(", "),
        format!(
            "{} / {} / ¥{} (`{}`); the first-party bulk buyer {} / {} / ¥{}",
            other.1.0, other.1.1, other.1.2, other.0, g.0, g.1, g.2
        ),
    );

    // Negatives: addresses and ASNs that must stay quiet.
    let ok_ev: Vec<(i64, String, String)> = oks
        .iter()
        .map(|o| (o.0, o.1.to_string(), o.2.clone()))
        .collect();
    let ok_ip = max_distinct(&ok_ev, 10 * MIN);
    let fail_ip = max_distinct(
        &fails
            .iter()
            .map(|f| (f.0, f.1.to_string(), f.2.clone()))
            .collect::<Vec<_>>(),
        10 * MIN,
    );
    let mut all_acc: BTreeMap<String, BTreeSet<&String>> = BTreeMap::new();
    for (_, ip, acc) in &oks {
        all_acc.entry(ip.to_string()).or_default().insert(acc);
    }
    for (kind, e) in &w.truth.negatives {
        match *kind {
            "ip" => {
                let okm = ok_ip.get(&e.value).copied().unwrap_or(0);
                let fm = fail_ip.get(&e.value).copied().unwrap_or(0);
                let total = all_acc.get(&e.value).map(|s| s.len()).unwrap_or(0);
                if fm > 3 {
                    r.errors.push(format!(
                        "negative ip {}: {fm} failing accounts in 10 min",
                        e.value
                    ));
                }
                r.neg_rows.push(format!(
                    "| ip `{}` | {total} accounts with a successful login in 48 h; max {okm} in 10 min; max {fm} failing accounts in 10 min |",
                    e.value
                ));
            }
            "asn" => {
                let a: u32 = e.value.parse().unwrap_or(0);
                let ni = mi_asn.get(&a).copied().unwrap_or(0);
                let na = ma_asn.get(&a).copied().unwrap_or(0);
                if ni > 15 || na > 30 {
                    r.errors.push(format!(
                        "negative asn {}: {ni} addresses / {na} accounts failing in 30 min",
                        e.value
                    ));
                }
                r.neg_rows.push(format!(
                    "| asn `{}` | max {ni} failing addresses / {na} failing accounts in 30 min |",
                    e.value
                ));
            }
            _ => {}
        }
    }
    r
}
