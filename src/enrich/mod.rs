//! Enrichers: add read-only facts (the client's ASN) to events.
//!
//! Missing data is never an error: an address outside every range simply has no ASN.

pub mod asn;

use crate::event::{Asn, AuthEvent};

/// Adds facts to an event in place.
pub trait Enricher: Send {
    /// Fills the fields this enricher knows (for example `asn` from `ip`).
    fn enrich(&mut self, ev: &mut AuthEvent);

    /// The organisation name of an ASN seen in an earlier `enrich` call, for alerts.
    fn as_org(&self, asn: Asn) -> Option<&str>;

    /// A copy for another thread, sharing the same data, when events may be enriched there:
    /// only for an enricher whose [`Enricher::as_org`] does not depend on what this instance
    /// itself looked up. `None` (the default): enrich on this instance's thread.
    fn fork(&self) -> Option<Box<dyn Enricher>> {
        None
    }
}
