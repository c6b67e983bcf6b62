//! Command-line arguments and their translation into a validated [`Config`].

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use credwatch::config::Config;
use credwatch::decode::Format;

const AFTER_HELP: &str = "\
Exit codes:
  0  the run finished (rejected lines are counted in the summary, not errors)
  1  alerts were found and --fail-on-alert was given
  2  usage error, bad config, unreadable or unrecognizable input, or a rejected line under --strict

Examples:
  credwatch scan /var/log/nginx/ app/auth.jsonl
  credwatch scan --asn-db GeoLite2-ASN.mmdb -o alerts.jsonl access.log.*.gz
  credwatch parse --rejects --format nginx access.log | head
  credwatch explain 370b2e56f4e20fcb sample-logs/";

/// credwatch: catches credential stuffing and account takeover in web and auth logs.
#[derive(Debug, Parser)]
#[command(name = "credwatch", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forensic scan: read logs, detect attacks, print alerts as JSON lines and a summary.
    #[command(after_help = AFTER_HELP)]
    Scan(ScanArgs),
    /// Decode logs and print each normalized event as a JSON line (check a format or config).
    #[command(after_help = AFTER_HELP)]
    Parse(ParseArgs),
    /// Print the events behind one alert (give the same inputs and options as the scan).
    #[command(after_help = AFTER_HELP)]
    Explain(ExplainArgs),
}

/// Options shared by every subcommand that reads logs.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Log files, directories (read recursively; gzip recognized by content), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Input format for every input: auto, access (nginx/apache), json, sshd, csv, tsv.
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    pub format: String,
    /// TOML config file (see credwatch.example.toml); built-in defaults otherwise.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// ASN database: MaxMind DB (GeoLite2-ASN) or start,end,asn,org CSV (plain or .gz); repeatable.
    #[arg(long = "asn-db", value_name = "FILE")]
    pub asn_db: Vec<PathBuf>,
    /// Memory for the detectors' state in MiB; beyond it the least recently active keys are evicted.
    #[arg(long = "memory-budget", value_name = "MB")]
    pub memory_budget: Option<u64>,
    /// Stop at the first rejected line and report it as path:line.
    #[arg(long)]
    pub strict: bool,
    /// Print no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `credwatch scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Inputs and decoding options.
    #[command(flatten)]
    pub input: InputArgs,
    /// Write alerts to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit with code 1 when any alert was found.
    #[arg(long)]
    pub fail_on_alert: bool,
}

/// `credwatch parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Inputs and decoding options.
    #[command(flatten)]
    pub input: InputArgs,
    /// Also print rejected lines with their reason.
    #[arg(long)]
    pub rejects: bool,
}

impl InputArgs {
    /// The config file (or the defaults) with the command-line overrides applied.
    pub fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !self.format.eq_ignore_ascii_case("auto") {
            let f: Format = self
                .format
                .parse()
                .map_err(anyhow::Error::msg)
                .context("--format")?;
            cfg.input.format = Some(f);
        }
        cfg.asn.db.extend(self.asn_db.iter().cloned());
        if let Some(mb) = self.memory_budget {
            anyhow::ensure!(mb > 0, "--memory-budget must be at least 1 (MiB)");
            cfg.limits.memory_budget_mb = mb;
        }
        Ok(cfg)
    }
}

/// `credwatch explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The alert's `id`, as printed by `scan`.
    #[arg(value_name = "ALERT_ID")]
    pub id: String,
    /// Inputs and decoding options (the same as for the scan that printed the alert).
    #[command(flatten)]
    pub input: InputArgs,
}
