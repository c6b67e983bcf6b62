//! The `credwatch` command: a thin layer over the library.

mod cli;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use credwatch::config::Config;
use credwatch::drivers::RunOptions;
use credwatch::drivers::{self, TailOptions};
use credwatch::error::{Error, SinkError};
use credwatch::metrics::{Metrics, MetricsServer};
use credwatch::sink::{JsonlSink, Sink, WebhookConfig, WebhookSink};
use credwatch::stats::RunStats;
use credwatch::time::wall_clock_now;

use cli::{AlertArgs, Cli, Command, LogFormat};

/// Every event owns its strings, allocated on a decoding thread and freed on the detection
/// thread; mimalloc's per-thread free lists make that cross-thread pattern cheap (glibc's
/// malloc spent about a fifth of a JSON scan in malloc/free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's run-time option setter (`mimalloc.h`), linked in with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in `mimalloc.h` (the same index in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// A scan frees and re-allocates tens of MB of decoded events every batch: with mimalloc's
/// default (emptied pages go back to the OS after 10 ms) the same pages were faulted in and
/// zeroed again and again, 67,000 to 126,000 page faults and up to a third of the CPU time in
/// the kernel on a 2 M-line JSON scan. 100 ms keeps them across batches (28,000–38,000
/// faults) and still returns a grown table's old buckets: never purging (-1, 500 faults) made
/// the 10 M-address flood's peak RSS 1,095 MB instead of 950. `tail` keeps the default so that
/// a burst's memory goes back. `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn keep_freed_pages_for_scan() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option (milliseconds); mimalloc reads it at each purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.log_format) {
        eprintln!("credwatch: error: {e:#}");
        return ExitCode::from(2);
    }
    if let Err(e) = build_thread_pool(cli.command.threads()) {
        eprintln!("credwatch: error: {}", render_error(&e));
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("credwatch: error: {}", render_error(&e));
            ExitCode::from(2)
        }
    }
}

/// Builds rayon's global pool, once, before any command runs: `--threads N` where the command
/// has it, else one thread per core (or `RAYON_NUM_THREADS`). Scan's parallel decode and every
/// command's sharded rules run on it.
fn build_thread_pool(threads: Option<NonZeroUsize>) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        // 0 is rayon's "default": RAYON_NUM_THREADS, else the number of cores.
        .num_threads(threads.map_or(0, NonZeroUsize::get))
        .thread_name(|i| format!("credwatch-worker-{i}"))
        .build_global()
        .context("building the thread pool (--threads)")
}

/// The error and its causes on one line, each cause once: library errors already name their
/// cause in their message (`path: No such file or directory`).
fn render_error(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

/// A closed stdout (`credwatch scan … | head`) is a normal way to stop reading.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(
                c.downcast_ref::<Error>(),
                Some(Error::Sink(SinkError::Io { source, .. })) if source.kind() == io::ErrorKind::BrokenPipe
            )
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => {
            keep_freed_pages_for_scan();
            let cfg = args.config()?;
            let progress: Option<Arc<dyn drivers::Progress>> = (!args.decode.quiet
                && io::stderr().is_terminal())
            .then(|| Arc::new(Bar::new()) as Arc<dyn drivers::Progress>);
            let opts = RunOptions {
                paths: args.paths.clone(),
                strict: args.strict,
                progress,
            };
            let (mut sinks, _) = build_sinks(&cfg, &args.alerts, None, true)?;
            if cfg.report.html.is_some() || cfg.report.csv_dir.is_some() {
                sinks.push(Box::new(credwatch::report::ReportSink::new(
                    cfg.report.clone(),
                )));
            }
            let stats = drivers::scan(&cfg, &opts, &mut sinks)?;
            if !args.decode.quiet {
                eprint!("{}", stats.render());
            }
            Ok(exit_code(&stats, args.fail_on_alert))
        }
        Command::Parse(args) => {
            let cfg = args.decode.config()?;
            let opts = RunOptions {
                paths: args.paths.clone(),
                strict: args.strict,
                progress: None,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let stats = drivers::parse(&cfg, &opts, args.rejects, &mut out)?;
            if !args.decode.quiet {
                eprint!("{}", stats.render());
            }
            Ok(exit_code(&stats, false))
        }
        Command::Tail(args) => run_tail(args),
        Command::Explain(args) => {
            let cfg = args.decode.config()?;
            let opts = RunOptions {
                paths: args.paths.clone(),
                strict: args.strict,
                progress: None,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let Some(found) = drivers::explain(&cfg, &opts, &args.id, &mut out)? else {
                anyhow::bail!(
                    "no alert with id {} in these inputs (explain needs the inputs and options of the scan that printed it)",
                    args.id
                );
            };
            if !args.decode.quiet {
                let a = &found.alert;
                eprintln!(
                    "{} {} {}: {}\n{} events of {} {} from {} to {}",
                    a.id,
                    a.rule,
                    a.severity.as_str(),
                    a.summary,
                    found.events,
                    a.entity.kind.as_str(),
                    a.entity.value,
                    a.first_seen,
                    a.last_seen
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The scan's progress bar on stderr (bytes, lines/s, ETA); a spinner when the inputs' size is
/// unknown (gzip, stdin).
#[derive(Debug)]
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        Bar(bar)
    }
}

impl drivers::Progress for Bar {
    fn start(&self, total_bytes: u64) {
        let style = if total_bytes > 0 {
            self.0.set_length(total_bytes);
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ETA {eta}"
        } else {
            "{spinner} [{elapsed_precise}] {bytes} read {msg}"
        };
        if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
            self.0.set_style(s);
        }
    }

    fn update(&self, bytes: u64, lines: u64) {
        self.0.set_position(bytes);
        let secs = self.0.elapsed().as_secs_f64().max(1e-3);
        self.0.set_message(format!(
            "{} lines ({:.2} M lines/s)",
            credwatch::alert::thousands(lines),
            lines as f64 / secs / 1e6
        ));
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Operational logs (tracing) on stderr, as text or JSON; RUST_LOG filters (default info).
fn init_logging(format: LogFormat) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr);
    match format {
        LogFormat::Text => builder.try_init().map_err(|e| anyhow::anyhow!("{e}")),
        LogFormat::Json => builder
            .json()
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}")),
    }
}

/// Each webhook's name (its URL without secrets) and counters.
type WebhookCounters = Vec<(String, Arc<credwatch::sink::WebhookStats>)>;

/// The JSON-lines sink (stdout or `-o FILE`) and one webhook sink per `--webhook URL`. Returns
/// the webhooks' counters too, for the metrics endpoint.
fn build_sinks(
    cfg: &Config,
    args: &AlertArgs,
    state_dir: Option<&std::path::Path>,
    flush_each: bool,
) -> Result<(Vec<Box<dyn Sink>>, WebhookCounters)> {
    let out: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(
            File::options()
                .create(true)
                .append(state_dir.is_some())
                .write(true)
                .truncate(state_dir.is_none())
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(io::stdout()),
    };
    let target = args
        .output
        .as_ref()
        .map_or("stdout".to_string(), |p| p.display().to_string());
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(JsonlSink::new(out, target, flush_each))];
    let mut stats = Vec::new();
    // (clap refuses --webhook-format and --webhook-secret-file without --webhook.)
    if args.webhooks.is_empty() {
        return Ok((sinks, stats));
    }
    let secret = credwatch::sink::load_secret(
        std::env::var("CREDWATCH_WEBHOOK_SECRET").ok(),
        args.webhook_secret_file.as_deref(),
    )?;
    for url in &args.webhooks {
        let mut wc: WebhookConfig = cfg.webhook.clone();
        wc.url = url.clone();
        if let Some(f) = args.webhook_format {
            wc.format = f.into();
        }
        wc.secret = secret.clone();
        wc.spool_dir = state_dir.map(|d| credwatch::sink::spool_dir_for(d, url));
        wc.validate()?;
        let sink = WebhookSink::new(wc)?;
        stats.push((credwatch::sink::webhook::redact(url), sink.stats()));
        sinks.push(Box::new(sink));
    }
    Ok((sinks, stats))
}

fn run_tail(args: cli::TailArgs) -> Result<ExitCode> {
    let cfg = args.config()?;
    let mut follow = cfg.tail.clone();
    follow.paths = args.paths.clone();
    follow.from_start |= args.from_start;
    if args.poll {
        follow.use_notify = false;
    }
    let opts = TailOptions {
        follow,
        state_dir: args.state_dir.clone(),
        checkpoint_interval: Duration::from_secs_f64(args.checkpoint_interval),
        ..TailOptions::default()
    };
    let (mut sinks, hooks) = build_sinks(&cfg, &args.alerts, args.state_dir.as_deref(), true)?;
    let metrics = Arc::new(Metrics::default());
    if let Ok(mut m) = metrics.webhooks.lock() {
        *m = hooks;
    }
    let _server = match args.metrics {
        Some(addr) => {
            let s = MetricsServer::start(addr, metrics.clone(), || wall_clock_now().0)
                .with_context(|| format!("--metrics {addr}"))?;
            tracing::info!(addr = %s.addr(), "serving Prometheus metrics on /metrics");
            Some(s)
        }
        None => None,
    };
    // SIGINT / SIGTERM: stop reading, deliver what is pending, write the checkpoint.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing a signal handler")?;
    }
    let report = drivers::tail(&cfg, &opts, &mut sinks, &metrics, &stop)?;
    if !args.decode.quiet {
        eprint!("{}", report.stats.render());
        eprintln!(
            "tail: {} checkpoints, {} files resumed, {} detectors restored, {} alerts not sent again, \
             at most {} lines queued, lag at most {:.1} s",
            report.checkpoints,
            report.resumed_files,
            report.restored_detectors,
            report.suppressed_alerts,
            report.max_queued_lines,
            report.max_lag_secs
        );
    }
    Ok(exit_code(&report.stats, false))
}

fn exit_code(stats: &RunStats, fail_on_alert: bool) -> ExitCode {
    if !stats.input_errors.is_empty() {
        ExitCode::from(2)
    } else if fail_on_alert && stats.total_alerts() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
