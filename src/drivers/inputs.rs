//! Opening inputs and recognizing their format, for the drivers that read files to the end.

use std::path::PathBuf;

use crate::config::Config;
use crate::decode::{Decoder, DecoderFactory, Format};
use crate::error::{Error, SourceError};
use crate::source::{self, Input, InputPath, LineReader, looks_binary};
use crate::stats::RunStats;
use crate::time::wall_clock_now;

use super::RunOptions;
use super::line::LinePolicy;

/// An input that was opened and recognized.
pub(super) struct Prepared {
    pub(super) input: Input,
    pub(super) format: Format,
    pub(super) compressed: bool,
    pub(super) reader: LineReader,
    pub(super) decoder: Box<dyn Decoder>,
}

/// Opens every input and picks its decoder. Files found in directories whose format cannot be
/// recognized (READMEs, binaries) are skipped and reported; named files are errors.
pub(super) fn prepare(
    cfg: &Config,
    factory: &DecoderFactory,
    opts: &RunOptions,
    stats: &mut RunStats,
) -> Result<Vec<Prepared>, Error> {
    let policy = LinePolicy::new(cfg, opts.strict);
    let inputs = source::expand_inputs(&opts.paths)?;
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let opened = match source::open(&input) {
            Ok(o) => o,
            Err(e) if !input.explicit => {
                stats.skipped.push((input.display.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if looks_binary(&opened.head) {
            if input.explicit {
                return Err(SourceError::Binary {
                    path: PathBuf::from(&input.display),
                }
                .into());
            }
            stats
                .skipped
                .push((input.display.clone(), "binary file".into()));
            continue;
        }
        if opened.head.is_empty() {
            stats.skipped.push((input.display.clone(), "empty".into()));
            continue;
        }
        let format = match cfg.input.format.or_else(|| factory.detect(&opened.head)) {
            Some(f) => f,
            None if input.explicit => {
                return Err(SourceError::UnknownFormat {
                    path: PathBuf::from(&input.display),
                }
                .into());
            }
            None => {
                stats
                    .skipped
                    .push((input.display.clone(), "not a recognized log format".into()));
                continue;
            }
        };
        let reference = opened.modified.unwrap_or_else(wall_clock_now);
        let decoder = factory.build(format, reference, &opened.head)?;
        out.push(Prepared {
            input,
            format,
            compressed: opened.compressed,
            reader: LineReader::new(opened.reader, policy.max_line),
            decoder,
        });
    }
    Ok(out)
}

/// The size of a plain file input (compressed inputs and stdin count as large: their size on
/// disk says little).
pub(super) fn input_bytes(p: &Prepared) -> u64 {
    match &p.input.path {
        InputPath::File(path) if !p.compressed => std::fs::metadata(path).map_or(0, |m| m.len()),
        _ => u64::MAX,
    }
}
