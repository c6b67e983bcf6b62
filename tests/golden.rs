//! Golden alerts: the exact bytes `credwatch scan` writes on the sample logs and on the
//! generated bench inputs, recorded at `d22e6ad` (before the engine and rule-folder rework of
//! issue #11) and reviewed by hand there. A refactor must leave every byte as it was; a change
//! of detection behaviour updates these files on purpose, in the commit that explains why
//! (`BLESS=1 cargo test golden` rewrites them).
//!
//! The sample logs' alerts are kept whole, so a diff shows what moved. The bench inputs are
//! generated here by the sample-log generator's bench mode (the same code `benches/scan.sh`
//! runs, at 60,000 lines) and scanned with the whole-internet ASN table of the shared test
//! data; their alerts are kept as a count and a SHA-256 of the output.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::util::{Scratch, root, run, shared, stderr};

fn bless() -> bool {
    std::env::var_os("BLESS").is_some()
}

fn golden(name: &str) -> PathBuf {
    root().join("tests/golden").join(name)
}

/// Compares `actual` with the golden file `name`, line by line so that a failure names the
/// first differing alert.
fn check_text(name: &str, actual: &str) {
    let path = golden(name);
    if bless() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 writes it)", path.display()));
    if want == actual {
        return;
    }
    let (w, a): (Vec<&str>, Vec<&str>) = (want.lines().collect(), actual.lines().collect());
    let first = w
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(w.len().min(a.len()));
    panic!(
        "alerts differ from {} ({} golden lines, {} now); first difference at line {}:\n golden: {}\n    now: {}",
        path.display(),
        w.len(),
        a.len(),
        first + 1,
        w.get(first).unwrap_or(&"<none>"),
        a.get(first).unwrap_or(&"<none>")
    );
}

fn scan_stdout(args: &[&str]) -> String {
    let out = run(args, None);
    assert_eq!(out.status.code(), Some(0), "{:?}: {}", args, stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sample_logs_alerts_are_unchanged() {
    check_text(
        "sample-logs.alerts.jsonl",
        &scan_stdout(&["scan", "sample-logs/"]),
    );
}

#[test]
fn sample_logs_alerts_with_asn_extract_are_unchanged() {
    check_text(
        "sample-logs-asn.alerts.jsonl",
        &scan_stdout(&[
            "scan",
            "--asn-db",
            "sample-logs/asn/asn-extract.csv",
            "sample-logs/",
        ]),
    );
}

/// The sample-log generator, built by `cargo test` next to the binary under test.
fn generator() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_credwatch"));
    let dir = bin.parent().unwrap();
    let name = format!("gen-sample-logs{}", std::env::consts::EXE_SUFFIX);
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

#[test]
fn bench_inputs_alerts_are_unchanged() {
    let asn = shared("asn/asn-ipv4.csv.gz");
    assert!(
        asn.exists(),
        "{} is missing (../shared/testdata)",
        asn.display()
    );
    let scratch = Scratch::new("golden-bench");
    let mut record = String::from("# input\tlines\talerts\tsha256 of stdout\n");
    let inputs: [(&str, &[&str]); 4] = [
        ("nginx", &["--format", "nginx"]),
        ("json", &["--format", "json"]),
        ("sshd", &["--format", "sshd"]),
        ("json-flood", &["--format", "json", "--flood"]),
    ];
    for (name, gen_args) in inputs {
        let file = scratch.0.join(format!("{name}.log"));
        let status = Command::new(generator())
            .arg("bench")
            .args(gen_args)
            .args(["--lines", "60000", "--out"])
            .arg(&file)
            .current_dir(root())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "generating {name}");
        let alerts = scan_stdout(&[
            "scan",
            "--asn-db",
            asn.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let digest = Sha256::digest(alerts.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        record.push_str(&format!(
            "{name}\t60000\t{}\t{hex}\n",
            alerts.lines().count()
        ));
    }
    check_text("bench-inputs.tsv", &record);
}
