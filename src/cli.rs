//! Command-line arguments, one struct per command, and their translation into a [`Config`].
//!
//! Each command's struct holds only the flags that command honours, so `--help` offers nothing
//! that the command then refuses or ignores. Every choice parsed from a string is a
//! [`ValueEnum`], so clap lists the values in the help and rejects others as a usage error.
//! Converting arguments to a config is pure: the thread pool is built by `main`, once.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

use credwatch::config::Config;
use credwatch::decode::Format;
use credwatch::sink::WebhookFormat;

/// The help's exit codes and examples, per command. The examples are run by
/// `tests/cli/examples.rs`, parsed out of this very help text: keep them runnable from the
/// repository root, with `# exit N` after any that does not exit 0.
const TOP_HELP: &str = "\
Exit codes:
  0  the run finished (rejected lines are counted in the summary, not errors)
  1  alerts were found and --fail-on-alert was given (scan)
  2  usage error, bad config, unreadable or unrecognizable input, or a rejected line under --strict

Examples (each command's --help has more):
  credwatch scan sample-logs/
  credwatch parse --rejects --format access sample-logs/web1/access.log
  credwatch explain 970da41e95749af2 sample-logs/
  credwatch tail --state-dir /var/lib/credwatch /var/log/shop/auth.jsonl    # until SIGINT or SIGTERM";

const SCAN_HELP: &str = "\
Exit codes:
  0  the scan finished (rejected lines are counted in the summary, not errors)
  1  alerts were found and --fail-on-alert was given
  2  usage error, bad config, unreadable or unrecognizable input, or a rejected line under --strict

Examples:
  credwatch scan sample-logs/
  credwatch scan -q --fail-on-alert sample-logs/app/auth.jsonl    # exit 1: alerts found
  credwatch scan --asn-db sample-logs/asn/asn-extract.csv -o alerts.jsonl \\
      --report report.html --csv-dir report-csv/ sample-logs/
  credwatch scan --format access --strict sample-logs/web2/access.log";

const PARSE_HELP: &str = "\
Exit codes:
  0  every input was read (rejected lines are counted in the summary, not errors)
  2  usage error, bad config, unreadable or unrecognizable input, or a rejected line under --strict

Examples:
  credwatch parse --rejects --format access sample-logs/web1/access.log | head
  credwatch parse --strict sample-logs/app/auth.jsonl    # exit 2: line 5090 is too long";

const EXPLAIN_HELP: &str = "\
Exit codes:
  0  the alert was found and its events printed
  2  no alert with that id in these inputs, usage error, bad config or unreadable input

Examples:
  credwatch explain 970da41e95749af2 sample-logs/
  credwatch explain 0000000000000000 sample-logs/    # exit 2: no such alert";

const TAIL_HELP: &str = "\
Exit codes:
  0  stopped by SIGINT or SIGTERM after delivering pending alerts and writing the checkpoint
  2  usage error, bad config, or files that cannot be followed

Examples:
  credwatch tail --from-start --asn-db sample-logs/asn/asn-extract.csv sample-logs/app/auth.jsonl
  credwatch tail --state-dir /var/lib/credwatch --webhook https://hooks.example/credwatch \\
      '/var/log/nginx/*access.log' /var/log/shop/auth.jsonl";

/// credwatch: catches credential stuffing and account takeover in web and auth logs.
#[derive(Debug, Parser)]
#[command(name = "credwatch", version, after_help = TOP_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Operational log format on stderr (level from RUST_LOG, default info).
    #[arg(
        long = "log-format",
        value_name = "FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forensic scan: read logs, detect attacks, print alerts as JSON lines and a summary.
    #[command(after_help = SCAN_HELP)]
    Scan(ScanArgs),
    /// Decode logs and print each normalized event as a JSON line (check a format or config).
    #[command(after_help = PARSE_HELP)]
    Parse(ParseArgs),
    /// Print the events behind one alert (give the same inputs and options as the scan).
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Follow live logs as tail -F does (rotation, truncation, new files) and alert as they grow.
    #[command(after_help = TAIL_HELP)]
    Tail(TailArgs),
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `--format`: one format for every input, or `auto` to recognize each from its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Recognize each input's format from its first lines.
    Auto,
    /// nginx / Apache access logs (combined or common).
    #[value(
        alias = "nginx",
        alias = "apache",
        alias = "combined",
        alias = "common"
    )]
    Access,
    /// JSON lines (canonical schema or Elastic Common Schema).
    #[value(alias = "jsonl", alias = "ndjson", alias = "ecs")]
    Json,
    /// sshd / syslog auth logs.
    #[value(alias = "syslog")]
    Sshd,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
}

impl FormatArg {
    /// The library's format, `None` for `auto`.
    fn format(self) -> Option<Format> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Access => Some(Format::Access),
            FormatArg::Json => Some(Format::Json),
            FormatArg::Sshd => Some(Format::Sshd),
            FormatArg::Csv => Some(Format::Csv),
            FormatArg::Tsv => Some(Format::Tsv),
        }
    }
}

/// `--webhook-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookFormatArg {
    /// A JSON array of alerts.
    Json,
    /// Slack's `{"text": ...}` message.
    Slack,
}

impl From<WebhookFormatArg> for WebhookFormat {
    fn from(f: WebhookFormatArg) -> WebhookFormat {
        match f {
            WebhookFormatArg::Json => WebhookFormat::Json,
            WebhookFormatArg::Slack => WebhookFormat::Slack,
        }
    }
}

/// How inputs are decoded: every command that reads logs honours these.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Input format for every input.
    #[arg(long, value_name = "FORMAT", value_enum, ignore_case = true, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// TOML config file (see credwatch.example.toml); built-in defaults otherwise.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// ASN database: MaxMind DB (GeoLite2-ASN) or start,end,asn,org CSV (plain or .gz); repeatable.
    #[arg(long = "asn-db", value_name = "FILE")]
    pub asn_db: Vec<PathBuf>,
    /// Print no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl DecodeArgs {
    /// The config file (or the defaults) with these options applied.
    pub fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(f) = self.format.format() {
            cfg.input.format = Some(f);
        }
        cfg.asn.db.extend(self.asn_db.iter().cloned());
        Ok(cfg)
    }
}

/// Detection resources: the commands that run the detectors over a stream (scan, tail).
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Memory for the detectors' state in MiB; beyond it the least recently active keys are
    /// evicted (default: `[limits] memory_budget_mb`, 1024).
    #[arg(long = "memory-budget", value_name = "MB")]
    pub memory_budget: Option<NonZeroU64>,
    /// Worker threads for decoding and for the rules' shards (default: one per core). Alerts,
    /// their order and their ids are the same for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

impl EngineArgs {
    /// Applies `--memory-budget` to `cfg`.
    fn apply(&self, cfg: &mut Config) {
        if let Some(mb) = self.memory_budget {
            cfg.limits.memory_budget_mb = mb.get();
        }
    }
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
    /// Webhook body.
    #[arg(
        long = "webhook-format",
        value_name = "FORMAT",
        value_enum,
        ignore_case = true,
        requires = "webhooks"
    )]
    pub webhook_format: Option<WebhookFormatArg>,
    /// Read the webhook signing secret from FILE (instead of CREDWATCH_WEBHOOK_SECRET).
    #[arg(
        long = "webhook-secret-file",
        value_name = "FILE",
        requires = "webhooks"
    )]
    pub webhook_secret_file: Option<PathBuf>,
}

/// `credwatch scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Log files, directories (read recursively; gzip recognized by content), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Decoding options.
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Detection resources.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where alerts go.
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// Stop at the first rejected line and report it as path:line.
    #[arg(long)]
    pub strict: bool,
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

impl ScanArgs {
    /// The config with every option of the scan applied.
    pub fn config(&self) -> Result<Config> {
        let mut cfg = self.decode.config()?;
        self.engine.apply(&mut cfg);
        if self.report.is_some() {
            cfg.report.html = self.report.clone();
        }
        if self.csv_dir.is_some() {
            cfg.report.csv_dir = self.csv_dir.clone();
        }
        Ok(cfg)
    }
}

/// `credwatch tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Log files or glob patterns (quote them: re-expanded as files appear), or - for stdin.
    /// A file that does not exist yet is waited for.
    #[arg(required = true, value_name = "PATH|GLOB")]
    pub paths: Vec<PathBuf>,
    /// Decoding options.
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Detection resources.
    #[command(flatten)]
    pub engine: EngineArgs,
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
    #[arg(
        long = "checkpoint-interval",
        value_name = "SECS",
        default_value = "5",
        value_parser = positive_seconds
    )]
    pub checkpoint_interval: f64,
    /// Poll files instead of using inotify (network file systems).
    #[arg(long)]
    pub poll: bool,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

impl TailArgs {
    /// The config with every option of tail applied (the follow settings are `main`'s).
    pub fn config(&self) -> Result<Config> {
        let mut cfg = self.decode.config()?;
        self.engine.apply(&mut cfg);
        Ok(cfg)
    }
}

/// `--checkpoint-interval`: a positive, finite number of seconds.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// `credwatch parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Log files, directories (read recursively; gzip recognized by content), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Decoding options.
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Stop at the first rejected line and report it as path:line.
    #[arg(long)]
    pub strict: bool,
    /// Also print rejected lines with their reason.
    #[arg(long)]
    pub rejects: bool,
}

/// `credwatch explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The alert's `id`, as printed by `scan`.
    #[arg(value_name = "ALERT_ID")]
    pub id: String,
    /// The inputs of the scan that printed the alert (files, directories, or - for stdin).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Decoding options (the same as for the scan; a scan's --memory-budget goes in the
    /// config's `[limits]`).
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Stop at the first rejected line and report it as path:line.
    #[arg(long)]
    pub strict: bool,
}

impl Command {
    /// `--threads` of the commands that have it.
    pub fn threads(&self) -> Option<NonZeroUsize> {
        match self {
            Command::Scan(a) => a.engine.threads,
            Command::Tail(a) => a.engine.threads,
            Command::Parse(_) | Command::Explain(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("credwatch").chain(args.iter().copied()))
    }

    fn help(cmd: &str) -> String {
        let mut c = Cli::command();
        c.find_subcommand_mut(cmd)
            .unwrap_or_else(|| panic!("no command {cmd}"))
            .render_long_help()
            .to_string()
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Converting arguments to a config touches no global state (the rayon pool used to be
    /// built here): converting twice works and gives the same config.
    #[test]
    fn converting_arguments_twice_builds_no_pool() {
        let cli = parse(&["scan", "--threads", "3", "--memory-budget", "7", "x.log"]).unwrap();
        let Command::Scan(args) = &cli.command else {
            panic!("not scan")
        };
        let a = args.config().unwrap();
        let b = args.config().unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.limits.memory_budget_mb, 7);
        assert_eq!(cli.command.threads().map(NonZeroUsize::get), Some(3));
    }

    #[test]
    fn each_command_offers_only_what_it_honours() {
        let tail = help("tail");
        assert!(!tail.contains("--strict"), "{tail}");
        assert!(!tail.to_lowercase().contains("director"), "{tail}");
        assert!(parse(&["tail", "--strict", "x.log"]).is_err());
        for cmd in ["parse", "explain"] {
            let h = help(cmd);
            for flag in [
                "--threads",
                "--memory-budget",
                "--fail-on-alert",
                "--webhook",
            ] {
                assert!(!h.contains(flag), "{cmd} offers {flag}:\n{h}");
            }
        }
        assert!(parse(&["parse", "--threads", "2", "x.log"]).is_err());
        assert!(parse(&["explain", "--memory-budget", "2", "0", "x.log"]).is_err());
        assert!(parse(&["scan", "--threads", "0", "x.log"]).is_err());
        assert!(parse(&["scan", "--memory-budget", "0", "x.log"]).is_err());
        assert!(parse(&["tail", "--checkpoint-interval", "0", "x.log"]).is_err());
        assert!(parse(&["scan", "--webhook-format", "slack", "x.log"]).is_err());
    }

    #[test]
    fn enums_take_the_library_names_and_aliases() {
        for (arg, want) in [
            ("auto", None),
            ("nginx", Some(Format::Access)),
            ("ACCESS", Some(Format::Access)),
            ("ndjson", Some(Format::Json)),
            ("syslog", Some(Format::Sshd)),
            ("tsv", Some(Format::Tsv)),
        ] {
            let cli = parse(&["parse", "--format", arg, "x.log"]).unwrap();
            let Command::Parse(p) = cli.command else {
                panic!("not parse")
            };
            assert_eq!(p.decode.format.format(), want, "{arg}");
        }
        assert!(parse(&["parse", "--format", "xml", "x.log"]).is_err());
        let cli = parse(&[
            "--log-format",
            "json",
            "scan",
            "--webhook",
            "http://127.0.0.1:1/",
            "--webhook-format",
            "slack",
            "x.log",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        let Command::Scan(s) = cli.command else {
            panic!("not scan")
        };
        assert_eq!(
            s.alerts.webhook_format.map(WebhookFormat::from),
            Some(WebhookFormat::Slack)
        );
    }
}
