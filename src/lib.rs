//! credwatch reads web and authentication logs and flags credential stuffing and account
//! takeover.
//!
//! Data flows one way: source → decode → enrich → detect → sink. Each stage is a module with a
//! small public surface; only `pipeline` wires them together.

#![deny(missing_docs)]

pub mod alert;
pub mod config;
pub mod decode;
pub mod dedup;
pub mod detect;
pub mod enrich;
pub mod error;
pub mod event;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod sink;
pub mod source;
pub mod stats;
pub mod time;
pub mod window;
