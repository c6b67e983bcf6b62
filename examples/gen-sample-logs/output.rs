//! Orders, damages and writes the files: the logs, the ASN extract and its attribution, the
//! answer key (expected.toml) and the README.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use crate::check::Report;
use crate::clock::{self, SEC};
use crate::model::{self, AppDirt, WebDirt, WebReq};
use crate::world::World;

/// One dirty line: file, 1-based line number, what is wrong.
#[derive(Debug, Clone)]
pub struct Dirty {
    /// Path relative to the output directory.
    pub source: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// Description.
    pub what: &'static str,
}

/// What was written.
#[derive(Debug, Default)]
pub struct Written {
    /// (path, bytes, lines).
    pub files: Vec<(String, usize, usize)>,
    /// The dirty lines.
    pub dirty: Vec<Dirty>,
    /// (line number, seconds early) of web2's out-of-order lines.
    pub out_of_order: Vec<(usize, i64)>,
}

/// Moves a line a few seconds later in web2, as two nginx workers flushing their access-log
/// buffers (`buffer=32k flush=5s`) do. Returns the line's new index and how early it is.
fn delay_line(lines: &mut Vec<WebReq>, anchor: i64) -> Option<(usize, i64)> {
    let start = lines.iter().position(|l| l.t >= anchor)?;
    for i in start..lines.len() {
        if lines[i].dirt.is_some() {
            continue;
        }
        // The first line at least 2 s later; accept if it is at most 5 s later.
        let j = (i + 1..lines.len()).find(|&j| lines[j].t >= lines[i].t + 2 * SEC)?;
        let gap = lines[j].t - lines[i].t;
        if gap <= 5 * SEC && lines[j].dirt.is_none() {
            let l = lines.remove(i);
            lines.insert(j, l);
            // The delayed line sits after the line at j-1 (old j); it is `gap` ms early.
            return Some((j, gap));
        }
    }
    None
}

fn write_file(out: &Path, rel: &str, bytes: &[u8], w: &mut Written) -> io::Result<()> {
    let p = out.join(rel);
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&p, bytes)?;
    let lines = bytes.iter().filter(|b| **b == b'\n').count()
        + usize::from(!bytes.ends_with(b"\n") && !bytes.is_empty());
    w.files.push((rel.to_string(), bytes.len(), lines));
    Ok(())
}

/// Writes the three kinds of logs; returns sizes, dirty lines and reordered lines.
pub fn write_logs(world: &World, out: &Path) -> io::Result<Written> {
    let mut w = Written::default();

    // Web: one file per server, ordered by the time nginx wrote each line.
    for (srv, rel) in [(0u8, "web1/access.log"), (1u8, "web2/access.log")] {
        let mut lines: Vec<WebReq> = world
            .sim
            .web
            .iter()
            .filter(|r| r.server == srv)
            .cloned()
            .collect();
        lines.sort_by_key(|l| l.t);
        if srv == 1 {
            for anchor in [clock::at(0, 10, 47, 0), clock::at(1, 15, 22, 0)] {
                if let Some((j, gap)) = delay_line(&mut lines, anchor) {
                    w.out_of_order.push((j + 1, gap / SEC));
                }
            }
        }
        let mut buf = Vec::with_capacity(lines.len() * 230);
        for (n, l) in lines.iter().enumerate() {
            model::render_web(l, &mut buf);
            if let Some((_, what)) = &l.dirt {
                w.dirty.push(Dirty {
                    source: rel,
                    line: n + 1,
                    what,
                });
            }
            buf.push(b'\n');
        }
        if srv == 1 {
            // The copy was taken while nginx was writing: no newline after the last line.
            buf.pop();
            w.dirty.push(Dirty {
                source: rel,
                line: lines.len(),
                what: "last line of the file has no trailing newline",
            });
        }
        write_file(out, rel, &buf, &mut w)?;
    }

    // App events in time order.
    let mut app: Vec<&model::AppEv> = world.sim.app.iter().collect();
    app.sort_by_key(|e| e.t);
    let mut buf = Vec::with_capacity(app.len() * 280);
    for (n, e) in app.iter().enumerate() {
        model::render_app(e, &mut buf);
        if let Some((_, what)) = &e.dirt {
            w.dirty.push(Dirty {
                source: "app/auth.jsonl",
                line: n + 1,
                what,
            });
        }
        buf.push(b'\n');
    }
    write_file(out, "app/auth.jsonl", &buf, &mut w)?;

    // sshd.
    let mut ssh: Vec<&model::SshLine> = world.sim.ssh.iter().collect();
    ssh.sort_by_key(|l| l.t_us);
    let mut buf = Vec::with_capacity(ssh.len() * 140);
    for (n, l) in ssh.iter().enumerate() {
        model::render_ssh(l, &mut buf);
        if l.nul_prefix > 0 {
            w.dirty.push(Dirty {
                source: "sshd/auth.log",
                line: n + 1,
                what: "1,536 NUL bytes before an otherwise valid CRON line (file system damage after a power loss)",
            });
        }
        buf.push(b'\n');
    }
    write_file(out, "sshd/auth.log", &buf, &mut w)?;
    w.dirty
        .sort_by(|a, b| (a.source, a.line).cmp(&(b.source, b.line)));
    Ok(w)
}

/// Plants the dirty lines (before writing).
pub fn plant_dirt(world: &mut World) {
    use crate::model::{Client, Login};
    let mut rng = world.rng("dirt");
    let ci = world.ordinary()[7];
    let home = world.home_client(ci);

    // web1: a page view cut in the middle of the user agent.
    world.sim.page(
        clock::at(0, 11, 3, 17),
        0,
        &home,
        "/products/48213",
        "https://www.google.com/",
    );
    let n = world.sim.web.len() - 1;
    world.sim.web[n].dirt = Some((
        WebDirt::Truncate(23),
        "truncated mid-field: cut inside the quoted user agent, no closing quote and no trailing fields",
    ));

    // web2: an in-house crawler whose user agent is Shift-JIS (written by a log_format with
    // escape=none; default nginx would print \xNN escapes).
    let crawler_ip = world.pool.v4(&mut rng, 2516, true);
    let c = Client {
        ip: crawler_ip,
        ua: "-",
        bot: true,
    };
    world
        .sim
        .page(clock::at(1, 8, 12, 40), 1, &c, "/category/104", "-");
    let n = world.sim.web.len() - 1;
    let mut ua = b"Mozilla/5.0 (compatible; ".to_vec();
    // 社内クローラ in Shift-JIS.
    ua.extend_from_slice(b"\x8e\xd0\x93\xe0\x83\x4e\x83\x8d\x81\x5b\x83\x89");
    ua.extend_from_slice(b"/1.0)");
    world.sim.web[n].dirt = Some((
        WebDirt::RawUa(ua),
        "invalid UTF-8: Shift-JIS bytes in the user agent (社内クローラ)",
    ));

    // app: a login whose account is a Shift-JIS name (田中), from a customer's home.
    let c2 = world.home_client(world.ordinary()[11]);
    world.sim.login(
        clock::at(0, 15, 47, 9),
        1,
        &c2,
        "tanaka",
        Login::Fail("unknown_account"),
    );
    let n = world.sim.app.len() - 1;
    world.sim.app[n].account = credwatch::event::lossless_text(b"\x93\x63\x92\x86").into_owned();
    world.sim.app[n].dirt = Some((
        AppDirt::RawAccount(b"\x93\x63\x92\x86".to_vec()),
        "invalid UTF-8: Shift-JIS account name (田中) inside a JSON string",
    ));

    // app: someone pasted a 100 KB blob into the login field; the app logged it verbatim.
    let scanner = world.pool.v4(&mut rng, 4134, true);
    let c3 = Client {
        ip: scanner,
        ua: crate::names::UA_TOOL[6],
        bot: true,
    };
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let blob: String = (0..102_400).map(|_| B64[rng.index(64)] as char).collect();
    world.sim.login(
        clock::at(1, 4, 20, 33),
        0,
        &c3,
        &blob,
        Login::Fail("unknown_account"),
    );
    let n = world.sim.app.len() - 1;
    world.sim.app[n].dirt = Some((
        AppDirt::Listed,
        "over-long line: a 100 KB account field (a pasted blob), about 100 KB in all",
    ));
    let _ = home;
}

/// The README's measured-figures table.
pub fn measured_table(rep: &Report) -> String {
    let mut s =
        String::from("| rule | measured | planted | strongest look-alike |\n|---|---|---|---|\n");
    for r in &rep.rows {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str(
        "\nNegatives (must stay below medium severity):\n\n| entity | measured |\n|---|---|\n",
    );
    for r in &rep.neg_rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// The rule ids of alerts.md, in its order.
pub const RULES: [&str; 9] = [
    "stuffing.ip",
    "stuffing.asn",
    "stuffing.global",
    "bruteforce.account",
    "compromise.login",
    "takeover.sequence",
    "orders.bulk",
    "orders.drop_address",
    "reset.flood",
];

/// Writes expected.toml.
pub fn expected_toml(world: &World, seed: u64, written: &Written) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Expected detections for credwatch's sample logs in this directory."
    );
    let _ = writeln!(
        s,
        "# Generated by `cargo run --release --example gen-sample-logs -- --seed {seed}`; do not edit by hand."
    );
    let _ = writeln!(
        s,
        "# Entity values follow spec/alerts.md: ip as text, asn as the number as text, account"
    );
    let _ = writeln!(
        s,
        "# lower case, ship_to as credwatch::event::AddressHash prints it, global \"*\"."
    );
    let _ = writeln!(
        s,
        "# [rules.X] entities: every one must get an alert of rule X. [negatives]: must not get any"
    );
    let _ = writeln!(
        s,
        "# alert of medium severity or above. [dirty]: lines a decoder must survive (file, 1-based line)."
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "[meta]");
    let _ = writeln!(s, "seed = {seed}");
    let _ = writeln!(s, "start = \"2026-11-19T00:00:00+09:00\"");
    let _ = writeln!(s, "end = \"2026-11-21T00:00:00+09:00\"");
    let _ = writeln!(s, "timezone = \"+09:00\"");
    for rule in RULES {
        let _ = writeln!(s);
        let _ = writeln!(s, "[rules.\"{rule}\"]");
        let _ = writeln!(s, "entities = [");
        if let Some((_, ents)) = world.truth.rules.iter().find(|(r, _)| *r == rule) {
            for e in ents {
                let _ = writeln!(s, "    \"{}\", # {}", e.value, e.note);
            }
        }
        let _ = writeln!(s, "]");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "[negatives]");
    for kind in ["ip", "asn", "account", "ship_to"] {
        let _ = writeln!(s, "{kind} = [");
        for (k, e) in &world.truth.negatives {
            if *k == kind {
                let _ = writeln!(s, "    \"{}\", # {}", e.value, e.note);
            }
        }
        let _ = writeln!(s, "]");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "[dirty]");
    let _ = writeln!(s, "lines = [");
    for d in &written.dirty {
        let _ = writeln!(
            s,
            "    {{ source = \"{}\", line = {}, what = \"{}\" }},",
            d.source, d.line, d.what
        );
    }
    let _ = writeln!(s, "]");
    s
}

/// The attribution the CC BY 4.0 licence of the ASN data requires.
pub const ATTRIBUTION: &str = "\
# Attribution for `asn-extract.csv`

`asn-extract.csv` is a small excerpt (the rows covering the client addresses used in these sample
logs, unchanged) of the **ip-location-db `asn` dataset** (<https://github.com/sapics/ip-location-db>,
files `asn-ipv4.csv` and `asn-ipv6.csv`, format `start,end,asn,org`, inclusive ranges, no header).

That dataset is built from, and attributed to:

- **RouteViews** — \"The IP to AS Number database created by Route Views is licensed under a
  Creative Commons Attribution 4.0 International License.\" Data from <https://www.routeviews.org/>.
- **DB-IP** — \"The free IP to ASN Lite database by DB-IP is licensed under a Creative Commons
  Attribution 4.0 International License.\" <a href='https://db-ip.com'>IP Geolocation by DB-IP</a>
  (most organization names come from DB-IP's IP to ASN Lite database).
- **NRO** — \"The statistics data provided by NRO is licensed under a Creative Commons Attribution
  4.0 International License. Copyright Holder: Number Resource Organization (NRO).\" Data from
  <https://www.nro.net/>.

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
<https://creativecommons.org/licenses/by/4.0/>.

Modifications: ip-location-db merged the sources (IPv4: RouteViews > the five RIRs' data > DB-IP;
IPv6: the five RIRs' data > DB-IP). credwatch's sample generator then selected the rows containing
the addresses it used; rows are copied verbatim, nothing else was changed. The addresses in the
sample logs themselves are synthetic picks from these real ranges: they do not record real
activity by anyone holding them.
";
