//! End-to-end tests: the real `credwatch` binary on real files. One test binary (faster to
//! link), one module per area.

mod cli;
mod conformance;
mod drivers;
mod golden;
mod live;
mod receiver;
mod report_browser;
mod rules_orders;
mod rules_stuffing;
mod rules_takeover;
mod scenarios;
mod util;
