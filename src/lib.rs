//! credwatch reads web and authentication logs and flags credential stuffing and account
//! takeover.
//!
//! Data flows one way: source → decode → enrich → detect → sink. Each stage is a module with a
//! small public surface; only `pipeline` wires them together.

#![deny(missing_docs)]

pub mod decode;
pub mod enrich;
pub mod error;
pub mod event;
pub mod time;
