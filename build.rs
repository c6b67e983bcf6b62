//! Finds the external tools some end-to-end tests drive for real (logrotate, Chromium), so that
//! a test whose tool is missing shows as `ignored: needs logrotate` instead of passing.
//!
//! Sets `cfg(has_logrotate)` / `cfg(has_chromium)` when the tool is found, and always in CI
//! (`CI` set, as GitHub Actions and most CI services do): there a missing tool must fail its
//! tests, not hide them. The path found is passed to the tests as `CREDWATCH_LOGROTATE_BIN` /
//! `CREDWATCH_CHROMIUM_BIN` (empty when missing). `CREDWATCH_LOGROTATE` / `CREDWATCH_CHROMIUM`
//! name the tool explicitly; set to `none`, they hide it (to check the missing-tool path).

use std::path::{Path, PathBuf};

/// Directories searched besides `PATH` (`/usr/sbin` is not on a normal user's `PATH`).
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/bin"];

fn main() {
    for var in ["CI", "PATH", "CREDWATCH_LOGROTATE", "CREDWATCH_CHROMIUM"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // Installing a tool changes these directories: look again then, and only then (each run
    // of this script rebuilds the crate).
    for dir in EXTRA_DIRS {
        if Path::new(dir).is_dir() {
            println!("cargo::rerun-if-changed={dir}");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");

    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    tool(
        "logrotate",
        "CREDWATCH_LOGROTATE",
        &["logrotate"],
        ci,
        "has_logrotate",
        "CREDWATCH_LOGROTATE_BIN",
    );
    tool(
        "chromium",
        "CREDWATCH_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
        ci,
        "has_chromium",
        "CREDWATCH_CHROMIUM_BIN",
    );
}

fn tool(what: &str, override_var: &str, names: &[&str], ci: bool, cfg: &str, env: &str) {
    println!("cargo::rustc-check-cfg=cfg({cfg})");
    let found = match std::env::var_os(override_var) {
        Some(v) if v == "none" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)).filter(|p| p.is_file()),
        None => search(names),
    };
    if found.is_some() || ci {
        println!("cargo::rustc-cfg={cfg}");
    }
    if found.is_none() && ci {
        println!(
            "cargo::warning=CI is set and {what} is missing: the tests that need it will fail"
        );
    }
    let path = found.map(|p| p.display().to_string()).unwrap_or_default();
    println!("cargo::rustc-env={env}={path}");
}

/// The first of `names` in `PATH` or [`EXTRA_DIRS`].
fn search(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}
