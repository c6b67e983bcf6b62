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
  credwatch explain 370b2e56f4e20fcb sample-logs/
  credwatch tail --state-dir /var/lib/credwatch --webhook https://hooks.example/credwatch \
      '/var/log/nginx/*access.log' /var/log/shop/auth.jsonl";

/// credwatch: catches credential stuffing and account takeover in web and auth logs.
#[derive(Debug, Parser)]
#[command(name = "credwatch", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Operational log format on stderr: text or json (level from RUST_LOG, default info).
    #[arg(
        long = "log-format",
        value_name = "FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
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
    /// Follow live logs as tail -F does (rotation, truncation, new files) and alert as they grow.
    #[command(after_help = AFTER_HELP)]
    Tail(TailArgs),
}

/// Where alerts go besides stdout (scan and tail).
#[derive(Debug, Args)]
pub struct AlertArgs {
    /// Write alerts (JSON lines) to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// POST alerts as JSON arrays to URL (repeatable). Signed with HMAC-SHA256 when the secret
    /// is set by CREDWATCH_WEBHOOK_SECRET or --webhook-secret-file.
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// Webhook body: json (an array of alerts) or slack ({"text": ...}).
    #[arg(long = "webhook-format", value_name = "FORMAT")]
    pub webhook_format: Option<String>,
    /// Read the webhook signing secret from FILE (instead of CREDWATCH_WEBHOOK_SECRET).
    #[arg(long = "webhook-secret-file", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

/// `credwatch tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Inputs and decoding options (paths may be globs, re-expanded as files appear).
    #[command(flatten)]
    pub input: InputArgs,
    /// Where alerts go.
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// Read the files that exist now from their beginning (default: from their end).
    #[arg(long = "from-start")]
    pub from_start: bool,
    /// Keep file offsets, detector state and the webhook spool in DIR, so a restart (even
    /// after kill -9) reads nothing twice, skips nothing and sends no alert twice.
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds between checkpoints (with --state-dir).
    #[arg(long = "checkpoint-interval", value_name = "SECS", default_value = "5")]
    pub checkpoint_interval: f64,
    /// Poll files instead of using inotify (network file systems).
    #[arg(long)]
    pub poll: bool,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
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
    /// Worker threads for decoding (default: one per core). Alerts, their order and their ids
    /// are the same for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `credwatch scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Inputs and decoding options.
    #[command(flatten)]
    pub input: InputArgs,
    /// Where alerts go.
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// Exit with code 1 when any alert was found.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// Write a self-contained HTML report (timeline, attack sources, compromised accounts,
    /// takeover timelines, every alert) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write alerts.csv, compromised_accounts.csv, attack_sources.csv and orders.csv into DIR.
    #[arg(long = "csv-dir", value_name = "DIR")]
    pub csv_dir: Option<PathBuf>,
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
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("credwatch-decode-{i}"))
                .build_global()
                .context("--threads")?;
        }
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
