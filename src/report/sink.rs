//! [`ReportSink`]: the report as a [`Sink`], so the pipeline feeds it events and alerts and it
//! writes its files when the run ends.

use crate::alert::Alert;
use crate::error::SinkError;
use crate::event::AuthEvent;
use crate::sink::{RunContext, Sink};

use super::{Rendered, ReportBuilder, ReportConfig, ReportFiles};

/// Collects a report during a run and writes it at the end. Rendering happens in
/// [`Sink::summarize`] (the only place the ASN organisation lookup is available) and writing
/// in [`Sink::finish`].
#[derive(Debug)]
pub struct ReportSink {
    cfg: ReportConfig,
    builder: Option<ReportBuilder>,
    rendered: Option<Result<Rendered, super::ReportError>>,
    written: Option<ReportFiles>,
}

impl ReportSink {
    /// A sink that writes what `cfg` asks for.
    pub fn new(cfg: ReportConfig) -> ReportSink {
        ReportSink {
            builder: Some(ReportBuilder::new(cfg.clone())),
            cfg,
            rendered: None,
            written: None,
        }
    }

    /// The files written, once [`Sink::finish`] succeeded.
    pub fn files(&self) -> Option<&ReportFiles> {
        self.written.as_ref()
    }
}

fn sink_error(e: super::ReportError) -> SinkError {
    let target = match &e {
        super::ReportError::Io { path, .. } => path.display().to_string(),
        super::ReportError::Csv { file, .. } => (*file).to_string(),
    };
    SinkError::Io {
        target,
        source: std::io::Error::other(e.to_string()),
    }
}

impl Sink for ReportSink {
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError> {
        if let Some(b) = &mut self.builder {
            b.observe_alert(alert);
        }
        Ok(())
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn observe_event(&mut self, ev: &AuthEvent) {
        if let Some(b) = &mut self.builder {
            b.observe_event(ev);
        }
    }

    fn summarize(&mut self, ctx: &RunContext<'_>) {
        if let Some(b) = self.builder.take() {
            self.rendered = Some(b.render(ctx.stats, ctx.as_org));
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let rendered = match self.rendered.take() {
            Some(r) => r.map_err(sink_error)?,
            // summarize was not called (a run that ended early): render without counters.
            None => match self.builder.take() {
                Some(b) => b
                    .render(&crate::stats::RunStats::default(), &|_| None)
                    .map_err(sink_error)?,
                None => return Ok(()),
            },
        };
        self.written = Some(rendered.write(&self.cfg).map_err(sink_error)?);
        Ok(())
    }
}
