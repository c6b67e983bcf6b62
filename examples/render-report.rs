//! Renders the forensic report of some logs with the library API, the way `credwatch scan
//! --report FILE --csv-dir DIR` will once the CLI has the flags.
//!
//! ```text
//! cargo run --example render-report -- [--asn-db FILE]... [--report FILE] [--csv-dir DIR] PATH...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use credwatch::config::Config;
use credwatch::pipeline::{self, RunOptions};
use credwatch::report::{ReportConfig, ReportSink};
use credwatch::sink::Sink;

fn main() -> ExitCode {
    let mut cfg = Config::default();
    let mut report = ReportConfig::default();
    let mut paths = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--asn-db") => cfg.asn.db.extend(args.next().map(PathBuf::from)),
            Some("--report") => report.html = args.next().map(PathBuf::from),
            Some("--csv-dir") => report.csv_dir = args.next().map(PathBuf::from),
            Some("-h" | "--help") => {
                eprintln!(
                    "usage: render-report [--asn-db FILE]... [--report FILE] [--csv-dir DIR] PATH..."
                );
                return ExitCode::SUCCESS;
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        eprintln!("render-report: give at least one log file or directory (see --help)");
        return ExitCode::from(2);
    }
    if report.html.is_none() && report.csv_dir.is_none() {
        report.html = Some(PathBuf::from("report.html"));
    }
    let opts = RunOptions {
        paths,
        strict: false,
    };
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(ReportSink::new(report.clone()))];
    match pipeline::scan(&cfg, &opts, &mut sinks) {
        Ok(stats) => {
            eprint!("{}", stats.render());
            if let Some(p) = &report.html {
                eprintln!("report: {}", p.display());
            }
            if let Some(d) = &report.csv_dir {
                eprintln!("csv: {}", d.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("render-report: error: {e}");
            ExitCode::from(2)
        }
    }
}
