//! The `credwatch` command: a thin layer over the library.

mod cli;

use std::fs::File;
use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use credwatch::error::{Error, SinkError};
use credwatch::pipeline::{self, RunOptions};
use credwatch::sink::{JsonlSink, Sink};
use credwatch::stats::RunStats;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("credwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
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
            let cfg = args.input.config()?;
            let opts = RunOptions {
                paths: args.input.paths.clone(),
                strict: args.input.strict,
            };
            let out: Box<dyn Write + Send> = match &args.output {
                Some(path) => Box::new(
                    File::create(path).with_context(|| format!("creating {}", path.display()))?,
                ),
                None => Box::new(io::stdout()),
            };
            let target = args
                .output
                .as_ref()
                .map_or("stdout".to_string(), |p| p.display().to_string());
            let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(JsonlSink::new(out, target, true))];
            let stats = pipeline::scan(&cfg, &opts, &mut sinks)?;
            if !args.input.quiet {
                eprint!("{}", stats.render());
            }
            Ok(exit_code(&stats, args.fail_on_alert))
        }
        Command::Parse(args) => {
            let cfg = args.input.config()?;
            let opts = RunOptions {
                paths: args.input.paths.clone(),
                strict: args.input.strict,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let stats = pipeline::parse(&cfg, &opts, args.rejects, &mut out)?;
            if !args.input.quiet {
                eprint!("{}", stats.render());
            }
            Ok(exit_code(&stats, false))
        }
        Command::Explain(args) => {
            let cfg = args.input.config()?;
            let opts = RunOptions {
                paths: args.input.paths.clone(),
                strict: args.input.strict,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let Some(found) = pipeline::explain(&cfg, &opts, &args.id, &mut out)? else {
                anyhow::bail!(
                    "no alert with id {} in these inputs (explain needs the inputs and options of the scan that printed it)",
                    args.id
                );
            };
            if !args.input.quiet {
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

fn exit_code(stats: &RunStats, fail_on_alert: bool) -> ExitCode {
    if !stats.input_errors.is_empty() {
        ExitCode::from(2)
    } else if fail_on_alert && stats.total_alerts() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
