//! Helpers: run the binary, make scratch directories, read alerts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `../shared/testdata`.
pub fn shared(rel: &str) -> PathBuf {
    root().join("../shared/testdata").join(rel)
}

/// Runs `credwatch ARGS` from the repository root, optionally feeding stdin.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credwatch"));
    cmd.args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn credwatch");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).unwrap();
    }
    child.wait_with_output().expect("wait for credwatch")
}

/// Parses JSON-lines stdout.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh scratch directory under the target dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = root().join("target").join("test-scratch").join(format!(
            "{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Alerts of one rule, as (entity value, severity).
pub fn entities(alerts: &[serde_json::Value], rule: &str) -> Vec<(String, String)> {
    alerts
        .iter()
        .filter(|a| a["rule"] == rule)
        .map(|a| {
            (
                a["entity"]["value"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// An nginx combined line.
pub fn nginx(ip: &str, time: &str, method: &str, path: &str, status: u16) -> String {
    format!(
        "{ip} - - [{time}] \"{method} {path} HTTP/1.1\" {status} 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" 0.012 \"-\"\n"
    )
}

/// A canonical JSON login line.
pub fn json_login(ts: &str, ip: &str, account: &str, outcome: &str, reason: &str) -> String {
    format!(
        "{{\"ts\":\"{ts}\",\"event\":\"login\",\"outcome\":\"{outcome}\",\"reason\":\"{reason}\",\"account\":\"{account}\",\"ip\":\"{ip}\"}}\n"
    )
}
