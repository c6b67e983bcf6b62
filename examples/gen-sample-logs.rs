//! Generates credwatch's sample logs: a small, realistic, deterministic set of web, application
//! and sshd logs of a fictional Japanese web shop over 48 hours, reproducing credential stuffing
//! and account takeover incidents, with the expected alerts (`sample-logs/expected.toml`).
//!
//! ```sh
//! cargo run --release --example gen-sample-logs                      # writes sample-logs/
//! cargo run --release --example gen-sample-logs -- --seed 7 --out /tmp/s
//! cargo run --release --example gen-sample-logs -- bench --format nginx --lines 10000000 --out -
//! ```
//!
//! Options: `--out DIR` (default `sample-logs`), `--seed N` (default 20261119), `--asn-dir DIR`
//! (default `../shared/testdata/asn` next to the crate). Bench mode: `bench --format
//! nginx|json|sshd --lines N [--distinct-ips N | --flood] [--seed N] --out FILE|-`.
//! `--flood`: every line a failed login from a new address (a residential-proxy list attack).

#[path = "gen-sample-logs/asn.rs"]
mod asn;
#[path = "gen-sample-logs/attacks.rs"]
mod attacks;
#[path = "gen-sample-logs/bench.rs"]
mod bench;
#[path = "gen-sample-logs/check.rs"]
mod check;
#[path = "gen-sample-logs/clock.rs"]
mod clock;
#[path = "gen-sample-logs/model.rs"]
mod model;
#[path = "gen-sample-logs/names.rs"]
mod names;
#[path = "gen-sample-logs/output.rs"]
mod output;
#[path = "gen-sample-logs/readme.rs"]
mod readme;
#[path = "gen-sample-logs/rng.rs"]
mod rng;
#[path = "gen-sample-logs/sshd.rs"]
mod sshd;
#[path = "gen-sample-logs/world.rs"]
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

/// The default seed: the first day of the sample.
const DEFAULT_SEED: u64 = 20_261_119;

fn usage() -> ExitCode {
    eprintln!(
        "usage: gen-sample-logs [--out DIR] [--seed N] [--asn-dir DIR]\n       \
         gen-sample-logs bench --format nginx|json|sshd --lines N [--distinct-ips N | --flood] [--seed N] --out FILE|-"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench_mode = args.first().map(String::as_str) == Some("bench");
    let mut out: Option<String> = None;
    let mut seed = DEFAULT_SEED;
    let mut asn_dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/asn"
    ));
    let mut format = None;
    let mut lines: Option<u64> = None;
    let mut distinct = 200_000u64;
    let mut flood = false;
    let mut it = args.iter().skip(usize::from(bench_mode));
    while let Some(a) = it.next() {
        if bench_mode && a == "--flood" {
            flood = true;
            continue;
        }
        let Some(v) = it.next() else {
            return usage();
        };
        match a.as_str() {
            "--out" => out = Some(v.clone()),
            "--seed" => match v.parse() {
                Ok(n) => seed = n,
                Err(_) => return usage(),
            },
            "--asn-dir" if !bench_mode => asn_dir = PathBuf::from(v),
            "--format" if bench_mode => {
                format = Some(match v.as_str() {
                    "nginx" => bench::Format::Nginx,
                    "json" => bench::Format::Json,
                    "sshd" => bench::Format::Sshd,
                    _ => return usage(),
                })
            }
            "--lines" if bench_mode => match v.replace('_', "").parse() {
                Ok(n) => lines = Some(n),
                Err(_) => return usage(),
            },
            "--distinct-ips" if bench_mode => match v.replace('_', "").parse() {
                Ok(n) => distinct = n,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    if bench_mode {
        let (Some(format), Some(lines), Some(out)) = (format, lines, out) else {
            return usage();
        };
        let a = bench::BenchArgs {
            format,
            lines,
            distinct_ips: distinct,
            out,
            seed,
            flood,
        };
        return match bench::run(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gen-sample-logs bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match generate(
        &PathBuf::from(out.unwrap_or_else(|| "sample-logs".into())),
        seed,
        &asn_dir,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-sample-logs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &std::path::Path, seed: u64, asn_dir: &std::path::Path) -> Result<(), String> {
    let table = asn::AsnTable::load(asn_dir)
        .map_err(|e| format!("reading the ASN table in {}: {e}", asn_dir.display()))?;
    // Every network the scenarios draw from must be in the table.
    let fixed = [
        4713, 2516, 17676, 9605, 2497, 14061, 16276, 63949, 24940, 20473, 132203, 8075, 15169,
        16509, 4134,
    ];
    let missing: Vec<u32> = fixed
        .into_iter()
        .chain(world::RESIDENTIAL.iter().map(|r| r.0))
        .filter(|a| !table.has_v4(*a))
        .collect();
    if !missing.is_empty() {
        return Err(format!("ASNs missing from the table: {missing:?}"));
    }
    let mut w = world::World::new(seed, &table);
    w.make_customers(600);
    let mut plan = w.plant();
    w.background();
    w.crawlers();
    w.noise();
    let (s, e) = w.bastion();
    plan.windows.push(("sshd brute force", s, e));
    output::plant_dirt(&mut w);

    let report = check::run(&w, &plan);
    for row in &report.rows {
        eprintln!("{row}");
    }
    if !report.errors.is_empty() {
        return Err(format!(
            "the planted scenarios are not clear-cut:\n  {}",
            report.errors.join("\n  ")
        ));
    }

    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut written = output::write_logs(&w, out).map_err(|e| e.to_string())?;
    let extract = table.extract(w.pool.used());
    let asn_rows = extract.lines().count();
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(out.join("asn")).map_err(io)?;
    std::fs::write(out.join("asn/asn-extract.csv"), &extract).map_err(io)?;
    written
        .files
        .push(("asn/asn-extract.csv".into(), extract.len(), asn_rows));
    std::fs::write(out.join("asn/ATTRIBUTION.md"), output::ATTRIBUTION).map_err(io)?;
    let expected = output::expected_toml(&w, seed, &written);
    // The answer key must parse as TOML.
    expected
        .parse::<toml::Table>()
        .map_err(|e| format!("expected.toml does not parse: {e}"))?;
    std::fs::write(out.join("expected.toml"), &expected).map_err(io)?;
    let text = readme::readme(&w, &plan, &report, &written, seed, asn_rows);
    std::fs::write(out.join("README.md"), text).map_err(io)?;
    let total: usize = written.files.iter().map(|f| f.1).sum();
    eprintln!(
        "wrote {} ({} bytes of logs and ASN rows)",
        out.display(),
        total
    );
    Ok(())
}
