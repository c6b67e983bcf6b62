//! credwatch reads web and authentication logs and flags credential stuffing and account
//! takeover.
//!
//! Data flows one way: source → decode → enrich → detect → sink. Each stage is a module with a
//! small public surface. The [`engine`] runs everything from decoded events to alerts; the
//! [`drivers`] (`scan`, `tail`, `parse`, `explain`) read lines into it and deliver its alerts,
//! and are the only modules that wire the stages together.

#![deny(missing_docs)]

pub mod alert;
pub mod config;
pub mod decode;
pub mod detect;
pub mod drivers;
pub mod engine;
pub mod enrich;
pub mod error;
pub mod event;
pub mod metrics;
pub mod report;
pub mod rules;
pub mod sink;
pub mod source;
pub mod stats;
pub mod time;
pub mod window;
